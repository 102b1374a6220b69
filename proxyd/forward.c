/*
 * Upstream requests with libcurl: one easy handle per attempt, driven by
 * its own multi handle so the caller can pull the body at its own pace:
 * the client's connection thread asks for bytes, and curl runs only when
 * what it delivered last has all been taken.  One run of the transfer
 * reads what the socket holds, at most libcurl's loop of reads (100 of
 * its 16 KiB buffer), so that is all that is ever buffered here; a slow
 * client slows the upstream through TCP.  (libcurl 7.88 also offers
 * pausing, but a transfer resumed from outside its callbacks is not
 * watched again until its next timeout: a second of stall per resume.)
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "proxyd/backoff.h"
#include "proxyd/forward.h"
#include "proxyd/head.h"

#define CONNECT_TIMEOUT_S	30L
#define HEADERS_MAX_COUNT	500u
#define HEADERS_MAX_BYTES	(256u << 10)
/* How often a request waiting on upstream looks whether its client is
 * still there. */
#define CLIENT_CHECK_MS		100

struct upstream {
	CURLM			*multi;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*auth;		/* "Authorization: Hawk ..." */
	char			 errbuf[CURL_ERROR_SIZE];
	char			 why[128];	/* ours, over curl's */
	long			 status;
	bool			 head_done;	/* final header block is in */
	bool			 done;
	CURLcode		 result;
	char			**hdr;		/* "Name: value", in order */
	size_t			 nhdr;
	size_t			 hdr_bytes;
	char			*buf;		/* body not yet read */
	size_t			 len, off, cap;
	unsigned		 attempts;
};

static void
clear_headers(struct upstream *u)
{
	for (size_t i = 0; i < u->nhdr; i++)
		free(u->hdr[i]);
	free(u->hdr);
	u->hdr = NULL;
	u->nhdr = 0;
	u->hdr_bytes = 0;
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	struct upstream *u = arg;
	size_t len = size * n, trim = len;
	char **grown;

	while (trim > 0 && (data[trim - 1] == '\n' || data[trim - 1] == '\r'))
		trim--;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new header block: an interim 1xx's came before. */
		clear_headers(u);
		u->head_done = false;
		return len;
	}
	if (u->head_done)
		return len;	/* trailers: not relayed */
	if (trim == 0) {
		curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &u->status);
		if (u->status >= 200)
			u->head_done = true;
		return len;
	}
	/* An upstream the task names may be anyone's: a header block has a
	 * size limit, and one beyond it fails the attempt. */
	if (u->nhdr == HEADERS_MAX_COUNT ||
	    u->hdr_bytes + trim > HEADERS_MAX_BYTES) {
		snprintf(u->why, sizeof(u->why), "upstream sent more "
		    "than %u headers or %u bytes of them", HEADERS_MAX_COUNT,
		    HEADERS_MAX_BYTES);
		return 0;
	}
	u->hdr_bytes += trim;
	if ((grown = realloc(u->hdr, (u->nhdr + 1) * sizeof(*u->hdr))) ==
	    NULL)
		return 0;
	u->hdr = grown;
	u->hdr[u->nhdr++] = xasprintf("%.*s", (int)trim, data);
	return len;
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct upstream *u = arg;
	size_t len = size * n;

	if (u->off > 0 && u->off == u->len)
		u->off = u->len = 0;
	if (u->len + len > u->cap) {
		size_t cap = u->cap ? u->cap : 65536;

		while (cap < u->len + len)
			cap *= 2;
		if ((u->buf = realloc(u->buf, cap)) == NULL)
			return 0;
		u->cap = cap;
	}
	memcpy(u->buf + u->len, data, len);
	u->len += len;
	return len;
}

/* One round of the transfer: wait up to timeout_ms for progress, less
 * when curl has something to do sooner (a connect timeout, say). */
