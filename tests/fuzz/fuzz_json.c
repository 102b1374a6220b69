/*
 * json_parse_strict on any bytes must not crash.  What it returns is fed
 * to the typed getters, and json-c's serialization of it must parse
 * strictly again: a value we accept is one we can write back.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"

#define FUZZ_MAX_BYTES	(1 << 16)
#define FUZZ_MAX_DEPTH	16

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
poke_getters(struct json_object *obj)
{
	char err[256];
	const char *s;
	uint64_t u;
	bool b;

	if (!json_object_is_type(obj, json_type_object))
		return;
	json_object_object_foreach(obj, key, val) {
		json_as_string(val, key, &s, err, sizeof(err));
		json_as_bool(val, key, &b, err, sizeof(err));
		json_as_uint(val, key, 1, 1000, &u, err, sizeof(err));
		json_get_uint(obj, key, 0, UINT64_MAX, &u, err, sizeof(err));
		json_wipe_string(val);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *obj, *again;
	const char *text;
	char err[256];
	char *doc;

	doc = malloc(size ? size : 1);
	if (doc == NULL)
		return 0;
	memcpy(doc, data, size);
	obj = json_parse_strict(doc, size, FUZZ_MAX_BYTES, FUZZ_MAX_DEPTH,
	    err, sizeof(err));
	free(doc);
	if (obj == NULL)
		return 0;
	text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
	again = json_parse_strict(text, strlen(text), SIZE_MAX,
	    FUZZ_MAX_DEPTH, err, sizeof(err));
	if (again == NULL)
		abort();
	json_object_put(again);
	poke_getters(obj);
	json_object_put(obj);
	return 0;
}
