/* The JSON Schema subset validator, keyword by keyword, and the guard
 * that keeps the schema file to what it implements. */
#include <string.h>

#include <json-c/json.h>

#include "tests/testutil.h"

#include "common/json.h"
#include "taskrunner/payload.h"
#include "taskrunner/schema.h"

static struct schema *
load(const char *text)
{
	struct schema *s;
	char err[512] = "";

	s = schema_load(text, strlen(text), err, sizeof(err));
	if (s == NULL)
		fail_msg("schema %s refused: %s", text, err);
	return s;
}

static void
load_fails(const char *text, const char *want)
{
	char err[512] = "";

	if (schema_load(text, strlen(text), err, sizeof(err)) != NULL)
		fail_msg("schema %s loaded", text);
	assert_string_equal(err, want);
}

/*
 * doc validated against schema_text must give exactly the lines in want
 * (NULL-terminated), in order.
 */
static void
expect_lines(const char *schema_text, const char *doc,
    const char *const *want)
{
	struct strlist errs = { 0 };
	struct json_object *v;
	struct schema *s = load(schema_text);
	size_t i, found;
	char err[256];

	v = json_parse_strict(doc, strlen(doc), 1 << 20, 32, err, sizeof(err));
	if (v == NULL && strcmp(doc, "null") != 0)
		fail_msg("test document %s: %s", doc, err);
	found = schema_validate(s, v, "doc", &errs, 100);
	for (i = 0; want[i] != NULL; i++) {
		if (i >= errs.n)
			fail_msg("%s: missing line %s", doc, want[i]);
		assert_string_equal(errs.v[i], want[i]);
	}
	if (errs.n != i)
		fail_msg("%s: unexpected line %s", doc, errs.v[i]);
	assert_int_equal(found, i);
	json_object_put(v);
	schema_free(s);
	strlist_free(&errs);
}

#define EXPECT(schema, doc, ...) \
	expect_lines(schema, doc, (const char *const[]){ __VA_ARGS__, NULL })
#define VALID(schema, doc)	expect_lines(schema, doc, \
	(const char *const[]){ NULL })

/* The file the worker embeds uses only what is implemented here. */
static void
test_embedded_schema_loads(void **state)
{
	(void)state;
	schema_free(load(payload_schema_json));
}

static void
test_unknown_keyword_refused(void **state)
{
	(void)state;
	load_fails("{\"type\": \"object\", \"oneOf\": []}",
	    "schema #: unknown keyword \"oneOf\"");
	load_fails("{\"properties\": {\"a\": {\"items\": "
	    "{\"uniqueItems\": true}}}}",
	    "schema #/properties/a/items: unknown keyword \"uniqueItems\"");
	load_fails("{\"additionalProperties\": {\"pattern\": \"^a\"}}",
	    "schema #/additionalProperties: unknown keyword \"pattern\"");
	/* Keywords are case-sensitive, as in JSON Schema. */
	load_fails("{\"MinItems\": 1}", "schema #: unknown keyword "
	    "\"MinItems\"");
}

static void
test_bad_keyword_values_refused(void **state)
{
	(void)state;
	load_fails("[]", "schema #: a schema must be an object");
	load_fails("{\"type\": \"str\"}", "schema #: unknown type \"str\"");
	load_fails("{\"type\": [\"string\", \"null\"]}",
	    "schema #: \"type\" must be one type name, a string");
	load_fails("{\"minItems\": -1}",
	    "schema #: \"minItems\" must be a non-negative integer");
	load_fails("{\"maxLength\": 1.5}",
	    "schema #: \"maxLength\" must be a non-negative integer");
	load_fails("{\"minimum\": 0.5}", "schema #: \"minimum\" must be an "
	    "integer");
	load_fails("{\"format\": \"uri\"}", "schema #: \"format\" must be "
	    "\"date-time\", the only format implemented");
	load_fails("{\"enum\": []}", "schema #: \"enum\" must be a non-empty "
	    "array");
	load_fails("{\"items\": [{}]}", "schema #: \"items\" must be one "
	    "schema, an object");
	load_fails("{\"required\": [1]}", "schema #: \"required\" must be an "
	    "array of strings");
	load_fails("{\"additionalProperties\": 1}", "schema #: "
	    "\"additionalProperties\" must be false, true or a schema");
	load_fails("{\"properties\": {\"a\": 1}}",
	    "schema #/properties/a: a schema must be an object");
	load_fails("{\"title\": 1}", "schema #: \"title\" must be a string");
	/* A default the schema itself refuses is a mistake in the file. */
	load_fails("{\"properties\": {\"a\": {\"type\": \"boolean\", "
	    "\"default\": \"true\"}}}", "schema #/properties/a: default: "
	    "must be true or false");
	load_fails("{\"a\": 1", "schema: byte 7: unexpected end of input, "
	    "expected ',' or '}'");
}

