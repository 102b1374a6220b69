/* The validating scanner: what it accepts, what it refuses and with which
 * message, and that hostile input costs neither stack nor quadratic time. */
#include <string.h>
#include <time.h>

#include "tests/testutil.h"

#include "common/jsonscan.h"

static const struct jsonscan_opts lax = {
	.max_depth = 64,
};
static const struct jsonscan_opts strict = {
	.max_depth = 64,
	.require_object = true,
	.reject_duplicate_keys = true,
	.reject_nul_in_keys = true,
};

static int
scan_len(const char *buf, size_t len, const struct jsonscan_opts *o,
    char *err, size_t errlen)
{
	return jsonscan_validate(buf, len, o, err, errlen);
}

static void
accepts(const char *doc, const struct jsonscan_opts *o)
{
	char err[256] = "";

	if (scan_len(doc, strlen(doc), o, err, sizeof(err)) != 0)
		fail_msg("refused %s: %s", doc, err);
}

/* Refused with exactly this message. */
static void
refuses_len(const char *doc, size_t len, const struct jsonscan_opts *o,
    const char *want)
{
	char err[256] = "";

	if (scan_len(doc, len, o, err, sizeof(err)) != -1)
		fail_msg("accepted %.*s", (int)len, doc);
	assert_string_equal(err, want);
}

static void
refuses(const char *doc, const struct jsonscan_opts *o, const char *want)
{
	refuses_len(doc, strlen(doc), o, want);
}

static void
test_valid_documents_accepted(void **state)
{
	(void)state;
	accepts("{}", &strict);
	accepts(" \t\r\n{ } \n", &strict);
	accepts("{\"a\":[1,-2,3.5,-0.0e+10,1E-3,0,true,false,null,\"x\"],"
	    "\"b\":{\"c\":{}},\"d\":[],\"e\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t"
	    "\\u00e9\\uD83D\\uDE00\"}", &strict);
	accepts("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 \xf4\x8f\xbf\xbf\"",
	    &lax);
	accepts("0", &lax);
	accepts("-0", &lax);
	accepts("[ ]", &lax);
	accepts("null", &lax);
	accepts("\"\\u0000 in a value is fine\"", &lax);
	accepts("{\"a\":\"\\u0000\"}", &strict);
	accepts("{\"a\\u0000\":1}", &lax);
	accepts("{\"a\":1,\"a\":2}", &lax);
}

static void
test_structure_errors_named(void **state)
{
	(void)state;
	refuses("", &lax, "byte 0: unexpected end of input, expected a value");
	refuses("   ", &lax, "byte 3: unexpected end of input, expected a "
	    "value");
	refuses("{", &lax, "byte 1: unexpected end of input, expected a "
	    "string key or '}'");
	refuses("[1,]", &lax, "byte 3: unexpected ']', expected a value");
	refuses("{\"a\":1,}", &lax, "byte 7: unexpected '}', expected a "
	    "string key");
	refuses("{\"a\" 1}", &lax, "byte 5: unexpected '1', expected ':'");
	refuses("{\"a\":1 \"b\":2}", &lax, "byte 7: unexpected '\"', "
	    "expected ',' or '}'");
	refuses("[1 2]", &lax, "byte 3: unexpected '2', expected ',' or ']'");
	refuses("[1}", &lax, "byte 2: unexpected '}', expected ',' or ']'");
	refuses("{a:1}", &lax, "byte 1: unexpected 'a', expected a string key "
	    "or '}'");
	refuses("{} {}", &lax, "byte 3: unexpected '{' after the JSON value");
	refuses("{}x", &lax, "byte 2: unexpected 'x' after the JSON value");
	refuses("'a'", &lax, "byte 0: unexpected ''', expected a value");
	refuses("[1]\v", &lax, "byte 3: unexpected byte 0x0b after the JSON "
	    "value");
	refuses("// c\n{}", &lax, "byte 0: unexpected '/', expected a value");
}

static void
test_top_level_object_required(void **state)
{
	(void)state;
	refuses("[]", &strict, "byte 0: top-level value must be an object");
	refuses("  \"x\"", &strict, "byte 2: top-level value must be an "
	    "object");
	accepts("[{}]", &lax);
}

static void
test_nul_and_bom_refused(void **state)
{
	(void)state;
	refuses_len("{}\0", 3, &lax, "byte 2: unexpected NUL byte after the "
	    "JSON value");
	refuses_len("\0{}", 3, &lax, "byte 0: unexpected NUL byte, expected "
	    "a value");
	refuses_len("[\"a\0\"]", 6, &lax, "byte 3: NUL byte in string");
	refuses("\xef\xbb\xbf{}", &lax, "byte 0: byte order mark not allowed");
	refuses("{\"a\\u0000b\":1}", &strict, "byte 3: key contains \\u0000");
}

