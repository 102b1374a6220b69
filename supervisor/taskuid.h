#ifndef SEPWORKER_TASKUID_H
#define SEPWORKER_TASKUID_H

#include <stdbool.h>
#include <stdint.h>

#include "supervisor/config.h"

/* Does any process run as uid (real, effective, saved or filesystem)? */
bool	uid_has_process(uint32_t uid);

/*
 * A uid for the next task: from the configured range, starting at a
 * random place so the same uid rarely comes back soon, and never one that
 * a process still runs as.  -1 if every uid of the range is busy.
 */
int	taskuid_pick(const struct sw_config *cfg, uint32_t *uid);

#endif
