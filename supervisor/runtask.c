/*
 * `sepworker run-task TASK.json --out DIR`: one task, no Queue.  The task
 * runs through the same supervisor, children and sandbox as in worker
 * mode; its artifacts, its log and result.json are written to DIR.
 *
 * The supervisor never parses TASK.json: it hands the bytes to the
 * taskrunner in a sealed memfd and gets typed messages back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/chan_taskrunner.h"
#include "common/log.h"
#include "common/memfd.h"
#include "common/secmem.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "common/chan_keyholder.h"
#include "common/chan_proxyd.h"
#include "common/chan_taskproxy.h"
#include "common/edkey.h"
#include "supervisor/cot.h"
#include "supervisor/exitcodes.h"
#include "supervisor/keys.h"
#include "supervisor/outdir.h"
#include "supervisor/runtask.h"
#include "supervisor/supervisor.h"
#include "supervisor/leftovers.h"
#include "supervisor/taskuid.h"
#include "taskrunner/payload.h"

#define READY_TIMEOUT_MS	10000
/* After an abort, how long the taskrunner has to report. */
#define ABORT_GRACE_MS		10000
/* How long a task proxy has to start serving, and to stop. */
#define TASKPROXY_START_MS	10000
#define TASKPROXY_STOP_MS	2000

/* Taskcluster's longest-lived temporary credentials (reference §3.5). */
#define TEMP_CREDS_MAX_MS	(31LL * 24 * 3600 * 1000)

static void
new_slugid(char out[23])
{
	unsigned char b[16];

	randombytes_buf(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	b[0] &= 0x7f;			/* a "nice" slugid: no leading '-' */
	sodium_bin2base64(out, 23, b, sizeof(b),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The task file, unparsed, in a sealed memfd for the taskrunner. */
static int
task_file_memfd(const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd, mfd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > PAYLOAD_MAX_BYTES) {
		snprintf(err, errlen, "%s: not a regular file of at most %u "
		    "bytes", path, PAYLOAD_MAX_BYTES);
		close(fd);
		return -1;
	}
	buf = xmalloc(PAYLOAD_MAX_BYTES + 1);
	n = read_all(fd, buf, PAYLOAD_MAX_BYTES + 1);
	close(fd);
	if (n < 0 || (size_t)n > PAYLOAD_MAX_BYTES) {
		snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) :
		    "grew past the size limit while being read");
		free(buf);
		return -1;
	}
	mfd = memfd_sealed("task.json", buf, (size_t)n);
	free(buf);
	if (mfd == -1)
		snprintf(err, errlen, "sealing %s: %s", path, strerror(errno));
	return mfd;
}

/* tasksDir, made if missing: root's, searchable but not listable by the
 * task users, so no task can see another's directory name. */
