/*
 * The task's side of its proxy: HTTP/1.1 from the task's connections, in
 * one thread and one epoll loop, which also drives every upstream
 * transfer (forward.c, libcurl's multi-socket interface).  A thread per
 * connection capped concurrency and made each request pay for a thread;
 * here a request costs a few syscalls and no allocation to speak of.
 *
 * Each connection reads one request at a time: its head, checked whole
 * by head_check() (head.h says how strictly) before anything is taken
 * from it; then its body, decoded (Content-Length or chunked) into a
 * buffer the upstream transfer reads from; the next head, pipelined or
 * kept alive, only once the response has gone.  Nothing is stored
 * beyond a buffer each way: a task that sends faster than upstream takes
 * stops being read, and an upstream that sends faster than the task
 * reads is paused (backpressure both ways).  A body up to retry-body
 * bytes is held whole before upstream sees it, so that an attempt can
 * be retried; a larger one is streamed, and sent once.
 *
 * Limits (struct tp_limits, --limits): connections at once (the longest
 * waiting for a head is closed to make room), head size and header
 * count, and timeouts for a head, an idle connection, a body, a task
 * that reads nothing, and an upstream that sends nothing.  What a task
 * does to its proxy stays in this process: request lines are logged at
 * a bounded rate, so not even the supervisor, which relays the log,
 * works harder for a hostile task.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "common/version.h"
#include "proxyd/forward.h"
#include "proxyd/head.h"
#include "proxyd/route.h"
#include "proxyd/taskproxy.h"

/* Seconds a refused or closing connection is read and discarded after
 * its answer: closing a socket with unread bytes resets it, and the
 * reset could reach the task before the answer does. */
#define DRAIN_S			2
/* How often timeouts are looked at. */
#define SWEEP_MS		250
/* A request body's buffer, at least (the retry size if larger). */
#define BODY_BUFFER		(256u << 10)
/* All request body buffers together, at least (two retry-bodies if
 * more). */
#define BODY_BUDGET		((size_t)64 << 20)
/* The most of a /bewit body. */
#define BEWIT_BODY_MAX		(64u << 10)
/* Request log lines per second; the rest are counted. */
/* Request log lines: a burst of LOG_BURST, then LOG_PER_S a second (a
 * token bucket); the rest are counted, and the count logged. */
#define LOG_BURST		200
#define LOG_PER_S		50
#define EVENTS			256

enum cstate {
	C_HEAD,		/* waiting for a request head */
	C_REQUEST,	/* a request: its body, its response */
	C_DRAIN,	/* answered for the last time: closing */
};

enum framing {
	BODY_NONE,
	BODY_LENGTH,
	BODY_CHUNKED,
};

enum chunk_state {
	CK_SIZE,	/* the chunk-size line */
	CK_DATA,	/* chunk data, left bytes */
	CK_DATA_END,	/* the CRLF after the data */
	CK_TRAILER,	/* trailer lines, to the empty one */
};

struct request {
	char			*method;
	char			*target;
	bool			 http10;
	struct route		 route;
	bool			 routed;
	struct curl_slist	*headers;	/* the task's, to pass on */
	bool			 sent_accept, sent_content_type;
	bool			 expect_continue;

	/* The body, as the task sends it. */
	enum framing		 framing;
	bool			 has_body;
	uint64_t		 left;		/* of the body, or the chunk */
	int64_t			 declared;	/* Content-Length, else -1 */
	enum chunk_state	 ck;
	char			 line[128];	/* a chunk-size or trailer line */
	size_t			 line_len;
	size_t			 trailer_bytes;
	bool			 body_done;	/* all of it decoded */
	bool			 bad_body;	/* malformed: no more read */
	/* Decoded, not yet taken upstream: body[off..len). */
	char			*body;
	size_t			 off, len, cap, max;
	uint64_t		 total;

	/* Upstream. */
	struct fwd		*fwd;
	bool			 started;	/* upstream, or answered */
	bool			 streamed;
	bool			 send_paused;	/* upstream waits for body */

	/* The response. */
	bool			 head_sent;
	bool			 body_started;	/* a piece of body sent */
	bool			 chunked;	/* to the task */
	bool			 no_body;
	bool			 done;		/* all of it queued */
	bool			 broken;	/* cut short: close, unfinished */
	long			 status;
};

struct conn {
	struct watch		 w;		/* kind WATCH_CONN, fd */
	struct conn		*prev, *next;	/* every connection */
	struct conn		*wprev, *wnext;	/* waiting for a head */
	bool			 waiting;
	struct conn		*pnext;		/* sv.pending */
	bool			 queued;
	bool			 dead;
	struct sockaddr_in	 addr;
	enum cstate		 state;
	uint64_t		 since;		/* the state's timer, now_ms() */
	unsigned		 served;
	bool			 readable, writable, eof, shut;
	bool			 hup;		/* the task's FIN was seen */
	bool			 starved;	/* no room in the budget */
	bool			 close_after;	/* after this response */
	char			*in;		/* bytes read, not yet used */
	size_t			 in_len, in_cap;
	char			*out;		/* bytes to send: out[off..len) */
	size_t			 out_off, out_len, out_cap;
	uint64_t		 body_at;	/* last body byte read */
	uint64_t		 sent_at;	/* last byte sent */
	struct request		*rq;
};

static struct {
	struct taskproxy	*tp;
	struct tp_limits	 lim;
	int			 ep;
	struct watch		 listener;
	bool			 listening;
	struct watch		 wake;		/* server_stop()'s */
	int			 wake_w;
	pthread_t		 thread;
	struct conn		*conns;
	size_t			 nconns;
	struct conn		*wfirst, *wlast;	/* oldest first */
	struct conn		*dead;		/* closed this turn */
	struct conn		*pending;	/* to move on this turn */
	size_t			 held, budget;	/* body buffers, bytes */
	unsigned		 nstarved;
	uint64_t		 next_sweep;
	/* Request log rate. */
	uint64_t		 log_at;	/* tokens last added */
	unsigned		 log_tokens, log_dropped;
} sv;

static void	progress(struct conn *c);
static void	conn_close(struct conn *c);

/* c has something to do that no event will announce (a transfer ended,
 * room in a buffer): it moves at the end of this turn. */
