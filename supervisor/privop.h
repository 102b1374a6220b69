/*
 * The privileged steps a task sandbox needs, done by the supervisor on a
 * typed request from the taskrunner (which holds no capability) and
 * checked against the task the supervisor assigned to it and the
 * configured ranges: OpenSSH's monitor pattern.
 */
#ifndef SEPWORKER_PRIVOP_H
#define SEPWORKER_PRIVOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/ipc.h"
#include "supervisor/cgroup.h"
#include "supervisor/config.h"

struct privop_task {
	const struct sw_config	*cfg;
	pid_t			 runner_pid;	/* the requesting taskrunner */
	uid_t			 runner_uid;	/* owner of namespaces it makes */
	uint32_t		 task_uid;	/* 0: no task assigned */
	char			 taskdir[64];	/* name under tasksDir */
	uint64_t		 mapped_userns;	/* inode, 0 until mapped */
	bool			 taskdir_made;
	bool			 listener_made;
	bool			 cgroup_made;
	struct task_cgroup	 cg;		/* removed after the task */
};

/* Map uid (and the same gid) into the user namespace of the process
 * pidfd refers to.  0, or -1 with err saying why it was refused. */
int	privop_map_userns(struct privop_task *t, int pidfd, uint32_t uid,
	    char *err, size_t errlen);
/* Put the task's init (pidfd, mapped already) into a cgroup of its own
 * with the configured limits, where the host offers one (t->cg.desc says
 * what was done either way). */
int	privop_cgroup(struct privop_task *t, int pidfd, char *err,
	    size_t errlen);
/* Create tasksDir/<t->taskdir> owned by the task uid, mode 0700; *fd is
 * an O_PATH descriptor of it. */
int	privop_make_taskdir(struct privop_task *t, int *fd, char *err,
	    size_t errlen);
/* A TCP listener on 127.0.0.1:port for the task's proxy. */
int	privop_listener(struct privop_task *t, uint32_t port, int *fd,
	    char *err, size_t errlen);
/* Isolated networking: is fd, handed up by the taskrunner, a listener on
 * 127.0.0.1:taskclusterProxyPort inside the task's own network
 * namespace (one owned by the task's mapped user namespace)?  0, or -1
 * with err saying what it is not. */
int	privop_check_task_listener(const struct privop_task *t, int fd,
	    char *err, size_t errlen);

/*
 * Serve one request message from the taskrunner and answer it on c.
 * Returns 0 when granted, -1 when refused (PRIVOP_FAIL was sent and the
 * reason logged: the caller treats the taskrunner as compromised), -2
 * when the answer could not be sent.
 */
int	privop_handle(struct privop_task *t, struct ipc_conn *c,
	    struct ipc_msg *m);

#endif
