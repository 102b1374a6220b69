/*
 * The task's side: HTTP/1.1 from libmicrohttpd, a thread per connection
 * (each may wait on upstream for as long as retries take, and pulls the
 * response body at the client's pace).  Connections come from front.c,
 * their request head already found well-formed (head.h), one request
 * each.
 *
 * libmicrohttpd decodes the URL before the request handler sees it; the
 * target is taken raw from the URI log callback instead, so "%2F", "//"
 * and the query reach upstream, and the Hawk MAC, byte for byte.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/version.h"
#include "proxyd/forward.h"
#include "proxyd/front.h"
#include "proxyd/head.h"
#include "proxyd/route.h"
#include "proxyd/taskproxy.h"

/* Seconds a connection may sit idle while its request is read or its
 * answer taken. */
#define IDLE_TIMEOUT_S		300
/* libmicrohttpd's memory for one connection: a head of FRONT_HEAD_MAX,
 * what it parses out of it, and the answer's headers. */
#define CONNECTION_MEMORY	(4 * FRONT_HEAD_MAX)

/* One request, from its first line to its response's end. */
struct request {
	char			*target;	/* raw, as on the request line */
	bool			 begun;
	struct route		 route;
	bool			 routed;
	char			*body;
	size_t			 len, cap;
	bool			 too_big;
	struct curl_slist	*headers;	/* the task's, to pass on */
	const char		*connection;	/* its Connection header */
	bool			 sent_accept;
	bool			 sent_content_type;
};

static struct taskproxy *tp;
static struct MHD_Daemon *daemon_;

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct request *rq = xcalloc(1, sizeof(*rq));

	(void)cls;
	(void)c;
	rq->target = xstrdup(uri);
	return rq;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)why;
	if (rq == NULL)
		return;
	free(rq->target);
	if (rq->routed)
		route_free(&rq->route);
	free(rq->body);
	curl_slist_free_all(rq->headers);
	free(rq);
	*con_cls = NULL;
}

/* Listed in the task's Connection header: a hop-by-hop header too. */
static bool
named_in_connection(const struct request *rq, const char *name)
{
	const char *p = rq->connection;
	size_t n = strlen(name);

	while (p != NULL && *p != '\0') {
		size_t tok;

		p += strspn(p, " \t,");
		tok = strcspn(p, " \t,");
		if (tok == n && strncasecmp(p, name, n) == 0)
			return true;
		p += tok;
	}
	return false;
}

static enum MHD_Result
keep_header(void *cls, enum MHD_ValueKind kind, const char *name,
    const char *value)
{
	struct request *rq = cls;
	char *line;

	(void)kind;
	if (hop_by_hop(name, strlen(name)) || named_in_connection(rq, name))
		return MHD_YES;
	if (strcasecmp(name, "Accept") == 0)
		rq->sent_accept = true;
	if (strcasecmp(name, "Content-Type") == 0)
		rq->sent_content_type = true;
	/* "Name;" is how curl is told to send a header with no value. */
	line = *value == '\0' ? xasprintf("%s;", name) :
	    xasprintf("%s: %s", name, value);
	rq->headers = curl_slist_append(rq->headers, line);
	free(line);
	return MHD_YES;
}

/* --- responses --- */

