#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chan_taskproxy.h"
#include "common/chan_taskrunner.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/agentq.h"

/* Past this many requests waiting to be sent, the taskrunner waits. */
#define AQ_HOLD_AT	64u

enum aq_kind { AQ_UPLOAD, AQ_ERROR, AQ_LINK, AQ_RESOLVE };

struct aq_op {
	enum aq_kind	 kind;
	uint32_t	 id;
	int		 fd;
	int64_t		 expires_ms;
	uint32_t	 storage;	/* UPLOAD */
	uint32_t	 state;		/* RESOLVE */
	char		*str[3];
	ssize_t		 art;		/* UPLOAD: record to fill, or -1 */
	char		*want_sha256;	/* UPLOAD: NULL, or what it must be */
	struct aq_op	*next;
};

static const char *const kind_names[] = {
	[AQ_UPLOAD] = "upload", [AQ_ERROR] = "error artifact",
	[AQ_LINK] = "link artifact", [AQ_RESOLVE] = "resolution",
};

void
agentq_init(struct agentq *q, struct supervisor *s, struct task_run *r)
{
	memset(q, 0, sizeof(*q));
	q->s = s;
	q->r = r;
	s->on_agent_answer = agentq_on_answer;
	s->agent_arg = q;
}

static void
op_free(struct aq_op *op)
{
	if (op->fd >= 0)
		close(op->fd);
	for (int i = 0; i < 3; i++)
		free(op->str[i]);
	free(op->want_sha256);
	free(op);
}

static struct aq_op *
op_new(enum aq_kind kind, const char *a, const char *b, const char *c)
{
	struct aq_op *op = xcalloc(1, sizeof(*op));

	op->kind = kind;
	op->fd = -1;
	op->art = -1;
	op->str[0] = xstrdup(a);
	op->str[1] = xstrdup(b != NULL ? b : "");
	op->str[2] = xstrdup(c != NULL ? c : "");
	return op;
}

static void
put(struct ipc_writer *w, const char *s)
{
	size_t len = strlen(s);

	ipc_put_str(w, s, len > TP_STRING_MAX ? TP_STRING_MAX : len);
}

/* Send op; false if the agent cannot be reached. */
static bool
send_op(struct agentq *q, struct aq_op *op)
{
	static uint8_t buf[TASKPROXY_MAX_MSG];
	struct child *k = &q->s->kids[ROLE_TASKPROXY];
	struct ipc_writer w;
	struct tp_upload up;
	uint32_t type = TP_RESOLVE;

	ipc_writer_init(&w, buf, sizeof(buf) - IPC_HDR_SIZE);
	switch (op->kind) {
	case AQ_UPLOAD:
		up = (struct tp_upload){ op->expires_ms, op->storage, 0 };
		ipc_put_bytes(&w, &up, sizeof(up));
		type = TP_UPLOAD;
		break;
	case AQ_ERROR:
	case AQ_LINK:
		ipc_put_u64(&w, (uint64_t)op->expires_ms);
		type = op->kind == AQ_ERROR ? TP_ERROR_ARTIFACT : TP_LINK;
		break;
	case AQ_RESOLVE:
		ipc_put_u32(&w, op->state);
		put(&w, op->str[0]);
		type = TP_RESOLVE;
		goto send;
	}
	for (int i = 0; i < 3; i++)
		put(&w, op->str[i]);
send:
	op->id = k->conn.next_id++;
	if (w.overflow || k->state != CHILD_READY || ipc_send(&k->conn, type,
	    op->id, w.buf, w.len, op->fd) == -1)
		return false;
	if (op->fd >= 0) {
		close(op->fd);
		op->fd = -1;
	}
	return true;
}

static void
note_failure(struct agentq *q, const struct aq_op *op, uint32_t class,
    const char *msg)
{
	if (class == TPF_CONFLICT)
		q->conflict = true;
	else
		q->failed = true;
	if (q->first_failure[0] == '\0')
		snprintf(q->first_failure, sizeof(q->first_failure),
		    "%s of %s: %s", kind_names[op->kind], op->str[0], msg);
	log_warnx("task %s: %s of %s failed: %s", q->r->task_id,
	    kind_names[op->kind], op->str[0], msg);
}

