/*
 * jsonscan_validate on any bytes must not crash, and whatever it accepts
 * json-c must parse too: the supervisor relies on the scan alone where it
 * splices bytes into a signed document, so scan and parser must agree.
 * The first byte picks the options; the rest is the document.  With
 * refused top-level keys, an accepted object holds none of them, as
 * json-c sees it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/jsonscan.h"

#define FUZZ_MAX_DEPTH	16

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *const refused[] = { "artifacts", "environment", "",
    NULL };

/* json-c must take doc whole, as json_parse_strict drives it. */
static void
json_c_must_parse(const char *doc, size_t len, unsigned depth,
    bool refusing)
{
	struct json_tokener *tok = json_tokener_new_ex((int)depth + 1);
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t end;

	if (tok == NULL)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, doc, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (obj == NULL && jerr == json_tokener_continue && end == len) {
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	}
	/* json-c's null is NULL with success. */
	if (jerr != json_tokener_success)
		abort();
	for (; end < len; end++)
		if (!is_json_space(doc[end]))
			abort();
	for (size_t i = 0; refusing && refused[i] != NULL; i++)
		if (json_object_is_type(obj, json_type_object) &&
		    json_object_object_get_ex(obj, refused[i], NULL))
			abort();
	json_object_put(obj);
	json_tokener_free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonscan_opts opts = { 0 };
	char err[256];
	char *doc;
	size_t len;

	if (size < 1 || size > 1 << 16)
		return 0;
	opts.max_depth = data[0] & 0x10 ? FUZZ_MAX_DEPTH : data[0] & 0x0f;
	opts.require_object = data[0] & 0x20;
	opts.reject_duplicate_keys = data[0] & 0x40;
	opts.reject_nul_in_keys = data[0] & 0x80;
	/* The depth is fixed then: the low bits are free. */
	if ((data[0] & 0x11) == 0x11)
		opts.refuse_top_keys = refused;
	/* An exact-size copy, so ASan sees any read past the end. */
	len = size - 1;
	doc = malloc(len ? len : 1);
	if (doc == NULL)
		return 0;
	memcpy(doc, data + 1, len);
	if (jsonscan_validate(doc, len, &opts, err, sizeof(err)) == 0)
		json_c_must_parse(doc, len, opts.max_depth,
		    opts.refuse_top_keys != NULL);
	else if (strncmp(err, "byte ", 5) != 0)
		abort();
	free(doc);
	return 0;
}
