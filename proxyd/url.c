/*
 * URL splitting and taskcluster-proxy's /bewit signing.
 *
 * bewit_url follows taskcluster-proxy's BewitHandler and client-go's
 * SignedURL: trim the body, parse it, re-encode its query as Go's
 * url.Values.Encode() does, sign GET of that for one hour, add bewit=.
 * Where Go's result is a URL the hawk server refuses, this one differs
 * (reference §3.4 "Go quirks"):
 *
 *  - hawk-go's NewURLAuth cuts the request target out of the URL string
 *    at the first '/' after byte 8 (it assumes "https://"), and signs "/"
 *    alone when the path is empty, even when there is a query: the
 *    client then asks for "/?q" and the MAC fails.  Here the MAC covers
 *    the target a client sends: "/" + "?q" in that case.  Likewise a
 *    bare trailing '?' is signed by Go but gone from its output URL.
 *  - Go's URL keeps a fragment, so its MAC covers "#frag", which no
 *    client sends.  Here the fragment is dropped from the MAC and from
 *    the signed URL.
 *  - A "bewit" parameter already in the URL is covered by Go's MAC and
 *    then replaced by the new one, so the MAC fails.  Here it is dropped
 *    before signing, which leaves Go's output URL.
 *  - Go's Query() silently drops a parameter holding ';' or a malformed
 *    %-escape, so the signed URL is not the one asked for.  Here such a
 *    URL is refused with an error.
 *  - Go signs the host as written, IPv6 brackets stripped by
 *    SplitHostPort.  The hawk server (hawk@9) reads the Host header with
 *    the WHATWG URL parser and signs its hostname: lower case, IPv6 in
 *    canonical form with its brackets.  Here the host is signed, and
 *    written into the URL, in that form.
 *
 * Go sorts bewit= into the query with the other keys; here it is
 * appended.  The hawk server takes the bewit parameter out wherever it
 * is, so both are accepted.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "proxyd/hawk.h"
#include "proxyd/url.h"

/* One query parameter, unescaped in place inside a copy of the query. */
struct param {
	const char	*key;
	size_t		 keylen;
	const char	*value;
	size_t		 valuelen;
	size_t		 seq;		/* position in the URL: sort is stable */
};

static int	fail(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool
host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static bool
ipv6_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/*
 * "[v6]" as the WHATWG URL parser serializes it, which is what the hawk
 * server signs (hawk@9 reads the Host header with new URL()): lower-case
 * hex without leading zeros, the first longest run of two or more zero
 * groups as "::", never a dotted IPv4 tail.
 */
static char *
ipv6_canonical(const unsigned char a[16])
{
	char out[48], *o = out;
	int best = -1, bestlen = 1;

	for (int i = 0; i < 8; i++) {
		int n = 0;

		while (i + n < 8 && a[2 * (i + n)] == 0 &&
		    a[2 * (i + n) + 1] == 0)
			n++;
		if (n > bestlen) {
			best = i;
			bestlen = n;
		}
	}
	*o++ = '[';
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			*o++ = ':';
			if (i == 0)
				*o++ = ':';
			i += bestlen - 1;
			continue;
		}
		o += sprintf(o, "%x", a[2 * i] << 8 | a[2 * i + 1]);
		if (i < 7)
			*o++ = ':';
	}
	*o++ = ']';
	*o = '\0';
	return xstrdup(out);
}

/*
 * A name whose last label is a number is an IPv4 address to the WHATWG
 * parser, which rewrites "127.1" as "127.0.0.1" (and "010" as octal):
 * only the canonical dotted quad signs the same on both sides.
 */
