/*
 * Splitting what a child writes to its log pipe into lines.  The bytes
 * are untrusted (a compromised child writes what it likes): lines are cut
 * at LOG_RECORD_MAX + 1 bytes, never grown, and handed on unescaped; the
 * emitter escapes them (log_emit).
 */
#ifndef SEPWORKER_LOGRELAY_H
#define SEPWORKER_LOGRELAY_H

#include <stddef.h>

#include "common/log.h"

struct linebuf {
	char	buf[LOG_RECORD_MAX + 1];
	size_t	len;
};

typedef void (*line_fn)(void *arg, const char *line, size_t len);

/* Add n bytes; call emit for every complete line (without its '\n'), and
 * for a full buffer that holds no newline. */
void	linebuf_feed(struct linebuf *lb, const char *p, size_t n, line_fn emit,
	    void *arg);
/* End of input: emit what is left, if anything. */
void	linebuf_flush(struct linebuf *lb, line_fn emit, void *arg);

/* A record's level letter and message, or LOG_LVL_STDERR and the whole
 * line when it has none. */
enum log_level logrelay_parse(const char *line, size_t len, const char **msg,
	    size_t *msglen);

#endif