static void
test_string_errors_named(void **state)
{
	(void)state;
	refuses("[\"abc", &lax, "byte 1: unterminated string");
	refuses("[\"abc\\", &lax, "byte 1: unterminated string");
	refuses("\"a\\x\"", &lax, "byte 2: invalid escape: backslash before "
	    "'x'");
	refuses("\"a\\'\"", &lax, "byte 2: invalid escape: backslash before "
	    "'''");
	refuses("\"\\u12G4\"", &lax, "byte 1: invalid escape: \\u needs four "
	    "hex digits");
	refuses("\"\\u12\"", &lax, "byte 1: invalid escape: \\u needs four "
	    "hex digits");
	refuses("\"a\nb\"", &lax, "byte 2: raw control character 0x0a in "
	    "string");
	refuses("\"\t\"", &lax, "byte 1: raw control character 0x09 in "
	    "string");
	accepts("\"\x7f\"", &lax);
}

static void
test_surrogates_must_pair(void **state)
{
	(void)state;
	accepts("\"\\ud800\\udc00\\uDBFF\\uDFFF\"", &lax);
	refuses("\"\\ud800\"", &lax, "byte 1: lone high surrogate \\uD800");
	refuses("\"\\ud800x\"", &lax, "byte 1: lone high surrogate \\uD800");
	refuses("\"\\ud800\\n\"", &lax, "byte 1: lone high surrogate \\uD800");
	refuses("\"\\ud800\\ud800\"", &lax, "byte 1: lone high surrogate "
	    "\\uD800");
	refuses("\"\\ud800\\u0041\"", &lax, "byte 1: lone high surrogate "
	    "\\uD800");
	refuses("\"x\\udc00\"", &lax, "byte 2: lone low surrogate \\uDC00");
	refuses("\"\\udfff\\ud800\"", &lax, "byte 1: lone low surrogate "
	    "\\uDFFF");
}

static void
test_invalid_utf8_named(void **state)
{
	(void)state;
	refuses("\"\x80\"", &lax, "byte 1: invalid UTF-8: unexpected "
	    "continuation byte 0x80");
	refuses("\"\xc0\xaf\"", &lax, "byte 1: invalid UTF-8: overlong "
	    "encoding");
	refuses("\"\xc1\xbf\"", &lax, "byte 1: invalid UTF-8: overlong "
	    "encoding");
	refuses("\"\xe0\x80\xaf\"", &lax, "byte 1: invalid UTF-8: overlong "
	    "encoding");
	refuses("\"\xf0\x80\x80\xaf\"", &lax, "byte 1: invalid UTF-8: "
	    "overlong encoding");
	refuses("\"\xed\xa0\x80\"", &lax, "byte 1: invalid UTF-8: encoded "
	    "surrogate");
	refuses("\"\xed\xbf\xbf\"", &lax, "byte 1: invalid UTF-8: encoded "
	    "surrogate");
	refuses("\"\xf4\x90\x80\x80\"", &lax, "byte 1: invalid UTF-8: code "
	    "point above U+10FFFF");
	refuses("\"\xf5\x80\x80\x80\"", &lax, "byte 1: invalid UTF-8: lead "
	    "byte 0xf5");
	refuses("\"\xff\"", &lax, "byte 1: invalid UTF-8: lead byte 0xff");
	refuses("\"\xc3\"", &lax, "byte 1: invalid UTF-8: missing "
	    "continuation byte");
	refuses("\"\xe2\x82", &lax, "byte 1: invalid UTF-8: truncated "
	    "sequence");
	refuses("\"\xe2\x82x\"", &lax, "byte 1: invalid UTF-8: missing "
	    "continuation byte");
	/* Outside strings only ASCII structure is allowed. */
	refuses("\xc3\xa9", &lax, "byte 0: unexpected byte 0xc3, expected a "
	    "value");
}

static void
test_number_grammar_enforced(void **state)
{
	(void)state;
	refuses("01", &lax, "byte 0: leading zeros are not allowed in "
	    "numbers");
	refuses("-01", &lax, "byte 1: leading zeros are not allowed in "
	    "numbers");
	refuses("+1", &lax, "byte 0: unexpected '+', expected a value");
	refuses("1.", &lax, "byte 2: expected a digit after '.'");
	refuses("1.e5", &lax, "byte 2: expected a digit after '.'");
	refuses(".5", &lax, "byte 0: unexpected '.', expected a value");
	refuses("-", &lax, "byte 1: expected a digit after '-'");
	refuses("-a", &lax, "byte 1: expected a digit after '-'");
	refuses("1e", &lax, "byte 2: expected a digit in the exponent");
	refuses("1e+", &lax, "byte 3: expected a digit in the exponent");
	refuses("NaN", &lax, "byte 0: unexpected 'N', expected a value");
	refuses("Infinity", &lax, "byte 0: unexpected 'I', expected a value");
	refuses("-Infinity", &lax, "byte 1: expected a digit after '-'");
	refuses("0x10", &lax, "byte 1: unexpected 'x' after the JSON value");
	refuses("[1.5.5]", &lax, "byte 4: unexpected '.', expected ',' or "
	    "']'");
	accepts("[0, -0, 0.5, 10e10, 1E+0, 123456789012345678901234567890]",
	    &lax);
}

