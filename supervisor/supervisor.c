#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/chan_keyholder.h"
#include "common/chan_proxyd.h"
#include "common/chan_taskproxy.h"
#include "common/chan_taskrunner.h"
#include "common/child.h"
#include "common/util.h"
#include "supervisor/exitcodes.h"
#include "supervisor/spawn.h"
#include "supervisor/supervisor.h"

/* How long stopping children may take before they are killed. */
#define SHUTDOWN_GRACE_MS	500

static const char *const role_names[NROLES] = {
	[ROLE_KEYHOLDER] = "keyholder",
	[ROLE_PROXYD] = "proxyd",
	[ROLE_TASKRUNNER] = "taskrunner",
	[ROLE_TASKPROXY] = "taskproxy",
};

/* The binary each role runs: a task proxy is proxyd, exec'd afresh. */
static const char *const role_binaries[NROLES] = {
	[ROLE_KEYHOLDER] = "keyholder",
	[ROLE_PROXYD] = "proxyd",
	[ROLE_TASKRUNNER] = "taskrunner",
	[ROLE_TASKPROXY] = "proxyd",
};

static const struct ipc_channel *const role_channels[NROLES] = {
	[ROLE_KEYHOLDER] = &keyholder_channel,
	[ROLE_PROXYD] = &proxyd_channel,
	[ROLE_TASKRUNNER] = &taskrunner_channel,
	[ROLE_TASKPROXY] = &taskproxy_channel,
};

/* What a handler gets: the supervisor and the child that spoke. */
struct dispatch_ctx {
	struct supervisor	*s;
	struct child		*k;
};

static int
on_ready(void *arg, struct ipc_msg *m)
{
	struct dispatch_ctx *d = arg;

	(void)m;
	d->k->state = CHILD_READY;
	log_debug("%s (pid %ld) is ready", d->k->name, (long)d->k->pid);
	return 0;
}

static int
on_pong(void *arg, struct ipc_msg *m)
{
	struct dispatch_ctx *d = arg;
	uint64_t nonce;

	memcpy(&nonce, m->payload, sizeof(nonce));
	if (d->k->ping_answered || nonce != d->k->ping_nonce)
		return -1;
	d->k->ping_answered = true;
	return 0;
}

static int
on_privop(void *arg, struct ipc_msg *m)
{
	struct dispatch_ctx *d = arg;

	/* Only while the task's sandbox is being built. */
	if (d->s->run == NULL || !d->s->run->started)
		return -1;
	return privop_handle(&d->s->task, &d->k->conn, m) == 0 ? 0 : -1;
}

/* The task messages go to the task being run. */
#define TASK_HANDLER(fn)						\
static int								\
on_##fn(void *arg, struct ipc_msg *m)					\
{									\
	struct dispatch_ctx *d = arg;					\
									\
	return d->s->run == NULL ? -1 : taskrun_on_##fn(d->s->run, m);	\
}

TASK_HANDLER(valid)
TASK_HANDLER(scopes)
TASK_HANDLER(proxy_listener)
TASK_HANDLER(command_done)
TASK_HANDLER(artifact)
TASK_HANDLER(artifact_error)
TASK_HANDLER(cot_extra)

static int
on_result(void *arg, struct ipc_msg *m)
{
	struct dispatch_ctx *d = arg;

	if (d->s->run == NULL || taskrun_on_result(d->s->run, m) == -1)
		return -1;
	/* Its last word: from here on its exit is expected. */
	d->k->state = CHILD_STOPPING;
	return 0;
}

/* A refusal's one string (why) into buf, NUL-terminated; -1 if the
 * payload is anything else. */
static int
take_reason(struct ipc_msg *m, char *buf, size_t size)
{
	struct ipc_reader r;
	const char *why;
	size_t len;

	ipc_reader_init(&r, m);
	why = ipc_get_str(&r, size - 1, &len);
	if (why == NULL || !ipc_get_end(&r))
		return -1;
	memcpy(buf, why, len);
	buf[len] = '\0';
	return 0;
}

/* The keyholder's answers: only to the request being waited for. */
static int
on_kh_answer(void *arg, struct ipc_msg *m)
{
	struct dispatch_ctx *d = arg;
	struct kh_answer *a = &d->s->kh;

	if (a->id == 0 || m->hdr.id != a->id || a->done)
		return -1;
	a->type = m->hdr.type;
	if (m->hdr.type == KH_REFUSED) {
		if (take_reason(m, a->reason, sizeof(a->reason)) == -1)
			return -1;
	} else {
		memcpy(a->data, m->payload, m->payload_len);
		a->len = m->payload_len;
	}
	a->done = true;
	return 0;
}

