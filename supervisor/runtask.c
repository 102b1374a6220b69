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
#include "supervisor/taskflow.h"
#include "supervisor/leftovers.h"
#include "supervisor/taskuid.h"
#include "taskrunner/payload.h"

#define READY_TIMEOUT_MS	10000

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
	    "invalid-resource-on-worker", msg, false };
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
	if (tf_ensure_tasks_dir(cfg->tasks_dir, err, sizeof(err)) == -1) {
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


/*
 * run-task's proxy signs with the config's credentials: hand them to
 * proxyd now and wipe them here, whatever happens.  refusal says why a
 * task cannot have the proxy ("" if it can).
 */
static void
hand_over_credentials(struct supervisor *s, struct sw_config *cfg,
    char *refusal, size_t len)
{
	char missing[64] = "", why[PX_REASON_MAX + 64];

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
	if (tf_send_config_creds(s, PX_TASK_CREDS, why, sizeof(why)) == -1)
		snprintf(refusal, len, "the config's credentials: %s", why);
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
	have_key = tf_public_key(&s, pk);
	if (have_key)
		edkey_encode(pk, b64);
	hand_over_credentials(&s, cfg, proxy_refusal, sizeof(proxy_refusal));
	log_info("task %s: run %u", r.task_id, r.run_id);
	reserve_result(&r);
	if (!tf_run(&s, &r, def_fd, proxy_refusal))
		taskrun_fail(&r, "internal-error");
	if (!r.resolved)
		taskrun_fail(&r, s.stop_signal ? "worker-shutdown" :
		    "internal-error");
	tf_await_taskrunner(&s);
	taskrun_close_collection(&r);
	if (r.valid && r.started && (r.sum.features & TASK_FEAT_COT) &&
	    !s.stopping) {
		if (have_key && tf_chain_of_trust(&s, &r, pk, err,
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
		tf_remove_task_dir(&s);
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
