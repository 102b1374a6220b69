/*
 * Worker mode: the task proxy reclaims its task (reference worker-mode.md
 * §3).  A thread of its own makes the reclaimTask calls with the task's
 * current credentials and installs each reclaim's new ones, so that
 * nothing the task proxy does otherwise (forwarding, the agent's uploads
 * and their retries) and nothing the supervisor does can delay a reclaim
 * (taskcluster #8289).
 */
#ifndef SEPWORKER_RECLAIM_H
#define SEPWORKER_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>

struct taskproxy;

/* generic-worker reclaims this long before takenUntil ... */
#define RECLAIM_MARGIN_MS	(3 * 60 * 1000LL)
/* ... unless that is sooner than this from now, where it sets no timer
 * at all; we reclaim at half the time left instead. */
#define RECLAIM_MIN_LEAD_MS	(30 * 1000LL)

/*
 * When (ms since the epoch) to reclaim a claim taken until taken_until,
 * at now: takenUntil - 3 min; or, when that is less than 30 s away (a
 * claim timeout too short for the usual margin), half-way to takenUntil,
 * with *is_short set; now if takenUntil has passed (the Queue then
 * refuses, and says why).
 */
int64_t	reclaim_time(int64_t now, int64_t taken_until, bool *is_short);

/* Start reclaiming (once the task proxy has its first credentials). */
void	reclaim_start(struct taskproxy *tp);
/* The resolution is being reported: no reclaim from now on, and a
 * reclaim refused meanwhile is not reported. */
void	reclaim_stop(struct taskproxy *tp);

#endif
