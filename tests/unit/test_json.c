/* Strict json-c parsing and the typed getters built on it. */
#include <stdbool.h>
#include <string.h>

#include <json-c/json.h>

#include "tests/testutil.h"

#include "common/json.h"

#define MAX_BYTES	4096
#define MAX_DEPTH	8

static struct json_object *
parse(const char *doc, char *err, size_t errlen)
{
	return json_parse_strict(doc, strlen(doc), MAX_BYTES, MAX_DEPTH, err,
	    errlen);
}

static void
parse_fails(const char *doc, const char *want)
{
	char err[256] = "";

	if (parse(doc, err, sizeof(err)) != NULL)
		fail_msg("parsed %s", doc);
	assert_string_equal(err, want);
}

static void
test_strict_parse_builds_the_value(void **state)
{
	struct json_object *o, *v;
	char err[256];

	(void)state;
	o = parse(" {\"a\": [1, \"x\\u00e9\"], \"b\": {\"c\": null}} \n", err,
	    sizeof(err));
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "a", &v));
	assert_int_equal(json_object_array_length(v), 2);
	assert_string_equal(json_object_get_string(
	    json_object_array_get_idx(v, 1)), "x\xc3\xa9");
	json_object_put(o);
}

/* json-c waits for more input after a top-level number; the parser must
 * still return it. */
static void
test_top_level_scalars_parse(void **state)
{
	struct json_object *o;
	char err[256];

	(void)state;
	o = parse("42", err, sizeof(err));
	assert_non_null(o);
	assert_int_equal(json_object_get_int64(o), 42);
	json_object_put(o);
	o = parse("-1.5e3 ", err, sizeof(err));
	assert_non_null(o);
	assert_true(json_object_get_double(o) == -1500.0);
	json_object_put(o);
	o = parse("\"s\"", err, sizeof(err));
	assert_non_null(o);
	json_object_put(o);
	/* json-c's null is a NULL pointer, which would read as failure
	 * without a message: it is refused with one. */
	parse_fails("null", "the document is null, not a value that can be "
	    "used");
	o = parse("[null]", err, sizeof(err));
	assert_non_null(o);
	json_object_put(o);
}

static void
test_size_cap_checked_first(void **state)
{
	/* Not even JSON: the size is what is reported. */
	const char doc[] = "{\"a\": \"not looked at\" ";
	struct json_object *o;
	char err[128];

	(void)state;
	assert_null(json_parse_strict(doc, strlen(doc), 10, MAX_DEPTH, err,
	    sizeof(err)));
	assert_string_equal(err, "22 bytes exceeds the limit of 10");
	o = json_parse_strict("[1]", 3, 3, MAX_DEPTH, err, sizeof(err));
	assert_non_null(o);
	json_object_put(o);
}

static void
test_trailing_garbage_refused(void **state)
{
	(void)state;
	parse_fails("{} {}", "byte 3: unexpected '{' after the JSON value");
	parse_fails("{}x", "byte 2: unexpected 'x' after the JSON value");
	parse_fails("1 2", "byte 2: unexpected '2' after the JSON value");
	parse_fails("{}\f", "byte 2: unexpected byte 0x0c after the JSON "
	    "value");
}

/* Input json-c would take but RFC 8259 does not. */
static void
test_laxness_of_json_c_refused(void **state)
{
	(void)state;
	parse_fails("{\"a\":1,\"a\":2}", "byte 7: duplicate key \"a\"");
	parse_fails("[1,]", "byte 3: unexpected ']', expected a value");
	parse_fails("{'a':1}", "byte 1: unexpected ''', expected a string key "
	    "or '}'");
	parse_fails("[NaN]", "byte 1: unexpected 'N', expected a value");
	parse_fails("\"\\ud800\"", "byte 1: lone high surrogate \\uD800");
	parse_fails("\"\xff\"", "byte 1: invalid UTF-8: lead byte 0xff");
	/* json-c would cut this key at the NUL and make it "a". */
	parse_fails("{\"a\\u0000b\":1,\"a\":2}", "byte 3: key contains "
	    "\\u0000");
}

static void
test_depth_limit_applies(void **state)
{
	char err[128];
	struct json_object *o;

	(void)state;
	o = parse("[[[[[[[[1]]]]]]]]", err, sizeof(err));
	assert_non_null(o);
	json_object_put(o);
	o = parse("[[[[[[[[{}]]]]]]]]", err, sizeof(err));
	assert_null(o);
	assert_string_equal(err, "byte 8: nesting deeper than 8");
}

