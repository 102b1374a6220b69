/*
 * proxyd: holds the Taskcluster credentials and hands each task's to that
 * task's own proxy: temporary ones it issues for the task's scopes when
 * the credentials it holds are permanent (issue.c), so that no task
 * proxy ever holds a permanent accessToken.  Started by the supervisor;
 * locks itself down before
 * it serves its channel (common/chan_proxyd.h).  It never parses HTTP
 * from a task: that is the task proxy's job (taskproxy.c), the same
 * binary exec'd afresh per task as "taskproxy".
 *
 * In worker mode (--worker) it holds the worker's credentials and makes
 * the worker's own calls: claimWork, whose answer it checks (claim.c)
 * and splits, the task definition up to the supervisor, the claim's task
 * credentials kept for that task's proxy alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/chan_proxyd.h"
#include "common/chan_taskproxy.h"
#include "common/child.h"
#include "common/json.h"
#include "common/log.h"
#include "common/memfd.h"
#include "common/secmem.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "proxyd/claim.h"
#include "proxyd/creds.h"
#include "proxyd/issue.h"
#include "proxyd/proxyd.h"
#include "proxyd/qclient.h"
#include "proxyd/url.h"

/* How long a task proxy has to take its credentials. */
#define FEED_TIMEOUT_MS	10000
/*
 * claimWork: the Queue holds the request up to 20 s waiting for a task
 * (CLAIM_WORK_TIMEOUT_MS), so an attempt may take longer than that; and
 * a worker must not wait the Go client's 15 minutes on a Queue that is
 * down: it gives up after 2, says why, and the supervisor asks again.
 */
#define CLAIM_ATTEMPT_S	60
#define CLAIM_BUDGET_S	120
/* shouldWorkerTerminate: asked before every claim; an answer that does
 * not come soon counts as "keep working". */
#define WM_ATTEMPT_S	30
#define WM_BUDGET_S	60
#define DNS_PORT	53

static struct ipc_conn	conn;
static uint32_t		state = CHILD_ST_SERVING;

/* Worker mode: the command line, the CA bundle, the worker's own
 * credentials (secmem; NULL until WORKER_CREDS). */
static struct {
	bool		 on;
	char		*root_url;
	char		*provisioner_id;
	char		*worker_type;
	char		*worker_group;
	char		*worker_id;
	uint16_t	 ports[2];	/* Landlock: the root URL's, DNS */
	void		*ca_pem;
	size_t		 ca_len;
	struct tc_creds	 creds;
} worker;

/* The next task's credentials, in locked memory; NULL when none. */
static struct {
	char	*client_id;
	char	*access_token;
	char	*certificate;	/* "" for permanent credentials */
} task_creds;

/*
 * The worker's own call in flight (claimWork, shouldWorkerTerminate), at
 * most one, on a thread of its own so that the control loop answers
 * PING and NEW_CREDENTIALS meanwhile.  The thread acts with a copy of
 * the worker's credentials taken when the call starts; lock guards
 * task_creds (a claim's thread installs them) and busy.
 */
enum wcall_kind { WCALL_CLAIM, WCALL_SHOULD_TERMINATE };

struct wcall {
	enum wcall_kind	 kind;
	uint32_t	 id;		/* the request's, for the answer */
	struct tc_creds	 creds;		/* secmem copies */
};

static pthread_mutex_t	wcall_lock = PTHREAD_MUTEX_INITIALIZER;
static bool		wcall_busy;

/* What the next task may do with credentials proxyd issues, and until
 * when (TASK_GRANT); scopes NULL when none was given. */
static struct {
	char	**scopes;
	size_t	  nscopes;
	int64_t	  expiry_ms;
} grant;

static void
forget_task_creds(void)
{
	secmem_free(task_creds.client_id);
	secmem_free(task_creds.access_token);
	secmem_free(task_creds.certificate);
	memset(&task_creds, 0, sizeof(task_creds));
	scopes_free(grant.scopes, grant.nscopes);
	memset(&grant, 0, sizeof(grant));
}

/* An answer that is one u32-length string (FAILED, NO_TASK, TERMINATE):
 * why, cut at PX_REASON_MAX. */
