#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/jsonscan.h"
#include "common/log.h"
#include "common/memfd.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "supervisor/outdir.h"
#include "supervisor/taskrun.h"

/* The re-encoded definition is never larger than what was sent. */
#define DEFINITION_MAX	(8u << 20)

const char *
task_state_name(enum task_state s)
{
	switch (s) {
	case TASK_COMPLETED:
		return "completed";
	case TASK_FAILED:
		return "failed";
	case TASK_EXCEPTION:
		break;
	}
	return "exception";
}

/*
 * The taskrunner re-encoded the definition after validating it.  We do
 * not parse it (it is the task's), but check with a strict validating
 * scan that it is exactly one JSON object: whatever splices it into a
 * document later cannot be made to splice in anything beside it.
 */
int
taskrun_on_valid(struct task_run *r, struct ipc_msg *m)
{
	const struct jsonscan_opts opts = { .max_depth = 128,
	    .require_object = true, .reject_duplicate_keys = true };
	char err[160], *buf;
	size_t size;
	int rc;

	if (r->valid || m->payload_len != sizeof(r->sum))
		return -1;
	memcpy(&r->sum, m->payload, sizeof(r->sum));
	if (memfd_check_sealed(m->fd, DEFINITION_MAX, &size, err,
	    sizeof(err)) == -1) {
		log_errorx("task definition from the taskrunner: %s", err);
		return -1;
	}
	buf = xmalloc(size ? size : 1);
	rc = memfd_read(m->fd, buf, size) == -1 ? -1 :
	    jsonscan_validate(buf, size, &opts, err, sizeof(err));
	free(buf);
	if (rc == -1) {
		log_errorx("the taskrunner's task definition is not one JSON "
		    "object: %s", err);
		return -1;
	}
	r->def_fd = m->fd;
	m->fd = -1;
	r->valid = true;
	return 0;
}

/* The task's scopes for its proxy: kept unread, passed on as they are
 * (the supervisor parses nothing a task wrote). */
int
taskrun_on_scopes(struct task_run *r, struct ipc_msg *m)
{
	if (r->valid || r->scopes_fd >= 0)
		return -1;
	r->scopes_fd = m->fd;
	m->fd = -1;
	return 0;
}

int
taskrun_on_proxy_listener(struct task_run *r, struct ipc_msg *m)
{
	if (!r->started || !(r->sum.features & TASK_FEAT_PROXY) ||
	    r->proxy_listener_fd >= 0 || r->proxy_started)
		return -1;
	r->proxy_listener_fd = m->fd;
	m->fd = -1;
	return 0;
}

int
taskrun_on_command_done(struct task_run *r, struct ipc_msg *m)
{
	struct ipc_reader rd;
	uint32_t index;
	int32_t code;
	uint64_t ms;

	ipc_reader_init(&rd, m);
	index = ipc_get_u32(&rd);
	code = (int32_t)ipc_get_u32(&rd);
	ms = ipc_get_u64(&rd);
	/* Commands finish in order, each once. */
	if (!ipc_get_end(&rd) || !r->started || index != r->nexit ||
	    index >= r->sum.ncommands)
		return -1;
	r->exit_codes = realloc(r->exit_codes, (r->nexit + 1) *
	    sizeof(int32_t));
	if (r->exit_codes == NULL)
		fatalx("out of memory");
	r->exit_codes[r->nexit++] = code;
	log_info("task %s: command %u exited with %d after %llu.%03llus",
	    r->task_id, index, code, (unsigned long long)ms / 1000,
	    (unsigned long long)ms % 1000);
	return 0;
}

void
taskrun_add_artifact(struct task_run *r, const char *name, const char *type,
    const char *encoding, int64_t expires_ms, uint64_t bytes,
    const char *sha256_hex)
{
	struct artifact_rec *a;

	r->arts = realloc(r->arts, (r->narts + 1) * sizeof(*r->arts));
	if (r->arts == NULL)
		fatalx("out of memory");
	a = &r->arts[r->narts++];
	*a = (struct artifact_rec){ .name = xstrdup(name),
	    .content_type = xstrdup(type), .content_encoding = xstrdup(encoding),
	    .expires_ms = expires_ms, .bytes = bytes };
	snprintf(a->sha256, sizeof(a->sha256), "%s", sha256_hex);
}

