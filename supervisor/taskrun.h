/*
 * One task as the supervisor sees it: typed messages from the taskrunner
 * (it never parses the task's JSON), the artifacts it was handed as fds,
 * and how the task ended.  Artifacts are written into an output
 * directory (`sepworker run-task`); each is hashed in the same pass as it
 * is copied.
 */
#ifndef SEPWORKER_TASKRUN_H
#define SEPWORKER_TASKRUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/chan_taskrunner.h"
#include "common/ipc.h"
#include "supervisor/outdir.h"

struct artifact_rec {
	char		*name;
	char		*content_type;
	char		*content_encoding;
	int64_t		 expires_ms;
	uint64_t	 bytes;
	char		 sha256[65];
	dev_t		 dev;		/* of the file the task handed up */
	ino_t		 ino;
};

/* The sepworker keys that bound what a task can make the worker write. */
struct task_limits {
	uint64_t	 max_bytes;	/* artifactMaxTotalBytes */
	uint64_t	 max_count;	/* artifactMaxCount */
	uint64_t	 log_max;	/* taskLogMaxBytes */
	uint32_t	 collect_secs;	/* artifactCollectionSeconds */
};

/* An open-addressed set of indexes into task_run.arts, keyed by a hash
 * that a task cannot aim (SipHash with a key of the run's own). */
struct art_index {
	uint32_t	*slot;		/* index + 1; 0 is empty */
	size_t		 cap;		/* a power of two */
	size_t		 n;
};

struct artifact_err {
	char		*name;
	char		*reason;
	char		*message;
	bool		 optional;	/* recorded; fails nothing */
};

struct task_run {
	char			 task_id[64];
	uint32_t		 run_id;
	uint32_t		 uid;
	int			 outdir_fd;	/* where artifacts are written */
	int			 log_fd;	/* the backing log, ours */
	int			 def_fd;	/* re-encoded definition */
	int			 scopes_fd;	/* for the task's proxy */
	int			 proxy_listener_fd; /* isolated: the init's */
	bool			 proxy_started;	/* tried, at least */
	bool			 proxy_died;	/* while the task ran */
	bool			 proxy_reported;
	char			 proxy_end[256];
	/* Worker mode: the claim, as the task proxy keeps it (its reclaims),
	 * and whether it was lost (a reclaim refused or not answered). */
	int64_t			 taken_until_ms;
	bool			 claim_lost;
	bool			 claim_lost_acted;	/* the task aborted for it */
	char			 claim_lost_why[512];
	/* COT_EXTRA: the merged definition, the environment's and the top
	 * level's extra members, back to back; NULL if none came. */
	char			*cot_extra;
	uint32_t		 cot_extra_len[3];
	struct task_summary	 sum;
	/* The task's names for its logs (payload.logs), once valid. */
	char			 live_log[TASK_LOG_NAME_MAX + 1];
	char			 backing_log[TASK_LOG_NAME_MAX + 1];
	bool			 valid;
	bool			 started;
	bool			 abort_sent;
	bool			 resolved;
	bool			 resolved_by_worker;	/* taskrun_fail() */
	bool			 result_seen;	/* the taskrunner's TASK_RESULT */
	enum task_state		 state;
	char			 reason[64];
	int64_t			 started_ms;
	int64_t			 resolved_ms;
	int32_t			*exit_codes;
	size_t			 nexit;
	struct artifact_rec	*arts;
	size_t			 narts, arts_cap;
	struct artifact_err	*errs;
	size_t			 nerrs, errs_cap;

	struct task_limits	 lim;
	uint64_t		 art_bytes;	/* written for the task */
	uint64_t		 collect_deadline; /* now_ms(); 0: not begun */
	struct outdir_parent	 parent;	/* outdir_create_in's */
	struct art_index	 by_name;
	struct art_index	 by_inode;
	unsigned char		 hash_key[16];
	size_t			 over_count;	/* records past max_count */
	char			*over_first;	/* the first one's name */
	/* result.json, made at the start with room kept for all of it,
	 * so a full disk cannot take it (runtask); -1 in worker mode. */
	int			 result_fd;
	uint64_t		 result_need;	/* bytes it may take */
	uint64_t		 result_room;	/* bytes kept for it */
	/* Worker mode: artifacts go to the task's agent instead of
	 * outdir_fd.  upload gets the index of the artifact's record (its
	 * sha256 empty until the agent says what it sent) and the file,
	 * which it must dup to keep. */
	void			(*upload)(void *arg, struct task_run *r,
				    size_t art, int fd);
	void			*upload_arg;
};

/* Handlers for the taskrunner's task messages; -1 is a violation. */
int	taskrun_on_valid(struct task_run *r, struct ipc_msg *m);
int	taskrun_on_scopes(struct task_run *r, struct ipc_msg *m);
int	taskrun_on_proxy_listener(struct task_run *r, struct ipc_msg *m);
int	taskrun_on_command_done(struct task_run *r, struct ipc_msg *m);
int	taskrun_on_artifact(struct task_run *r, struct ipc_msg *m);
int	taskrun_on_artifact_error(struct task_run *r, struct ipc_msg *m);
int	taskrun_on_result(struct task_run *r, struct ipc_msg *m);
int	taskrun_on_cot_extra(struct task_run *r, struct ipc_msg *m);

/* Record an artifact the supervisor wrote itself (certified.log, the
 * chain-of-trust files). */
void	taskrun_add_artifact(struct task_run *r, const char *name,
	    const char *type, const char *encoding, int64_t expires_ms,
	    uint64_t bytes, const char *sha256_hex);
/* Record an error the supervisor itself found (e.g. a name it refused). */
void	taskrun_add_error(struct task_run *r, const char *name,
	    const char *reason, const char *message);
/* Once the taskrunner is done: what artifactMaxCount left out becomes
 * one error. */
void	taskrun_close_collection(struct task_run *r);
/* Keep room in result_fd for a record of about len bytes more; -1 if
 * the disk has no more room. */
int	taskrun_reserve(struct task_run *r, size_t len);
/* A line of the worker's own in the task log. */
void	taskrun_log(struct task_run *r, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Worker mode: the task proxy reclaimed the task (its new takenUntil and
 * clientId), or the claim is lost (the run's state as the Queue gives
 * it, "" if unknown, and why).  Logged in the worker's log and the
 * task's. */
void	taskrun_reclaimed(struct task_run *r, int64_t taken_until_ms,
	    const char *client_id, size_t len);
void	taskrun_claim_lost(struct task_run *r, const char *state,
	    size_t state_len, const char *why, size_t why_len);
/* Resolve as exception/reason unless already resolved. */
void	taskrun_fail(struct task_run *r, const char *reason);
/* After the fact: what the worker could not do (sign) overrides. */
void	taskrun_override(struct task_run *r, const char *reason);

const char *task_state_name(enum task_state s);
/* result.json: taskId, runId, state, reasonResolved, exitCodes, started,
 * resolved, artifacts, artifactErrors.  NUL-terminated, malloc'd. */
char	*taskrun_result_json(const struct task_run *r);
void	taskrun_free(struct task_run *r);

#endif