/* The answer to a request sent with supervisor_proxyd_post: logged.
 * 1 if m was one, 0 if not, -1 if it makes no sense. */
static int
take_post_answer(struct supervisor *s, struct ipc_msg *m)
{
	char why[PX_REASON_MAX + 1];

	for (size_t i = 0; i < nitems(s->post_ids); i++) {
		if (s->post_ids[i] == 0 || s->post_ids[i] != m->hdr.id)
			continue;
		s->post_ids[i] = 0;
		if (m->hdr.type == PX_DONE)
			return 1;
		if (m->hdr.type != PX_FAILED ||
		    take_reason(m, why, sizeof(why)) == -1)
			return -1;
		log_errorx("proxyd refused a request: %s", why);
		return 1;
	}
	return 0;
}

/* proxyd's answers: only to the request being waited for (or posted). */
static int
on_px_answer(void *arg, struct ipc_msg *m)
{
	struct dispatch_ctx *d = arg;
	struct px_answer *a = &d->s->px;
	int rc;

	if ((rc = take_post_answer(d->s, m)) != 0)
		return rc == 1 ? 0 : -1;
	if (a->id == 0 || m->hdr.id != a->id || a->done)
		return -1;
	a->type = m->hdr.type;
	switch (m->hdr.type) {
	case PX_FAILED:
		if (take_reason(m, a->reason, sizeof(a->reason)) == -1)
			return -1;
		a->failed = true;
		break;
	case PX_NO_TASK:
	case PX_TERMINATE:
		if (take_reason(m, a->reason, sizeof(a->reason)) == -1)
			return -1;
		break;
	case PX_CLAIMED:
		if (m->payload_len > sizeof(a->data))
			return -1;
		memcpy(a->data, m->payload, m->payload_len);
		a->len = m->payload_len;
		a->fd = m->fd;
		m->fd = -1;
		break;
	}
	a->done = true;
	return 0;
}

static int
on_tp_agent(void *arg, struct ipc_msg *m)
{
	struct dispatch_ctx *d = arg;

	if (d->s->on_agent_answer == NULL)
		return -1;
	return d->s->on_agent_answer(d->s->agent_arg, m);
}

/* The task proxy's reclaims: the run's claim as it now stands. */
static int
on_tp_reclaim(void *arg, struct ipc_msg *m)
{
	struct dispatch_ctx *d = arg;
	struct task_run *r = d->s->run;
	struct ipc_reader rd;
	const char *a, *b = NULL;
	size_t alen, blen = 0;
	uint64_t v;

	ipc_reader_init(&rd, m);
	v = m->hdr.type == TP_RECLAIMED ? ipc_get_u64(&rd) : ipc_get_u32(&rd);
	a = ipc_get_str(&rd, TP_STRING_MAX, &alen);
	if (m->hdr.type == TP_RECLAIM_FAILED)
		b = ipc_get_str(&rd, TP_STRING_MAX, &blen);
	if (a == NULL || (m->hdr.type == TP_RECLAIM_FAILED && b == NULL) ||
	    !ipc_get_end(&rd) || m->hdr.id != 0)
		return -1;
	if (r == NULL)
		return 0;
	if (m->hdr.type == TP_RECLAIMED)
		taskrun_reclaimed(r, (int64_t)v, a, alen);
	else
		taskrun_claim_lost(r, a, alen, b, blen);
	return 0;
}

static int
on_tp_serving(void *arg, struct ipc_msg *m)
{
	struct dispatch_ctx *d = arg;

	(void)m;
	if (d->s->taskproxy_serving)
		return -1;
	d->s->taskproxy_serving = true;
	return 0;
}

#define COMMON_HANDLERS							\
	{ MSG_READY, CHILD_STARTING, on_ready },			\
	{ MSG_PONG, CHILD_READY | CHILD_TASK, on_pong }

