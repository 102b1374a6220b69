/*
 * The task proxy: proxyd exec'd afresh for one task (proxyd --task-proxy),
 * serving that task's TASKCLUSTER_PROXY_URL.  It has two channels.
 *
 * fd 3, supervisor <-> task proxy:
 *	SCOPES		supervisor -> task proxy, fd = sealed memfd: the
 *			task's scopes as the taskrunner handed them up,
 *			'\n'-separated.  They become the authorizedScopes of
 *			every request (plus the run's create-artifact scope
 *			in worker mode).  Never with --no-listener.
 *	SERVING		task proxy -> supervisor: it has its scopes and its
 *			credentials, and serves its listener (fd 5); with
 *			--no-listener, it has its credentials.
 *
 * Options (each child option takes a value): --agent 1 (worker mode;
 * implies --artifact-scope 1), --no-listener 1 (with --agent: the task
 * did not ask for the proxy; fd 5 is then a placeholder, spawn's extra
 * fds being consecutive, and is closed), --spool-fd 7 (with --agent: a
 * directory only the task proxy's uid uses, mode 0700; a gzip upload
 * without one fails TPF_LOCAL).
 *
 * With --agent (worker mode) the task proxy becomes the task's agent once
 * the task is over: it makes the Queue calls the claim's credentials are
 * for, and the supervisor (which speaks no HTTP) hands it file
 * descriptors and typed requests.  Each request has its own id in the
 * header, echoed by its answer; several may be outstanding (at most
 * TP_MAX_UPLOADS uploads, TP_MAX_REQUESTS requests in all) and answers
 * come in any order.  Strings are u32-length, at most TP_STRING_MAX
 * bytes, no NUL.  Times are ms since the epoch.  Calls are retried as
 * the Go client retries, within --retry-seconds.
 *	AGENT		supervisor -> task proxy: the task's processes are
 *			gone.  The listener and every task connection are
 *			closed for good (a request in flight is cut), then
 *			OK.  Only after SERVING; the requests below only
 *			after AGENT.
 *	UPLOAD		supervisor -> task proxy, fd = the artifact (a
 *			regular file, read-only): struct tp_upload, then
 *			name, contentType, contentEncoding ("gzip" or
 *			"identity").  createArtifact and the upload:
 *			UPLOADED (the bytes read from the fd and their
 *			SHA-256, before any encoding) or FAILED.
 *	ERROR_ARTIFACT	supervisor -> task proxy: i64 expires, then name,
 *			reason, message: an error artifact.  OK or FAILED.
 *	LINK		supervisor -> task proxy: i64 expires, then name,
 *			target, contentType: a link artifact.  OK or FAILED.
 *	RESOLVE		supervisor -> task proxy: u32 state (TASK_COMPLETED,
 *			TASK_FAILED, TASK_EXCEPTION as chan_taskrunner.h),
 *			then the exception's reason ("" otherwise):
 *			reportCompleted/Failed/Exception.  OK or FAILED.
 *	OK		task proxy -> supervisor: done.
 *	UPLOADED	task proxy -> supervisor: struct tp_uploaded.
 *	FAILED		task proxy -> supervisor: u32 class (TPF_*), then a
 *			message saying what failed.
 *
 * With --agent and --taken-until (the claim's takenUntil, ms), the task
 * proxy reclaims the task itself, on a thread of its own, from the
 * moment it has its credentials until RESOLVE is made (reference
 * worker-mode.md §3).  Its two unsolicited messages have id 0:
 *	RECLAIMED	task proxy -> supervisor: i64 the new takenUntil,
 *			then the new clientId.  The new credentials are
 *			in use already, for forwarding and the agent.
 *	RECLAIM_FAILED	task proxy -> supervisor: u32 class (TPF_REFUSED:
 *			the Queue said no, a 409 of a run cancelled,
 *			resolved elsewhere or past its deadline;
 *			TPF_UNAVAILABLE: no answer in time), then the run's
 *			state as the Queue reports it ("exception/canceled",
 *			"" if unknown), then the message.  No more reclaims
 *			follow: the claim is lost.
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
 *	RENEWED		task proxy -> proxyd, unanswered: a reclaim's new
 *			credentials, now in use, as clientId, accessToken,
 *			certificate (u32-length strings, chan_proxyd.h's
 *			limits).  proxyd (worker mode) keeps the task's
 *			latest credentials until FORGET_TASK, so that a task
 *			proxy that dies can be replaced and fed again.
 */
#ifndef SEPWORKER_CHAN_TASKPROXY_H
#define SEPWORKER_CHAN_TASKPROXY_H

#include "chan_common.h"

#define TASKPROXY_MAX_MSG	16384u
/* The task proxy's listen backlog: a task's burst of connections is
 * queued, not dropped (a dropped SYN costs its client a second); the
 * kernel caps it at net.core.somaxconn. */
#define TASKPROXY_BACKLOG	1024

#define TASKPROXY_LISTEN_FD	5
#define TASKPROXY_CREDS_FD	6
/* --spool-fd: a directory only the task proxy's uid uses (mode 0700),
 * where a gzip'd artifact is spooled before its upload. */
