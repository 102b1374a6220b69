/*
 * Worker mode: what the supervisor asks of a task's agent (its task
 * proxy, once the task's processes are gone) and what came of it.  The
 * supervisor speaks no HTTP: it queues typed requests and file
 * descriptors; the agent makes the Queue calls with the task's
 * credentials and answers each request.  Up to TP_MAX_UPLOADS uploads
 * run at once; while many more wait, the taskrunner's next artifacts
 * wait in its socket.
 */
#ifndef SEPWORKER_AGENTQ_H
#define SEPWORKER_AGENTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "supervisor/supervisor.h"
#include "supervisor/taskrun.h"

struct aq_op;

struct agentq {
	struct supervisor	*s;
	struct task_run		*r;
	struct aq_op		*head, *tail;	/* not yet sent */
	struct aq_op		*sent;		/* awaiting their answers */
	size_t			 queued;
	unsigned		 uploading;	/* UPLOADs in flight */
	unsigned		 inflight;	/* requests in flight */
	bool			 held;		/* the taskrunner was, once */
	bool			 agent_sent;	/* AGENT sent */
	bool			 agent_ok;	/* and answered */
	uint32_t		 agent_id;
	/* What went wrong, first of each kind. */
	bool			 conflict;	/* createArtifact 409 */
	bool			 failed;	/* any other failure */
	char			 first_failure[640];
	bool			 after_loss;	/* agentq_drop_queued() ran */
	bool			 resolve_answered;
	bool			 resolve_failed;
};

void	agentq_init(struct agentq *q, struct supervisor *s, struct task_run *r);
/* Upload the file fd (taken: closed once answered) as name.  art is the
 * index in r->arts of the artifact's record, whose bytes and sha256 the
 * answer fills in; want_sha256 (or NULL) is what the bytes must hash to
 * (a file the worker wrote). */
void	agentq_upload(struct agentq *q, int fd, const char *name,
	    const char *type, const char *encoding, int64_t expires_ms,
	    uint32_t storage, ssize_t art, const char *want_sha256);
void	agentq_error(struct agentq *q, const char *name, const char *reason,
	    const char *message, int64_t expires_ms);
void	agentq_link(struct agentq *q, const char *name, const char *target,
	    const char *type, int64_t expires_ms);
void	agentq_resolve(struct agentq *q, uint32_t state, const char *reason);
/* Serve events until every request is answered; false if the agent is
 * gone (or timeout_ms passed) with requests unanswered, or the run's
 * claim was lost meanwhile (until agentq_drop_queued). */
bool	agentq_drain(struct agentq *q, unsigned timeout_ms);
/* The claim is lost: what was not sent yet is dropped (its fds closed),
 * what was sent is still answered, and drains wait again. */
void	agentq_drop_queued(struct agentq *q);
/* Everything unanswered is dropped, its fds closed. */
void	agentq_free(struct agentq *q);
/* The supervisor's hook for the agent's answers. */
int	agentq_on_answer(void *arg, struct ipc_msg *m);

#endif
