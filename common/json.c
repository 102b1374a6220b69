#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/jsonscan.h"
#include "common/log.h"

/* Feed the tokener and return the value, or NULL with err set. */
static struct json_object *
tokenize(struct json_tokener *tok, const char *buf, size_t len, char *err,
    size_t errlen)
{
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t end;

	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (obj == NULL && jerr == json_tokener_continue && end == len) {
		/* A top-level number only ends at a delimiter: give it one. */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	if (obj == NULL && jerr == json_tokener_success) {
		/* json-c's null is NULL: callers could not tell it from
		 * failure. */
		snprintf(err, errlen, "the document is null, not a value "
		    "that can be used");
		return NULL;
	}
	if (obj == NULL) {
		snprintf(err, errlen, "byte %zu: json-c: %s", end,
		    json_tokener_error_desc(jerr));
		return NULL;
	}
	if (end != len) {
		snprintf(err, errlen, "byte %zu: json-c stopped before the end "
		    "of input", end);
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

struct json_object *
json_parse_strict(const char *buf, size_t len, size_t max_bytes,
    unsigned max_depth, char *err, size_t errlen)
{
	const struct jsonscan_opts opts = {
		.max_depth = max_depth,
		.reject_duplicate_keys = true,
		.reject_nul_in_keys = true,
	};
	struct json_tokener *tok;
	struct json_object *obj;

	if (len > max_bytes) {
		snprintf(err, errlen, "%zu bytes exceeds the limit of %zu",
		    len, max_bytes);
		return NULL;
	}
	/* json-c counts in int; it needs one level more than jsonscan for
	 * a scalar inside the innermost container. */
	if (len > INT_MAX - 16 || max_depth > INT_MAX - 1) {
		snprintf(err, errlen, "%zu bytes or depth %u is more than "
		    "json-c can parse", len, max_depth);
		return NULL;
	}
	if (jsonscan_validate(buf, len, &opts, err, errlen) == -1)
		return NULL;

	tok = json_tokener_new_ex((int)max_depth + 1);
	if (tok == NULL)
		fatalx("out of memory creating a JSON tokener");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	/*
	 * Every string or number the tokener collects is shorter than the
	 * input; with len + 2 bytes reserved (memappend wants one spare past
	 * the terminator) its buffer never reallocs, so no partial copy of
	 * a secret is left in freed memory.
	 */
	if (printbuf_memset(tok->pb, 0, 0, (int)len + 2) == -1)
		fatalx("out of memory reserving %zu bytes for JSON", len + 2);
	printbuf_reset(tok->pb);

	obj = tokenize(tok, buf, len, err, errlen);

	explicit_bzero(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return obj;
}

void
json_wipe_string(struct json_object *s)
{
	if (s == NULL || !json_object_is_type(s, json_type_string))
		return;
	/* json-c hands out const, but the bytes are the object's own. */
	explicit_bzero((char *)(uintptr_t)json_object_get_string(s),
	    (size_t)json_object_get_string_len(s));
}

int
json_as_string(struct json_object *v, const char *name, const char **out,
    char *err, size_t errlen)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "\"%s\" must be a string", name);
		return -1;
	}
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v)) {
		snprintf(err, errlen, "\"%s\" must not contain a NUL "
		    "character", name);
		return -1;
	}
	*out = s;
	return 0;
}

int
json_as_bool(struct json_object *v, const char *name, bool *out, char *err,
    size_t errlen)
{
	if (!json_object_is_type(v, json_type_boolean)) {
		snprintf(err, errlen, "\"%s\" must be true or false", name);
		return -1;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

int
json_as_uint(struct json_object *v, const char *name, uint64_t min,
    uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	uint64_t val;

	if (max == UINT64_MAX)
		max = UINT64_MAX - 1;
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		goto bad;
	val = json_object_get_uint64(v);
	if (val < min || val > max)
		goto bad;
	*out = val;
	return 0;
bad:
	snprintf(err, errlen, "\"%s\" must be an integer from %ju to %ju",
	    name, (uintmax_t)min, (uintmax_t)max);
	return -1;
}

int
json_get_string(struct json_object *obj, const char *key, const char **out,
    char *err, size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	return json_as_string(v, key, out, err, errlen) == 0 ? 1 : -1;
}

int
json_get_bool(struct json_object *obj, const char *key, bool *out, char *err,
    size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	return json_as_bool(v, key, out, err, errlen) == 0 ? 1 : -1;
}

int
json_get_uint(struct json_object *obj, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	return json_as_uint(v, key, min, max, out, err, errlen) == 0 ? 1 : -1;
}

void
json_wipe_strings(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
		json_wipe_string(v);
		break;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++)
			json_wipe_strings(json_object_array_get_idx(v, i));
		break;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			(void)key;
			json_wipe_strings(val);
		}
		break;
	}
	default:
		break;
	}
}