static void
answer_reason(uint32_t type, uint32_t id, const char *why)
{
	uint8_t buf[4 + PX_REASON_MAX];
	struct ipc_writer w;

	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_str(&w, why, strnlen(why, PX_REASON_MAX));
	if (ipc_send(&conn, type, id, w.buf, w.len, -1) == -1)
		fatal("sending an answer");
}

static int
answer_failed(uint32_t id, const char *why)
{
	log_warnx("%s", why);
	answer_reason(PX_FAILED, id, why);
	return 0;
}

/* Credentials are printable ASCII: anything else is refused, never
 * passed on. */
static bool
printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/*
 * clientId, accessToken, certificate as TASK_CREDS and WORKER_CREDS carry
 * them, copied into locked memory; -1 for a malformed message (a
 * protocol violation), 1 with why set for credentials refused, 0 when
 * taken.  The message itself held the token: the receive buffer is wiped
 * either way.
 */
static int
take_creds_msg(struct ipc_msg *m, struct tc_creds *c, const char **why)
{
	const char *id, *token, *cert;
	size_t idlen, toklen, certlen;
	struct ipc_reader r;
	int rc = 0;

	ipc_reader_init(&r, m);
	id = ipc_get_str(&r, PX_CLIENT_ID_MAX, &idlen);
	token = ipc_get_str(&r, PX_TOKEN_MAX, &toklen);
	cert = ipc_get_str(&r, PX_CERTIFICATE_MAX, &certlen);
	if (!ipc_get_end(&r) || idlen == 0 || toklen == 0)
		rc = -1;
	else if (!printable(id, idlen) || !printable(token, toklen) ||
	    !printable(cert, certlen)) {
		*why = "credentials must be printable ASCII";
		rc = 1;
	} else {
		c->client_id = secmem_strndup(id, idlen);
		c->access_token = secmem_strndup(token, toklen);
		c->certificate = secmem_strndup(cert, certlen);
	}
	sodium_memzero(conn.buf, conn.chan->max_msg);
	return rc;
}

static void
answer_done(uint32_t id)
{
	if (ipc_send(&conn, PX_DONE, id, NULL, 0, -1) == -1)
		fatal("sending DONE");
}

static int
on_task_creds(void *ctx, struct ipc_msg *m)
{
	struct tc_creds c = { 0 };
	const char *why = NULL;
	int rc;

	(void)ctx;
	if ((rc = take_creds_msg(m, &c, &why)) != 0)
		return rc == -1 ? -1 : answer_failed(m->hdr.id, why);
	forget_task_creds();
	task_creds.client_id = c.client_id;
	task_creds.access_token = c.access_token;
	task_creds.certificate = c.certificate;
	log_info("holding credentials of client %s for the next task",
	    task_creds.client_id);
	answer_done(m->hdr.id);
	return 0;
}

/* The task's scopes (sealed memfd, read here for the first time since
 * the taskrunner wrote them) and the expiry the supervisor computed. */
static int
on_task_grant(void *ctx, struct ipc_msg *m)
{
	char err[160], *buf, **scopes;
	struct ipc_reader r;
	size_t size, n;
	int64_t expiry;

	(void)ctx;
	ipc_reader_init(&r, m);
	expiry = (int64_t)ipc_get_u64(&r);
	if (!ipc_get_end(&r))
		return -1;
	if (memfd_check_sealed(m->fd, SCOPES_MAX_BYTES, &size, err,
	    sizeof(err)) == -1)
		return answer_failed(m->hdr.id, err);
	buf = xmalloc(size + 1);
	if (memfd_read(m->fd, buf, size) == -1)
		fatal("reading the task's scopes");
	if (scopes_parse_lines(buf, size, &scopes, &n, err,
	    sizeof(err)) == -1) {
		free(buf);
		return answer_failed(m->hdr.id, err);
	}
	free(buf);
	scopes_free(grant.scopes, grant.nscopes);
	grant.scopes = scopes;
	grant.nscopes = n;
	grant.expiry_ms = expiry;
	answer_done(m->hdr.id);
	return 0;
}

/* Append s to the JSON being built in buf, as a string body. */
static size_t
put_json_string(char *buf, size_t at, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf[at++] = '\\';
		buf[at++] = *s;
	}
	return at;
}

/*
 * {"clientId":"…","accessToken":"…","certificate":"…"} in locked memory.
 * Every character is printable ASCII, so escaping " and \ is all JSON
 * needs; the worst case doubles each string.
 */