static void
mark(struct conn *c)
{
	if (c->queued)
		return;
	c->queued = true;
	c->pnext = sv.pending;
	sv.pending = c;
}

/* --- the log, at a bounded rate --- */

static void	reqlog(bool warn, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

static void
reqlog(bool warn, const char *fmt, ...)
{
	uint64_t now = now_ms(), add;
	char line[1024];
	va_list ap;

	if ((add = (now - sv.log_at) * LOG_PER_S / 1000) > 0) {
		sv.log_tokens = sv.log_tokens + add > LOG_BURST ? LOG_BURST :
		    sv.log_tokens + (unsigned)add;
		sv.log_at = now;
	}
	if (sv.log_tokens == 0) {
		sv.log_dropped++;
		return;
	}
	sv.log_tokens--;
	if (sv.log_dropped > 0) {
		log_warnx("%u lines about the task's requests were left out "
		    "of the log (more than %u at once, or %u a second)",
		    sv.log_dropped, LOG_BURST, LOG_PER_S);
		sv.log_dropped = 0;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (warn)
		log_warnx("%s", line);
	else
		log_info("%s", line);
}

/* --- the loop's registrations --- */

void
loop_watch(int fd, uint32_t events, struct watch *w)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->registered && events == w->events)
		return;
	w->events = events;
	if (events == 0) {
		if (w->registered &&
		    epoll_ctl(sv.ep, EPOLL_CTL_DEL, fd, NULL) == -1)
			log_warn("epoll_ctl DEL");
		w->registered = false;
		return;
	}
	if (epoll_ctl(sv.ep, w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    fd, &ev) == -1)
		fatal("epoll_ctl");
	w->registered = true;
}

/* --- the waiting list: connections between requests, oldest first --- */

static void
wait_add(struct conn *c)
{
	c->waiting = true;
	c->wnext = NULL;
	c->wprev = sv.wlast;
	if (sv.wlast != NULL)
		sv.wlast->wnext = c;
	else
		sv.wfirst = c;
	sv.wlast = c;
}

static void
wait_del(struct conn *c)
{
	if (!c->waiting)
		return;
	if (c->wprev != NULL)
		c->wprev->wnext = c->wnext;
	else
		sv.wfirst = c->wnext;
	if (c->wnext != NULL)
		c->wnext->wprev = c->wprev;
	else
		sv.wlast = c->wprev;
	c->waiting = false;
}

/* --- buffers --- */

static void
out_put(struct conn *c, const void *p, size_t n)
{
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		c->sent_at = now_ms();	/* the send timeout counts from now */
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;

		while (cap < c->out_len + n)
			cap *= 2;
		c->out = xrealloc(c->out, cap);
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void
out_puts(struct conn *c, const char *s)
{
	out_put(c, s, strlen(s));
}

static bool
out_pending(const struct conn *c)
{
	return c->out_off < c->out_len;
}

/* Send what is queued; false if the connection failed. */
static bool
flush(struct conn *c)
{
	while (out_pending(c) && c->writable) {
		ssize_t n = send(c->w.fd, c->out + c->out_off,
		    c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				c->writable = false;
				break;
			}
			return false;
		}
		c->out_off += (size_t)n;
		c->sent_at = now_ms();
	}
	if (!out_pending(c) && c->out_cap > (64u << 10)) {
		/* A large body's leftover: not kept for a small answer. */
		free(c->out);
		c->out = NULL;
		c->out_cap = c->out_off = c->out_len = 0;
	}
	return true;
}

/*
 * Send what is queued and then iov[1..n) in one sendmsg (iov[0] is
 * filled here with the queue); what does not go is queued.  One write
 * for a response's head and its first piece of body: two would meet
 * the task's delayed ACK.  False if the connection failed.
 */
static bool
send_now(struct conn *c, struct iovec *iov, int n)
{
	ssize_t sent = 0;

	iov[0] = (struct iovec){ c->out + c->out_off, c->out_len - c->out_off };
	if (c->writable) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };

		do
			sent = sendmsg(c->w.fd, &m, MSG_NOSIGNAL);
		while (sent == -1 && errno == EINTR);
		if (sent == -1) {
			if (errno != EAGAIN)
				return false;
			sent = 0;
			c->writable = false;
		} else
			c->sent_at = now_ms();
	}
	/* What of the queue went; then the rest is queued after it. */
	if ((size_t)sent >= iov[0].iov_len) {
		sent -= (ssize_t)iov[0].iov_len;
		c->out_off = c->out_len = 0;
	} else {
		c->out_off += (size_t)sent;
		sent = 0;
	}
	for (int i = 1; i < n; i++) {
		size_t skip = (size_t)sent < iov[i].iov_len ? (size_t)sent :
		    iov[i].iov_len;

		sent -= (ssize_t)skip;
		if (skip < iov[i].iov_len)
			out_put(c, (char *)iov[i].iov_base + skip,
			    iov[i].iov_len - skip);
	}
	if (out_pending(c))
		c->writable = false;	/* EPOLLOUT (edge) says when */
	return true;
}

/* --- responses --- */

