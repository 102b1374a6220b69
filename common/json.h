/*
 * Strict JSON on top of json-c (0.16).
 *
 * json-c alone accepts more than RFC 8259 and keeps the last of two
 * duplicate keys, so every document is first checked by jsonscan.  Parsing
 * is also secret-safe: the tokener's string buffer is grown once before
 * parsing (a realloc would strand a copy of a secret in freed heap) and
 * wiped before it is freed, and json_wipe_string() clears a secret value
 * in place before its object is put.
 *
 * The typed getters fail with messages that name the key, e.g.
 * "\"capacity\" must be an integer from 1 to 255"; callers prefix their
 * context ("config: ", "payload: ").
 */
#ifndef SEPWORKER_JSON_H
#define SEPWORKER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/*
 * Parse buf[0..len) as exactly one JSON value: refused if len > max_bytes,
 * if it is not strict JSON, if an object repeats a key, or if containers
 * nest deeper than max_depth.  Returns a new reference or NULL with err
 * set ("byte 17: duplicate key \"rootURL\"").  A document that is just
 * null is refused too: json-c's null is a NULL pointer.  buf itself is
 * the caller's to wipe.
 */
struct json_object *json_parse_strict(const char *buf, size_t len,
	    size_t max_bytes, unsigned max_depth, char *err, size_t errlen);

/* Zero a string object's bytes in place; other types are left alone. */
void	json_wipe_string(struct json_object *s);
/* Every string value in v, however deep: any could be a secret. */
void	json_wipe_strings(struct json_object *v);

/*
 * Check a value already in hand; name is what messages call it.  Return
 * 0, or -1 with err set.  Strings with an embedded NUL are refused, since
 * every consumer treats them as C strings.
 */
int	json_as_string(struct json_object *v, const char *name,
	    const char **out, char *err, size_t errlen);
int	json_as_bool(struct json_object *v, const char *name, bool *out,
	    char *err, size_t errlen);
/*
 * An integer (no fraction, no exponent) in [min, max].  json-c saturates
 * integers it cannot hold to INT64_MIN / UINT64_MAX, so UINT64_MAX itself
 * is never accepted: it may stand for any larger number.
 */
int	json_as_uint(struct json_object *v, const char *name, uint64_t min,
	    uint64_t max, uint64_t *out, char *err, size_t errlen);

/*
 * Look key up in the object obj and check it as above.  Return 1 if it
 * is present and valid, 0 if it is absent (out untouched), -1 if it is
 * present with the wrong type or value.
 */
int	json_get_string(struct json_object *obj, const char *key,
	    const char **out, char *err, size_t errlen);
int	json_get_bool(struct json_object *obj, const char *key, bool *out,
	    char *err, size_t errlen);
int	json_get_uint(struct json_object *obj, const char *key, uint64_t min,
	    uint64_t max, uint64_t *out, char *err, size_t errlen);

#endif