static char *
creds_json(const char *id, const char *token, const char *cert, size_t *len)
{
	size_t cap = 64 + 2 * (strlen(id) + strlen(token) + strlen(cert));
	char *buf = secmem_alloc(cap);
	size_t at = 0;

#define LIT(s)	(memcpy(buf + at, s, sizeof(s) - 1), at += sizeof(s) - 1)
	LIT("{\"clientId\":\"");
	at = put_json_string(buf, at, id);
	LIT("\",\"accessToken\":\"");
	at = put_json_string(buf, at, token);
	LIT("\",\"certificate\":\"");
	at = put_json_string(buf, at, cert);
	LIT("\"}");
#undef LIT
	*len = at;
	return buf;
}

/*
 * What the task proxy gets: temporary credentials as they are; from
 * permanent ones, temporary credentials issued now for the granted
 * scopes, from now to the granted expiry.  NULL with why set.
 */
static char *
task_proxy_creds(size_t *len, char *why, size_t whylen)
{
	char seed[ISSUE_SEED_LEN + 1], when[TIMEFMT_LEN], *json;
	struct tc_creds tc;
	struct issue_request rq;

	if (*task_creds.certificate != '\0')
		return creds_json(task_creds.client_id,
		    task_creds.access_token, task_creds.certificate, len);
	if (grant.scopes == NULL) {
		snprintf(why, whylen, "proxyd was not told the task's scopes "
		    "and expiry: it hands no task permanent credentials");
		return NULL;
	}
	issue_seed(seed);
	rq = (struct issue_request){ task_creds.client_id,
	    task_creds.access_token, (const char *const *)grant.scopes,
	    grant.nscopes, time_now_ms(), grant.expiry_ms, seed };
	if (rq.expiry <= rq.start) {
		time_format_ms(rq.expiry, when);
		snprintf(why, whylen, "the task's credentials would expire at "
		    "%s, which is past (its deadline has passed)", when);
		return NULL;
	}
	if (issue_temp_creds(&rq, &tc, why, whylen) == -1)
		return NULL;
	time_format_ms(rq.expiry, when);
	log_info("issued temporary credentials of client %s for the task: "
	    "%zu scopes, valid until %s", tc.client_id, grant.nscopes, when);
	json = creds_json(tc.client_id, tc.access_token, tc.certificate, len);
	creds_free(&tc);
	return json;
}

/* --- worker mode: the task's credentials as its proxy renews them --- */

static struct ipc_conn	feed_conn;
static bool		feed_watched;

static void
unwatch_feed(void)
{
	if (!feed_watched)
		return;
	child_serve_watch(-1, NULL);
	sodium_memzero(feed_conn.buf, feed_conn.chan->max_msg);
	ipc_conn_free(&feed_conn);	/* closes PROXYD_FEED_FD */
	feed_watched = false;
}

/* A reclaim's credentials from the task proxy: the task's from now on. */
static void
on_renewal(void *ctx)
{
	char err[IPC_ERR_MAX];
	struct tc_creds c = { 0 };
	const char *why = NULL;
	struct ipc_msg m;
	int rc;

	(void)ctx;
	if ((rc = ipc_recv(&feed_conn, &m, err, sizeof(err))) == -2)
		return;
	if (rc != 1 || m.hdr.type != TPC_RENEWED) {
		/* The task proxy exited or died: what it last sent stays. */
		if (rc == -1 || (rc == 1 && m.hdr.type != TPC_RENEWED))
			log_warnx("the task proxy's credentials channel: %s",
			    rc == -1 ? err : "an unexpected message");
		unwatch_feed();
		return;
	}
	rc = take_creds_msg(&m, &c, &why);
	sodium_memzero(feed_conn.buf, feed_conn.chan->max_msg);
	if (rc != 0 || *c.certificate == '\0') {
		log_warnx("the task proxy's renewed credentials are refused: %s",
		    rc == 1 ? why : "malformed or not temporary");
		creds_free(&c);
		unwatch_feed();
		return;
	}
	pthread_mutex_lock(&wcall_lock);
	secmem_free(task_creds.client_id);
	secmem_free(task_creds.access_token);
	secmem_free(task_creds.certificate);
	task_creds.client_id = c.client_id;
	task_creds.access_token = c.access_token;
	task_creds.certificate = c.certificate;
	log_info("holding the task's renewed credentials (client %s) until "
	    "it is over", task_creds.client_id);
	pthread_mutex_unlock(&wcall_lock);
}

