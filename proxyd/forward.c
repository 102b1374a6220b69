/*
 * Upstream requests with libcurl's multi-socket interface, in the task
 * proxy's event loop (forward.h).
 *
 * One multi handle holds the connection cache; a share holds the DNS
 * cache and TLS sessions; easy handles are kept and reset, not made per
 * request.  The CA bundle (read before lockdown) is parsed into one
 * X509_STORE here, and each new TLS context takes a reference to it:
 * libcurl would otherwise parse the whole bundle for every connection
 * (20-40 ms each for the system's).
 *
 * Pausing: a callback that returns FWD_PAUSE leaves curl holding that
 * direction paused; fwd_resume_*() lifts it with curl_easy_pause(),
 * which makes curl ask for its timer at once, so the transfer runs on
 * the loop's next turn.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/util.h"
#include "proxyd/backoff.h"
#include "proxyd/forward.h"
#include "proxyd/head.h"

#define CONNECT_TIMEOUT_S	30L
#define HEADERS_MAX_COUNT	500u
#define HEADERS_MAX_BYTES	(256u << 10)
/*
 * curl's receive buffer, hence the largest piece handed to ops->body,
 * and its send buffer for a streamed body.  curl allocates them for each
 * transfer, and every free wipes (qclient.c): larger ones cost more per
 * small request than they save on large ones.
 */
#define RECV_BUFFER		(64L << 10)
#define SEND_BUFFER		(256L << 10)
/* Idle connections kept to upstreams, and connections at once. */
#define CACHE_CONNECTIONS	64L
#define MAX_CONNECTIONS		256L
#define POOL_HANDLES		64

struct fwd {
	struct fwd		*prev, *next;	/* fw.active */
	const struct fwd_ops	*ops;
	void			*arg;
	/* The request, owned. */
	char			*method, *url;
	struct curl_slist	*task_headers;
	bool			 sent_accept, sent_content_type, has_body;
	bool			 streamed;
	const char		*body;		/* the caller's, held whole */
	int64_t			 body_len;

	CURL			*easy;		/* NULL between attempts */
	struct curl_slist	*headers;	/* this attempt's */
	char			 errbuf[CURL_ERROR_SIZE];
	char			 why[160];	/* ours, over curl's */
	long			 status;
	bool			 head_done;	/* final header block is in */
	bool			 head_told;	/* ops->head called */
	int			 paused;	/* CURLPAUSE_RECV | _SEND */
	char			**hdr;		/* "Name: value", in order */
	size_t			 nhdr, hdr_bytes;
	unsigned		 attempts;
	uint64_t		 retry_deadline;	/* now_ms(): the budget */
	uint64_t		 retry_at;	/* 0: not waiting to retry */
	uint64_t		 progress_at;	/* last byte either way */
	uint64_t		 next_wait;	/* backoff after this attempt */
	bool			 timed_out;
};

static struct {
	struct taskproxy	*tp;
	const struct tp_limits	*lim;
	CURLM			*multi;
	CURLSH			*share;
	X509_STORE		*store;
	uint64_t		 curl_at;	/* 0: no timer */
	struct fwd		*active;
	struct watch		*gone;		/* sockets curl let go */
	CURL			*pool[POOL_HANDLES];
	size_t			 npool;
} fw;


static void	finish(struct fwd *f, bool ok, unsigned status,
		    const char *err);
static void	attempt_done(struct fwd *f, CURLcode result);
static bool	retry_wanted(struct fwd *f);

/* --- TLS: one parsed CA store --- */

static X509_STORE *
parse_store(const void *pem, size_t len)
{
	X509_STORE *st = X509_STORE_new();
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	unsigned n = 0;

	if (st == NULL || bio == NULL)
		fatalx("out of memory");
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(st, x) == 1)
			n++;
		X509_free(x);
	}
	BIO_free(bio);
	if (n == 0) {
		X509_STORE_free(st);
		return NULL;
	}
	return st;
}

static CURLcode
on_ssl_ctx(CURL *easy, void *ctx, void *arg)
{
	(void)easy;
	(void)arg;
	/* A reference, not a copy: SSL_CTX_set1_cert_store counts it. */
	if (fw.store != NULL)
		SSL_CTX_set1_cert_store(ctx, fw.store);
	return CURLE_OK;
}

