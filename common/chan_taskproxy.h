/*
 * The task proxy: proxyd exec'd afresh for one task (proxyd --task-proxy),
 * serving that task's TASKCLUSTER_PROXY_URL.  It has two channels.
 *
 * fd 3, supervisor <-> task proxy:
 *	SCOPES		supervisor -> task proxy, fd = sealed memfd: the
 *			task's scopes as the taskrunner handed them up,
 *			'\n'-separated.  They become the authorizedScopes of
 *			every request (plus the run's create-artifact scope
 *			in worker mode).
 *	SERVING		task proxy -> supervisor: it has its scopes and its
 *			credentials, and serves its listener (fd 5).
 *
 * fd 6, proxyd <-> task proxy (the credentials channel; the supervisor
 * makes the socketpair and never reads it):
 *	CREDENTIALS	proxyd -> task proxy: {"clientId", "accessToken",
 *			"certificate"} as JSON, the shape of the claim's
 *			credentials and of taskcluster-proxy's PUT
 *			/credentials body.  The first one starts the
 *			service; later ones replace the credentials in use
 *			(a reclaim's new ones).
 *	ACCEPTED	task proxy -> proxyd: in use from now on
 *	REJECTED	task proxy -> proxyd: why not (u32-length string)
 */
#ifndef SEPWORKER_CHAN_TASKPROXY_H
#define SEPWORKER_CHAN_TASKPROXY_H

#include "chan_common.h"

#define TASKPROXY_MAX_MSG	4096u
#define TASKPROXY_LISTEN_FD	5
#define TASKPROXY_CREDS_FD	6
#define TPC_MAX_MSG		32768u
#define TPC_REASON_MAX		256u

enum {
	TP_SCOPES = CHAN_FIRST_OWN_TYPE,
	TP_SERVING,
};

static const struct ipc_msgspec taskproxy_msgs[] = {
	CHAN_COMMON_MSGS,
	{ TP_SCOPES, "SCOPES", IPC_TO_CHILD, 0, 0, true },
	{ TP_SERVING, "SERVING", IPC_TO_SUPERVISOR, 0, 0, false },
};

static const struct ipc_channel taskproxy_channel __attribute__((unused)) = {
	"taskproxy", TASKPROXY_MAX_MSG, taskproxy_msgs,
	sizeof(taskproxy_msgs) / sizeof(taskproxy_msgs[0]),
};

enum {
	TPC_CREDENTIALS = CHAN_FIRST_OWN_TYPE,
	TPC_ACCEPTED,
	TPC_REJECTED,
};

static const struct ipc_msgspec taskcreds_msgs[] = {
	{ TPC_CREDENTIALS, "CREDENTIALS", IPC_TO_CHILD, 2,
	    TPC_MAX_MSG - 16, false },
	{ TPC_ACCEPTED, "ACCEPTED", IPC_TO_SUPERVISOR, 0, 0, false },
	{ TPC_REJECTED, "REJECTED", IPC_TO_SUPERVISOR, 4, 4 + TPC_REASON_MAX,
	    false },
};

static const struct ipc_channel taskcreds_channel __attribute__((unused)) = {
	"taskcreds", TPC_MAX_MSG, taskcreds_msgs,
	sizeof(taskcreds_msgs) / sizeof(taskcreds_msgs[0]),
};

#endif