static const struct ipc_handler keyholder_handlers[] = {
	COMMON_HANDLERS,
	{ KH_PUBKEY, CHILD_READY, on_kh_answer },
	{ KH_SIGNATURE, CHILD_READY, on_kh_answer },
	{ KH_REFUSED, CHILD_READY, on_kh_answer },
};
static const struct ipc_handler proxyd_handlers[] = {
	COMMON_HANDLERS,
	{ PX_DONE, CHILD_READY, on_px_answer },
	{ PX_FAILED, CHILD_READY, on_px_answer },
	{ PX_CLAIMED, CHILD_READY, on_px_answer },
	{ PX_NO_TASK, CHILD_READY, on_px_answer },
	{ PX_TERMINATE, CHILD_READY, on_px_answer },
};
static const struct ipc_handler taskproxy_handlers[] = {
	COMMON_HANDLERS,
	{ TP_SERVING, CHILD_READY, on_tp_serving },
	{ TP_OK, CHILD_READY, on_tp_agent },
	{ TP_UPLOADED, CHILD_READY, on_tp_agent },
	{ TP_FAILED, CHILD_READY, on_tp_agent },
	{ TP_RECLAIMED, CHILD_READY, on_tp_reclaim },
	{ TP_RECLAIM_FAILED, CHILD_READY, on_tp_reclaim },
};
static const struct ipc_handler taskrunner_handlers[] = {
	COMMON_HANDLERS,
	/* Privileged steps only while it is building a task's sandbox. */
	{ TR_USERNS_MAP_REQ, CHILD_TASK, on_privop },
	{ TR_TASKDIR_REQ, CHILD_TASK, on_privop },
	{ TR_CGROUP_REQ, CHILD_TASK, on_privop },
	{ TR_TASK_SCOPES, CHILD_TASK, on_scopes },
	{ TR_PROXY_LISTENER, CHILD_TASK, on_proxy_listener },
	{ TR_TASK_VALID, CHILD_TASK, on_valid },
	{ TR_COMMAND_DONE, CHILD_TASK, on_command_done },
	{ TR_ARTIFACT, CHILD_TASK, on_artifact },
	{ TR_ARTIFACT_ERROR, CHILD_TASK, on_artifact_error },
	{ TR_COT_EXTRA, CHILD_TASK, on_cot_extra },
	{ TR_TASK_RESULT, CHILD_TASK, on_result },
};

static const struct {
	const struct ipc_handler	*tbl;
	size_t				 n;
} role_handlers[NROLES] = {
	[ROLE_KEYHOLDER] = { keyholder_handlers, nitems(keyholder_handlers) },
	[ROLE_PROXYD] = { proxyd_handlers, nitems(proxyd_handlers) },
	[ROLE_TASKRUNNER] = { taskrunner_handlers,
	    nitems(taskrunner_handlers) },
	[ROLE_TASKPROXY] = { taskproxy_handlers, nitems(taskproxy_handlers) },
};

static uint32_t
role_uid(const struct sw_config *cfg, enum role role)
{
	switch (role) {
	case ROLE_KEYHOLDER:
		return cfg->keyholder_uid;
	case ROLE_PROXYD:
		return cfg->proxyd_uid;
	case ROLE_TASKPROXY:
		return cfg->taskproxy_uid;
	case ROLE_TASKRUNNER:
	case NROLES:
		break;
	}
	return cfg->taskrunner_uid;
}

static void
begin_stop(struct supervisor *s, int exit_code)
{
	if (!s->stopping)
		s->exit_code = exit_code;
	s->stopping = true;
}

