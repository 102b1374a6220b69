/*
 * supervisor <-> taskrunner, including the privileged steps a task
 * sandbox needs.  The taskrunner holds no capability; it asks, and the
 * supervisor checks every request against the task it assigned and the
 * configured ranges (supervisor/privop.c).
 *
 *	USERNS_MAP_REQ	taskrunner -> supervisor
 *		u32 uid, fd = pidfd of the task's init, which the taskrunner
 *		cloned into a new user namespace.  The supervisor maps
 *		uid -> uid (and gid -> gid) in that namespace.
 *	TASKDIR_REQ	taskrunner -> supervisor
 *		create the task directory, owned by the task uid
 *	CGROUP_REQ	taskrunner -> supervisor, fd = pidfd of the mapped init:
 *		put it in a cgroup of the task's own, with its limits
 *	CGROUP_DONE	supervisor -> taskrunner: string saying what was set
 *		up (or that the host offers no cgroup)
 *	PRIVOP_OK	supervisor -> taskrunner, answers USERNS_MAP_REQ
 *	PRIVOP_FAIL	supervisor -> taskrunner
 *		string: why the request was refused
 *	TASKDIR		supervisor -> taskrunner, fd = O_PATH of the directory
 *
 * One task, in order:
 *	TASK_LOG	supervisor -> taskrunner, fd = the backing log,
 *			opened for appending by the supervisor
 *	TASK_ASSIGN	supervisor -> taskrunner, fd = sealed memfd with the
 *			task definition exactly as received; payload: the
 *			task's context (struct below, then strings)
 *	TASK_SCOPES	taskrunner -> supervisor, before TASK_VALID when the
 *			task asks for the proxy: fd = sealed memfd of the
 *			task's scopes, '\n'-separated, for its proxy (the
 *			supervisor passes the fd on without reading it)
 *	PROXY_LISTENER	taskrunner -> supervisor, isolated networking: fd =
 *			the proxy's listener, made by the task's init inside
 *			the task's network namespace
 *	TASK_VALID	taskrunner -> supervisor, fd = sealed memfd with the
 *			definition as the taskrunner re-encoded it; payload:
 *			the typed summary, then the names of its live log and
 *			its backing log (u32-length strings)
 *	TASK_START	supervisor -> taskrunner: build the sandbox, run
 *	COMMAND_DONE	taskrunner -> supervisor: u32 index, i32 exit code
 *			(-1: could not be started), u64 milliseconds
 *	ARTIFACT	taskrunner -> supervisor, fd = the file, opened as the
 *			task user; payload: metadata and its name
 *	ARTIFACT_ERROR	taskrunner -> supervisor: a declared artifact that
 *			could not be collected: u32 ARTIFACT_ERROR_* flags,
 *			name, reason, message
 *	COT_EXTRA	taskrunner -> supervisor, chain of trust, when the task
 *			left a valid chain-of-trust-additional-data.json:
 *			u32 lengths of the merged definition, the
 *			environment's extra members and the top level's
 *			(each one JSON object), fd = sealed memfd holding
 *			the three back to back; at most once, before
 *			TASK_RESULT.  The supervisor checks each with
 *			jsonscan and refuses the worker's own keys
 *			(COT_TOP_KEYS, COT_ENV_KEYS) in the extras
 *	TASK_ABORT	supervisor -> taskrunner: kill the task now; no
 *			payload: the worker is shutting down (worker-shutdown);
 *			a string: the worker fails the task, and why
 *			(internal-error).  It still answers with TASK_RESULT
 *	TASK_RESULT	taskrunner -> supervisor: u32 state, reason string;
 *			the last message, then it exits.  A malformed task
 *			gets TASK_RESULT straight after TASK_ASSIGN.
 */
#ifndef SEPWORKER_CHAN_TASKRUNNER_H
#define SEPWORKER_CHAN_TASKRUNNER_H

#include "chan_common.h"

#include <stdint.h>

#define TASKRUNNER_MAX_MSG	65536u
#define PRIVOP_REASON_MAX	256u
#define TASK_STRING_MAX		4096u	/* any one string in a message */

