/*
 * The supervisor's view of its children: starting them, watching them,
 * relaying their logs, talking to them, stopping them.
 */
#ifndef SEPWORKER_SUPERVISOR_H
#define SEPWORKER_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/ipc.h"
#include "common/log.h"
#include "supervisor/config.h"
#include "supervisor/logrelay.h"
#include "supervisor/privop.h"
#include "supervisor/taskrun.h"

enum role {
	ROLE_KEYHOLDER,
	ROLE_PROXYD,
	ROLE_TASKRUNNER,
	NSTANDING,		/* the three started with the supervisor */
	ROLE_TASKPROXY = NSTANDING, /* one task's proxy, started per task */
	NROLES,
};

/* Child states; each is one bit so dispatch tables can list several. */
enum child_state {
	CHILD_NONE = 0,		/* not running */
	CHILD_STARTING = 0x1,	/* spawned, READY not yet received */
	CHILD_READY = 0x2,	/* serving */
	CHILD_TASK = 0x4,	/* taskrunner with a task assigned */
	CHILD_STOPPING = 0x8,	/* SHUTDOWN sent or killed by us */
};

struct child {
	enum role		 role;
	const char		*name;
	enum child_state	 state;
	pid_t			 pid;
	int			 pidfd;
	struct ipc_conn		 conn;
	int			 logfd;
	struct linebuf		 log;
	uint64_t		 ping_nonce;
	bool			 ping_answered;
	/* how it ended, once reaped */
	bool			 reaped;
	int			 exit_code;	/* si_code CLD_EXITED: status */
	int			 exit_signal;	/* killed or dumped: signal */
};

/* The answer to a request to the keyholder, as it comes in. */
struct kh_answer {
	uint32_t	id;		/* of the request waited for; 0: none */
	bool		done;
	uint32_t	type;		/* KH_PUBKEY, KH_SIGNATURE or KH_REFUSED */
	uint8_t		data[96];
	size_t		len;
	char		reason[256 + 1];
};

/* proxyd's answer to a request, as it comes in. */
struct px_answer {
	uint32_t	id;		/* of the request waited for; 0: none */
	bool		done;
	bool		failed;
	uint32_t	type;		/* PX_DONE, PX_FAILED, PX_CLAIMED, ... */
	char		reason[256 + 1];	/* FAILED's, NO_TASK's */
	uint8_t		data[128];	/* CLAIMED's payload */
	size_t		len;
	int		fd;		/* CLAIMED's memfd, ours to close */
};

struct supervisor {
	const struct sw_config	*cfg;
	int			 binfd[NROLES];
	int			 devnull;
	int			 sigfd;
	struct child		 kids[NROLES];
	struct privop_task	 task;
	struct task_run		*run;		/* the task being run, if any */
	struct kh_answer	 kh;
	struct px_answer	 px;
	bool			 taskproxy_serving;
	/* Worker mode: the task proxy's answers as the task's agent go
	 * here; while hold_taskrunner is set the taskrunner's messages
	 * wait (its artifacts queue up faster than they upload). */
	int			(*on_agent_answer)(void *arg, struct ipc_msg *m);
	void			*agent_arg;
	bool			 hold_taskrunner;
	bool			 worker_mode;	/* `run`, not run-task */
	int			 agent_spool_fd; /* worker: the task's, or -1 */
	/* Worker mode, once started: a standing child that dies or breaks
	 * protocol is lost, not a reason to stop; the worker ends the task
	 * it was running (task_fault says why) and restarts the child
	 * before the next claim (worker.c). */
	bool			 recover_children;
	bool			 lost[NSTANDING];
	char			 lost_why[NSTANDING][320];
	uint64_t		 lost_ms[NSTANDING];
	char			 task_fault[400];
	/*
	 * Worker mode: a graceful termination asked for (SIGINT, SIGTERM,
	 * worker-runner's graceful-termination or its end of stdin
	 * closing): no more claims.  With term_abort the running task is
	 * aborted (worker-shutdown); without, it runs to its end.  The
	 * children keep serving either way: the task's agent must still
	 * upload and resolve.  term_exit: 71 or 72.
	 */
	bool			 term_requested;
	bool			 term_abort;
	int			 term_exit;
	/* Worker mode: another input to poll (worker-runner's stdin), -1
	 * when none; on_input is called when it is readable. */
	int			 input_fd;
	void			(*on_input)(struct supervisor *s);
	/* Requests sent with supervisor_proxyd_post, answers not in. */
	uint32_t		 post_ids[4];
	bool			 stopping;	/* shutting everything down */
	int			 stop_signal;	/* signal that asked for it */
	int			 exit_code;	/* 0, or why we are stopping */
};

