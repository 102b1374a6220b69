/*
 * taskrunner: runs one task in a sandbox and exits with it.  It holds no
 * secret and no capability; the privileged steps a sandbox needs are
 * requests to the supervisor (common/chan_taskrunner.h).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chan_taskrunner.h"
#include "common/child.h"
#include "common/log.h"
#include "common/util.h"
#include "taskrunner/task.h"
#include "taskrunner/tasklog.h"
#include "taskrunner/taskrunner.h"

/* The taskrunner's states: a task's log, then the task, then the go. */
#define ST_IDLE		0x1u
#define ST_HAS_LOG	0x2u
#define ST_VALIDATED	0x4u

static struct task	 task = { .log_fd = -1, .taskdir_fd = -1 };
static struct ipc_conn	 conn;
static uint32_t		 state = ST_IDLE;

static int
on_task_log(void *ctx, struct ipc_msg *m)
{
	(void)ctx;
	task.log_fd = m->fd;
	m->fd = -1;
	tasklog_init(task.log_fd);
	state = ST_HAS_LOG;
	return 0;
}

static int
on_task_assign(void *ctx, struct ipc_msg *m)
{
	(void)ctx;
	if (task_assign(&task, &conn, m) == -1)
		return -1;
	state = ST_VALIDATED;
	return 0;
}

static int
on_task_start(void *ctx, struct ipc_msg *m)
{
	(void)ctx;
	(void)m;
	task_run(&task, &conn);
}

static int
on_task_abort(void *ctx, struct ipc_msg *m)
{
	(void)ctx;
	task_abort_before_start(&task, &conn, m);
}

static const struct ipc_handler handlers[] = {
	{ TR_TASK_LOG, ST_IDLE, on_task_log },
	{ TR_TASK_ASSIGN, ST_HAS_LOG, on_task_assign },
	{ TR_TASK_START, ST_VALIDATED, on_task_start },
	{ TR_TASK_ABORT, ST_VALIDATED, on_task_abort },
};

static int
role_opt(const char *opt, const char *val, void *arg)
{
	struct child_args *a = arg;

	if (strcmp(opt, "--task-debug-ns") != 0 || strcmp(val, "1") != 0)
		return -1;
	a->skip_flags |= SB_DEBUG_NS;
	return 0;
}

int
main(int argc, char **argv)
{
	struct child_args args;

	/* Soft core limit only: the hard limit is inherited by tasks. */
	sandbox_early(false);
	child_start(argc, argv, "taskrunner", role_opt, &args, &args);
	child_lockdown(&taskrunner_policy, &args);
	ipc_conn_init(&conn, CHILD_CONTROL_FD, &taskrunner_channel,
	    IPC_TO_CHILD);
	child_serve(&conn, handlers, nitems(handlers), &state, NULL);
}
