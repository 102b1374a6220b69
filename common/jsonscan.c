#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"

/* Longest stretch of a key quoted in an error message. */
#define KEY_QUOTE_MAX	64

enum container {
	C_ARRAY,
	C_OBJECT,
};

/* What the grammar allows next. */
enum expect {
	EXPECT_VALUE,		/* top level, after ':', after ',' in an array */
	EXPECT_VALUE_OR_CLOSE,	/* just after '[' */
	EXPECT_KEY,		/* after ',' in an object */
	EXPECT_KEY_OR_CLOSE,	/* just after '{' */
	EXPECT_COLON,
	EXPECT_COMMA_OR_CLOSE,
	EXPECT_END,		/* the top-level value is complete */
};

struct frame {
	enum container	 kind;
	size_t		 first_key;	/* this object's first entry in keys */
	size_t		 arena_start;	/* and its first byte in arena */
};

/* An object key, unescaped into the arena, for duplicate detection. */
struct key {
	size_t		 off;
	size_t		 len;
	size_t		 pos;		/* offset of its opening quote in buf */
};

struct scan {
	const unsigned char		*buf;
	size_t				 len;
	size_t				 pos;
	const struct jsonscan_opts	*opts;
	char				*err;
	size_t				 errlen;

	struct frame	*stack;
	size_t		 depth;
	size_t		 stack_cap;
	struct key	*keys;
	size_t		 nkeys;
	size_t		 keys_cap;
	unsigned char	*arena;
	size_t		 arena_len;
	size_t		 arena_cap;
};

