/*
 * Where a task's request goes: taskcluster-proxy's dispatch (reference
 * §2.3), reproduced on the raw request-target.  In the order it tries them:
 *
 *	/bewit...		sign the URL in the body (a prefix)
 *	/credentials...		refused by sepworker (a prefix)
 *	/api...			/api/<svc>/<ver>/<path>
 *				    -> <root>/api/<svc>/<ver>/<path>
 *	/<svc>/<ver>/<path>	-> <root>/api/<svc>/<ver>/<path> (no dot)
 *	/<host>/<path>		-> https://<host>/<path> (a dot in host;
 *				   the task proxy checks host against its
 *				   allow-list, route_host_allowed)
 *
 * The prefixes are tried on the whole target, query included, as Go's
 * r.URL.String() is; the rest on the escaped path, as EscapedPath() is.
 * The escaped path and raw query are forwarded byte for byte: no
 * decoding, no re-encoding, no dot-segment removal.  The two things
 * taken from tcurls.API (taskcluster-lib-urls v13) are that every
 * trailing '/' of the root URL and every leading '/' of <path> go.
 */
#ifndef SEPWORKER_ROUTE_H
#define SEPWORKER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

enum route_kind {
	ROUTE_BEWIT,		/* /bewit */
	ROUTE_CREDENTIALS,	/* /credentials: sepworker refuses it */
	ROUTE_FORWARD,		/* proxied: url is the upstream absolute URL */
	ROUTE_NOT_FOUND,	/* 404 with body */
};

struct route {
	enum route_kind	 kind;
	char		*url;	/* ROUTE_FORWARD: malloc'd */
	/* ROUTE_FORWARD by /<host.with.dot>/...: that host, malloc'd, for
	 * the allow-list; NULL for the rootURL's routes. */
	char		*host;
	/*
	 * ROUTE_NOT_FOUND: malloc'd response body, taskcluster-proxy's own
	 * ("invalid /api path", "Unkown taskcluster service: x@ is not a
	 * valid taskcluster service" (sic)), or ours where it panics.
	 */
	char		*body;
};

/*
 * target: the request-target exactly as on the request line, escaped
 * path [?raw query]; root_url: the deployment's, e.g.
 * "https://tc.example.com" or "http://127.0.0.1:4567".
 *
 * -1 (the caller answers 400) for a target that is not origin-form (does
 * not start with '/'), holds a byte outside 0x21-0x7e, or holds what Go's
 * net/url would not forward byte for byte: a '%' not followed by two hex
 * digits (Go answers 400 too), a '#', or in the path one of "<>\^`{|}
 * (Go re-escapes the whole path then, decoding %2F to '/' on the way).
 * Otherwise 0 and *out filled; route_free() it.
 */
int	route_target(const char *root_url, const char *target,
	    struct route *out);
void	route_free(struct route *r);

/*
 * Is host (as route_target gave it) one the patterns allow?  A pattern
 * is a host name (equal, ignoring case), "*.<name>" (any host below
 * name, not name itself) or "*" (any host).
 */
bool	route_host_allowed(const char *host, const char *const *patterns,
	    size_t npatterns);

#endif
