/*
 * The taskrunner's side of one task: validate the definition, build the
 * sandbox (asking the supervisor for what needs privilege), copy the
 * task's output into the log, forward what the init reports, and resolve.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/child.h"
#include "common/log.h"
#include "common/memfd.h"
#include "common/reserved.h"
#include "common/strbuf.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "taskrunner/chan_init.h"
#include "taskrunner/cotextra.h"
#include "taskrunner/task.h"
#include "taskrunner/tasklog.h"

#define DEFAULT_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:" \
			"/sbin:/bin"
/* How long past maxRunTime and the collection time the init may take to
 * kill and clean before the taskrunner gives up on it. */
#define INIT_GRACE_SECS	600

/* How the task is going: the first error decides (generic-worker's rule). */
struct outcome {
	enum task_state	 state;
	const char	*reason;
};

static void
outcome_set(struct outcome *o, enum task_state state, const char *reason)
{
	if (o->state != TASK_COMPLETED)
		return;
	o->state = state;
	o->reason = reason;
}

static void
put_str(struct ipc_writer *w, const char *s)
{
	size_t len = strlen(s);

	ipc_put_str(w, s, len > TASK_STRING_MAX ? TASK_STRING_MAX : len);
}

static void
send_result(struct ipc_conn *sup, enum task_state state, const char *reason)
{
	uint8_t buf[64];
	struct ipc_writer w;

	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_u32(&w, (uint32_t)state);
	put_str(&w, reason);
	if (ipc_send(sup, TR_TASK_RESULT, 0, w.buf, w.len, -1) == -1)
		fatal("sending TASK_RESULT");
}

/* Resolve, say so in the task log, tell the supervisor, and leave. */
static void __attribute__((noreturn))
finish(struct ipc_conn *sup, const struct outcome *o)
{
	tasklog("Resolution: %s/%s", o->state == TASK_COMPLETED ? "completed" :
	    o->state == TASK_FAILED ? "failed" : "exception", o->reason);
	send_result(sup, o->state, o->reason);
	exit(CHILD_EXIT_OK);
}

static void
log_malformed(const struct task *t, const struct strlist *errs)
{
	/* generic-worker's wording and order, which people grep for. */
	tasklog("%s", PAYLOAD_SCHEMA_INTRO);
	tasklog_raw(payload_schema_json, strlen(payload_schema_json));
	tasklog_raw("\n", 1);
	tasklog("%s (task %s)", PAYLOAD_ERRORS_INTRO, t->task_id);
	for (size_t i = 0; i < errs->n; i++)
		tasklog("- %s", errs->v[i]);
}

/* The task's scopes for its proxy, one per line (validation made sure
 * none holds a newline). */
static void
send_scopes(const struct task *t, struct ipc_conn *sup)
{
	size_t len = 0;
	char *buf;
	int fd;

	for (size_t i = 0; i < t->def.nscopes; i++)
		len += strlen(t->def.scopes[i]) + 1;
	buf = xmalloc(len + 1);
	len = 0;
	for (size_t i = 0; i < t->def.nscopes; i++)
		len += (size_t)sprintf(buf + len, "%s\n", t->def.scopes[i]);
	fd = memfd_sealed("task-scopes", buf, len);
	free(buf);
	if (fd == -1)
		fatal("sealing the task's scopes");
	if (ipc_send(sup, TR_TASK_SCOPES, 0, NULL, 0, fd) == -1)
		fatal("sending TASK_SCOPES");
	close(fd);
}

/*
 * generic-worker's header: the pool, its workerTypeMetadata indented
 * (each line of it a line of the log), the task ID.
 */
static void
log_header(const struct task *t)
{
	tasklog("Worker Type (%s/%s) settings:", t->provisioner_id,
	    t->worker_type);
	if (tasklog_json(t->metadata) == -1)
		fatalx("TASK_ASSIGN: the worker type's metadata is not a JSON "
		    "object");
	tasklog("Task ID: %s", t->task_id);
	tasklog("Run %u, on worker %s/%s (sepworker)", t->a.run_id,
	    t->worker_group, t->worker_id);
}