static const char *
reason(long status)
{
	static const struct { short code; const char *text; } r[] = {
		{ 100, "Continue" }, { 101, "Switching Protocols" },
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
		{ 203, "Non-Authoritative Information" },
		{ 204, "No Content" }, { 205, "Reset Content" },
		{ 206, "Partial Content" }, { 300, "Multiple Choices" },
		{ 301, "Moved Permanently" }, { 302, "Found" },
		{ 303, "See Other" }, { 304, "Not Modified" },
		{ 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
		{ 408, "Request Timeout" }, { 409, "Conflict" },
		{ 410, "Gone" }, { 411, "Length Required" },
		{ 412, "Precondition Failed" }, { 413, "Content Too Large" },
		{ 414, "URI Too Long" }, { 415, "Unsupported Media Type" },
		{ 416, "Range Not Satisfiable" }, { 417, "Expectation Failed" },
		{ 422, "Unprocessable Content" }, { 424, "Failed Dependency" },
		{ 428, "Precondition Required" }, { 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" },
	};

	for (size_t i = 0; i < nitems(r); i++)
		if (r[i].code == status)
			return r[i].text;
	return "Unknown";
}

static void
put_header(void *arg, const char *name, const char *value)
{
	struct conn *c = arg;

	out_puts(c, name);
	out_put(c, ": ", 2);
	out_puts(c, value);
	out_put(c, "\r\n", 2);
}

void
server_common_headers(struct taskproxy *proxy,
    void (*add)(void *arg, const char *name, const char *value), void *arg)
{
	add(arg, "X-Taskcluster-Proxy-Version", SEPWORKER_VERSION);
	add(arg, "X-Taskcluster-Proxy-Revision", SEPWORKER_REVISION);
	taskproxy_identity_headers(proxy, add, arg);
	add(arg, "X-Taskcluster-Authorized-Scopes", proxy->scopes_json);
}

static void
status_line(struct conn *c, long status)
{
	char line[96];

	snprintf(line, sizeof(line), "HTTP/1.1 %ld %s\r\n", status,
	    reason(status));
	out_puts(c, line);
}

static void
end_head(struct conn *c)
{
	if (c->close_after)
		out_puts(c, "Connection: close\r\n");
	out_put(c, "\r\n", 2);
}

/*
 * An answer of our own, the request's last word: a text body, and
 * Location or X-Taskcluster-Endpoint where they apply (NULL where not).
 * A body the task has not finished sending is not waited for: the
 * connection closes after the answer.
 */
static void	answer_to(struct conn *c, unsigned status, const char *location,
		    const char *endpoint, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));

#define answer(c, status, location, ...)				\
	answer_to((c), (status), (location), NULL, __VA_ARGS__)

static void
answer_to(struct conn *c, unsigned status, const char *location,
    const char *endpoint, const char *fmt, ...)
{
	struct request *rq = c->rq;
	char *body, len[32];
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&body, fmt, ap) == -1)
		fatalx("out of memory");
	va_end(ap);
	if (rq == NULL || !rq->body_done || rq->http10)
		c->close_after = true;
	status_line(c, status);
	put_header(c, "Content-Type", "text/plain; charset=utf-8");
	snprintf(len, sizeof(len), "%zu", strlen(body));
	put_header(c, "Content-Length", len);
	if (location != NULL)
		put_header(c, "Location", location);
	server_common_headers(sv.tp, put_header, c);
	if (endpoint != NULL)
		put_header(c, "X-Taskcluster-Endpoint", endpoint);
	end_head(c);
	if (rq == NULL || strcmp(rq->method, "HEAD") != 0)
		out_puts(c, body);
	free(body);
	if (rq != NULL) {
		rq->started = rq->head_sent = rq->done = true;
		rq->status = status;
	}
}

/* A head refused: answered, and the connection closes. */
static void
refuse(struct conn *c, unsigned status, const char *why)
{
	reqlog(true, "refused a request: %s", why);
	c->close_after = true;
	answer(c, status, NULL, "%s", why);
	c->state = C_DRAIN;
	c->since = now_ms();
	wait_del(c);
}

/* --- the upstream transfer's callbacks --- */

static void
on_up_head(void *arg, bool alone)
{
	struct conn *c = arg;
	struct request *rq = c->rq;
	long status = fwd_status(rq->fwd);
	int64_t len = fwd_length(rq->fwd);
	char num[32];

	rq->status = status;
	rq->head_sent = true;
	rq->no_body = strcmp(rq->method, "HEAD") == 0 || status == 204 ||
	    status == 304;
	status_line(c, status);
	fwd_headers(rq->fwd, put_header, c);
	server_common_headers(sv.tp, put_header, c);
	put_header(c, "X-Taskcluster-Endpoint", rq->route.url);
	if (len >= 0 && status != 204 && status != 304) {
		snprintf(num, sizeof(num), "%lld", (long long)len);
		put_header(c, "Content-Length", num);
	} else if (!rq->no_body) {
		if (rq->http10)
			c->close_after = true;	/* the close ends it */
		else {
			rq->chunked = true;
			put_header(c, "Transfer-Encoding", "chunked");
		}
	}
	end_head(c);
	reqlog(status >= 500, "%s %s -> %ld%s", rq->method, rq->route.url,
	    status, fwd_attempts(rq->fwd) > 1 ? " (after retries)" :
	    status >= 500 && rq->streamed ? " (not retried: its body, "
	    "larger than retry-body, was streamed and not kept for a replay)" :
	    "");
	/* Sent with the first piece of body; at once if none came. */
	if (alone && !flush(c))
		rq->broken = true;
}

static size_t
on_up_body(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;
	struct request *rq = c->rq;
	char size[24];
	struct iovec iov[4];
	int n = 0;

	if (rq->broken)
		return 0;	/* curl stops the transfer */
	/* A head waiting goes with this; anything more waits for room. */
	if (out_pending(c) && (!c->writable || rq->body_started))
		return FWD_PAUSE;
	rq->body_started = true;
	n++;		/* iov[0]: the queue */
	if (rq->chunked) {
		iov[n++] = (struct iovec){ size, (size_t)snprintf(size,
		    sizeof(size), "%zx\r\n", len) };
	}
	iov[n++] = (struct iovec){ (void *)data, len };
	if (rq->chunked)
		iov[n++] = (struct iovec){ "\r\n", 2 };
	if (!send_now(c, iov, n)) {
		rq->broken = true;
		return 0;
	}
	return len;
}

static size_t
on_up_read(void *arg, char *buf, size_t max)
{
	struct conn *c = arg;
	struct request *rq = c->rq;
	size_t n = rq->len - rq->off;

	if (n == 0) {
		if (rq->body_done)
			return 0;
		rq->send_paused = true;
		return FWD_PAUSE;
	}
	if (n > max)
		n = max;
	memcpy(buf, rq->body + rq->off, n);
	rq->off += n;
	if (rq->off == rq->len)
		rq->off = rq->len = 0;
	/* Room again: more of the body from c->in or the socket. */
	if (c->starved) {
		c->starved = false;
		sv.nstarved--;
	}
	if (!rq->body_done)
		mark(c);
	return n;
}

static void
on_up_done(void *arg, bool ok, unsigned status, const char *err)
{
	struct conn *c = arg;
	struct request *rq = c->rq;

	rq->fwd = NULL;		/* freed after this */
	if (ok) {
		if (rq->chunked)
			out_puts(c, "0\r\n\r\n");
		rq->done = true;
	} else if (!rq->head_sent) {
		reqlog(true, "%s %s: %s", rq->method, rq->route.url, err);
		answer_to(c, status, NULL, rq->route.url,
		    "Failed during proxy request: %s", err);
	} else {
		reqlog(true, "%s %s: the response was cut short: %s",
		    rq->method, rq->route.url, err);
		rq->broken = rq->done = true;
	}
	mark(c);
}