static void
add_header(void *arg, const char *name, const char *value)
{
	if (MHD_add_response_header(arg, name, value) == MHD_NO)
		log_warnx("response header %s could not be added", name);
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

/* Those, and the end of the connection (front.h says why). */
static void
common_headers(struct MHD_Response *r)
{
	server_common_headers(tp, add_header, r);
	add_header(r, "Connection", "close");
}

/* A response of our own: status, a text body, and Location or
 * X-Taskcluster-Endpoint where they apply (NULL where not). */
static enum MHD_Result
answer_to(struct MHD_Connection *c, unsigned status, const char *location,
    const char *endpoint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define answer(c, status, location, ...)				\
	answer_to((c), (status), (location), NULL, __VA_ARGS__)

static enum MHD_Result
answer_to(struct MHD_Connection *c, unsigned status, const char *location,
    const char *endpoint, const char *fmt, ...)
{
	struct MHD_Response *r;
	enum MHD_Result rc;
	va_list ap;
	char *body;

	va_start(ap, fmt);
	if (vasprintf(&body, fmt, ap) == -1)
		fatalx("out of memory");
	va_end(ap);
	r = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	add_header(r, "Content-Type", "text/plain; charset=utf-8");
	if (location != NULL)
		add_header(r, "Location", location);
	common_headers(r);
	if (endpoint != NULL)
		add_header(r, "X-Taskcluster-Endpoint", endpoint);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static ssize_t
read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	ssize_t n = upstream_read(cls, buf, max);

	(void)pos;
	if (n > 0)
		return n;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM :
	    MHD_CONTENT_READER_END_WITH_ERROR;
}

static void
free_upstream(void *cls)
{
	upstream_free(cls);
}

static enum MHD_Result
proxy(struct MHD_Connection *c, struct request *rq, const char *method)
{
	struct fwd_request f = {
		.tp = tp, .method = method, .url = rq->route.url,
		.body = rq->body ? rq->body : "", .body_len = rq->len,
		.headers = rq->headers, .sent_accept = rq->sent_accept,
		.sent_content_type = rq->sent_content_type,
	};
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	struct MHD_Response *r;
	struct upstream *u;
	enum MHD_Result rc;
	char err[CURL_ERROR_SIZE + 256];
	bool hung_up;
	int64_t len;

	f.client_fd = ci != NULL ? ci->connect_fd : -1;
	if ((u = forward(&f, &hung_up, err, sizeof(err))) == NULL) {
		log_warnx("%s %s: %s", method, rq->route.url, err);
		if (hung_up)
			return MHD_NO;
		return answer_to(c, 500, NULL, rq->route.url,
		    "Failed during proxy request: %s", err);
	}
	len = upstream_length(u);
	r = MHD_create_response_from_callback(len < 0 ? MHD_SIZE_UNKNOWN :
	    (uint64_t)len, 64 * 1024, read_body, u, free_upstream);
	if (r == NULL) {
		upstream_free(u);
		return MHD_NO;
	}
	upstream_headers(u, add_header, r);
	common_headers(r);
	add_header(r, "X-Taskcluster-Endpoint", rq->route.url);
	log_info("%s %s -> %ld%s", method, rq->route.url, upstream_status(u),
	    upstream_attempts(u) > 1 ? " (after retries)" : "");
	rc = MHD_queue_response(c, (unsigned)upstream_status(u), r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
respond(struct MHD_Connection *c, struct request *rq, const char *method)
{
	char err[512], *url;
	const char *feature;

	if (rq->too_big)
		return answer(c, 413, NULL, "the request body is larger than "
		    "the %u bytes the proxy holds for a retry", TP_BODY_MAX);
	switch (rq->route.kind) {
	case ROUTE_NOT_FOUND:
		return answer(c, 404, NULL, "%s", rq->route.body);
	case ROUTE_CREDENTIALS:
		return answer(c, 403, NULL, "sepworker's taskcluster proxy does "
		    "not take credentials from the task: the worker passes the "
		    "task's new credentials to it directly after each reclaim, "
		    "so %s /credentials is refused", method);
	case ROUTE_BEWIT:
		url = taskproxy_bewit(tp, rq->body ? rq->body : "", rq->len,
		    err, sizeof(err));
		if (url == NULL)
			return answer(c, 500, NULL, "%s", err);
		{
			enum MHD_Result rc = answer(c, 303, url, "%s", url);

			free(url);
			return rc;
		}
	case ROUTE_FORWARD:
		if (rq->route.host != NULL &&
		    !taskproxy_host_allowed(tp, rq->route.host)) {
			log_warnx("refused %s %s: %s is not an allowed host",
			    method, rq->route.url, rq->route.host);
			return answer(c, 403, NULL, "sepworker's taskcluster "
			    "proxy does not forward to %s: the worker's "
			    "sepworker.proxyAllowedHosts does not list it (by "
			    "default only the rootURL's host is allowed)",
			    rq->route.host);
		}
		if ((feature = taskproxy_worker_artifact(tp, method,
		    rq->route.url)) != NULL) {
			log_warnx("refused %s %s: the worker writes that "
			    "artifact", method, rq->route.url);
			return answer(c, 403, NULL, "sepworker's taskcluster "
			    "proxy does not let a task create an artifact the "
			    "worker writes itself (%s): the task's logs and "
			    "its chain of trust are the worker's word",
			    feature);
		}
		return proxy(c, rq, method);
	}
	return MHD_NO;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)url;
	(void)version;
	if (rq == NULL)
		return MHD_NO;
	if (!rq->begun) {
		const char *cl;

		rq->begun = true;
		if (route_target(tp->root_url, rq->target, &rq->route) == -1)
			return answer(c, 400, NULL, "the request target must be "
			    "an absolute path of printable ASCII, properly "
			    "percent-encoded, without a fragment");
		rq->routed = true;
		rq->connection = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    "Connection");
		if (rq->route.kind == ROUTE_FORWARD)
			MHD_get_connection_values(c, MHD_HEADER_KIND,
			    keep_header, rq);
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    "Content-Length");
		if (cl != NULL && strtoull(cl, NULL, 10) > TP_BODY_MAX)
			rq->too_big = true;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!rq->too_big && rq->len + *upload_size > TP_BODY_MAX)
			rq->too_big = true;
		if (!rq->too_big) {
			if (rq->len + *upload_size > rq->cap) {
				rq->cap = (rq->len + *upload_size) * 2;
				if (rq->cap > TP_BODY_MAX)
					rq->cap = TP_BODY_MAX;
				rq->body = realloc(rq->body, rq->cap);
				if (rq->body == NULL)
					fatalx("out of memory");
			}
			memcpy(rq->body + rq->len, upload, *upload_size);
			rq->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return respond(c, rq, method);
}

static void	on_mhd_log(void *cls, const char *fmt, va_list ap)
		    __attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warnx("libmicrohttpd: %s", line);
}

int
server_start(struct taskproxy *proxy, int listen_fd, char *err,
    size_t errlen)
{
	struct MHD_Daemon *d;

	tp = proxy;
	/* Connections come from front.c, their heads already checked;
	 * strict too, as a second line. */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG |
	    MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
	    0, NULL, NULL, on_request, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)FRONT_CONNECTION_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
	    MHD_OPTION_STRICT_FOR_CLIENT, 1,
	    MHD_OPTION_END);
	if (d == NULL) {
		snprintf(err, errlen, "libmicrohttpd could not start");
		return -1;
	}
	daemon_ = d;
	return front_start(proxy, listen_fd, d, err, errlen);
}

/*
 * The accepting thread first, so no new connection comes; then
 * libmicrohttpd shuts every connection down and joins its thread.  A
 * request in flight is cut, not finished: forward() sees its client gone
 * within CLIENT_CHECK_MS and abandons upstream and its retries, and a
 * response being relayed ends short (at its next piece from upstream).  The task's processes are gone, so
 * nobody waits for it, and nothing the task left keeps a way to the
 * credentials for as long as a retry budget.
 */
void
server_stop(void)
{
	front_stop();
	MHD_stop_daemon(daemon_);
	daemon_ = NULL;
}