int
task_assign(struct task *t, struct ipc_conn *sup, struct ipc_msg *m)
{
	struct payload_ctx ctx;
	struct task_summary sum;
	uint8_t valid[sizeof(sum) + 2 * (4 + TASK_LOG_NAME_MAX)];
	struct ipc_writer w;
	struct strlist errs = { 0 };
	struct ipc_reader r;
	const uint8_t *fixed;
	char err[160], *buf;
	size_t size, len;
	int fd;

	ipc_reader_init(&r, m);
	if ((fixed = ipc_get_bytes(&r, sizeof(t->a))) == NULL)
		return -1;
	memcpy(&t->a, fixed, sizeof(t->a));
	t->task_id = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->provisioner_id = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->worker_type = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->worker_group = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->worker_id = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->root_url = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->taskdir_path = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->read_only_paths = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->cot_refusal = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->proxy_refusal = ipc_get_strdup(&r, TASK_STRING_MAX);
	t->metadata = ipc_get_strdup(&r, TASK_METADATA_MAX);
	if (!ipc_get_end(&r) || t->a.task_uid == 0)
		return -1;
	if (memfd_check_sealed(m->fd, PAYLOAD_MAX_BYTES, &size, err,
	    sizeof(err)) == -1) {
		log_errorx("task definition: %s", err);
		return -1;
	}
	buf = xmalloc(size + 1);
	if (memfd_read(m->fd, buf, size) == -1)
		fatal("reading the task definition");
	close(m->fd);
	m->fd = -1;

	log_header(t);
	ctx = (struct payload_ctx){
		.task_id = t->task_id,
		.provisioner_id = t->provisioner_id,
		.worker_type = t->worker_type,
		.now_ms = t->a.now_ms,
		.max_task_run_time = t->a.max_task_run_time,
		.enable_chain_of_trust = t->a.flags & TASK_F_ENABLE_COT,
		.enable_taskcluster_proxy = t->a.flags & TASK_F_ENABLE_PROXY,
		.chain_of_trust_refusal = *t->cot_refusal ? t->cot_refusal :
		    NULL,
		.taskcluster_proxy_refusal = *t->proxy_refusal ?
		    t->proxy_refusal : NULL,
	};
	if (payload_parse(buf, size, &ctx, &t->def, &errs) == -1) {
		struct outcome o = { TASK_EXCEPTION, "malformed-payload" };

		free(buf);
		log_malformed(t, &errs);
		strlist_free(&errs);
		finish(sup, &o);
	}
	free(buf);
	tasklog("Task: %s (owner %s), %zu command%s, maxRunTime %us, "
	    "%zu artifact%s", t->def.name, t->def.owner, t->def.ncommands,
	    t->def.ncommands == 1 ? "" : "s", t->def.max_run_time,
	    t->def.nartifacts, t->def.nartifacts == 1 ? "" : "s");

	if (t->def.features.taskcluster_proxy)
		send_scopes(t, sup);
	buf = payload_reencode(&t->def, &len);
	fd = memfd_sealed("task-definition", buf, len);
	free(buf);
	if (fd == -1)
		fatal("sealing the re-encoded task definition");
	sum = (struct task_summary){
		.max_run_time = t->def.max_run_time,
		.ncommands = (uint32_t)t->def.ncommands,
		.nartifacts = (uint32_t)t->def.nartifacts,
		.features = (t->def.features.chain_of_trust ? TASK_FEAT_COT : 0) |
		    (t->def.features.taskcluster_proxy ? TASK_FEAT_PROXY : 0) |
		    (t->def.features.live_log ? TASK_FEAT_LIVE_LOG : 0) |
		    (t->def.features.backing_log ? TASK_FEAT_BACKING_LOG : 0),
		.deadline_ms = t->def.deadline_ms,
		.expires_ms = t->def.expires_ms,
	};
	ipc_writer_init(&w, valid, sizeof(valid));
	ipc_put_bytes(&w, &sum, sizeof(sum));
	ipc_put_str(&w, t->def.live_log_name, strlen(t->def.live_log_name));
	ipc_put_str(&w, t->def.backing_log_name,
	    strlen(t->def.backing_log_name));
	if (w.overflow)
		fatalx("TASK_VALID: the log names do not fit");
	if (ipc_send(sup, TR_TASK_VALID, m->hdr.id, valid, w.len, fd) == -1)
		fatal("sending TASK_VALID");
	close(fd);
	return 0;
}

/*
 * Why the supervisor aborts the task: an empty TASK_ABORT is the worker
 * shutting down; one with a reason is the worker failing the task
 * (its proxy could not be started, say).
 */
static char	abort_why[TASK_STRING_MAX + 1];

static void
take_abort(const struct ipc_msg *m, struct outcome *o)
{
	struct ipc_reader r;
	const char *s;
	size_t len;

	abort_why[0] = '\0';
	if (m->payload_len > 0) {
		ipc_reader_init(&r, m);
		s = ipc_get_str(&r, TASK_STRING_MAX, &len);
		if (s != NULL && ipc_get_end(&r))
			snprintf(abort_why, sizeof(abort_why), "%.*s", (int)len,
			    s);
	}
	if (abort_why[0] == '\0') {
		snprintf(abort_why, sizeof(abort_why), "the worker is shutting "
		    "down");
		outcome_set(o, TASK_EXCEPTION, "worker-shutdown");
	} else
		outcome_set(o, TASK_EXCEPTION, "internal-error");
}

void
task_abort_before_start(struct task *t, struct ipc_conn *sup,
    const struct ipc_msg *m)
{
	struct outcome o = { TASK_COMPLETED, "completed" };

	(void)t;
	take_abort(m, &o);
	tasklog("Task aborted before it started: %s", abort_why);
	finish(sup, &o);
}

/* --- the sandbox's ingredients --- */

