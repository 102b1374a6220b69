#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "common/chan_taskrunner.h"
#include "common/log.h"
#include "common/strbuf.h"
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

/* "[taskcluster <now>] " or "[taskcluster:warn <now>] ", on a line of
 * its own whatever the task left unfinished. */
static void
line_start(struct strbuf *b, const char *tag)
{
	char when[TIMEFMT_LEN];

	time_format_ms(time_now_ms(), when);
	if (tasklog_midline)
		strbuf_puts(b, "\n");
	strbuf_puts(b, "[");
	strbuf_puts(b, tag);
	strbuf_puts(b, " ");
	strbuf_puts(b, when);
	strbuf_puts(b, "] ");
}

/* One whole line in one write: past the cap it fits the reserve whole or
 * is left out whole. */
static void
line_end(struct strbuf *b)
{
	size_t len;
	char *line;

	strbuf_puts(b, "\n");
	line = strbuf_take(b, &len);
	tasklog_raw(line, len);
	free(line);
}

static void __attribute__((format(printf, 2, 0)))
vlog(const char *tag, const char *fmt, va_list ap)
{
	struct strbuf b = { 0 };
	char text[8192];

	line_start(&b, tag);
	vsnprintf(text, sizeof(text), fmt, ap);
	strbuf_puts(&b, text);
	line_end(&b);
}

void
tasklog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("taskcluster", fmt, ap);
	va_end(ap);
}

void
tasklog_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("taskcluster:warn", fmt, ap);
	va_end(ap);
}

void
tasklog_long(const char *head, const char *text, size_t len)
{
	struct strbuf b = { 0 };

	line_start(&b, "taskcluster");
	strbuf_puts(&b, head);
	strbuf_put(&b, text, len);
	line_end(&b);
}

static int
key_order(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_indented(struct strbuf *, struct json_object *, int);

static void
put_newline(struct strbuf *b, int depth)
{
	strbuf_puts(b, "\n  ");
	for (int i = 0; i < depth; i++)
		strbuf_puts(b, "  ");
}

/* An object with its keys sorted, as Go marshals a map. */
static void
put_object(struct strbuf *b, struct json_object *v, int depth)
{
	size_t n = 0, i = 0;
	const char **keys;

	json_object_object_foreach(v, k0, v0) {
		(void)k0;
		(void)v0;
		n++;
	}
	if (n == 0) {
		strbuf_puts(b, "{}");
		return;
	}
	keys = xcalloc(n, sizeof(*keys));
	json_object_object_foreach(v, k, val) {
		(void)val;
		keys[i++] = k;
	}
	qsort(keys, n, sizeof(*keys), key_order);
	strbuf_puts(b, "{");
	for (i = 0; i < n; i++) {
		put_newline(b, depth + 1);
		strbuf_json_string(b, keys[i], false);
		strbuf_puts(b, ": ");
		put_indented(b, json_object_object_get(v, keys[i]), depth + 1);
		if (i + 1 < n)
			strbuf_puts(b, ",");
	}
	put_newline(b, depth);
	strbuf_puts(b, "}");
	free(keys);
}

/* json.MarshalIndent(v, "  ", "  ") of the value Go would decode v to. */
static void
put_indented(struct strbuf *b, struct json_object *v, int depth)
{
	size_t n;

	switch (json_object_get_type(v)) {
	case json_type_object:
		put_object(b, v, depth);
		break;
	case json_type_array:
		if ((n = json_object_array_length(v)) == 0) {
			strbuf_puts(b, "[]");
			break;
		}
		strbuf_puts(b, "[");
		for (size_t i = 0; i < n; i++) {
			put_newline(b, depth + 1);
			put_indented(b, json_object_array_get_idx(v, i),
			    depth + 1);
			if (i + 1 < n)
				strbuf_puts(b, ",");
		}
		put_newline(b, depth);
		strbuf_puts(b, "]");
		break;
	case json_type_string:
		strbuf_json_string(b, json_object_get_string(v), false);
		break;
	default:
		strbuf_puts(b, json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN));
		break;
	}
}

int
tasklog_json(const char *json)
{
	struct json_object *v = json_tokener_parse(json);
	struct strbuf b = { 0 };
	char *text, *line, *nl;
	size_t len;

	if (v == NULL || !json_object_is_type(v, json_type_object)) {
		json_object_put(v);
		return -1;
	}
	strbuf_puts(&b, "  ");
	put_indented(&b, v, 0);
	json_object_put(v);
	text = strbuf_take(&b, &len);
	for (line = text; line != NULL; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		tasklog_long("", line, nl ? (size_t)(nl - line) : strlen(line));
	}
	free(text);
	return 0;
}
