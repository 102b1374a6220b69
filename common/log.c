#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"
#include "timefmt.h"

enum log_mode {
	LOG_MODE_SUPERVISOR,
	LOG_MODE_CHILD,
};

static enum log_mode	 log_mode = LOG_MODE_SUPERVISOR;
static enum log_format	 log_fmt = LOG_FORMAT_TEXT;
static const char	*log_name = "sepworker";
static int		 log_fd = 2;
static int		 log_verbose;
static log_sink_fn	 log_sink;

void
log_init_child(int fd, int verbose)
{
	log_mode = LOG_MODE_CHILD;
	log_fd = fd;
	log_verbose = verbose;
}

void
log_init_supervisor(const char *name, enum log_format fmt, int verbose)
{
	log_mode = LOG_MODE_SUPERVISOR;
	log_name = name;
	log_fmt = fmt;
	log_fd = 2;
	log_verbose = verbose;
}

void
log_set_sink(log_sink_fn fn)
{
	log_sink = fn;
}

int
log_is_verbose(void)
{
	return log_verbose;
}

int
log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

static const char level_letters[] = "DIWE";

const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LVL_DEBUG:
		return "debug";
	case LOG_LVL_INFO:
		return "info";
	case LOG_LVL_WARN:
		return "warning";
	case LOG_LVL_ERROR:
		return "error";
	case LOG_LVL_STDERR:
		break;
	}
	return "stderr";
}

enum log_level
log_level_from_letter(char c, int *known)
{
	const char *p = c ? strchr(level_letters, c) : NULL;

	*known = p != NULL;
	return p ? (enum log_level)(p - level_letters) : LOG_LVL_STDERR;
}

/* Code points that pass as valid UTF-8 but can still fool a reader. */
static int
codepoint_is_dangerous(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9f) ||	/* C1 controls */
	    cp == 0x2028 || cp == 0x2029 ||	/* line/paragraph separators */
	    (cp >= 0x202a && cp <= 0x202e) ||	/* bidi embeddings/overrides */
	    (cp >= 0x2066 && cp <= 0x2069) ||	/* bidi isolates */
	    cp == 0xfeff;
}

size_t
log_escape(char *out, size_t outsz, const char *in, size_t len, int json)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i = 0;

	if (outsz == 0)
		return 0;
	while (i < len) {
		unsigned c = s[i], cp;
		size_t n = 1, need, k;
		int escape;

		if (c < 0x80) {
			escape = c < 0x20 || c == 0x7f;
			cp = c;
		} else {
			n = utf8_sequence(s + i, len - i, &cp);
			escape = n == 0 || codepoint_is_dangerous(cp);
			if (n == 0)
				n = 1;
		}
		if (escape) {
			need = 4 * n;
			if (o + need >= outsz)
				break;
			for (k = 0; k < n; k++) {
				out[o++] = '\\';
				out[o++] = 'x';
				out[o++] = hex[s[i + k] >> 4];
				out[o++] = hex[s[i + k] & 0xf];
			}
		} else if (c == '\\' || (json && c == '"')) {
			if (o + 2 >= outsz)
				break;
			out[o++] = '\\';
			out[o++] = (char)c;
		} else {
			if (o + n >= outsz)
				break;
			memcpy(out + o, s + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
	return o;
}

static void
write_fully(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* nowhere left to report it */
		buf += n;
		len -= (size_t)n;
	}
}

void
log_emit(const char *name, pid_t pid, enum log_level level, const char *msg,
    size_t len)
{
	char escaped[LOG_RECORD_MAX * 4 + 1];
	char line[sizeof(escaped) + 256];
	char when[TIMEFMT_LEN];
	int n;

	if (len > LOG_RECORD_MAX)
		len = LOG_RECORD_MAX;
	log_escape(escaped, sizeof(escaped), msg, len,
	    log_fmt == LOG_FORMAT_JSON);
	time_format_ms(time_now_ms(), when);
	if (log_fmt == LOG_FORMAT_JSON)
		n = snprintf(line, sizeof(line), "{\"time\":\"%s\","
		    "\"process\":\"%s\",\"pid\":%ld,\"level\":\"%s\","
		    "\"message\":\"%s\"}\n", when, name, (long)pid,
		    log_level_name(level), escaped);
	else
		n = snprintf(line, sizeof(line), "%s %s[%ld] %s: %s\n", when,
		    name, (long)pid, log_level_name(level), escaped);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (log_sink != NULL && log_sink(level, line, (size_t)n))
		return;
	write_fully(2, line, (size_t)n);
}

static void __attribute__((format(printf, 2, 0)))
log_vwrite(enum log_level level, const char *fmt, va_list ap, int errnum)
{
	char msg[LOG_RECORD_MAX + 2];
	size_t len;
	int n;

	if (level == LOG_LVL_DEBUG && !log_verbose)
		return;
	n = vsnprintf(msg + 1, LOG_RECORD_MAX - 64, fmt, ap);
	if (n < 0)
		return;
	len = strnlen(msg + 1, LOG_RECORD_MAX - 64);
	if (errnum)
		len += (size_t)snprintf(msg + 1 + len, 64, ": %s",
		    strerror(errnum));
	if (log_mode == LOG_MODE_SUPERVISOR) {
		log_emit(log_name, getpid(), level, msg + 1, len);
		return;
	}
	/* One record per write: a message must not split into two lines. */
	for (size_t i = 1; i <= len; i++)
		if (msg[i] == '\n')
			msg[i] = ' ';
	msg[0] = level_letters[level];
	msg[len + 1] = '\n';
	write_fully(log_fd, msg, len + 2);
}

#define LOG_FN(fn, level)					\
void								\
fn(const char *fmt, ...)					\
{								\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	log_vwrite(level, fmt, ap, 0);				\
	va_end(ap);						\
}

LOG_FN(log_debug, LOG_LVL_DEBUG)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_warnx, LOG_LVL_WARN)
LOG_FN(log_errorx, LOG_LVL_ERROR)

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_WARN, fmt, ap, saved);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, fmt, ap, saved);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}
