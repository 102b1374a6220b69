/*
 * The count of tasks this worker has resolved, across restarts:
 * generic-worker's tasks-resolved-count.txt, which numberOfTasksToRun is
 * compared with.  It lives in sepworker.workDir (generic-worker keeps it
 * in its working directory), as the decimal count and nothing else.
 */
#ifndef SEPWORKER_TASKCOUNT_H
#define SEPWORKER_TASKCOUNT_H

#include <stddef.h>
#include <stdint.h>

#define TASKCOUNT_FILE	"tasks-resolved-count.txt"

/* *n = the count in work_dir, 0 if there is no file yet.  -1 with err
 * naming the file if it cannot be read or is not a decimal number. */
int	taskcount_read(const char *work_dir, uint64_t *n, char *err,
	    size_t errlen);
/* Replace the count atomically (a temporary file, fsync, rename, fsync
 * of the directory), mode 0600.  -1 with err naming the file. */
int	taskcount_write(const char *work_dir, uint64_t n, char *err,
	    size_t errlen);

#endif