static void
test_type(void **state)
{
	(void)state;
	VALID("{\"type\": \"string\"}", "\"x\"");
	VALID("{\"type\": \"integer\"}", "-3");
	VALID("{\"type\": \"number\"}", "-3");
	VALID("{\"type\": \"number\"}", "2.5e3");
	VALID("{\"type\": \"boolean\"}", "false");
	VALID("{\"type\": \"null\"}", "null");
	VALID("{\"type\": \"array\"}", "[]");
	VALID("{\"type\": \"object\"}", "{}");
	VALID("{}", "[1, {}]");
	EXPECT("{\"type\": \"string\"}", "1", "doc: must be a string");
	/* 1.0 would not unmarshal into generic-worker's int64 either. */
	EXPECT("{\"type\": \"integer\"}", "1.0", "doc: must be an integer");
	EXPECT("{\"type\": \"number\"}", "\"1\"", "doc: must be a number");
	EXPECT("{\"type\": \"boolean\"}", "0", "doc: must be true or false");
	EXPECT("{\"type\": \"null\"}", "0", "doc: must be null");
	EXPECT("{\"type\": \"array\"}", "{}", "doc: must be an array");
	EXPECT("{\"type\": \"object\"}", "null", "doc: must be an object");
	/* A wrong type stops the checks that assume it. */
	EXPECT("{\"type\": \"string\", \"enum\": [\"a\"]}", "1",
	    "doc: must be a string");
}

static void
test_properties_and_additional(void **state)
{
	static const char *closed = "{\"type\": \"object\", "
	    "\"additionalProperties\": false, \"properties\": {"
	    "\"a\": {\"type\": \"string\"}, \"b\": {\"type\": \"object\", "
	    "\"additionalProperties\": {\"type\": \"string\"}}}}";

	(void)state;
	VALID(closed, "{}");
	VALID(closed, "{\"a\": \"x\", \"b\": {\"K\": \"v\", \"L\": \"w\"}}");
	EXPECT(closed, "{\"a\": 1, \"zz\": 1, \"b\": {\"K\": 1}}",
	    "doc.a: must be a string",
	    "doc: property \"zz\" is not allowed",
	    "doc.b.K: must be a string");
	/* Open objects let anything else through unchecked. */
	VALID("{\"properties\": {\"a\": {\"type\": \"string\"}}}",
	    "{\"b\": 1}");
	VALID("{\"additionalProperties\": true}", "{\"b\": 1}");
	/* Keys that are not identifiers are quoted and escaped. */
	EXPECT(closed, "{\"b\": {\"a b\": 1, \"x\\\"\\n\\u001b\\u0085\": 2, "
	    "\"1x\": 3}}",
	    "doc.b[\"a b\"]: must be a string",
	    "doc.b[\"x\\\"\\u000a\\u001b\\u0085\"]: must be a string",
	    "doc.b[\"1x\"]: must be a string");
	EXPECT(closed, "{\"new\\nline\": 1}",
	    "doc: property \"new\\u000aline\" is not allowed");
}

static void
test_long_keys_are_cut(void **state)
{
	char doc[256], want[256], key[101];

	(void)state;
	memset(key, 'k', 100);
	key[100] = '\0';
	snprintf(doc, sizeof(doc), "{\"%s\": 1}", key);
	snprintf(want, sizeof(want), "doc: property \"%.*s...\" is not "
	    "allowed", SCHEMA_QUOTE_MAX, key);
	EXPECT("{\"additionalProperties\": false}", doc, want);
	/* Cut at a character boundary: "é" is two bytes. */
	memset(key, 'k', 63);
	memcpy(key + 63, "\xc3\xa9", 3);
	snprintf(doc, sizeof(doc), "{\"%s\": 1}", key);
	snprintf(want, sizeof(want), "doc: property \"%.*s...\" is not "
	    "allowed", 63, key);
	EXPECT("{\"additionalProperties\": false}", doc, want);
}

static void
test_required(void **state)
{
	static const char *sch = "{\"type\": \"object\", "
	    "\"required\": [\"command\", \"maxRunTime\"]}";

	(void)state;
	VALID(sch, "{\"command\": 1, \"maxRunTime\": 1}");
	EXPECT(sch, "{}", "doc: \"command\" is required",
	    "doc: \"maxRunTime\" is required");
	EXPECT(sch, "{\"maxRunTime\": null}", "doc: \"command\" is required");
}

static void
test_items_and_counts(void **state)
{
	static const char *sch = "{\"type\": \"array\", \"minItems\": 1, "
	    "\"maxItems\": 2, \"items\": {\"type\": \"array\", "
	    "\"minItems\": 1, \"items\": {\"type\": \"string\"}}}";

	(void)state;
	VALID(sch, "[[\"a\"], [\"b\", \"c\"]]");
	EXPECT(sch, "[]", "doc: must have at least 1 item");
	EXPECT(sch, "[[\"a\"], [], [1, \"b\", 2]]",
	    "doc: must have at most 2 items",
	    "doc[1]: must have at least 1 item",
	    "doc[2][0]: must be a string",
	    "doc[2][2]: must be a string");
	EXPECT("{\"minItems\": 2}", "[1]", "doc: must have at least 2 items");
	EXPECT("{\"maxItems\": 1}", "[1, 2]", "doc: must have at most 1 item");
	EXPECT("{\"maxItems\": 0}", "[1]", "doc: must be empty");
	VALID("{\"maxItems\": 0}", "[]");
	/* Counts apply to arrays only. */
	VALID("{\"minItems\": 1}", "\"\"");
}