static int
ensure_tasks_dir(const char *path, char *err, size_t errlen)
{
	char *copy = xstrdup(path), *p;
	int rc = 0;

	for (p = strchr(copy + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(copy, 0755) == -1 && errno != EEXIST)
			break;
		*p = '/';
	}
	if (mkdir(path, 0711) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "tasksDir %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(copy);
	return rc;
}

static void
put_str(struct ipc_writer *w, const char *s)
{
	size_t len = strlen(s);

	ipc_put_str(w, s, len > TASK_STRING_MAX ? TASK_STRING_MAX : len);
}

/* Why this worker cannot vouch for a task now; "" if it can. */
static void
cot_refusal(const struct sw_config *cfg, char *buf, size_t len)
{
	char why[512];

	buf[0] = '\0';
	if (*cfg->ed25519_signing_key_location == '\0')
		snprintf(buf, len, "this worker has no chain-of-trust signing "
		    "key (ed25519SigningKeyLocation is not set)");
	else if (cfg->allow_task_ptrace_ns)
		snprintf(buf, len, "this worker's sandbox is weakened "
		    "(sepworker.allowTaskPtraceAndNamespaces): it does not vouch "
		    "for tasks run in it");
	else if (secret_file_problem(cfg, cfg->ed25519_signing_key_location,
	    cfg->keyholder_uid, why, sizeof(why)) != NULL)
		snprintf(buf, len, "the signing key is not safe from tasks: "
		    "%s", why);
}

static int
send_assign(struct supervisor *s, struct task_run *run, int def_fd,
    const char *taskdir, const char *proxy_refusal)
{
	const struct sw_config *cfg = s->cfg;
	struct task_assign a = {
		.run_id = run->run_id,
		.task_uid = run->uid,
		.max_task_run_time = cfg->max_task_run_time,
		.proxy_port = cfg->taskcluster_proxy_port,
		.flags = (cfg->enable_chain_of_trust ? TASK_F_ENABLE_COT : 0) |
		    (cfg->enable_taskcluster_proxy ? TASK_F_ENABLE_PROXY : 0) |
		    (cfg->task_network == TASK_NET_ISOLATED ?
		    TASK_F_NET_ISOLATED : 0) |
		    (cfg->clean_up_task_dirs ? TASK_F_CLEAN_UP : 0) |
		    (cfg->allow_task_ptrace_ns ? TASK_F_DEBUG_NS : 0),
		.max_processes = cfg->task_max_processes,
		.max_memory_bytes = cfg->task_max_memory_bytes,
		.max_open_files = cfg->task_max_open_files,
		.max_file_size_bytes = cfg->task_max_file_size_bytes,
		.collect_secs = cfg->artifact_collection_secs,
		.log_max_bytes = cfg->task_log_max_bytes,
		.now_ms = time_now_ms(),
	};
	static uint8_t buf[sizeof(a) + TASK_ASSIGN_STRINGS *
	    (4 + TASK_STRING_MAX)];
	char refusal[1024];
	struct child *k = &s->kids[ROLE_TASKRUNNER];
	struct ipc_writer w;
	char host[256] = "localhost";

	/* Without a worker config, the task still says where it ran. */
	gethostname(host, sizeof(host) - 1);

	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_bytes(&w, &a, sizeof(a));
	put_str(&w, run->task_id);
	put_str(&w, cfg->provisioner_id);
	put_str(&w, *cfg->worker_type ? cfg->worker_type : "run-task");
	put_str(&w, cfg->worker_group);
	put_str(&w, *cfg->worker_id ? cfg->worker_id : host);
	put_str(&w, cfg->root_url);
	put_str(&w, taskdir);
	put_str(&w, cfg->task_read_only_paths);
	cot_refusal(cfg, refusal, sizeof(refusal));
	put_str(&w, refusal);
	put_str(&w, proxy_refusal);
	return w.overflow ? -1 : ipc_send(&k->conn, TR_TASK_ASSIGN,
	    k->conn.next_id++, w.buf, w.len, def_fd);
}

/* Serve events until done() or the supervisor stops; on a signal, ask the
 * taskrunner to abort the task and give it a while to report. */
static void
serve_until(struct supervisor *s, struct task_run *run,
    bool (*done)(const struct task_run *))
{
	uint64_t abort_deadline = 0;

	while (!done(run)) {
		struct child *k = &s->kids[ROLE_TASKRUNNER];

		if (s->stopping && s->stop_signal != 0 && !run->abort_sent &&
		    k->state == CHILD_TASK) {
			run->abort_sent = true;
			abort_deadline = now_ms() + ABORT_GRACE_MS;
			if (ipc_send(&k->conn, TR_TASK_ABORT, k->conn.next_id++,
			    NULL, 0, -1) == -1)
				break;
		}
		if (s->stopping && (s->stop_signal == 0 || !run->abort_sent ||
		    now_ms() > abort_deadline || k->state == CHILD_NONE))
			break;
		supervisor_poll(s, s->stopping ? 100 : -1);
	}
}

static bool
validated(const struct task_run *r)
{
	return r->valid || r->resolved;
}

static bool
resolved(const struct task_run *r)
{
	return r->resolved;
}

/* result.json's room before any record: the task's own fields, its
 * exit codes, and the smaller form write_result falls back to. */
#define RESULT_BASE_BYTES	(64u * 1024)

/* json over what result.json held, in the room kept for it: the
 * ftruncate up and down gives back what the room had left (on tmpfs a
 * truncate to the same size would keep it). */
static int
put_result(int fd, const char *json)
{
	size_t len = strlen(json);

	if (lseek(fd, 0, SEEK_SET) == -1 || write_all(fd, json, len) == -1 ||
	    ftruncate(fd, (off_t)len + 1) == -1 ||
	    ftruncate(fd, (off_t)len) == -1)
		return -1;
	return 0;
}

/*
 * result.json, made before the task runs with room kept for the records
 * it will hold (taskrun_reserve), and a provisional resolution in it, so
 * neither a full disk nor a worker that dies leaves none.  If even that
 * fails, write_result tries again at the end.
 */
static void
reserve_result(struct task_run *r)
{
	char err[512], *json;
	int fd;

	if ((fd = outdir_create(r->outdir_fd, "result.json", err,
	    sizeof(err))) == -1) {
		log_errorx("creating result.json: %s", err);
		return;
	}
	r->state = TASK_EXCEPTION;
	snprintf(r->reason, sizeof(r->reason), "internal-error");
	r->resolved_ms = time_now_ms();
	json = taskrun_result_json(r);
	r->result_fd = fd;
	if (put_result(fd, json) == -1 || taskrun_reserve(r,
	    RESULT_BASE_BYTES) == -1)
		log_warn("task %s: keeping room for result.json", r->task_id);
	free(json);
}

/* The whole result, or, if the disk took the room it was promised, the
 * resolution and one error saying what is not listed. */
static int
write_result(struct task_run *run)
{
	char err[512], *json, msg[256];
	struct artifact_err one = { "result.json",
	    "invalid-resource-on-worker", msg };
	struct task_run brief;
	int fd = run->result_fd, rc = 0;

	if (fd == -1 && (fd = run->result_fd = outdir_create(run->outdir_fd,
	    "result.json", err, sizeof(err))) == -1) {
		log_errorx("writing result.json: %s", err);
		return -1;
	}
	json = taskrun_result_json(run);
	if (put_result(fd, json) == -1) {
		log_warn("task %s: writing result.json in full", run->task_id);
		snprintf(msg, sizeof(msg), "no space left on device for all of "
		    "result.json: %zu artifacts and %zu artifact errors are not "
		    "listed (the task log names them)", run->narts, run->nerrs);
		brief = *run;
		brief.narts = 0;
		brief.errs = &one;
		brief.nerrs = 1;
		if (brief.state == TASK_COMPLETED) {
			brief.state = TASK_FAILED;
			snprintf(brief.reason, sizeof(brief.reason), "failed");
		}
		run->state = brief.state;
		free(json);
		json = taskrun_result_json(&brief);
		if (put_result(fd, json) == -1) {
			log_errorx("writing result.json: %s", strerror(errno));
			rc = -1;
		}
	}
	free(json);
	return rc;
}

/* Everything up to the task's first message: an exit status on failure. */
static int
prepare(const struct sw_config *cfg, const struct runtask_opts *o,
    struct task_run *run, int *def_fd, int *lease)
{
	char err[512];

	if ((run->outdir_fd = outdir_open(o->out_dir, err, sizeof(err))) ==
	    -1) {
		log_errorx("--out: %s", err);
		return EXIT_USAGE;
	}
	if ((*def_fd = task_file_memfd(o->task_file, err, sizeof(err))) ==
	    -1) {
		log_errorx("%s", err);
		return EXIT_USAGE;
	}
	if (o->task_id != NULL)
		snprintf(run->task_id, sizeof(run->task_id), "%s", o->task_id);
	else
		new_slugid(run->task_id);
	run->run_id = o->run_id;
	if (ensure_tasks_dir(cfg->tasks_dir, err, sizeof(err)) == -1) {
		log_errorx("%s", err);
		return EXIT_INTERNAL_ERROR;
	}
	if (taskuid_rundir(cfg, err, sizeof(err)) == -1) {
		log_errorx("%s", err);
		return EXIT_INTERNAL_ERROR;
	}
	/* Before anything runs: what a crashed run left must not meet
	 * this task. */
	leftovers_remove(cfg);
	if (taskuid_pick(cfg, &run->uid, lease) == -1) {
		if (errno == EAGAIN)
			log_errorx("every uid of the task range %u-%u is held "
			    "by a running worker or has a running process",
			    cfg->task_uid_first, cfg->task_uid_first +
			    cfg->task_uid_count - 1);
		else
			log_errorx("task uid lock files in %s: %s",
			    cfg->run_dir, strerror(errno));
		return EXIT_INTERNAL_ERROR;
	}
	return EXIT_OK;
}

/* Fail the task from the worker's side; the taskrunner logs why. */
static void
abort_task(struct supervisor *s, struct task_run *r, const char *why)
{
	struct child *k = &s->kids[ROLE_TASKRUNNER];
	uint8_t buf[4 + TASK_STRING_MAX];
	struct ipc_writer w;

	log_errorx("task %s: %s", r->task_id, why);
	ipc_writer_init(&w, buf, sizeof(buf));
	put_str(&w, why);
	r->abort_sent = true;
	if (k->state != CHILD_TASK || ipc_send(&k->conn, TR_TASK_ABORT,
	    k->conn.next_id++, w.buf, w.len, -1) == -1)
		taskrun_fail(r, "internal-error");
}

/*
 * When the credentials proxyd issues for the task expire: at the task's
 * deadline, or maxRunTime plus sepworker.proxyCredentialsMarginSeconds
 * from now (the task's clock starts after this, and its kill takes a
 * moment), whichever is first; never more than Taskcluster's 31 days.
 */
static int64_t
task_creds_expiry(const struct sw_config *cfg, const struct task_run *r)
{
	int64_t now = time_now_ms();
	int64_t expiry = now + ((int64_t)r->sum.max_run_time +
	    cfg->proxy_credentials_margin_seconds) * 1000;

	if (r->sum.deadline_ms < expiry)
		expiry = r->sum.deadline_ms;
	if (expiry > now + TEMP_CREDS_MAX_MS)
		expiry = now + TEMP_CREDS_MAX_MS;
	return expiry;
}

/* Tell proxyd what the task's credentials may do (its scopes, passed on
 * unread) and until when.  0, or -1 with why. */
static int
grant_task_creds(struct supervisor *s, struct task_run *r, char *why,
    size_t whylen)
{
	char reason[PX_REASON_MAX + 1], when[TIMEFMT_LEN];
	int64_t expiry = task_creds_expiry(s->cfg, r);
	uint8_t buf[8];
	struct ipc_writer w;

	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_u64(&w, (uint64_t)expiry);
	if (supervisor_proxyd_call(s, PX_TASK_GRANT, w.buf, w.len,
	    r->scopes_fd, TASKPROXY_START_MS, reason, sizeof(reason)) != 0) {
		snprintf(why, whylen, "proxyd did not take the task's scopes: "
		    "%s", reason);
		return -1;
	}
	time_format_ms(expiry, when);
	log_info("task %s: its proxy's credentials expire at %s at the "
	    "latest", r->task_id, when);
	return 0;
}

/*
 * The task's own proxy: proxyd exec'd afresh, with the listener, the
 * task's scopes (passed on unread, to it and to proxyd) and, over a
 * socketpair whose other end goes to proxyd, the task's credentials
 * (temporary ones proxyd issues for those scopes, when the config's are
 * permanent).  0 once it serves, or -1 with why.
 */
static int
start_task_proxy(struct supervisor *s, struct task_run *r, int listen_fd,
    char *why, size_t whylen)
{
	const struct sw_config *cfg = s->cfg;
	struct child *k = &s->kids[ROLE_TASKPROXY];
	bool host = cfg->task_network == TASK_NET_HOST;
	char run_id[16], uid[16], retry[16], reason[PX_REASON_MAX + 1];
	char *opts[] = { "--task-id", r->task_id, "--run-id", run_id,
	    "--root-url", cfg->root_url, "--retry-seconds", retry,
	    "--artifact-scope", "0", NULL, NULL, NULL, NULL, NULL };
	int nopts = 10;
	uint64_t deadline;
	int cp[2], rc = -1;

	/* Unset, the task proxy allows the rootURL's host alone. */
	if (cfg->proxy_allowed_hosts != NULL) {
		opts[nopts++] = "--allowed-hosts";
		opts[nopts++] = cfg->proxy_allowed_hosts;
	}
	if (host) {
		opts[nopts++] = "--allowed-uid";
		opts[nopts++] = uid;
	}

	snprintf(run_id, sizeof(run_id), "%u", r->run_id);
	snprintf(uid, sizeof(uid), "%u", r->uid);
	snprintf(retry, sizeof(retry), "%u", cfg->proxy_retry_seconds);
	r->proxy_started = true;
	if (r->scopes_fd < 0) {
		snprintf(why, whylen, "the taskrunner sent no scopes for it");
		return -1;
	}
	if (grant_task_creds(s, r, why, whylen) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cp) == -1) {
		snprintf(why, whylen, "socketpair: %s", strerror(errno));
		return -1;
	}
	if (supervisor_spawn_taskproxy(s, listen_fd, cp[1], opts) == -1) {
		snprintf(why, whylen, "it could not be started");
		goto out;
	}
	close(cp[1]);
	cp[1] = -1;
	if (supervisor_wait_ready(s, TASKPROXY_START_MS) == -1 ||
	    k->state != CHILD_READY) {
		snprintf(why, whylen, "it did not start: %s", r->proxy_died ?
		    r->proxy_end : "it did not become ready");
		goto out;
	}
	if (ipc_send(&k->conn, TP_SCOPES, k->conn.next_id++, NULL, 0,
	    r->scopes_fd) == -1) {
		snprintf(why, whylen, "it did not take its scopes");
		goto out;
	}
	close(r->scopes_fd);
	r->scopes_fd = -1;
	if (supervisor_proxyd_call(s, PX_FEED_TASKPROXY, NULL, 0, cp[0],
	    TASKPROXY_START_MS, reason, sizeof(reason)) != 0) {
		snprintf(why, whylen, "it did not get the task's credentials: "
		    "%s", reason);
		goto out;
	}
	deadline = now_ms() + TASKPROXY_START_MS;
	while (!s->taskproxy_serving && k->state == CHILD_READY &&
	    !s->stopping && now_ms() < deadline)
		supervisor_poll(s, 100);
	if (!s->taskproxy_serving) {
		snprintf(why, whylen, "it did not start serving: %s",
		    r->proxy_died ? r->proxy_end : "no word from it");
		goto out;
	}
	log_info("task %s: its proxy (pid %ld) serves on %s, as uid %u",
	    r->task_id, (long)k->pid, host ? "127.0.0.1" :
	    "127.0.0.1 of the task's network namespace", cfg->taskproxy_uid);
	rc = 0;
out:
	close(cp[0]);
	if (cp[1] != -1)
		close(cp[1]);
	return rc;
}