/* Send what may go: nothing before AGENT is answered, at most
 * TP_MAX_UPLOADS uploads at once, the resolution only last. */
static void
pump(struct agentq *q)
{
	struct child *k = &q->s->kids[ROLE_TASKPROXY];

	if (k->state != CHILD_READY)
		return;
	if (!q->agent_sent) {
		q->agent_id = k->conn.next_id++;
		if (ipc_send(&k->conn, TP_AGENT, q->agent_id, NULL, 0, -1) ==
		    -1)
			return;
		q->agent_sent = true;
	}
	while (q->agent_ok && q->head != NULL) {
		struct aq_op *op = q->head;

		if ((op->kind == AQ_UPLOAD && q->uploading ==
		    TP_MAX_UPLOADS) || q->inflight == TP_MAX_REQUESTS)
			break;
		if (op->kind == AQ_RESOLVE && q->sent != NULL)
			break;
		if (!send_op(q, op)) {
			note_failure(q, op, TPF_LOCAL, "the agent cannot be "
			    "reached");
			return;
		}
		q->head = op->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->queued--;
		if (op->kind == AQ_UPLOAD)
			q->uploading++;
		q->inflight++;
		op->next = q->sent;
		q->sent = op;
	}
	if (q->queued >= AQ_HOLD_AT && !q->s->hold_taskrunner && !q->held) {
		q->held = true;
		log_info("task %s: %u uploads queued for its agent: the "
		    "taskrunner waits until they go out", q->r->task_id,
		    AQ_HOLD_AT);
	}
	q->s->hold_taskrunner = q->queued >= AQ_HOLD_AT;
}

static void
enqueue(struct agentq *q, struct aq_op *op)
{
	if (q->tail != NULL)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	q->queued++;
	pump(q);
}

void
agentq_upload(struct agentq *q, int fd, const char *name, const char *type,
    const char *encoding, int64_t expires_ms, uint32_t storage, ssize_t art,
    const char *want_sha256)
{
	struct aq_op *op = op_new(AQ_UPLOAD, name, type, encoding);

	op->fd = fd;
	op->expires_ms = expires_ms;
	op->storage = storage;
	op->art = art;
	op->want_sha256 = want_sha256 ? xstrdup(want_sha256) : NULL;
	enqueue(q, op);
}

void
agentq_error(struct agentq *q, const char *name, const char *reason,
    const char *message, int64_t expires_ms)
{
	struct aq_op *op = op_new(AQ_ERROR, name, reason, message);

	op->expires_ms = expires_ms;
	enqueue(q, op);
}

void
agentq_link(struct agentq *q, const char *name, const char *target,
    const char *type, int64_t expires_ms)
{
	struct aq_op *op = op_new(AQ_LINK, name, target, type);

	op->expires_ms = expires_ms;
	enqueue(q, op);
}

void
agentq_resolve(struct agentq *q, uint32_t state, const char *reason)
{
	struct aq_op *op = op_new(AQ_RESOLVE, reason, NULL, NULL);

	op->state = state;
	enqueue(q, op);
}

/* The answered request, unlinked from the sent list; NULL if none. */
static struct aq_op *
take_sent(struct agentq *q, uint32_t id)
{
	for (struct aq_op **p = &q->sent; *p != NULL; p = &(*p)->next)
		if ((*p)->id == id) {
			struct aq_op *op = *p;

			*p = op->next;
			return op;
		}
	return NULL;
}

static bool
is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return false;
	return true;
}

