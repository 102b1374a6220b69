#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	struct ipc_reader rd;
	const uint8_t *sum;
	const char *live, *backing;
	size_t live_len, backing_len;
	char err[160], *buf;
	size_t size;
	int rc;

	ipc_reader_init(&rd, m);
	if (r->valid || (sum = ipc_get_bytes(&rd, sizeof(r->sum))) == NULL ||
	    (live = ipc_get_str(&rd, TASK_LOG_NAME_MAX, &live_len)) == NULL ||
	    (backing = ipc_get_str(&rd, TASK_LOG_NAME_MAX,
	    &backing_len)) == NULL || !ipc_get_end(&rd) || live_len == 0 ||
	    backing_len == 0 || memchr(live, '\0', live_len) != NULL ||
	    memchr(backing, '\0', backing_len) != NULL)
		return -1;
	memcpy(&r->sum, sum, sizeof(r->sum));
	memcpy(r->live_log, live, live_len);
	r->live_log[live_len] = '\0';
	memcpy(r->backing_log, backing, backing_len);
	r->backing_log[backing_len] = '\0';
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

/* The task's additional chain-of-trust data, merged by the taskrunner:
 * kept as it came, checked when the document is built (tf_chain_of_trust)
 * where a bad one can fail the task rather than the taskrunner. */
int
taskrun_on_cot_extra(struct task_run *r, struct ipc_msg *m)
{
	char err[160];
	uint64_t total = 0;
	size_t size;

	if (!r->started || !(r->sum.features & TASK_FEAT_COT) ||
	    r->cot_extra != NULL || r->result_seen)
		return -1;
	memcpy(r->cot_extra_len, m->payload, sizeof(r->cot_extra_len));
	for (size_t i = 0; i < 3; i++)
		total += r->cot_extra_len[i];
	if (memfd_check_sealed(m->fd, COT_EXTRA_MAX, &size, err,
	    sizeof(err)) == -1) {
		log_errorx("chain-of-trust data from the taskrunner: %s", err);
		return -1;
	}
	if (size != total) {
		log_errorx("chain-of-trust data from the taskrunner: %zu "
		    "bytes, its lengths add up to %llu", size,
		    (unsigned long long)total);
		return -1;
	}
	r->cot_extra = xmalloc(size ? size : 1);
	if (memfd_read(m->fd, r->cot_extra, size) == -1)
		fatalx("reading the chain-of-trust data back");
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

/* Room kept in result.json for one record: every string at worst
 * escaped six times over (\u00XX), plus the keys, layout and numbers. */
#define ART_RECORD_BYTES(n)	(6 * (n) + 384)
#define ERR_RECORD_BYTES(n)	(6 * (n) + 192)
/* result.json's room grows a step at a time, not a syscall a record. */
#define RESULT_ROOM_STEP	(256u * 1024)

int
taskrun_reserve(struct task_run *r, size_t len)
{
	uint64_t room;

	r->result_need += len;
	if (r->result_fd < 0 || r->result_need <= r->result_room)
		return 0;
	room = (r->result_need / RESULT_ROOM_STEP + 1) * RESULT_ROOM_STEP;
	/* KEEP_SIZE: the blocks are the file's, past its end, until
	 * write_result writes into them. */
	if (fallocate(r->result_fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)room) ==
	    -1)
		return -1;
	r->result_room = room;
	return 0;
}

/* A line of the worker's own in the task log, as the taskrunner writes
 * them; nothing from a task name can start a line of its own.  Past
 * taskLogMaxBytes, only within the reserve the worker's lines have. */
void
taskrun_log(struct task_run *r, const char *fmt, ...)
{
	char line[2048], when[TIMEFMT_LEN];
	struct stat st;
	va_list ap;
	int n, m;

	if (r->log_fd < 0 || fstat(r->log_fd, &st) == -1 ||
	    (uint64_t)st.st_size >= r->lim.log_max + TASK_LOG_WORKER_RESERVE)
		return;
	time_format_ms(time_now_ms(), when);
	n = snprintf(line, sizeof(line), "[taskcluster %s] ", when);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	for (int i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	if (write_all(r->log_fd, line, (size_t)n) == -1)
		log_warn("task %s: writing the task log", r->task_id);
}

static uint64_t
keyed_hash(const struct task_run *r, const void *in, size_t len)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, in, len, r->hash_key);
	memcpy(&v, h, sizeof(v));
	return v;
}

