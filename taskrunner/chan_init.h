/*
 * taskrunner <-> the task's init (pid 1 of the task's namespaces, running
 * as the task uid).  A socketpair made before the init is cloned; the
 * task's own processes never hold it.  The init is the parent's child, so
 * the directions read: IPC_TO_SUPERVISOR = init -> taskrunner.
 *
 *	INIT_GO		taskrunner -> init: the id maps are written
 *	INIT_READY	init -> taskrunner: sandbox built; u32 Landlock ABI,
 *			u32 flags (INIT_READY_*)
 *	COMMAND_START	init -> taskrunner: u32 index
 *	COMMAND_DONE	init -> taskrunner: u32 index, i32 exit code, u32
 *			INIT_CMD_* flags, u32 errno or signal, u64 ms
 *	TIMEOUT		init -> taskrunner: maxRunTime passed, every task
 *			process was killed
 *	ARTIFACT	init -> taskrunner, fd: as TR_ARTIFACT
 *	ARTIFACT_ERROR	init -> taskrunner: as TR_ARTIFACT_ERROR
 *	LISTENER	init -> taskrunner, fd: the proxy's listener, made
 *			inside the task's network namespace (isolated
 *			networking, a task that asked for the proxy)
 *	COT_EXTRA	init -> taskrunner, fd: chain-of-trust-additional-
 *			data.json, opened as the task user (chain of trust)
 *	COT_EXTRA_ERROR	init -> taskrunner: string, why it could not be
 *			opened (it exists, but is no regular file, or a link)
 *	NOTE		init -> taskrunner: a line for the task log
 *	DONE		init -> taskrunner: nothing of the task is left
 */
#ifndef SEPWORKER_CHAN_INIT_H
#define SEPWORKER_CHAN_INIT_H

#include "common/chan_taskrunner.h"

#define INIT_MAX_MSG	TASKRUNNER_MAX_MSG

#define INIT_CMD_NOT_STARTED	0x1u	/* exec failed: errno given */
#define INIT_CMD_SIGNALED	0x2u	/* killed by a signal: given */

#define INIT_READY_NETNS	0x1u	/* own network namespace, lo up */
#define INIT_READY_CGROUP	0x2u	/* in its own cgroup */

enum {
	INIT_GO = CHAN_FIRST_OWN_TYPE,
	INIT_READY,
	INIT_COMMAND_START,
	INIT_COMMAND_DONE,
	INIT_TIMEOUT,
	INIT_ARTIFACT,
	INIT_ARTIFACT_ERROR,
	INIT_NOTE,
	INIT_DONE,
	INIT_LISTENER,
	INIT_COT_EXTRA,
	INIT_COT_EXTRA_ERROR,
};

static const struct ipc_msgspec init_msgs[] = {
	{ INIT_GO, "INIT_GO", IPC_TO_CHILD, 0, 0, false },
	{ INIT_READY, "INIT_READY", IPC_TO_SUPERVISOR, 8, 8, false },
	{ INIT_COMMAND_START, "INIT_COMMAND_START", IPC_TO_SUPERVISOR, 4, 4,
	    false },
	{ INIT_COMMAND_DONE, "INIT_COMMAND_DONE", IPC_TO_SUPERVISOR, 24, 24,
	    false },
	{ INIT_TIMEOUT, "INIT_TIMEOUT", IPC_TO_SUPERVISOR, 0, 0, false },
	{ INIT_ARTIFACT, "INIT_ARTIFACT", IPC_TO_SUPERVISOR,
	    sizeof(struct task_artifact_meta) + 3 * 4,
	    sizeof(struct task_artifact_meta) + 3 * (4 + TASK_STRING_MAX),
	    true },
	{ INIT_ARTIFACT_ERROR, "INIT_ARTIFACT_ERROR", IPC_TO_SUPERVISOR,
	    4 + 3 * 4, 4 + 3 * (4 + TASK_STRING_MAX), false },
	{ INIT_NOTE, "INIT_NOTE", IPC_TO_SUPERVISOR, 4, 4 + TASK_STRING_MAX,
	    false },
	{ INIT_DONE, "INIT_DONE", IPC_TO_SUPERVISOR, 0, 0, false },
	{ INIT_LISTENER, "INIT_LISTENER", IPC_TO_SUPERVISOR, 0, 0, true },
	{ INIT_COT_EXTRA, "INIT_COT_EXTRA", IPC_TO_SUPERVISOR, 0, 0, true },
	{ INIT_COT_EXTRA_ERROR, "INIT_COT_EXTRA_ERROR", IPC_TO_SUPERVISOR, 4,
	    4 + TASK_STRING_MAX, false },
};

static const struct ipc_channel init_channel __attribute__((unused)) = {
	"task init", INIT_MAX_MSG, init_msgs,
	sizeof(init_msgs) / sizeof(init_msgs[0]),
};

#endif