int
supervisor_init(struct supervisor *s, const struct sw_config *cfg, char *err,
    size_t errlen)
{
	char exe[PATH_MAX], *dir;
	sigset_t set;
	ssize_t n;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->task.cfg = cfg;
	s->agent_spool_fd = -1;
	s->input_fd = -1;
	for (int i = 0; i < NROLES; i++) {
		s->kids[i].role = (enum role)i;
		s->kids[i].name = role_names[i];
		s->kids[i].pidfd = s->kids[i].logfd = -1;
		s->kids[i].conn.sock = -1;
		s->binfd[i] = -1;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(err, errlen, "cannot find our own executable: %s",
		    strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	dir = dirname(exe);
	for (int i = 0; i < NROLES; i++)
		if ((s->binfd[i] = spawn_open_binary(dir, role_binaries[i],
		    err, errlen)) == -1)
			return -1;
	if ((s->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "/dev/null: %s", strerror(errno));
		return -1;
	}
	/* Signals arrive through a signalfd, in the poll loop, never in
	 * the middle of something. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) ==
	    -1) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		return -1;
	}
	/* A closed stderr must not kill the supervisor. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

#define SPAWN_OPTS_MAX	24

static int
spawn_role(struct supervisor *s, enum role role, const int *extra,
    int nextra, char *const *opts)
{
	struct child *k = &s->kids[role];
	char uid[16], ppid[16];
	char *argv[7 + 5 + SPAWN_OPTS_MAX + 1] = { (char *)k->name, "--uid",
	    uid, "--gid", uid, "--ppid", ppid };
	int argc = 7;
	struct spawn_spec spec;
	int sv[2], lp[2];

	if (k->state != CHILD_NONE) {
		log_errorx("%s is already running", k->name);
		return -1;
	}
	snprintf(uid, sizeof(uid), "%u", role_uid(s->cfg, role));
	snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
	if (log_is_verbose())
		argv[argc++] = "--verbose";
	/* The taskrunner's own filter binds every task: it leaves out what
	 * the worker lets tasks do. */
	if (role == ROLE_TASKRUNNER && s->cfg->allow_task_ptrace_ns) {
		argv[argc++] = "--task-debug-ns";
		argv[argc++] = "1";
	}
	/* The keyholder opens its key itself; only the path passes here. */
	if (role == ROLE_KEYHOLDER && *s->cfg->ed25519_signing_key_location) {
		argv[argc++] = "--key-file";
		argv[argc++] = s->cfg->ed25519_signing_key_location;
	}
	for (int i = 0; opts != NULL && opts[i] != NULL; i++) {
		if (i == SPAWN_OPTS_MAX)
			fatalx("too many options for %s", k->name);
		argv[argc++] = opts[i];
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		return -1;
	}
	if (pipe2(lp, O_CLOEXEC) == -1) {
		log_warn("pipe2");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	spec = (struct spawn_spec){ .binfd = s->binfd[role], .argv = argv,
	    .sock = sv[1], .logw = lp[1], .devnull = s->devnull,
	    .extra = extra, .nextra = nextra };
	k->pid = spawn_child(&spec, &k->pidfd);
	close(sv[1]);
	close(lp[1]);
	if (k->pid == -1) {
		log_warn("starting %s", k->name);
		close(sv[0]);
		close(lp[0]);
		return -1;
	}
	/* Our ends never block: a child that stops reading must not be
	 * able to stall the supervisor. */
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(lp[0], F_SETFL, O_NONBLOCK);
	ipc_conn_init(&k->conn, sv[0], role_channels[role], IPC_TO_SUPERVISOR);
	k->logfd = lp[0];
	k->log.len = 0;
	k->reaped = false;
	k->exit_code = k->exit_signal = 0;
	k->state = CHILD_STARTING;
	if (role == ROLE_TASKRUNNER) {
		s->task.runner_pid = k->pid;
		s->task.runner_uid = geteuid() == 0 ?
		    role_uid(s->cfg, role) : geteuid();
	}
	log_debug("started %s (pid %ld)", k->name, (long)k->pid);
	return 0;
}

int
supervisor_spawn(struct supervisor *s, enum role role)
{
	if (role == ROLE_TASKPROXY)
		fatalx("a task proxy starts with supervisor_spawn_taskproxy");
	return spawn_role(s, role, NULL, 0, NULL);
}

int
supervisor_spawn_opts(struct supervisor *s, enum role role,
    char *const *opts)
{
	if (role == ROLE_TASKPROXY)
		fatalx("a task proxy starts with supervisor_spawn_taskproxy");
	return spawn_role(s, role, NULL, 0, opts);
}

int
supervisor_spawn_taskproxy(struct supervisor *s, int listen_fd,
    int creds_fd, int spool_fd, char *const *opts)
{
	const int extra[3] = { listen_fd, creds_fd, spool_fd };

	s->taskproxy_serving = false;
	return spawn_role(s, ROLE_TASKPROXY, extra, spool_fd >= 0 ? 3 : 2,
	    opts);
}

static void
emit_child_line(void *arg, const char *line, size_t len)
{
	struct child *k = arg;
	const char *msg;
	size_t msglen;
	enum log_level lvl = logrelay_parse(line, len, &msg, &msglen);

	log_emit(k->name, k->pid, lvl, msg, msglen);
}

/* Relay what a child wrote to its log pipe, one tagged line at a time. */
static void
read_child_log(struct child *k)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(k->logfd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			linebuf_flush(&k->log, emit_child_line, k);
			close(k->logfd);
			k->logfd = -1;
			return;
		}
		linebuf_feed(&k->log, buf, (size_t)n, emit_child_line, k);
	}
}

static void
kill_child(struct child *k)
{
	if (k->pidfd >= 0 && !k->reaped &&
	    pidfd_send_signal(k->pidfd, SIGKILL, NULL, 0) == -1 &&
	    errno != ESRCH)
		log_warn("killing %s", k->name);
	k->state = CHILD_STOPPING;
}

/* Worker mode: a standing child that dies or breaks protocol is lost;
 * the task it served is ended with how, and the worker restarts it. */
static bool
recoverable(const struct supervisor *s, const struct child *k)
{
	return s->recover_children && !s->stopping && k->role < NSTANDING;
}

static void
child_lost(struct supervisor *s, struct child *k, const char *how)
{
	log_errorx("%s (pid %ld) %s; the worker carries on and will restart "
	    "it", k->name, (long)k->pid, how);
	s->lost[k->role] = true;
	s->lost_ms[k->role] = now_ms();
	snprintf(s->lost_why[k->role], sizeof(s->lost_why[k->role]),
	    "%s (pid %ld) %s", k->name, (long)k->pid, how);
	if (s->task_fault[0] == '\0')
		snprintf(s->task_fault, sizeof(s->task_fault), "the worker's "
		    "%s", s->lost_why[k->role]);
}

static void
child_violation(struct supervisor *s, struct child *k, const char *why)
{
	char how[300];

	if (recoverable(s, k)) {
		snprintf(how, sizeof(how), "broke protocol (%s) and was "
		    "killed", why);
		child_lost(s, k, how);
		kill_child(k);
		return;
	}
	log_errorx("%s (pid %ld) broke protocol: %s; treating it as "
	    "compromised", k->name, (long)k->pid, why);
	kill_child(k);
	begin_stop(s, EXIT_INTERNAL_ERROR);
}

static void
read_child_messages(struct supervisor *s, struct child *k)
{
	struct dispatch_ctx ctx = { s, k };
	char err[IPC_ERR_MAX];

	while (k->conn.sock >= 0) {
		const struct ipc_handler *h;
		struct ipc_msg m;
		int rc = ipc_recv(&k->conn, &m, err, sizeof(err));

		if (rc == -2)
			return;
		if (rc == 0) {
			/* Its end closed: it is exiting; the pidfd says how. */
			ipc_conn_free(&k->conn);
			return;
		}
		if (k->state == CHILD_STOPPING) {
			/* Whatever it says now no longer matters. */
			if (rc == 1 && m.fd >= 0)
				close(m.fd);
			continue;
		}
		if (rc == -1) {
			child_violation(s, k, err);
			return;
		}
		h = ipc_lookup(role_handlers[k->role].tbl,
		    role_handlers[k->role].n, k->state, &m, err, sizeof(err));
		if (h == NULL || h->fn(&ctx, &m) == -1) {
			if (m.fd >= 0)
				close(m.fd);
			child_violation(s, k, h == NULL ? err : m.spec->name);
			return;
		}
		if (m.fd >= 0)
			close(m.fd);
	}
}

void
child_describe_end(const struct child *k, char *buf, size_t len)
{
	const char *abbrev;

	if (!k->reaped) {
		snprintf(buf, len, "is still running");
		return;
	}
	if (k->exit_signal == 0) {
		snprintf(buf, len, "exited with status %d%s", k->exit_code,
		    k->exit_code == CHILD_EXIT_VIOLATION ?
		    " (it received a message it does not accept)" :
		    k->exit_code == CHILD_EXIT_USAGE ? " (bad start-up)" :
		    k->role == ROLE_KEYHOLDER &&
		    k->exit_code == KEYHOLDER_EXIT_KEY ?
		    " (its signing key could not be loaded)" :
		    k->exit_code == 127 ? " (could not be executed)" : "");
		return;
	}
	abbrev = sigabbrev_np(k->exit_signal);
	snprintf(buf, len, "was killed by signal %d (SIG%s)%s", k->exit_signal,
	    abbrev ? abbrev : "?", k->exit_signal == SIGSYS ?
	    ": its seccomp policy forbids a system call it made (the kernel "
	    "log has an audit type=1326 line naming it)" : "");
}

static void
reap_child(struct supervisor *s, struct child *k, bool block)
{
	siginfo_t si;
	char how[256];

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)k->pidfd, &si, WEXITED |
	    (block ? 0 : WNOHANG)) == -1) {
		log_warn("waitid(%s)", k->name);
		return;
	}
	if (si.si_pid == 0)
		return;	/* not yet */
	k->reaped = true;
	if (si.si_code == CLD_EXITED)
		k->exit_code = si.si_status;
	else
		k->exit_signal = si.si_status;
	close(k->pidfd);
	k->pidfd = -1;
	/* Everything it wrote before dying, then its socket. */
	if (k->logfd >= 0)
		read_child_log(k);
	ipc_conn_free(&k->conn);
	child_describe_end(k, how, sizeof(how));
	if (k->role == ROLE_TASKPROXY && k->state != CHILD_STOPPING &&
	    !s->stopping) {
		/* Its task fails; the worker carries on. */
		log_errorx("%s (pid %ld) %s", k->name, (long)k->pid, how);
		if (s->run != NULL) {
			s->run->proxy_died = true;
			snprintf(s->run->proxy_end, sizeof(s->run->proxy_end),
			    "%s", how);
		}
	} else if (k->state != CHILD_STOPPING && recoverable(s, k) &&
	    !(k->role == ROLE_KEYHOLDER && k->exit_signal == 0 &&
	    k->exit_code == KEYHOLDER_EXIT_KEY))
		child_lost(s, k, how);
	else if (k->state != CHILD_STOPPING && !s->stopping) {
		log_errorx("%s (pid %ld) %s; stopping sepworker", k->name,
		    (long)k->pid, how);
		begin_stop(s, k->role == ROLE_KEYHOLDER &&
		    k->exit_signal == 0 && k->exit_code == KEYHOLDER_EXIT_KEY ?
		    EXIT_MISSING_KEY : EXIT_INTERNAL_ERROR);
	} else
		log_debug("%s (pid %ld) %s", k->name, (long)k->pid, how);
	k->state = CHILD_NONE;
}