static uint64_t
inode_hash(const struct task_run *r, dev_t dev, ino_t ino)
{
	uint64_t k[2] = { (uint64_t)dev, (uint64_t)ino };

	return keyed_hash(r, k, sizeof(k));
}

static uint64_t
entry_hash(const struct task_run *r, const struct art_index *x, size_t i)
{
	const struct artifact_rec *a = &r->arts[i];

	return x == &r->by_inode ? inode_hash(r, a->dev, a->ino) :
	    keyed_hash(r, a->name, strlen(a->name));
}

static void
index_place(uint32_t *slot, size_t cap, uint64_t h, size_t i)
{
	size_t j;

	for (j = h & (cap - 1); slot[j] != 0; j = (j + 1) & (cap - 1))
		continue;
	slot[j] = (uint32_t)(i + 1);
}

/* Add arts[i] to x, which stays at most half full. */
static void
index_put(struct task_run *r, struct art_index *x, size_t i)
{
	if (2 * (x->n + 1) > x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		uint32_t *slot = xcalloc(cap, sizeof(*slot));

		for (size_t j = 0; j < x->cap; j++)
			if (x->slot[j] != 0)
				index_place(slot, cap, entry_hash(r, x,
				    x->slot[j] - 1), x->slot[j] - 1);
		free(x->slot);
		x->slot = slot;
		x->cap = cap;
	}
	index_place(x->slot, x->cap, entry_hash(r, x, i), i);
	x->n++;
}

/* The artifact already written under name, or -1. */
static ssize_t
find_name(const struct task_run *r, const char *name)
{
	const struct art_index *x = &r->by_name;
	size_t j;

	if (x->cap == 0)
		return -1;
	for (j = keyed_hash(r, name, strlen(name)) & (x->cap - 1);
	    x->slot[j] != 0; j = (j + 1) & (x->cap - 1))
		if (strcmp(r->arts[x->slot[j] - 1].name, name) == 0)
			return x->slot[j] - 1;
	return -1;
}

/* The artifact already written from this file (dev, ino), or -1. */
static ssize_t
find_inode(const struct task_run *r, dev_t dev, ino_t ino)
{
	const struct art_index *x = &r->by_inode;
	size_t j;

	if (x->cap == 0)
		return -1;
	for (j = inode_hash(r, dev, ino) & (x->cap - 1); x->slot[j] != 0;
	    j = (j + 1) & (x->cap - 1)) {
		const struct artifact_rec *a = &r->arts[x->slot[j] - 1];

		if (a->dev == dev && a->ino == ino)
			return x->slot[j] - 1;
	}
	return -1;
}

/* Room for one more element of *v (n of them, cap allocated). */
static void *
grow(void *v, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? 2 * *cap : 64;
	if ((v = reallocarray(v, *cap, size)) == NULL)
		fatalx("out of memory");
	return v;
}

void
taskrun_add_artifact(struct task_run *r, const char *name, const char *type,
    const char *encoding, int64_t expires_ms, uint64_t bytes,
    const char *sha256_hex)
{
	struct artifact_rec *a;

	if (r->by_name.cap == 0)
		randombytes_buf(r->hash_key, sizeof(r->hash_key));
	r->arts = grow(r->arts, r->narts, &r->arts_cap, sizeof(*r->arts));
	a = &r->arts[r->narts++];
	*a = (struct artifact_rec){ .name = xstrdup(name),
	    .content_type = xstrdup(type), .content_encoding = xstrdup(encoding),
	    .expires_ms = expires_ms, .bytes = bytes };
	snprintf(a->sha256, sizeof(a->sha256), "%s", sha256_hex);
	index_put(r, &r->by_name, r->narts - 1);
}

static void
record_error(struct task_run *r, const char *name, const char *reason,
    const char *message, bool to_task_log)
{
	struct artifact_err *e;

	(void)taskrun_reserve(r, ERR_RECORD_BYTES(strlen(name) +
	    strlen(reason) + strlen(message)));
	r->errs = grow(r->errs, r->nerrs, &r->errs_cap, sizeof(*r->errs));
	e = &r->errs[r->nerrs++];
	e->name = xstrdup(name);
	e->reason = xstrdup(reason);
	e->message = xstrdup(message);
	log_warnx("task %s: artifact %s: %s (%s)", r->task_id, name, message,
	    reason);
	if (to_task_log)
		taskrun_log(r, "Artifact %s: %s (%s)", name, message, reason);
}

