/*
 * One task's way through the supervisor, shared by run-task and the
 * worker (supervisor/taskflow.c).
 */
#ifndef SEPWORKER_TASKFLOW_H
#define SEPWORKER_TASKFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ipc.h"
#include "supervisor/supervisor.h"
#include "supervisor/taskrun.h"

#define READY_TIMEOUT_MS	10000
/* How long a task proxy has to start serving, and to stop. */
#define TASKPROXY_START_MS	10000
#define TASKPROXY_STOP_MS	2000

/* tasksDir, made if missing (root's, mode 0711). */
int	tf_ensure_tasks_dir(const char *path, char *err, size_t errlen);
/* A string, cut at TASK_STRING_MAX. */
void	tf_put_str(struct ipc_writer *w, const char *s);
/* Serve events until done(run) or the supervisor stops; on a signal,
 * abort the task and give the taskrunner a while to report. */
void	tf_serve_until(struct supervisor *s, struct task_run *run,
	    bool (*done)(const struct task_run *));
/* Fail the task from the worker's side; the taskrunner logs why. */
void	tf_abort_task(struct supervisor *s, struct task_run *r,
	    const char *why);
/* Start the task's proxy (worker mode: its agent; listen_fd -1: no
 * listener); 0 once it serves, or -1 with why. */
int	tf_start_task_proxy(struct supervisor *s, struct task_run *r,
	    int listen_fd, char *why, size_t whylen);
/* Hand the task (its definition in def_fd) to the taskrunner and serve it
 * until it resolves; false if it could not even be handed over. */
bool	tf_run(struct supervisor *s, struct task_run *r, int def_fd,
	    const char *proxy_refusal);
/* certified.log, chain-of-trust.json and its signature, written into the
 * task's output directory and recorded; -1 with err set. */
int	tf_chain_of_trust(struct supervisor *s, struct task_run *r,
	    const unsigned char pk[32], char *err, size_t errlen);
/* The config's clientId, accessToken and certificate to proxyd as a
 * TASK_CREDS or WORKER_CREDS message (type); -1 with why.  The caller
 * wipes the config's copies. */
int	tf_send_config_creds(struct supervisor *s, uint32_t type, char *why,
	    size_t whylen);
/* The (emptied) task directory, removed. */
void	tf_remove_task_dir(const struct supervisor *s);
/* The keyholder's public key; false if it has none. */
bool	tf_public_key(struct supervisor *s, unsigned char pk[32]);
/* Wait (briefly) for the taskrunner to exit after its task. */
void	tf_await_taskrunner(struct supervisor *s);

#endif