static bool
resolved_or_proxy_event(const struct task_run *r)
{
	return r->resolved || (r->proxy_listener_fd >= 0 &&
	    !r->proxy_started) || (r->proxy_died && !r->proxy_reported);
}

/* Serve the running task until it resolves, starting its proxy when
 * its listener arrives (isolated networking) and failing it if the
 * proxy dies under it. */
static void
serve_task(struct supervisor *s, struct task_run *r)
{
	char why[512], msg[640];

	for (;;) {
		serve_until(s, r, resolved_or_proxy_event);
		if (r->resolved || s->stopping)
			return;
		if (r->proxy_died && !r->proxy_reported) {
			r->proxy_reported = true;
			snprintf(msg, sizeof(msg), "the task's taskcluster proxy "
			    "died: %s", r->proxy_end);
			abort_task(s, r, msg);
		} else if (r->proxy_listener_fd >= 0 && !r->proxy_started) {
			int fd = r->proxy_listener_fd;

			r->proxy_listener_fd = -1;
			if (privop_check_task_listener(&s->task, fd, why,
			    sizeof(why)) == -1) {
				r->proxy_started = true;
				snprintf(msg, sizeof(msg), "the taskrunner handed "
				    "up a proxy listener that is not the task's: "
				    "%s", why);
				abort_task(s, r, msg);
			} else if (start_task_proxy(s, r, fd, why,
			    sizeof(why)) == -1) {
				snprintf(msg, sizeof(msg), "the taskcluster "
				    "proxy could not be started: %s", why);
				abort_task(s, r, msg);
			}
			close(fd);
		}
	}
}

