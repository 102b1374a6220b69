#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/utf8.h"
#include "common/util.h"

void
strbuf_put(struct strbuf *b, const void *s, size_t n)
{
	if (n > SIZE_MAX / 2 - b->len)
		fatalx("string too large");
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (b->len + n + 1 > cap)
			cap *= 2;
		if ((b->p = realloc(b->p, cap)) == NULL)
			fatalx("out of memory");
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
strbuf_puts(struct strbuf *b, const char *s)
{
	strbuf_put(b, s, strlen(s));
}

/* \u and four hex digits: cp is at most 0xffff. */
static void
put_u(struct strbuf *b, unsigned cp)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = { '\\', 'u', hex[(cp >> 12) & 0xf],
	    hex[(cp >> 8) & 0xf], hex[(cp >> 4) & 0xf], hex[cp & 0xf] };

	strbuf_put(b, esc, sizeof(esc));
}

static char
short_escape(unsigned c)
{
	switch (c) {
	case '"':	return '"';
	case '\\':	return '\\';
	case '\n':	return 'n';
	case '\r':	return 'r';
	case '\t':	return 't';
	case '\b':	return 'b';
	case '\f':	return 'f';
	default:	return 0;
	}
}

void
strbuf_json_string(struct strbuf *b, const char *s, bool ascii_only)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	strbuf_put(b, "\"", 1);
	while (left > 0) {
		unsigned cp = *p;
		size_t step = 1;
		char esc;

		if (cp >= 0x80 && (step = utf8_sequence(p, left, &cp)) == 0) {
			/* As Go: each ill-formed byte is U+FFFD. */
			strbuf_puts(b, "\\ufffd");
			p++;
			left--;
			continue;
		}
		if ((esc = short_escape(cp)) != 0) {
			char two[2] = { '\\', esc };

			strbuf_put(b, two, 2);
		} else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&' ||
		    cp == 0x2028 || cp == 0x2029 ||
		    (ascii_only && cp >= 0x7f)) {
			if (cp > 0xffff) {	/* a UTF-16 surrogate pair */
				put_u(b, 0xd800 + ((cp - 0x10000) >> 10));
				put_u(b, 0xdc00 + ((cp - 0x10000) & 0x3ff));
			} else
				put_u(b, cp);
		} else
			strbuf_put(b, p, step);
		p += step;
		left -= step;
	}
	strbuf_put(b, "\"", 1);
}

char *
strbuf_take(struct strbuf *b, size_t *len)
{
	char *s = b->p != NULL ? b->p : xstrdup("");

	if (len != NULL)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return s;
}