void
taskrun_add_error(struct task_run *r, const char *name, const char *reason,
    const char *message)
{
	record_error(r, name, reason, message, true);
}

/*
 * artifactMaxCount bounds the records (artifacts and errors) a task can
 * make the supervisor keep: past it, each is only counted, named in the
 * task log while the log has room, and one error says how many.
 */
static bool
over_count(struct task_run *r, const char *name)
{
	if (r->narts + r->nerrs < r->lim.max_count)
		return false;
	if (r->over_count++ == 0)
		r->over_first = xstrdup(name);
	taskrun_log(r, "Artifact %s: not collected: the task has more than "
	    "%llu artifacts and artifact errors (sepworker.artifactMaxCount)",
	    name, (unsigned long long)r->lim.max_count);
	return true;
}

void
taskrun_close_collection(struct task_run *r)
{
	char msg[512];

	if (r->over_count == 0)
		return;
	snprintf(msg, sizeof(msg), "this artifact and %zu more were not "
	    "collected: a task may have at most %llu artifacts and artifact "
	    "errors (sepworker.artifactMaxCount)", r->over_count - 1,
	    (unsigned long long)r->lim.max_count);
	record_error(r, r->over_first, "invalid-resource-on-worker", msg,
	    true);
	free(r->over_first);
	r->over_first = NULL;
	r->over_count = 0;
}

/* The collection's time (artifactCollectionSeconds) runs from the first
 * artifact the taskrunner hands up; false once it has run out. */
static bool
in_time(struct task_run *r)
{
	if (r->collect_deadline == 0)
		r->collect_deadline = now_ms() +
		    (uint64_t)r->lim.collect_secs * 1000;
	return now_ms() < r->collect_deadline;
}

static void
late(struct task_run *r, const char *name, const char *what)
{
	char msg[640];

	snprintf(msg, sizeof(msg), "%.500s: collecting artifacts took longer than "
	    "%u s (sepworker.artifactCollectionSeconds)", what,
	    r->lim.collect_secs);
	taskrun_add_error(r, name, "invalid-resource-on-worker", msg);
}

struct art_in {
	const char		*name, *type, *enc;
	struct task_artifact_meta meta;
	int			 fd;
	struct stat		 st;
};

/* A second name of a file already written for this task: a hard link
 * to the first copy, no byte written again, the same hash. */
static void
link_artifact(struct task_run *r, const struct art_in *in, size_t first)
{
	char err[512], sha[65], *existing = xstrdup(r->arts[first].name);
	uint64_t bytes = r->arts[first].bytes;

	snprintf(sha, sizeof(sha), "%s", r->arts[first].sha256);
	if (outdir_link(r->outdir_fd, existing, in->name, err,
	    sizeof(err)) == -1)
		taskrun_add_error(r, in->name, "invalid-resource-on-worker",
		    err);
	else {
		taskrun_add_artifact(r, in->name, in->type, in->enc,
		    in->meta.expires_ms, bytes, sha);
		log_info("task %s: artifact %s: the same file as %s, linked, "
		    "not written again", r->task_id, in->name, existing);
	}
	free(existing);
}

static void
copy_failed(struct task_run *r, const char *name, uint64_t size,
    const struct copy_result *res, const char *err)
{
	char msg[768];

	outdir_remove(r->outdir_fd, name);
	if (res->failure == COPY_LATE)
		late(r, name, err);
	else if (res->failure == COPY_WRITE && (res->error == ENOSPC ||
	    res->error == EDQUOT)) {
		snprintf(msg, sizeof(msg), "no space left on device writing "
		    "artifact %s: it did not fit (%llu bytes)", name,
		    (unsigned long long)size);
		taskrun_add_error(r, name, "too-large-file-on-worker", msg);
	} else
		taskrun_add_error(r, name, res->failure == COPY_WRITE ?
		    "invalid-resource-on-worker" : "file-not-readable-on-worker",
		    err);
}

/* Copy the file, at most the size it had when handed up, and hash it;
 * a copy that fails leaves nothing behind. */
