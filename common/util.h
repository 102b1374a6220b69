/* Small helpers every process uses: allocation that cannot fail silently,
 * strict number parsing, whole reads and writes, clocks. */
#ifndef SEPWORKER_UTIL_H
#define SEPWORKER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

void	*xmalloc(size_t n);
void	*xcalloc(size_t nmemb, size_t size);
void	*xrealloc(void *p, size_t n);
char	*xstrdup(const char *s);
char	*xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict decimal parse of the whole string into [min, max]; -1 on error. */
int	 parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Write all of buf, retrying on EINTR; -1 on error. */
int	 write_all(int fd, const void *buf, size_t len);
/* Read until EOF or max bytes; returns bytes read, -1 on error. */
ssize_t	 read_all(int fd, void *buf, size_t max);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t now_ms(void);

/* free() with a NULL check folded in, for __attribute__((cleanup)). */
static inline void
freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_	__attribute__((cleanup(freep)))

#endif
