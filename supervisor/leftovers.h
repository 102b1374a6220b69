/*
 * What a crashed run leaves behind (a supervisor killed with SIGKILL
 * cannot clean up): processes still running as its task uid, the task's
 * cgroups, its task directory.  Every start removes them before running
 * anything, for every task uid no live worker holds (taskuid.h), and
 * leaves alone the uids that one does.
 */
#ifndef SEPWORKER_LEFTOVERS_H
#define SEPWORKER_LEFTOVERS_H

#include "supervisor/config.h"

/* Remove what earlier runs left, logging one line per thing removed and
 * a summary.  runDir and tasksDir must exist.  No child may be running
 * yet: this forks. */
void	leftovers_remove(const struct sw_config *cfg);

#endif
