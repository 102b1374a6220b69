/*
 * The task proxy's reclaims (reclaim.h): one thread, its own calls.
 *
 * It sleeps until the schedule says, calls reclaimTask signed with the
 * credentials in use (no authorizedScopes: the task's scopes lack
 * queue:reclaim-task), retried with the Go client's backoff but never
 * past takenUntil, and on success puts the new credentials in use before
 * anything else, then tells the supervisor.  A reclaim refused (or not
 * answered in time) is told too, with the run's state as the Queue gives
 * it to anyone (status, unauthenticated), and ends the thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "common/chan_proxyd.h"
#include "common/chan_taskproxy.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "proxyd/qclient.h"
#include "proxyd/reclaim.h"
#include "proxyd/taskproxy.h"

#define ANSWER_MAX		(1u << 20)
#define ANSWER_DEPTH		8u
/* The Go client's retry budget; never past takenUntil either. */
#define RETRY_MAX_S		900
#define STATUS_RETRY_S		10u

static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 wake;
	bool		 stop;
	bool		 started;
} rc = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false,
    false };

static bool
stopped(void)
{
	bool s;

	pthread_mutex_lock(&rc.lock);
	s = rc.stop;
	pthread_mutex_unlock(&rc.lock);
	return s;
}

/* Sleep until at (wall clock, as takenUntil is); false if stopped. */
static bool
wait_until(int64_t at)
{
	struct timespec ts = { at / 1000, (at % 1000) * 1000000L };
	bool go;

	pthread_mutex_lock(&rc.lock);
	while (!rc.stop && time_now_ms() < at)
		if (pthread_cond_timedwait(&rc.wake, &rc.lock, &ts) ==
		    ETIMEDOUT)
			break;
	go = !rc.stop;
	pthread_mutex_unlock(&rc.lock);
	return go;
}

static char *
run_path(const struct taskproxy *tp, const char *what)
{
	char *t = qc_escape(tp->task_id), *p;

	p = xasprintf("task/%s/runs/%u/%s", t, tp->run_id, what);
	free(t);
	return p;
}

static bool
printable(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return n > 0 && n <= max;
}

/* reclaimTask's answer: its credentials (secmem) and takenUntil. */
static int
parse_reclaim(const struct qc_result *r, struct tc_creds *c, int64_t *until,
    char *err, size_t errlen)
{
	struct json_object *doc, *cr;
	const char *id, *token, *cert, *when;
	int ret = -1;

	if ((doc = json_parse_strict(r->body != NULL ? r->body : "",
	    r->body_len, ANSWER_MAX, ANSWER_DEPTH, err, errlen)) == NULL)
		return -1;
	if (!json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, "credentials", &cr) ||
	    !json_object_is_type(cr, json_type_object) ||
	    json_get_string(cr, "clientId", &id, err, errlen) != 1 ||
	    json_get_string(cr, "accessToken", &token, err, errlen) != 1 ||
	    json_get_string(cr, "certificate", &cert, err, errlen) != 1 ||
	    json_get_string(doc, "takenUntil", &when, err, errlen) != 1) {
		snprintf(err, errlen, "no credentials or takenUntil");
		goto out;
	}
	if (!printable(id, PX_CLIENT_ID_MAX) ||
	    !printable(token, PX_TOKEN_MAX) ||
	    !printable(cert, PX_CERTIFICATE_MAX)) {
		snprintf(err, errlen, "credentials that are not printable "
		    "strings within their limits");
		goto out;
	}
	if (time_parse_rfc3339(when, until) == -1) {
		snprintf(err, errlen, "takenUntil is not a time");
		goto out;
	}
	c->client_id = secmem_strndup(id, strlen(id));
	c->access_token = secmem_strndup(token, strlen(token));
	c->certificate = secmem_strndup(cert, strlen(cert));
	ret = 0;
out:
	json_wipe_strings(doc);
	json_object_put(doc);
	return ret;
}

/* The run's state and reasonResolved as the Queue gives them to anyone
 * ("exception/canceled", "running"), or "" if it cannot be learned. */