void
taskrun_add_error(struct task_run *r, const char *name, const char *reason,
    const char *message)
{
	struct artifact_err *e;

	r->errs = realloc(r->errs, (r->nerrs + 1) * sizeof(*r->errs));
	if (r->errs == NULL)
		fatalx("out of memory");
	e = &r->errs[r->nerrs++];
	e->name = xstrdup(name);
	e->reason = xstrdup(reason);
	e->message = xstrdup(message);
	log_warnx("task %s: artifact %s: %s (%s)", r->task_id, name, message,
	    reason);
}

static bool
name_taken(const struct task_run *r, const char *name)
{
	for (size_t i = 0; i < r->narts; i++)
		if (strcmp(r->arts[i].name, name) == 0)
			return true;
	return false;
}

int
taskrun_on_artifact(struct task_run *r, struct ipc_msg *m)
{
	struct task_artifact_meta meta;
	struct copy_result res;
	struct ipc_reader rd;
	const uint8_t *fixed;
	char *name, *type, *enc, err[512];
	const char *why;
	int out;

	ipc_reader_init(&rd, m);
	fixed = ipc_get_bytes(&rd, sizeof(meta));
	if (fixed == NULL)
		return -1;
	memcpy(&meta, fixed, sizeof(meta));
	name = ipc_get_strdup(&rd, TASK_STRING_MAX);
	type = ipc_get_strdup(&rd, TASK_STRING_MAX);
	enc = ipc_get_strdup(&rd, TASK_STRING_MAX);
	if (!ipc_get_end(&rd) || !r->started) {
		free(name);
		free(type);
		free(enc);
		return -1;
	}
	/* The name is the task's choice: checked again here, where it
	 * becomes a path written by root. */
	why = artifact_name_problem(name, strlen(name));
	if (why == NULL && artifact_name_reserved(name))
		why = "the name is, lies below, or contains a name reserved "
		    "for what the worker itself writes";
	if (why == NULL && name_taken(r, name))
		why = "an artifact of that name was already written";
	if (why != NULL) {
		taskrun_add_error(r, name, "invalid-resource-on-worker", why);
		goto out;
	}
	if ((out = outdir_create(r->outdir_fd, name, err, sizeof(err))) ==
	    -1) {
		taskrun_add_error(r, name, "invalid-resource-on-worker", err);
		goto out;
	}
	if (copy_and_hash(m->fd, out, &res, err, sizeof(err)) == -1) {
		close(out);
		taskrun_add_error(r, name, "file-not-readable-on-worker", err);
		goto out;
	}
	close(out);
	taskrun_add_artifact(r, name, type, enc, meta.expires_ms, res.bytes,
	    res.sha256_hex);
	log_info("task %s: artifact %s written: %llu bytes, sha256 %s",
	    r->task_id, name, (unsigned long long)res.bytes, res.sha256_hex);
out:
	free(name);
	free(type);
	free(enc);
	return 0;
}

int
taskrun_on_artifact_error(struct task_run *r, struct ipc_msg *m)
{
	struct ipc_reader rd;
	char *name, *reason, *message;
	int rc = -1;

	ipc_reader_init(&rd, m);
	name = ipc_get_strdup(&rd, TASK_STRING_MAX);
	reason = ipc_get_strdup(&rd, TASK_STRING_MAX);
	message = ipc_get_strdup(&rd, TASK_STRING_MAX);
	if (ipc_get_end(&rd) && r->started) {
		taskrun_add_error(r, name, reason, message);
		rc = 0;
	}
	free(name);
	free(reason);
	free(message);
	return rc;
}

static bool
reason_known(const char *reason)
{
	static const char *const known[] = {
		"completed", "failed", "malformed-payload", "intermittent-task",
		"internal-error", "worker-shutdown", "resource-unavailable",
	};

	for (size_t i = 0; i < nitems(known); i++)
		if (strcmp(reason, known[i]) == 0)
			return true;
	return false;
}