static const struct fwd_ops up_ops = {
	on_up_head, on_up_body, on_up_read, on_up_done,
};

/* --- requests --- */

static void
request_free(struct request *rq)
{
	if (rq == NULL)
		return;
	sv.held -= rq->cap;
	fwd_cancel(rq->fwd);
	free(rq->method);
	free(rq->target);
	if (rq->routed)
		route_free(&rq->route);
	curl_slist_free_all(rq->headers);
	free(rq->body);
	free(rq);
}

/* A header line, split: name and value (OWS trimmed), not terminated. */
struct field {
	const char	*name, *value;
	size_t		 nlen, vlen;
};

/* The head's header lines after the request line, one by one; false at
 * the end.  The head is well-formed (head_check said so). */
static bool
next_field(const char **p, const char *end, struct field *f)
{
	const char *eol = memmem(*p, (size_t)(end - *p), "\r\n", 2);
	const char *colon;

	if (eol == NULL || eol == *p)
		return false;
	colon = memchr(*p, ':', (size_t)(eol - *p));
	f->name = *p;
	f->nlen = (size_t)(colon - *p);
	f->value = colon + 1;
	while (f->value < eol && (*f->value == ' ' || *f->value == '\t'))
		f->value++;
	f->vlen = (size_t)(eol - f->value);
	while (f->vlen > 0 && (f->value[f->vlen - 1] == ' ' ||
	    f->value[f->vlen - 1] == '\t'))
		f->vlen--;
	*p = eol + 2;
	return true;
}

static bool
field_is(const struct field *f, const char *name)
{
	return f->nlen == strlen(name) && strncasecmp(f->name, name,
	    f->nlen) == 0;
}

/* Does the comma-separated list hold token? */
static bool
list_has(const char *list, size_t len, const char *token, size_t tlen)
{
	const char *p = list, *end = list + len;

	while (p < end) {
		size_t n;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		for (n = 0; p + n < end && p[n] != ',' && p[n] != ' ' &&
		    p[n] != '\t'; n++)
			;
		if (n == tlen && strncasecmp(p, token, n) == 0)
			return true;
		p += n;
	}
	return false;
}

/*
 * The head in c->in[0..h->len), well-formed: the request taken from it,
 * and the head's bytes consumed.  0, or -1 if it was refused.
 */
static int
take_head(struct conn *c, const struct head *h)
{
	const char *p, *end = c->in + h->len - 2, *conn_list = NULL, *line;
	struct request *rq = xcalloc(1, sizeof(*rq));
	size_t conn_len = 0, mlen;
	unsigned nfields = 0;
	bool expect = false, closing = false;
	struct field f;

	c->rq = rq;
	/* (empty lines before the request line are allowed, and skipped) */
	for (line = c->in; *line == '\r' || *line == '\n'; line++)
		;
	mlen = strcspn(line, " ");
	rq->method = xasprintf("%.*s", (int)mlen, line);
	rq->target = xasprintf("%.*s", (int)h->target_len,
	    c->in + h->target_off);
	rq->http10 = memcmp(c->in + h->target_off + h->target_len + 1,
	    "HTTP/1.0", 8) == 0;
	rq->declared = -1;
	p = (const char *)memmem(line, h->len - (size_t)(line - c->in),
	    "\r\n", 2) + 2;
	/* First the fields that say how to read the rest. */
	for (const char *q = p; next_field(&q, end + 2, &f);) {
		if (++nfields > sv.lim.headers) {
			char why[96];

			snprintf(why, sizeof(why), "more than %u header fields",
			    sv.lim.headers);
			refuse(c, 431, why);
			return -1;
		}
		if (field_is(&f, "Connection")) {
			conn_list = f.value;
			conn_len = f.vlen;
			closing |= list_has(f.value, f.vlen, "close", 5);
		} else if (field_is(&f, "Transfer-Encoding"))
			rq->framing = BODY_CHUNKED;
		else if (field_is(&f, "Content-Length")) {
			unsigned long long n;

			errno = 0;
			n = strtoull(f.value, NULL, 10);
			if (errno != 0 || n > INT64_MAX) {
				refuse(c, 400, "a Content-Length beyond 2^63");
				return -1;
			}
			rq->framing = BODY_LENGTH;
			rq->declared = (int64_t)n;
			rq->left = n;
		} else if (field_is(&f, "Expect"))
			expect = f.vlen == 12 &&
			    strncasecmp(f.value, "100-continue", 12) == 0;
	}
	if (rq->framing == BODY_LENGTH && rq->left == 0)
		rq->framing = BODY_NONE;
	rq->body_done = rq->framing == BODY_NONE;
	rq->has_body = rq->framing != BODY_NONE ||
	    strcmp(rq->method, "POST") == 0 || strcmp(rq->method, "PUT") == 0 ||
	    strcmp(rq->method, "PATCH") == 0;
	if (closing || (rq->http10 && (conn_list == NULL ||
	    !list_has(conn_list, conn_len, "keep-alive", 10))))
		c->close_after = true;
	/* Then the ones to pass on: not hop-by-hop, not named in
	 * Connection.  "Name;" is how curl is told to send one empty. */
	for (const char *q = p; next_field(&q, end + 2, &f);) {
		char *kept;

		if (hop_by_hop(f.name, f.nlen) || (conn_list != NULL &&
		    list_has(conn_list, conn_len, f.name, f.nlen)))
			continue;
		if (field_is(&f, "Accept"))
			rq->sent_accept = true;
		if (field_is(&f, "Content-Type"))
			rq->sent_content_type = true;
		kept = f.vlen == 0 ? xasprintf("%.*s;", (int)f.nlen, f.name) :
		    xasprintf("%.*s: %.*s", (int)f.nlen, f.name, (int)f.vlen,
		    f.value);
		rq->headers = curl_slist_append(rq->headers, kept);
		free(kept);
	}
	memmove(c->in, c->in + h->len, c->in_len - h->len);
	c->in_len -= h->len;
	c->state = C_REQUEST;
	c->body_at = now_ms();
	wait_del(c);
	rq->max = sv.lim.retry_body > BODY_BUFFER ? sv.lim.retry_body :
	    BODY_BUFFER;
	rq->expect_continue = expect && !rq->http10 && !rq->body_done;
	return 0;
}