/* --- curl's sockets and timer, in the loop --- */

static int
on_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct watch *w = sockp;
	uint32_t ev = 0;

	(void)easy;
	(void)arg;
	if (what == CURL_POLL_REMOVE) {
		if (w != NULL) {
			loop_watch(s, 0, w);
			curl_multi_assign(fw.multi, s, NULL);
			/* Its events of this turn may still be dispatched:
			 * freed after them. */
			w->fd = -1;
			w->next_gone = fw.gone;
			fw.gone = w;
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= EPOLLOUT;
	if (w == NULL) {
		w = xcalloc(1, sizeof(*w));
		w->kind = WATCH_CURL;
		w->fd = s;
		curl_multi_assign(fw.multi, s, w);
	}
	loop_watch(s, ev, w);
	return 0;
}

static int
on_timer(CURLM *multi, long ms, void *arg)
{
	(void)multi;
	(void)arg;
	fw.curl_at = ms < 0 ? 0 : now_ms() + (uint64_t)ms;
	return 0;
}

/* What curl finished since it last ran; and a response head that came
 * without a piece of body goes now, not with the first piece whenever
 * that comes (an event stream's head, say). */
static void
collect(void)
{
	CURLMsg *msg;
	int left;

	for (struct fwd *f = fw.active; f != NULL; f = f->next)
		if (f->head_done && !f->head_told && f->easy != NULL &&
		    !retry_wanted(f)) {
			f->head_told = true;
			f->ops->head(f->arg, true);
		}

	while ((msg = curl_multi_info_read(fw.multi, &left)) != NULL) {
		struct fwd *f;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&f);
		attempt_done(f, msg->data.result);
	}
}

void
fwd_socket_event(int fd, uint32_t ev)
{
	int flags = 0, running;

	if (ev & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (ev & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (ev & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(fw.multi, fd, flags, &running);
	collect();
}

/* --- one attempt --- */

static void
clear_headers(struct fwd *f)
{
	for (size_t i = 0; i < f->nhdr; i++)
		free(f->hdr[i]);
	free(f->hdr);
	f->hdr = NULL;
	f->nhdr = 0;
	f->hdr_bytes = 0;
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	struct fwd *f = arg;
	size_t len = size * n, trim = len;
	char **grown;

	f->progress_at = now_ms();
	while (trim > 0 && (data[trim - 1] == '\n' || data[trim - 1] == '\r'))
		trim--;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new header block: an interim 1xx's came before. */
		clear_headers(f);
		f->head_done = false;
		return len;
	}
	if (f->head_done)
		return len;	/* trailers: not relayed */
	if (trim == 0) {
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &f->status);
		if (f->status >= 200)
			f->head_done = true;
		return len;
	}
	/* An upstream the task names may be anyone's: a header block has a
	 * size limit, and one beyond it fails the attempt. */
	if (f->nhdr == HEADERS_MAX_COUNT ||
	    f->hdr_bytes + trim > HEADERS_MAX_BYTES) {
		snprintf(f->why, sizeof(f->why), "upstream sent more "
		    "than %u headers or %u bytes of them", HEADERS_MAX_COUNT,
		    HEADERS_MAX_BYTES);
		return 0;
	}
	f->hdr_bytes += trim;
	if ((grown = realloc(f->hdr, (f->nhdr + 1) * sizeof(*f->hdr))) ==
	    NULL)
		return 0;
	f->hdr = grown;
	f->hdr[f->nhdr++] = xasprintf("%.*s", (int)trim, data);
	return len;
}

/* The wait before the next attempt, drawn once per attempt (when an
 * attempt fails: a random draw is a syscall). */
static uint64_t
next_wait(struct fwd *f)
{
	if (f->next_wait == 0)
		f->next_wait = backoff_ms(f->attempts);
	return f->next_wait;
}

/* Is this attempt's answer one to try again (a 5xx, with a body that can
 * be sent again, and time left)? */
static bool
retry_wanted(struct fwd *f)
{
	return f->status >= 500 && !f->streamed &&
	    now_ms() + next_wait(f) <= f->retry_deadline;
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct fwd *f = arg;
	size_t len = size * n, took;

	f->progress_at = now_ms();
	if (!f->head_told) {
		if (retry_wanted(f))
			return len;	/* a 5xx to be retried: dropped */
		f->head_told = true;
		f->ops->head(f->arg, false);
	}
	if (len == 0)
		return 0;
	took = f->ops->body(f->arg, data, len);
	if (took == FWD_PAUSE) {
		f->paused |= CURLPAUSE_RECV;
		return CURL_WRITEFUNC_PAUSE;
	}
	return took;
}

static size_t
on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct fwd *f = arg;
	size_t got = f->ops->read(f->arg, buf, size * n);

	if (got == FWD_PAUSE) {
		f->paused |= CURLPAUSE_SEND;
		return CURL_READFUNC_PAUSE;
	}
	f->progress_at = now_ms();
	return got;
}