static void
env_set(char ***envp, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < *n; i++)
		if (strncmp((*envp)[i], kv, klen + 1) == 0) {
			free((*envp)[i]);
			(*envp)[i] = xstrdup(kv);
			return;
		}
	*envp = realloc(*envp, (*n + 2) * sizeof(char *));
	if (*envp == NULL)
		fatalx("out of memory building the environment");
	(*envp)[(*n)++] = xstrdup(kv);
	(*envp)[*n] = NULL;
}

/* generic-worker's defaults, then the payload's env, then what the task
 * may not override. */
static void
build_env(struct task *t)
{
	char **env = NULL, *kv;
	size_t n = 0;

	kv = xasprintf("HOME=%s", t->taskdir_path);
	env_set(&env, &n, kv);
	free(kv);
	env_set(&env, &n, "PATH=" DEFAULT_PATH);
	kv = xasprintf("USER=%s", t->user);
	env_set(&env, &n, kv);
	free(kv);
	for (size_t i = 0; i < t->def.nenv; i++)
		env_set(&env, &n, t->def.env[i]);
	kv = xasprintf("TASK_ID=%s", t->task_id);
	env_set(&env, &n, kv);
	free(kv);
	kv = xasprintf("RUN_ID=%u", t->a.run_id);
	env_set(&env, &n, kv);
	free(kv);
	kv = xasprintf("TASK_WORKDIR=%s", t->taskdir_path);
	env_set(&env, &n, kv);
	free(kv);
	kv = xasprintf("TASK_GROUP_ID=%s", t->def.task_group_id);
	env_set(&env, &n, kv);
	free(kv);
	kv = xasprintf("TASKCLUSTER_ROOT_URL=%s", t->root_url);
	env_set(&env, &n, kv);
	free(kv);
	if (t->def.features.taskcluster_proxy) {
		kv = xasprintf("TASKCLUSTER_PROXY_URL=http://127.0.0.1:%u",
		    t->a.proxy_port);
		env_set(&env, &n, kv);
		free(kv);
	}
	t->envp = env;
}

/* The host's file with our entry for the task user added (and any line
 * that would claim its name or id left out). */
static char *
with_task_entry(const char *path, const char *name, const char *entry,
    uint32_t id)
{
	char buf[1 << 16], idfield[16];
	size_t used = 0, cap = strlen(entry) + 2;
	char *out, *line, *save = NULL;
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd != -1) {
		n = read_all(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	out = xmalloc((size_t)n + cap + 1);
	snprintf(idfield, sizeof(idfield), ":%u:", id);
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		size_t nlen = strlen(name);
		const char *f2 = strchr(line, ':');

		if (strncmp(line, name, nlen) == 0 && line[nlen] == ':')
			continue;
		if (f2 != NULL && (f2 = strchr(f2 + 1, ':')) != NULL &&
		    strncmp(f2, idfield, strlen(idfield)) == 0)
			continue;
		used += (size_t)sprintf(out + used, "%s\n", line);
	}
	used += (size_t)sprintf(out + used, "%s\n", entry);
	out[used] = '\0';
	return out;
}

static void
build_identity(struct task *t)
{
	char *entry;

	snprintf(t->user, sizeof(t->user), "task_%u", t->a.task_uid);
	entry = xasprintf("%s:x:%u:%u:sepworker task %s:%s:/bin/sh", t->user,
	    t->a.task_uid, t->a.task_uid, t->task_id, t->taskdir_path);
	t->passwd = with_task_entry("/etc/passwd", t->user, entry,
	    t->a.task_uid);
	free(entry);
	entry = xasprintf("%s:x:%u:", t->user, t->a.task_uid);
	t->group = with_task_entry("/etc/group", t->user, entry,
	    t->a.task_uid);
	free(entry);
}

/* --- privileged steps, asked of the supervisor --- */

/* How an abort received while asking ends the task. */
static struct outcome	abort_outcome = { TASK_COMPLETED, "completed" };

/* A request and its answer.  While waiting, the supervisor may only
 * PING or abort; anything else is a protocol violation. */
static int
privop_call(struct ipc_conn *sup, uint32_t type, const void *arg, size_t len,
    int fd, uint32_t want, int *answer_fd, bool *aborted, char *why,
    size_t whylen)
{
	uint32_t id = sup->next_id++;
	char err[IPC_ERR_MAX];
	struct ipc_msg m;

	if (ipc_send(sup, type, id, arg, len, fd) == -1)
		fatal("sending a privileged request");
	for (;;) {
		int rc = ipc_recv(sup, &m, err, sizeof(err));

		if (rc == 0)
			fatalx("the supervisor went away");
		if (rc < 0) {
			log_errorx("protocol violation: %s", err);
			exit(CHILD_EXIT_VIOLATION);
		}
		if (m.hdr.type == TR_TASK_ABORT) {
			*aborted = true;
			take_abort(&m, &abort_outcome);
			continue;
		}
		if (m.hdr.type == MSG_PING) {
			if (ipc_send(sup, MSG_PONG, m.hdr.id, m.payload, 8, -1)
			    == -1)
				fatal("sending PONG");
			continue;
		}
		if (m.hdr.id != id || (m.hdr.type != want &&
		    m.hdr.type != TR_PRIVOP_FAIL)) {
			log_errorx("protocol violation: unexpected %s",
			    m.spec->name);
			exit(CHILD_EXIT_VIOLATION);
		}
		break;
	}
	if (m.hdr.type == TR_PRIVOP_FAIL || m.hdr.type == TR_CGROUP_DONE) {
		/* Both carry a line of text: why, or what was done. */
		struct ipc_reader r;
		const char *s;
		size_t slen;

		ipc_reader_init(&r, &m);
		s = ipc_get_str(&r, PRIVOP_REASON_MAX, &slen);
		snprintf(why, whylen, "%.*s", s ? (int)slen : 0, s ? s : "");
		if (m.hdr.type == TR_PRIVOP_FAIL)
			return -1;
	}
	if (answer_fd != NULL)
		*answer_fd = m.fd;
	return 0;
}

