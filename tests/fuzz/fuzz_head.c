/*
 * The task proxy's request edge: the raw bytes a task sends, through
 * head_check() (proxyd/head.c) as server.c runs it, then the target it
 * finds through route_target() (proxyd/route.c), as server.c does.
 *
 * What must hold, checked here independently of head.c's own code:
 *  - a head it passes is well-formed: it ends at the first empty line
 *    after the request line, each of its lines ends in CRLF and holds no
 *    other CR, LF or NUL, the request line is token SP target SP
 *    HTTP/1.[01], each field line a token name, a colon and a value
 *    without controls but HTAB, none starting with whitespace; HTTP/1.1
 *    has one Host; at most one Content-Length or one Transfer-Encoding;
 *  - a refusal is 400, 431 or 505 with a reason of printable ASCII (it
 *    becomes a response body and a log line);
 *  - as server.c feeds it (a growing prefix of the same bytes), a prefix
 *    of a passed head is incomplete, and a refused prefix stays refused
 *    for the same reason however many bytes follow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxyd/head.h"
#include "proxyd/route.h"

#define MAX	(32u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static int
name_is(const char *p, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(p, name, n) == 0;
}

/* The request line at p (len bytes, no CRLF): the target's place. */
static void
check_request_line(const char *p, size_t len, const struct head *h,
    const char *buf, int *minor)
{
	const char *sp1 = memchr(p, ' ', len), *sp2;

	if (sp1 == NULL || sp1 == p)
		abort();
	for (const char *q = p; q < sp1; q++)
		if (!tchar((unsigned char)*q))
			abort();
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - p));
	if (sp2 == NULL || sp2 == sp1 + 1 || p + len - (sp2 + 1) != 8)
		abort();
	if (memcmp(sp2 + 1, "HTTP/1.1", 8) == 0)
		*minor = 1;
	else if (memcmp(sp2 + 1, "HTTP/1.0", 8) == 0)
		*minor = 0;
	else
		abort();
	if (buf + h->target_off != sp1 + 1 ||
	    h->target_len != (size_t)(sp2 - sp1 - 1))
		abort();
	for (const char *q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e)
			abort();
}

static void
check_passed(const char *buf, const struct head *h)
{
	size_t pos = 0, nhost = 0, nlen = 0, nte = 0;
	int minor = -1;

	if (h->len < 4 || memcmp(buf + h->len - 4, "\r\n\r\n", 4) != 0)
		abort();
	while (pos + 2 <= h->len && memcmp(buf + pos, "\r\n", 2) == 0)
		pos += 2;
	for (;;) {
		const char *p = buf + pos, *colon;
		size_t len = 0;

		while (pos + len < h->len && p[len] != '\r' && p[len] != '\n' &&
		    p[len] != '\0')
			len++;
		if (pos + len + 2 > h->len || memcmp(p + len, "\r\n", 2) != 0)
			abort();
		pos += len + 2;
		if (minor == -1) {
			check_request_line(p, len, h, buf, &minor);
			continue;
		}
		if (len == 0)
			break;
		if ((colon = memchr(p, ':', len)) == NULL || colon == p)
			abort();
		for (const char *q = p; q < colon; q++)
			if (!tchar((unsigned char)*q))
				abort();
		for (const char *q = colon + 1; q < p + len; q++)
			if (((unsigned char)*q < 0x20 && *q != '\t') ||
			    *q == 0x7f)
				abort();
		nhost += name_is(p, (size_t)(colon - p), "host");
		nlen += name_is(p, (size_t)(colon - p), "content-length");
		nte += name_is(p, (size_t)(colon - p), "transfer-encoding");
	}
	if (pos != h->len || nhost > 1 || (minor == 1 && nhost == 0) ||
	    nlen > 1 || nte > 1 || (nlen && nte) || (nte && minor == 0))
		abort();
}

static void
check_refused(const struct head *h)
{
	if (h->status != 400 && h->status != 431 && h->status != 505)
		abort();
	if (h->why[0] == '\0')
		abort();
	for (const char *p = h->why; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			abort();
}

static void
route(const char *buf, const struct head *h)
{
	char *target = malloc(h->target_len + 1);
	struct route r;

	memcpy(target, buf + h->target_off, h->target_len);
	target[h->target_len] = '\0';
	if (route_target("http://127.0.0.1:4567", target, &r) == 0)
		route_free(&r);
	free(target);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: any read past them is caught. */
	char *buf = malloc(size ? size : 1);
	struct head h, ph;
	enum head_verdict v, pv;
	size_t cut;

	memcpy(buf, data, size);
	v = head_check(buf, size, MAX, &h);
	switch (v) {
	case HEAD_OK:
		check_passed(buf, &h);
		route(buf, &h);
		break;
	case HEAD_REFUSED:
		check_refused(&h);
		break;
	case HEAD_INCOMPLETE:
		if (size >= MAX)
			abort();
		break;
	}
	/* A prefix, as server.c sees the head while it arrives. */
	cut = size > 0 ? (size_t)data[0] * size / 256 : 0;
	if (v == HEAD_OK && cut >= h.len)
		cut = h.len - 1;
	pv = head_check(buf, cut, MAX, &ph);
	if ((v == HEAD_OK && pv != HEAD_INCOMPLETE) ||
	    (pv == HEAD_REFUSED && (v != HEAD_REFUSED ||
	    strcmp(ph.why, h.why) != 0)) ||
	    (v == HEAD_INCOMPLETE && pv != HEAD_INCOMPLETE))
		abort();
	free(buf);
	return 0;
}
