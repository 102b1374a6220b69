/*
 * supervisor <-> proxyd, the long-lived holder of credentials.
 *
 *	TASK_CREDS	supervisor -> proxyd: clientId, accessToken,
 *			certificate ("" for permanent credentials), as
 *			u32-length strings: the credentials the next task
 *			acts with (run-task: the config's).  The supervisor
 *			wipes its copy once sent; proxyd keeps them in
 *			locked memory.
 *	TASK_GRANT	supervisor -> proxyd, fd = sealed memfd: the
 *			task's scopes as the taskrunner handed them up
 *			('\n'-separated; the supervisor passes them on
 *			unread), and an i64: the expiry, in ms since the
 *			epoch, the supervisor computed from the task's typed
 *			summary.  What the temporary credentials proxyd
 *			issues for the next task proxy may do, and until
 *			when, when the credentials it holds are permanent.
 *	FEED_TASKPROXY	supervisor -> proxyd, fd = proxyd's end of a
 *			socketpair whose other end is a task proxy's fd 6
 *			(common/chan_taskproxy.h, the credentials channel).
 *			proxyd sends the task's credentials there, then
 *			wipes its own copy of them: a task's credentials
 *			live in that task's proxy and nowhere else.
 *			Permanent credentials never go there: proxyd sends
 *			temporary ones it issues from them (proxyd/issue.h)
 *			under the last TASK_GRANT, and refuses to feed
 *			without one.  Temporary credentials go as they are
 *			(they cannot issue others).
 *	WORKER_CREDS	supervisor -> proxyd (worker mode): the worker's
 *			credentials, laid out as TASK_CREDS; a later one
 *			replaces them
 *	CLAIM_WORK	supervisor -> proxyd: claimWork for one task
 *	CLAIMED		proxyd -> supervisor, fd = sealed memfd of the
 *			claim's task definition: struct px_claim, then
 *			taskId, taskGroupId.  The claim's credentials stay
 *			in proxyd for the next FEED_TASKPROXY.
 *	NO_TASK		proxyd -> supervisor: "" (none) or why the call
 *			failed
 *	FORGET_TASK	supervisor -> proxyd: wipe unfed task credentials
 *	DONE		proxyd -> supervisor: the request was carried out
 *	FAILED		proxyd -> supervisor: why not (u32-length string)
 *
 * The supervisor never sees a task's credentials on the way to its
 * proxy: it only connects the two ends.
 */
#ifndef SEPWORKER_CHAN_PROXYD_H
#define SEPWORKER_CHAN_PROXYD_H

#include "chan_common.h"

#define PROXYD_MAX_MSG		65536u
#define PX_CLIENT_ID_MAX	256u
#define PX_TOKEN_MAX		256u
#define PX_CERTIFICATE_MAX	16384u
#define PX_REASON_MAX		256u

enum {
	PX_TASK_CREDS = CHAN_FIRST_OWN_TYPE,
	PX_FEED_TASKPROXY,
	PX_DONE,
	PX_FAILED,
	PX_TASK_GRANT,
	PX_WORKER_CREDS,
	PX_CLAIM_WORK,
	PX_CLAIMED,
	PX_NO_TASK,
	PX_FORGET_TASK,
};

struct px_claim {
	uint32_t	run_id;
	uint32_t	reserved;
	int64_t		taken_until_ms;
	int64_t		expires_ms;	/* the task's */
};

#define PX_SLUGID_MAX	22u

static const struct ipc_msgspec proxyd_msgs[] = {
	CHAN_COMMON_MSGS,
	{ PX_TASK_CREDS, "TASK_CREDS", IPC_TO_CHILD, 3 * 4 + 2,
	    3 * 4 + PX_CLIENT_ID_MAX + PX_TOKEN_MAX + PX_CERTIFICATE_MAX,
	    false },
	{ PX_TASK_GRANT, "TASK_GRANT", IPC_TO_CHILD, 8, 8, true },
	{ PX_FEED_TASKPROXY, "FEED_TASKPROXY", IPC_TO_CHILD, 0, 0, true },
	{ PX_WORKER_CREDS, "WORKER_CREDS", IPC_TO_CHILD, 3 * 4 + 2,
	    3 * 4 + PX_CLIENT_ID_MAX + PX_TOKEN_MAX + PX_CERTIFICATE_MAX,
	    false },
	{ PX_CLAIM_WORK, "CLAIM_WORK", IPC_TO_CHILD, 0, 0, false },
	{ PX_CLAIMED, "CLAIMED", IPC_TO_SUPERVISOR,
	    sizeof(struct px_claim) + 2 * 4,
	    sizeof(struct px_claim) + 2 * (4 + PX_SLUGID_MAX), true },
	{ PX_NO_TASK, "NO_TASK", IPC_TO_SUPERVISOR, 4, 4 + PX_REASON_MAX,
	    false },
	{ PX_FORGET_TASK, "FORGET_TASK", IPC_TO_CHILD, 0, 0, false },
	{ PX_DONE, "DONE", IPC_TO_SUPERVISOR, 0, 0, false },
	{ PX_FAILED, "FAILED", IPC_TO_SUPERVISOR, 4, 4 + PX_REASON_MAX,
	    false },
};

static const struct ipc_channel proxyd_channel __attribute__((unused)) = {
	"proxyd", PROXYD_MAX_MSG, proxyd_msgs,
	sizeof(proxyd_msgs) / sizeof(proxyd_msgs[0]),
};

#endif