static void
watch_feed(void)
{
	ipc_conn_init(&feed_conn, PROXYD_FEED_FD, &taskcreds_channel,
	    IPC_TO_SUPERVISOR);
	feed_watched = true;
	child_serve_watch(PROXYD_FEED_FD, on_renewal);
}

/* Send the credentials on fd TASKPROXY_FEED_FD and wait for the verdict;
 * NULL if accepted, else why not. */
static const char *
feed(char *why, size_t whylen)
{
	struct ipc_conn tp;
	struct pollfd pfd = { .fd = PROXYD_FEED_FD, .events = POLLIN };
	char err[IPC_ERR_MAX];
	struct ipc_msg m;
	size_t len;
	char *json;
	int rc;

	ipc_conn_init(&tp, PROXYD_FEED_FD, &taskcreds_channel,
	    IPC_TO_SUPERVISOR);
	if ((json = task_proxy_creds(&len, why, whylen)) == NULL)
		goto out;
	/* The certificate carries every scope of the task. */
	if (len > TPC_MAX_MSG - IPC_HDR_SIZE) {
		secmem_free(json);
		snprintf(why, whylen, "the task's credentials take %zu bytes "
		    "(its scopes are in their certificate), more than the %u "
		    "a task proxy takes", len, TPC_MAX_MSG - IPC_HDR_SIZE);
		goto out;
	}
	rc = ipc_send(&tp, TPC_CREDENTIALS, 1, json, len, -1);
	secmem_free(json);
	if (rc == -1) {
		snprintf(why, whylen, "the task proxy's channel: %s",
		    strerror(errno));
		goto out;
	}
	if (poll(&pfd, 1, FEED_TIMEOUT_MS) != 1) {
		snprintf(why, whylen, "the task proxy did not take its "
		    "credentials within %d ms", FEED_TIMEOUT_MS);
		goto out;
	}
	rc = ipc_recv(&tp, &m, err, sizeof(err));
	if (rc != 1) {
		snprintf(why, whylen, "the task proxy's answer: %s", rc == 0 ?
		    "it closed its channel" : err);
		goto out;
	}
	if (m.hdr.type == TPC_REJECTED) {
		struct ipc_reader r;
		const char *s;
		size_t n;

		ipc_reader_init(&r, &m);
		s = ipc_get_str(&r, TPC_REASON_MAX, &n);
		snprintf(why, whylen, "the task proxy rejected its "
		    "credentials: %.*s", s != NULL ? (int)n : 0,
		    s != NULL ? s : "");
		goto out;
	}
	why[0] = '\0';
out:
	/* Worker mode: the channel stays, for the task proxy's renewals. */
	if (why[0] == '\0' && worker.on)
		tp.sock = -1;
	ipc_conn_free(&tp);
	if (why[0] == '\0' && worker.on)
		watch_feed();
	return why[0] == '\0' ? NULL : why;
}

static int
feed_task_proxy(struct ipc_msg *m)
{
	char why[PX_REASON_MAX];

	if (task_creds.client_id == NULL)
		return answer_failed(m->hdr.id, "proxyd holds no task "
		    "credentials");
	/* A task proxy fed before (and now dead, or going): its channel
	 * is closed before the next takes its number. */
	unwatch_feed();
	/* A fixed fd number, so the filter can name the one socket this
	 * process may write credentials to. */
	if (m->fd != PROXYD_FEED_FD) {
		if (dup3(m->fd, PROXYD_FEED_FD, O_CLOEXEC) == -1)
			fatal("dup3");
		close(m->fd);
	}
	m->fd = -1;
	if (feed(why, sizeof(why)) != NULL) {
		/* Worker mode: they are the task's still, for another try;
		 * FORGET_TASK wipes them. */
		if (!worker.on)
			forget_task_creds();
		return answer_failed(m->hdr.id, why);
	}
	if (worker.on) {
		log_info("handed the credentials of client %s to the task's "
		    "proxy; proxyd keeps the task's latest until it is over",
		    task_creds.client_id);
		answer_done(m->hdr.id);
		return 0;
	}
	log_info("handed the credentials of client %s to the task's proxy; "
	    "proxyd keeps no copy", task_creds.client_id);
	forget_task_creds();
	answer_done(m->hdr.id);
	return 0;
}