#define TASKPROXY_SPOOL_FD	7
#define TPC_MAX_MSG		32768u
#define TPC_REASON_MAX		256u
/* RENEWED's three strings, at most (PX_CLIENT_ID_MAX + PX_TOKEN_MAX +
 * PX_CERTIFICATE_MAX). */
#define TPC_RENEWED_MAX		(256u + 256u + 16384u)

#define TP_STRING_MAX		4096u	/* as TASK_STRING_MAX */
#define TP_MAX_UPLOADS		10u	/* at once, as generic-worker */
#define TP_MAX_REQUESTS		16u	/* agent requests at once, in all */
#define TP_STR(n)		((n) * (4 + TP_STRING_MAX))

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
	TP_RECLAIMED,
	TP_RECLAIM_FAILED,
};

/* UPLOAD's fixed part. */
struct tp_upload {
	int64_t		expires_ms;
	uint32_t	storage;	/* TP_STORE_* */
	uint32_t	flags;		/* 0 */
};
#define TP_STORE_S3		1u
#define TP_STORE_OBJECT		2u

struct tp_uploaded {
	uint64_t	bytes;		/* read from the fd */
	char		sha256[64];	/* hex, of those bytes */
};

/* FAILED's classes: what the supervisor makes of the failure. */
#define TPF_CONFLICT		1u	/* createArtifact 409: malformed-payload */
#define TPF_UNAVAILABLE		2u	/* 5xx after retries, network, the
					   upload or its finishing:
					   resource-unavailable */
#define TPF_REFUSED		3u	/* another 4xx (403; 409 of a run no
					   longer running) */
#define TPF_LOCAL		4u	/* the fd unreadable, the spool full */

static const struct ipc_msgspec taskproxy_msgs[] = {
	CHAN_COMMON_MSGS,
	{ TP_SCOPES, "SCOPES", IPC_TO_CHILD, 0, 0, true },
	{ TP_SERVING, "SERVING", IPC_TO_SUPERVISOR, 0, 0, false },
	{ TP_AGENT, "AGENT", IPC_TO_CHILD, 0, 0, false },
	{ TP_UPLOAD, "UPLOAD", IPC_TO_CHILD, sizeof(struct tp_upload) +
	    12, sizeof(struct tp_upload) + TP_STR(3), true },
	{ TP_ERROR_ARTIFACT, "ERROR_ARTIFACT", IPC_TO_CHILD, 8 + 12,
	    8 + TP_STR(3), false },
	{ TP_LINK, "LINK", IPC_TO_CHILD, 8 + 12, 8 + TP_STR(3), false },
	{ TP_RESOLVE, "RESOLVE", IPC_TO_CHILD, 4 + 4, 4 + TP_STR(1), false },
	{ TP_OK, "OK", IPC_TO_SUPERVISOR, 0, 0, false },
	{ TP_UPLOADED, "UPLOADED", IPC_TO_SUPERVISOR,
	    sizeof(struct tp_uploaded), sizeof(struct tp_uploaded), false },
	{ TP_FAILED, "FAILED", IPC_TO_SUPERVISOR, 4 + 4, 4 + TP_STR(1),
	    false },
	{ TP_RECLAIMED, "RECLAIMED", IPC_TO_SUPERVISOR, 8 + 4, 8 + TP_STR(1),
	    false },
	{ TP_RECLAIM_FAILED, "RECLAIM_FAILED", IPC_TO_SUPERVISOR, 4 + 4 + 4,
	    4 + TP_STR(2), false },
};

static const struct ipc_channel taskproxy_channel __attribute__((unused)) = {
	"taskproxy", TASKPROXY_MAX_MSG, taskproxy_msgs,
	sizeof(taskproxy_msgs) / sizeof(taskproxy_msgs[0]),
};

enum {
	TPC_CREDENTIALS = CHAN_FIRST_OWN_TYPE,
	TPC_ACCEPTED,
	TPC_REJECTED,
	TPC_RENEWED,
};

static const struct ipc_msgspec taskcreds_msgs[] = {
	{ TPC_CREDENTIALS, "CREDENTIALS", IPC_TO_CHILD, 2,
	    TPC_MAX_MSG - 16, false },
	{ TPC_ACCEPTED, "ACCEPTED", IPC_TO_SUPERVISOR, 0, 0, false },
	{ TPC_REJECTED, "REJECTED", IPC_TO_SUPERVISOR, 4, 4 + TPC_REASON_MAX,
	    false },
	{ TPC_RENEWED, "RENEWED", IPC_TO_SUPERVISOR, 3 * 4 + 2,
	    3 * 4 + TPC_RENEWED_MAX, false },
};

static const struct ipc_channel taskcreds_channel __attribute__((unused)) = {
	"taskcreds", TPC_MAX_MSG, taskcreds_msgs,
	sizeof(taskcreds_msgs) / sizeof(taskcreds_msgs[0]),
};

#endif
