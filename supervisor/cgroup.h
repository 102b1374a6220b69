#ifndef SEPWORKER_CGROUP_H
#define SEPWORKER_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cgroup_limits {
	uint32_t	uid;			/* names the cgroup */
	uint64_t	max_processes;
	uint64_t	max_memory_bytes;	/* 0: no limit */
};

struct task_cgroup {
	char	*dirs[4];
	size_t	 ndirs;
	char	 desc[160];	/* what was set up, for the task log */
};

/* Put pid (the task's init, before it starts anything) into a new
 * cgroup with the limits.  false when the host offers none: desc says
 * so, and the task runs with rlimits alone. */
bool	cgroup_task_enter(const struct cgroup_limits *lim, pid_t pid,
	    struct task_cgroup *cg);
/* Remove the task's cgroup directories (empty once the task is gone). */
void	cgroup_task_remove(struct task_cgroup *cg);

#endif