/* Host networking: the proxy listens on the host's loopback, before the
 * task starts.  0, or -1 with why. */
static int
start_host_proxy(struct supervisor *s, struct task_run *r, char *why,
    size_t whylen)
{
	char err[256];
	int fd, rc;

	if (privop_listener(&s->task, s->cfg->taskcluster_proxy_port, &fd,
	    err, sizeof(err)) == -1) {
		r->proxy_started = true;
		snprintf(why, whylen, "%s", err);
		return -1;
	}
	rc = start_task_proxy(s, r, fd, why, whylen);
	close(fd);
	return rc;
}

/* Run the task through the taskrunner; false if it could not start. */
static bool
run(struct supervisor *s, struct task_run *r, int def_fd,
    const char *proxy_refusal)
{
	struct child *k = &s->kids[ROLE_TASKRUNNER];
	char err[512], msg[640], *taskdir;
	int logfd;

	logfd = outdir_create(r->outdir_fd, "public/logs/live_backing.log",
	    err, sizeof(err));
	if (logfd == -1) {
		log_errorx("%s", err);
		return false;
	}
	/* A taskId is 22 characters: this always fits. */
	if ((size_t)snprintf(s->task.taskdir, sizeof(s->task.taskdir),
	    "task_%.22s_%u", r->task_id, r->run_id) >= sizeof(s->task.taskdir))
		fatalx("task directory name too long");
	s->task.task_uid = r->uid;
	s->run = r;
	taskdir = xasprintf("%s/%s", s->cfg->tasks_dir, s->task.taskdir);
	r->log_fd = logfd;
	if (ipc_send(&k->conn, TR_TASK_LOG, k->conn.next_id++, NULL, 0,
	    logfd) == -1 || send_assign(s, r, def_fd, taskdir,
	    proxy_refusal) == -1) {
		log_errorx("cannot hand the task to the taskrunner");
		free(taskdir);
		return false;
	}
	k->state = CHILD_TASK;
	serve_until(s, r, validated);
	/* result.json lists one exit code per command. */
	if (r->valid)
		(void)taskrun_reserve(r, 16 * (size_t)r->sum.ncommands);
	if (r->valid && !r->resolved && !s->stopping &&
	    (r->sum.features & TASK_FEAT_PROXY) &&
	    s->cfg->task_network == TASK_NET_HOST &&
	    start_host_proxy(s, r, err, sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "the taskcluster proxy could not be "
		    "started: %s", err);
		abort_task(s, r, msg);
		serve_until(s, r, resolved);
	}
	if (r->valid && !r->resolved && !s->stopping) {
		r->started = true;
		r->started_ms = time_now_ms();
		if (ipc_send(&k->conn, TR_TASK_START, k->conn.next_id++, NULL,
		    0, -1) == -1)
			log_warn("starting the task");
		log_info("task %s started: uid %u, directory %s", r->task_id,
		    r->uid, taskdir);
		serve_task(s, r);
	}
	/* The proxy ends with its task: its port closes, its credentials go
	 * with it. */
	supervisor_stop_child(s, ROLE_TASKPROXY, TASKPROXY_STOP_MS);
	free(taskdir);
	return true;
}