/* TASK_ASSIGN's fixed part; then taskId, provisionerId, workerType,
 * workerGroup, workerId, rootURL, taskdir path, the extra read-only paths
 * ('\n'-separated), why chain of trust cannot be offered and why the
 * proxy cannot ("" if it can), each at most TASK_STRING_MAX bytes, and
 * the worker type's metadata (workerTypeMetadata as compact JSON, for
 * the log's header), at most TASK_METADATA_MAX, as u32-length strings. */
#define TASK_ASSIGN_STRINGS	11
#define TASK_METADATA_MAX	16384u
#define TASK_ASSIGN_MAX		(sizeof(struct task_assign) +		\
	TASK_ASSIGN_STRINGS * 4 + (TASK_ASSIGN_STRINGS - 1) *		\
	TASK_STRING_MAX + TASK_METADATA_MAX)
struct task_assign {
	uint32_t	run_id;
	uint32_t	task_uid;
	uint32_t	max_task_run_time;
	uint32_t	flags;		/* TASK_F_* */
	uint32_t	proxy_port;	/* taskclusterProxyPort */
	uint32_t	collect_secs;	/* artifactCollectionSeconds */
	uint64_t	max_processes;
	uint64_t	max_memory_bytes;
	uint64_t	max_open_files;
	uint64_t	max_file_size_bytes;
	uint64_t	log_max_bytes;	/* taskLogMaxBytes */
	int64_t		now_ms;		/* the supervisor's clock, for defaults */
};

/*
 * Past taskLogMaxBytes the task's output is discarded, but the worker's
 * own lines (the marker saying so, artifact errors, the resolution) go
 * on, up to this much more: the log stays bounded and still says how the
 * task ended.
 */
#define TASK_LOG_WORKER_RESERVE	(1u << 20)

/* The chain-of-trust document's own keys, which a task's additional data
 * may not set: the top level's, then the environment's. */
#define COT_TOP_KEYS	"chainOfTrustVersion", "artifacts", "task", "taskId", \
	"runId", "workerGroup", "workerId", "environment", NULL
#define COT_ENV_KEYS	"publicIpAddress", "privateIpAddress", "instanceId", \
	"instanceType", "region", NULL
/* COT_EXTRA's memfd: the merged parts, at most this much as they will
 * stand in the document (COT_EXTRA_INDENT more on each line) -- half of
 * what the keyholder signs (KH_DOCUMENT_MAX), the rest left for the
 * artifacts' hashes.  A task whose data is more is failed, not the
 * taskrunner. */
#define COT_EXTRA_MAX		(8u << 20)
#define COT_EXTRA_INDENT	2u	/* the most cot.c adds to a line */

#define TASK_F_ENABLE_COT	0x1u
#define TASK_F_ENABLE_PROXY	0x2u
#define TASK_F_NET_ISOLATED	0x4u
#define TASK_F_CLEAN_UP		0x8u
#define TASK_F_DEBUG_NS		0x10u	/* allowTaskPtraceAndNamespaces */

/* TASK_VALID's payload. */
struct task_summary {
	uint32_t	max_run_time;
	uint32_t	ncommands;
	uint32_t	nartifacts;
	uint32_t	features;	/* TASK_FEAT_* */
	int64_t		deadline_ms;
	int64_t		expires_ms;
};

/* ARTIFACT_ERROR's flags.  An optional artifact's error is recorded (as
 * generic-worker uploads an error artifact for it) but fails nothing. */
#define ARTIFACT_ERROR_OPTIONAL	0x1u

#define TASK_FEAT_COT		0x1u
#define TASK_FEAT_PROXY		0x2u
#define TASK_FEAT_LIVE_LOG	0x4u	/* features.liveLog */
#define TASK_FEAT_BACKING_LOG	0x8u	/* features.backingLog */

/* payload.logs.live and .backing, at most this long. */
#define TASK_LOG_NAME_MAX	1024u

/* ARTIFACT's fixed part; then name, content type, content encoding. */
struct task_artifact_meta {
	int64_t		expires_ms;
};

enum task_state {
	TASK_COMPLETED = 1,
	TASK_FAILED = 2,
	TASK_EXCEPTION = 3,
};