static void
pump(struct upstream *u, int timeout_ms)
{
	CURLMsg *msg;
	int running, left;
	long wait = -1;

	curl_multi_perform(u->multi, &running);
	while ((msg = curl_multi_info_read(u->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE) {
			u->done = true;
			u->result = msg->data.result;
		}
	if (u->done || !running)
		return;
	curl_multi_timeout(u->multi, &wait);
	if (wait < 0 || wait > timeout_ms)
		wait = timeout_ms;
	if (wait > 0)
		curl_multi_poll(u->multi, NULL, 0, (int)wait, NULL);
}

/* Has the task hung up?  Then nobody waits for the answer. */
static bool
client_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return fd >= 0 && poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void
end_attempt(struct upstream *u)
{
	if (u->easy != NULL) {
		curl_multi_remove_handle(u->multi, u->easy);
		curl_easy_cleanup(u->easy);
		u->easy = NULL;
	}
	curl_slist_free_all(u->headers);
	u->headers = NULL;
	free(u->auth);
	u->auth = NULL;
	clear_headers(u);
	u->len = u->off = 0;
	u->status = 0;
	u->head_done = u->done = false;
}

static int
start_attempt(struct upstream *u, const struct fwd_request *rq, char *err,
    size_t errlen)
{
	struct taskproxy *tp = rq->tp;
	struct curl_slist *l = NULL;
	char *sig;
	bool post;
	CURL *e;

	sig = taskproxy_authorization(tp, rq->method, rq->url, err, errlen);
	if (sig == NULL)
		return -1;
	/* Made only once there is something to send: curl handles a multi
	 * that never had a transfer as one that may raise SIGPIPE. */
	if (u->multi == NULL && (u->multi = curl_multi_init()) == NULL) {
		free(sig);
		snprintf(err, errlen, "curl_multi_init failed");
		return -1;
	}
	u->auth = xasprintf("Authorization: %s", sig);
	free(sig);
	for (const struct curl_slist *h = rq->headers; h; h = h->next)
		l = curl_slist_append(l, h->data);
	l = curl_slist_append(l, u->auth);
	/* Nothing the task did not send: curl's own defaults off. */
	l = curl_slist_append(l, "Expect:");
	if (!rq->sent_accept)
		l = curl_slist_append(l, "Accept:");
	post = rq->body_len > 0 || strcmp(rq->method, "POST") == 0 ||
	    strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "PATCH") == 0;
	/* taskcluster-proxy's rule (#3521): a body without a type is
	 * JSON; with no body, curl must not invent a form type. */
	if (post && !rq->sent_content_type)
		l = curl_slist_append(l, rq->body_len > 0 ?
		    "Content-Type: application/json" : "Content-Type:");
	u->headers = l;

	if ((e = u->easy = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	u->errbuf[0] = u->why[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, rq->url);
	/* The target exactly as the task sent it: no "/../" squashing. */
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, u);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, u);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, u->errbuf);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	if (tp->ca_pem != NULL) {
		struct curl_blob ca = { tp->ca_pem, tp->ca_len,
		    CURL_BLOB_NOCOPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
	}
	if (strcmp(rq->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (post) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)rq->body_len);
		if (strcmp(rq->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
	} else if (strcmp(rq->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
	if (curl_multi_add_handle(u->multi, e) != CURLM_OK) {
		snprintf(err, errlen, "curl_multi_add_handle failed");
		return -1;
	}
	u->attempts++;
	return 0;
}

/* Why an attempt failed: our reason, else curl's words for it. */
static const char *
failure(const struct upstream *u)
{
	if (u->why[0] != '\0')
		return u->why;
	return u->errbuf[0] != '\0' ? u->errbuf :
	    curl_easy_strerror(u->result);
}

struct upstream *
forward(const struct fwd_request *rq, bool *hung_up, char *err,
    size_t errlen)
{
	uint64_t deadline = now_ms() + (uint64_t)rq->tp->retry_seconds * 1000;
	struct upstream *u = xcalloc(1, sizeof(*u));

	*hung_up = false;
	for (;;) {
		uint64_t wait;
		bool retryable;

		if (start_attempt(u, rq, err, errlen) == -1)
			goto fail;
		while (!u->head_done && !u->done) {
			pump(u, CLIENT_CHECK_MS);
			if (client_gone(rq->client_fd))
				goto gone;
		}
		retryable = u->head_done ? u->status >= 500 :
		    u->result != CURLE_OK;
		if (!retryable)
			break;
		wait = backoff_ms(u->attempts);
		if (now_ms() + wait > deadline) {
			if (u->head_done)
				break;	/* the last 5xx is the answer */
			snprintf(err, errlen, "%s", failure(u));
			goto fail;
		}
		log_info("%s %s: attempt %u %s; retrying in %llu ms",
		    rq->method, rq->url, u->attempts, u->head_done ?
		    "answered a server error" : "failed", (unsigned long long)
		    wait);
		end_attempt(u);
		for (uint64_t until = now_ms() + wait; now_ms() < until;) {
			if (client_gone(rq->client_fd))
				goto gone;
			sleep_ms(until - now_ms() < CLIENT_CHECK_MS ?
			    until - now_ms() : CLIENT_CHECK_MS);
		}
	}
	if (!u->head_done) {
		/* Finished without a final header block: a success with no
		 * HTTP at all cannot happen; say what curl saw. */
		snprintf(err, errlen, "%s", failure(u));
		goto fail;
	}
	return u;
gone:
	snprintf(err, errlen, "the task hung up; the request was abandoned");
	*hung_up = true;
	upstream_free(u);
	return NULL;
fail:
	upstream_free(u);
	return NULL;
}

long
upstream_status(const struct upstream *u)
{
	return u->status;
}

unsigned
upstream_attempts(const struct upstream *u)
{
	return u->attempts;
}

int64_t
upstream_length(const struct upstream *u)
{
	curl_off_t n = -1;

	if (curl_easy_getinfo(u->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
	    &n) != CURLE_OK)
		return -1;
	return n;
}

void
upstream_headers(const struct upstream *u,
    void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
	for (size_t i = 0; i < u->nhdr; i++) {
		char *line = u->hdr[i], *colon = strchr(line, ':'), *v;

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

ssize_t
upstream_read(struct upstream *u, char *buf, size_t max)
{
	size_t n;

	while (u->len == u->off && !u->done) {
		pump(u, 1000);
	}
	if (u->len == u->off)
		return u->result == CURLE_OK ? 0 : -1;
	n = u->len - u->off < max ? u->len - u->off : max;
	memcpy(buf, u->buf + u->off, n);
	u->off += n;
	return (ssize_t)n;
}

void
upstream_free(struct upstream *u)
{
	if (u == NULL)
		return;
	end_attempt(u);
	if (u->multi != NULL)
		curl_multi_cleanup(u->multi);
	free(u->buf);
	free(u);
}
