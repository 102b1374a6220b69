/*
 * A request head's bytes against RFC 9112's grammar, strictly: see
 * head.h for what passes.  A pure function of the bytes, so that the
 * same check runs on a connection's first bytes and under the fuzzer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "proxyd/head.h"

/* A line of the head, CRLF excluded; not NUL-terminated. */
struct line {
	const char	*p;
	size_t		 len;
};

/* What the whole head must agree on, gathered line by line. */
struct fields {
	unsigned	 minor;		/* HTTP/1.<minor> */
	unsigned	 nhost, nlength, nencoding;
	struct line	 host, length, encoding;
};

bool
hop_by_hop(const char *name, size_t len)
{
	static const char *const names[] = {
		"connection", "keep-alive", "proxy-connection",
		"proxy-authenticate", "proxy-authorization", "te", "trailer",
		"transfer-encoding", "upgrade", "host", "content-length",
		"expect", "authorization",
	};

	for (size_t i = 0; i < nitems(names); i++)
		if (strlen(names[i]) == len &&
		    strncasecmp(names[i], name, len) == 0)
			return true;
	return false;
}

static enum head_verdict
refuse(struct head *h, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum head_verdict
refuse(struct head *h, unsigned status, const char *fmt, ...)
{
	va_list ap;

	h->status = status;
	va_start(ap, fmt);
	vsnprintf(h->why, sizeof(h->why), fmt, ap);
	va_end(ap);
	return HEAD_REFUSED;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 9110 5.6.2: digits, letters and "!#$%&'*+-.^_`|~". */
static bool
is_tchar(char c)
{
	return is_digit(c) || is_alpha(c) ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Bytes of a token: how many of s[0..len) are tchars. */
static size_t
token_len(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && is_tchar(s[i]))
		i++;
	return i;
}

static bool
eq(struct line l, const char *s)
{
	return l.len == strlen(s) && strncasecmp(l.p, s, l.len) == 0;
}

/* method SP request-target SP HTTP-version: one space each, no more. */
static enum head_verdict
request_line(struct line l, const char *buf, struct fields *f,
    struct head *h)
{
	size_t m = token_len(l.p, l.len), t = 0;
	const char *target, *v, *end = l.p + l.len;

	if (m == 0)
		return refuse(h, 400, "the request line does not start with a "
		    "method (a token)");
	if (m == l.len)
		return refuse(h, 400, "the request line holds no target");
	if (l.p[m] == '\t')
		return refuse(h, 400, "a tab in the request line: it must be "
		    "METHOD SP TARGET SP HTTP/1.1, with one space each");
	if (l.p[m] != ' ')
		return refuse(h, 400, "the method is not a token: byte 0x%02x "
		    "after \"%.*s\"", (unsigned char)l.p[m], (int)m, l.p);
	target = l.p + m + 1;
	while (target + t < end && (unsigned char)target[t] >= 0x21 &&
	    (unsigned char)target[t] <= 0x7e)
		t++;
	if (t == 0)
		return refuse(h, 400, "the request line must be METHOD SP "
		    "TARGET SP HTTP/1.1, with one space each");
	v = target + t;
	if (v == end)
		return refuse(h, 400, "the request line holds no HTTP version");
	if (*v != ' ')
		return refuse(h, 400, "byte 0x%02x in the request target",
		    (unsigned char)*v);
	v++;
	if (end - v != 8 || strncmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) ||
	    v[6] != '.' || !is_digit(v[7]))
		return refuse(h, 400, "the request line must end in one space "
		    "and an HTTP version such as HTTP/1.1");
	if (v[5] != '1' || v[7] > '1')
		return refuse(h, 505, "HTTP version %c.%c is not supported: "
		    "the proxy speaks HTTP/1.1 and 1.0", v[5], v[7]);
	f->minor = (unsigned)(v[7] - '0');
	h->target_off = (size_t)(target - buf);
	h->target_len = t;
	return HEAD_INCOMPLETE;
}

/*
 * Would an upstream that reads '_' as '-' (CGI's HTTP_* variables) take
 * this name for one the proxy decides itself?  Those alone are refused:
 * other names with '_' mean the same to every reader.
 */
static bool
reads_as_ours(struct line name)
{
	char mapped[32];

	if (memchr(name.p, '_', name.len) == NULL ||
	    name.len >= sizeof(mapped))
		return false;
	for (size_t i = 0; i < name.len; i++)
		mapped[i] = name.p[i] == '_' ? '-' : name.p[i];
	return hop_by_hop(mapped, name.len) ||
	    eq((struct line){ mapped, name.len }, "content-type");
}

static void
count(struct line value, unsigned *n, struct line *keep)
{
	(*n)++;
	*keep = value;
}

/* field-name ":" OWS field-value OWS, the name a token, the value
 * without control characters but HTAB. */
static enum head_verdict
field_line(struct line l, struct fields *f, struct head *h)
{
	size_t n = token_len(l.p, l.len);
	struct line name = { l.p, n }, value;

	if (n == l.len)
		return refuse(h, 400, "a header line without a colon: "
		    "\"%.*s\"", (int)(n > 40 ? 40 : n), l.p);
	if (l.p[n] == ' ' || l.p[n] == '\t')
		return refuse(h, 400, "whitespace after the header name "
		    "\"%.*s\": none may come before the colon", (int)n, l.p);
	if (l.p[n] != ':')
		return refuse(h, 400, "the header name \"%.*s\" is followed "
		    "by byte 0x%02x: a name is a token", (int)n, l.p,
		    (unsigned char)l.p[n]);
	if (n == 0)
		return refuse(h, 400, "a header line with an empty name");
	value.p = l.p + n + 1;
	value.len = l.len - n - 1;
	for (size_t i = 0; i < value.len; i++) {
		unsigned char c = (unsigned char)value.p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return refuse(h, 400, "control character 0x%02x in the "
			    "value of header %.*s", c, (int)n, l.p);
	}
	while (value.len > 0 && (*value.p == ' ' || *value.p == '\t')) {
		value.p++;
		value.len--;
	}
	while (value.len > 0 && (value.p[value.len - 1] == ' ' ||
	    value.p[value.len - 1] == '\t'))
		value.len--;
	if (reads_as_ours(name))
		return refuse(h, 400, "header %.*s: where '_' reads as '-' it "
		    "is a header the proxy sets or drops itself", (int)n, l.p);
	if (eq(name, "host"))
		count(value, &f->nhost, &f->host);
	else if (eq(name, "content-length"))
		count(value, &f->nlength, &f->length);
	else if (eq(name, "transfer-encoding"))
		count(value, &f->nencoding, &f->encoding);
	return HEAD_INCOMPLETE;
}

/* uri-host [ ":" port ]: the characters of a reg-name, an IPv4 address
 * or an IP literal, and a port of digits. */
static bool
valid_host(struct line v)
{
	for (size_t i = 0; i < v.len; i++)
		if (v.p[i] == '\0' || (!is_digit(v.p[i]) && !is_alpha(v.p[i]) &&
		    strchr("-._~%!$&'()*+,;=[]:", v.p[i]) == NULL))
			return false;
	return true;
}

static bool
all_digits(struct line v)
{
	for (size_t i = 0; i < v.len; i++)
		if (!is_digit(v.p[i]))
			return false;
	return v.len > 0;
}

/* What the fields must agree on: one reading of where the message ends,
 * one Host. */
static enum head_verdict
framing(const struct fields *f, struct head *h)
{
	if (f->nhost > 1 || (f->nhost == 0 && f->minor == 1))
		return refuse(h, 400, "an HTTP/1.1 request needs exactly one "
		    "Host header, and HTTP/1.0 at most one; this one has %u",
		    f->nhost);
	if (f->nhost == 1 && !valid_host(f->host))
		return refuse(h, 400, "the Host header is not a host[:port]");
	if (f->nlength > 1)
		return refuse(h, 400, "Content-Length appears %u times",
		    f->nlength);
	if (f->nlength == 1 && (!all_digits(f->length) ||
	    f->length.len > 18))
		return refuse(h, 400, "Content-Length must be a decimal number "
		    "of at most 18 digits");
	if (f->nencoding == 0)
		return HEAD_OK;
	if (f->nencoding > 1 || !eq(f->encoding, "chunked"))
		return refuse(h, 400, "Transfer-Encoding must appear once, "
		    "as \"chunked\" alone");
	if (f->nlength > 0)
		return refuse(h, 400, "Transfer-Encoding and Content-Length "
		    "together: the body's end could be read two ways");
	if (f->minor == 0)
		return refuse(h, 400, "Transfer-Encoding in an HTTP/1.0 "
		    "request");
	return HEAD_OK;
}

/* The next line from buf[*pos]: 1 with it, 0 if it has not ended yet,
 * -1 (refused) for a NUL or for a CR or LF that is not part of CRLF. */
static int
next_line(const char *buf, size_t len, size_t *pos, struct line *l,
    struct head *h)
{
	for (size_t i = *pos; i < len; i++) {
		if (buf[i] == '\0') {
			refuse(h, 400, "a NUL byte in the request head");
			return -1;
		}
		if (buf[i] == '\n') {
			refuse(h, 400, "a bare LF: every line of the head must "
			    "end in CRLF");
			return -1;
		}
		if (buf[i] != '\r')
			continue;
		if (i + 1 == len)
			return 0;
		if (buf[i + 1] != '\n') {
			refuse(h, 400, "a bare CR (not followed by LF) in the "
			    "request head");
			return -1;
		}
		l->p = buf + *pos;
		l->len = i - *pos;
		*pos = i + 2;
		return 1;
	}
	return 0;
}

enum head_verdict
head_check(const char *buf, size_t len, size_t max, struct head *h)
{
	struct fields f = { 0 };
	struct line l;
	size_t pos = 0;
	bool started = false, first_field = true;
	enum head_verdict v;
	int got;

	memset(h, 0, sizeof(*h));
	if (len > max)
		len = max;
	while ((got = next_line(buf, len, &pos, &l, h)) == 1) {
		if (!started) {
			/* RFC 9112 2.2: empty lines before the request
			 * line are ignored. */
			if (l.len == 0)
				continue;
			started = true;
			if ((v = request_line(l, buf, &f, h)) != HEAD_INCOMPLETE)
				return v;
			continue;
		}
		if (l.len == 0) {
			if ((v = framing(&f, h)) == HEAD_OK)
				h->len = pos;
			return v;
		}
		if (*l.p == ' ' || *l.p == '\t')
			return refuse(h, 400, first_field ? "whitespace "
			    "before the first header line" : "a folded header "
			    "line (obs-fold: a line starting with whitespace "
			    "continues the one before)");
		first_field = false;
		if ((v = field_line(l, &f, h)) != HEAD_INCOMPLETE)
			return v;
	}
	if (got == -1)
		return HEAD_REFUSED;
	if (len == max)
		return refuse(h, 431, "the request head is longer than %zu "
		    "bytes", max);
	return HEAD_INCOMPLETE;
}