static void
test_minimum_maximum(void **state)
{
	static const char *sch = "{\"minimum\": 1, \"maximum\": 10}";

	(void)state;
	VALID(sch, "1");
	VALID(sch, "10");
	VALID(sch, "9.5");
	EXPECT(sch, "0", "doc: must be at least 1");
	EXPECT(sch, "0.5", "doc: must be at least 1");
	EXPECT(sch, "-99999999999999999999", "doc: must be at least 1");
	EXPECT(sch, "11", "doc: must be at most 10");
	EXPECT(sch, "18446744073709551614", "doc: must be at most 10");
	EXPECT(sch, "99999999999999999999", "doc: must be at most 10");
	EXPECT(sch, "1e400", "doc: must be at most 10");
	EXPECT("{\"minimum\": -5}", "-6", "doc: must be at least -5");
}

static void
test_max_length(void **state)
{
	static const char *sch = "{\"maxLength\": 3}";

	(void)state;
	VALID(sch, "\"abc\"");
	/* Characters, not bytes. */
	VALID(sch, "\"\xc3\xa9\xc3\xa9\xc3\xa9\"");
	VALID(sch, "\"\\ud83d\\ude00ab\"");
	EXPECT(sch, "\"abcd\"", "doc: must be at most 3 characters long");
	EXPECT(sch, "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"",
	    "doc: must be at most 3 characters long");
}

static void
test_enum(void **state)
{
	static const char *sch = "{\"enum\": [\"file\", \"directory\"]}";

	(void)state;
	VALID(sch, "\"file\"");
	VALID(sch, "\"directory\"");
	EXPECT(sch, "\"File\"", "doc: must be one of \"file\", \"directory\"");
	EXPECT(sch, "1", "doc: must be one of \"file\", \"directory\"");
	VALID("{\"enum\": [1, null, {\"a\": [true]}]}", "{\"a\": [true]}");
	VALID("{\"enum\": [1, null]}", "null");
	EXPECT("{\"enum\": [1, \"a/b\"]}", "2", "doc: must be one of 1, "
	    "\"a/b\"");
}

static void
test_format_date_time(void **state)
{
	static const char *sch = "{\"type\": \"string\", "
	    "\"format\": \"date-time\"}";

	(void)state;
	VALID(sch, "\"2026-01-05T10:00:00.000Z\"");
	VALID(sch, "\"2026-01-05T12:00:00+02:00\"");
	EXPECT(sch, "\"2026-01-05\"", "doc: must be an RFC 3339 date-time, "
	    "like 2026-01-05T10:00:00.000Z");
	EXPECT(sch, "\"2026-01-05T10:00:00Z\\u0000x\"",
	    "doc: must be an RFC 3339 date-time, like "
	    "2026-01-05T10:00:00.000Z");
	/* Formats apply to strings only. */
	VALID("{\"format\": \"date-time\"}", "5");
}

static void
test_every_problem_counted_listing_capped(void **state)
{
	struct strlist errs = { 0 };
	struct json_object *v;
	struct schema *s;
	char err[256];
	const char *doc = "[1, 2, 3, 4, 5]";

	(void)state;
	s = load("{\"items\": {\"type\": \"string\"}}");
	v = json_parse_strict(doc, strlen(doc), 1024, 8, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(schema_validate(s, v, "doc", &errs, 3), 5);
	assert_int_equal(errs.n, 3);
	assert_string_equal(errs.v[2], "doc[2]: must be a string");
	json_object_put(v);
	schema_free(s);
	strlist_free(&errs);
}

static void
test_quote_and_path_helpers(void **state)
{
	char *s;

	(void)state;
	s = schema_quote("a\\b\"c\td\x7f");
	assert_string_equal(s, "\"a\\\\b\\\"c\\u0009d\\u007f\"");
	free(s);
	s = schema_path_key("payload.env", "FOO_1");
	assert_string_equal(s, "payload.env.FOO_1");
	free(s);
	s = schema_path_key("payload.env", "");
	assert_string_equal(s, "payload.env[\"\"]");
	free(s);
	s = schema_path_key("payload.env", "A=B");
	assert_string_equal(s, "payload.env[\"A=B\"]");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_schema_loads),
		cmocka_unit_test(test_unknown_keyword_refused),
		cmocka_unit_test(test_bad_keyword_values_refused),
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_properties_and_additional),
		cmocka_unit_test(test_long_keys_are_cut),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_items_and_counts),
		cmocka_unit_test(test_minimum_maximum),
		cmocka_unit_test(test_max_length),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_format_date_time),
		cmocka_unit_test(test_every_problem_counted_listing_capped),
		cmocka_unit_test(test_quote_and_path_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