/* A claim's thread may be installing the task's credentials. */
static int
on_feed(void *ctx, struct ipc_msg *m)
{
	int rc;

	(void)ctx;
	pthread_mutex_lock(&wcall_lock);
	rc = feed_task_proxy(m);
	pthread_mutex_unlock(&wcall_lock);
	return rc;
}

/* --- worker mode --- */

static int
on_worker_creds(void *ctx, struct ipc_msg *m)
{
	struct tc_creds c = { 0 };
	const char *why = NULL;
	int rc;

	(void)ctx;
	if ((rc = take_creds_msg(m, &c, &why)) != 0)
		return rc == -1 ? -1 : answer_failed(m->hdr.id, why);
	creds_free(&worker.creds);
	worker.creds = c;
	log_info("holding the worker's credentials: client %s%s",
	    c.client_id, *c.certificate != '\0' ? " (temporary)" : "");
	answer_done(m->hdr.id);
	return 0;
}

static void
answer_no_task(uint32_t id, const char *why)
{
	answer_reason(PX_NO_TASK, id, why);
}

/* The typed summary and the definition up; the credentials kept as the
 * next task's. */
static void
answer_claimed(uint32_t id, struct claim *c)
{
	uint8_t buf[sizeof(struct px_claim) + 2 * (4 + PX_SLUGID_LEN)];
	struct px_claim pc = { c->run_id, 0, c->taken_until_ms,
	    c->expires_ms };
	struct ipc_writer w;
	char when[TIMEFMT_LEN];
	int fd;

	if ((fd = memfd_sealed("task", c->task, c->task_len)) == -1)
		fatal("a memfd for task %s", c->task_id);
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_bytes(&w, &pc, sizeof(pc));
	ipc_put_str(&w, c->task_id, strlen(c->task_id));
	ipc_put_str(&w, c->task_group_id, strlen(c->task_group_id));
	task_creds.client_id = c->creds.client_id;
	task_creds.access_token = c->creds.access_token;
	task_creds.certificate = c->creds.certificate;
	memset(&c->creds, 0, sizeof(c->creds));
	time_format_ms(c->taken_until_ms, when);
	log_info("claimed task %s run %u, taken until %s; holding its "
	    "credentials (client %s) for its proxy", c->task_id, c->run_id,
	    when, task_creds.client_id);
	if (ipc_send(&conn, PX_CLAIMED, id, w.buf, w.len, fd) == -1)
		fatal("sending CLAIMED");
	close(fd);
}

/* POST claim-work/<provisionerId%2FworkerType> with the worker's
 * credentials (the call's copy); the body as Go's encoding/json writes
 * the request. */
static int
call_claim_work(const struct tc_creds *creds, struct qc_result *r)
{
	char *queue = xasprintf("%s/%s", worker.provisioner_id,
	    worker.worker_type), *esc = qc_escape(queue);
	char *path = xasprintf("claim-work/%s", esc);
	struct json_object *body = json_object_new_object();
	const char *text;
	size_t len;
	int rc;

	json_object_object_add(body, "tasks", json_object_new_int(1));
	json_object_object_add(body, "workerGroup",
	    json_object_new_string(worker.worker_group));
	json_object_object_add(body, "workerId",
	    json_object_new_string(worker.worker_id));
	text = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	rc = qc_do(&(struct qc_call){ .root_url = worker.root_url,
	    .service = "queue", .method = "POST", .path = path, .body = text,
	    .body_len = len, .creds = creds, .ca_pem = worker.ca_pem,
	    .ca_len = worker.ca_len, .max_elapsed_s = CLAIM_BUDGET_S,
	    .attempt_timeout_s = CLAIM_ATTEMPT_S,
	    .max_response = CLAIM_RESPONSE_MAX }, r);
	json_object_put(body);
	free(path);
	free(esc);
	free(queue);
	return rc;
}

/*
 * A claim whose answer fails the checks is answered NO_TASK naming the
 * field: nothing in it can be trusted, its taskId included, so proxyd
 * cannot resolve the run; the Queue lets the claim lapse at takenUntil
 * and resolves the run exception/claim-expired (and retries the task
 * if it has retries left).  Runs on the call's thread; answers under
 * the lock, where it installs the claim's task credentials.
 */