/* --- running --- */

struct run {
	struct task	*t;
	struct ipc_conn	*sup;
	struct ipc_conn	 init;
	struct outcome	 o;
	bool		 ready;
	bool		 done;
	bool		 init_exited;
	int		 init_status;
	int		 timer;
	int64_t		 started_ms;
	bool		 cot_extra_seen;
};

/* The file's bytes, at most COT_EXTRA_MAX_BYTES + 1 (one more tells it
 * is too big); NULL with err set. */
static char *
read_cot_extra(int fd, size_t *len, char *err, size_t errlen)
{
	char *buf = xmalloc(COT_EXTRA_MAX_BYTES + 1);
	ssize_t n;

	*len = 0;
	while (*len <= COT_EXTRA_MAX_BYTES) {
		n = read(fd, buf + *len, COT_EXTRA_MAX_BYTES + 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "reading it: %s",
			    strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	if (*len > COT_EXTRA_MAX_BYTES) {
		snprintf(err, errlen, "it is larger than %u bytes",
		    COT_EXTRA_MAX_BYTES);
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * The three merged parts back to back in a sealed memfd, for COT_EXTRA;
 * false (err set) if, with the indentation the supervisor adds to each
 * line, they would take more than COT_EXTRA_MAX in the document: a file
 * under 1 MiB can be small only until it is indented.
 */
static bool
send_cot_extra(struct ipc_conn *sup, const struct cot_extra *x, char *err,
    size_t errlen)
{
	struct json_object *parts[3] = { x->task, x->env, x->top };
	uint32_t lens[3];
	struct strbuf b = { 0 };
	uint64_t need;
	char *text;
	size_t len;
	int fd;

	for (size_t i = 0; i < 3; i++) {
		text = payload_encode(parts[i], &len);
		strbuf_put(&b, text, len);
		lens[i] = (uint32_t)len;
		free(text);
	}
	need = b.len;
	for (size_t i = 0; i < b.len; i++)
		if (b.p[i] == '\n')
			need += COT_EXTRA_INDENT;
	if (need > COT_EXTRA_MAX) {
		snprintf(err, errlen, "merged into the document it would take "
		    "%llu bytes, more than %u", (unsigned long long)need,
		    COT_EXTRA_MAX);
		free(b.p);
		return false;
	}
	if ((fd = memfd_sealed("cot-extra", b.p, b.len)) == -1)
		fatal("sealing the chain-of-trust additional data");
	free(b.p);
	if (ipc_send(sup, TR_COT_EXTRA, 0, lens, sizeof(lens), fd) == -1)
		fatal("sending COT_EXTRA");
	close(fd);
	return true;
}

/*
 * The task's chain-of-trust-additional-data.json, opened by the init as
 * the task user: parsed and merged here, where the task's JSON may be
 * parsed; false if the task fails for it (its document goes out without
 * the additional data).
 */
static bool
cot_extra(struct run *r, int fd)
{
	struct json_object *extra = NULL;
	struct cot_extra x;
	bool sent = false;
	char err[TASK_STRING_MAX];
	size_t len;
	char *buf;

	if ((buf = read_cot_extra(fd, &len, err, sizeof(err))) != NULL) {
		extra = cot_extra_parse(buf, len, err, sizeof(err));
		free(buf);
	}
	if (extra != NULL) {
		cot_extra_merge(extra, r->t->def.json, &x);
		json_object_put(extra);
		sent = send_cot_extra(r->sup, &x, err, sizeof(err));
		if (sent && x.dropped_artifacts)
			tasklog_warn("Chain of trust: %s: its \"artifacts\" "
			    "is ignored: the document lists only the "
			    "artifacts the worker hashed", COT_EXTRA_FILE);
		cot_extra_free(&x);
	}
	if (!sent) {
		tasklog("Chain of trust: %s is not used: %s", COT_EXTRA_FILE,
		    err);
		return false;
	}
	tasklog("Chain of trust: %s merged into the document",
	    COT_EXTRA_FILE);
	return true;
}

static void
drain_output(struct run *r)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(r->t->out_pipe[0], buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		tasklog_output(buf, (size_t)n);
	}
}

/* A C0 control, DEL, or a C1 control in UTF-8 (U+0080..U+009F): what
 * could end or disguise a line of the log. */
static size_t
control_len(const unsigned char *a)
{
	if (*a < 0x20 || *a == 0x7f)
		return 1;
	if (a[0] == 0xc2 && a[1] >= 0x80 && a[1] <= 0x9f)
		return 2;
	return 0;
}

/* An argument holding a control character, as bash's $'...' spells it:
 * the command stays one line of the log and still reads back. */
static void
quote_ansi_c(struct strbuf *b, const unsigned char *a)
{
	char esc[8];
	size_t n;

	strbuf_puts(b, "$'");
	for (; *a != '\0'; a += n ? n : 1) {
		if ((n = control_len(a)) == 2)
			snprintf(esc, sizeof(esc), "\\u%04x", a[1]);
		else if (n == 1 && *a == '\n')
			snprintf(esc, sizeof(esc), "\\n");
		else if (n == 1 && *a == '\t')
			snprintf(esc, sizeof(esc), "\\t");
		else if (n == 1)
			snprintf(esc, sizeof(esc), "\\x%02x", *a);
		else if (*a == '\\' || *a == '\'')
			snprintf(esc, sizeof(esc), "\\%c", *a);
		else
			snprintf(esc, sizeof(esc), "%c", *a);
		strbuf_puts(b, esc);
	}
	strbuf_puts(b, "'");
}

static bool
has_control(const char *a)
{
	for (; *a != '\0'; a++)
		if (control_len((const unsigned char *)a) != 0)
			return true;
	return false;
}

/*
 * A command line as a shell would read it back, whole, as generic-worker
 * prints it: bare words, '...' around anything else, $'...' around an
 * argument with a control character.
 */
static char *
quote_command(char *const *argv, size_t *len)
{
	struct strbuf b = { 0 };

	strbuf_puts(&b, "");
	for (size_t i = 0; argv[i] != NULL; i++) {
		const char *a = argv[i];

		if (i > 0)
			strbuf_puts(&b, " ");
		if (*a != '\0' && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-") ==
		    strlen(a)) {
			strbuf_puts(&b, a);
		} else if (has_control(a)) {
			quote_ansi_c(&b, (const unsigned char *)a);
		} else {
			strbuf_puts(&b, "'");
			for (; *a != '\0'; a++)
				if (*a == '\'')
					strbuf_puts(&b, "'\\''");
				else
					strbuf_put(&b, a, 1);
			strbuf_puts(&b, "'");
		}
	}
	return strbuf_take(&b, len);
}

static bool
is_retry_code(const struct task_def *d, int32_t code)
{
	for (size_t i = 0; i < d->nretry; i++)
		if (d->retry_codes[i] == code)
			return true;
	return false;
}

static void
on_command_done(struct run *r, struct ipc_msg *m)
{
	struct ipc_reader rd;
	uint32_t index, flags, detail;
	int32_t code;
	uint64_t ms;
	uint8_t fwd[16];
	struct ipc_writer w;

	ipc_reader_init(&rd, m);
	index = ipc_get_u32(&rd);
	code = (int32_t)ipc_get_u32(&rd);
	flags = ipc_get_u32(&rd);
	detail = ipc_get_u32(&rd);
	ms = ipc_get_u64(&rd);
	if (!ipc_get_end(&rd) || index >= r->t->def.ncommands)
		fatalx("the init reported a command it does not have");
	drain_output(r);
	if (flags & INIT_CMD_NOT_STARTED)
		tasklog("Command %u could not be started: %s: %s", index,
		    r->t->def.commands[index][0], detail == ENOENT ?
		    "command not found" : detail == EACCES ?
		    "not executable (permission denied)" :
		    strerror((int)detail));
	else if (flags & INIT_CMD_SIGNALED)
		tasklog("Command %u was killed by signal %u (SIG%s)", index,
		    detail, sigabbrev_np((int)detail) ?
		    sigabbrev_np((int)detail) : "?");
	tasklog("   Exit Code: %d", code);
	tasklog("   Wall Time: %llu.%03llus", (unsigned long long)ms / 1000,
	    (unsigned long long)ms % 1000);
	tasklog("      Result: %s", code == 0 ? "SUCCEEDED" : "FAILED");
	if (code != 0)
		outcome_set(&r->o, is_retry_code(&r->t->def, code) ?
		    TASK_EXCEPTION : TASK_FAILED, is_retry_code(&r->t->def,
		    code) ? "intermittent-task" : "failed");
	ipc_writer_init(&w, fwd, sizeof(fwd));
	ipc_put_u32(&w, index);
	ipc_put_u32(&w, (uint32_t)code);
	ipc_put_u64(&w, ms);
	if (ipc_send(r->sup, TR_COMMAND_DONE, 0, w.buf, w.len, -1) == -1)
		fatal("sending COMMAND_DONE");
}

/* Log the error; true if it fails the task (the artifact is required). */
static bool
log_artifact_error(struct ipc_msg *m)
{
	struct ipc_reader rd;
	const char *name, *reason, *msg;
	size_t nl, rl, ml;
	uint32_t flags;

	ipc_reader_init(&rd, m);
	flags = ipc_get_u32(&rd);
	name = ipc_get_str(&rd, TASK_STRING_MAX, &nl);
	reason = ipc_get_str(&rd, TASK_STRING_MAX, &rl);
	msg = ipc_get_str(&rd, TASK_STRING_MAX, &ml);
	if (!ipc_get_end(&rd))
		fatalx("malformed INIT_ARTIFACT_ERROR");
	tasklog("Artifact %.*s: %.*s (%.*s)%s", (int)nl, name, (int)ml, msg,
	    (int)rl, reason, flags & ARTIFACT_ERROR_OPTIONAL ? "; it is "
	    "optional: the task does not fail for it" : "");
	return !(flags & ARTIFACT_ERROR_OPTIONAL);
}

/* The name an INIT_ARTIFACT carries (after its fixed part), in a static
 * buffer; "" if it is malformed (the supervisor refuses it then). */
static const char *
artifact_name(struct ipc_msg *m)
{
	static char name[TASK_STRING_MAX + 1];
	struct ipc_reader rd;
	const char *s;
	size_t len;

	ipc_reader_init(&rd, m);
	(void)ipc_get_bytes(&rd, sizeof(struct task_artifact_meta));
	s = ipc_get_str(&rd, TASK_STRING_MAX, &len);
	snprintf(name, sizeof(name), "%.*s", s ? (int)len : 0, s ? s : "");
	return name;
}

/* The worker feature that uploads an artifact of this name itself: the
 * worker's fixed names, and the task's own names for its logs. */
static const char *
reserved_by(const struct task *t, const char *name)
{
	const char *feature = worker_artifact_feature(name);

	if (feature != NULL)
		return feature;
	if (strcmp(name, t->def.live_log_name) == 0)
		return "Live Log";
	if (strcmp(name, t->def.backing_log_name) == 0)
		return "Backing log";
	return NULL;
}

static void
on_init_message(struct run *r, struct ipc_msg *m)
{
	struct ipc_reader rd;
	const char *s;
	size_t len;
	char head[32], *cmd;
	const char *feature;
	uint32_t i;

	switch (m->hdr.type) {
	case INIT_READY:
		r->ready = true;
		break;
	case INIT_COMMAND_START:
		ipc_reader_init(&rd, m);
		i = ipc_get_u32(&rd);
		if (!ipc_get_end(&rd) || i >= r->t->def.ncommands)
			fatalx("the init started a command it does not have");
		drain_output(r);
		cmd = quote_command(r->t->def.commands[i], &len);
		snprintf(head, sizeof(head), "Executing command %u: ", i);
		tasklog_long(head, cmd, len);
		free(cmd);
		break;
	case INIT_COMMAND_DONE:
		on_command_done(r, m);
		break;
	case INIT_TIMEOUT:
		drain_output(r);
		tasklog("task aborted - max run time exceeded (%us): every "
		    "process of the task was killed", r->t->def.max_run_time);
		outcome_set(&r->o, TASK_FAILED, "failed");
		break;
	case INIT_ARTIFACT:
		if ((feature = reserved_by(r->t, artifact_name(m))) !=
		    NULL) {
			/* generic-worker's rule and wording. */
			tasklog_warn("Not uploading artifact %s found in "
			    "task.payload.artifacts section, since this will be "
			    "uploaded later by %s", artifact_name(m), feature);
			break;
		}
		if (ipc_send(r->sup, TR_ARTIFACT, 0, m->payload,
		    m->payload_len, m->fd) == -1)
			fatal("forwarding an artifact");
		break;
	case INIT_ARTIFACT_ERROR:
		if (log_artifact_error(m))
			outcome_set(&r->o, TASK_FAILED, "failed");
		if (ipc_send(r->sup, TR_ARTIFACT_ERROR, 0, m->payload,
		    m->payload_len, -1) == -1)
			fatal("forwarding an artifact error");
		break;
	case INIT_NOTE:
		ipc_reader_init(&rd, m);
		s = ipc_get_str(&rd, TASK_STRING_MAX, &len);
		if (s != NULL && ipc_get_end(&rd))
			tasklog("%.*s", (int)len, s);
		break;
	case INIT_DONE:
		r->done = true;
		break;
	case INIT_COT_EXTRA:
	case INIT_COT_EXTRA_ERROR:
		if (!r->t->def.features.chain_of_trust || r->cot_extra_seen)
			fatalx("chain-of-trust data from the init, unasked");
		r->cot_extra_seen = true;
		if (m->hdr.type == INIT_COT_EXTRA) {
			if (!cot_extra(r, m->fd))
				outcome_set(&r->o, TASK_FAILED, "failed");
			break;
		}
		ipc_reader_init(&rd, m);
		s = ipc_get_str(&rd, TASK_STRING_MAX, &len);
		if (s == NULL || !ipc_get_end(&rd))
			fatalx("malformed INIT_COT_EXTRA_ERROR");
		tasklog("Chain of trust: %.*s", (int)len, s);
		outcome_set(&r->o, TASK_FAILED, "failed");
		break;
	case INIT_LISTENER:
		if (r->ready || !(r->t->a.flags & TASK_F_NET_ISOLATED) ||
		    !r->t->def.features.taskcluster_proxy)
			fatalx("a proxy listener from the init, unasked");
		if (ipc_send(r->sup, TR_PROXY_LISTENER, 0, NULL, 0, m->fd) ==
		    -1)
			fatal("forwarding the proxy's listener");
		break;
	default:
		fatalx("unexpected %s from the init", m->spec->name);
	}
	if (m->fd >= 0)
		close(m->fd);
}

static void
read_init(struct run *r)
{
	char err[IPC_ERR_MAX];
	struct ipc_msg m;

	for (;;) {
		int rc = ipc_recv(&r->init, &m, err, sizeof(err));

		if (rc == -2)
			return;
		if (rc == 0) {
			ipc_conn_free(&r->init);
			return;
		}
		if (rc < 0)
			fatalx("the task's init broke protocol: %s", err);
		on_init_message(r, &m);
	}
}

static void
read_supervisor(struct run *r)
{
	char err[IPC_ERR_MAX];
	struct ipc_msg m;
	int rc = ipc_recv(r->sup, &m, err, sizeof(err));

	if (rc == 0)
		fatalx("the supervisor went away");
	if (rc < 0) {
		log_errorx("protocol violation: %s", err);
		exit(CHILD_EXIT_VIOLATION);
	}
	switch (m.hdr.type) {
	case TR_TASK_ABORT:
		take_abort(&m, &r->o);
		tasklog("Task aborted: %s", abort_why);
		pidfd_send_signal(r->t->init_pidfd, SIGKILL, NULL, 0);
		break;
	case MSG_PING:
		if (ipc_send(r->sup, MSG_PONG, m.hdr.id, m.payload, 8, -1) ==
		    -1)
			fatal("sending PONG");
		break;
	default:
		log_errorx("protocol violation: %s while a task runs",
		    m.spec->name);
		exit(CHILD_EXIT_VIOLATION);
	}
}

static void
reap_init(struct run *r)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)r->t->init_pidfd, &si, WEXITED) == -1)
		fatal("waitid(init)");
	r->init_exited = true;
	if (si.si_code == CLD_EXITED && si.si_status == 0 && r->done)
		return;
	if (r->o.state != TASK_COMPLETED && !r->ready)
		return;
	if (si.si_code == CLD_EXITED && si.si_status == INIT_EXIT_SETUP)
		tasklog("The task's sandbox could not be built (see above)");
	else if (r->o.reason == NULL || strcmp(r->o.reason,
	    "worker-shutdown") != 0)
		tasklog("The task's init ended early: %s %d",
		    si.si_code == CLD_EXITED ? "exit status" : "signal",
		    si.si_status);
	outcome_set(&r->o, TASK_EXCEPTION, "internal-error");
}