static void
write_artifact(struct task_run *r, const struct art_in *in)
{
	uint64_t size = (uint64_t)in->st.st_size;
	const struct copy_bounds b = { size, r->collect_deadline };
	struct copy_result res;
	struct artifact_rec *a;
	char err[512];
	int out;

	if ((out = outdir_create_in(&r->parent, r->outdir_fd, in->name, err,
	    sizeof(err))) == -1) {
		taskrun_add_error(r, in->name, "invalid-resource-on-worker",
		    err);
		return;
	}
	if (copy_and_hash_bounded(in->fd, out, &b, &res, err,
	    sizeof(err)) == -1) {
		close(out);
		copy_failed(r, in->name, size, &res, err);
		return;
	}
	close(out);
	r->art_bytes += res.bytes;
	taskrun_add_artifact(r, in->name, in->type, in->enc,
	    in->meta.expires_ms, res.bytes, res.sha256_hex);
	a = &r->arts[r->narts - 1];
	a->dev = in->st.st_dev;
	a->ino = in->st.st_ino;
	index_put(r, &r->by_inode, r->narts - 1);
	log_info("task %s: artifact %s written: %llu bytes, sha256 %s",
	    r->task_id, in->name, (unsigned long long)res.bytes,
	    res.sha256_hex);
}

/* Why an artifact of this name cannot be written, or NULL. */
static const char *
name_refused(const struct task_run *r, const char *name)
{
	const char *why = artifact_name_problem(name, strlen(name));

	if (why == NULL && artifact_name_reserved(name))
		why = "the name is, lies below, or contains a name reserved "
		    "for what the worker itself writes";
	if (why == NULL && find_name(r, name) >= 0)
		why = "an artifact of that name was already written";
	return why;
}

/*
 * Every bound is checked before a byte is written: the count, the name,
 * the time, then the file's apparent size (what writing it would take,
 * holes included) against artifactMaxTotalBytes.  A file already written
 * under another name (a hard link: same st_dev and st_ino) is counted
 * once and linked, not written again.
 */
static void
take_artifact(struct task_run *r, struct art_in *in)
{
	char msg[512];
	const char *why;
	ssize_t first;

	if (over_count(r, in->name))
		return;
	if ((why = name_refused(r, in->name)) != NULL) {
		taskrun_add_error(r, in->name, "invalid-resource-on-worker", why);
		return;
	}
	if (!in_time(r)) {
		late(r, in->name, "not collected");
		return;
	}
	if (fstat(in->fd, &in->st) == -1 || !S_ISREG(in->st.st_mode)) {
		taskrun_add_error(r, in->name, "file-not-readable-on-worker",
		    "the file handed up cannot be examined");
		return;
	}
	if (taskrun_reserve(r, ART_RECORD_BYTES(strlen(in->name) +
	    strlen(in->type) + strlen(in->enc))) == -1) {
		snprintf(msg, sizeof(msg), "no space left on device writing "
		    "artifact %s: not even for its record in result.json",
		    in->name);
		taskrun_add_error(r, in->name, "too-large-file-on-worker", msg);
		return;
	}
	/* Not st_nlink: the init may have cleaned the task directory (and
	 * unlinked the other names) by now.  Every file handed up was
	 * linked in the task directory, which only that cleaning empties,
	 * when the last was opened: the same st_dev and st_ino is the same
	 * file. */
	if (r->upload == NULL && (first = find_inode(r, in->st.st_dev,
	    in->st.st_ino)) >= 0) {
		link_artifact(r, in, (size_t)first);
		return;
	}
	if ((uint64_t)in->st.st_size > r->lim.max_bytes - r->art_bytes) {
		snprintf(msg, sizeof(msg), "refused before writing: its %llu "
		    "bytes would take the task's artifacts past %llu bytes "
		    "(sepworker.artifactMaxTotalBytes; %llu written so far)",
		    (unsigned long long)in->st.st_size,
		    (unsigned long long)r->lim.max_bytes,
		    (unsigned long long)r->art_bytes);
		taskrun_add_error(r, in->name, "too-large-file-on-worker", msg);
		return;
	}
	if (r->upload != NULL) {
		/* Each name is an upload of its own, links or not. */
		r->art_bytes += (uint64_t)in->st.st_size;
		taskrun_add_artifact(r, in->name, in->type, in->enc,
		    in->meta.expires_ms, (uint64_t)in->st.st_size, "");
		r->upload(r->upload_arg, r, r->narts - 1, in->fd);
		return;
	}
	write_artifact(r, in);
}