enum {
	TR_USERNS_MAP_REQ = CHAN_FIRST_OWN_TYPE,
	TR_TASKDIR_REQ,
	TR_PRIVOP_OK,
	TR_PRIVOP_FAIL,
	TR_TASKDIR,
	TR_TASK_LOG,
	TR_TASK_ASSIGN,
	TR_TASK_VALID,
	TR_TASK_START,
	TR_COMMAND_DONE,
	TR_ARTIFACT,
	TR_ARTIFACT_ERROR,
	TR_TASK_ABORT,
	TR_TASK_RESULT,
	TR_CGROUP_REQ,
	TR_CGROUP_DONE,
	TR_TASK_SCOPES,
	TR_PROXY_LISTENER,
	TR_COT_EXTRA,
};

static const struct ipc_msgspec taskrunner_msgs[] = {
	CHAN_COMMON_MSGS,
	{ TR_USERNS_MAP_REQ, "USERNS_MAP_REQ", IPC_TO_SUPERVISOR, 4, 4, true },
	{ TR_TASKDIR_REQ, "TASKDIR_REQ", IPC_TO_SUPERVISOR, 0, 0, false },
	{ TR_PRIVOP_OK, "PRIVOP_OK", IPC_TO_CHILD, 0, 0, false },
	{ TR_PRIVOP_FAIL, "PRIVOP_FAIL", IPC_TO_CHILD, 4,
	    4 + PRIVOP_REASON_MAX, false },
	{ TR_TASKDIR, "TASKDIR", IPC_TO_CHILD, 0, 0, true },
	{ TR_TASK_LOG, "TASK_LOG", IPC_TO_CHILD, 0, 0, true },
	{ TR_TASK_ASSIGN, "TASK_ASSIGN", IPC_TO_CHILD,
	    sizeof(struct task_assign) + TASK_ASSIGN_STRINGS * 4,
	    TASK_ASSIGN_MAX, true },
	{ TR_TASK_VALID, "TASK_VALID", IPC_TO_SUPERVISOR,
	    sizeof(struct task_summary) + 2 * 4,
	    sizeof(struct task_summary) + 2 * (4 + TASK_LOG_NAME_MAX), true },
	{ TR_TASK_START, "TASK_START", IPC_TO_CHILD, 0, 0, false },
	{ TR_COMMAND_DONE, "COMMAND_DONE", IPC_TO_SUPERVISOR, 16, 16, false },
	{ TR_ARTIFACT, "ARTIFACT", IPC_TO_SUPERVISOR,
	    sizeof(struct task_artifact_meta) + 3 * 4,
	    sizeof(struct task_artifact_meta) + 3 * (4 + TASK_STRING_MAX),
	    true },
	{ TR_ARTIFACT_ERROR, "ARTIFACT_ERROR", IPC_TO_SUPERVISOR, 4 + 3 * 4,
	    4 + 3 * (4 + TASK_STRING_MAX), false },
	{ TR_TASK_ABORT, "TASK_ABORT", IPC_TO_CHILD, 0, 4 + TASK_STRING_MAX,
	    false },
	{ TR_TASK_RESULT, "TASK_RESULT", IPC_TO_SUPERVISOR, 8,
	    8 + TASK_STRING_MAX, false },
	{ TR_CGROUP_REQ, "CGROUP_REQ", IPC_TO_SUPERVISOR, 0, 0, true },
	{ TR_CGROUP_DONE, "CGROUP_DONE", IPC_TO_CHILD, 4, 4 + 256, false },
	{ TR_TASK_SCOPES, "TASK_SCOPES", IPC_TO_SUPERVISOR, 0, 0, true },
	{ TR_PROXY_LISTENER, "PROXY_LISTENER", IPC_TO_SUPERVISOR, 0, 0,
	    true },
	{ TR_COT_EXTRA, "COT_EXTRA", IPC_TO_SUPERVISOR, 12, 12, true },
};

static const struct ipc_channel taskrunner_channel __attribute__((unused)) = {
	"taskrunner", TASKRUNNER_MAX_MSG, taskrunner_msgs,
	sizeof(taskrunner_msgs) / sizeof(taskrunner_msgs[0]),
};

#endif