static CURL *
take_handle(void)
{
	CURL *e;

	if (fw.npool > 0) {
		e = fw.pool[--fw.npool];
		curl_easy_reset(e);
		return e;
	}
	return curl_easy_init();
}

static void
give_handle(CURL *e)
{
	if (fw.npool < POOL_HANDLES)
		fw.pool[fw.npool++] = e;
	else
		curl_easy_cleanup(e);
}

static void
end_attempt(struct fwd *f)
{
	if (f->easy != NULL) {
		curl_multi_remove_handle(fw.multi, f->easy);
		give_handle(f->easy);
		f->easy = NULL;
	}
	curl_slist_free_all(f->headers);
	f->headers = NULL;
	clear_headers(f);
	f->status = 0;
	f->head_done = false;
	f->paused = 0;
}

static struct curl_slist *
attempt_headers(const struct fwd *f, const char *auth)
{
	struct curl_slist *l = NULL;
	char *line;

	for (const struct curl_slist *h = f->task_headers; h; h = h->next)
		l = curl_slist_append(l, h->data);
	line = xasprintf("Authorization: %s", auth);
	l = curl_slist_append(l, line);
	free(line);
	/* Nothing the task did not send: curl's own defaults off. */
	l = curl_slist_append(l, "Expect:");
	if (!f->sent_accept)
		l = curl_slist_append(l, "Accept:");
	/* taskcluster-proxy's rule (#3521): a body without a type is
	 * JSON; with no body, curl must not invent a form type. */
	if (f->has_body && !f->sent_content_type)
		l = curl_slist_append(l, f->body_len != 0 ?
		    "Content-Type: application/json" : "Content-Type:");
	return l;
}

static int
start_attempt(struct fwd *f, char *err, size_t errlen)
{
	struct taskproxy *tp = fw.tp;
	char *sig;
	CURL *e;

	sig = taskproxy_authorization(tp, f->method, f->url, err, errlen);
	if (sig == NULL)
		return -1;
	f->headers = attempt_headers(f, sig);
	free(sig);
	if ((e = f->easy = take_handle()) == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	f->errbuf[0] = f->why[0] = '\0';
	f->head_told = false;
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)f);
	curl_easy_setopt(e, CURLOPT_URL, f->url);
	/* The target exactly as the task sent it: no "/../" squashing. */
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_SHARE, fw.share);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
	curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	if (strcmp(f->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (f->has_body) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		if (f->streamed) {
			curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE,
			    SEND_BUFFER);
			curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(e, CURLOPT_READDATA, f);
		} else
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->body);
		/* -1, a length not known: chunked. */
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)f->body_len);
		if (strcmp(f->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, f->method);
	} else if (strcmp(f->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, f->method);
	f->attempts++;
	f->next_wait = 0;
	f->progress_at = now_ms();
	if (curl_multi_add_handle(fw.multi, e) != CURLM_OK) {
		snprintf(err, errlen, "curl_multi_add_handle failed");
		return -1;
	}
	return 0;
}

/* Why an attempt failed: our reason, else curl's words for it. */
static void
failure(const struct fwd *f, CURLcode result, char *out, size_t outlen)
{
	const char *why = f->why[0] != '\0' ? f->why :
	    f->errbuf[0] != '\0' ? f->errbuf : curl_easy_strerror(result);

	if (result == CURLE_PEER_FAILED_VERIFICATION ||
	    result == CURLE_SSL_CACERT_BADFILE)
		snprintf(out, outlen, "the TLS certificate of %s could not be "
		    "verified: %s", f->url, why);
	else
		snprintf(out, outlen, "%s", why);
}

