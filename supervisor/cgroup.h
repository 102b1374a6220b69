#ifndef SEPWORKER_CGROUP_H
#define SEPWORKER_CGROUP_H

#include <limits.h>
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

/* Most places task cgroups are made in: v2 (and beside our leaf), v1
 * pids and memory. */
#define CGROUP_MAX_PARENTS	4

/* Call found(uid, arg) for each task cgroup that exists now, by the uid
 * its name stands for (an earlier run's, or a live worker's). */
void	cgroup_task_leftover_uids(void (*found)(uint32_t, void *), void *arg);
/*
 * The task cgroups named for uid that exist now, where this process's
 * cgroup_task_enter() would make them (v2 task-<uid>, also beside the
 * leaf it moves into; v1 sepworker-task-<uid> in pids and memory): up to
 * max paths into dirs, returns how many.  Only an earlier run's when
 * the caller holds uid's lease.
 */
size_t	cgroup_task_leftovers(uint32_t uid, char (*dirs)[PATH_MAX],
	    size_t max);
/* Kill every process in cgroup dir and remove it, waiting up to wait_ms;
 * *killed counts the processes signalled.  0, or -1 with errno. */
int	cgroup_remove_leftover(const char *dir, unsigned wait_ms,
	    unsigned *killed);

#endif
