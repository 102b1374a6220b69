/*
 * `sepworker run`: the worker's claim loop (supervisor/worker.c).
 */
#ifndef SEPWORKER_WORKER_H
#define SEPWORKER_WORKER_H

#include "supervisor/config.h"

/* Work the Queue until numberOfTasksToRun, idleTimeoutSecs, a signal or
 * a fault; the process exit status, generic-worker's.  cfg's credentials
 * are handed to proxyd and wiped from it. */
int	worker_main(struct sw_config *cfg);

#endif