static void
run_loop(struct run *r)
{
	while (!r->init_exited) {
		struct pollfd pfd[5] = {
			{ r->sup->sock, POLLIN, 0 },
			{ r->init.sock, POLLIN, 0 },
			{ r->t->out_pipe[0], POLLIN, 0 },
			{ r->t->init_pidfd, POLLIN, 0 },
			{ r->timer, POLLIN, 0 },
		};

		if (poll(pfd, 5, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[2].revents)
			drain_output(r);
		if (pfd[1].revents && r->init.sock >= 0)
			read_init(r);
		if (pfd[0].revents)
			read_supervisor(r);
		if (pfd[4].revents) {
			tasklog("The task's init did not finish within %us "
			    "of its maxRunTime and artifact collection time; "
			    "killing it", INIT_GRACE_SECS);
			outcome_set(&r->o, TASK_EXCEPTION, "internal-error");
			pidfd_send_signal(r->t->init_pidfd, SIGKILL, NULL, 0);
			close(r->timer);
			r->timer = -1;
		}
		if (pfd[3].revents) {
			/* Whatever it said before it went, then how. */
			if (r->init.sock >= 0)
				read_init(r);
			reap_init(r);
		}
	}
	drain_output(r);
}

static void
arm_backstop(struct run *r)
{
	struct itimerspec its = { .it_value.tv_sec =
	    (time_t)r->t->def.max_run_time + (time_t)r->t->a.collect_secs +
	    INIT_GRACE_SECS };

	r->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (r->timer == -1 || timerfd_settime(r->timer, 0, &its, NULL) == -1)
		fatal("timerfd");
}

static const char *
limit_text(uint64_t v, char *buf, size_t len)
{
	if (v == 0)
		return "unlimited";
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/* Clone the init into its namespaces; in the child, become it. */
static void
start_init(struct task *t)
{
	unsigned long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS |
	    CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | SIGCHLD;
	long pid;

	if (t->a.flags & TASK_F_NET_ISOLATED)
		flags |= CLONE_NEWNET;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    t->init_sock) == -1 || pipe2(t->out_pipe, O_CLOEXEC) == -1)
		fatal("making the task's channels");
	/* Raw clone with fork semantics: glibc has no wrapper that takes
	 * namespace flags without a separate stack. */
	pid = syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
	if (pid == -1)
		fatal("clone of the task's init");
	if (pid == 0)
		init_main(t);
	t->init_pid = (pid_t)pid;
	close(t->init_sock[1]);
	close(t->out_pipe[1]);
	fcntl(t->out_pipe[0], F_SETFL, O_NONBLOCK);
	fcntl(t->init_sock[0], F_SETFL, O_NONBLOCK);
	t->init_pidfd = pidfd_open(t->init_pid, 0);
	if (t->init_pidfd == -1)
		fatal("pidfd_open(init)");
}

