/*
 * One task in the taskrunner: its assignment, its validated definition,
 * the sandbox built for it, and how it ended.
 *
 * The taskrunner (task.c) clones the task's init into new user, pid,
 * mount, ipc, uts and cgroup namespaces (and net, isolated mode); the
 * init (init.c) finishes the sandbox from the inside (its own root:
 * taskroot.c), runs the commands (exec.c), kills whatever is left,
 * collects the artifacts as the task user (collect.c) and cleans up.  The taskrunner copies the task's output
 * into the log and tells the supervisor how it went.
 */
#ifndef SEPWORKER_TASK_H
#define SEPWORKER_TASK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/chan_taskrunner.h"
#include "common/ipc.h"
#include "taskrunner/payload.h"

struct task {
	/* from TASK_ASSIGN */
	struct task_assign	 a;
	char			*task_id;
	char			*provisioner_id;
	char			*worker_type;
	char			*worker_group;
	char			*worker_id;
	char			*root_url;
	char			*taskdir_path;	/* as the task sees it */
	char			*read_only_paths; /* '\n'-separated, extra */
	char			*cot_refusal;	/* "" if chain of trust is offered */
	char			*proxy_refusal;	/* "" if the proxy is offered */
	char			*metadata;	/* workerTypeMetadata, JSON */
	int			 log_fd;

	struct task_def		 def;

	/* the sandbox */
	char			 user[32];	/* task_<uid> */
	char			**envp;		/* the commands' environment */
	char			*passwd;	/* /etc/passwd as the task sees it */
	char			*group;		/* /etc/group likewise */
	int			 taskdir_fd;	/* O_PATH, from the supervisor */
	int			 init_sock[2];	/* [0] ours, [1] the init's */
	int			 out_pipe[2];	/* task output: [0] ours, [1] its */
	pid_t			 init_pid;
	int			 init_pidfd;
};

/* The ways the init can end before DONE, as its exit status. */
#define INIT_EXIT_SETUP		70	/* building the sandbox failed */

/* init.c: pid 1 of the task; never returns. */
void	init_main(struct task *t) __attribute__((noreturn));

/* exec.c: start command i in a child of the init; its pid, or -1 with
 * *err the errno that kept it from starting. */
pid_t	exec_command(struct task *t, size_t i, int *err);

/* collect.c: open every declared artifact as the task user and send it
 * (or an error) on c; then remove the task directory's contents. */
void	collect_artifacts(struct task *t, struct ipc_conn *c);
void	clean_taskdir(struct task *t, struct ipc_conn *c);
/* collect.c: chain-of-trust-additional-data.json's fd (or why it cannot
 * be read), if the task left one. */
void	collect_cot_extra(struct task *t, struct ipc_conn *c);

/* init.c: a line for the task log, sent to the taskrunner. */
void	init_note(struct ipc_conn *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* init.c: say in the task log that building the sandbox failed, with
 * errno's reason, and end the init. */
void	init_setup_failed(const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 1, 2)));

/* taskroot.c: the task's own root, built and entered (the init, while
 * it holds its namespace's capabilities); notes go on c. */
void	taskroot_build(struct task *t, struct ipc_conn *c);

/* task.c: serve TASK_ASSIGN (validate; TASK_VALID or TASK_RESULT) and
 * TASK_START (run; TASK_RESULT, then exit). */
int	task_assign(struct task *t, struct ipc_conn *sup, struct ipc_msg *m);
void	task_run(struct task *t, struct ipc_conn *sup)
	    __attribute__((noreturn));
void	task_abort_before_start(struct task *t, struct ipc_conn *sup,
	    const struct ipc_msg *m) __attribute__((noreturn));

#endif
