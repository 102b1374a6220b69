/* Taskcluster's timestamps: UTC, "YYYY-MM-DDTHH:MM:SS.mmmZ". */
#ifndef SEPWORKER_TIMEFMT_H
#define SEPWORKER_TIMEFMT_H

#include <stdint.h>

#define TIMEFMT_LEN	25	/* with the NUL */

/* Milliseconds since the epoch, now (CLOCK_REALTIME). */
int64_t	time_now_ms(void);
/* ms since the epoch -> "2026-01-05T10:00:00.000Z". */
void	time_format_ms(int64_t ms, char out[TIMEFMT_LEN]);
/*
 * An RFC 3339 date-time in UTC or with an offset ("2026-01-05T10:00:00Z",
 * "...:00.123+02:00", fractions of any length, truncated to ms) -> ms
 * since the epoch.  -1 if s is not one, or lies before 1970 or after
 * 9999.
 */
int	time_parse_rfc3339(const char *s, int64_t *ms);

#endif
