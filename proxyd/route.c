/*
 * The request-target of a task's request, dispatched as taskcluster-proxy
 * does (tools/taskcluster-proxy: ServeHTTP and APIHandler in routes.go,
 * ConvertPath in taskcluster/services.go).  Every step works on the bytes
 * the task sent; the only thing built is the upstream URL.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "proxyd/route.h"

/* A piece of the target: not NUL-terminated. */
struct span {
	const char	*p;
	size_t		 len;
};

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static bool
is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Would Go's net/url hand this path on unchanged?  It refuses a bad
 * escape outright (400).  A character that RFC 3986 never allows raw in a
 * path makes EscapedPath() fall back to re-escaping the decoded path,
 * which turns %2F into '/' and moves the routing with it: refused rather
 * than copied, since a conforming client never sends one.
 */
static bool
path_forwards_verbatim(struct span path)
{
	for (size_t i = 0; i < path.len; i++) {
		char c = path.p[i];

		if (c == '%') {
			if (i + 2 >= path.len || !is_hex(path.p[i + 1]) ||
			    !is_hex(path.p[i + 2]))
				return false;
			i += 2;
		} else if (strchr("\"#<>\\^`{|}", c) != NULL) {
			return false;
		}
	}
	return true;
}

/*
 * services.go's hostnamePattern,
 *   ^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*
 *    ([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$
 * by hand: labels of letters, digits and '-', joined by single dots,
 * none empty and none starting or ending with '-'.  No length limit, as
 * the regexp has none.
 */
static bool
is_hostname(struct span s)
{
	size_t label = 0;

	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];

		if (c == '.') {
			if (label == 0 || s.p[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(c) || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return label > 0 && s.p[s.len - 1] != '-';
}

/* Cut s at its first '/': the part before, and after the '/' in *rest.
 * false (s untouched) when it holds none. */
static bool
cut_segment(struct span s, struct span *seg, struct span *rest)
{
	const char *slash = memchr(s.p, '/', s.len);

	if (slash == NULL)
		return false;
	*seg = (struct span){ s.p, (size_t)(slash - s.p) };
	*rest = (struct span){ slash + 1, s.len - seg->len - 1 };
	return true;
}

/*
 * tcurls.API(root, svc, ver, path + query) in taskcluster-lib-urls v13:
 * "<root>/api/<svc>/<ver>/<path + query>", with every trailing '/' of
 * root and every leading '/' of path + query trimmed.
 */
static char *
api_url(const char *root_url, struct span svc, struct span ver,
    struct span path, struct span query)
{
	size_t rootlen = strlen(root_url);

	while (rootlen > 0 && root_url[rootlen - 1] == '/')
		rootlen--;
	/* query is empty or starts with '?': the trim stops there. */
	while (path.len > 0 && path.p[0] == '/')
		path.p++, path.len--;
	return xasprintf("%.*s/api/%.*s/%.*s/%.*s%.*s", (int)rootlen,
	    root_url, (int)svc.len, svc.p, (int)ver.len, ver.p,
	    (int)path.len, path.p, (int)query.len, query.p);
}

static int
not_found(struct route *out, char *body)
{
	out->kind = ROUTE_NOT_FOUND;
	out->body = body;
	return 0;
}

static int
forward(struct route *out, char *url)
{
	out->kind = ROUTE_FORWARD;
	out->url = url;
	return 0;
}

/* APIHandler: the escaped path against ^/api/([^/]*)/([^/]*)/(.*)$. */
static int
route_api(const char *root_url, struct span path, struct span query,
    struct route *out)
{
	static const char prefix[] = "/api/";
	const size_t plen = sizeof(prefix) - 1;
	struct span svc, ver, rest;

	if (path.len < plen || memcmp(path.p, prefix, plen) != 0 ||
	    !cut_segment((struct span){ path.p + plen, path.len - plen },
	    &svc, &rest) || !cut_segment(rest, &ver, &rest))
		return not_found(out, xstrdup("invalid /api path"));
	return forward(out, api_url(root_url, svc, ver, rest, query));
}

/* ConvertPath: the first segment names a service or a host. */
static int
route_service(const char *root_url, struct span path, struct span query,
    struct route *out)
{
	struct span rawpath = { path.p + 1, path.len - 1 };
	struct span service, rest, ver;

	if (!cut_segment(rawpath, &service, &rest)) {
		service = rawpath;
		rest = (struct span){ rawpath.p + rawpath.len, 0 };
	}
	if (!is_hostname(service))
		return not_found(out, xasprintf("Unkown taskcluster service: "
		    "%.*s is not a valid taskcluster service",
		    (int)service.len, service.p));
	if (memchr(service.p, '.', service.len) != NULL) {
		out->host = xasprintf("%.*s", (int)service.len, service.p);
		return forward(out, xasprintf("https://%.*s/%.*s%.*s",
		    (int)service.len, service.p, (int)rest.len, rest.p,
		    (int)query.len, query.p));
	}
	/* Go slices path[i+1:] past its end here and panics: net/http
	 * drops the connection without an answer. */
	if (!cut_segment(rest, &ver, &rest))
		return not_found(out, xasprintf("invalid path: expected "
		    "/%.*s/<apiVersion>/<path>", (int)service.len, service.p));
	return forward(out, api_url(root_url, service, ver, rest, query));
}

int
route_target(const char *root_url, const char *target, struct route *out)
{
	struct span path, query = { "", 0 };
	const char *q;

	memset(out, 0, sizeof(*out));
	if (target[0] != '/')
		return -1;
	for (const unsigned char *c = (const unsigned char *)target;
	    *c != '\0'; c++)
		if (*c < 0x21 || *c > 0x7e || *c == '#')
			return -1;
	path = (struct span){ target, strlen(target) };
	if ((q = strchr(target, '?')) != NULL) {
		path.len = (size_t)(q - target);
		/* Go forwards a query only when it is not empty ("?"
		 * alone is dropped); the '?' goes with it. */
		if (q[1] != '\0')
			query = (struct span){ q, strlen(q) };
	}
	if (!path_forwards_verbatim(path))
		return -1;

	if (starts_with(target, "/bewit")) {
		out->kind = ROUTE_BEWIT;
		return 0;
	}
	if (starts_with(target, "/credentials")) {
		out->kind = ROUTE_CREDENTIALS;
		return 0;
	}
	if (starts_with(target, "/api"))
		return route_api(root_url, path, query, out);
	return route_service(root_url, path, query, out);
}

void
route_free(struct route *r)
{
	free(r->url);
	free(r->body);
	free(r->host);
	r->url = r->body = r->host = NULL;
}

bool
route_host_allowed(const char *host, const char *const *patterns,
    size_t npatterns)
{
	size_t hlen = strlen(host);

	for (size_t i = 0; i < npatterns; i++) {
		const char *p = patterns[i];
		size_t plen = strlen(p);

		if (strcmp(p, "*") == 0 || strcasecmp(p, host) == 0)
			return true;
		/* "*.example.com": the host ends in ".example.com" and has
		 * a label before it. */
		if (strncmp(p, "*.", 2) == 0 && hlen > plen - 1 &&
		    strcasecmp(host + hlen - (plen - 1), p + 1) == 0)
			return true;
	}
	return false;
}