static void
test_literals_exact(void **state)
{
	(void)state;
	refuses("tru", &lax, "byte 0: invalid literal, expected true");
	refuses("[nul]", &lax, "byte 1: invalid literal, expected null");
	refuses("fals", &lax, "byte 0: invalid literal, expected false");
	refuses("True", &lax, "byte 0: unexpected 'T', expected a value");
	refuses("nullx", &lax, "byte 4: unexpected 'x' after the JSON value");
	refuses("undefined", &lax, "byte 0: unexpected 'u', expected a value");
}

static void
test_duplicate_keys_named(void **state)
{
	(void)state;
	refuses("{\"rootURL\":1,\"clientId\":2,\"rootURL\":3}", &strict,
	    "byte 26: duplicate key \"rootURL\"");
	/* Equal after unescaping. */
	refuses("{\"a\":1,\"\\u0061\":2}", &strict, "byte 7: duplicate key "
	    "\"a\"");
	refuses("{\"\\u00e9\":1,\"\xc3\xa9\":2}", &strict, "byte 12: duplicate "
	    "key \"\\xc3\\xa9\"");
	refuses("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", &strict,
	    "byte 18: duplicate key \"\\xf0\\x9f\\x98\\x80\"");
	/* Non-printable bytes are escaped in the message. */
	refuses("{\"a\\nb\\\"\":1,\"a\\u000ab\\\"\":2}", &strict,
	    "byte 12: duplicate key \"a\\x0ab\\x22\"");
	/* The earliest second occurrence is the one reported. */
	refuses("{\"b\":1,\"a\":1,\"a\":2,\"b\":2}", &strict,
	    "byte 13: duplicate key \"a\"");
	/* Keys of different objects, and different keys, do not clash. */
	accepts("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2},\"ab\":1,\"\":2,"
	    "\"A\":3}", &strict);
	/* Inner duplicates are found too, and keys that differ only in
	 * length are different. */
	refuses("{\"x\":[{\"k\":1,\"kk\":2,\"k\":3}]}", &strict,
	    "byte 20: duplicate key \"k\"");
}

static void
test_long_duplicate_key_cut_in_message(void **state)
{
	char doc[512], err[256];
	char key[201];

	(void)state;
	memset(key, 'k', 200);
	key[200] = '\0';
	snprintf(doc, sizeof(doc), "{\"%s\":1,\"%s\":2}", key, key);
	assert_int_equal(jsonscan_validate(doc, strlen(doc), &strict, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "duplicate key \"kkkk"));
	assert_non_null(strstr(err, "...\""));
	assert_true(strlen(err) < 100);
}

static void
test_nesting_limit(void **state)
{
	const struct jsonscan_opts three = { .max_depth = 3 };
	const struct jsonscan_opts zero = { .max_depth = 0 };

	(void)state;
	accepts("[[[1]]]", &three);
	accepts("{\"a\":[{}]}", &three);
	refuses("[[[[1]]]]", &three, "byte 3: nesting deeper than 3");
	refuses("{\"a\":{\"b\":{\"c\":{}}}}", &three, "byte 15: nesting "
	    "deeper than 3");
	accepts("1", &zero);
	refuses("[]", &zero, "byte 0: nesting deeper than 0");
}