static int
on_uploaded(struct agentq *q, struct aq_op *op, struct ipc_msg *m)
{
	struct tp_uploaded u;
	char hex[65];

	memcpy(&u, m->payload, sizeof(u));
	if (!is_hex64(u.sha256))
		return -1;
	memcpy(hex, u.sha256, 64);
	hex[64] = '\0';
	if (op->want_sha256 != NULL && strcmp(op->want_sha256, hex) != 0) {
		note_failure(q, op, TPF_LOCAL, "the agent uploaded bytes "
		    "other than the worker wrote");
		return 0;
	}
	if (op->art >= 0 && (size_t)op->art < q->r->narts) {
		struct artifact_rec *a = &q->r->arts[op->art];

		a->bytes = u.bytes;
		memcpy(a->sha256, hex, sizeof(a->sha256));
	}
	log_info("task %s: artifact %s uploaded: %llu bytes, sha256 %s",
	    q->r->task_id, op->str[0], (unsigned long long)u.bytes, hex);
	return 0;
}

int
agentq_on_answer(void *arg, struct ipc_msg *m)
{
	struct agentq *q = arg;
	struct ipc_reader rd;
	struct aq_op *op;
	const char *msg;
	char *text;
	uint32_t class;
	size_t len;
	int rc = 0;

	if (m->hdr.type == TP_OK && q->agent_sent && !q->agent_ok &&
	    m->hdr.id == q->agent_id) {
		q->agent_ok = true;
		pump(q);
		return 0;
	}
	if ((op = take_sent(q, m->hdr.id)) == NULL)
		return -1;
	if (op->kind == AQ_UPLOAD)
		q->uploading--;
	q->inflight--;
	switch (m->hdr.type) {
	case TP_OK:
		rc = op->kind == AQ_UPLOAD ? -1 : 0;
		break;
	case TP_UPLOADED:
		rc = op->kind != AQ_UPLOAD ? -1 : on_uploaded(q, op, m);
		break;
	case TP_FAILED:
		ipc_reader_init(&rd, m);
		class = ipc_get_u32(&rd);
		msg = ipc_get_str(&rd, TP_STRING_MAX, &len);
		if (msg == NULL || !ipc_get_end(&rd) || class < TPF_CONFLICT ||
		    class > TPF_LOCAL) {
			rc = -1;
			break;
		}
		text = xasprintf("%.*s", (int)len, msg);
		note_failure(q, op, class, text);
		free(text);
		break;
	default:
		rc = -1;
	}
	if (op->kind == AQ_RESOLVE) {
		q->resolve_answered = true;
		q->resolve_failed = m->hdr.type != TP_OK;
	}
	op_free(op);
	pump(q);
	return rc;
}

bool
agentq_drain(struct agentq *q, unsigned timeout_ms)
{
	struct child *k = &q->s->kids[ROLE_TASKPROXY];
	uint64_t deadline = now_ms() + timeout_ms;

	pump(q);
	while ((q->head != NULL || q->sent != NULL || (q->agent_sent &&
	    !q->agent_ok)) && k->state == CHILD_READY && now_ms() < deadline &&
	    (!q->r->claim_lost || q->after_loss))
		supervisor_poll(q->s, 1000);
	return q->head == NULL && q->sent == NULL;
}

void
agentq_drop_queued(struct agentq *q)
{
	struct aq_op *op, *next;
	size_t n = 0;

	for (op = q->head; op != NULL; op = next) {
		next = op->next;
		op_free(op);
		n++;
	}
	q->head = q->tail = NULL;
	q->queued = 0;
	q->s->hold_taskrunner = false;
	q->after_loss = true;
	if (n > 0)
		log_warnx("task %s: %zu requests for its agent dropped: its "
		    "claim is lost", q->r->task_id, n);
}

void
agentq_free(struct agentq *q)
{
	struct aq_op *op, *next;

	for (op = q->head; op != NULL; op = next) {
		next = op->next;
		op_free(op);
	}
	for (op = q->sent; op != NULL; op = next) {
		next = op->next;
		op_free(op);
	}
	q->head = q->tail = q->sent = NULL;
	q->queued = 0;
	q->s->hold_taskrunner = false;
	q->s->on_agent_answer = NULL;
	q->s->agent_arg = NULL;
}
