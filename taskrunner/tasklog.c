#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/chan_taskrunner.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "taskrunner/tasklog.h"

static int	tasklog_fd = -1;
static int	tasklog_failed;
static int	tasklog_midline;	/* the last bytes written had no '\n' */
static uint64_t	tasklog_size;		/* bytes in the log so far */
static uint64_t	tasklog_max = UINT64_MAX; /* for the task's output */
static int	tasklog_capped;		/* the task's output is discarded */

void
tasklog_init(int fd)
{
	struct stat st;

	tasklog_fd = fd;
	if (fd >= 0 && fstat(fd, &st) == 0)
		tasklog_size = (uint64_t)st.st_size;
}

void
tasklog_limit(uint64_t max)
{
	tasklog_max = max;
}

static void
put(const void *buf, size_t len)
{
	if (tasklog_fd < 0 || len == 0)
		return;
	tasklog_midline = ((const char *)buf)[len - 1] != '\n';
	tasklog_size += len;
	if (write_all(tasklog_fd, buf, len) == -1 && !tasklog_failed) {
		/* Say it once, in our own log: the task log is what broke. */
		log_warn("writing the task log");
		tasklog_failed = 1;
	}
}

void
tasklog_raw(const void *buf, size_t len)
{
	/* The worker's own bytes: past the cap, only within the reserve. */
	if (tasklog_max != UINT64_MAX &&
	    tasklog_size + len > tasklog_max + TASK_LOG_WORKER_RESERVE)
		return;
	put(buf, len);
}

void
tasklog_output(const void *buf, size_t len)
{
	uint64_t room;

	if (tasklog_capped)
		return;
	room = tasklog_size < tasklog_max ? tasklog_max - tasklog_size : 0;
	if (len <= room) {
		put(buf, len);
		return;
	}
	put(buf, (size_t)room);
	tasklog_capped = 1;
	tasklog("The task log reached its limit of %" PRIu64 " bytes "
	    "(sepworker.taskLogMaxBytes): the rest of the task's output is "
	    "discarded; the task goes on running", tasklog_max);
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
