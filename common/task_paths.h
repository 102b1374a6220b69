/*
 * The host's directories a task may read: the task's init mounts them,
 * read-only, in the task's own root (taskrunner/taskroot.c) and lets the
 * task read them through Landlock.  So no secret may live there: the
 * supervisor refuses a signing key or a config file with credentials
 * below any of them, and below the operator's sepworker.taskReadOnlyPaths
 * and tasksDir.  Its /tmp, /dev, /run, /proc and /sys are the task's own,
 * not the host's.
 */
#ifndef SEPWORKER_TASK_PATHS_H
#define SEPWORKER_TASK_PATHS_H

#include <stdbool.h>

struct task_path {
	const char	*path;
	bool		 exec;	/* programs and libraries: may run them too */
};

static const struct task_path task_host_paths[] __attribute__((unused)) = {
	{ "/usr", true }, { "/bin", true }, { "/sbin", true },
	{ "/lib", true }, { "/lib32", true }, { "/lib64", true },
	{ "/libx32", true }, { "/opt", true },
	{ "/etc", false },
};

#define TASK_HOST_PATHS	(sizeof(task_host_paths) / sizeof(task_host_paths[0]))

#endif
