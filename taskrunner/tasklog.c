#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "taskrunner/tasklog.h"

static int	tasklog_fd = -1;
static int	tasklog_failed;
static int	tasklog_midline;	/* the task's last bytes had no '\n' */

void
tasklog_init(int fd)
{
	tasklog_fd = fd;
}

void
tasklog_raw(const void *buf, size_t len)
{
	if (tasklog_fd < 0 || len == 0)
		return;
	tasklog_midline = ((const char *)buf)[len - 1] != '\n';
	if (write_all(tasklog_fd, buf, len) == -1 && !tasklog_failed) {
		/* Say it once, in our own log: the task log is what broke. */
		log_warn("writing the task log");
		tasklog_failed = 1;
	}
}

void
tasklog(const char *fmt, ...)
{
	char line[8192], when[TIMEFMT_LEN];
	va_list ap;
	int n, m;

	time_format_ms(time_now_ms(), when);
	/* Our lines start a line, whatever the task left unfinished. */
	n = snprintf(line, sizeof(line), "%s[taskcluster %s] ",
	    tasklog_midline ? "\n" : "", when);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	tasklog_raw(line, (size_t)n);
}