/* What to do with the request whose head has come: answer it here, or
 * wait for its body (all of it, or retry-body bytes) and go upstream. */
static void
route_request(struct conn *c)
{
	struct request *rq = c->rq;
	const char *feature;

	if (route_target(sv.tp->root_url, rq->target, &rq->route) == -1) {
		answer(c, 400, NULL, "the request target must be an absolute "
		    "path of printable ASCII, properly percent-encoded, "
		    "without a fragment");
		return;
	}
	rq->routed = true;
	switch (rq->route.kind) {
	case ROUTE_NOT_FOUND:
		answer(c, 404, NULL, "%s", rq->route.body);
		return;
	case ROUTE_CREDENTIALS:
		answer(c, 403, NULL, "sepworker's taskcluster proxy does not "
		    "take credentials from the task: the worker passes the "
		    "task's new credentials to it directly after each reclaim, "
		    "so %s /credentials is refused", rq->method);
		return;
	case ROUTE_BEWIT:
		rq->max = BEWIT_BODY_MAX;
		break;
	case ROUTE_FORWARD:
		if (rq->route.host != NULL &&
		    !taskproxy_host_allowed(sv.tp, rq->route.host)) {
			reqlog(true, "refused %s %s: %s is not an allowed host",
			    rq->method, rq->route.url, rq->route.host);
			answer(c, 403, NULL, "sepworker's taskcluster proxy "
			    "does not forward to %s: the worker's "
			    "sepworker.proxyAllowedHosts does not list it (by "
			    "default only the rootURL's host is allowed)",
			    rq->route.host);
			return;
		}
		if ((feature = taskproxy_worker_artifact(sv.tp, rq->method,
		    rq->route.url)) != NULL) {
			reqlog(true, "refused %s %s: the worker writes that "
			    "artifact", rq->method, rq->route.url);
			answer(c, 403, NULL, "sepworker's taskcluster proxy "
			    "does not let a task create an artifact the worker "
			    "writes itself (%s): the task's logs and its chain "
			    "of trust are the worker's word", feature);
			return;
		}
		break;
	}
	/* The body will be read: the task may send it. */
	if (rq->expect_continue)
		out_puts(c, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* The task's body is malformed: answered if upstream has not answered
 * yet (and the transfer dropped), else the answer is cut short. */
static void	body_error(struct conn *c, unsigned status, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));

static void
body_error(struct conn *c, unsigned status, const char *fmt, ...)
{
	struct request *rq = c->rq;
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	reqlog(true, "%s %s: %s", rq->method, rq->target, why);
	rq->bad_body = true;
	if (rq->head_sent) {
		rq->broken = rq->done = true;
		return;
	}
	fwd_cancel(rq->fwd);
	rq->fwd = NULL;
	answer(c, status, NULL, "%s", why);
}

/*
 * Room for up to want more bytes in rq->body, which grows up to rq->max
 * while every connection's body buffers together stay within the
 * proxy's budget: a task's connections (1024 by default) holding a
 * retry-body each must not grow this process, which is outside the
 * task's cgroup, by a gigabyte.  A connection left without room is
 * starved: moved again when some buffer is freed.
 */
static size_t
body_room(struct conn *c, size_t want)
{
	struct request *rq = c->rq;
	size_t cap;

	if (rq->off > 0 && rq->len + want > rq->cap) {
		memmove(rq->body, rq->body + rq->off, rq->len - rq->off);
		rq->len -= rq->off;
		rq->off = 0;
	}
	if (rq->len + want > rq->cap && rq->cap < rq->max) {
		for (cap = rq->cap ? rq->cap : 16384; cap < rq->len + want;)
			cap *= 2;
		if (cap > rq->max)
			cap = rq->max;
		if (sv.held + (cap - rq->cap) > sv.budget)
			cap = rq->cap + (sv.budget > sv.held ?
			    sv.budget - sv.held : 0);
		if (cap > rq->cap) {
			rq->body = xrealloc(rq->body, cap);
			sv.held += cap - rq->cap;
			rq->cap = cap;
		}
	}
	if (rq->len == rq->cap && rq->cap < rq->max && !c->starved) {
		c->starved = true;
		sv.nstarved++;
	}
	return rq->cap - rq->len < want ? rq->cap - rq->len : want;
}

/* A body buffer was freed: the starved may have room now. */
static void
feed_starved(void)
{
	if (sv.nstarved == 0)
		return;
	for (struct conn *c = sv.conns; c != NULL; c = c->next)
		if (c->starved) {
			c->starved = false;
			mark(c);
		}
	sv.nstarved = 0;
}

/* Decode what c->in holds of the body into rq->body, as room allows. */
static void
decode_body(struct conn *c)
{
	struct request *rq = c->rq;
	size_t used = 0;

	while (!rq->body_done && !rq->bad_body && used < c->in_len) {
		const char *p = c->in + used;
		size_t avail = c->in_len - used, room, n;

		if (rq->framing == BODY_LENGTH ||
		    (rq->framing == BODY_CHUNKED && rq->ck == CK_DATA)) {
			n = avail < rq->left ? avail : (size_t)rq->left;
			if ((room = body_room(c, n)) < n)
				n = room;
			if (n == 0)
				break;
			memcpy(rq->body + rq->len, p, n);
			rq->len += n;
			rq->total += n;
			rq->left -= n;
			used += n;
			if (rq->left == 0) {
				if (rq->framing == BODY_LENGTH)
					rq->body_done = true;
				else
					rq->ck = CK_DATA_END;
			}
			continue;
		}
		/* chunked: a line at a time (size, data's CRLF, trailers) */
		{
			const char *eol = memchr(p, '\n', avail);
			size_t take = eol ? (size_t)(eol - p) + 1 : avail;

			used += take;
			if (rq->ck == CK_TRAILER) {
				/* Dropped, not passed on: only their size,
				 * their line ends and the empty line count. */
				rq->trailer_bytes += take;
				if (rq->trailer_bytes > sv.lim.head_bytes) {
					body_error(c, 431, "trailers larger "
					    "than %u bytes", sv.lim.head_bytes);
					return;
				}
				for (size_t i = 0; i < take; i++) {
					rq->line[0] = rq->line[1];
					rq->line[1] = p[i];
				}
				rq->line_len += take;
				if (eol == NULL)
					continue;
				if (rq->line_len < 2 || rq->line[0] != '\r') {
					body_error(c, 400, "a chunked body's "
					    "trailer line must end in CRLF");
					return;
				}
				if (rq->line_len == 2)
					rq->body_done = true;
				rq->line_len = 0;
				continue;
			}
			if (rq->line_len + take > sizeof(rq->line) - 1) {
				body_error(c, 400, "a chunk-size line longer "
				    "than %zu bytes", sizeof(rq->line) - 1);
				return;
			}
			memcpy(rq->line + rq->line_len, p, take);
			rq->line_len += take;
			if (eol == NULL)
				continue;
			rq->line[rq->line_len] = '\0';
			if (rq->line_len < 2 ||
			    rq->line[rq->line_len - 2] != '\r') {
				body_error(c, 400, "a chunked body's line "
				    "must end in CRLF");
				return;
			}
			if (rq->ck == CK_DATA_END) {
				if (rq->line_len != 2) {
					body_error(c, 400, "chunk data "
					    "longer than its size");
					return;
				}
				rq->ck = CK_SIZE;
			} else {
				/* 1*HEXDIG, then ";ext" or the line's end:
				 * nothing strtoull would take besides ("0x",
				 * signs, spaces). */
				size_t digits = strspn(rq->line,
				    "0123456789abcdefABCDEF");

				if (digits == 0 || digits > 15 ||
				    (rq->line[digits] != ';' &&
				    rq->line[digits] != '\r')) {
					body_error(c, 400, "a chunk size "
					    "that is not 1 to 15 hexadecimal "
					    "digits");
					return;
				}
				rq->left = strtoull(rq->line, NULL, 16);
				rq->ck = rq->left == 0 ? CK_TRAILER : CK_DATA;
			}
			rq->line_len = 0;
		}
	}
	if (used > 0) {
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		c->body_at = now_ms();
	}
}

static void
start_upstream(struct conn *c)
{
	struct request *rq = c->rq;
	struct fwd_request f = {
		.method = rq->method, .url = rq->route.url,
		.headers = rq->headers, .sent_accept = rq->sent_accept,
		.sent_content_type = rq->sent_content_type,
		.has_body = rq->has_body, .streamed = !rq->body_done,
		.body = rq->body, .body_len = rq->body_done ?
		    (int64_t)rq->len : rq->declared,
	};
	char err[CURL_ERROR_SIZE + 256];

	rq->started = true;
	rq->streamed = f.streamed;
	if ((rq->fwd = fwd_start(&f, &up_ops, c, err, sizeof(err))) == NULL) {
		reqlog(true, "%s %s: %s", rq->method, rq->route.url, err);
		answer_to(c, 500, NULL, rq->route.url,
		    "Failed during proxy request: %s", err);
	}
}

static void
bewit(struct conn *c)
{
	struct request *rq = c->rq;
	char err[512], *url;

	url = taskproxy_bewit(sv.tp, rq->body ? rq->body : "", rq->len, err,
	    sizeof(err));
	if (url == NULL) {
		answer(c, 500, NULL, "%s", err);
		return;
	}
	answer(c, 303, url, "%s", url);
	free(url);
}

/* The request's body has come as far as it can: act on it. */
static void
advance_request(struct conn *c)
{
	struct request *rq = c->rq;

	if (!rq->routed && !rq->started) {
		route_request(c);
		if (rq->started)
			return;
	}
	decode_body(c);
	if (rq->broken || rq->started) {
		if (rq->streamed && rq->send_paused && rq->fwd != NULL &&
		    (rq->len > rq->off || rq->body_done)) {
			rq->send_paused = false;
			fwd_resume_send(rq->fwd);
		}
		return;
	}
	if (rq->route.kind == ROUTE_BEWIT) {
		if (rq->body_done)
			bewit(c);
		else if (rq->len == rq->max)
			answer(c, 413, NULL, "a /bewit body is a URL: at most "
			    "%u bytes", BEWIT_BODY_MAX);
		return;
	}
	if (rq->body_done || rq->len >= sv.lim.retry_body)
		start_upstream(c);
}

/* The response has gone: the next request, or the close. */
static void
end_request(struct conn *c)
{
	struct request *rq = c->rq;
	bool broken = rq->broken, body_left = !rq->body_done;

	c->rq = NULL;
	request_free(rq);
	feed_starved();
	c->served++;
	if (broken) {
		conn_close(c);
		return;
	}
	if (c->close_after || body_left) {
		c->close_after = true;
		c->state = C_DRAIN;
		c->since = now_ms();
		return;
	}
	c->state = C_HEAD;
	c->since = now_ms();
	wait_add(c);
}

/* --- connections --- */

static void
conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	wait_del(c);
	if (c->starved) {
		c->starved = false;
		sv.nstarved--;
	}
	request_free(c->rq);
	c->rq = NULL;
	feed_starved();
	close(c->w.fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		sv.conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	sv.nconns--;
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	/* Freed once this turn's events are done with. */
	c->next = sv.dead;
	sv.dead = c;
	if (!sv.listening && sv.listener.fd != -1) {
		loop_watch(sv.listener.fd, EPOLLIN, &sv.listener);
		sv.listening = true;
	}
}

/* How much of c->in may fill now. */
static size_t
in_room(const struct conn *c)
{
	size_t max = sv.lim.head_bytes + 1;

	if (c->state == C_REQUEST && c->rq != NULL && !c->rq->body_done &&
	    max < 16384)
		max = 16384;
	return c->in_len < max ? max - c->in_len : 0;
}

/* Is there room for more of the request's body? */
static bool
wants_body(const struct conn *c)
{
	const struct request *rq = c->rq;

	if (rq == NULL || rq->body_done || rq->bad_body ||
	    (rq->started && !rq->streamed))
		return false;
	if (c->starved)
		return false;
	if (rq->framing == BODY_LENGTH && c->in_len == 0)
		return rq->len < rq->max || rq->off > 0;
	return in_room(c) > 0;
}

/* Read what the socket has and room allows; false if it failed.  Its
 * end sets c->eof. */
static bool
read_some(struct conn *c)
{
	while (c->readable && !c->eof) {
		struct request *rq = c->rq;
		size_t room;
		ssize_t n;

		if (c->state == C_DRAIN) {
			char sink[16384];

			n = recv(c->w.fd, sink, sizeof(sink), 0);
		} else if (c->state == C_REQUEST && rq->routed &&
		    rq->framing == BODY_LENGTH && !rq->body_done &&
		    !rq->bad_body && c->in_len == 0 &&
		    (!rq->started || rq->streamed)) {
			/* A body by length, nothing before it: straight in. */
			room = body_room(c, rq->left < rq->max ?
			    (size_t)rq->left : rq->max);
			if (room == 0)
				return true;
			n = recv(c->w.fd, rq->body + rq->len, room, 0);
			if (n > 0) {
				rq->len += (size_t)n;
				rq->total += (size_t)n;
				rq->left -= (size_t)n;
				rq->body_done = rq->left == 0;
				c->body_at = now_ms();
			}
		} else {
			if ((room = in_room(c)) == 0)
				return true;
			if (c->in_cap < c->in_len + room) {
				c->in_cap = c->in_len + room;
				c->in = xrealloc(c->in, c->in_cap);
			}
			n = recv(c->w.fd, c->in + c->in_len, room, 0);
			if (n > 0) {
				/* A head's time counts from its first byte. */
				if (c->state == C_HEAD && c->in_len == 0)
					c->since = now_ms();
				c->in_len += (size_t)n;
				/* Short: the socket is empty (edge-triggered,
				 * more bytes bring another event), unless the
				 * task's FIN came with them: that brings none,
				 * so read on to the end. */
				if ((size_t)n < room && !c->hup)
					c->readable = false;
			}
		}
		if (n == 0)
			c->eof = true;
		else if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				c->readable = false;
				return true;
			}
			/* reset: as good as gone */
			c->eof = true;
		}
	}
	return true;
}