/* certified.log: the backing log as it stands at the end of the task,
 * copied from our own fd of it and hashed as it is written. */
static int
certify_log(struct task_run *r, char *err, size_t errlen)
{
	struct copy_result res;
	char self[64];
	int in, out, rc;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", r->log_fd);
	if ((in = open(self, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "reopening the backing log: %s",
		    strerror(errno));
		return -1;
	}
	out = outdir_create(r->outdir_fd, "public/logs/certified.log", err,
	    errlen);
	rc = out == -1 ? -1 : copy_and_hash(in, out, &res, err, errlen);
	close(in);
	if (out != -1)
		close(out);
	if (rc == 0)
		taskrun_add_artifact(r, "public/logs/certified.log",
		    "text/plain; charset=utf-8", "gzip", r->sum.expires_ms,
		    res.bytes, res.sha256_hex);
	return rc;
}

static int
write_file(struct task_run *r, const char *name, const void *data,
    size_t len, const char *type, char *err, size_t errlen)
{
	unsigned char digest[32];
	char hex[65];
	int fd = outdir_create(r->outdir_fd, name, err, errlen);

	if (fd == -1)
		return -1;
	if (write_all(fd, data, len) == -1) {
		snprintf(err, errlen, "writing %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	crypto_hash_sha256(digest, data, len);
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	taskrun_add_artifact(r, name, type, "gzip", r->sum.expires_ms, len,
	    hex);
	return 0;
}

/*
 * Chain of trust: certified.log, the document over every artifact
 * written and it, the keyholder's signature over those exact bytes
 * (checked against the public key before anything is published), and
 * both files next to the artifacts.
 */
static int
chain_of_trust(struct supervisor *s, struct task_run *r,
    const unsigned char pk[32], char *err, size_t errlen)
{
	const struct sw_config *cfg = s->cfg;
	struct cot_artifact *arts;
	struct kh_answer ans;
	char *task, *doc, host[256] = "localhost";
	size_t task_len, doc_len;
	uint8_t ann[4 + 4 + KH_TASK_ID_MAX];
	struct ipc_writer w;
	int fd, rc = -1;

	if (certify_log(r, err, errlen) == -1)
		return -1;
	if (memfd_check_sealed(r->def_fd, 8u << 20, &task_len, err, errlen) ==
	    -1)
		return -1;
	task = xmalloc(task_len + 1);
	if (memfd_read(r->def_fd, task, task_len) == -1)
		fatalx("reading the task definition back");
	arts = xcalloc(r->narts, sizeof(*arts));
	for (size_t i = 0; i < r->narts; i++)
		arts[i] = (struct cot_artifact){ r->arts[i].name,
		    r->arts[i].sha256 };
	gethostname(host, sizeof(host) - 1);
	doc = cot_build(arts, r->narts, task, task_len, &(struct cot_facts){
	    .task_id = r->task_id, .run_id = r->run_id,
	    .worker_group = cfg->worker_group,
	    .worker_id = *cfg->worker_id ? cfg->worker_id : host,
	    .public_ip = cfg->public_ip, .private_ip = cfg->private_ip,
	    .instance_id = cfg->instance_id,
	    .instance_type = cfg->instance_type, .region = cfg->region },
	    &doc_len);
	free(task);
	free(arts);
	ipc_writer_init(&w, ann, sizeof(ann));
	ipc_put_u32(&w, r->run_id);
	ipc_put_str(&w, r->task_id, strlen(r->task_id));
	if ((fd = memfd_sealed("chain-of-trust.json", doc, doc_len)) == -1 ||
	    supervisor_keyholder_call(s, KH_ANNOUNCE, w.buf, w.len, -1, 5000,
	    &ans) != 0) {
		snprintf(err, errlen, "the keyholder cannot be reached");
		goto out;
	}
	switch (supervisor_keyholder_call(s, KH_SIGN_REQ, NULL, 0, fd, 30000,
	    &ans)) {
	case 1:
		snprintf(err, errlen, "the keyholder refused to sign: %s",
		    ans.reason);
		goto out;
	case -1:
		snprintf(err, errlen, "the keyholder did not sign");
		goto out;
	}
	if (crypto_sign_verify_detached(ans.data, (unsigned char *)doc,
	    doc_len, pk) != 0) {
		snprintf(err, errlen, "the keyholder's signature does not "
		    "verify with its public key");
		goto out;
	}
	if (write_file(r, "public/chain-of-trust.json", doc, doc_len,
	    "text/plain; charset=utf-8", err, errlen) == -1 ||
	    write_file(r, "public/chain-of-trust.json.sig", ans.data, 64,
	    "application/octet-stream", err, errlen) == -1)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(doc);
	return rc;
}

static void
remove_task_dir(const struct supervisor *s)
{
	int fd = open(s->cfg->tasks_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* The init emptied it as the task user; we only remove the empty
	 * directory, never walk what a task left. */
	if (fd == -1)
		return;
	if (unlinkat(fd, s->task.taskdir, AT_REMOVEDIR) == -1 &&
	    errno != ENOENT)
		log_warnx("task directory %s/%s left behind: %s",
		    s->cfg->tasks_dir, s->task.taskdir, strerror(errno));
	close(fd);
}

/* The keyholder's public key, if it has a key; false if it has none. */
static bool
public_key(struct supervisor *s, unsigned char pk[32])
{
	struct kh_answer ans;
	char b64[EDKEY_B64_LEN + 1];

	if (*s->cfg->ed25519_signing_key_location == '\0')
		return false;
	if (supervisor_keyholder_call(s, KH_PUBKEY_REQ, NULL, 0, -1, 5000,
	    &ans) != 0 || ans.len != 32)
		return false;
	memcpy(pk, ans.data, 32);
	edkey_encode(pk, b64);
	log_info("chain-of-trust public key: %s", b64);
	return true;
}

/* The taskrunner exits with its task; wait for that (briefly). */
static void
await_taskrunner(struct supervisor *s)
{
	uint64_t deadline = now_ms() + 10000;

	while (s->kids[ROLE_TASKRUNNER].state != CHILD_NONE &&
	    now_ms() < deadline)
		supervisor_poll(s, 100);
}

/*
 * run-task's proxy signs with the config's credentials: hand them to
 * proxyd now and wipe them here, whatever happens.  refusal says why a
 * task cannot have the proxy ("" if it can).
 */
static void
hand_over_credentials(struct supervisor *s, struct sw_config *cfg,
    char *refusal, size_t len)
{
	const char *cert = cfg->certificate ? cfg->certificate : "";
	char missing[64] = "", why[PX_REASON_MAX + 1];
	size_t cap = 3 * 4 + PX_CLIENT_ID_MAX + PX_TOKEN_MAX +
	    PX_CERTIFICATE_MAX;
	struct ipc_writer w;
	uint8_t *buf;

	refusal[0] = '\0';
	if (!cfg->enable_taskcluster_proxy)
		goto out;
	if (*cfg->root_url == '\0')
		strcat(missing, ", rootURL");
	if (*cfg->client_id == '\0')
		strcat(missing, ", clientId");
	if (cfg->access_token == NULL)
		strcat(missing, ", accessToken");
	if (missing[0] != '\0') {
		snprintf(refusal, len, "this worker has no credentials to "
		    "sign the task's requests with: the --config file lacks %s "
		    "(run-task's proxy uses its rootURL, clientId, accessToken "
		    "and, for temporary credentials, certificate)", missing + 2);
		goto out;
	}
	if (strlen(cfg->client_id) > PX_CLIENT_ID_MAX ||
	    strlen(cfg->access_token) > PX_TOKEN_MAX ||
	    strlen(cert) > PX_CERTIFICATE_MAX) {
		snprintf(refusal, len, "the config's credentials are longer "
		    "than proxyd takes (clientId %u, accessToken %u, "
		    "certificate %u bytes)", PX_CLIENT_ID_MAX, PX_TOKEN_MAX,
		    PX_CERTIFICATE_MAX);
		goto out;
	}
	/* The message holds the token: locked memory, wiped when freed. */
	buf = secmem_alloc(cap);
	ipc_writer_init(&w, buf, cap);
	put_str(&w, cfg->client_id);
	ipc_put_str(&w, cfg->access_token, strlen(cfg->access_token));
	ipc_put_str(&w, cert, strlen(cert));
	if (supervisor_proxyd_call(s, PX_TASK_CREDS, w.buf, w.len, -1, 5000,
	    why, sizeof(why)) != 0)
		snprintf(refusal, len, "proxyd did not take the config's "
		    "credentials: %s", why);
	secmem_free(buf);
out:
	config_wipe_secrets(cfg);
}

int
runtask_main(struct sw_config *cfg, const struct runtask_opts *o)
{
	struct task_run r = { .outdir_fd = -1, .def_fd = -1, .log_fd = -1,
	    .scopes_fd = -1, .proxy_listener_fd = -1, .result_fd = -1,
	    .parent = { .fd = -1 },
	    .lim = { .max_bytes = cfg->artifact_max_total_bytes,
	    .max_count = cfg->artifact_max_count,
	    .log_max = cfg->task_log_max_bytes,
	    .collect_secs = cfg->artifact_collection_secs } };
	unsigned char pk[32];
	struct supervisor s;
	char err[512], b64[EDKEY_B64_LEN + 1] = "", proxy_refusal[512];
	bool have_key, signed_cot = false;
	int def_fd = -1, lease = -1, rc;

	/* A key a task could reach is no key to vouch with: refuse to start
	 * (generic-worker's exit 82), saying how to fix it. */
	if (*cfg->ed25519_signing_key_location != '\0' &&
	    secret_file_problem(cfg, cfg->ed25519_signing_key_location,
	    cfg->keyholder_uid, err, sizeof(err)) != NULL) {
		log_errorx("ed25519SigningKeyLocation: %s", err);
		return EXIT_MISSING_KEY;
	}
	if ((rc = prepare(cfg, o, &r, &def_fd, &lease)) != EXIT_OK)
		goto out;
	if (supervisor_init(&s, cfg, err, sizeof(err)) == -1) {
		log_errorx("%s", err);
		rc = EXIT_INTERNAL_ERROR;
		goto out;
	}
	for (int i = 0; i < NSTANDING; i++)
		if (supervisor_spawn(&s, (enum role)i) == -1)
			s.stopping = true;
	if (s.stopping || supervisor_wait_ready(&s, READY_TIMEOUT_MS) == -1) {
		supervisor_shutdown(&s);
		rc = s.exit_code == EXIT_MISSING_KEY ? EXIT_MISSING_KEY :
		    EXIT_INTERNAL_ERROR;
		goto out;
	}
	have_key = public_key(&s, pk);
	if (have_key)
		edkey_encode(pk, b64);
	hand_over_credentials(&s, cfg, proxy_refusal, sizeof(proxy_refusal));
	log_info("task %s: run %u", r.task_id, r.run_id);
	reserve_result(&r);
	if (!run(&s, &r, def_fd, proxy_refusal))
		taskrun_fail(&r, "internal-error");
	if (!r.resolved)
		taskrun_fail(&r, s.stop_signal ? "worker-shutdown" :
		    "internal-error");
	await_taskrunner(&s);
	taskrun_close_collection(&r);
	if (r.valid && r.started && (r.sum.features & TASK_FEAT_COT) &&
	    !s.stopping) {
		if (have_key && chain_of_trust(&s, &r, pk, err,
		    sizeof(err)) == 0)
			signed_cot = true;
		else {
			log_errorx("task %s: no chain of trust: %s", r.task_id,
			    have_key ? err : "the keyholder has no key");
			taskrun_override(&r, "internal-error");
		}
	}
	supervisor_shutdown(&s);
	cgroup_task_remove(&s.task.cg);
	if (cfg->clean_up_task_dirs && s.task.taskdir[0] != '\0')
		remove_task_dir(&s);
	log_info("task %s resolved: %s/%s", r.task_id,
	    task_state_name(r.state), r.reason);
	if (write_result(&r) == -1)
		rc = EXIT_INTERNAL_ERROR;
	else {
		printf("task %s: %s/%s\noutput: %s (result.json, "
		    "public/logs/live_backing.log, %zu artifact%s)\n",
		    r.task_id, task_state_name(r.state), r.reason, o->out_dir,
		    r.narts, r.narts == 1 ? "" : "s");
		if (signed_cot)
			printf("chain of trust: public/chain-of-trust.json, "
			    "signed with public key %s\n", b64);
		rc = r.state == TASK_COMPLETED ? EXIT_OK :
		    r.state == TASK_FAILED ? EXIT_TASK_FAILED :
		    EXIT_TASK_EXCEPTION;
	}
out:
	/* Last: the task's uid, cgroup and directory are gone. */
	if (lease >= 0)
		close(lease);
	if (def_fd >= 0)
		close(def_fd);
	if (r.outdir_fd >= 0)
		close(r.outdir_fd);
	taskrun_free(&r);
	return rc;
}
