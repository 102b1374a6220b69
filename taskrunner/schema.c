#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "taskrunner/payload.h"
#include "taskrunner/schema.h"

enum schema_type {
	SCH_ANY,
	SCH_NULL,
	SCH_BOOLEAN,
	SCH_OBJECT,
	SCH_ARRAY,
	SCH_NUMBER,
	SCH_STRING,
	SCH_INTEGER,
};

static const struct {
	const char	*name;
	const char	*must_be;	/* what a mismatch says */
} type_names[] = {
	[SCH_NULL] =	{ "null", "null" },
	[SCH_BOOLEAN] =	{ "boolean", "true or false" },
	[SCH_OBJECT] =	{ "object", "an object" },
	[SCH_ARRAY] =	{ "array", "an array" },
	[SCH_NUMBER] =	{ "number", "a number" },
	[SCH_STRING] =	{ "string", "a string" },
	[SCH_INTEGER] =	{ "integer", "an integer" },
};

struct schema_prop {
	char		*name;
	struct schema	*schema;
};

struct schema {
	enum schema_type	 type;
	struct schema_prop	*props;
	size_t			 nprops;
	bool			 closed;	/* additionalProperties false */
	struct schema		*additional;	/* or a schema */
	char			**required;
	size_t			 nrequired;
	struct schema		*items;
	int64_t			 min_items;	/* -1: absent, as below */
	int64_t			 max_items;
	int64_t			 max_length;
	bool			 has_minimum;
	bool			 has_maximum;
	int64_t			 minimum;
	int64_t			 maximum;
	struct json_object	*enum_values;
	char			*enum_text;	/* for messages */
	bool			 date_time;
};

/* A growable string, always NUL-terminated. */
struct sbuf {
	char	*s;
	size_t	 len;
	size_t	 cap;
};

static void
sbuf_init(struct sbuf *b)
{
	b->cap = 64;
	b->s = xmalloc(b->cap);
	b->s[0] = '\0';
	b->len = 0;
}

static void
sbuf_add(struct sbuf *b, const char *p, size_t n)
{
	if (n >= b->cap - b->len) {
		while (n >= b->cap - b->len)
			b->cap *= 2;
		b->s = realloc(b->s, b->cap);
		if (b->s == NULL)
			fatalx("out of memory growing a %zu-byte string",
			    b->cap);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

static void
sbuf_truncate(struct sbuf *b, size_t len)
{
	b->len = len;
	b->s[len] = '\0';
}

/*
 * s quoted for a log line.  The input is valid UTF-8 (jsonscan saw to
 * that), so only C0, DEL and C1 controls need escaping for nothing to
 * break the line or drive a terminal.
 */
static void
sbuf_quote(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i;
	bool cut = false;
	char esc[8];

	if (n > SCHEMA_QUOTE_MAX) {
		/* Back up to the start of a character. */
		n = SCHEMA_QUOTE_MAX;
		while (n > 0 && (p[n] & 0xc0) == 0x80)
			n--;
		cut = true;
	}
	sbuf_add(b, "\"", 1);
	for (i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			sbuf_add(b, esc, 2);
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
			sbuf_adds(b, esc);
		} else if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f) {
			snprintf(esc, sizeof(esc), "\\u%04x", p[++i]);
			sbuf_adds(b, esc);
		} else
			sbuf_add(b, (const char *)p + i, 1);
	}
	sbuf_adds(b, cut ? "...\"" : "\"");
}

static bool
is_identifier(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	    *s == '_'))
		return false;
	for (s++; *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static void
sbuf_key(struct sbuf *b, const char *key)
{
	if (is_identifier(key) && strlen(key) <= SCHEMA_QUOTE_MAX) {
		sbuf_add(b, ".", 1);
		sbuf_adds(b, key);
		return;
	}
	sbuf_add(b, "[", 1);
	sbuf_quote(b, key);
	sbuf_add(b, "]", 1);
}

char *
schema_quote(const char *s)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_quote(&b, s);
	return b.s;
}

char *
schema_path_key(const char *parent, const char *key)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_adds(&b, parent);
	sbuf_key(&b, key);
	return b.s;
}

void
schema_free(struct schema *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nprops; i++) {
		free(s->props[i].name);
		schema_free(s->props[i].schema);
	}
	free(s->props);
	schema_free(s->additional);
	for (i = 0; i < s->nrequired; i++)
		free(s->required[i]);
	free(s->required);
	schema_free(s->items);
	json_object_put(s->enum_values);
	free(s->enum_text);
	free(s);
}

/* Loading: one handler per keyword, anything else refused. */

struct load {
	struct sbuf	 where;		/* JSON pointer of the node */
	char		*err;
	size_t		 errlen;
};

