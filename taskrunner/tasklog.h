/*
 * The task's backing log, written by the taskrunner (never by the task):
 * generic-worker's "[taskcluster <time>] ..." lines around the bytes the
 * task writes, which are copied as they are, never interpreted.
 */
#ifndef SEPWORKER_TASKLOG_H
#define SEPWORKER_TASKLOG_H

#include <stddef.h>
#include <stdint.h>

/* Log to fd (the file the supervisor opened for appending). */
void	tasklog_init(int fd);
/* One "[taskcluster <now>] <message>" line. */
void	tasklog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* generic-worker's "[taskcluster:warn <now>] <message>" line. */
void	tasklog_warn(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* One "[taskcluster <now>] <head><text>" line, however long text is
 * (a command): the caller has made text one line. */
void	tasklog_long(const char *head, const char *text, size_t len);
/* A JSON object as generic-worker logs its workerTypeMetadata: each line
 * of json.MarshalIndent(v, "  ", "  "), keys sorted as Go sorts a map's,
 * one log line, the first indented too.  -1 if json is not an object. */
int	tasklog_json(const char *json);
/* The worker's own bytes, exactly. */
void	tasklog_raw(const void *buf, size_t len);
/* Bytes exactly as the task wrote them, until the log holds max bytes;
 * then one line saying so, and the rest is dropped.  The worker's own
 * lines go on up to TASK_LOG_WORKER_RESERVE past max. */
void	tasklog_limit(uint64_t max);
void	tasklog_output(const void *buf, size_t len);

#endif