/* The task has hung up: a request that has no answer yet is abandoned,
 * upstream and retries alike (nobody waits for it, and nothing it left
 * keeps a way to the credentials); an answer under way goes on. */
/* The task has sent its last byte.  A request it still waits for is
 * abandoned, upstream and retries alike, as Go's server cancels a
 * request whose client hangs up: nobody waits for the answer, and
 * nothing the task left keeps a way to the credentials.  An answer under
 * way goes on (the task may still read it). */
static bool
after_eof(struct conn *c)
{
	struct request *rq = c->rq;

	if (!c->eof)
		return false;
	switch (c->state) {
	case C_DRAIN:
		break;
	case C_HEAD:
		/* (a complete head was taken before this is asked) */
		break;
	case C_REQUEST:
		if (rq->done || rq->head_sent)
			return false;
		if (rq->started)
			reqlog(true, "%s %s: the task hung up; the request "
			    "was abandoned", rq->method, rq->routed ?
			    rq->route.url : rq->target);
		break;
	}
	conn_close(c);
	return true;
}

/* Move c as far as its bytes and buffers allow. */
static void
progress(struct conn *c)
{
	struct request *rq;
	struct head h;

	while (!c->dead) {
		if (!flush(c) || !read_some(c)) {
			conn_close(c);
			return;
		}
		switch (c->state) {
		case C_DRAIN:
			if (!out_pending(c) && !c->shut) {
				shutdown(c->w.fd, SHUT_WR);
				c->shut = true;
			}
			if (c->eof)
				conn_close(c);
			return;
		case C_HEAD:
			if (c->in_len == 0) {
				after_eof(c);
				return;
			}
			switch (head_check(c->in, c->in_len,
			    sv.lim.head_bytes, &h)) {
			case HEAD_INCOMPLETE:
				after_eof(c);
				return;
			case HEAD_REFUSED:
				refuse(c, h.status, h.why);
				break;
			case HEAD_OK:
				take_head(c, &h);
				break;
			}
			continue;
		case C_REQUEST:
			rq = c->rq;
			advance_request(c);
			if (c->dead)
				return;
			if (!flush(c)) {
				conn_close(c);
				return;
			}
			if (rq->done) {
				if (!flush(c)) {
					conn_close(c);
					return;
				}
				if (out_pending(c))
					return;	/* EPOLLOUT says when */
				end_request(c);
				continue;
			}
			if (after_eof(c))
				return;
			if (rq->fwd != NULL && rq->head_sent && !out_pending(c))
				fwd_resume_recv(rq->fwd);
			/* The body made room: more of it. */
			if (c->readable && !c->eof && wants_body(c))
				continue;
			return;
		}
	}
}