static void
attempt_done(struct fwd *f, CURLcode result)
{
	char why[CURL_ERROR_SIZE + 256];
	bool retryable;
	uint64_t wait;

	if (f->timed_out) {
		unsigned s = fw.lim->upstream_timeout_s;

		snprintf(why, sizeof(why), "no answer from upstream within "
		    "%u s", s);
		finish(f, false, 504, why);
		return;
	}
	if (result == CURLE_OK && f->head_done && f->head_told) {
		finish(f, true, 0, NULL);
		return;
	}
	if (result == CURLE_OK && f->head_done && !retry_wanted(f)) {
		/* A response without a body: told now. */
		f->head_told = true;
		f->ops->head(f->arg, false);
		finish(f, true, 0, NULL);
		return;
	}
	failure(f, result, why, sizeof(why));
	if (f->head_told) {
		/* Cut mid-body: the task must see it short. */
		finish(f, false, 0, why);
		return;
	}
	retryable = f->head_done ? f->status >= 500 : result != CURLE_OK;
	wait = next_wait(f);
	if (!retryable || f->streamed ||
	    now_ms() + wait > f->retry_deadline) {
		if (f->streamed && retryable)
			log_warnx("%s %s: attempt %u failed (%s); not retried: "
			    "its body, larger than retry-body, was streamed "
			    "and not kept for a replay", f->method,
			    f->url, f->attempts, f->head_done ?
			    "a server error" : why);
		if (f->head_done) {
			/* The last 5xx is the answer (body dropped: it was
			 * being retried). */
			snprintf(why, sizeof(why), "upstream answered %ld "
			    "after %u attempts", f->status, f->attempts);
		}
		finish(f, false, 500, why);
		return;
	}
	log_info("%s %s: attempt %u %s; retrying in %llu ms", f->method,
	    f->url, f->attempts, f->head_done ? "answered a server error" :
	    "failed", (unsigned long long)wait);
	end_attempt(f);
	f->retry_at = now_ms() + wait;
}

/* --- requests --- */

static void
free_fwd(struct fwd *f)
{
	end_attempt(f);
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		fw.active = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	free(f->method);
	free(f->url);
	curl_slist_free_all(f->task_headers);
	free(f);
}

static void
finish(struct fwd *f, bool ok, unsigned status, const char *err)
{
	const struct fwd_ops *ops = f->ops;
	void *arg = f->arg;

	/* Freed first: done() may start the connection's next request. */
	end_attempt(f);
	f->ops = NULL;
	ops->done(arg, ok, status, err);
	free_fwd(f);
}

struct fwd *
fwd_start(const struct fwd_request *rq, const struct fwd_ops *ops,
    void *arg, char *err, size_t errlen)
{
	struct fwd *f = xcalloc(1, sizeof(*f));

	f->ops = ops;
	f->arg = arg;
	f->method = xstrdup(rq->method);
	f->url = xstrdup(rq->url);
	for (const struct curl_slist *h = rq->headers; h; h = h->next)
		f->task_headers = curl_slist_append(f->task_headers, h->data);
	f->sent_accept = rq->sent_accept;
	f->sent_content_type = rq->sent_content_type;
	f->has_body = rq->has_body;
	f->streamed = rq->streamed;
	f->body = rq->body != NULL ? rq->body : "";
	f->body_len = rq->body_len;
	f->retry_deadline = now_ms() +
	    (uint64_t)fw.tp->retry_seconds * 1000;
	f->next = fw.active;
	if (fw.active != NULL)
		fw.active->prev = f;
	fw.active = f;
	if (start_attempt(f, err, errlen) == -1) {
		free_fwd(f);
		return NULL;
	}
	return f;
}

void
fwd_cancel(struct fwd *f)
{
	if (f != NULL)
		free_fwd(f);
}

static void
unpause(struct fwd *f, int which)
{
	if (f->easy == NULL || (f->paused & which) == 0)
		return;
	f->paused &= ~which;
	/* May call ops->body or ops->read at once, which may pause again. */
	curl_easy_pause(f->easy, f->paused);
}