/* A megabyte of '[' must be refused at the limit, not on the stack. */
static void
test_hostile_depth_is_cheap(void **state)
{
	const struct jsonscan_opts huge = { .max_depth = 4000000 };
	size_t n = 1 << 20;
	char *doc = malloc(2 * n);
	char err[128];

	(void)state;
	assert_non_null(doc);
	memset(doc, '[', n);
	assert_int_equal(jsonscan_validate(doc, n, &strict, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "byte 0: top-level value must be an object");
	assert_int_equal(jsonscan_validate(doc, n, &lax, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "byte 64: nesting deeper than 64");
	/* Without a useful limit it still ends, iteratively. */
	memset(doc + n, ']', n);
	assert_int_equal(jsonscan_validate(doc, 2 * n, &huge, err,
	    sizeof(err)), 0);
	free(doc);
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 200000 keys in one object: sorting, not pairwise comparison. */
static void
test_huge_object_stays_fast(void **state)
{
	const size_t nkeys = 200000;
	size_t cap = nkeys * 24 + 16, o = 0;
	char *doc = malloc(cap);
	char err[128];
	struct timespec t0;

	(void)state;
	assert_non_null(doc);
	doc[o++] = '{';
	for (size_t i = 0; i < nkeys; i++)
		o += (size_t)snprintf(doc + o, cap - o, "%s\"key%zu\":%zu",
		    i ? "," : "", (i * 7919) % nkeys, i);
	doc[o++] = '}';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(jsonscan_validate(doc, o, &strict, err,
	    sizeof(err)), 0);
	/* And the same with one duplicate at the very end. */
	o--;
	o += (size_t)snprintf(doc + o, cap - o, ",\"key0\":0}");
	assert_int_equal(jsonscan_validate(doc, o, &strict, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "duplicate key \"key0\""));
	assert_true(seconds_since(&t0) < 2.0);
	free(doc);
}

/* Every proper prefix of a valid document is refused, and nothing is read
 * past the prefix: each one is copied into a buffer of exactly its size. */
static void
test_every_truncation_refused(void **state)
{
	static const char doc[] = "{\"rootURL\":\"https://tc.example.com\","
	    "\"n\":[1,-2.5e+3,true,false,null,{}],\"s\":\"\\u00e9\\ud83d"
	    "\\ude00\xc3\xa9\xf0\x9f\x98\x80\\n\",\"o\":{\"k\":\"v\"}}";
	size_t len = sizeof(doc) - 1;
	char err[256];

	(void)state;
	accepts(doc, &strict);
	for (size_t n = 0; n < len; n++) {
		char *prefix = malloc(n ? n : 1);

		assert_non_null(prefix);
		memcpy(prefix, doc, n);
		if (jsonscan_validate(prefix, n, &strict, err,
		    sizeof(err)) != -1)
			fail_msg("prefix of %zu bytes accepted", n);
		assert_true(strncmp(err, "byte ", 5) == 0);
		free(prefix);
	}
}

static void
test_small_error_buffer_is_safe(void **state)
{
	char err[8];

	(void)state;
	assert_int_equal(jsonscan_validate("[1,", 3, &lax, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "byte 3:");
	assert_int_equal(jsonscan_validate("{\"a\":1,\"a\":1}", 13, &strict,
	    NULL, 0), -1);
}

/* The chain-of-trust splice's guard: a refused key at the top level is
 * refused however it is spelt; the same key deeper down, or with or
 * without duplicate detection, is not the scanner's business. */
static void
test_refused_top_keys(void **state)
{
	static const char *const worker[] = { "artifacts", "environment",
	    NULL };
	struct jsonscan_opts o = strict;
	struct jsonscan_opts nodup = lax;

	(void)state;
	o.refuse_top_keys = worker;
	nodup.refuse_top_keys = worker;
	accepts("{\"imageHash\": \"x\", \"a\": {\"artifacts\": 1}}", &o);
	accepts("[{\"artifacts\": 1}]", &nodup);
	accepts("{\"artifact\": 1, \"environments\": 2}", &o);
	refuses("{\"a\": 1, \"artifacts\": {}}", &o,
	    "byte 9: key \"artifacts\" is not allowed here");
	refuses("{\"\\u0061rtifacts\": 1}", &o,
	    "byte 1: key \"artifacts\" is not allowed here");
	refuses("{\"env\\u0069ronment\": 1}", &nodup,
	    "byte 1: key \"environment\" is not allowed here");
	/* Without duplicate detection the arena does not keep keys: each
	 * is checked on its own. */
	refuses("{\"x\": 1, \"y\": 2, \"environment\": 3}", &nodup,
	    "byte 17: key \"environment\" is not allowed here");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_documents_accepted),
		cmocka_unit_test(test_structure_errors_named),
		cmocka_unit_test(test_top_level_object_required),
		cmocka_unit_test(test_nul_and_bom_refused),
		cmocka_unit_test(test_string_errors_named),
		cmocka_unit_test(test_surrogates_must_pair),
		cmocka_unit_test(test_invalid_utf8_named),
		cmocka_unit_test(test_number_grammar_enforced),
		cmocka_unit_test(test_literals_exact),
		cmocka_unit_test(test_duplicate_keys_named),
		cmocka_unit_test(test_long_duplicate_key_cut_in_message),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_hostile_depth_is_cheap),
		cmocka_unit_test(test_huge_object_stays_fast),
		cmocka_unit_test(test_every_truncation_refused),
		cmocka_unit_test(test_small_error_buffer_is_safe),
		cmocka_unit_test(test_refused_top_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