/* A task's connection, or not: only the task's uid may talk to its
 * proxy (host networking). */
static bool
from_task(const struct sockaddr_in *sin)
{
	struct taskproxy *tp = sv.tp;
	char ip[INET_ADDRSTRLEN] = "?";
	uint32_t uid;

	if (!tp->check_peer)
		return true;
	inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
	if (peer_uid(tp->diag_fd, sin, &tp->listen_addr, &uid) == -1) {
		reqlog(true, "refused a connection from %s:%u: its owner "
		    "cannot be found", ip, ntohs(sin->sin_port));
		return false;
	}
	if (uid != tp->allowed_uid) {
		reqlog(true, "refused a connection from %s:%u: uid %u is not "
		    "the task's (%u)", ip, ntohs(sin->sin_port), uid,
		    tp->allowed_uid);
		return false;
	}
	return true;
}

static void
admit(void)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_in sin;
		socklen_t len = sizeof(sin);
		struct conn *c;
		int fd, one = 1;

		if (sv.nconns >= sv.lim.connections && sv.wfirst == NULL) {
			/* Every connection busy with a request: no more
			 * until one closes. */
			loop_watch(sv.listener.fd, 0, &sv.listener);
			sv.listening = false;
			return;
		}
		fd = accept4(sv.listener.fd, (struct sockaddr *)&sin, &len,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: the connection waiting
				 * longest gives its own. */
				if (sv.wfirst != NULL) {
					conn_close(sv.wfirst);
					continue;
				}
				loop_watch(sv.listener.fd, 0, &sv.listener);
				sv.listening = false;
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (len != sizeof(sin) || sin.sin_family != AF_INET) {
			reqlog(true, "refused a connection that is not IPv4");
			close(fd);
			continue;
		}
		if (!from_task(&sin)) {
			close(fd);
			continue;
		}
		/* At the limit: the connection waiting longest for a head
		 * makes room. */
		if (sv.nconns >= sv.lim.connections)
			conn_close(sv.wfirst);
		c = xcalloc(1, sizeof(*c));
		/* Responses are written whole: no Nagle delay for them. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		c->w.kind = WATCH_CONN;
		c->w.fd = fd;
		c->addr = sin;
		c->state = C_HEAD;
		c->since = now_ms();
		c->writable = true;
		c->next = sv.conns;
		if (sv.conns != NULL)
			sv.conns->prev = c;
		sv.conns = c;
		sv.nconns++;
		wait_add(c);
		loop_watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		    &c->w);
	}
}

/* --- timeouts --- */

static void
sweep(void)
{
	uint64_t now = now_ms();
	struct conn *c, *next;

	for (c = sv.conns; c != NULL; c = next) {
		struct request *rq = c->rq;
		char why[96];

		next = c->next;
		switch (c->state) {
		case C_DRAIN:
			if (now - c->since >= DRAIN_S * 1000ull)
				conn_close(c);
			break;
		case C_HEAD:
			if (c->in_len == 0 && c->served > 0) {
				if (now - c->since >=
				    sv.lim.idle_timeout_s * 1000ull)
					conn_close(c);
			} else if (now - c->since >=
			    sv.lim.head_timeout_s * 1000ull) {
				snprintf(why, sizeof(why), "no complete request "
				    "head within %u s", sv.lim.head_timeout_s);
				refuse(c, 408, why);
				progress(c);
			}
			break;
		case C_REQUEST:
			if (out_pending(c) && now - c->sent_at >=
			    sv.lim.send_timeout_s * 1000ull) {
				reqlog(true, "%s %s: the task took nothing of "
				    "its response for %u s; closed", rq->method,
				    rq->target, sv.lim.send_timeout_s);
				conn_close(c);
			} else if (!rq->body_done && !rq->broken &&
			    rq->len < rq->max && now - c->body_at >=
			    sv.lim.body_timeout_s * 1000ull) {
				reqlog(true, "%s %s: the task sent none of its "
				    "body for %u s; closed", rq->method,
				    rq->target, sv.lim.body_timeout_s);
				conn_close(c);
			}
			break;
		}
	}
}

/* --- the loop --- */

static void
free_dead(void)
{
	while (sv.dead != NULL) {
		struct conn *c = sv.dead;

		sv.dead = c->next;
		free(c);
	}
}

static void
dispatch(struct watch *w, uint32_t ev)
{
	struct conn *c;

	switch (w->kind) {
	case WATCH_LISTENER:
		admit();
		break;
	case WATCH_CURL:
		if (w->fd != -1)
			fwd_socket_event(w->fd, ev);
		break;
	case WATCH_CONN:
		c = (struct conn *)w;
		if (c->dead)
			break;
		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->readable = true;
		if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->hup = true;
		if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			c->writable = true;
		progress(c);
		break;
	case WATCH_WAKE:
		break;
	}
}

static void *
serve(void *arg)
{
	struct epoll_event evs[EVENTS];

	(void)arg;
	for (;;) {
		long t = fwd_next_ms(), s = -1;
		uint64_t now = now_ms();
		int n, timeout;

		if (sv.nconns > 0)
			s = sv.next_sweep > now ? (long)(sv.next_sweep - now) :
			    0;
		timeout = t < 0 ? (int)s : s < 0 || t < s ? (int)t : (int)s;
		n = epoll_wait(sv.ep, evs, EVENTS, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w->kind == WATCH_WAKE)
				goto stop;
			dispatch(w, evs[i].events);
		}
		fwd_run_timers();
		now = now_ms();
		if (now >= sv.next_sweep) {
			sweep();
			sv.next_sweep = now + SWEEP_MS;
		}
		/* What moved without an event of its own. */
		while (sv.pending != NULL) {
			struct conn *c = sv.pending;

			sv.pending = c->pnext;
			c->queued = false;
			progress(c);
		}
		free_dead();
	}
stop:
	while (sv.conns != NULL)
		conn_close(sv.conns);
	fwd_shutdown();
	free_dead();
	if (sv.listener.fd != -1)
		close(sv.listener.fd);
	return NULL;
}