void
fwd_resume_recv(struct fwd *f)
{
	unpause(f, CURLPAUSE_RECV);
}

void
fwd_resume_send(struct fwd *f)
{
	unpause(f, CURLPAUSE_SEND);
}

long
fwd_status(const struct fwd *f)
{
	return f->status;
}

unsigned
fwd_attempts(const struct fwd *f)
{
	return f->attempts;
}

int64_t
fwd_length(const struct fwd *f)
{
	curl_off_t n = -1;

	if (f->easy == NULL || curl_easy_getinfo(f->easy,
	    CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &n) != CURLE_OK)
		return -1;
	return n;
}

void
fwd_headers(const struct fwd *f,
    void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
	for (size_t i = 0; i < f->nhdr; i++) {
		char *line = f->hdr[i], *colon = strchr(line, ':'), *v;

		if (colon == NULL || colon == line ||
		    hop_by_hop(line, (size_t)(colon - line)))
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		fn(arg, line, v);
		*colon = ':';
	}
}

/* --- timers --- */

long
fwd_next_ms(void)
{
	uint64_t now = now_ms(), next = fw.curl_at;

	for (struct fwd *f = fw.active; f != NULL; f = f->next)
		if (f->retry_at != 0 && (next == 0 || f->retry_at < next))
			next = f->retry_at;
	if (next == 0)
		return -1;
	return next <= now ? 0 : (long)(next - now);
}

/* Has upstream sent nothing for too long, while nobody but upstream was
 * holding the transfer up? */
static bool
upstream_stalled(const struct fwd *f, uint64_t now)
{
	uint64_t limit = (uint64_t)fw.lim->upstream_timeout_s * 1000;

	return f->easy != NULL && !f->timed_out && f->paused == 0 &&
	    now >= f->progress_at + limit;
}

void
fwd_run_timers(void)
{
	uint64_t now = now_ms();
	struct fwd *f, *next;
	int running;

	/* The loop's events of this turn are done with. */
	while (fw.gone != NULL) {
		struct watch *w = fw.gone;

		fw.gone = w->next_gone;
		free(w);
	}
	if (fw.curl_at != 0 && fw.curl_at <= now) {
		fw.curl_at = 0;
		curl_multi_socket_action(fw.multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
		collect();
		now = now_ms();
	}
	for (f = fw.active; f != NULL; f = next) {
		char err[CURL_ERROR_SIZE + 256];

		next = f->next;
		if (f->retry_at != 0 && f->retry_at <= now) {
			f->retry_at = 0;
			if (start_attempt(f, err, sizeof(err)) == -1)
				finish(f, false, 500, err);
		} else if (upstream_stalled(f, now)) {
			f->timed_out = true;
			log_warnx("%s %s: upstream sent nothing for %u s",
			    f->method, f->url, fw.lim->upstream_timeout_s);
			attempt_done(f, CURLE_OPERATION_TIMEDOUT);
		}
	}
}

void
fwd_shutdown(void)
{
	while (fw.active != NULL)
		free_fwd(fw.active);
}

int
fwd_init(struct taskproxy *tp, const struct tp_limits *lim, char *err,
    size_t errlen)
{
	fw.tp = tp;
	fw.lim = lim;
	/*
	 * Freed memory stays in the heap, mapped: a buffer curl allocates
	 * and frees (wiped) per transfer would otherwise be mapped afresh
	 * each time, and its wipe fault in every page it never used.
	 */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	if (tp->ca_pem != NULL &&
	    (fw.store = parse_store(tp->ca_pem, tp->ca_len)) == NULL)
		log_warnx("the CA bundle holds no certificate: https "
		    "upstreams cannot be verified");
	if ((fw.multi = curl_multi_init()) == NULL ||
	    (fw.share = curl_share_init()) == NULL) {
		snprintf(err, errlen, "libcurl could not start");
		return -1;
	}
	/* One thread uses them all: no lock functions. */
	curl_share_setopt(fw.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(fw.share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION);
	curl_multi_setopt(fw.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(fw.multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(fw.multi, CURLMOPT_MAXCONNECTS, CACHE_CONNECTIONS);
	curl_multi_setopt(fw.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    MAX_CONNECTIONS);
	return 0;
}