static int	scan_fail(struct scan *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static int
scan_fail(struct scan *s, size_t pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->err == NULL || s->errlen == 0)
		return -1;
	n = snprintf(s->err, s->errlen, "byte %zu: ", pos);
	if (n >= 0 && (size_t)n < s->errlen) {
		va_start(ap, fmt);
		vsnprintf(s->err + n, s->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Make room for need elements of elsize bytes in *p (capacity *cap). */
static int
grow(void *pp, size_t *cap, size_t need, size_t elsize)
{
	void **p = pp;
	size_t ncap = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elsize)
			return -1;
		ncap *= 2;
	}
	np = reallocarray(*p, ncap, elsize);
	if (np == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

static int
arena_append(struct scan *s, const unsigned char *bytes, size_t n)
{
	if (n == 0)
		return 0;
	if (n > SIZE_MAX - s->arena_len ||
	    grow(&s->arena, &s->arena_cap, s->arena_len + n, 1) == -1)
		return scan_fail(s, s->pos, "out of memory");
	memcpy(s->arena + s->arena_len, bytes, n);
	s->arena_len += n;
	return 0;
}

/* Describe the byte at pos for "unexpected ..." messages. */
static const char *
describe_byte(unsigned char c, char *out, size_t outsz)
{
	if (c == '\0')
		snprintf(out, outsz, "NUL byte");
	else if (c > 0x20 && c < 0x7f)
		snprintf(out, outsz, "'%c'", c);
	else
		snprintf(out, outsz, "byte 0x%02x", c);
	return out;
}

static const char *
expected_what(const struct scan *s, enum expect want)
{
	switch (want) {
	case EXPECT_VALUE:
		return "a value";
	case EXPECT_VALUE_OR_CLOSE:
		return "a value or ']'";
	case EXPECT_KEY:
		return "a string key";
	case EXPECT_KEY_OR_CLOSE:
		return "a string key or '}'";
	case EXPECT_COLON:
		return "':'";
	case EXPECT_COMMA_OR_CLOSE:
		return s->stack[s->depth - 1].kind == C_OBJECT ?
		    "',' or '}'" : "',' or ']'";
	case EXPECT_END:
		break;
	}
	return "the end of input";
}

static int
scan_unexpected(struct scan *s, enum expect want)
{
	char what[16];

	if (s->pos == s->len)
		return scan_fail(s, s->pos, "unexpected end of input, "
		    "expected %s", expected_what(s, want));
	describe_byte(s->buf[s->pos], what, sizeof(what));
	if (want == EXPECT_END)
		return scan_fail(s, s->pos, "unexpected %s after the JSON value",
		    what);
	return scan_fail(s, s->pos, "unexpected %s, expected %s", what,
	    expected_what(s, want));
}

static void
skip_whitespace(struct scan *s)
{
	while (s->pos < s->len) {
		unsigned char c = s->buf[s->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		s->pos++;
	}
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Check the multi-byte UTF-8 sequence at s->pos (RFC 3629 table 2: no
 * overlongs, no surrogates, nothing above U+10FFFF); return its length.
 */
static int
utf8_sequence(struct scan *s)
{
	const unsigned char *p = s->buf + s->pos;
	size_t avail = s->len - s->pos;
	int n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] < 0xc0)
		return scan_fail(s, s->pos, "invalid UTF-8: unexpected "
		    "continuation byte 0x%02x", p[0]);
	if (p[0] < 0xc2)
		return scan_fail(s, s->pos, "invalid UTF-8: overlong encoding");
	if (p[0] >= 0xf5)
		return scan_fail(s, s->pos, "invalid UTF-8: lead byte 0x%02x",
		    p[0]);
	n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	if (p[0] == 0xe0 || p[0] == 0xf0)
		lo = p[0] == 0xe0 ? 0xa0 : 0x90;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (avail < (size_t)n)
		return scan_fail(s, s->pos, "invalid UTF-8: truncated sequence");
	for (int i = 1; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return scan_fail(s, s->pos, "invalid UTF-8: missing "
			    "continuation byte");
	if (p[1] < lo)
		return scan_fail(s, s->pos, "invalid UTF-8: overlong encoding");
	if (p[1] > hi)
		return scan_fail(s, s->pos, p[0] == 0xed ?
		    "invalid UTF-8: encoded surrogate" :
		    "invalid UTF-8: code point above U+10FFFF");
	return n;
}

/* Four hex digits at p (avail bytes readable); -1 if they are not. */
static int
hex4(const unsigned char *p, size_t avail, uint32_t *out)
{
	uint32_t v = 0;

	if (avail < 4)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		unsigned char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t
utf8_encode(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* \uXXXX at s->pos (the backslash), joined with its low surrogate. */
static int
scan_unicode_escape(struct scan *s, bool is_key, bool decode)
{
	size_t at = s->pos;
	uint32_t cp, low;
	unsigned char utf8[4];

	if (hex4(s->buf + at + 2, s->len - at - 2, &cp) == -1)
		return scan_fail(s, at, "invalid escape: \\u needs four hex "
		    "digits");
	s->pos += 6;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return scan_fail(s, at, "lone low surrogate \\u%04X", cp);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (s->len - s->pos < 6 || s->buf[s->pos] != '\\' ||
		    s->buf[s->pos + 1] != 'u' ||
		    hex4(s->buf + s->pos + 2, 4, &low) == -1 ||
		    low < 0xdc00 || low > 0xdfff)
			return scan_fail(s, at, "lone high surrogate \\u%04X",
			    cp);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
		s->pos += 6;
	}
	if (cp == 0 && is_key && s->opts->reject_nul_in_keys)
		return scan_fail(s, at, "key contains \\u0000");
	if (decode)
		return arena_append(s, utf8, utf8_encode(cp, utf8));
	return 0;
}

/* The escape at s->pos (the backslash); s->pos + 1 < s->len. */
static int
scan_escape(struct scan *s, bool is_key, bool decode)
{
	size_t at = s->pos;
	unsigned char c = s->buf[at + 1], out;
	char what[16];

	switch (c) {
	case '"':
	case '\\':
	case '/':
		out = c;
		break;
	case 'b':
		out = '\b';
		break;
	case 'f':
		out = '\f';
		break;
	case 'n':
		out = '\n';
		break;
	case 'r':
		out = '\r';
		break;
	case 't':
		out = '\t';
		break;
	case 'u':
		return scan_unicode_escape(s, is_key, decode);
	default:
		return scan_fail(s, at, "invalid escape: backslash before %s",
		    describe_byte(c, what, sizeof(what)));
	}
	s->pos += 2;
	return decode ? arena_append(s, &out, 1) : 0;
}

/*
 * The string at s->pos (its opening quote).  A key is unescaped into the
 * arena when duplicates are to be found; values never are.
 */
static int
scan_string(struct scan *s, bool is_key)
{
	bool decode = is_key && (s->opts->reject_duplicate_keys ||
	    (s->opts->refuse_top_keys != NULL && s->depth == 1));
	size_t start = s->pos, run;
	int seqlen;

	run = ++s->pos;
	for (;;) {
		unsigned char c;

		if (s->pos >= s->len)
			return scan_fail(s, start, "unterminated string");
		c = s->buf[s->pos];
		if (c == '"' || c == '\\') {
			if (decode && arena_append(s, s->buf + run,
			    s->pos - run) == -1)
				return -1;
			if (c == '"')
				break;
			if (s->pos + 1 >= s->len)
				return scan_fail(s, start, "unterminated string");
			if (scan_escape(s, is_key, decode) == -1)
				return -1;
			run = s->pos;
		} else if (c == '\0') {
			return scan_fail(s, s->pos, "NUL byte in string");
		} else if (c < 0x20) {
			return scan_fail(s, s->pos, "raw control character "
			    "0x%02x in string", c);
		} else if (c < 0x80) {
			s->pos++;
		} else {
			if ((seqlen = utf8_sequence(s)) == -1)
				return -1;
			s->pos += (size_t)seqlen;
		}
	}
	s->pos++;
	return 0;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int
scan_number(struct scan *s)
{
	const unsigned char *b = s->buf;
	size_t i = s->pos;

	if (b[i] == '-') {
		i++;
		if (i >= s->len || !is_digit(b[i]))
			return scan_fail(s, i, "expected a digit after '-'");
	}
	if (b[i] == '0') {
		i++;
		if (i < s->len && is_digit(b[i]))
			return scan_fail(s, i - 1, "leading zeros are not "
			    "allowed in numbers");
	} else {
		while (i < s->len && is_digit(b[i]))
			i++;
	}
	if (i < s->len && b[i] == '.') {
		i++;
		if (i >= s->len || !is_digit(b[i]))
			return scan_fail(s, i, "expected a digit after '.'");
		while (i < s->len && is_digit(b[i]))
			i++;
	}
	if (i < s->len && (b[i] == 'e' || b[i] == 'E')) {
		i++;
		if (i < s->len && (b[i] == '+' || b[i] == '-'))
			i++;
		if (i >= s->len || !is_digit(b[i]))
			return scan_fail(s, i, "expected a digit in the "
			    "exponent");
		while (i < s->len && is_digit(b[i]))
			i++;
	}
	s->pos = i;
	return 0;
}

static int
scan_literal(struct scan *s)
{
	static const char *const literals[] = { "true", "false", "null" };

	for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		const char *lit = literals[i];
		size_t n = strlen(lit);

		if (s->buf[s->pos] != (unsigned char)lit[0])
			continue;
		if (s->len - s->pos < n || memcmp(s->buf + s->pos, lit, n) != 0)
			return scan_fail(s, s->pos, "invalid literal, expected "
			    "%s", lit);
		s->pos += n;
		return 0;
	}
	return scan_unexpected(s, EXPECT_VALUE);
}

static int
push(struct scan *s, enum container kind)
{
	struct frame *f;

	if (s->depth >= s->opts->max_depth)
		return scan_fail(s, s->pos, "nesting deeper than %u",
		    s->opts->max_depth);
	if (grow(&s->stack, &s->stack_cap, s->depth + 1,
	    sizeof(*s->stack)) == -1)
		return scan_fail(s, s->pos, "out of memory");
	f = &s->stack[s->depth++];
	f->kind = kind;
	f->first_key = s->nkeys;
	f->arena_start = s->arena_len;
	return 0;
}

static int
key_cmp(const void *a, const void *b, void *arena)
{
	const struct key *ka = a, *kb = b;
	const unsigned char *base = arena;
	size_t n = ka->len < kb->len ? ka->len : kb->len;
	int c = memcmp(base + ka->off, base + kb->off, n);

	if (c != 0)
		return c;
	if (ka->len != kb->len)
		return ka->len < kb->len ? -1 : 1;
	return ka->pos < kb->pos ? -1 : ka->pos > kb->pos;
}

/* Quote a key for a message: printable ASCII as is, the rest as \xNN. */
static void
quote_key(const unsigned char *k, size_t len, char *out, size_t outsz)
{
	size_t o = 0, shown = len < KEY_QUOTE_MAX ? len : KEY_QUOTE_MAX;

	for (size_t i = 0; i < shown && o + 5 < outsz; i++) {
		if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' &&
		    k[i] != '\\')
			out[o++] = (char)k[i];
		else
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x",
			    k[i]);
	}
	if (shown < len && o + 4 < outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/*
 * At the end of an object, sort its keys and look for two equal ones;
 * report the earliest second occurrence.  Then drop its keys.
 */
static int
check_duplicates(struct scan *s, const struct frame *f)
{
	size_t n = s->nkeys - f->first_key;
	struct key *k, *dup = NULL;
	char quoted[KEY_QUOTE_MAX * 4 + 8];

	if (n < 2)
		goto done;
	k = s->keys + f->first_key;
	qsort_r(k, n, sizeof(*k), key_cmp, s->arena);
	for (size_t i = 1; i < n; i++) {
		if (k[i].len != k[i - 1].len || memcmp(s->arena + k[i].off,
		    s->arena + k[i - 1].off, k[i].len) != 0)
			continue;
		if (dup == NULL || k[i].pos < dup->pos)
			dup = &k[i];
	}
	if (dup != NULL) {
		quote_key(s->arena + dup->off, dup->len, quoted,
		    sizeof(quoted));
		return scan_fail(s, dup->pos, "duplicate key \"%s\"", quoted);
	}
done:
	s->nkeys = f->first_key;
	s->arena_len = f->arena_start;
	return 0;
}

/* The ']' or '}' at s->pos closes the innermost container. */
static int
pop(struct scan *s, enum expect *want)
{
	const struct frame *f = &s->stack[s->depth - 1];

	if (f->kind == C_OBJECT && s->opts->reject_duplicate_keys &&
	    check_duplicates(s, f) == -1)
		return -1;
	s->depth--;
	s->pos++;
	*want = s->depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
	return 0;
}

static int
scan_value(struct scan *s, enum expect *want)
{
	unsigned char c = s->buf[s->pos];
	int rc;

	if (s->depth == 0 && s->opts->require_object && c != '{')
		return scan_fail(s, s->pos, "top-level value must be an "
		    "object");
	switch (c) {
	case '{':
	case '[':
		if (push(s, c == '{' ? C_OBJECT : C_ARRAY) == -1)
			return -1;
		s->pos++;
		*want = c == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
		return 0;
	case '"':
		rc = scan_string(s, false);
		break;
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		rc = scan_number(s);
		break;
	case 't':
	case 'f':
	case 'n':
		rc = scan_literal(s);
		break;
	default:
		return scan_unexpected(s, EXPECT_VALUE);
	}
	if (rc == 0)
		*want = s->depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
	return rc;
}

/* The top-level key just unescaped to arena[before..]: one refused? */
static int
check_refused(struct scan *s, size_t before, size_t start)
{
	const unsigned char *k = s->arena + before;
	size_t len = s->arena_len - before;
	char quoted[KEY_QUOTE_MAX * 4 + 8];

	for (const char *const *r = s->opts->refuse_top_keys; *r != NULL;
	    r++) {
		if (strlen(*r) != len || memcmp(*r, k, len) != 0)
			continue;
		quote_key(k, len, quoted, sizeof(quoted));
		return scan_fail(s, start, "key \"%s\" is not allowed here",
		    quoted);
	}
	return 0;
}

static int
scan_key(struct scan *s)
{
	size_t before = s->arena_len, start = s->pos;

	if (scan_string(s, true) == -1)
		return -1;
	if (s->opts->refuse_top_keys != NULL && s->depth == 1 &&
	    check_refused(s, before, start) == -1)
		return -1;
	if (!s->opts->reject_duplicate_keys) {
		s->arena_len = before;
		return 0;
	}
	if (grow(&s->keys, &s->keys_cap, s->nkeys + 1, sizeof(*s->keys)) == -1)
		return scan_fail(s, start, "out of memory");
	s->keys[s->nkeys].off = before;
	s->keys[s->nkeys].len = s->arena_len - before;
	s->keys[s->nkeys].pos = start;
	s->nkeys++;
	return 0;
}

/* One step of the grammar at the non-whitespace byte s->pos. */
static int
scan_step(struct scan *s, enum expect *want)
{
	unsigned char c = s->buf[s->pos];
	const struct frame *top;

	switch (*want) {
	case EXPECT_VALUE_OR_CLOSE:
		if (c == ']')
			return pop(s, want);
		return scan_value(s, want);
	case EXPECT_VALUE:
		return scan_value(s, want);
	case EXPECT_KEY_OR_CLOSE:
		if (c == '}')
			return pop(s, want);
		/* FALLTHROUGH */
	case EXPECT_KEY:
		if (c != '"')
			return scan_unexpected(s, *want);
		*want = EXPECT_COLON;
		return scan_key(s);
	case EXPECT_COLON:
		if (c != ':')
			return scan_unexpected(s, *want);
		s->pos++;
		*want = EXPECT_VALUE;
		return 0;
	case EXPECT_COMMA_OR_CLOSE:
		top = &s->stack[s->depth - 1];
		if (c == ',') {
			s->pos++;
			*want = top->kind == C_OBJECT ? EXPECT_KEY :
			    EXPECT_VALUE;
			return 0;
		}
		if (c == (top->kind == C_OBJECT ? '}' : ']'))
			return pop(s, want);
		return scan_unexpected(s, *want);
	case EXPECT_END:
		break;
	}
	return scan_unexpected(s, EXPECT_END);
}

static int
scan_document(struct scan *s)
{
	static const unsigned char bom[] = { 0xef, 0xbb, 0xbf };
	enum expect want = EXPECT_VALUE;

	if (s->len >= sizeof(bom) && memcmp(s->buf, bom, sizeof(bom)) == 0)
		return scan_fail(s, 0, "byte order mark not allowed");
	for (;;) {
		skip_whitespace(s);
		if (s->pos == s->len)
			return want == EXPECT_END ? 0 :
			    scan_unexpected(s, want);
		if (scan_step(s, &want) == -1)
			return -1;
	}
}

int
jsonscan_validate(const char *buf, size_t len,
    const struct jsonscan_opts *opts, char *err, size_t errlen)
{
	struct scan s = {
		.buf = (const unsigned char *)buf,
		.len = len,
		.opts = opts,
		.err = err,
		.errlen = errlen,
	};
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/* Empty keys append nothing: the arena must exist all the same,
	 * since keys point into it. */
	if ((opts->reject_duplicate_keys || opts->refuse_top_keys != NULL) &&
	    grow(&s.arena, &s.arena_cap, 64, 1) == -1)
		return scan_fail(&s, 0, "out of memory");
	rc = scan_document(&s);
	free(s.stack);
	free(s.keys);
	free(s.arena);
	return rc;
}