static void
claim_work(const struct wcall *wc)
{
	char why[PX_REASON_MAX];
	struct qc_result r;
	struct claim c;
	int rc;

	log_debug("claimWork as client %s", wc->creds.client_id);
	if (call_claim_work(&wc->creds, &r) == -1) {
		pthread_mutex_lock(&wcall_lock);
		answer_no_task(wc->id, r.err);
		qc_result_free(&r);
		return;
	}
	if (r.status != 200) {
		snprintf(why, sizeof(why), "claimWork answered HTTP %ld, not "
		    "200", r.status);
		rc = -1;
	} else
		rc = claim_parse(r.body, r.body_len, &c, why, sizeof(why));
	qc_result_free(&r);
	pthread_mutex_lock(&wcall_lock);
	if (rc == 1) {
		answer_claimed(wc->id, &c);
		claim_free(&c);
		return;
	}
	if (rc == -1)
		log_warnx("the Queue's claimWork answer is refused: %s", why);
	answer_no_task(wc->id, rc == 0 ? "" : why);
}

static void
answer_terminate(uint32_t id, const char *why)
{
	answer_reason(PX_TERMINATE, id, why);
}

/* GET worker-manager's workers/<pool>/<group>/<id>/should-terminate:
 * {"terminate": bool, "reason": string}.  On the call's thread. */
static void
should_terminate(const struct wcall *wc)
{
	char *pool = xasprintf("%s/%s", worker.provisioner_id,
	    worker.worker_type), *e_pool = qc_escape(pool);
	char *e_group = qc_escape(worker.worker_group);
	char *e_id = qc_escape(worker.worker_id);
	char *path = xasprintf("workers/%s/%s/%s/should-terminate", e_pool,
	    e_group, e_id);
	struct json_object *o = NULL, *t, *why;
	struct qc_result r;
	char err[160];
	int rc;

	rc = qc_do(&(struct qc_call){ .root_url = worker.root_url,
	    .service = "worker-manager", .method = "GET", .path = path,
	    .creds = &wc->creds, .ca_pem = worker.ca_pem,
	    .ca_len = worker.ca_len, .max_elapsed_s = WM_BUDGET_S,
	    .attempt_timeout_s = WM_ATTEMPT_S, .max_response = 65536 }, &r);
	free(path);
	free(e_id);
	free(e_group);
	free(e_pool);
	free(pool);
	if (rc == 0 && r.status == 200)
		o = json_parse_strict(r.body, r.body_len, 65536, 4, err,
		    sizeof(err));
	pthread_mutex_lock(&wcall_lock);
	if (o == NULL || !json_object_object_get_ex(o, "terminate", &t) ||
	    !json_object_is_type(t, json_type_boolean))
		answer_failed(wc->id, rc == -1 ? r.err :
		    "shouldWorkerTerminate answered something other than "
		    "{\"terminate\": bool}");
	else if (!json_object_get_boolean(t))
		answer_done(wc->id);
	else
		answer_terminate(wc->id, json_object_object_get_ex(o, "reason",
		    &why) && json_object_is_type(why, json_type_string) ?
		    json_object_get_string(why) : "");
	if (o != NULL)
		json_object_put(o);
	qc_result_free(&r);
}

static void *
wcall_thread(void *arg)
{
	struct wcall *wc = arg;

	if (wc->kind == WCALL_CLAIM)
		claim_work(wc);
	else
		should_terminate(wc);
	/* Both answered with the lock held. */
	wcall_busy = false;
	pthread_mutex_unlock(&wcall_lock);
	creds_free(&wc->creds);
	free(wc);
	return NULL;
}

/* Start the worker's call kind on its thread, with a copy of the
 * worker's credentials as they are now. */