static void
run_state(struct taskproxy *tp, char *out, size_t outlen)
{
	char *t = qc_escape(tp->task_id), *path, err[128];
	struct qc_call c = {
		.root_url = tp->root_url, .service = "queue", .method = "GET",
		.ca_pem = tp->ca_pem, .ca_len = tp->ca_len,
		.max_elapsed_s = STATUS_RETRY_S, .attempt_timeout_s = 10,
		.max_response = ANSWER_MAX,
	};
	struct json_object *doc = NULL, *st, *runs, *run;
	struct qc_result r;
	const char *state, *reason = NULL;

	out[0] = '\0';
	path = xasprintf("task/%s/status", t);
	c.path = path;
	if (qc_do(&c, &r) == 0 && (doc = json_parse_strict(r.body != NULL ?
	    r.body : "", r.body_len, ANSWER_MAX, ANSWER_DEPTH, err,
	    sizeof(err))) != NULL &&
	    json_object_is_type(doc, json_type_object) &&
	    json_object_object_get_ex(doc, "status", &st) &&
	    json_object_is_type(st, json_type_object) &&
	    json_object_object_get_ex(st, "runs", &runs) &&
	    json_object_is_type(runs, json_type_array) &&
	    tp->run_id < json_object_array_length(runs) &&
	    (run = json_object_array_get_idx(runs, tp->run_id)) != NULL &&
	    json_object_is_type(run, json_type_object) &&
	    json_get_string(run, "state", &state, err, sizeof(err)) == 1 &&
	    json_get_string(run, "reasonResolved", &reason, err,
	    sizeof(err)) != -1)
		snprintf(out, outlen, "%.40s%s%.40s", state, reason != NULL ?
		    "/" : "", reason != NULL ? reason : "");
	json_object_put(doc);
	qc_result_free(&r);
	free(path);
	free(t);
}

static void
tell(struct taskproxy *tp, uint32_t type, uint8_t *buf, size_t len)
{
	if (taskproxy_answer(tp, type, 0, buf, len) == -1)
		fatal("telling the supervisor of a reclaim");
}

static void
told_refused(struct taskproxy *tp, uint32_t class, const char *msg)
{
	uint8_t buf[4 + 2 * (4 + TP_STRING_MAX)];
	struct ipc_writer w;
	char state[96];

	/* Refused because the resolution was reported meanwhile: as it
	 * should be. */
	if (stopped())
		return;
	run_state(tp, state, sizeof(state));
	log_errorx("reclaim refused (the run is %s): %s", state[0] != '\0' ?
	    state : "in a state the Queue did not say", msg);
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_u32(&w, class);
	ipc_put_str(&w, state, strlen(state));
	ipc_put_str(&w, msg, strnlen(msg, TP_STRING_MAX));
	tell(tp, TP_RECLAIM_FAILED, buf, w.len);
}

/*
 * The new credentials back to proxyd, which keeps the task's latest
 * until the task is over: a task proxy that dies is replaced and fed
 * again.  A channel proxyd has closed is no reason to stop reclaiming.
 */
static void
renewed(struct taskproxy *tp, const struct tc_creds *c)
{
	size_t cap = 3 * 4 + TPC_RENEWED_MAX;
	uint8_t *buf = secmem_alloc(cap);
	struct ipc_writer w;

	ipc_writer_init(&w, buf, cap);
	ipc_put_str(&w, c->client_id, strlen(c->client_id));
	ipc_put_str(&w, c->access_token, strlen(c->access_token));
	ipc_put_str(&w, c->certificate, strlen(c->certificate));
	if (ipc_send(tp->creds_conn, TPC_RENEWED, 0, w.buf, w.len, -1) == -1)
		log_warn("proxyd is not told of the new credentials");
	secmem_free(buf);
}

