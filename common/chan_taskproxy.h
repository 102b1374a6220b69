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
 * Worker mode (--agent): once the task's processes are gone the task
 * proxy is the task's agent, making every Queue call the task's
 * credentials are for.  Requests carry an id the answer echoes; up to
 * TP_MAX_UPLOADS uploads may be outstanding, answered in any order.
 *	AGENT		supervisor -> tp: stop serving the task for good
 *	UPLOAD		supervisor -> tp, fd = the file: struct tp_upload,
 *			then name, contentType, contentEncoding
 *	ERROR_ARTIFACT	supervisor -> tp: i64 expires, then name, reason,
 *			message
 *	LINK		supervisor -> tp: i64 expires, then name, target,
 *			contentType
 *	RESOLVE		supervisor -> tp: u32 state, then reason
 *	OK		tp -> supervisor: done
 *	UPLOADED	tp -> supervisor: struct tp_uploaded
 *	FAILED		tp -> supervisor: u32 class (TPF_*), message
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

#define TASKPROXY_MAX_MSG	16384u
#define TASKPROXY_LISTEN_FD	5
#define TASKPROXY_CREDS_FD	6
#define TPC_MAX_MSG		32768u
#define TPC_REASON_MAX		256u

#define TP_MAX_UPLOADS		10u
#define TP_MAX_REQUESTS		16u
#define TP_STRING_MAX		4096u

#define TP_STORE_S3		1u
#define TP_STORE_OBJECT		2u

struct tp_upload {
	int64_t		expires_ms;
	uint32_t	storage;	/* TP_STORE_* */
	uint32_t	flags;
};

struct tp_uploaded {
	uint64_t	bytes;
	char		sha256[64];	/* hex, of the bytes read */
};

#define TPF_CONFLICT		1u	/* createArtifact 409 */
#define TPF_UNAVAILABLE		2u	/* 5xx, network, upload failure */
#define TPF_REFUSED		3u	/* another 4xx */
#define TPF_LOCAL		4u	/* the file, the spool */

enum {
	TP_SCOPES = CHAN_FIRST_OWN_TYPE,
	TP_SERVING,
	TP_AGENT,
	TP_UPLOAD,
	TP_ERROR_ARTIFACT,
	TP_LINK,
	TP_RESOLVE,
	TP_OK,
	TP_UPLOADED,
	TP_FAILED,
};

static const struct ipc_msgspec taskproxy_msgs[] = {
	CHAN_COMMON_MSGS,
	{ TP_SCOPES, "SCOPES", IPC_TO_CHILD, 0, 0, true },
	{ TP_SERVING, "SERVING", IPC_TO_SUPERVISOR, 0, 0, false },
	{ TP_AGENT, "AGENT", IPC_TO_CHILD, 0, 0, false },
	{ TP_UPLOAD, "UPLOAD", IPC_TO_CHILD, sizeof(struct tp_upload) + 3 * 4,
	    sizeof(struct tp_upload) + 3 * (4 + TP_STRING_MAX), true },
	{ TP_ERROR_ARTIFACT, "ERROR_ARTIFACT", IPC_TO_CHILD, 8 + 3 * 4,
	    8 + 3 * (4 + TP_STRING_MAX), false },
	{ TP_LINK, "LINK", IPC_TO_CHILD, 8 + 3 * 4, 8 + 3 * (4 + TP_STRING_MAX),
	    false },
	{ TP_RESOLVE, "RESOLVE", IPC_TO_CHILD, 4 + 4, 4 + 4 + TP_STRING_MAX,
	    false },
	{ TP_OK, "OK", IPC_TO_SUPERVISOR, 0, 0, false },
	{ TP_UPLOADED, "UPLOADED", IPC_TO_SUPERVISOR,
	    sizeof(struct tp_uploaded), sizeof(struct tp_uploaded), false },
	{ TP_FAILED, "FAILED", IPC_TO_SUPERVISOR, 4 + 4,
	    4 + 4 + TP_STRING_MAX, false },
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