static bool
numeric_host(const char *h)
{
	size_t end = strlen(h), start, n;
	const char *label;

	if (end > 1 && h[end - 1] == '.')
		end--;
	for (start = end; start > 0 && h[start - 1] != '.'; start--)
		;
	label = h + start;
	n = end - start;
	if (n >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X'))
		return strspn(label + 2, "0123456789abcdefABCDEF") >= n - 2;
	return n > 0 && strspn(label, "0123456789") >= n;
}

static bool
dotted_quad(const char *h)
{
	struct in_addr a;
	char back[INET_ADDRSTRLEN];

	return inet_pton(AF_INET, h, &a) == 1 &&
	    inet_ntop(AF_INET, &a, back, sizeof(back)) != NULL &&
	    strcmp(back, h) == 0;
}

/*
 * The host at s[0..len): "[v6]" or a name, up to a ':' and the port.
 * *rawlen gets its length in the URL, *host the form the hawk server
 * signs: a name in lower case (DNS does not care), an IPv6 literal in
 * its canonical form.
 */
static int
split_host(const char *s, size_t len, size_t *rawlen, char **host,
    char *err, size_t errlen)
{
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		unsigned char a[16];
		char inside[64];

		if (close == NULL)
			return fail(err, errlen, "unterminated IPv6 literal");
		*rawlen = (size_t)(close - s) + 1;
		for (size_t i = 1; i + 1 < *rawlen; i++)
			if (!ipv6_char((unsigned char)s[i]))
				return fail(err, errlen, "IPv6 literal holds "
				    "'%c'", s[i]);
		if (*rawlen - 2 >= sizeof(inside))
			return fail(err, errlen, "malformed IPv6 literal");
		snprintf(inside, sizeof(inside), "%.*s", (int)(*rawlen - 2),
		    s + 1);
		if (inet_pton(AF_INET6, inside, a) != 1)
			return fail(err, errlen, "malformed IPv6 literal");
		if (*rawlen < len && s[*rawlen] != ':')
			return fail(err, errlen, "'%c' after the IPv6 "
			    "literal", s[*rawlen]);
		*host = ipv6_canonical(a);
		return 0;
	}
	*rawlen = 0;
	while (*rawlen < len && s[*rawlen] != ':') {
		if (!host_char((unsigned char)s[*rawlen]))
			return fail(err, errlen, "host holds '%c'",
			    s[*rawlen]);
		(*rawlen)++;
	}
	if (*rawlen == 0)
		return fail(err, errlen, "empty host");
	if (*rawlen > 253)
		return fail(err, errlen, "host is longer than 253 bytes");
	*host = xasprintf("%.*s", (int)*rawlen, s);
	for (char *p = *host; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (numeric_host(*host) && !dotted_quad(*host)) {
		fail(err, errlen, "host %s is not a dotted-quad IPv4 address",
		    *host);
		free(*host);
		*host = NULL;
		return -1;
	}
	return 0;
}

/* The digits after the host's ':'.  No leading zero: the hawk server
 * signs the Host header's port as written, we sign the number. */
static int
parse_port(const char *s, size_t len, uint16_t *port, char *err,
    size_t errlen)
{
	unsigned long v = 0;

	if (len == 0)
		return fail(err, errlen, "empty port");
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return fail(err, errlen, "port \"%.*s\" is not a "
			    "number", (int)len, s);
	if (s[0] == '0' && len > 1)
		return fail(err, errlen, "port %.*s has a leading zero",
		    (int)len, s);
	for (size_t i = 0; i < len && v <= 65535; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (v == 0 || v > 65535)
		return fail(err, errlen, "port %.*s out of range", (int)len, s);
	*port = (uint16_t)v;
	return 0;
}

int
url_split(const char *url, struct url_parts *out, char *err, size_t errlen)
{
	const char *auth, *rest;
	size_t authlen, hostlen = 0, targetlen;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; url[i] != '\0'; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c == 0x7f)
			return fail(err, errlen, "a control or space character "
			    "at byte %zu", i);
		if (c > 0x7f)
			return fail(err, errlen, "a non-ASCII byte at byte %zu",
			    i);
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		memcpy(out->scheme, "https", 6);
		out->port = 443;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		memcpy(out->scheme, "http", 5);
		out->port = 80;
		auth = url + 7;
	} else
		return fail(err, errlen, "not an absolute http(s) URL");

	authlen = strcspn(auth, "/?#");
	if (memchr(auth, '@', authlen) != NULL)
		return fail(err, errlen, "userinfo is not allowed");
	if (split_host(auth, authlen, &hostlen, &out->host, err, errlen) != 0)
		return -1;
	if (hostlen < authlen) {
		if (parse_port(auth + hostlen + 1, authlen - hostlen - 1,
		    &out->port, err, errlen) != 0) {
			url_parts_free(out);
			return -1;
		}
		out->explicit_port = true;
	}

	rest = auth + authlen;
	targetlen = strcspn(rest, "#");
	if (targetlen == 0)
		out->target = xstrdup("/");
	else if (rest[0] == '?')
		out->target = xasprintf("/%.*s", (int)targetlen, rest);
	else
		out->target = xasprintf("%.*s", (int)targetlen, rest);
	return 0;
}

void
url_parts_free(struct url_parts *u)
{
	free(u->host);
	free(u->target);
	u->host = NULL;
	u->target = NULL;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Go's QueryUnescape, in place: '+' is a space, %XX a byte.  The result
 * may hold any byte, NUL included; its length goes to *outlen. */
static int
query_unescape(char *s, size_t len, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (len - i < 3)
				return -1;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			s[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			s[o++] = s[i] == '+' ? ' ' : s[i];
	}
	*outlen = o;
	return 0;
}

/* Go's QueryEscape: A-Za-z0-9 and -_.~ kept, space as '+', the rest
 * %XX in upper case.  Writes at most 3 * len bytes. */
static char *
query_escape(char *o, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			*o++ = (char)c;
		else if (c == ' ')
			*o++ = '+';
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0xf];
		}
	}
	return o;
}

static int
cmp_params(const void *x, const void *y)
{
	const struct param *a = x, *b = y;
	size_t n = a->keylen < b->keylen ? a->keylen : b->keylen;
	int c = memcmp(a->key, b->key, n);

	/* Go's sort.Strings: bytewise, a prefix first; then URL order. */
	if (c != 0)
		return c;
	if (a->keylen != b->keylen)
		return a->keylen < b->keylen ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * Parse raw[0..len) as Go's url.ParseQuery does (pairs split on '&',
 * empty ones skipped, "k" alone is k with value ""), minus any bewit,
 * into params, which must have room for len / 2 + 1 of them.  Returns
 * the count or -1 with err set.  The strings point into raw.
 */
