#include <string.h>

#include "supervisor/logrelay.h"

void
linebuf_feed(struct linebuf *lb, const char *p, size_t n, line_fn emit,
    void *arg)
{
	while (n > 0) {
		size_t take = sizeof(lb->buf) - lb->len;
		const char *nl;

		if (take > n)
			take = n;
		nl = memchr(p, '\n', take);
		if (nl != NULL)
			take = (size_t)(nl - p) + 1;
		memcpy(lb->buf + lb->len, p, take);
		lb->len += take;
		p += take;
		n -= take;
		if (nl != NULL) {
			emit(arg, lb->buf, lb->len - 1);
			lb->len = 0;
		} else if (lb->len == sizeof(lb->buf)) {
			/* Longer than any record we write: pass it on in
			 * pieces rather than grow or stall. */
			emit(arg, lb->buf, lb->len);
			lb->len = 0;
		}
	}
}

void
linebuf_flush(struct linebuf *lb, line_fn emit, void *arg)
{
	if (lb->len > 0)
		emit(arg, lb->buf, lb->len);
	lb->len = 0;
}

enum log_level
logrelay_parse(const char *line, size_t len, const char **msg, size_t *msglen)
{
	int known = 0;
	enum log_level lvl = len ? log_level_from_letter(line[0], &known) :
	    LOG_LVL_STDERR;

	if (known) {
		*msg = line + 1;
		*msglen = len - 1;
		return lvl;
	}
	*msg = line;
	*msglen = len;
	return LOG_LVL_STDERR;
}