int
server_start(struct taskproxy *proxy, int listen_fd, char *err,
    size_t errlen)
{
	int flags, rc, pipefd[2];

	sv.tp = proxy;
	sv.lim = proxy->limits;
	sv.log_tokens = LOG_BURST;
	sv.log_at = now_ms();
	sv.budget = BODY_BUDGET > 2 * sv.lim.retry_body ? BODY_BUDGET :
	    2 * sv.lim.retry_body;
	if ((flags = fcntl(listen_fd, F_GETFL)) == -1 ||
	    fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "the listener: %s", strerror(errno));
		return -1;
	}
	if ((sv.ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	if (fwd_init(proxy, &sv.lim, err, errlen) == -1)
		return -1;
	sv.listener = (struct watch){ .kind = WATCH_LISTENER, .fd = listen_fd };
	sv.wake = (struct watch){ .kind = WATCH_WAKE, .fd = pipefd[0] };
	sv.wake_w = pipefd[1];
	loop_watch(pipefd[0], EPOLLIN, &sv.wake);
	loop_watch(listen_fd, EPOLLIN, &sv.listener);
	sv.listening = true;
	if ((rc = pthread_create(&sv.thread, NULL, serve, NULL)) != 0) {
		snprintf(err, errlen, "starting the serving thread: %s",
		    strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * Stop serving the task for good: the listener closed, every connection
 * closed, every request in flight abandoned with its retries.  The
 * task's processes are gone, so nobody waits for an answer, and nothing
 * the task left keeps a way to the credentials for as long as a retry
 * budget.
 */
void
server_stop(void)
{
	char c = 0;
	int rc;

	if (write(sv.wake_w, &c, 1) != 1)
		fatal("waking the serving thread");
	if ((rc = pthread_join(sv.thread, NULL)) != 0)
		fatalx("pthread_join: %s", strerror(rc));
}