void
supervisor_terminate(struct supervisor *s, bool abort, int exit_code,
    const char *why)
{
	if (s->term_requested && (s->term_abort || !abort)) {
		log_info("%s: termination is under way already", why);
		return;
	}
	if (abort)
		log_info("%s: no more claims; the running task, if any, is "
		    "aborted (exception/worker-shutdown), then sepworker exits "
		    "%d", why, exit_code);
	else
		log_info("%s: no more claims; the running task, if any, runs "
		    "to its end, then sepworker exits %d", why, exit_code);
	s->term_requested = true;
	s->term_abort = abort;
	s->term_exit = exit_code;
}

/* Worker mode (reference §6.2): SIGINT lets the running task finish
 * (exit 71); SIGTERM, and SIGHUP with it, aborts it (exit 72). */
static void
worker_signal(struct supervisor *s, int signo)
{
	char why[64];

	snprintf(why, sizeof(why), "received SIG%s", sigabbrev_np(signo));
	supervisor_terminate(s, signo != SIGINT, signo == SIGINT ?
	    EXIT_WORKER_STOPPED : EXIT_WORKER_SHUTDOWN, why);
}

static void
read_signals(struct supervisor *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (s->stopping)
			continue;
		if (s->worker_mode) {
			worker_signal(s, (int)si.ssi_signo);
			continue;
		}
		log_info("received SIG%s, stopping",
		    sigabbrev_np((int)si.ssi_signo));
		s->stop_signal = (int)si.ssi_signo;
		begin_stop(s, EXIT_OK);
	}
}

