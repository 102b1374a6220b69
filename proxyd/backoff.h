/*
 * The Taskcluster clients' retry schedule, shared by the task proxy's
 * forwarding (forward.c) and proxyd's own calls (qclient.c): the Go
 * client's httpbackoff with cenkalti/backoff's defaults (reference
 * §4.5).
 */
#ifndef SEPWORKER_BACKOFF_H
#define SEPWORKER_BACKOFF_H

#include <stdint.h>

/* How long to wait after the attempt-th failed attempt (from 1): 500 ms
 * x1.5 per attempt, at most 60 s, then +-50 % jitter. */
uint64_t	backoff_ms(unsigned attempt);
/* Sleep ms milliseconds, whatever signals arrive meanwhile. */
void		sleep_ms(uint64_t ms);

#endif