static int
start_wcall(enum wcall_kind kind, uint32_t id)
{
	struct wcall *wc;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_mutex_lock(&wcall_lock);
	if (worker.creds.client_id == NULL || wcall_busy ||
	    (kind == WCALL_CLAIM && task_creds.client_id != NULL)) {
		rc = answer_failed(id, worker.creds.client_id == NULL ?
		    "proxyd holds no worker credentials" : wcall_busy ?
		    "proxyd is making another call for the worker" :
		    "proxyd still holds the last claim's task credentials: "
		    "forget them first");
		pthread_mutex_unlock(&wcall_lock);
		return rc;
	}
	wc = xcalloc(1, sizeof(*wc));
	wc->kind = kind;
	wc->id = id;
	wc->creds.client_id = secmem_strndup(worker.creds.client_id,
	    strlen(worker.creds.client_id));
	wc->creds.access_token = secmem_strndup(worker.creds.access_token,
	    strlen(worker.creds.access_token));
	wc->creds.certificate = secmem_strndup(worker.creds.certificate,
	    strlen(worker.creds.certificate));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if ((rc = pthread_create(&t, &attr, wcall_thread, wc)) != 0) {
		errno = rc;
		fatal("starting the worker's call");
	}
	pthread_attr_destroy(&attr);
	wcall_busy = true;
	pthread_mutex_unlock(&wcall_lock);
	return 0;
}

static int
on_claim_work(void *ctx, struct ipc_msg *m)
{
	(void)ctx;
	return start_wcall(WCALL_CLAIM, m->hdr.id);
}

static int
on_should_terminate(void *ctx, struct ipc_msg *m)
{
	(void)ctx;
	return start_wcall(WCALL_SHOULD_TERMINATE, m->hdr.id);
}

static int
on_forget_task(void *ctx, struct ipc_msg *m)
{
	(void)ctx;
	pthread_mutex_lock(&wcall_lock);
	if (task_creds.client_id != NULL)
		log_info("forgetting the credentials of client %s",
		    task_creds.client_id);
	unwatch_feed();
	forget_task_creds();
	answer_done(m->hdr.id);
	pthread_mutex_unlock(&wcall_lock);
	return 0;
}

/* A printable string member of o, at most max bytes; NULL if o has none
 * (or it is no such string). */
static const char *
creds_member(struct json_object *o, const char *key, size_t max,
    size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	if (*len > max || !printable(json_object_get_string(v), *len))
		return NULL;
	return json_object_get_string(v);
}

/*
 * worker-runner's new-credentials, passed on unread by the supervisor:
 * {"type":"new-credentials","client-id","access-token"[,"certificate"]}.
 * They replace the worker's from the next call on (a call in flight has
 * its own copy).  The message, and json-c's strings, are wiped.
 */
static int
on_new_credentials(void *ctx, struct ipc_msg *m)
{
	struct json_object *o;
	const char *id, *token, *cert = "";
	size_t idlen, toklen, certlen = 0;
	char err[160];
	bool ok;

	(void)ctx;
	o = json_parse_strict((const char *)m->payload, m->payload_len,
	    PX_NEW_CREDS_MAX, 4, err, sizeof(err));
	sodium_memzero(conn.buf, conn.chan->max_msg);
	if (o == NULL)
		return answer_failed(m->hdr.id, "new-credentials: not a JSON "
		    "object");
	id = creds_member(o, "client-id", PX_CLIENT_ID_MAX, &idlen);
	token = creds_member(o, "access-token", PX_TOKEN_MAX, &toklen);
	if (json_object_object_get_ex(o, "certificate", NULL))
		cert = creds_member(o, "certificate", PX_CERTIFICATE_MAX,
		    &certlen);
	ok = json_object_is_type(o, json_type_object) && id != NULL &&
	    idlen > 0 && token != NULL && toklen > 0 && cert != NULL;
	if (ok) {
		creds_free(&worker.creds);
		worker.creds.client_id = secmem_strndup(id, idlen);
		worker.creds.access_token = secmem_strndup(token, toklen);
		worker.creds.certificate = secmem_strndup(cert, certlen);
		log_info("holding the worker's new credentials: client %s%s",
		    worker.creds.client_id, certlen > 0 ? " (temporary)" : "");
	}
	json_wipe_strings(o);
	json_object_put(o);
	if (!ok)
		return answer_failed(m->hdr.id, "new-credentials: client-id "
		    "and access-token must be non-empty printable strings, "
		    "certificate (if any) a printable string, within proxyd's "
		    "limits; the worker keeps its credentials");
	answer_done(m->hdr.id);
	return 0;
}

/* --- start-up --- */

static const struct ipc_handler runtask_handlers[] = {
	{ PX_TASK_CREDS, CHILD_ST_SERVING, on_task_creds },
	{ PX_TASK_GRANT, CHILD_ST_SERVING, on_task_grant },
	{ PX_FEED_TASKPROXY, CHILD_ST_SERVING, on_feed },
};

