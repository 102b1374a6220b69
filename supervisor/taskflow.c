/*
 * One task's way through the supervisor, shared by `run-task` and the
 * worker (`run`): handing the task to the taskrunner, its proxy, serving
 * it until it resolves, the chain of trust over what it produced.  What
 * differs between the two (where artifacts go, who resolves the task) is
 * the caller's; the worker's own steps are in worker.c.
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

#include "common/chan_keyholder.h"
#include "common/chan_proxyd.h"
#include "common/chan_taskproxy.h"
#include "common/chan_taskrunner.h"
#include "common/edkey.h"
#include "common/log.h"
#include "common/memfd.h"
#include "common/secmem.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "supervisor/cot.h"
#include "supervisor/keys.h"
#include "supervisor/outdir.h"
#include "supervisor/supervisor.h"
#include "supervisor/taskflow.h"

/* After an abort, how long the taskrunner has to report. */
#define ABORT_GRACE_MS		10000

/* Taskcluster's longest-lived temporary credentials (reference §3.5). */
#define TEMP_CREDS_MAX_MS	(31LL * 24 * 3600 * 1000)

/* tasksDir, made if missing: root's, searchable but not listable by the
 * task users, so no task can see another's directory name. */
int
tf_ensure_tasks_dir(const char *path, char *err, size_t errlen)
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

void
tf_put_str(struct ipc_writer *w, const char *s)
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
	static uint8_t buf[TASK_ASSIGN_MAX];
	char refusal[1024], *metadata = config_worker_type_metadata(cfg);
	struct child *k = &s->kids[ROLE_TASKRUNNER];
	struct ipc_writer w;
	char host[256] = "localhost";

	/* Without a worker config, the task still says where it ran. */
	gethostname(host, sizeof(host) - 1);

	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_bytes(&w, &a, sizeof(a));
	tf_put_str(&w, run->task_id);
	tf_put_str(&w, cfg->provisioner_id);
	tf_put_str(&w, *cfg->worker_type ? cfg->worker_type : "run-task");
	tf_put_str(&w, cfg->worker_group);
	tf_put_str(&w, *cfg->worker_id ? cfg->worker_id : host);
	tf_put_str(&w, cfg->root_url);
	tf_put_str(&w, taskdir);
	tf_put_str(&w, cfg->task_read_only_paths);
	cot_refusal(cfg, refusal, sizeof(refusal));
	tf_put_str(&w, refusal);
	tf_put_str(&w, proxy_refusal);
	ipc_put_str(&w, metadata, strlen(metadata));
	free(metadata);
	return w.overflow ? -1 : ipc_send(&k->conn, TR_TASK_ASSIGN,
	    k->conn.next_id++, w.buf, w.len, def_fd);
}

/*
 * Worker mode: a child the task depended on was lost (s->task_fault says
 * how).  The task is aborted with that reason, which the taskrunner
 * writes in its log, and given a while to report; a taskrunner that is
 * gone or does not report leaves the worker to end it.  True once the
 * task is resolved.
 */
static bool
end_for_fault(struct supervisor *s, struct task_run *run, uint64_t *deadline)
{
	struct child *k = &s->kids[ROLE_TASKRUNNER];

	if (!run->abort_sent && k->state == CHILD_TASK)
		tf_abort_task(s, run, s->task_fault);
	if (*deadline == 0)
		*deadline = now_ms() + ABORT_GRACE_MS;
	if (!run->resolved && (k->state != CHILD_TASK ||
	    now_ms() > *deadline)) {
		log_errorx("task %s: ended by the worker: %s", run->task_id,
		    s->task_fault);
		taskrun_fail(run, "internal-error");
	}
	return run->resolved;
}


/* The task is to be aborted as worker-shutdown: run-task stopped by a
 * signal, or the worker terminating without finishing its task. */
static bool
shutdown_abort(const struct supervisor *s)
{
	return (s->stopping && s->stop_signal != 0) || s->term_abort;
}

/* Serve events until done() or the supervisor stops; on a signal (or the
 * worker's termination without finishing), ask the taskrunner to abort
 * the task and give it a while to report.  A terminating worker keeps
 * its children: only the wait is bounded. */