static int	compile(struct json_object *, struct load *,
		    struct schema **);

static int __attribute__((format(printf, 2, 3)))
load_fail(struct load *ld, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ld->err, ld->errlen, "schema #%s: %s", ld->where.s, msg);
	return -1;
}

/* Compile v as the schema found at <where>/<seg>. */
static int
compile_at(struct json_object *v, struct load *ld, const char *seg,
    struct schema **out)
{
	size_t mark = ld->where.len;
	int rc;

	sbuf_add(&ld->where, "/", 1);
	sbuf_adds(&ld->where, seg);
	rc = compile(v, ld, out);
	if (rc == 0)
		sbuf_truncate(&ld->where, mark);
	return rc;
}

static int
load_string(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	(void)s;
	if (!json_object_is_type(v, json_type_string))
		return load_fail(ld, "\"%s\" must be a string", kw);
	return 0;
}

/* Checked against the node once it is compiled (see compile()). */
static int
load_default(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	(void)s, (void)kw, (void)v, (void)ld;
	return 0;
}

static int
load_type(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	const char *name;
	size_t i;

	if (!json_object_is_type(v, json_type_string))
		return load_fail(ld, "\"%s\" must be one type name, a string",
		    kw);
	name = json_object_get_string(v);
	for (i = 1; i < nitems(type_names); i++) {
		if (strcmp(name, type_names[i].name) == 0) {
			s->type = (enum schema_type)i;
			return 0;
		}
	}
	return load_fail(ld, "unknown type \"%s\"", name);
}

static int
load_properties(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	size_t mark = ld->where.len;

	if (!json_object_is_type(v, json_type_object))
		return load_fail(ld, "\"%s\" must be an object", kw);
	s->props = xcalloc((size_t)json_object_object_length(v),
	    sizeof(*s->props));
	sbuf_adds(&ld->where, "/properties");
	json_object_object_foreach(v, name, sub) {
		struct schema_prop *p = &s->props[s->nprops++];

		p->name = xstrdup(name);
		if (compile_at(sub, ld, name, &p->schema) == -1)
			return -1;
	}
	sbuf_truncate(&ld->where, mark);
	return 0;
}

static int
load_additional(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	if (json_object_is_type(v, json_type_boolean)) {
		s->closed = !json_object_get_boolean(v);
		return 0;
	}
	if (!json_object_is_type(v, json_type_object))
		return load_fail(ld, "\"%s\" must be false, true or a schema",
		    kw);
	return compile_at(v, ld, kw, &s->additional);
}

static int
load_required(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	size_t i, n;

	if (!json_object_is_type(v, json_type_array))
		return load_fail(ld, "\"%s\" must be an array of strings", kw);
	n = json_object_array_length(v);
	s->required = xcalloc(n, sizeof(*s->required));
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string))
			return load_fail(ld, "\"%s\" must be an array of "
			    "strings", kw);
		s->required[s->nrequired++] =
		    xstrdup(json_object_get_string(e));
	}
	return 0;
}

static int
load_items(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	/* One schema for every element: the payload schema has no tuple
	 * form (an array of schemas), and a schema that had one would be
	 * refused here, at load. */
	if (!json_object_is_type(v, json_type_object))
		return load_fail(ld, "\"%s\" must be one schema, an object",
		    kw);
	return compile_at(v, ld, kw, &s->items);
}

/* A non-negative integer json-c holds exactly. */
static int
load_count(struct json_object *v, const char *kw, struct load *ld,
    int64_t *out)
{
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 ||
	    json_object_get_int64(v) == INT64_MAX)
		return load_fail(ld, "\"%s\" must be a non-negative integer",
		    kw);
	*out = json_object_get_int64(v);
	return 0;
}

static int
load_min_items(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	return load_count(v, kw, ld, &s->min_items);
}

static int
load_max_items(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	return load_count(v, kw, ld, &s->max_items);
}

static int
load_max_length(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	return load_count(v, kw, ld, &s->max_length);
}

/* Bounds are integers: every number the payload has is one. */
static int
load_bound(struct json_object *v, const char *kw, struct load *ld,
    int64_t *out)
{
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) == INT64_MIN ||
	    json_object_get_int64(v) == INT64_MAX)
		return load_fail(ld, "\"%s\" must be an integer", kw);
	*out = json_object_get_int64(v);
	return 0;
}

static int
load_minimum(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	s->has_minimum = true;
	return load_bound(v, kw, ld, &s->minimum);
}

static int
load_maximum(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	s->has_maximum = true;
	return load_bound(v, kw, ld, &s->maximum);
}

