/*
 * supervisor <-> proxyd, the long-lived holder of credentials.
 *
 * Two modes, chosen by the command line: run-task (no option: proxyd
 * holds the config's credentials for the one task, no network) and
 * worker mode (--worker --root-url U --provisioner-id P --worker-type T
 * --worker-group G --worker-id I: proxyd holds the worker's
 * credentials, makes the worker's own Queue calls and keeps each
 * claim's task credentials -- the latest, as the task's proxy renews
 * them with each reclaim -- until FORGET_TASK).
 * WORKER_CREDS, CLAIM_WORK, FORGET_TASK, NEW_CREDENTIALS and
 * SHOULD_TERMINATE are worker mode's; TASK_CREDS
 * and TASK_GRANT run-task's; anything else either's.
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
 *			proxyd sends the task's credentials there.  In
 *			run-task mode it then wipes its own copy: a task's
 *			credentials live in that task's proxy and nowhere
 *			else.  In worker mode it keeps them, and keeps the
 *			channel open to take each reclaim's new ones (RENEWED)
 *			until FORGET_TASK: a task proxy that dies mid-task is
 *			replaced, and FEED_TASKPROXY again gives the new one
 *			the task's latest credentials.
 *			Permanent credentials never go there: proxyd sends
 *			temporary ones it issues from them (proxyd/issue.h)
 *			under the last TASK_GRANT, and refuses to feed
 *			without one.  Temporary credentials go as they are
 *			(they cannot issue others): in worker mode, the last
 *			claim's.
 *	WORKER_CREDS	supervisor -> proxyd: clientId, accessToken,
 *			certificate ("" for permanent credentials), as
 *			u32-length strings, with TASK_CREDS' limits: the
 *			worker's own credentials, kept in locked memory; a
 *			later one replaces them (worker-runner's
 *			new-credentials).  DONE, or FAILED.
 *	CLAIM_WORK	supervisor -> proxyd, no payload: claimWork for one
 *			task with the worker's credentials.  Answered with
 *			NO_TASK or CLAIMED, or FAILED without a call when
 *			proxyd has no worker credentials, still holds an
 *			earlier claim's task credentials (fed or not: until
 *			FORGET_TASK) or is making another call for the
 *			worker.  The call runs on a thread of its own:
 *			proxyd answers PING, NEW_CREDENTIALS and the rest
 *			meanwhile.
 *	NO_TASK		proxyd -> supervisor: u32-length string, "" when the
 *			Queue had no task for us, else why the call failed
 *			or why its answer was refused (the supervisor logs
 *			"Could not claim work. <reason>").
 *	CLAIMED		proxyd -> supervisor, fd = sealed memfd holding the
 *			claim's task definition as JSON (json-c, plain):
 *			struct px_claim, then taskId and taskGroupId as
 *			u32-length strings (slugids).  No credential ever:
 *			the claim's are kept as the next task's, fed to its
 *			proxy by FEED_TASKPROXY.
 *	FORGET_TASK	supervisor -> proxyd, no payload: the task is over
 *			(or could not be started): wipe its credentials and
 *			close its proxy's channel.  DONE.
 *	NEW_CREDENTIALS	supervisor -> proxyd: worker-runner's new-credentials
 *			message as it came, the JSON object after the '~'
 *			({"type":"new-credentials","client-id","access-token"
 *			[,"certificate"]}), passed on unread: proxyd parses
 *			and checks it and replaces the worker's credentials
 *			(the next claimWork uses them; one in flight keeps
 *			its copy).  The supervisor wipes its copy once sent.
 *			DONE, or FAILED.  Answered even while a claimWork is
 *			in flight.
 *	SHOULD_TERMINATE supervisor -> proxyd, no payload: worker-manager's
 *			shouldWorkerTerminate for this worker, with the
 *			worker's credentials.  DONE (keep working),
 *			TERMINATE, or FAILED (the call failed: the caller
 *			takes it as "keep working").
 *	TERMINATE	proxyd -> supervisor: u32-length string, the reason
 *			worker-manager gave for terminating the worker.
 *	DONE		proxyd -> supervisor: the request was carried out
 *	FAILED		proxyd -> supervisor: why not (u32-length string)
 *
 * The supervisor never sees a task's credentials on the way to its
 * proxy: it only connects the two ends.
 */
