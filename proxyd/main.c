/*
 * proxyd: holds the Taskcluster credentials and hands each task's to that
 * task's own proxy: temporary ones it issues for the task's scopes when
 * the credentials it holds are permanent (issue.c), so that no task
 * proxy ever holds a permanent accessToken.  Started by the supervisor;
 * locks itself down before
 * it serves its channel (common/chan_proxyd.h).  It never parses HTTP
 * from a task: that is the task proxy's job (taskproxy.c), the same
 * binary exec'd afresh per task as "taskproxy".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common/chan_proxyd.h"
#include "common/chan_taskproxy.h"
#include "common/child.h"
#include "common/log.h"
#include "common/memfd.h"
#include "common/secmem.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "proxyd/creds.h"
#include "proxyd/issue.h"
#include "proxyd/proxyd.h"

/* How long a task proxy has to take its credentials. */
#define FEED_TIMEOUT_MS	10000

static struct ipc_conn	conn;
static uint32_t		state = CHILD_ST_SERVING;

/* The next task's credentials, in locked memory; NULL when none. */
static struct {
	char	*client_id;
	char	*access_token;
	char	*certificate;	/* "" for permanent credentials */
} task_creds;

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

static int
answer_failed(uint32_t id, const char *why)
{
	uint8_t buf[4 + PX_REASON_MAX];
	struct ipc_writer w;

	log_warnx("%s", why);
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_str(&w, why, strnlen(why, PX_REASON_MAX));
	if (ipc_send(&conn, PX_FAILED, id, w.buf, w.len, -1) == -1)
		fatal("sending FAILED");
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

static int
on_task_creds(void *ctx, struct ipc_msg *m)
{
	const char *id, *token, *cert;
	size_t idlen, toklen, certlen;
	struct ipc_reader r;
	int rc = 0;

	(void)ctx;
	ipc_reader_init(&r, m);
	id = ipc_get_str(&r, PX_CLIENT_ID_MAX, &idlen);
	token = ipc_get_str(&r, PX_TOKEN_MAX, &toklen);
	cert = ipc_get_str(&r, PX_CERTIFICATE_MAX, &certlen);
	if (!ipc_get_end(&r) || idlen == 0 || toklen == 0)
		rc = -1;
	else if (!printable(id, idlen) || !printable(token, toklen) ||
	    !printable(cert, certlen))
		rc = answer_failed(m->hdr.id, "credentials must be printable "
		    "ASCII");
	else {
		forget_task_creds();
		task_creds.client_id = secmem_strndup(id, idlen);
		task_creds.access_token = secmem_strndup(token, toklen);
		task_creds.certificate = secmem_strndup(cert, certlen);
		log_info("holding credentials of client %s for the next task",
		    task_creds.client_id);
		if (ipc_send(&conn, PX_DONE, m->hdr.id, NULL, 0, -1) == -1)
			fatal("sending DONE");
	}
	/* The message itself held the token. */
	sodium_memzero(conn.buf, conn.chan->max_msg);
	return rc;
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
	if (ipc_send(&conn, PX_DONE, m->hdr.id, NULL, 0, -1) == -1)
		fatal("sending DONE");
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
	ipc_conn_free(&tp);
	close(PROXYD_FEED_FD);
	return why[0] == '\0' ? NULL : why;
}

static int
on_feed(void *ctx, struct ipc_msg *m)
{
	char why[PX_REASON_MAX];

	(void)ctx;
	if (task_creds.client_id == NULL)
		return answer_failed(m->hdr.id, "proxyd holds no task "
		    "credentials");
	/* A fixed fd number, so the filter can name the one socket this
	 * process may write credentials to. */
	if (m->fd != PROXYD_FEED_FD) {
		if (dup3(m->fd, PROXYD_FEED_FD, O_CLOEXEC) == -1)
			fatal("dup3");
		close(m->fd);
	}
	m->fd = -1;
	if (feed(why, sizeof(why)) != NULL) {
		forget_task_creds();
		return answer_failed(m->hdr.id, why);
	}
	log_info("handed the credentials of client %s to the task's proxy; "
	    "proxyd keeps no copy", task_creds.client_id);
	forget_task_creds();
	if (ipc_send(&conn, PX_DONE, m->hdr.id, NULL, 0, -1) == -1)
		fatal("sending DONE");
	return 0;
}

static const struct ipc_handler handlers[] = {
	{ PX_TASK_CREDS, CHILD_ST_SERVING, on_task_creds },
	{ PX_TASK_GRANT, CHILD_ST_SERVING, on_task_grant },
	{ PX_FEED_TASKPROXY, CHILD_ST_SERVING, on_feed },
};

int
main(int argc, char **argv)
{
	struct child_args args;

	sandbox_early(true);
	if (strcmp(argv[0], "taskproxy") == 0)
		return taskproxy_main(argc, argv);
	child_start(argc, argv, "proxyd", NULL, NULL, &args);
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	/* glibc's gmtime_r (time_format_ms) reads the time zone file on its
	 * first call: make that call now, while files may be opened. */
	tzset();
	child_lockdown(&proxyd_policy, &args);
	ipc_conn_init(&conn, CHILD_CONTROL_FD, &proxyd_channel, IPC_TO_CHILD);
	child_serve(&conn, handlers, nitems(handlers), &state, NULL);
}
