/*
 * The head of a task's request, checked on its raw bytes before anything
 * is taken from it: a lenient parser (libmicrohttpd, which served the
 * task before, joined folded lines into the header name, cut values at
 * NUL, passed a bare CR on, took "Name : value", read Transfer-Encoding
 * and Content-Length together) accepts what another reads differently.
 * So only a head that is well-formed HTTP/1.1 (RFC 9112) goes further,
 * and server.c's own reading of it may then be simple:
 *
 *	*(CRLF) method SP request-target SP HTTP/d.d CRLF
 *	*( field-name ":" OWS field-value OWS CRLF )
 *	CRLF
 *
 * every line ending in CRLF (no bare CR, no bare LF), the method and each
 * field name a token, the target VCHARs, each field value VCHAR, SP, HTAB
 * or obs-text (no other control character), no line folded (a line
 * starting with whitespace), and framing that no two parsers can read
 * two ways: one Host in HTTP/1.1 (at most one in 1.0), at most one
 * Content-Length of digits alone, at most one Transfer-Encoding, which
 * must be "chunked", never with Content-Length and never in HTTP/1.0;
 * and no name with '_' that reads as one of the names the proxy decides
 * itself (hop_by_hop()) where '_' and '-' are the same (CGI's HTTP_*
 * variables, gunicorn before 22).
 */
#ifndef SEPWORKER_HEAD_H
#define SEPWORKER_HEAD_H

#include <stdbool.h>
#include <stddef.h>

enum head_verdict {
	HEAD_INCOMPLETE,	/* nothing wrong yet; more bytes needed */
	HEAD_OK,
	HEAD_REFUSED,
};

struct head {
	size_t		 len;		/* HEAD_OK: bytes up to the empty line's end */
	size_t		 target_off;	/* HEAD_OK: the request-target in buf */
	size_t		 target_len;
	unsigned	 status;	/* HEAD_REFUSED: 400, 431 or 505 */
	char		 why[200];	/* HEAD_REFUSED: what was wrong */
};

/*
 * Check the first len bytes a connection sent.  A head that has not ended
 * within max bytes is refused (431); a fault is reported as soon as the
 * line that holds it is complete, or at once for a NUL, a bare CR or a
 * bare LF.
 */
enum head_verdict	head_check(const char *buf, size_t len, size_t max,
			    struct head *h);

/* True for headers that describe one hop, not the message (RFC 9110
 * 7.6.1), and the ones the proxy sets itself: never passed on. */
bool			hop_by_hop(const char *name, size_t len);

#endif