#ifndef SEPWORKER_CHAN_PROXYD_H
#define SEPWORKER_CHAN_PROXYD_H

#include <stdint.h>

#include "chan_common.h"

#define PROXYD_MAX_MSG		65536u
#define PX_CLIENT_ID_MAX	256u
#define PX_TOKEN_MAX		256u
#define PX_CERTIFICATE_MAX	16384u
#define PX_REASON_MAX		256u
#define PX_SLUGID_LEN		22u
#define PX_NEW_CREDS_MAX	32768u

/* CLAIMED's fixed part, in host byte order. */
struct px_claim {
	uint32_t	run_id;
	uint32_t	reserved;	/* 0 */
	int64_t		taken_until_ms;	/* ms since the epoch */
	int64_t		expires_ms;	/* the task's expires */
};

enum {
	PX_TASK_CREDS = CHAN_FIRST_OWN_TYPE,
	PX_FEED_TASKPROXY,
	PX_DONE,
	PX_FAILED,
	PX_TASK_GRANT,
	PX_WORKER_CREDS,
	PX_CLAIM_WORK,
	PX_NO_TASK,
	PX_CLAIMED,
	PX_FORGET_TASK,
	PX_NEW_CREDENTIALS,
	PX_SHOULD_TERMINATE,
	PX_TERMINATE,
};

static const struct ipc_msgspec proxyd_msgs[] = {
	CHAN_COMMON_MSGS,
	{ PX_TASK_CREDS, "TASK_CREDS", IPC_TO_CHILD, 3 * 4 + 2,
	    3 * 4 + PX_CLIENT_ID_MAX + PX_TOKEN_MAX + PX_CERTIFICATE_MAX,
	    false },
	{ PX_TASK_GRANT, "TASK_GRANT", IPC_TO_CHILD, 8, 8, true },
	{ PX_FEED_TASKPROXY, "FEED_TASKPROXY", IPC_TO_CHILD, 0, 0, true },
	{ PX_DONE, "DONE", IPC_TO_SUPERVISOR, 0, 0, false },
	{ PX_FAILED, "FAILED", IPC_TO_SUPERVISOR, 4, 4 + PX_REASON_MAX,
	    false },
	{ PX_WORKER_CREDS, "WORKER_CREDS", IPC_TO_CHILD, 3 * 4 + 2,
	    3 * 4 + PX_CLIENT_ID_MAX + PX_TOKEN_MAX + PX_CERTIFICATE_MAX,
	    false },
	{ PX_CLAIM_WORK, "CLAIM_WORK", IPC_TO_CHILD, 0, 0, false },
	{ PX_NO_TASK, "NO_TASK", IPC_TO_SUPERVISOR, 4, 4 + PX_REASON_MAX,
	    false },
	{ PX_CLAIMED, "CLAIMED", IPC_TO_SUPERVISOR,
	    sizeof(struct px_claim) + 2 * (4 + PX_SLUGID_LEN),
	    sizeof(struct px_claim) + 2 * (4 + PX_SLUGID_LEN), true },
	{ PX_FORGET_TASK, "FORGET_TASK", IPC_TO_CHILD, 0, 0, false },
	{ PX_NEW_CREDENTIALS, "NEW_CREDENTIALS", IPC_TO_CHILD, 2,
	    PX_NEW_CREDS_MAX, false },
	{ PX_SHOULD_TERMINATE, "SHOULD_TERMINATE", IPC_TO_CHILD, 0, 0,
	    false },
	{ PX_TERMINATE, "TERMINATE", IPC_TO_SUPERVISOR, 4, 4 + PX_REASON_MAX,
	    false },
};

static const struct ipc_channel proxyd_channel __attribute__((unused)) = {
	"proxyd", PROXYD_MAX_MSG, proxyd_msgs,
	sizeof(proxyd_msgs) / sizeof(proxyd_msgs[0]),
};

#endif