static void
test_getters_return_values(void **state)
{
	struct json_object *o;
	const char *s;
	uint64_t u;
	bool b;
	char err[128];

	(void)state;
	o = parse("{\"s\":\"str\",\"b\":false,\"u\":300,\"big\":"
	    "18446744073709551614}", err, sizeof(err));
	assert_non_null(o);
	assert_int_equal(json_get_string(o, "s", &s, err, sizeof(err)), 1);
	assert_string_equal(s, "str");
	b = true;
	assert_int_equal(json_get_bool(o, "b", &b, err, sizeof(err)), 1);
	assert_false(b);
	assert_int_equal(json_get_uint(o, "u", 1, 300, &u, err, sizeof(err)),
	    1);
	assert_int_equal(u, 300);
	assert_int_equal(json_get_uint(o, "big", 0, UINT64_MAX, &u, err,
	    sizeof(err)), 1);
	assert_true(u == UINT64_MAX - 1);
	/* Absent keys are not errors, and leave out alone. */
	s = "untouched";
	assert_int_equal(json_get_string(o, "missing", &s, err, sizeof(err)),
	    0);
	assert_string_equal(s, "untouched");
	assert_int_equal(json_get_bool(o, "S", &b, err, sizeof(err)), 0);
	json_object_put(o);
}

static void
getter_fails(int rc, const char *err, const char *want)
{
	assert_int_equal(rc, -1);
	assert_string_equal(err, want);
}

static void
test_getters_refuse_wrong_types(void **state)
{
	struct json_object *o;
	const char *s;
	uint64_t u;
	bool b;
	char err[128];

	(void)state;
	o = parse("{\"n\":1,\"s\":\"1\",\"nul\":null,\"f\":1.0,\"e\":1e2,"
	    "\"neg\":-1,\"huge\":99999999999999999999,\"t\":\"true\","
	    "\"z\":\"a\\u0000b\",\"obj\":{}}", err, sizeof(err));
	assert_non_null(o);
	getter_fails(json_get_string(o, "n", &s, err, sizeof(err)), err,
	    "\"n\" must be a string");
	getter_fails(json_get_string(o, "nul", &s, err, sizeof(err)), err,
	    "\"nul\" must be a string");
	getter_fails(json_get_string(o, "obj", &s, err, sizeof(err)), err,
	    "\"obj\" must be a string");
	getter_fails(json_get_string(o, "z", &s, err, sizeof(err)), err,
	    "\"z\" must not contain a NUL character");
	getter_fails(json_get_bool(o, "t", &b, err, sizeof(err)), err,
	    "\"t\" must be true or false");
	getter_fails(json_get_bool(o, "n", &b, err, sizeof(err)), err,
	    "\"n\" must be true or false");
	getter_fails(json_get_uint(o, "s", 0, 10, &u, err, sizeof(err)), err,
	    "\"s\" must be an integer from 0 to 10");
	getter_fails(json_get_uint(o, "f", 0, 10, &u, err, sizeof(err)), err,
	    "\"f\" must be an integer from 0 to 10");
	getter_fails(json_get_uint(o, "e", 0, 1000, &u, err, sizeof(err)),
	    err, "\"e\" must be an integer from 0 to 1000");
	getter_fails(json_get_uint(o, "neg", 0, 10, &u, err, sizeof(err)),
	    err, "\"neg\" must be an integer from 0 to 10");
	getter_fails(json_get_uint(o, "n", 2, 10, &u, err, sizeof(err)), err,
	    "\"n\" must be an integer from 2 to 10");
	/* json-c saturates this to UINT64_MAX, which is never accepted. */
	getter_fails(json_get_uint(o, "huge", 0, UINT64_MAX, &u, err,
	    sizeof(err)), err, "\"huge\" must be an integer from 0 to "
	    "18446744073709551614");
	json_object_put(o);
}

static void
test_as_getters_name_what_they_are_told(void **state)
{
	struct json_object *v = json_object_new_int(5);
	uint64_t u;
	char err[128];

	(void)state;
	assert_int_equal(json_as_uint(v, "sepworker.x", 6, 7, &u, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "\"sepworker.x\" must be an integer from 6 "
	    "to 7");
	assert_int_equal(json_as_uint(v, "x", 5, 5, &u, err, sizeof(err)), 0);
	assert_int_equal(u, 5);
	json_object_put(v);
}

static void
test_wipe_string_zeroes_bytes(void **state)
{
	struct json_object *o, *v;
	const char *s;
	char err[128];

	(void)state;
	o = parse("{\"accessToken\":\"s3cr3t-t0ken-value\"}", err,
	    sizeof(err));
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "accessToken", &v));
	s = json_object_get_string(v);
	assert_string_equal(s, "s3cr3t-t0ken-value");
	json_wipe_string(v);
	/* The same bytes, still owned by the object, now zero. */
	assert_ptr_equal(s, json_object_get_string(v));
	for (size_t i = 0; i < strlen("s3cr3t-t0ken-value"); i++)
		assert_int_equal(s[i], 0);
	/* Other types and NULL are left alone. */
	json_wipe_string(NULL);
	json_wipe_string(o);
	json_object_put(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strict_parse_builds_the_value),
		cmocka_unit_test(test_top_level_scalars_parse),
		cmocka_unit_test(test_size_cap_checked_first),
		cmocka_unit_test(test_trailing_garbage_refused),
		cmocka_unit_test(test_laxness_of_json_c_refused),
		cmocka_unit_test(test_depth_limit_applies),
		cmocka_unit_test(test_getters_return_values),
		cmocka_unit_test(test_getters_refuse_wrong_types),
		cmocka_unit_test(test_as_getters_name_what_they_are_told),
		cmocka_unit_test(test_wipe_string_zeroes_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
