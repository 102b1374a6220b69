/*
 * The task proxy's start-up and its two channels.
 *
 * It is proxyd exec'd afresh for one task (argv[0] "taskproxy"), so it
 * inherits nothing of any earlier task or of the long-lived proxyd.  It
 * reads what must be read before the sandbox closes (the CA bundle),
 * locks itself down, and waits for the two things it serves with: the
 * task's scopes from the supervisor (fd 3) and the task's credentials
 * from proxyd (fd 6).  Then it starts serving its listener (fd 5) and
 * keeps taking new credentials on fd 6 until the supervisor stops it.
 *
 * In worker mode (--agent) the supervisor says when the task's processes
 * are gone (AGENT): the listener and the task's connections are closed
 * for good, and from then on the task proxy is the task's agent
 * (agent.c), making the Queue calls the supervisor asks for with the
 * credentials it holds.  With --no-listener the task did not ask for a
 * proxy at all: there is no fd 5 and no scopes, only the agent.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/chan_taskproxy.h"
#include "common/child.h"
#include "common/log.h"
#include "common/memfd.h"
#include "common/secmem.h"
#include "common/reserved.h"
#include "common/util.h"
#include "proxyd/agent.h"
#include "proxyd/creds.h"
#include "proxyd/hawk.h"
#include "proxyd/proxyd.h"
#include "proxyd/qclient.h"
#include "proxyd/reclaim.h"
#include "proxyd/route.h"
#include "proxyd/taskproxy.h"
#include "proxyd/url.h"

#define SCOPES_MAX	(1u << 20)

static struct taskproxy	proxy = { .diag_fd = -1, .spool_fd = -1,
    .ctl_lock = PTHREAD_MUTEX_INITIALIZER };

/* --- what requests use, under the lock --- */

char *
taskproxy_authorization(struct taskproxy *tp, const char *method,
    const char *url, char *err, size_t errlen)
{
	struct url_parts u;
	struct hawk_target t;
	char nonce[HAWK_NONCE_LEN + 1], *h = NULL;

	if (url_split(url, &u, err, errlen) == -1)
		return NULL;
	t = (struct hawk_target){ method, u.target, u.host, u.port };
	hawk_nonce(nonce);
	pthread_rwlock_rdlock(&tp->lock);
	if (tp->ext == NULL)
		snprintf(err, errlen, "%s", tp->cert_error);
	else if ((h = hawk_header(tp->creds.client_id,
	    (const unsigned char *)tp->creds.access_token,
	    strlen(tp->creds.access_token), (uint64_t)time(NULL), nonce, &t,
	    tp->ext)) == NULL)
		snprintf(err, errlen, "the request cannot be signed: its "
		    "method or URL holds characters Hawk cannot carry");
	pthread_rwlock_unlock(&tp->lock);
	url_parts_free(&u);
	return h;
}

char *
taskproxy_bewit(struct taskproxy *tp, const char *body, size_t len,
    char *err, size_t errlen)
{
	char *url = NULL;

	pthread_rwlock_rdlock(&tp->lock);
	if (tp->ext == NULL)
		snprintf(err, errlen, "%s", tp->cert_error);
	else
		url = bewit_url(body, len, tp->creds.client_id,
		    (const unsigned char *)tp->creds.access_token,
		    strlen(tp->creds.access_token), tp->ext,
		    (uint64_t)time(NULL), TP_BEWIT_TTL_S, err, errlen);
	pthread_rwlock_unlock(&tp->lock);
	return url;
}

static char *
secmem_copy(const char *s)
{
	return s != NULL ? secmem_strndup(s, strlen(s)) : NULL;
}

void
taskproxy_creds_copy(struct taskproxy *tp, struct tc_creds *out)
{
	pthread_rwlock_rdlock(&tp->lock);
	out->client_id = secmem_copy(tp->creds.client_id);
	out->access_token = secmem_copy(tp->creds.access_token);
	out->certificate = secmem_copy(tp->creds.certificate);
	pthread_rwlock_unlock(&tp->lock);
}

int
taskproxy_answer(struct taskproxy *tp, uint32_t type, uint32_t id,
    const void *payload, size_t len)
{
	int rc;

	pthread_mutex_lock(&tp->ctl_lock);
	rc = ipc_send(tp->ctl, type, id, payload, len, -1);
	pthread_mutex_unlock(&tp->ctl_lock);
	return rc;
}

/* A %XX-decoded copy of s[0..len), or NULL if an escape is malformed. */
static char *
unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		unsigned v;

		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
		    !isxdigit((unsigned char)s[i + 2]) ||
		    sscanf(s + i + 1, "%2x", &v) != 1) {
			free(out);
			return NULL;
		}
		*o++ = (char)v;
		i += 2;
	}
	*o = '\0';
	return out;
}