int
taskrun_on_artifact(struct task_run *r, struct ipc_msg *m)
{
	struct art_in in = { .fd = m->fd };
	struct ipc_reader rd;
	const uint8_t *fixed;
	char *name, *type, *enc;
	int rc = -1;

	ipc_reader_init(&rd, m);
	fixed = ipc_get_bytes(&rd, sizeof(in.meta));
	if (fixed == NULL)
		return -1;
	memcpy(&in.meta, fixed, sizeof(in.meta));
	name = ipc_get_strdup(&rd, TASK_STRING_MAX);
	type = ipc_get_strdup(&rd, TASK_STRING_MAX);
	enc = ipc_get_strdup(&rd, TASK_STRING_MAX);
	if (ipc_get_end(&rd) && r->started) {
		in.name = name;
		in.type = type;
		in.enc = enc;
		take_artifact(r, &in);
		rc = 0;
	}
	free(name);
	free(type);
	free(enc);
	return rc;
}

int
taskrun_on_artifact_error(struct task_run *r, struct ipc_msg *m)
{
	struct ipc_reader rd;
	char *name, *reason, *message;
	uint32_t flags;
	int rc = -1;

	ipc_reader_init(&rd, m);
	flags = ipc_get_u32(&rd);
	name = ipc_get_strdup(&rd, TASK_STRING_MAX);
	reason = ipc_get_strdup(&rd, TASK_STRING_MAX);
	message = ipc_get_strdup(&rd, TASK_STRING_MAX);
	if (ipc_get_end(&rd) && r->started &&
	    (flags & ~ARTIFACT_ERROR_OPTIONAL) == 0) {
		(void)in_time(r);
		/* The taskrunner wrote it in the task log already. */
		if (!over_count(r, name)) {
			record_error(r, name, reason, message, false);
			r->errs[r->nerrs - 1].optional =
			    (flags & ARTIFACT_ERROR_OPTIONAL) != 0;
		}
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

/* Errors that fail the task: all but those of optional artifacts. */
static size_t
required_errors(const struct task_run *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nerrs; i++)
		n += !r->errs[i].optional;
	return n;
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
	taskrun_close_collection(r);
	r->state = (enum task_state)state;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	free(reason);
	/* A missing artifact fails a task that otherwise completed. */
	if (r->state == TASK_COMPLETED && required_errors(r) > 0) {
		r->state = TASK_FAILED;
		snprintf(r->reason, sizeof(r->reason), "failed");
		taskrun_log(r, "Resolution: failed/failed: %zu artifact%s "
		    "could not be collected (see above)", required_errors(r),
		    required_errors(r) == 1 ? "" : "s");
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
taskrun_reclaimed(struct task_run *r, int64_t taken_until_ms,
    const char *client_id, size_t len)
{
	char when[TIMEFMT_LEN];

	r->taken_until_ms = taken_until_ms;
	time_format_ms(taken_until_ms, when);
	log_info("task %s: reclaimed, taken until %s (client %.*s)",
	    r->task_id, when, (int)len, client_id);
	/* generic-worker's line, where the task has a proxy to refresh. */
	if (r->valid && (r->sum.features & TASK_FEAT_PROXY))
		taskrun_log(r, "[taskcluster-proxy] Successfully refreshed "
		    "taskcluster-proxy credentials: %.*s", (int)len, client_id);
}

void
taskrun_claim_lost(struct task_run *r, const char *state, size_t state_len,
    const char *why, size_t why_len)
{
	if (r->claim_lost)
		return;
	r->claim_lost = true;
	if (state_len > 0)
		snprintf(r->claim_lost_why, sizeof(r->claim_lost_why), "the "
		    "task could not be reclaimed (the run is %.*s): %.*s",
		    (int)state_len, state, (int)why_len, why);
	else
		snprintf(r->claim_lost_why, sizeof(r->claim_lost_why), "the "
		    "task could not be reclaimed: %.*s", (int)why_len, why);
	/* Said where it is acted on: the abort, the task left unresolved. */
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
		if (r->errs[i].optional)
			json_object_object_add(e, "optional",
			    json_object_new_boolean(true));
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
	outdir_parent_free(&r->parent);
	free(r->by_name.slot);
	free(r->by_inode.slot);
	free(r->over_first);
	r->arts = NULL;
	r->errs = NULL;
	r->by_name.slot = r->by_inode.slot = NULL;
	r->over_first = NULL;
	if (r->result_fd >= 0)
		close(r->result_fd);
	r->result_fd = -1;
	free(r->exit_codes);
	free(r->cot_extra);
	r->cot_extra = NULL;
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