/* One reclaim: 0 with the new takenUntil in *until, or -1 told. */
static int
reclaim_once(struct taskproxy *tp, int64_t *until)
{
	int64_t left = *until - time_now_ms();
	struct tc_creds mine = { 0 }, fresh = { 0 };
	struct qc_call c = {
		.root_url = tp->root_url, .service = "queue",
		.method = "POST", .ca_pem = tp->ca_pem, .ca_len = tp->ca_len,
		.max_response = ANSWER_MAX,
	};
	uint8_t buf[8 + 4 + TP_STRING_MAX];
	struct ipc_writer w;
	struct qc_result r;
	char *path = run_path(tp, "reclaim"), err[200], msg[400];
	int64_t next;

	c.path = path;
	c.max_elapsed_s = left <= 0 ? 0 : left / 1000 > RETRY_MAX_S ?
	    RETRY_MAX_S : (unsigned)(left / 1000);
	c.attempt_timeout_s = left < 2000 ? 2 : (unsigned)(left / 1000);
	taskproxy_creds_copy(tp, &mine);
	c.creds = &mine;
	if (qc_do(&c, &r) == -1) {
		snprintf(msg, sizeof(msg), "reclaimTask: %s%s", r.err,
		    r.status == 0 || r.status >= 500 ? " (no answer before "
		    "takenUntil)" : "");
		told_refused(tp, r.status >= 400 && r.status < 500 ?
		    TPF_REFUSED : TPF_UNAVAILABLE, msg);
		goto fail;
	}
	if (parse_reclaim(&r, &fresh, &next, err, sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "reclaimTask's answer: %s", err);
		told_refused(tp, TPF_UNAVAILABLE, msg);
		goto fail;
	}
	log_info("reclaimed: credentials of client %s in use", fresh.client_id);
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_u64(&w, (uint64_t)next);
	ipc_put_str(&w, fresh.client_id, strlen(fresh.client_id));
	renewed(tp, &fresh);
	taskproxy_install_creds(tp, &fresh);
	*until = next;
	tell(tp, TP_RECLAIMED, buf, w.len);
	creds_free(&mine);
	qc_result_free(&r);
	free(path);
	return 0;
fail:
	creds_free(&mine);
	creds_free(&fresh);
	qc_result_free(&r);
	free(path);
	return -1;
}

static void *
reclaimer(void *arg)
{
	struct taskproxy *tp = arg;
	int64_t until = tp->taken_until_ms, at, now;
	char a[TIMEFMT_LEN], b[TIMEFMT_LEN];
	bool is_short, warned = false;

	for (;;) {
		now = time_now_ms();
		at = reclaim_time(now, until, &is_short);
		time_format_ms(until, a);
		time_format_ms(at, b);
		/* Said once as a warning: the Queue's claimTimeout stays. */
		if (is_short && !warned)
			log_warnx("the claim's timeout is too short to reclaim "
			    "%lld s before takenUntil %s with %lld s to spare: "
			    "reclaiming at %s, half-way", RECLAIM_MARGIN_MS /
			    1000, a, RECLAIM_MIN_LEAD_MS / 1000, b);
		else if (is_short)
			log_info("taken until %s: reclaiming at %s, half-way",
			    a, b);
		else
			log_info("taken until %s: reclaiming at %s", a, b);
		warned |= is_short;
		if (!wait_until(at) || reclaim_once(tp, &until) == -1)
			return NULL;
	}
}

void
reclaim_start(struct taskproxy *tp)
{
	pthread_t t;
	int e;

	if (rc.started)
		return;
	rc.started = true;
	if ((e = pthread_create(&t, NULL, reclaimer, tp)) != 0 ||
	    (e = pthread_detach(t)) != 0)
		fatalx("starting the reclaim thread: %s", strerror(e));
}

void
reclaim_stop(struct taskproxy *tp)
{
	(void)tp;
	pthread_mutex_lock(&rc.lock);
	if (!rc.stop && rc.started)
		log_info("the resolution is being reported: no more reclaims");
	rc.stop = true;
	pthread_cond_broadcast(&rc.wake);
	pthread_mutex_unlock(&rc.lock);
}
