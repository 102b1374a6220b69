/*
 * `sepworker run --config FILE`: the worker.  It claims tasks from the
 * Queue through proxyd (which alone holds the worker's credentials and
 * parses the Queue's answers), runs each as run-task does, and has the
 * task's agent -- its task proxy, holding the claim's credentials --
 * upload what the task produced, the chain of trust over it and the
 * logs, then resolve it (reference/worker-mode.md §2, §4, §5).  The
 * supervisor speaks no HTTP: it passes the agent typed requests and file
 * descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/chan_proxyd.h"
#include "common/chan_taskproxy.h"
#include "common/chan_taskrunner.h"
#include "common/edkey.h"
#include "common/log.h"
#include "common/rmtree.h"
#include "common/slugid.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "supervisor/agentq.h"
#include "supervisor/cgroup.h"
#include "supervisor/exitcodes.h"
#include "supervisor/keys.h"
#include "supervisor/leftovers.h"
#include "supervisor/outdir.h"
#include "supervisor/runtask.h"
#include "supervisor/taskcount.h"
#include "supervisor/taskflow.h"
#include "supervisor/taskuid.h"
#include "supervisor/worker.h"
#include "supervisor/wrproto.h"

/* Consecutive claimWork calls start at least this far apart (§2.6). */
#define CLAIM_INTERVAL_MS	5000
/* proxyd's claimWork: the Queue's 20 s long poll, retries, slack. */
#define CLAIM_TIMEOUT_MS	180000
/* proxyd's shouldWorkerTerminate: its retries, slack. */
#define WM_TIMEOUT_MS		90000
/* "No task claimed" at most this often. */
#define IDLE_LOG_MS		60000
/* How long the agent has for everything it uploads for one task. */
#define AGENT_TIMEOUT_MS	(3600u * 1000)
/* The logs the worker uploads (the payload's logs.* are not honoured
 * yet: generic-worker's defaults). */
#define BACKING_LOG		"public/logs/live_backing.log"
#define LIVE_LOG		"public/logs/live.log"
#define CERTIFIED_LOG		"public/logs/certified.log"
#define LOG_TYPE		"text/plain; charset=utf-8"
/* A lost child is restarted after RESTART_FIRST_MS, the wait doubling
 * up to RESTART_MAX_MS for each restart in a row; one that ran
 * RESTART_HEALTHY_MS before it was lost starts the count over.  After
 * RESTART_LIMIT restarts in a row the worker stops (exit 69): with the
 * waits, a child lost again and again for some four minutes. */
#define RESTART_FIRST_MS	1000
#define RESTART_MAX_MS		60000
#define RESTART_HEALTHY_MS	(10u * 60 * 1000)
#define RESTART_LIMIT		8
/* How long a lost taskrunner's task processes get to die. */
#define TASK_KILL_WAIT_MS	5000

struct worker {
	struct supervisor	 s;
	struct sw_config	*cfg;
	unsigned char		 pk[32];
	bool			 have_key;
	uint64_t		 resolved;	/* tasks-resolved-count.txt */
	int			 tasks_fd;	/* <workDir>/runs */
	struct {
		unsigned	 count;		/* restarts in a row */
		uint64_t	 started_ms;
	}			 restarts[NSTANDING];
	bool			 with_runner;	/* --with-worker-runner */
};

/* What proxyd said of a claim: the summary, never the credentials. */
struct claim {
	char		task_id[PX_SLUGID_LEN + 1];
	char		task_group_id[PX_SLUGID_LEN + 1];
	uint32_t	run_id;
	int64_t		taken_until_ms;
	int64_t		expires_ms;	/* the task's, for its logs */
};

/* --- start-up --- */

/* dir and its missing parents, root's; dir itself mode 0711 (the
 * default tasksDir lies below it), writable by root alone. */
static int
make_work_dir(const char *dir, char *err, size_t errlen)
{
	char *copy = xstrdup(dir), *p;
	struct stat st;

	for (p = strchr(copy + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		(void)mkdir(copy, 0755);
		*p = '/';
	}
	free(copy);
	if (mkdir(dir, 0711) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "sepworker.workDir %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		snprintf(err, errlen, "sepworker.workDir %s: must be a "
		    "directory of the worker's own that nobody else may "
		    "write to", dir);
		return -1;
	}
	return 0;
}

/* <workDir>/runs (mode 0700), emptied: what a worker that died left
 * there is of no use now (the Queue lets its claims expire). */
