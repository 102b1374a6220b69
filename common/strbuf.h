/*
 * A growable string, and JSON strings written the way Go's encoding/json
 * writes them (generic-worker and taskcluster-proxy are Go: documents
 * and headers they would produce, we produce byte for byte).
 */
#ifndef SEPWORKER_STRBUF_H
#define SEPWORKER_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char	*p;	/* NUL-terminated once anything was put */
	size_t	 len;
	size_t	 cap;
};

void	 strbuf_put(struct strbuf *b, const void *s, size_t n);
void	 strbuf_puts(struct strbuf *b, const char *s);
/*
 * s as a quoted JSON string: ", \ and controls escaped (\n \r \t \b \f
 * short, others \u00XX), <, > and & as \u003c \u003e \u0026, U+2028 and
 * U+2029 escaped, each ill-formed UTF-8 byte as \ufffd.  ascii_only also
 * writes every other non-ASCII character and DEL as \u escapes (UTF-16
 * pairs beyond U+FFFF), so the result can be an HTTP header value.
 */
void	 strbuf_json_string(struct strbuf *b, const char *s, bool ascii_only);
/* The string built (malloc'd, "" if nothing was put); b is emptied. */
char	*strbuf_take(struct strbuf *b, size_t *len);

#endif