void
supervisor_poll(struct supervisor *s, int timeout_ms)
{
	struct pollfd pfd[2 + 3 * NROLES];
	struct { struct child *k; int what; } who[nitems(pfd)];
	nfds_t n = 0;

	pfd[n] = (struct pollfd){ .fd = s->sigfd, .events = POLLIN };
	who[n].k = NULL;
	who[n++].what = 0;
	if (s->input_fd >= 0) {
		pfd[n] = (struct pollfd){ .fd = s->input_fd, .events = POLLIN };
		who[n].k = NULL;
		who[n++].what = 1;
	}
	for (int i = 0; i < NROLES; i++) {
		struct child *k = &s->kids[i];
		int fds[3] = { k->conn.sock, k->logfd, k->pidfd };

		if (k->state == CHILD_NONE)
			continue;
		/* Held, its messages wait in the socket; so does its exit,
		 * which is judged after the messages it sent before it. */
		if (i == ROLE_TASKRUNNER && s->hold_taskrunner)
			fds[0] = fds[2] = -1;
		for (int j = 0; j < 3; j++) {
			if (fds[j] < 0)
				continue;
			pfd[n] = (struct pollfd){ .fd = fds[j],
			    .events = POLLIN };
			who[n].k = k;
			who[n++].what = j;
		}
	}
	if (poll(pfd, n, timeout_ms) == -1) {
		if (errno != EINTR)
			fatal("poll");
		return;
	}
	for (nfds_t i = 0; i < n; i++) {
		struct child *k = who[i].k;

		if (pfd[i].revents == 0)
			continue;
		if (k == NULL && who[i].what == 0)
			read_signals(s);
		else if (k == NULL && s->input_fd >= 0)
			s->on_input(s);
		else if (k == NULL)
			continue;
		else if (who[i].what == 0 && k->conn.sock >= 0)
			read_child_messages(s, k);
		else if (who[i].what == 1 && k->logfd >= 0)
			read_child_log(k);
		else if (who[i].what == 2 && k->pidfd >= 0 &&
		    !(k == &s->kids[ROLE_TASKRUNNER] && s->hold_taskrunner))
			reap_child(s, k, false);
	}
}