static int
open_tasks_dir(struct worker *w, char *err, size_t errlen)
{
	char *path = xasprintf("%s/runs", w->cfg->work_dir);
	int rc = -1;

	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if ((w->tasks_fd = open(path, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (!rmtree_contents(w->tasks_fd))
		snprintf(err, errlen, "%s: what an earlier run left cannot be "
		    "removed", path);
	else
		rc = 0;
	free(path);
	return rc;
}

/* The worker's credentials go to proxyd and are wiped here. */
static int
hand_over_worker_credentials(struct worker *w, char *err, size_t errlen)
{
	char why[PX_REASON_MAX + 64];
	int rc;

	if ((rc = tf_send_config_creds(&w->s, PX_WORKER_CREDS, why,
	    sizeof(why))) == -1)
		snprintf(err, errlen, "the worker's credentials: %s", why);
	config_wipe_secrets(w->cfg);
	return rc;
}

static int
spawn_proxyd(struct worker *w)
{
	struct sw_config *cfg = w->cfg;
	char *opts[] = { "--worker", "--root-url", cfg->root_url,
	    "--provisioner-id", cfg->provisioner_id, "--worker-type",
	    cfg->worker_type, "--worker-group", cfg->worker_group,
	    "--worker-id", cfg->worker_id, NULL };

	return supervisor_spawn_opts(&w->s, ROLE_PROXYD, opts);
}

static int
start_children(struct worker *w, char *err, size_t errlen)
{
	struct sw_config *cfg = w->cfg;
	char b64[EDKEY_B64_LEN + 1];

	if (supervisor_init(&w->s, cfg, err, errlen) == -1)
		return EXIT_INTERNAL_ERROR;
	w->s.worker_mode = true;
	if (supervisor_spawn(&w->s, ROLE_KEYHOLDER) == -1 ||
	    spawn_proxyd(w) == -1 ||
	    supervisor_wait_ready(&w->s, READY_TIMEOUT_MS) == -1) {
		snprintf(err, errlen, "the worker's children did not start");
		return w->s.exit_code == EXIT_MISSING_KEY ? EXIT_MISSING_KEY :
		    EXIT_INTERNAL_ERROR;
	}
	if ((w->have_key = tf_public_key(&w->s, w->pk)))
		edkey_encode(w->pk, b64);
	if (hand_over_worker_credentials(w, err, errlen) == -1)
		return EXIT_INTERNAL_ERROR;
	w->restarts[ROLE_KEYHOLDER].started_ms = now_ms();
	w->restarts[ROLE_PROXYD].started_ms = now_ms();
	w->s.recover_children = true;
	return EXIT_OK;
}

/* --- recovery from a lost child --- */

/* Wait, serving events, until ms from now, a stop or a termination. */
static void
pause_ms(struct supervisor *s, uint64_t until)
{
	while (!s->stopping && !s->term_requested && now_ms() < until)
		supervisor_poll(s, (int)(until - now_ms()));
}

/*
 * A restarted proxyd needs the worker's credentials, which were wiped
 * here once handed over: they are read again from the config file
 * (root's, 0600, checked as at start).  Credentials worker-runner sent
 * since start (new-credentials) were held by the proxyd that was lost:
 * until it sends new ones, the file's are used.
 */
static int
reload_credentials(struct worker *w, char *err, size_t errlen)
{
	const char *path = w->cfg->config_path;
	struct sw_config fresh;
	char why[512];
	char *swap;

	if (path == NULL) {
		snprintf(err, errlen, "the worker has no config file to read "
		    "its credentials from again");
		return -1;
	}
	config_defaults(&fresh);
	if (config_load_file(path, &fresh, why, sizeof(why)) != CONFIG_OK ||
	    ((fresh.access_token != NULL || fresh.certificate != NULL) &&
	    secret_file_problem(w->cfg, path, 0, why, sizeof(why)) != NULL)) {
		snprintf(err, errlen, "re-reading the worker's credentials "
		    "from %s: %.300s", path, why);
		config_free(&fresh);
		return -1;
	}
	swap = w->cfg->client_id;
	w->cfg->client_id = fresh.client_id;
	fresh.client_id = swap;
	w->cfg->access_token = fresh.access_token;
	w->cfg->certificate = fresh.certificate;
	fresh.access_token = fresh.certificate = NULL;
	config_free(&fresh);
	return hand_over_worker_credentials(w, err, errlen);
}

/* Start a lost child again, as at start.  0 once it serves. */
static int
start_again(struct worker *w, enum role role, char *err, size_t errlen)
{
	struct supervisor *s = &w->s;
	unsigned char pk[32];

	if ((role == ROLE_PROXYD ? spawn_proxyd(w) :
	    supervisor_spawn(s, role)) == -1) {
		snprintf(err, errlen, "it could not be started");
		return -1;
	}
	if (supervisor_wait_ready(s, READY_TIMEOUT_MS) == -1 ||
	    s->kids[role].state != CHILD_READY) {
		snprintf(err, errlen, "it did not start: %s", s->lost[role] ?
		    s->lost_why[role] : "it did not become ready");
		return -1;
	}
	if (role == ROLE_PROXYD)
		return reload_credentials(w, err, errlen);
	if (role == ROLE_KEYHOLDER && w->have_key) {
		if (!tf_public_key(s, pk)) {
			snprintf(err, errlen, "it did not give its public key");
			return -1;
		}
		if (memcmp(pk, w->pk, sizeof(pk)) != 0) {
			log_warnx("the restarted keyholder's public key is not "
			    "the one it had: its key file changed; chains of "
			    "trust are signed with the new key from now on");
			memcpy(w->pk, pk, sizeof(pk));
		}
	}
	return 0;
}

static void
stop_worker(struct supervisor *s, int exit_code)
{
	if (!s->stopping)
		s->exit_code = exit_code;
	s->stopping = true;
}

/* Restart a lost child with back-off.  0 once it serves; -1 if the
 * worker stops (asked to, or the child cannot be kept running). */
static int
restart_child(struct worker *w, enum role role)
{
	struct supervisor *s = &w->s;
	const char *name = s->kids[role].name;
	char err[512];
	uint64_t delay;

	while (!s->stopping) {
		if (s->lost_ms[role] - w->restarts[role].started_ms >=
		    RESTART_HEALTHY_MS)
			w->restarts[role].count = 0;
		if (w->restarts[role].count >= RESTART_LIMIT) {
			log_errorx("the %s was lost again after %u restarts in "
			    "a row (%s): stopping sepworker", name,
			    RESTART_LIMIT, s->lost_why[role]);
			stop_worker(s, EXIT_INTERNAL_ERROR);
			return -1;
		}
		delay = (uint64_t)RESTART_FIRST_MS << w->restarts[role].count;
		if (delay > RESTART_MAX_MS)
			delay = RESTART_MAX_MS;
		log_warnx("restarting the %s in %llu ms (restart %u in a row, "
		    "at most %u)", name, (unsigned long long)delay,
		    w->restarts[role].count + 1, RESTART_LIMIT);
		pause_ms(s, now_ms() + delay);
		if (s->stopping)
			break;
		w->restarts[role].count++;
		w->restarts[role].started_ms = now_ms();
		s->lost[role] = false;
		if (start_again(w, role, err, sizeof(err)) == 0) {
			log_info("%s restarted (pid %ld)", name,
			    (long)s->kids[role].pid);
			return 0;
		}
		if (s->stopping)
			break;
		log_errorx("restarting the %s failed: %s", name, err);
		if (s->kids[role].state != CHILD_NONE)
			supervisor_stop_child(s, role, TASKPROXY_STOP_MS);
		if (!s->lost[role]) {
			s->lost[role] = true;
			s->lost_ms[role] = now_ms();
			snprintf(s->lost_why[role], sizeof(s->lost_why[role]),
			    "%s failed to restart: %.200s", name, err);
		}
	}
	return -1;
}

/* Before a claim: every lost child running again.  -1 if the worker
 * stops instead. */
static int
recover_children(struct worker *w)
{
	struct supervisor *s = &w->s;

	/* The taskrunner starts afresh with each task anyway. */
	s->lost[ROLE_TASKRUNNER] = false;
	for (int i = 0; i < NSTANDING; i++)
		if (s->lost[i]) {
			if (restart_child(w, (enum role)i) == -1)
				return -1;
			i = -1;		/* another may have been lost since */
		}
	s->task_fault[0] = '\0';
	return 0;
}

/* A lost taskrunner leaves its task's processes: killed, through the
 * task's cgroups and its uid, before the task is resolved. */
static void
kill_task_processes(struct worker *w, struct task_run *r)
{
	struct task_cgroup *cg = &w->s.task.cg;
	unsigned n, killed = 0, left = 0;

	for (size_t i = 0; i < cg->ndirs; i++) {
		if (cgroup_remove_leftover(cg->dirs[i], TASK_KILL_WAIT_MS,
		    &n) == -1)
			log_warn("task %s: cgroup %s", r->task_id,
			    cg->dirs[i]);
		killed += n;
	}
	taskuid_kill_all(r->uid, TASK_KILL_WAIT_MS, &n, &left);
	killed += n;
	log_info("task %s: killed %u process%s its taskrunner left", r->task_id,
	    killed, killed == 1 ? "" : "es");
	if (left > 0)
		log_errorx("task %s: %u process%s of task uid %u still alive "
		    "after %u ms", r->task_id, left, left == 1 ? "" : "es",
		    r->uid, TASK_KILL_WAIT_MS);
}

/*
 * A task during which a child of the worker was lost is an
 * exception/internal-error (worker-shutdown if the worker is going away
 * for a signal), with which child and how in its log.  A lost keyholder
 * is never papered over: the task gets no chain of trust (finish_task).
 */
static void
end_lost_task(struct worker *w, struct task_run *r)
{
	struct supervisor *s = &w->s;
	bool any = false;

	for (int i = 0; i < NSTANDING; i++)
		if (s->lost[i]) {
			taskrun_log(r, "The worker's %s during the task: the "
			    "task is ended%s", s->lost_why[i], i ==
			    ROLE_KEYHOLDER ? ", with no chain of trust" : "");
			any = true;
		}
	if (!any)
		return;
	if (s->lost[ROLE_TASKRUNNER])
		kill_task_processes(w, r);
	if (r->state != TASK_EXCEPTION ||
	    (strcmp(r->reason, "worker-shutdown") != 0 &&
	    strcmp(r->reason, "internal-error") != 0))
		taskrun_override(r, "internal-error");
	else if (!s->lost[ROLE_TASKRUNNER])
		return;		/* the taskrunner logged it when told */
	taskrun_log(r, "Resolution: exception/%s", r->reason);
}

/* --- one task --- */

/* The agent's hook for each artifact the taskrunner hands up. */
static void
upload_artifact(void *arg, struct task_run *r, size_t art, int fd)
{
	struct agentq *q = arg;
	const struct artifact_rec *a = &r->arts[art];
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 10);

	if (copy == -1) {
		taskrun_add_error(r, a->name, "invalid-resource-on-worker",
		    "the worker has no file descriptor left for it");
		return;
	}
	agentq_upload(q, copy, a->name, a->content_type, a->content_encoding,
	    a->expires_ms, q->s->cfg->create_object_artifacts ?
	    TP_STORE_OBJECT : TP_STORE_S3, (ssize_t)art, NULL);
}

/* The task's directory of the worker's files (its logs, the chain of
 * trust, the agent's spool), made afresh. */
static int
task_work_dir(struct worker *w, struct task_run *r, char *err, size_t errlen)
{
	char *path = xasprintf("%s/runs/%s-%u", w->cfg->work_dir,
	    r->task_id, r->run_id);
	int fd = -1;

	if ((r->outdir_fd = outdir_open(path, err, errlen)) == -1)
		goto out;
	if (mkdirat(r->outdir_fd, "spool", 0700) == -1 ||
	    fchownat(r->outdir_fd, "spool", w->cfg->taskproxy_uid,
	    w->cfg->taskproxy_uid, AT_SYMLINK_NOFOLLOW) == -1 ||
	    (fd = openat(r->outdir_fd, "spool", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s/spool: %s", path, strerror(errno));
		goto out;
	}
	w->s.agent_spool_fd = fd;
out:
	free(path);
	return fd == -1 ? -1 : 0;
}

static void
remove_task_work_dir(struct worker *w, const struct task_run *r)
{
	char name[sizeof(r->task_id) + 16];
	int fd;

	if (w->s.agent_spool_fd >= 0) {
		close(w->s.agent_spool_fd);
		w->s.agent_spool_fd = -1;
	}
	snprintf(name, sizeof(name), "%s-%u", r->task_id, r->run_id);
	fd = openat(w->tasks_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return;
	if (!rmtree_contents(fd) || unlinkat(w->tasks_fd, name,
	    AT_REMOVEDIR) == -1)
		log_warnx("task %s: its work directory %s/runs/%s is left "
		    "behind", r->task_id, w->cfg->work_dir, name);
	close(fd);
}

/* The agent, started now if the task never got its proxy (it could not
 * even be handed over, or its payload was malformed). */
static bool
ensure_agent(struct worker *w, struct task_run *r)
{
	char why[512];

	if (w->s.kids[ROLE_TASKPROXY].state == CHILD_READY &&
	    w->s.taskproxy_serving)
		return true;
	if (w->s.kids[ROLE_TASKPROXY].state != CHILD_NONE)
		supervisor_stop_child(&w->s, ROLE_TASKPROXY,
		    TASKPROXY_STOP_MS);
	if (tf_start_task_proxy(&w->s, r, -1, why, sizeof(why)) == 0)
		return true;
	log_errorx("task %s: its agent cannot be started (%s): it cannot be "
	    "resolved, and the Queue will see its claim expire", r->task_id,
	    why);
	return false;
}

/* A file the worker wrote in the task's work directory (at path),
 * uploaded as name. */
static void
upload_file_as(struct agentq *q, struct task_run *r, const char *path,
    const char *name, const char *type, int64_t expires_ms,
    const char *sha256)
{
	int fd = openat(r->outdir_fd, path, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);

	if (fd == -1) {
		log_warn("task %s: %s", r->task_id, path);
		q->failed = true;
		return;
	}
	agentq_upload(q, fd, name, type, "gzip", expires_ms, TP_STORE_S3, -1,
	    sha256);
}

static void
upload_own(struct agentq *q, struct task_run *r, const char *name,
    const char *type, int64_t expires_ms, const char *sha256)
{
	upload_file_as(q, r, name, name, type, expires_ms, sha256);
}

/*
 * The logs, as generic-worker's live-log and backing-log features end:
 * the live log (when the worker offers it and the task wants it) is a
 * link to the backing log, made only if the backing log is uploaded; a
 * task that switched its backing log off gets neither.  A malformed
 * task has both, under their default names.
 */
static void
upload_logs(struct worker *w, struct agentq *q, struct task_run *r,
    int64_t expires_ms)
{
	uint32_t feat = r->valid ? r->sum.features :
	    TASK_FEAT_LIVE_LOG | TASK_FEAT_BACKING_LOG;
	const char *live = r->valid ? r->live_log : LIVE_LOG;
	const char *backing = r->valid ? r->backing_log : BACKING_LOG;

	if (!(feat & TASK_FEAT_BACKING_LOG)) {
		log_info("task %s: no backing log (features.backingLog is "
		    "false)", r->task_id);
		return;
	}
	if (w->cfg->enable_live_log && (feat & TASK_FEAT_LIVE_LOG))
		agentq_link(q, live, backing, LOG_TYPE, expires_ms);
	upload_file_as(q, r, BACKING_LOG, backing, LOG_TYPE, expires_ms,
	    NULL);
}

static const char *
record_sha(const struct task_run *r, const char *name)
{
	for (size_t i = 0; i < r->narts; i++)
		if (strcmp(r->arts[i].name, name) == 0)
			return r->arts[i].sha256;
	return NULL;
}

/* generic-worker's resolution after the uploads (§4.2, §5): the task's
 * own failure stands; a task that completed but whose artifacts could
 * not all be uploaded is an exception. */
static void
judge_uploads(struct task_run *r, const struct agentq *q)
{
	if (!q->conflict && !q->failed)
		return;
	taskrun_log(r, "Uploading artifacts failed: %s", q->first_failure);
	if (r->state != TASK_COMPLETED)
		return;
	taskrun_override(r, q->conflict ? "malformed-payload" :
	    "resource-unavailable");
	taskrun_log(r, "Resolution: exception/%s", r->reason);
}

static void
cot_files(struct worker *w, struct task_run *r, struct agentq *q,
    int64_t expires_ms)
{
	char err[512];

	/* Never papered over: a keyholder lost during the task signs
	 * nothing for it, even once it is back. */
	if (w->s.lost[ROLE_KEYHOLDER]) {
		log_errorx("task %s: no chain of trust: the keyholder was lost "
		    "during the task", r->task_id);
		taskrun_log(r, "Chain of trust: cannot be provided: the "
		    "worker's keyholder was lost during the task");
		taskrun_override(r, "internal-error");
		return;
	}
	if (!w->have_key || tf_chain_of_trust(&w->s, r, w->pk, err,
	    sizeof(err)) == -1) {
		log_errorx("task %s: no chain of trust: %s", r->task_id,
		    w->have_key ? err : "the keyholder has no key");
		taskrun_log(r, "Chain of trust: cannot be provided: %s",
		    w->have_key ? err : "the keyholder has no key");
		taskrun_override(r, "internal-error");
		return;
	}
	upload_own(q, r, CERTIFIED_LOG, LOG_TYPE, expires_ms,
	    record_sha(r, CERTIFIED_LOG));
	upload_own(q, r, "public/chain-of-trust.json", LOG_TYPE, expires_ms,
	    record_sha(r, "public/chain-of-trust.json"));
	upload_own(q, r, "public/chain-of-trust.json.sig",
	    "application/octet-stream", expires_ms,
	    record_sha(r, "public/chain-of-trust.json.sig"));
}

/*
 * The claim is lost (reference §3: "workers should abort the task and
 * forget about the given runId"): what is still queued is dropped, the
 * logs alone go up while the claim's credentials are good (the Queue
 * takes artifacts of an exception run for 25 minutes), and nothing is
 * reported.
 */
static void
finish_lost_claim(struct worker *w, struct task_run *r, struct agentq *q,
    int64_t expires, bool logs_queued)
{
	char when[TIMEFMT_LEN];
	int64_t left = r->taken_until_ms - time_now_ms();

	/* With the logs queued already, only they are left to go. */
	if (logs_queued)
		q->after_loss = true;
	else
		agentq_drop_queued(q);
	time_format_ms(r->taken_until_ms, when);
	taskrun_log(r, "The worker no longer holds this task: %s. Only its "
	    "logs are uploaded; no resolution is reported.", r->claim_lost_why);
	if (left <= 0) {
		log_errorx("task %s: its claim expired at %s: nothing more can "
		    "be uploaded, and it is not resolved", r->task_id, when);
		return;
	}
	if (!logs_queued)
		upload_logs(w, q, r, expires);
	if (!agentq_drain(q, left < AGENT_TIMEOUT_MS ? (unsigned)left :
	    AGENT_TIMEOUT_MS) || q->failed)
		log_errorx("task %s: its logs could not all be uploaded before "
		    "its claim ran out at %s", r->task_id, when);
	log_errorx("task %s: NOT RESOLVED: the worker no longer holds it (%s)",
	    r->task_id, r->claim_lost_why);
}

/*
 * After the task: its error artifacts, the chain of trust, the live
 * log's link, the backing log, then the resolution -- generic-worker's
 * order (§4.1), every upload before the report.  A claim lost on the way
 * ends it at once (finish_lost_claim).
 */
static void
finish_task(struct worker *w, struct task_run *r, struct agentq *q,
    const struct claim *c)
{
	int64_t expires = r->valid ? r->sum.expires_ms : c->expires_ms;

	if (!ensure_agent(w, r))
		return;
	(void)agentq_drain(q, AGENT_TIMEOUT_MS);
	for (size_t i = 0; i < r->nerrs && !r->claim_lost; i++)
		agentq_error(q, r->errs[i].name, r->errs[i].reason,
		    r->errs[i].message, expires);
	(void)agentq_drain(q, AGENT_TIMEOUT_MS);
	judge_uploads(r, q);
	if (r->valid && r->started && (r->sum.features & TASK_FEAT_COT) &&
	    !r->claim_lost) {
		cot_files(w, r, q, expires);
		(void)agentq_drain(q, AGENT_TIMEOUT_MS);
		judge_uploads(r, q);
	}
	if (r->claim_lost) {
		finish_lost_claim(w, r, q, expires, false);
		return;
	}
	log_info("task %s resolved: %s/%s", r->task_id,
	    task_state_name(r->state), r->reason);
	upload_logs(w, q, r, expires);
	if (!agentq_drain(q, AGENT_TIMEOUT_MS) && !r->claim_lost)
		log_errorx("task %s: its agent did not finish its uploads",
		    r->task_id);
	if (r->claim_lost) {
		finish_lost_claim(w, r, q, expires, true);
		return;
	}
	agentq_resolve(q, r->state, r->state == TASK_EXCEPTION ? r->reason :
	    "");
	if (!agentq_drain(q, AGENT_TIMEOUT_MS) || q->resolve_failed)
		log_errorx("task %s: ITS RESOLUTION (%s/%s) WAS NOT REPORTED: "
		    "%s", r->task_id, task_state_name(r->state), r->reason,
		    q->resolve_answered ? q->first_failure :
		    "the agent did not answer");
}

static int
start_taskrunner(struct supervisor *s, char *err, size_t errlen)
{
	if (supervisor_spawn(s, ROLE_TASKRUNNER) == -1 ||
	    supervisor_wait_ready(s, READY_TIMEOUT_MS) == -1 ||
	    s->kids[ROLE_TASKRUNNER].state != CHILD_READY) {
		snprintf(err, errlen, "the taskrunner did not start");
		return -1;
	}
	return 0;
}

/* A task uid and its lease: every uid leased (EAGAIN), or runDir not
 * usable (read-only, say), each said as it is. */
static int
pick_uid(const struct sw_config *cfg, struct task_run *r, int *lease,
    char *err, size_t errlen)
{
	if (taskuid_pick(cfg, &r->uid, lease) == 0)
		return 0;
	if (errno == EAGAIN)
		snprintf(err, errlen, "no task uid is free");
	else
		snprintf(err, errlen, "leasing a task uid in %s: %s",
		    cfg->run_dir, strerror(errno));
	return -1;
}

static void
work_task(struct worker *w, const struct claim *c, int def_fd)
{
	struct sw_config *cfg = w->cfg;
	struct supervisor *s = &w->s;
	struct task_run r = { .outdir_fd = -1, .def_fd = -1, .log_fd = -1,
	    .scopes_fd = -1, .proxy_listener_fd = -1, .result_fd = -1,
	    .parent = { .fd = -1 },
	    .lim = { .max_bytes = cfg->artifact_max_total_bytes,
	    .max_count = cfg->artifact_max_count,
	    .log_max = cfg->task_log_max_bytes,
	    .collect_secs = cfg->artifact_collection_secs } };
	char err[512], when[TIMEFMT_LEN];
	struct agentq q;
	int lease = -1;

	snprintf(r.task_id, sizeof(r.task_id), "%s", c->task_id);
	r.run_id = c->run_id;
	r.taken_until_ms = c->taken_until_ms;
	time_format_ms(c->taken_until_ms, when);
	log_info("task %s: run %u claimed, taken until %s", r.task_id,
	    r.run_id, when);
	agentq_init(&q, s, &r);
	r.upload = upload_artifact;
	r.upload_arg = &q;
	if (task_work_dir(w, &r, err, sizeof(err)) == -1 ||
	    pick_uid(cfg, &r, &lease, err, sizeof(err)) == -1 ||
	    start_taskrunner(s, err, sizeof(err)) == -1) {
		/* generic-worker: a task that cannot be set up is an
		 * internal-error at once, with no logs. */
		log_errorx("task %s: cannot be set up: %s", r.task_id, err);
		taskrun_fail(&r, "internal-error");
		if (r.outdir_fd >= 0 && ensure_agent(w, &r)) {
			agentq_resolve(&q, TASK_EXCEPTION, "internal-error");
			(void)agentq_drain(&q, AGENT_TIMEOUT_MS);
		}
		goto out;
	}
	if (!tf_run(s, &r, def_fd, ""))
		taskrun_fail(&r, "internal-error");
	if (!r.resolved)
		taskrun_fail(&r, s->stop_signal || s->term_abort ?
		    "worker-shutdown" : "internal-error");
	tf_await_taskrunner(s);
	end_lost_task(w, &r);
	taskrun_close_collection(&r);
	finish_task(w, &r, &q, c);
out:
	agentq_free(&q);
	/* Credentials proxyd still holds for a task that never got its
	 * agent would refuse the next claim: wipe them. */
	if (!s->lost[ROLE_PROXYD] && supervisor_proxyd_call(s, PX_FORGET_TASK,
	    NULL, 0, -1, 5000, err, sizeof(err)) != 0)
		log_warnx("task %s: proxyd did not forget its credentials: %s",
		    r.task_id, err);
	supervisor_stop_child(s, ROLE_TASKPROXY, TASKPROXY_STOP_MS);
	if (s->kids[ROLE_TASKRUNNER].state != CHILD_NONE)
		supervisor_stop_child(s, ROLE_TASKRUNNER, TASKPROXY_STOP_MS);
	cgroup_task_remove(&s->task.cg);
	if (cfg->clean_up_task_dirs && s->task.taskdir[0] != '\0')
		tf_remove_task_dir(s);
	/* What the last task was granted is not the next one's. */
	s->task = (struct privop_task){ .cfg = cfg };
	s->run = NULL;
	remove_task_work_dir(w, &r);
	if (lease >= 0)
		close(lease);
	if (r.outdir_fd >= 0)
		close(r.outdir_fd);
	taskrun_free(&r);
}

/* --- the claim loop --- */

/* proxyd's CLAIMED, checked: 0, or -1 if it makes no sense. */
static int
take_claim(const struct px_answer *a, struct claim *c)
{
	struct ipc_msg m = { .payload = (uint8_t *)a->data,
	    .payload_len = a->len };
	struct ipc_reader rd;
	struct px_claim pc;
	const uint8_t *fixed;
	const char *id, *group;
	size_t idlen, grouplen;

	ipc_reader_init(&rd, &m);
	if ((fixed = ipc_get_bytes(&rd, sizeof(pc))) == NULL)
		return -1;
	memcpy(&pc, fixed, sizeof(pc));
	id = ipc_get_str(&rd, PX_SLUGID_LEN, &idlen);
	group = ipc_get_str(&rd, PX_SLUGID_LEN, &grouplen);
	if (id == NULL || group == NULL || !ipc_get_end(&rd))
		return -1;
	memcpy(c->task_id, id, idlen);
	c->task_id[idlen] = '\0';
	memcpy(c->task_group_id, group, grouplen);
	c->task_group_id[grouplen] = '\0';
	c->run_id = pc.run_id;
	c->taken_until_ms = pc.taken_until_ms;
	c->expires_ms = pc.expires_ms;
	return slugid_valid(c->task_id) ? 0 : -1;
}

/*
 * A claim in flight when termination was asked for came back with a
 * task: it is aborted at once (exception/worker-shutdown, so the Queue
 * hands it to another worker now), never left to expire.  The worker
 * exits after it, as it would have.
 */
static void
claimed_while_terminating(struct supervisor *s, const struct claim *c)
{
	if (!s->term_requested || s->term_abort)
		return;
	log_info("task %s was claimed after termination was asked for: it is "
	    "aborted at once (exception/worker-shutdown)", c->task_id);
	s->term_abort = true;
}

/* One claimWork through proxyd: 1 and the task worked, 0 no task, -1
 * proxyd is gone. */
static int
claim_and_work(struct worker *w, uint64_t *last_idle_log)
{
	struct px_answer a;
	struct claim c;

	if (supervisor_proxyd_request(&w->s, PX_CLAIM_WORK, NULL, 0, -1,
	    CLAIM_TIMEOUT_MS, &a) == -1)
		return -1;
	if (a.type == PX_NO_TASK || a.type == PX_FAILED) {
		if (a.reason[0] != '\0')
			log_warnx("Could not claim work. %s", a.reason);
		else if (now_ms() - *last_idle_log >= IDLE_LOG_MS) {
			log_info("No task claimed");
			*last_idle_log = now_ms();
		}
		return 0;
	}
	if (a.type != PX_CLAIMED || take_claim(&a, &c) == -1) {
		char why[PX_REASON_MAX + 1];

		log_errorx("proxyd's claim makes no sense; forgetting it (the "
		    "Queue will see it expire)");
		(void)supervisor_proxyd_call(&w->s, PX_FORGET_TASK, NULL, 0, -1,
		    5000, why, sizeof(why));
		if (a.fd >= 0)
			close(a.fd);
		return 0;
	}
	/* A child lost while the claim was made comes back before the
	 * task runs: the task had nothing to do with it. */
	(void)recover_children(w);
	claimed_while_terminating(&w->s, &c);
	work_task(w, &c, a.fd);
	close(a.fd);
	return 1;
}

static void
count_task(struct worker *w)
{
	char err[512];

	w->resolved++;
	if (taskcount_write(w->cfg->work_dir, w->resolved, err,
	    sizeof(err)) == -1)
		log_errorx("%s", err);
}

/*
 * With worker-runner, worker-manager's shouldWorkerTerminate, through
 * proxyd (reference §2 step 2); a call that fails counts as "no", as in
 * generic-worker.  Without worker-runner, never asked.
 */
static bool
wm_says_terminate(struct worker *w)
{
	struct px_answer a;

	if (!w->with_runner || w->s.stopping)
		return false;
	if (supervisor_proxyd_request(&w->s, PX_SHOULD_TERMINATE, NULL, 0, -1,
	    WM_TIMEOUT_MS, &a) == -1)
		return false;
	if (a.type == PX_FAILED)
		log_warnx("worker-manager's shouldWorkerTerminate failed "
		    "(taken as no): %s", a.reason);
	if (a.type != PX_TERMINATE)
		return false;
	log_info("worker-manager says this worker should terminate%s%s",
	    a.reason[0] != '\0' ? ": " : "", a.reason);
	return true;
}

/* The idle timeout passed: true to exit 68.  Under worker-runner only
 * if worker-manager says so; otherwise the idle clock starts again
 * (TestIdleTimeoutChecksWorkerManager). */
static bool
idle_exit(struct worker *w, uint64_t *last_active)
{
	if (!w->with_runner) {
		log_info("idle for more than %u s (idleTimeoutSecs): exiting",
		    w->cfg->idle_timeout_secs);
		return true;
	}
	if (wm_says_terminate(w)) {
		log_info("idle for more than %u s (idleTimeoutSecs) and "
		    "worker-manager agrees: exiting",
		    w->cfg->idle_timeout_secs);
		return true;
	}
	log_info("idle for more than %u s (idleTimeoutSecs), but "
	    "worker-manager does not say terminate: carrying on",
	    w->cfg->idle_timeout_secs);
	*last_active = now_ms();
	return false;
}

static int
claim_loop(struct worker *w)
{
	const struct sw_config *cfg = w->cfg;
	struct supervisor *s = &w->s;
	uint64_t last_active = now_ms(), last_claim = 0, last_idle_log = 0;
	int rc;

	/* generic-worker's order (reference §2 steps 1-3, 9), but a
	 * termination asked for comes first: a task aborted for it is
	 * counted, and the worker still says why it stopped. */
	for (;;) {
		if (s->stopping || s->term_requested)
			break;
		if (cfg->number_of_tasks_to_run > 0 &&
		    w->resolved >= cfg->number_of_tasks_to_run) {
			log_info("%llu tasks resolved, numberOfTasksToRun is "
			    "%u: exiting", (unsigned long long)w->resolved,
			    cfg->number_of_tasks_to_run);
			return wm_says_terminate(w) ? EXIT_WM_SHUTDOWN :
			    EXIT_OK;
		}
		if (wm_says_terminate(w))
			return EXIT_WM_SHUTDOWN;
		if (cfg->idle_timeout_secs > 0 && now_ms() - last_active >
		    (uint64_t)cfg->idle_timeout_secs * 1000 &&
		    idle_exit(w, &last_active))
			return EXIT_IDLE_TIMEOUT;
		pause_ms(s, last_claim + CLAIM_INTERVAL_MS);
		if (s->stopping || s->term_requested ||
		    recover_children(w) == -1)
			break;
		last_claim = now_ms();
		if ((rc = claim_and_work(w, &last_idle_log)) == -1 &&
		    s->lost[ROLE_PROXYD])
			continue;	/* restarted before the next claim */
		if (rc == -1) {
			log_errorx("proxyd did not answer claimWork");
			if (!s->stopping)
				s->exit_code = EXIT_INTERNAL_ERROR;
			s->stopping = true;
			break;
		}
		if (rc == 1) {
			count_task(w);
			last_active = now_ms();
		}
	}
	if (!s->stopping)
		return s->term_exit;
	return s->exit_code != EXIT_OK ? s->exit_code : EXIT_INTERNAL_ERROR;
}

/*
 * Where generic-worker calls shutdownWorker (reference §1.5): exit 70
 * always, 68 and 69 when configured.  worker-runner is asked (shutdown);
 * without it sepworker says what generic-worker would do, and does not
 * power the machine off.
 */
static void
shutdown_worker(const struct sw_config *cfg, int rc)
{
	if (rc != EXIT_WM_SHUTDOWN && !(rc == EXIT_IDLE_TIMEOUT &&
	    cfg->shutdown_machine_on_idle) && !(rc == EXIT_INTERNAL_ERROR &&
	    cfg->shutdown_machine_on_internal_error))
		return;
	if (wrproto_shutdown())
		log_info("exit %d: asked worker-runner to shut this worker "
		    "down", rc);
	else
		log_info("exit %d: generic-worker would shut the machine down "
		    "now; sepworker does not (it has no worker-runner with the "
		    "shutdown capability to ask)", rc);
}

int
worker_main(struct sw_config *cfg)
{
	struct worker w = { .cfg = cfg, .tasks_fd = -1 };
	char err[512];
	int rc;

	/* generic-worker refuses to start without its key, chain of trust
	 * enabled or not; a key a task could reach is no key. */
	if (secret_file_problem(cfg, cfg->ed25519_signing_key_location,
	    cfg->keyholder_uid, err, sizeof(err)) != NULL) {
		log_errorx("ed25519SigningKeyLocation: %s", err);
		return EXIT_MISSING_KEY;
	}
	if (tf_ensure_tasks_dir(cfg->tasks_dir, err, sizeof(err)) == -1 ||
	    taskuid_rundir(cfg, err, sizeof(err)) == -1 ||
	    make_work_dir(cfg->work_dir, err, sizeof(err)) == -1 ||
	    open_tasks_dir(&w, err, sizeof(err)) == -1 ||
	    taskcount_read(cfg->work_dir, &w.resolved, err,
	    sizeof(err)) == -1) {
		log_errorx("%s", err);
		rc = EXIT_INTERNAL_ERROR;
		goto out;
	}
	/* Before the first claim: nothing a worker that died left may meet
	 * a task. */
	leftovers_remove(cfg);
	log_info("worker %s/%s of %s/%s: %llu tasks resolved so far",
	    cfg->worker_group, cfg->worker_id, cfg->provisioner_id,
	    cfg->worker_type, (unsigned long long)w.resolved);
	w.with_runner = wrproto_active();
	if ((rc = start_children(&w, err, sizeof(err))) != EXIT_OK)
		log_errorx("%s", err);
	else {
		/* New credentials from worker-runner replace the ones just
		 * handed over: only now. */
		wrproto_attach(&w.s);
		rc = claim_loop(&w);
	}
	wrproto_detach(&w.s);
	supervisor_shutdown(&w.s);
out:
	if (w.tasks_fd >= 0)
		close(w.tasks_fd);
	wrproto_error_report(rc);
	shutdown_worker(cfg, rc);
	return rc;
}
