/*
 * Absolute http(s) URLs as proxyd needs them: split into what a Hawk MAC
 * covers (host, port, request target), and signed for taskcluster-
 * proxy's /bewit endpoint.  Paths and queries are kept byte for byte: a
 * MAC must cover exactly what goes on the request line.
 */
#ifndef SEPWORKER_URL_H
#define SEPWORKER_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest body /bewit signs. */
#define BEWIT_BODY_MAX	8192

struct url_parts {
	char	 scheme[6];	/* "http" or "https", lower case */
	/* malloc'd, as the hawk server signs it: a name in lower case, an
	 * IPv6 literal in canonical form ("[::1]"), with its brackets. */
	char	*host;
	uint16_t port;		/* explicit, else the scheme's default */
	bool	 explicit_port;
	/* malloc'd: path [?query], never empty ("/" when the URL has no
	 * path); no fragment. */
	char	*target;
};

/*
 * Split an absolute http(s) URL, refusing what a signer must not guess
 * at: userinfo, an empty host or port, a port out of 1-65535 or with a
 * leading zero, a host character outside [A-Za-z0-9._~-] (IPv6 literals:
 * hex digits, ':' and '.'; no zone), a numeric host that is not a
 * dotted quad ("127.1": the WHATWG parser would rewrite it), any control,
 * space or non-ASCII byte.
 * Returns 0, or -1 with err naming what is wrong ("port 70000 out of
 * range") and out holding nothing to free.
 */
int	url_split(const char *url, struct url_parts *out, char *err,
	    size_t errlen);
void	url_parts_free(struct url_parts *u);

/*
 * taskcluster-proxy's /bewit: body[0..len) is an absolute URL, surrounded
 * by whitespace or not.  Returns the malloc'd signed URL: the same scheme,
 * host, port and path, the query re-encoded as Go's url.Values.Encode()
 * does (keys sorted, repeated keys in order, each key and value
 * unescaped and escaped again with url.QueryEscape's rules), then
 * "bewit=<token>" appended after '?' or '&'.  The MAC covers GET, the
 * path plus "?<encoded query>" when that is not empty, the URL's host and
 * port, and exp = now + ttl_seconds.  NULL with err set for a body longer
 * than BEWIT_BODY_MAX, holding a NUL, not an absolute http(s) URL, or
 * with a query Go would silently drop part of.
 */
char	*bewit_url(const char *body, size_t len, const char *id,
	    const unsigned char *key, size_t keylen, const char *ext,
	    uint64_t now, uint32_t ttl_seconds, char *err, size_t errlen);

#endif