/* The worker's fixed names, and the task's own names for its logs. */
static const char *
reserved_by(const struct taskproxy *tp, const char *name)
{
	const char *feature = worker_artifact_feature(name);

	if (feature != NULL)
		return feature;
	if (tp->live_log != NULL && strcmp(name, tp->live_log) == 0)
		return "Live Log";
	if (tp->backing_log != NULL && strcmp(name, tp->backing_log) == 0)
		return "Backing log";
	return NULL;
}

const char *
taskproxy_worker_artifact(const struct taskproxy *tp, const char *method,
    const char *url)
{
	size_t root = strlen(tp->root_url), plen;
	const char *p, *feature = NULL;
	char *prefix, *name;

	if (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
		return NULL;
	while (root > 0 && tp->root_url[root - 1] == '/')
		root--;
	if (strncmp(url, tp->root_url, root) != 0)
		return NULL;
	prefix = xasprintf("/api/queue/v1/task/%s/runs/", tp->task_id);
	plen = strlen(prefix);
	p = url + root;
	if (strncmp(p, prefix, plen) == 0) {
		p += plen + strspn(p + plen, "0123456789");
		if (strncmp(p, "/artifacts/", 11) == 0) {
			p += 11;
			name = unescape(p, strcspn(p, "?#"));
			/* An escape we cannot read: not ours to guess. */
			feature = name == NULL ? "(a name it cannot read)" :
			    reserved_by(tp, name);
			free(name);
		}
	}
	free(prefix);
	return feature;
}

bool
taskproxy_host_allowed(const struct taskproxy *tp, const char *host)
{
	return route_host_allowed(host,
	    (const char *const *)tp->allowed_hosts, tp->nallowed_hosts);
}

void
taskproxy_identity_headers(struct taskproxy *tp,
    void (*add)(void *arg, const char *name, const char *value), void *arg)
{
	pthread_rwlock_rdlock(&tp->lock);
	if (tp->creds.certificate == NULL)
		add(arg, "X-Taskcluster-Proxy-Perm-ClientId",
		    tp->creds.client_id);
	else {
		add(arg, "X-Taskcluster-Proxy-Temp-ClientId",
		    tp->creds.client_id);
		add(arg, "X-Taskcluster-Proxy-Temp-Scopes",
		    tp->temp_scopes_json);
	}
	pthread_rwlock_unlock(&tp->lock);
}

/* --- the credentials channel --- */

/*
 * Put new credentials in use.  A certificate that is not JSON is taken
 * (as taskcluster-proxy takes it), and every request then answers 500
 * saying why: the task learns its credentials are broken, and nothing
 * is ever sent without the authorized scopes.
 */
void
taskproxy_install_creds(struct taskproxy *tp, struct tc_creds *c)
{
	char err[200], *ext, *temp = NULL;
	struct tc_cert cert;

	ext = hawk_ext(c->certificate, (const char *const *)tp->scopes,
	    tp->nscopes, true, err, sizeof(err));
	if (c->certificate != NULL) {
		if (cert_parse(c->certificate, &cert, NULL, 0) == 0) {
			temp = scopes_json((const char *const *)cert.scopes,
			    cert.nscopes);
			cert_free(&cert);
		} else
			temp = xstrdup("[]");
	}
	pthread_rwlock_wrlock(&tp->lock);
	if (tp->have_creds)
		creds_free(&tp->creds);
	tp->creds = *c;
	tp->have_creds = true;
	free(tp->ext);
	tp->ext = ext;
	if (ext == NULL)
		snprintf(tp->cert_error, sizeof(tp->cert_error), "the task's "
		    "credentials have a certificate that is not valid: %s",
		    err);
	free(tp->temp_scopes_json);
	tp->temp_scopes_json = temp;
	pthread_rwlock_unlock(&tp->lock);
	memset(c, 0, sizeof(*c));
}

static void
reply_creds(struct ipc_conn *cc, uint32_t id, const char *why)
{
	uint8_t buf[4 + TPC_REASON_MAX];
	struct ipc_writer w;

	if (why == NULL) {
		ipc_send(cc, TPC_ACCEPTED, id, NULL, 0, -1);
		return;
	}
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_str(&w, why, strnlen(why, TPC_REASON_MAX));
	ipc_send(cc, TPC_REJECTED, id, w.buf, w.len, -1);
}

/* One message on fd 6; false once the channel is closed. */
static bool
read_creds(struct ipc_conn *cc)
{
	char err[TPC_REASON_MAX];
	struct tc_creds c;
	struct ipc_msg m;
	int rc = ipc_recv(cc, &m, err, sizeof(err));

	if (rc == -2)
		return true;
	if (rc <= 0) {
		if (rc == -1)
			fatalx("credentials channel: %s", err);
		/* proxyd has no more for us: the ones in use stay. */
		return false;
	}
	if (creds_parse((const char *)m.payload, m.payload_len, &c, err,
	    sizeof(err)) == -1) {
		sodium_memzero(cc->buf, cc->chan->max_msg);
		log_warnx("credentials refused: %s", err);
		reply_creds(cc, m.hdr.id, err);
		return true;
	}
	sodium_memzero(cc->buf, cc->chan->max_msg);
	log_info("credentials of client %s in use%s", c.client_id,
	    c.certificate != NULL ? " (temporary)" : "");
	taskproxy_install_creds(&proxy, &c);
	reply_creds(cc, m.hdr.id, NULL);
	return true;
}

/* --- the supervisor's channel --- */

/*
 * The way out once threads may run: _exit, not exit.  The agent's threads
 * may be inside OpenSSL or libcurl, whose exit handlers would free what
 * they are using (a SIGSEGV instead of the status the supervisor is
 * owed); the log is written unbuffered, nothing is left to flush.
 */
void
taskproxy_exit(int status)
{
	_exit(status);
}

void
taskproxy_violation(const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_errorx("protocol violation: %s", why);
	taskproxy_exit(CHILD_EXIT_VIOLATION);
}


static void
take_scopes(struct taskproxy *tp, struct ipc_msg *m)
{
	char err[160], *buf, *extra;
	size_t size;

	if (tp->scopes != NULL || tp->no_listener)
		taskproxy_violation("SCOPES %s", tp->no_listener ?
		    "without a listener" : "twice");
	if (memfd_check_sealed(m->fd, SCOPES_MAX, &size, err, sizeof(err)) ==
	    -1)
		fatalx("scopes: %s", err);
	buf = xmalloc(size + 1);
	if (memfd_read(m->fd, buf, size) == -1)
		fatal("reading the scopes");
	if (scopes_parse_lines(buf, size, &tp->scopes, &tp->nscopes, err,
	    sizeof(err)) == -1)
		fatalx("scopes: %s", err);
	free(buf);
	/* Worker mode: the task may upload artifacts to its own run, and
	 * nothing else the claim's credentials allow (reclaim, resolve). */
	if (tp->add_artifact_scope) {
		extra = xasprintf("queue:create-artifact:%s/%u", tp->task_id,
		    tp->run_id);
		tp->scopes = realloc(tp->scopes, (tp->nscopes + 1) *
		    sizeof(*tp->scopes));
		if (tp->scopes == NULL)
			fatalx("out of memory");
		tp->scopes[tp->nscopes++] = extra;
	}
	tp->scopes_json = scopes_json((const char *const *)tp->scopes,
	    tp->nscopes);
	log_info("authorized scopes: %s", tp->scopes_json);
}

/* The task is over: nothing of it reaches the credentials any more. */
static void
become_agent(struct taskproxy *tp, bool serving, uint32_t id)
{
	if (!tp->agent || !serving || tp->agent_on)
		taskproxy_violation("AGENT %s", !tp->agent ? "without --agent" :
		    !serving ? "before SERVING" : "twice");
	if (!tp->no_listener)
		server_stop();
	tp->agent_on = true;
	log_info("the task is over: its listener and connections are closed, "
	    "the agent takes requests");
	if (taskproxy_answer(tp, TP_OK, id, NULL, 0) == -1)
		fatal("sending OK");
}

/* One message on fd 3; exits on SHUTDOWN, on EOF, on anything unexpected. */
static void
read_control(struct ipc_conn *c, bool serving)
{
	char err[IPC_ERR_MAX];
	struct ipc_msg m;
	int rc = ipc_recv(c, &m, err, sizeof(err));

	if (rc == -2)
		return;
	if (rc == 0) {
		log_info("control socket closed, exiting");
		taskproxy_exit(CHILD_EXIT_OK);
	}
	if (rc == -1)
		taskproxy_violation("%s", err);
	switch (m.hdr.type) {
	case MSG_PING:
		if (taskproxy_answer(&proxy, MSG_PONG, m.hdr.id, m.payload, 8) ==
		    -1)
			fatal("sending PONG");
		break;
	case MSG_SHUTDOWN:
		log_debug("shutting down on request");
		taskproxy_exit(CHILD_EXIT_OK);
	case TP_SCOPES:
		take_scopes(&proxy, &m);
		break;
	case TP_AGENT:
		become_agent(&proxy, serving, m.hdr.id);
		break;
	case TP_UPLOAD:
	case TP_ERROR_ARTIFACT:
	case TP_LINK:
	case TP_RESOLVE:
		if (!proxy.agent_on)
			taskproxy_violation("%s before AGENT", m.spec->name);
		agent_take(&m);
		break;
	default:
		taskproxy_violation("%s", m.spec->name);
	}
	if (m.fd >= 0)
		close(m.fd);
}

/* --- start-up --- */

/* list: host patterns separated by ',' (sepworker.proxyAllowedHosts as
 * the supervisor passes it); "" for none. */
static void
set_allowed_hosts(struct taskproxy *tp, const char *list)
{
	char *copy = xstrdup(list), *p, *next;

	for (p = copy; *p != '\0'; p = next) {
		next = p + strcspn(p, ",");
		if (*next == ',')
			*next++ = '\0';
		tp->allowed_hosts = reallocarray(tp->allowed_hosts,
		    tp->nallowed_hosts + 1, sizeof(*tp->allowed_hosts));
		if (tp->allowed_hosts == NULL)
			fatalx("out of memory");
		tp->allowed_hosts[tp->nallowed_hosts++] = xstrdup(p);
	}
	free(copy);
}

/* Unconfigured, the dotted-host route reaches the root URL's host alone. */
static void
default_allowed_hosts(struct taskproxy *tp)
{
	struct url_parts u;
	char err[200];

	if (url_split(tp->root_url, &u, err, sizeof(err)) == -1)
		fatalx("--root-url: %s", err);
	set_allowed_hosts(tp, u.host);
	url_parts_free(&u);
}

static int
role_opt(const char *opt, const char *val, void *arg)
{
	struct taskproxy *tp = arg;
	uint64_t n;

	if (strcmp(opt, "--task-id") == 0 && *val != '\0')
		tp->task_id = xstrdup(val);
	else if (strcmp(opt, "--run-id") == 0 &&
	    parse_u64(val, 0, UINT32_MAX, &n) == 0)
		tp->run_id = (uint32_t)n;
	else if (strcmp(opt, "--root-url") == 0 && *val != '\0')
		tp->root_url = xstrdup(val);
	else if (strcmp(opt, "--allowed-uid") == 0 &&
	    parse_u64(val, 0, UINT32_MAX - 1, &n) == 0) {
		tp->allowed_uid = (uint32_t)n;
		tp->check_peer = true;
	} else if (strcmp(opt, "--retry-seconds") == 0 &&
	    parse_u64(val, 0, 3600, &n) == 0)
		tp->retry_seconds = (uint32_t)n;
	else if (strcmp(opt, "--allowed-hosts") == 0 &&
	    !tp->allowed_hosts_set) {
		set_allowed_hosts(tp, val);
		tp->allowed_hosts_set = true;
	} else if (strcmp(opt, "--artifact-scope") == 0 &&
	    (strcmp(val, "0") == 0 || strcmp(val, "1") == 0))
		tp->add_artifact_scope = *val == '1';
	/* (every child option takes a value: these take "1") */
	else if (strcmp(opt, "--agent") == 0 && strcmp(val, "1") == 0)
		tp->agent = tp->add_artifact_scope = true;
	else if (strcmp(opt, "--no-listener") == 0 && strcmp(val, "1") == 0)
		tp->no_listener = true;
	else if (strcmp(opt, "--live-log") == 0 && *val != '\0' &&
	    tp->live_log == NULL)
		tp->live_log = xstrdup(val);
	else if (strcmp(opt, "--backing-log") == 0 && *val != '\0' &&
	    tp->backing_log == NULL)
		tp->backing_log = xstrdup(val);
	else if (strcmp(opt, "--taken-until") == 0 &&
	    parse_u64(val, 1, INT64_MAX, &n) == 0)
		tp->taken_until_ms = (int64_t)n;
	else if (strcmp(opt, "--limits") == 0) {
		char err[256];

		if (limits_parse(val, &tp->limits, err, sizeof(err)) == -1)
			fatalx("%s", err);
	} else if (strcmp(opt, "--spool-fd") == 0 &&
	    parse_u64(val, TASKPROXY_SPOOL_FD, TASKPROXY_SPOOL_FD, &n) == 0)
		tp->spool_fd = TASKPROXY_SPOOL_FD;
	else
		return -1;
	return 0;
}

static void
check_fds(struct taskproxy *tp)
{
	socklen_t len = sizeof(tp->listen_addr);
	struct stat st;
	int type;
	socklen_t tlen = sizeof(type);

	if (tp->no_listener)
		close(TASKPROXY_LISTEN_FD);	/* a placeholder, if anything */
	else if (getsockopt(TASKPROXY_LISTEN_FD, SOL_SOCKET,
	    SO_TYPE, &type, &tlen) == -1 || type != SOCK_STREAM ||
	    getsockname(TASKPROXY_LISTEN_FD, (struct sockaddr *)&tp->listen_addr,
	    &len) == -1 || tp->listen_addr.sin_family != AF_INET)
		fatalx("fd %d is not an IPv4 TCP listener", TASKPROXY_LISTEN_FD);
	if (fcntl(TASKPROXY_CREDS_FD, F_GETFD) == -1)
		fatalx("fd %d (the credentials channel) is not open",
		    TASKPROXY_CREDS_FD);
	if (tp->spool_fd != -1 && (fstat(tp->spool_fd, &st) == -1 ||
	    !S_ISDIR(st.st_mode)))
		fatalx("fd %d (--spool-fd) is not a directory", tp->spool_fd);
}

static void
start_serving(struct taskproxy *tp)
{
	char err[256];

	if (tp->no_listener)
		log_info("task %s run %u: credentials in, no listener",
		    tp->task_id, tp->run_id);
	else {
		if (server_start(tp, TASKPROXY_LISTEN_FD, err,
		    sizeof(err)) == -1)
			fatalx("%s", err);
		log_info("serving task %s run %u on %s:%u%s", tp->task_id,
		    tp->run_id, inet_ntoa(tp->listen_addr.sin_addr),
		    ntohs(tp->listen_addr.sin_port), tp->check_peer ? "" :
		    " (its network namespace)");
	}
	if (taskproxy_answer(tp, TP_SERVING, 0, NULL, 0) == -1)
		fatal("sending SERVING");
	/* From now on the claim is kept, whatever else goes on. */
	if (tp->taken_until_ms != 0)
		reclaim_start(tp);
}

int
taskproxy_main(int argc, char **argv)
{
	struct ipc_conn ctl, cc;
	struct child_args args;
	struct taskproxy *tp = &proxy;
	bool serving = false, creds_open = true;

	prctl(PR_SET_NAME, "taskproxy", 0, 0, 0);
	tp->limits = tp_default_limits;
	child_start(argc, argv, "taskproxy", role_opt, tp, &args);
	if (tp->task_id == NULL || tp->root_url == NULL)
		fatalx("taskproxy: --task-id and --root-url are required");
	if (tp->no_listener && !tp->agent)
		fatalx("taskproxy: --no-listener is for --agent only");
	if (tp->spool_fd != -1 && !tp->agent)
		fatalx("taskproxy: --spool-fd is for --agent only");
	if (tp->taken_until_ms != 0 && !tp->agent)
		fatalx("taskproxy: --taken-until is for --agent only");
	if (!tp->allowed_hosts_set)
		default_allowed_hosts(tp);
	check_fds(tp);
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	pthread_rwlock_init(&tp->lock, NULL);
	/* Everything curl and OpenSSL load, they load now; threads too. */
	qc_global_init();
	qc_load_ca(&tp->ca_pem, &tp->ca_len);
	if (tp->check_peer && (tp->diag_fd = peer_diag_socket()) == -1)
		fatal("NETLINK_SOCK_DIAG socket");
	if (tp->agent)
		agent_init(tp, tp->spool_fd);
	signal(SIGPIPE, SIG_IGN);
	child_lockdown(tp->spool_fd != -1 ? &taskproxy_spool_policy :
	    &taskproxy_policy, &args);

	ipc_conn_init(&ctl, CHILD_CONTROL_FD, &taskproxy_channel,
	    IPC_TO_CHILD);
	tp->ctl = &ctl;
	ipc_conn_init(&cc, TASKPROXY_CREDS_FD, &taskcreds_channel,
	    IPC_TO_CHILD);
	tp->creds_conn = &cc;
	if (taskproxy_answer(tp, MSG_READY, 0, NULL, 0) == -1)
		fatal("sending READY");
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = CHILD_CONTROL_FD, .events = POLLIN },
			{ .fd = creds_open ? TASKPROXY_CREDS_FD : -1,
			    .events = POLLIN },
		};

		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[0].revents)
			read_control(&ctl, serving);
		/* Not polled any more, but left open: the reclaim thread
		 * writes to it, and its number must not be reused. */
		if (pfd[1].revents && !read_creds(&cc))
			creds_open = false;
		if (!serving && tp->have_creds && (tp->no_listener ||
		    tp->scopes != NULL)) {
			start_serving(tp);
			serving = true;
		}
	}
}