void
tf_serve_until(struct supervisor *s, struct task_run *run,
    bool (*done)(const struct task_run *))
{
	uint64_t abort_deadline = 0, fault_deadline = 0;

	while (!done(run)) {
		struct child *k = &s->kids[ROLE_TASKRUNNER];

		if (s->task_fault[0] != '\0' && !s->stopping &&
		    end_for_fault(s, run, &fault_deadline))
			break;
		if (shutdown_abort(s) && !run->abort_sent &&
		    k->state == CHILD_TASK) {
			run->abort_sent = true;
			abort_deadline = now_ms() + ABORT_GRACE_MS;
			if (ipc_send(&k->conn, TR_TASK_ABORT, k->conn.next_id++,
			    NULL, 0, -1) == -1)
				break;
		}
		if (s->term_abort && run->abort_sent && abort_deadline == 0)
			abort_deadline = now_ms() + ABORT_GRACE_MS;
		if (s->stopping && (s->stop_signal == 0 || !run->abort_sent ||
		    now_ms() > abort_deadline || k->state == CHILD_NONE))
			break;
		if (!s->stopping && abort_deadline != 0 &&
		    (now_ms() > abort_deadline || k->state == CHILD_NONE))
			break;
		supervisor_poll(s, s->stopping || abort_deadline != 0 ||
		    s->task_fault[0] != '\0' ? 100 : -1);
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

/* Fail the task from the worker's side; the taskrunner logs why. */
void
tf_abort_task(struct supervisor *s, struct task_run *r, const char *why)
{
	struct child *k = &s->kids[ROLE_TASKRUNNER];
	uint8_t buf[4 + TASK_STRING_MAX];
	struct ipc_writer w;

	log_errorx("task %s: %s", r->task_id, why);
	ipc_writer_init(&w, buf, sizeof(buf));
	tf_put_str(&w, why);
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
 * permanent; in worker mode the claim's).  In worker mode it is also the
 * task's agent, and listen_fd may be -1: a task that did not ask for the
 * proxy still gets an agent, with no listener.  0 once it serves, or -1
 * with why.
 */
int
tf_start_task_proxy(struct supervisor *s, struct task_run *r, int listen_fd,
    char *why, size_t whylen)
{
	const struct sw_config *cfg = s->cfg;
	struct child *k = &s->kids[ROLE_TASKPROXY];
	bool host = cfg->task_network == TASK_NET_HOST;
	bool listens = listen_fd >= 0;
	char run_id[16], uid[16], retry[16], reason[PX_REASON_MAX + 1];
	char until[24];
	char *opts[32] = { "--task-id", r->task_id, "--run-id", run_id,
	    "--root-url", cfg->root_url, "--retry-seconds", retry };
	int nopts = 8;
	uint64_t deadline;
	int cp[2], rc = -1;

	if (s->worker_mode) {
		opts[nopts++] = "--agent";
		opts[nopts++] = "1";
		opts[nopts++] = "--spool-fd";
		opts[nopts++] = "7";
		if (!listens) {
			opts[nopts++] = "--no-listener";
			opts[nopts++] = "1";
		}
		/* It keeps the claim (its reclaims) for as long as it lives. */
		if (r->taken_until_ms > 0) {
			snprintf(until, sizeof(until), "%lld",
			    (long long)r->taken_until_ms);
			opts[nopts++] = "--taken-until";
			opts[nopts++] = until;
		}
		/* Names the worker uploads itself, which the task may not
		 * create through its proxy. */
		if (r->valid) {
			opts[nopts++] = "--live-log";
			opts[nopts++] = r->live_log;
			opts[nopts++] = "--backing-log";
			opts[nopts++] = r->backing_log;
		}
	} else {
		opts[nopts++] = "--artifact-scope";
		opts[nopts++] = "0";
	}
	if (*cfg->proxy_limits != '\0') {
		opts[nopts++] = "--limits";
		opts[nopts++] = cfg->proxy_limits;
	}
	/* Unset, the task proxy allows the rootURL's host alone. */
	if (cfg->proxy_allowed_hosts != NULL) {
		opts[nopts++] = "--allowed-hosts";
		opts[nopts++] = cfg->proxy_allowed_hosts;
	}
	if (host && listens) {
		opts[nopts++] = "--allowed-uid";
		opts[nopts++] = uid;
	}

	snprintf(run_id, sizeof(run_id), "%u", r->run_id);
	snprintf(uid, sizeof(uid), "%u", r->uid);
	snprintf(retry, sizeof(retry), "%u", cfg->proxy_retry_seconds);
	r->proxy_started = true;
	if (listens && r->scopes_fd < 0) {
		snprintf(why, whylen, "the taskrunner sent no scopes for it");
		return -1;
	}
	/* The claim's credentials are temporary already: proxyd passes
	 * them on as they are. */
	if (!s->worker_mode && grant_task_creds(s, r, why, whylen) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cp) == -1) {
		snprintf(why, whylen, "socketpair: %s", strerror(errno));
		return -1;
	}
	if (supervisor_spawn_taskproxy(s, listens ? listen_fd : s->devnull,
	    cp[1], s->worker_mode ? s->agent_spool_fd : -1, opts) == -1) {
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
	if (listens && ipc_send(&k->conn, TP_SCOPES, k->conn.next_id++, NULL,
	    0, r->scopes_fd) == -1) {
		snprintf(why, whylen, "it did not take its scopes");
		goto out;
	}
	if (listens) {
		close(r->scopes_fd);
		r->scopes_fd = -1;
	}
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
	if (listens)
		log_info("task %s: its proxy (pid %ld) serves on %s, as uid %u",
		    r->task_id, (long)k->pid, host ? "127.0.0.1" :
		    "127.0.0.1 of the task's network namespace",
		    cfg->taskproxy_uid);
	else
		log_info("task %s: its agent (pid %ld) holds its credentials, "
		    "as uid %u", r->task_id, (long)k->pid, cfg->taskproxy_uid);
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
	    !r->proxy_started) || (r->proxy_died && !r->proxy_reported) ||
	    (r->claim_lost && !r->claim_lost_acted);
}

/* Serve the running task until it resolves, starting its proxy when
 * its listener arrives (isolated networking) and failing it if the
 * proxy dies under it. */
static void
serve_task(struct supervisor *s, struct task_run *r)
{
	char why[512], msg[640];

	for (;;) {
		tf_serve_until(s, r, resolved_or_proxy_event);
		if (r->resolved || s->stopping)
			return;
		if (r->claim_lost && !r->claim_lost_acted) {
			/* The Queue has let the run go: nothing the task does
			 * from now on counts. */
			r->claim_lost_acted = true;
			tf_abort_task(s, r, r->claim_lost_why);
		} else if (r->proxy_died && !r->proxy_reported) {
			r->proxy_reported = true;
			snprintf(msg, sizeof(msg), "the task's taskcluster proxy "
			    "died: %s", r->proxy_end);
			tf_abort_task(s, r, msg);
		} else if (r->proxy_listener_fd >= 0 && !r->proxy_started) {
			int fd = r->proxy_listener_fd;

			r->proxy_listener_fd = -1;
			if (privop_check_task_listener(&s->task, fd, why,
			    sizeof(why)) == -1) {
				r->proxy_started = true;
				snprintf(msg, sizeof(msg), "the taskrunner handed "
				    "up a proxy listener that is not the task's: "
				    "%s", why);
				tf_abort_task(s, r, msg);
			} else if (tf_start_task_proxy(s, r, fd, why,
			    sizeof(why)) == -1) {
				snprintf(msg, sizeof(msg), "the taskcluster "
				    "proxy could not be started: %s", why);
				tf_abort_task(s, r, msg);
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
	rc = tf_start_task_proxy(s, r, fd, why, whylen);
	close(fd);
	return rc;
}

/* Run the task through the taskrunner; false if it could not start. */
bool
tf_run(struct supervisor *s, struct task_run *r, int def_fd,
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
	tf_serve_until(s, r, validated);
	/* result.json lists one exit code per command. */
	if (r->valid)
		(void)taskrun_reserve(r, 16 * (size_t)r->sum.ncommands);
	if (r->valid && !r->resolved && !s->stopping &&
	    (r->sum.features & TASK_FEAT_PROXY) &&
	    s->cfg->task_network == TASK_NET_HOST &&
	    start_host_proxy(s, r, err, sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "the taskcluster proxy could not be "
		    "started: %s", err);
		tf_abort_task(s, r, msg);
		tf_serve_until(s, r, resolved);
	}
	/* Worker mode: a task that did not ask for the proxy still has an
	 * agent to act for it once it is over. */
	if (s->worker_mode && r->valid && !r->resolved && !s->stopping &&
	    !(r->sum.features & TASK_FEAT_PROXY) &&
	    tf_start_task_proxy(s, r, -1, err, sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "the task's agent could not be "
		    "started: %s", err);
		tf_abort_task(s, r, msg);
		tf_serve_until(s, r, resolved);
	}
	/* A claim lost before the task starts: it never does. */
	if (r->claim_lost && r->valid && !r->resolved && !s->stopping) {
		r->claim_lost_acted = true;
		tf_abort_task(s, r, r->claim_lost_why);
		tf_serve_until(s, r, resolved);
	}
	if (r->valid && !r->resolved && !s->stopping && !s->term_abort) {
		r->started = true;
		r->started_ms = time_now_ms();
		if (ipc_send(&k->conn, TR_TASK_START, k->conn.next_id++, NULL,
		    0, -1) == -1)
			log_warn("starting the task");
		log_info("task %s started: uid %u, directory %s", r->task_id,
		    r->uid, taskdir);
		serve_task(s, r);
	} else if (!r->resolved && !s->stopping)
		/* The worker terminates: the task is aborted before it
		 * starts. */
		tf_serve_until(s, r, resolved);
	/* The proxy ends with its task: its port closes, its credentials go
	 * with it.  In worker mode it acts for the task still (worker.c). */
	if (!s->worker_mode)
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
int
tf_chain_of_trust(struct supervisor *s, struct task_run *r,
    const unsigned char pk[32], char *err, size_t errlen)
{
	const struct sw_config *cfg = s->cfg;
	struct cot_artifact *arts;
	struct cot_extras x;
	struct kh_answer ans;
	char *task, *doc, host[256] = "localhost";
	const char *def;
	size_t task_len, def_len, doc_len, narts = 0;
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
	def = task;
	def_len = task_len;
	if (r->cot_extra != NULL && cot_extras_check(r->cot_extra,
	    r->cot_extra_len, &def, &def_len, &x, err, errlen) == -1) {
		free(task);
		return -1;
	}
	/* Every artifact written or uploaded: one whose upload failed has
	 * no hash, and is no artifact of the task's. */
	arts = xcalloc(r->narts, sizeof(*arts));
	for (size_t i = 0; i < r->narts; i++)
		if (r->arts[i].sha256[0] != '\0')
			arts[narts++] = (struct cot_artifact){ r->arts[i].name,
			    r->arts[i].sha256 };
	gethostname(host, sizeof(host) - 1);
	doc = cot_build(arts, narts, def, def_len, &(struct cot_facts){
	    .task_id = r->task_id, .run_id = r->run_id,
	    .worker_group = cfg->worker_group,
	    .worker_id = *cfg->worker_id ? cfg->worker_id : host,
	    .public_ip = cfg->public_ip, .private_ip = cfg->private_ip,
	    .instance_id = cfg->instance_id,
	    .instance_type = cfg->instance_type, .region = cfg->region },
	    r->cot_extra != NULL ? &x : NULL, &doc_len);
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

void
tf_remove_task_dir(const struct supervisor *s)
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
bool
tf_public_key(struct supervisor *s, unsigned char pk[32])
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
void
tf_await_taskrunner(struct supervisor *s)
{
	uint64_t deadline = now_ms() + 10000;

	while (s->kids[ROLE_TASKRUNNER].state != CHILD_NONE &&
	    now_ms() < deadline)
		supervisor_poll(s, 100);
}

int
tf_send_config_creds(struct supervisor *s, uint32_t type, char *why,
    size_t whylen)
{
	const struct sw_config *cfg = s->cfg;
	const char *cert = cfg->certificate ? cfg->certificate : "";
	size_t cap = 3 * 4 + PX_CLIENT_ID_MAX + PX_TOKEN_MAX +
	    PX_CERTIFICATE_MAX;
	char reason[PX_REASON_MAX + 1];
	struct ipc_writer w;
	uint8_t *buf;
	int rc = 0;

	if (strlen(cfg->client_id) > PX_CLIENT_ID_MAX ||
	    strlen(cfg->access_token) > PX_TOKEN_MAX ||
	    strlen(cert) > PX_CERTIFICATE_MAX) {
		snprintf(why, whylen, "longer than proxyd takes (clientId %u, "
		    "accessToken %u, certificate %u bytes)", PX_CLIENT_ID_MAX,
		    PX_TOKEN_MAX, PX_CERTIFICATE_MAX);
		return -1;
	}
	/* The message holds the token: locked memory, wiped when freed. */
	buf = secmem_alloc(cap);
	ipc_writer_init(&w, buf, cap);
	ipc_put_str(&w, cfg->client_id, strlen(cfg->client_id));
	ipc_put_str(&w, cfg->access_token, strlen(cfg->access_token));
	ipc_put_str(&w, cert, strlen(cert));
	if (supervisor_proxyd_call(s, type, w.buf, w.len, -1, 5000, reason,
	    sizeof(reason)) != 0) {
		snprintf(why, whylen, "proxyd did not take them: %s", reason);
		rc = -1;
	}
	secmem_free(buf);
	return rc;
}