static int
remaining_ms(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

int
supervisor_wait_ready(struct supervisor *s, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		bool waiting = false;

		for (int i = 0; i < NROLES; i++)
			if (s->kids[i].state == CHILD_STARTING)
				waiting = true;
		if (!waiting || s->stopping)
			break;
		if (remaining_ms(deadline) == 0) {
			for (int i = 0; i < NROLES; i++)
				if (s->kids[i].state == CHILD_STARTING)
					log_errorx("%s (pid %ld) did not "
					    "become ready within %u ms",
					    s->kids[i].name,
					    (long)s->kids[i].pid, timeout_ms);
			begin_stop(s, EXIT_INTERNAL_ERROR);
			break;
		}
		supervisor_poll(s, remaining_ms(deadline));
	}
	return s->stopping ? -1 : 0;
}

int
supervisor_ping_all(struct supervisor *s, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	for (int i = 0; i < NROLES; i++) {
		struct child *k = &s->kids[i];

		if (k->state != CHILD_READY)
			continue;
		randombytes_buf(&k->ping_nonce, sizeof(k->ping_nonce));
		k->ping_answered = false;
		if (ipc_send(&k->conn, MSG_PING, k->conn.next_id++,
		    &k->ping_nonce, sizeof(k->ping_nonce), -1) == -1) {
			child_violation(s, k, "not reading its socket");
			return -1;
		}
	}
	for (;;) {
		bool waiting = false;

		for (int i = 0; i < NROLES; i++)
			if (s->kids[i].state == CHILD_READY &&
			    !s->kids[i].ping_answered)
				waiting = true;
		if (!waiting || s->stopping)
			break;
		if (remaining_ms(deadline) == 0) {
			log_errorx("a child did not answer PING within %u ms",
			    timeout_ms);
			begin_stop(s, EXIT_INTERNAL_ERROR);
			break;
		}
		supervisor_poll(s, remaining_ms(deadline));
	}
	return s->stopping ? -1 : 0;
}

int
supervisor_keyholder_call(struct supervisor *s, uint32_t type,
    const void *payload, size_t len, int fd, unsigned timeout_ms,
    struct kh_answer *a)
{
	struct child *k = &s->kids[ROLE_KEYHOLDER];
	uint64_t deadline = now_ms() + timeout_ms;

	if (k->state != CHILD_READY)
		return -1;
	memset(&s->kh, 0, sizeof(s->kh));
	s->kh.id = k->conn.next_id++;
	if (ipc_send(&k->conn, type, s->kh.id, payload, len, fd) == -1) {
		child_violation(s, k, "not reading its socket");
		return -1;
	}
	/* An announcement has no answer. */
	if (type == KH_ANNOUNCE) {
		s->kh.id = 0;
		return 0;
	}
	while (!s->kh.done && k->state == CHILD_READY &&
	    remaining_ms(deadline) > 0)
		supervisor_poll(s, remaining_ms(deadline));
	*a = s->kh;
	s->kh.id = 0;
	if (!a->done)
		return -1;
	return a->type == KH_REFUSED ? 1 : 0;
}

int
supervisor_proxyd_request(struct supervisor *s, uint32_t type,
    const void *payload, size_t len, int fd, unsigned timeout_ms,
    struct px_answer *out)
{
	struct child *k = &s->kids[ROLE_PROXYD];
	uint64_t deadline = now_ms() + timeout_ms;
	struct px_answer *a = &s->px;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (k->state != CHILD_READY)
		return -1;
	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->id = k->conn.next_id++;
	if (ipc_send(&k->conn, type, a->id, payload, len, fd) == -1) {
		child_violation(s, k, "not reading its socket");
		return -1;
	}
	while (!a->done && k->state == CHILD_READY &&
	    remaining_ms(deadline) > 0)
		supervisor_poll(s, remaining_ms(deadline));
	a->id = 0;
	*out = *a;
	a->fd = -1;
	return out->done ? 0 : -1;
}