static int
parse_query(char *raw, size_t len, struct param *params, char *err,
    size_t errlen)
{
	size_t n = 0, seq = 0;
	char *p = raw, *end = raw + len;

	while (p < end) {
		char *amp = memchr(p, '&', (size_t)(end - p));
		char *stop = amp ? amp : end, *eq;
		struct param *q = &params[n];

		if (stop == p) {
			p = stop + 1;
			continue;
		}
		if (memchr(p, ';', (size_t)(stop - p)) != NULL)
			return fail(err, errlen, "query holds ';', which Go "
			    "would drop the parameter for");
		eq = memchr(p, '=', (size_t)(stop - p));
		q->key = p;
		q->value = eq ? eq + 1 : stop;
		if (query_unescape(p, (size_t)((eq ? eq : stop) - p),
		    &q->keylen) != 0 || query_unescape(eq ? eq + 1 : stop,
		    eq ? (size_t)(stop - eq - 1) : 0, &q->valuelen) != 0)
			return fail(err, errlen, "query holds a malformed "
			    "%%-escape");
		q->seq = seq++;
		/* Go replaces a bewit after signing over it; drop it before. */
		if (!(q->keylen == 5 && memcmp(q->key, "bewit", 5) == 0))
			n++;
		p = stop + (amp ? 1 : 0);
	}
	return (int)n;
}

/* The query encoded as url.Values.Encode(), malloc'd ("" when empty). */
static char *
encode_query(const char *raw, size_t len, char *err, size_t errlen)
{
	char *copy = xmalloc(len + 1), *out, *o;
	struct param *params = xcalloc(len / 2 + 1, sizeof(*params));
	int n;

	memcpy(copy, raw, len);
	copy[len] = '\0';
	n = parse_query(copy, len, params, err, errlen);
	out = NULL;
	if (n >= 0) {
		qsort(params, (size_t)n, sizeof(*params), cmp_params);
		/* Each byte escapes to at most 3; '=' and '&' at most 2 more
		 * a pair, and a pair is at least one raw byte. */
		o = out = xmalloc(5 * len + 1);
		for (int i = 0; i < n; i++) {
			if (i > 0)
				*o++ = '&';
			o = query_escape(o, params[i].key, params[i].keylen);
			*o++ = '=';
			o = query_escape(o, params[i].value,
			    params[i].valuelen);
		}
		*o = '\0';
	}
	free(params);
	free(copy);
	return out;
}

static bool
go_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	    c == '\r';
}

char *
bewit_url(const char *body, size_t len, const char *id,
    const unsigned char *key, size_t keylen, const char *ext, uint64_t now,
    uint32_t ttl_seconds, char *err, size_t errlen)
{
	struct url_parts u;
	struct hawk_target t;
	char *text, *query, *resource, *token, *port, *signed_url;
	size_t pathlen;

	if (len > BEWIT_BODY_MAX) {
		fail(err, errlen, "URL is longer than %d bytes",
		    BEWIT_BODY_MAX);
		return NULL;
	}
	if (memchr(body, '\0', len) != NULL) {
		fail(err, errlen, "URL holds a NUL byte");
		return NULL;
	}
	if (now > UINT64_MAX - ttl_seconds) {
		fail(err, errlen, "expiry out of range");
		return NULL;
	}
	/* Go's strings.TrimSpace; other whitespace url_split refuses. */
	while (len > 0 && go_space(*body)) {
		body++;
		len--;
	}
	while (len > 0 && go_space(body[len - 1]))
		len--;
	text = xmalloc(len + 1);
	memcpy(text, body, len);
	text[len] = '\0';
	if (url_split(text, &u, err, errlen) != 0) {
		free(text);
		return NULL;
	}
	free(text);

	pathlen = strcspn(u.target, "?");
	query = encode_query(u.target + pathlen + (u.target[pathlen] != '\0'),
	    strlen(u.target + pathlen) - (u.target[pathlen] != '\0'), err,
	    errlen);
	if (query == NULL) {
		url_parts_free(&u);
		return NULL;
	}
	resource = xasprintf("%.*s%s%s", (int)pathlen, u.target,
	    *query ? "?" : "", query);
	t = (struct hawk_target){ "GET", resource, u.host, u.port };
	token = hawk_bewit(id, key, keylen, now + ttl_seconds, &t, ext);
	if (token == NULL) {
		fail(err, errlen, "the client id or ext cannot go in a bewit");
		signed_url = NULL;
	} else {
		port = u.explicit_port ? xasprintf(":%u", (unsigned)u.port) :
		    xstrdup("");
		signed_url = xasprintf("%s://%s%s%s%sbewit=%s", u.scheme,
		    u.host, port, resource, *query ? "&" : "?", token);
		free(port);
	}
	free(token);
	free(resource);
	free(query);
	url_parts_free(&u);
	return signed_url;
}