static const struct ipc_handler worker_handlers[] = {
	{ PX_WORKER_CREDS, CHILD_ST_SERVING, on_worker_creds },
	{ PX_CLAIM_WORK, CHILD_ST_SERVING, on_claim_work },
	{ PX_FEED_TASKPROXY, CHILD_ST_SERVING, on_feed },
	{ PX_FORGET_TASK, CHILD_ST_SERVING, on_forget_task },
	{ PX_NEW_CREDENTIALS, CHILD_ST_SERVING, on_new_credentials },
	{ PX_SHOULD_TERMINATE, CHILD_ST_SERVING, on_should_terminate },
};

static int
worker_opt(const char *opt, const char *val, void *arg)
{
	char **slot;

	(void)arg;
	if (strcmp(opt, "--root-url") == 0)
		slot = &worker.root_url;
	else if (strcmp(opt, "--provisioner-id") == 0)
		slot = &worker.provisioner_id;
	else if (strcmp(opt, "--worker-type") == 0)
		slot = &worker.worker_type;
	else if (strcmp(opt, "--worker-group") == 0)
		slot = &worker.worker_group;
	else if (strcmp(opt, "--worker-id") == 0)
		slot = &worker.worker_id;
	else
		return -1;
	if (*val == '\0' || *slot != NULL)
		return -1;
	*slot = xstrdup(val);
	return 0;
}

/* Remove flag (an option without a value) from argv; true if it was
 * there.  child_start takes only options with values. */
static bool
take_flag(int *argc, char **argv, const char *flag)
{
	for (int i = 1; i < *argc; i++)
		if (strcmp(argv[i], flag) == 0) {
			memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i) *
			    sizeof(*argv));
			(*argc)--;
			return true;
		}
	return false;
}

/* Everything worker mode needs before lockdown: the command line
 * checked, libcurl and OpenSSL set up, the CA bundle read, and the
 * ports Landlock will let it connect to. */
static void
worker_setup(struct child_args *args)
{
	struct url_parts u;
	char err[200];

	if (worker.root_url == NULL || worker.provisioner_id == NULL ||
	    worker.worker_type == NULL || worker.worker_group == NULL ||
	    worker.worker_id == NULL) {
		log_errorx("proxyd --worker: --root-url, --provisioner-id, "
		    "--worker-type, --worker-group and --worker-id are "
		    "required");
		exit(CHILD_EXIT_USAGE);
	}
	if (url_split(worker.root_url, &u, err, sizeof(err)) == -1) {
		log_errorx("proxyd --worker: --root-url: %s", err);
		exit(CHILD_EXIT_USAGE);
	}
	worker.ports[0] = u.port;
	worker.ports[1] = DNS_PORT;
	url_parts_free(&u);
	args->connect_ports = worker.ports;
	args->nconnect_ports = nitems(worker.ports);
	qc_global_init();
	qc_load_ca(&worker.ca_pem, &worker.ca_len);
	signal(SIGPIPE, SIG_IGN);
}

int
main(int argc, char **argv)
{
	struct child_args args;

	sandbox_early(true);
	if (strcmp(argv[0], "taskproxy") == 0)
		return taskproxy_main(argc, argv);
	worker.on = take_flag(&argc, argv, "--worker");
	child_start(argc, argv, "proxyd", worker.on ? worker_opt : NULL, NULL,
	    &args);
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	/* glibc's gmtime_r (time_format_ms) reads the time zone file on its
	 * first call: make that call now, while files may be opened. */
	tzset();
	if (worker.on)
		worker_setup(&args);
	child_lockdown(worker.on ? &proxyd_worker_policy : &proxyd_policy,
	    &args);
	if (worker.on)
		log_info("worker mode: %s/%s, worker %s/%s, Queue at %s",
		    worker.provisioner_id, worker.worker_type,
		    worker.worker_group, worker.worker_id, worker.root_url);
	ipc_conn_init(&conn, CHILD_CONTROL_FD, &proxyd_channel, IPC_TO_CHILD);
	if (worker.on)
		child_serve(&conn, worker_handlers, nitems(worker_handlers),
		    &state, NULL);
	child_serve(&conn, runtask_handlers, nitems(runtask_handlers), &state,
	    NULL);
}
