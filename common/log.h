/*
 * Logging shared by the four processes.
 *
 * A child writes one record per line to its log pipe (fd 4): a level letter
 * followed by the message.  It never formats time or names: the supervisor
 * tags each line with the process it came from (it knows which pipe it read)
 * and escapes it, because a compromised child may write anything there.
 * The supervisor formats its own lines the same way, as text or JSON.
 */
#ifndef SEPWORKER_LOG_H
#define SEPWORKER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum log_level {
	LOG_LVL_DEBUG,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERROR,
	LOG_LVL_STDERR,		/* a line a child wrote without a level */
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* Longest message a child sends in one record; longer ones are cut. */
#define LOG_RECORD_MAX	2048

/* Child side: records go to fd as "<letter><message>\n". */
void	log_init_child(int fd, int verbose);
/* Supervisor side: lines go to stderr, formatted, tagged with name. */
void	log_init_supervisor(const char *name, enum log_format fmt, int verbose);
int	log_format_parse(const char *s, enum log_format *out);
int	log_is_verbose(void);

void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn and fatal append ": strerror(errno)". */
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Supervisor: a sink that sees every formatted line (its '\n' included)
 * before it goes to stderr, and takes it instead when it returns true
 * (worker-runner's log messages).  It must not log.  NULL: none.
 */
typedef bool (*log_sink_fn)(enum log_level level, const char *line,
	    size_t len);
void	log_set_sink(log_sink_fn fn);

/*
 * Supervisor: write one line from process name/pid at level.  msg is
 * untrusted bytes of length len; control characters, invalid UTF-8 and
 * backslashes are escaped so a line can neither forge another line nor
 * drive the terminal.
 */
void	log_emit(const char *name, pid_t pid, enum log_level level,
	    const char *msg, size_t len);

/*
 * Escape untrusted bytes into out (always NUL-terminated).  Returns the
 * length written.  Valid UTF-8 above U+009F passes through; C0, DEL, C1,
 * invalid sequences and backslash become \xNN or \\.  When json is set,
 * '"' becomes \" too, so the result can sit inside a JSON string.
 */
size_t	log_escape(char *out, size_t outsz, const char *in, size_t len,
	    int json);

const char *log_level_name(enum log_level level);
/* Parse the level letter a child puts first in a record. */
enum log_level log_level_from_letter(char c, int *known);

#endif