/* Open the child binaries next to our executable, block the signals we
 * handle, open /dev/null.  -1 with err set on failure. */
int	supervisor_init(struct supervisor *s, const struct sw_config *cfg,
	    char *err, size_t errlen);
/* Start a child; it is CHILD_STARTING until it says READY. */
int	supervisor_spawn(struct supervisor *s, enum role role);
/* The same, with role options (NULL-terminated). */
int	supervisor_spawn_opts(struct supervisor *s, enum role role,
	    char *const *opts);
/* Start the task proxy for the task being run, with its listener, its
 * end of the credentials channel and, in worker mode, its spool
 * directory (fds 5, 6, 7; spool_fd -1: none) and its role options. */
int	supervisor_spawn_taskproxy(struct supervisor *s, int listen_fd,
	    int creds_fd, int spool_fd, char *const *opts);
/* Stop one child: SHUTDOWN, SIGKILL after grace_ms; reaped on return. */
void	supervisor_stop_child(struct supervisor *s, enum role role,
	    unsigned grace_ms);
/* Serve events until every started child is READY, or timeout_ms passes,
 * or something fails.  0 when all are ready. */
int	supervisor_wait_ready(struct supervisor *s, unsigned timeout_ms);
/* PING every ready child and wait for the PONGs. 0 if all answered. */
int	supervisor_ping_all(struct supervisor *s, unsigned timeout_ms);
/* Wait up to timeout_ms (-1: forever) for one round of events. */
void	supervisor_poll(struct supervisor *s, int timeout_ms);
/*
 * Ask the keyholder and wait for its answer (up to timeout_ms): 0 with
 * the answer in *a (a->type KH_PUBKEY or KH_SIGNATURE), 1 if it refused
 * (a->reason says why), -1 if it could not answer (dead, stopping, late).
 */
int	supervisor_keyholder_call(struct supervisor *s, uint32_t type,
	    const void *payload, size_t len, int fd, unsigned timeout_ms,
	    struct kh_answer *a);
/*
 * Ask proxyd and wait for its answer (up to timeout_ms): 0 when done, 1
 * if it failed (why in reason), -1 if it could not answer.
 */
int	supervisor_proxyd_call(struct supervisor *s, uint32_t type,
	    const void *payload, size_t len, int fd, unsigned timeout_ms,
	    char *reason, size_t reasonlen);
/* The same, the whole answer in *a (a->fd the caller's to close); -1 if
 * none came. */
int	supervisor_proxyd_request(struct supervisor *s, uint32_t type,
	    const void *payload, size_t len, int fd, unsigned timeout_ms,
	    struct px_answer *a);
/*
 * Send proxyd a request whose answer (DONE or FAILED) is only logged,
 * naming what; it does not wait, so it may be sent while another
 * request waits for its answer.  0, or -1 if it could not be sent.
 */
int	supervisor_proxyd_post(struct supervisor *s, uint32_t type,
	    const void *payload, size_t len, const char *what);
/*
 * Worker mode: graceful termination, asked for by why.  abort: the
 * running task is aborted as worker-shutdown; else it finishes.  A later
 * request may turn a finishing termination into an abort (exit_code
 * then replaces the first's), never the other way.
 */
void	supervisor_terminate(struct supervisor *s, bool abort, int exit_code,
	    const char *why);
/* Serve events until a stop is requested (signal or a child's death). */
void	supervisor_run(struct supervisor *s);
/* Stop every child: SHUTDOWN, then SIGKILL after a grace period; reap all.
 * Returns true if every child exited on its own with status 0. */
bool	supervisor_shutdown(struct supervisor *s);

/* "exited with status 3 (protocol violation)" and the like. */
void	child_describe_end(const struct child *k, char *buf, size_t len);

#endif