int
taskrun_on_result(struct task_run *r, struct ipc_msg *m)
{
	struct ipc_reader rd;
	uint32_t state;
	char *reason;

	ipc_reader_init(&rd, m);
	state = ipc_get_u32(&rd);
	reason = ipc_get_strdup(&rd, TASK_STRING_MAX);
	/* A state and reason that go together, from a list we know; once,
	 * unless the worker resolved the task first (then the taskrunner's
	 * word comes late and changes nothing). */
	if (!ipc_get_end(&rd) || (r->resolved && !r->resolved_by_worker) ||
	    r->result_seen || reason == NULL ||
	    !reason_known(reason) || (state == TASK_COMPLETED) !=
	    (strcmp(reason, "completed") == 0) || (state == TASK_FAILED) !=
	    (strcmp(reason, "failed") == 0) || state < TASK_COMPLETED ||
	    state > TASK_EXCEPTION) {
		free(reason);
		return -1;
	}
	r->result_seen = true;
	if (r->resolved) {
		free(reason);
		return 0;
	}
	r->state = (enum task_state)state;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	free(reason);
	/* A missing artifact fails a task that otherwise completed. */
	if (r->state == TASK_COMPLETED && r->nerrs > 0) {
		r->state = TASK_FAILED;
		snprintf(r->reason, sizeof(r->reason), "failed");
	}
	r->resolved = true;
	r->resolved_ms = time_now_ms();
	return 0;
}

void
taskrun_override(struct task_run *r, const char *reason)
{
	r->state = TASK_EXCEPTION;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

void
taskrun_fail(struct task_run *r, const char *reason)
{
	if (r->resolved)
		return;
	r->state = TASK_EXCEPTION;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	r->resolved = true;
	r->resolved_by_worker = true;
	r->resolved_ms = time_now_ms();
}

static void
add_time(struct json_object *o, const char *key, int64_t ms)
{
	char buf[TIMEFMT_LEN];

	time_format_ms(ms, buf);
	json_object_object_add(o, key, json_object_new_string(buf));
}

char *
taskrun_result_json(const struct task_run *r)
{
	struct json_object *o = json_object_new_object();
	struct json_object *codes = json_object_new_array();
	struct json_object *arts = json_object_new_array();
	struct json_object *errs = json_object_new_array();
	char *out;

	json_object_object_add(o, "taskId",
	    json_object_new_string(r->task_id));
	json_object_object_add(o, "runId", json_object_new_int64(r->run_id));
	json_object_object_add(o, "state",
	    json_object_new_string(task_state_name(r->state)));
	json_object_object_add(o, "reasonResolved",
	    json_object_new_string(r->reason));
	for (size_t i = 0; i < r->nexit; i++)
		json_object_array_add(codes,
		    json_object_new_int(r->exit_codes[i]));
	json_object_object_add(o, "exitCodes", codes);
	add_time(o, "started", r->started ? r->started_ms : r->resolved_ms);
	add_time(o, "resolved", r->resolved_ms);
	for (size_t i = 0; i < r->narts; i++) {
		struct json_object *a = json_object_new_object();

		json_object_object_add(a, "name",
		    json_object_new_string(r->arts[i].name));
		json_object_object_add(a, "contentType",
		    json_object_new_string(r->arts[i].content_type));
		json_object_object_add(a, "contentEncoding",
		    json_object_new_string(r->arts[i].content_encoding));
		add_time(a, "expires", r->arts[i].expires_ms);
		json_object_object_add(a, "size",
		    json_object_new_int64((int64_t)r->arts[i].bytes));
		json_object_object_add(a, "sha256",
		    json_object_new_string(r->arts[i].sha256));
		json_object_array_add(arts, a);
	}
	json_object_object_add(o, "artifacts", arts);
	for (size_t i = 0; i < r->nerrs; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "name",
		    json_object_new_string(r->errs[i].name));
		json_object_object_add(e, "reason",
		    json_object_new_string(r->errs[i].reason));
		json_object_object_add(e, "message",
		    json_object_new_string(r->errs[i].message));
		json_object_array_add(errs, e);
	}
	json_object_object_add(o, "artifactErrors", errs);
	out = xasprintf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

void
taskrun_free(struct task_run *r)
{
	for (size_t i = 0; i < r->narts; i++) {
		free(r->arts[i].name);
		free(r->arts[i].content_type);
		free(r->arts[i].content_encoding);
	}
	for (size_t i = 0; i < r->nerrs; i++) {
		free(r->errs[i].name);
		free(r->errs[i].reason);
		free(r->errs[i].message);
	}
	free(r->arts);
	free(r->errs);
	free(r->exit_codes);
	if (r->def_fd >= 0)
		close(r->def_fd);
	if (r->log_fd >= 0)
		close(r->log_fd);
	if (r->scopes_fd >= 0)
		close(r->scopes_fd);
	if (r->proxy_listener_fd >= 0)
		close(r->proxy_listener_fd);
	r->def_fd = r->log_fd = r->scopes_fd = r->proxy_listener_fd = -1;
}