void
task_run(struct task *t, struct ipc_conn *sup)
{
	struct run r = { .t = t, .sup = sup, .o = { TASK_COMPLETED,
	    "completed" }, .timer = -1 };
	char why[PRIVOP_REASON_MAX + 1], lim1[32], lim2[32];
	bool aborted = false;
	uint32_t uid = t->a.task_uid;

	r.started_ms = time_now_ms();
	tasklog_limit(t->a.log_max_bytes);
	build_identity(t);
	build_env(t);
	if (privop_call(sup, TR_TASKDIR_REQ, NULL, 0, -1, TR_TASKDIR,
	    &t->taskdir_fd, &aborted, why, sizeof(why)) == -1) {
		tasklog("Cannot create the task directory: %s", why);
		outcome_set(&r.o, TASK_EXCEPTION, "internal-error");
		finish(sup, &r.o);
	}
	start_init(t);
	if (privop_call(sup, TR_USERNS_MAP_REQ, &uid, sizeof(uid),
	    t->init_pidfd, TR_PRIVOP_OK, NULL, &aborted, why,
	    sizeof(why)) == -1) {
		tasklog("Cannot map the task's user namespace: %s", why);
		outcome_set(&r.o, TASK_EXCEPTION, "internal-error");
		pidfd_send_signal(t->init_pidfd, SIGKILL, NULL, 0);
	} else if (privop_call(sup, TR_CGROUP_REQ, NULL, 0, t->init_pidfd,
	    TR_CGROUP_DONE, NULL, &aborted, why, sizeof(why)) == -1) {
		tasklog("Cannot give the task its cgroup: %s", why);
		outcome_set(&r.o, TASK_EXCEPTION, "internal-error");
		pidfd_send_signal(t->init_pidfd, SIGKILL, NULL, 0);
	} else if (aborted) {
		tasklog("Task aborted: %s", abort_why);
		outcome_set(&r.o, abort_outcome.state, abort_outcome.reason);
		pidfd_send_signal(t->init_pidfd, SIGKILL, NULL, 0);
	}
	ipc_conn_init(&r.init, t->init_sock[0], &init_channel,
	    IPC_TO_SUPERVISOR);
	if (r.o.state == TASK_COMPLETED &&
	    ipc_send(&r.init, INIT_GO, 0, NULL, 0, -1) == -1)
		fatal("starting the task's init");
	tasklog("Task user: %s (uid %u); directory %s", t->user, uid,
	    t->taskdir_path);
	if (t->a.flags & TASK_F_DEBUG_NS)
		tasklog("This worker lets tasks use ptrace, process_vm_readv, "
		    "perf_event_open and namespaces "
		    "(sepworker.allowTaskPtraceAndNamespaces): the sandbox is "
		    "weakened");
	if (r.o.state == TASK_COMPLETED)
		tasklog("Limits: %" PRIu64 " processes, %s open files, memory "
		    "%s; %s", t->a.max_processes, limit_text(t->a.max_open_files,
		    lim1, sizeof(lim1)), limit_text(t->a.max_memory_bytes, lim2,
		    sizeof(lim2)), why);
	if (t->def.features.taskcluster_proxy)
		tasklog("Taskcluster proxy: TASKCLUSTER_PROXY_URL=http://"
		    "127.0.0.1:%u%s; requests through it are signed with the "
		    "task's credentials, restricted to its %zu scope%s",
		    t->a.proxy_port, (t->a.flags & TASK_F_NET_ISOLATED) ?
		    " (the task's only way out of its network namespace)" : "",
		    t->def.nscopes, t->def.nscopes == 1 ? "" : "s");
	tasklog("=== Task Starting ===");
	arm_backstop(&r);
	run_loop(&r);
	tasklog("=== Task Finished ===");
	tasklog("Task Duration: %.3fs", (double)(time_now_ms() - r.started_ms)
	    / 1000.0);
	finish(sup, &r.o);
}