static int
load_enum(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	struct sbuf text;
	size_t i, n;

	if (!json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) == 0)
		return load_fail(ld, "\"%s\" must be a non-empty array", kw);
	sbuf_init(&text);
	for (i = 0; i < n; i++) {
		if (i > 0)
			sbuf_adds(&text, ", ");
		sbuf_adds(&text, json_object_to_json_string_ext(
		    json_object_array_get_idx(v, i), JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	s->enum_values = json_object_get(v);
	s->enum_text = text.s;
	return 0;
}

static int
load_format(struct schema *s, const char *kw, struct json_object *v,
    struct load *ld)
{
	if (!json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "date-time") != 0)
		return load_fail(ld, "\"%s\" must be \"date-time\", the only "
		    "format implemented", kw);
	s->date_time = true;
	return 0;
}

static const struct keyword {
	const char	*name;
	int		(*load)(struct schema *, const char *,
			    struct json_object *, struct load *);
} keywords[] = {
	{ "$schema",			load_string },
	{ "$id",			load_string },
	{ "title",			load_string },
	{ "description",		load_string },
	{ "default",			load_default },
	{ "type",			load_type },
	{ "properties",			load_properties },
	{ "additionalProperties",	load_additional },
	{ "required",			load_required },
	{ "items",			load_items },
	{ "minItems",			load_min_items },
	{ "maxItems",			load_max_items },
	{ "maxLength",			load_max_length },
	{ "minimum",			load_minimum },
	{ "maximum",			load_maximum },
	{ "enum",			load_enum },
	{ "format",			load_format },
};

/* A default the validator would refuse is a mistake in the schema. */
static int
check_default(struct schema *s, struct json_object *node, struct load *ld)
{
	struct json_object *def;
	struct strlist errs = { 0 };
	int rc = 0;

	if (!json_object_object_get_ex(node, "default", &def))
		return 0;
	if (schema_validate(s, def, "default", &errs, 1) != 0)
		rc = load_fail(ld, "%s", errs.v[0]);
	strlist_free(&errs);
	return rc;
}

static int
compile(struct json_object *node, struct load *ld, struct schema **out)
{
	struct schema *s;
	size_t i;

	if (!json_object_is_type(node, json_type_object))
		return load_fail(ld, "a schema must be an object");
	s = *out = xcalloc(1, sizeof(*s));
	s->min_items = s->max_items = s->max_length = -1;
	json_object_object_foreach(node, key, val) {
		for (i = 0; i < nitems(keywords); i++)
			if (strcmp(key, keywords[i].name) == 0)
				break;
		if (i == nitems(keywords))
			return load_fail(ld, "unknown keyword \"%s\"", key);
		if (keywords[i].load(s, key, val, ld) == -1)
			return -1;
	}
	return check_default(s, node, ld);
}

struct schema *
schema_load(const char *text, size_t len, char *err, size_t errlen)
{
	struct json_object *doc;
	struct schema *s = NULL;
	struct load ld = { .err = err, .errlen = errlen };
	char perr[256];

	doc = json_parse_strict(text, len, SCHEMA_MAX_BYTES, SCHEMA_MAX_DEPTH,
	    perr, sizeof(perr));
	if (doc == NULL) {
		snprintf(err, errlen, "schema: %s", perr);
		return NULL;
	}
	sbuf_init(&ld.where);
	if (compile(doc, &ld, &s) == -1) {
		schema_free(s);
		s = NULL;
	}
	free(ld.where.s);
	json_object_put(doc);
	return s;
}

/* Validation. */

struct check {
	struct strlist	*errs;
	size_t		 max;
	size_t		 found;
	struct sbuf	 path;
};

static void __attribute__((format(printf, 2, 3)))
problem(struct check *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	c->found++;
	if (c->errs->n >= c->max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	strlist_add(c->errs, "%s: %s", c->path.s, msg);
}

static void	check_value(const struct schema *, struct json_object *,
		    struct check *);

static bool
type_matches(enum schema_type t, struct json_object *v)
{
	switch (t) {
	case SCH_ANY:
		return true;
	case SCH_NULL:
		return v == NULL;
	case SCH_BOOLEAN:
		return json_object_is_type(v, json_type_boolean);
	case SCH_OBJECT:
		return json_object_is_type(v, json_type_object);
	case SCH_ARRAY:
		return json_object_is_type(v, json_type_array);
	case SCH_NUMBER:
		return json_object_is_type(v, json_type_int) ||
		    json_object_is_type(v, json_type_double);
	case SCH_STRING:
		return json_object_is_type(v, json_type_string);
	case SCH_INTEGER:
		return json_object_is_type(v, json_type_int);
	}
	return false;
}

/* The sign of v - bound, for any number json-c holds. */
static int
compare_number(struct json_object *v, int64_t bound)
{
	double d;
	int64_t i;

	if (json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
		return (d > (double)bound) - (d < (double)bound);
	}
	i = json_object_get_int64(v);
	/* get_int64 clamps a uint64 above INT64_MAX. */
	if (i == INT64_MAX && json_object_get_uint64(v) > INT64_MAX)
		return 1;
	return (i > bound) - (i < bound);
}

static size_t
utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

static bool
in_enum(const struct schema *s, struct json_object *v)
{
	size_t i, n = json_object_array_length(s->enum_values);

	for (i = 0; i < n; i++)
		if (json_object_equal(json_object_array_get_idx(
		    s->enum_values, i), v))
			return true;
	return false;
}

static void
check_string(const struct schema *s, struct json_object *v, struct check *c)
{
	const char *str = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	int64_t ms;

	if (s->max_length >= 0 && utf8_chars(str, len) > (size_t)s->max_length)
		problem(c, "must be at most %lld characters long",
		    (long long)s->max_length);
	/* A NUL would end the string early: time_parse_rfc3339 must see
	 * all of it. */
	if (s->date_time && (strlen(str) != len ||
	    time_parse_rfc3339(str, &ms) == -1))
		problem(c, "must be an RFC 3339 date-time, like "
		    "2026-01-05T10:00:00.000Z");
}

static void
check_number(const struct schema *s, struct json_object *v, struct check *c)
{
	if (s->has_minimum && compare_number(v, s->minimum) < 0)
		problem(c, "must be at least %lld", (long long)s->minimum);
	if (s->has_maximum && compare_number(v, s->maximum) > 0)
		problem(c, "must be at most %lld", (long long)s->maximum);
}

static void
check_array(const struct schema *s, struct json_object *v, struct check *c)
{
	size_t i, n = json_object_array_length(v), mark = c->path.len;
	char seg[32];

	if (s->min_items >= 0 && n < (uint64_t)s->min_items)
		problem(c, "must have at least %lld item%s",
		    (long long)s->min_items, s->min_items == 1 ? "" : "s");
	if (s->max_items == 0 && n > 0)
		problem(c, "must be empty");
	else if (s->max_items >= 0 && n > (uint64_t)s->max_items)
		problem(c, "must have at most %lld item%s",
		    (long long)s->max_items, s->max_items == 1 ? "" : "s");
	if (s->items == NULL)
		return;
	for (i = 0; i < n; i++) {
		snprintf(seg, sizeof(seg), "[%zu]", i);
		sbuf_adds(&c->path, seg);
		check_value(s->items, json_object_array_get_idx(v, i), c);
		sbuf_truncate(&c->path, mark);
	}
}

static const struct schema *
find_property(const struct schema *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nprops; i++)
		if (strcmp(s->props[i].name, name) == 0)
			return s->props[i].schema;
	return NULL;
}

static void
check_object(const struct schema *s, struct json_object *v, struct check *c)
{
	const struct schema *sub;
	struct json_object *ignored;
	size_t i, mark = c->path.len;
	char *quoted;

	for (i = 0; i < s->nrequired; i++)
		if (!json_object_object_get_ex(v, s->required[i], &ignored))
			problem(c, "\"%s\" is required", s->required[i]);
	json_object_object_foreach(v, key, val) {
		if ((sub = find_property(s, key)) == NULL)
			sub = s->additional;
		if (sub == NULL && s->closed) {
			quoted = schema_quote(key);
			problem(c, "property %s is not allowed", quoted);
			free(quoted);
		}
		if (sub == NULL)
			continue;
		sbuf_key(&c->path, key);
		check_value(sub, val, c);
		sbuf_truncate(&c->path, mark);
	}
}

static void
check_value(const struct schema *s, struct json_object *v, struct check *c)
{
	if (!type_matches(s->type, v)) {
		problem(c, "must be %s", type_names[s->type].must_be);
		return;
	}
	if (s->enum_values != NULL && !in_enum(s, v))
		problem(c, "must be one of %s", s->enum_text);
	switch (json_object_get_type(v)) {
	case json_type_string:
		check_string(s, v, c);
		break;
	case json_type_int:
	case json_type_double:
		check_number(s, v, c);
		break;
	case json_type_array:
		check_array(s, v, c);
		break;
	case json_type_object:
		check_object(s, v, c);
		break;
	case json_type_null:
	case json_type_boolean:
		break;
	}
}

size_t
schema_validate(const struct schema *s, struct json_object *v,
    const char *name, struct strlist *errs, size_t max_errors)
{
	struct check c = { .errs = errs, .max = max_errors };

	sbuf_init(&c.path);
	sbuf_adds(&c.path, name);
	check_value(s, v, &c);
	free(c.path.s);
	return c.found;
}