int
supervisor_proxyd_post(struct supervisor *s, uint32_t type,
    const void *payload, size_t len, const char *what)
{
	struct child *k = &s->kids[ROLE_PROXYD];
	size_t i;

	for (i = 0; i < nitems(s->post_ids); i++)
		if (s->post_ids[i] == 0)
			break;
	if (k->state != CHILD_READY || i == nitems(s->post_ids)) {
		log_errorx("%s cannot be passed to proxyd now: %s", what,
		    k->state != CHILD_READY ? "it is not serving" :
		    "it has not answered the last ones");
		return -1;
	}
	s->post_ids[i] = k->conn.next_id++;
	if (ipc_send(&k->conn, type, s->post_ids[i], payload, len, -1) ==
	    -1) {
		s->post_ids[i] = 0;
		child_violation(s, k, "not reading its socket");
		return -1;
	}
	return 0;
}

int
supervisor_proxyd_call(struct supervisor *s, uint32_t type,
    const void *payload, size_t len, int fd, unsigned timeout_ms,
    char *reason, size_t reasonlen)
{
	struct px_answer a;

	snprintf(reason, reasonlen, "proxyd did not answer");
	if (supervisor_proxyd_request(s, type, payload, len, fd, timeout_ms,
	    &a) == -1)
		return -1;
	if (a.fd >= 0)
		close(a.fd);
	if (a.failed)
		snprintf(reason, reasonlen, "%s", a.reason);
	return a.failed ? 1 : 0;
}

void
supervisor_stop_child(struct supervisor *s, enum role role,
    unsigned grace_ms)
{
	struct child *k = &s->kids[role];
	uint64_t deadline = now_ms() + grace_ms;

	if (k->state == CHILD_NONE)
		return;
	if (k->state != CHILD_STOPPING && (k->conn.sock < 0 ||
	    ipc_send(&k->conn, MSG_SHUTDOWN, k->conn.next_id++, NULL, 0, -1) ==
	    -1))
		kill_child(k);
	k->state = CHILD_STOPPING;
	while (k->state != CHILD_NONE && remaining_ms(deadline) > 0)
		supervisor_poll(s, remaining_ms(deadline));
	if (k->state != CHILD_NONE) {
		log_warnx("%s (pid %ld) did not stop within %u ms; killing it",
		    k->name, (long)k->pid, grace_ms);
		kill_child(k);
		reap_child(s, k, true);
	}
}

void
supervisor_run(struct supervisor *s)
{
	while (!s->stopping)
		supervisor_poll(s, -1);
}

bool
supervisor_shutdown(struct supervisor *s)
{
	uint64_t deadline = now_ms() + SHUTDOWN_GRACE_MS;
	bool clean = true;

	s->stopping = true;
	for (int i = 0; i < NROLES; i++) {
		struct child *k = &s->kids[i];

		if (k->state == CHILD_NONE || k->state == CHILD_STOPPING)
			continue;
		if (k->conn.sock < 0 || ipc_send(&k->conn, MSG_SHUTDOWN,
		    k->conn.next_id++, NULL, 0, -1) == -1) {
			log_warnx("%s cannot be asked to stop; killing it",
			    k->name);
			kill_child(k);
			clean = false;
		}
		k->state = CHILD_STOPPING;
	}
	for (;;) {
		bool running = false;

		for (int i = 0; i < NROLES; i++)
			if (s->kids[i].state != CHILD_NONE)
				running = true;
		if (!running || remaining_ms(deadline) == 0)
			break;
		supervisor_poll(s, remaining_ms(deadline));
	}
	for (int i = 0; i < NROLES; i++) {
		struct child *k = &s->kids[i];

		if (k->state == CHILD_NONE)
			continue;
		log_warnx("%s (pid %ld) did not stop within %d ms; killing it",
		    k->name, (long)k->pid, SHUTDOWN_GRACE_MS);
		kill_child(k);
		reap_child(s, k, true);
		clean = false;
	}
	for (int i = 0; i < NROLES; i++)
		if (s->kids[i].reaped && (s->kids[i].exit_signal != 0 ||
		    s->kids[i].exit_code != 0))
			clean = false;
	return clean;
}
