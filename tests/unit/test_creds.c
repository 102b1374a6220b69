/*
 * The task proxy's credentials, certificates and scopes (proxyd/creds.c):
 * what is taken, what is refused and how it is said, that no secret
 * outlives the parse in json-c's memory, and the escaping of the scopes
 * headers.
 */
#include <dlfcn.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "tests/testutil.h"

#include "common/json.h"
#include "common/util.h"
#include "proxyd/creds.h"

/* vectors.json "temporary_credentials"[0] (reference §3.5). */
#define VEC_SEED	"JYR4wzMCTG6XeDS2cDUCMwH0RFUXGfQjK7LgqD-e6lSQ"
#define VEC_TOKEN	"R4OVHWpIvy6KsqS4AWE51QwbvgLvsstS6e6UW8IfHUY"
#define VEC_SIGNATURE	"45AlB/hKZZZz4Tf3NaidutasfgBnr4t2AxwBiGDQF9Q="
#define VEC_CERT							\
	"{\"version\":1,\"scopes\":[\"scope/asd:fhjdf/X\","		\
	"\"scope/asd:fhjdf/XYZ*\"],\"start\":1438964811744,"		\
	"\"expiry\":1439051211744,\"seed\":\"" VEC_SEED "\","		\
	"\"signature\":\"" VEC_SIGNATURE "\"}"

/* A token that must never show in a message, nor any piece of it. */
#define SECRET		"Zq9-Tk4Xv7Wm"

/*
 * json_object_put, interposed: while watching, a document creds_parse
 * hands back to json-c must hold nothing but zeroed strings.  The real
 * put's own calls for the children pass straight through.
 */
static bool	watching;
static int	puts_watched, puts_unwiped, put_depth;

static bool
strings_all_zero(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_string: {
		const char *s = json_object_get_string(v);

		for (int i = 0; i < json_object_get_string_len(v); i++)
			if (s[i] != '\0')
				return false;
		return true;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!strings_all_zero(json_object_array_get_idx(v, i)))
				return false;
		return true;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			(void)key;
			if (!strings_all_zero(val))
				return false;
		}
		return true;
	}
	default:
		return true;
	}
}

int
json_object_put(struct json_object *obj)
{
	static int (*real_put)(struct json_object *);
	int rc;

	if (real_put == NULL)
		real_put = (int (*)(struct json_object *))dlsym(RTLD_NEXT,
		    "json_object_put");
	if (watching && put_depth == 0 && obj != NULL) {
		puts_watched++;
		if (!strings_all_zero(obj))
			puts_unwiped++;
	}
	put_depth++;
	rc = real_put(obj);
	put_depth--;
	return rc;
}

static int
parse(const char *doc, struct tc_creds *c, char *err, size_t errlen)
{
	int rc;

	watching = true;
	rc = creds_parse(doc, strlen(doc), c, err, errlen);
	watching = false;
	return rc;
}

static void
refused(const char *doc, const char *want)
{
	struct tc_creds c;
	char err[256] = "";

	if (parse(doc, &c, err, sizeof(err)) != -1)
		fail_msg("took %s", doc);
	assert_string_equal(err, want);
	assert_null(c.client_id);
	assert_null(c.access_token);
	assert_null(c.certificate);
}

static void
test_permanent_credentials(void **state)
{
	static const char *const docs[] = {
		"{\"clientId\":\"tester\",\"accessToken\":\"no-secret\"}",
		" {\"accessToken\": \"no-secret\", \"clientId\": \"tester\", "
		    "\"certificate\": \"\"}\n",
	};
	struct tc_creds c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < nitems(docs); i++) {
		assert_int_equal(parse(docs[i], &c, err, sizeof(err)), 0);
		assert_string_equal(c.client_id, "tester");
		assert_string_equal(c.access_token, "no-secret");
		/* Go's "" certificate: permanent credentials. */
		assert_null(c.certificate);
		creds_free(&c);
		assert_null(c.client_id);
		assert_null(c.access_token);
	}
}

static void
test_temporary_credentials(void **state)
{
	struct json_object *o;
	struct tc_creds c;
	char *doc, err[256];

	(void)state;
	/* As a client would write them: the certificate a JSON string. */
	o = json_object_new_object();
	json_object_object_add(o, "clientId",
	    json_object_new_string("task-client/T/0/on/g/w/until/1"));
	json_object_object_add(o, "accessToken",
	    json_object_new_string(VEC_TOKEN));
	json_object_object_add(o, "certificate",
	    json_object_new_string(VEC_CERT));
	doc = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	assert_int_equal(parse(doc, &c, err, sizeof(err)), 0);
	assert_string_equal(c.client_id, "task-client/T/0/on/g/w/until/1");
	assert_string_equal(c.access_token, VEC_TOKEN);
	assert_string_equal(c.certificate, VEC_CERT);
	creds_free(&c);
	assert_null(c.certificate);
	/* Freeing twice, or what was never filled, is fine. */
	creds_free(&c);
	free(doc);
}

static void
test_refusals_name_the_problem(void **state)
{
	(void)state;
	refused("[]", "credentials: not a JSON object");
	refused("\"tester\"", "credentials: not a JSON object");
	refused("null", "credentials: the document is null, not a value that "
	    "can be used");
	refused("", "credentials: byte 0: not strict JSON");
	refused("{\"clientId\":\"a\",\"accessToken\":\"t\"} {}",
	    "credentials: byte 35: not strict JSON");
	refused("{\"clientId\":\"a\",\"clientId\":\"b\",\"accessToken\":\"t\"}",
	    "credentials: byte 16: duplicate key \"clientId\"");
	refused("{\"clientId\":\"a\",\"accessToken\":\"t\",\"scopes\":[]}",
	    "credentials: unknown key \"scopes\"");
	refused("{\"clientid\":\"a\",\"accessToken\":\"t\"}",
	    "credentials: unknown key \"clientid\"");
	refused("{\"clientId\":\"a\",\"accessToken\":\"t\",\"\\u001b[31m\":1}",
	    "credentials: unknown key \"?[31m\"");
	refused("{\"clientId\":\"\",\"accessToken\":\"t\"}",
	    "credentials: \"clientId\" must not be empty");
	refused("{\"accessToken\":\"t\"}", "credentials: \"clientId\" is "
	    "missing");
	refused("{\"clientId\":\"a\"}", "credentials: \"accessToken\" is "
	    "missing");
	refused("{\"clientId\":\"a\",\"accessToken\":42}",
	    "credentials: \"accessToken\" must be a string");
	refused("{\"clientId\":\"a\",\"accessToken\":null}",
	    "credentials: \"accessToken\" must be a string");
	refused("{\"clientId\":\"a\",\"accessToken\":\"t\\u0001\"}",
	    "credentials: \"accessToken\" must be printable ASCII (0x20-0x7e)");
	refused("{\"clientId\":\"a\\u00e9\",\"accessToken\":\"t\"}",
	    "credentials: \"clientId\" must be printable ASCII (0x20-0x7e)");
	refused("{\"clientId\":\"a\",\"accessToken\":\"t\\u0000u\"}",
	    "credentials: \"accessToken\" must not contain a NUL character");
	refused("{\"clientId\":\"a\",\"accessToken\":\"t\\n\"}",
	    "credentials: \"accessToken\" must be printable ASCII (0x20-0x7e)");
	refused("{\"clientId\":\"a\",\"accessToken\":\"t\",\"certificate\":"
	    "null}", "credentials: \"certificate\" must be a string");
	refused("{\"clientId\":\"a\",\"accessToken\":\"t\",\"certificate\":"
	    "{\"version\":1}}",
	    "credentials: \"certificate\" must be a string");
}

/* However the document is wrong, the message holds no byte of the token:
 * jsonscan would otherwise quote the byte it stopped at. */
static void
test_messages_never_quote_the_token(void **state)
{
	static const char *const docs[] = {
		"{\"clientId\":\"a\",\"accessToken\":" SECRET "}",
		"{\"clientId\":\"a\",\"accessToken\":\"" SECRET "\x01\"}",
		"{\"clientId\":\"a\",\"accessToken\":\"" SECRET "\\q\"}",
		"{\"clientId\":\"a\",\"accessToken\":\"" SECRET "\\ud800\"}",
		"{\"clientId\":\"a\",\"accessToken\":\"" SECRET "\xff\"}",
		"{\"clientId\":\"a\",\"accessToken\":\"" SECRET "\x7f\"}",
		"{\"clientId\":\"a\",\"accessToken\":\"" SECRET "\\u0007\"}",
		"{\"clientId\":\"a\",\"accessToken\":\"" SECRET "\"" SECRET "}",
		"{\"clientId\":\"a\",\"accessToken\":[\"" SECRET "\"]}",
		"{\"clientId\":\"\",\"accessToken\":\"" SECRET "\"}",
		"{\"accessToken\":\"" SECRET "\"}",
		"{\"clientId\":\"a\",\"accessToken\":\"" SECRET "\",\"x\":1}",
		"{\"clientId\":\"a\",\"accessToken\":\"" SECRET "\"",
		("{\"clientId\":\"a\",\"accessToken\":\"" SECRET),
	};
	static const char secret[] = SECRET;
	struct tc_creds c;
	char err[256], piece[4];

	(void)state;
	for (size_t i = 0; i < nitems(docs); i++) {
		err[0] = '\0';
		if (parse(docs[i], &c, err, sizeof(err)) != -1)
			fail_msg("took document %zu", i);
		assert_true(err[0] != '\0');
		assert_null(strchr(err, '\''));
		/* No three characters of the token in a row, anywhere. */
		for (size_t k = 0; k + 3 <= strlen(secret); k++) {
			memcpy(piece, &secret[k], 3);
			piece[3] = '\0';
			if (strstr(err, piece) != NULL)
				fail_msg("document %zu: \"%s\" quotes "
				    "\"%s\"", i, err, piece);
		}
	}
}

/* Every string json-c held is zero before json-c frees it, whether the
 * parse succeeds or is refused after parsing, however deep. */
static void
test_every_string_wiped_before_free(void **state)
{
	static const char *const docs[] = {
		"{\"clientId\":\"tester\",\"accessToken\":\"no-secret\"}",
		"{\"clientId\":\"tester\",\"accessToken\":\"no-secret\","
		    "\"certificate\":\"" "{\\\"version\\\":1}" "\"}",
		"{\"clientId\":\"tester\",\"accessToken\":\"no-secret\","
		    "\"extra\":[\"s1\",{\"k\":\"s2\"},[[\"s3\"]]]}",
		"{\"clientId\":\"\",\"accessToken\":\"no-secret\"}",
		"{\"clientId\":\"tester\",\"accessToken\":"
		    "\"no-secret\\u0001\"}",
		"{\"clientId\":\"tester\",\"accessToken\":\"no-secret\","
		    "\"certificate\":7}",
		"[\"no-secret\",{\"a\":\"no-secret\"}]",
		"\"no-secret\"",
	};
	struct tc_creds c;
	char err[256];

	(void)state;
	puts_watched = puts_unwiped = 0;
	for (size_t i = 0; i < nitems(docs); i++) {
		(void)parse(docs[i], &c, err, sizeof(err));
		creds_free(&c);
	}
	assert_int_equal(puts_watched, nitems(docs));
	assert_int_equal(puts_unwiped, 0);
}

static void
test_size_limit(void **state)
{
	size_t len = CREDS_MAX_BYTES + 1;
	char *doc = malloc(len), want[128];
	struct tc_creds c;
	char err[256];

	(void)state;
	memset(doc, ' ', len);
	memcpy(doc, "{}", 2);
	assert_int_equal(creds_parse(doc, len, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "credentials: %zu bytes exceeds the "
	    "limit of %zu", len, (size_t)CREDS_MAX_BYTES);
	assert_string_equal(err, want);
	free(doc);
}

static void
cert_refused(const char *cert, const char *want)
{
	struct tc_cert c;
	char err[256] = "";

	if (cert_parse(cert, &c, err, sizeof(err)) != -1)
		fail_msg("took %s", cert);
	assert_string_equal(err, want);
	assert_null(c.scopes);
	assert_int_equal(c.nscopes, 0);
	assert_null(c.issuer);
}

static void
test_cert_from_vectors(void **state)
{
	struct tc_cert c;
	char err[256];

	(void)state;
	assert_int_equal(cert_parse(VEC_CERT, &c, err, sizeof(err)), 0);
	assert_int_equal(c.version, 1);
	assert_int_equal(c.nscopes, 2);
	assert_string_equal(c.scopes[0], "scope/asd:fhjdf/X");
	assert_string_equal(c.scopes[1], "scope/asd:fhjdf/XYZ*");
	assert_true(c.start == 1438964811744);
	assert_true(c.expiry == 1439051211744);
	assert_null(c.issuer);
	cert_free(&c);
	assert_null(c.scopes);
	cert_free(&c);
}

/* Named temporary credentials (authorization_test.go's
 * CreateNamedTemporaryCredentials) carry issuer; no scopes is fine. */
static void
test_named_cert_and_empty_scopes(void **state)
{
	static const char cert[] = "{\"version\":1,\"scopes\":[],"
	    "\"start\":0,\"expiry\":9223372036854775807,\"seed\":\"" VEC_SEED
	    "\",\"signature\":\"x\",\"issuer\":\"tester\"}";
	struct tc_cert c;
	char err[256];

	(void)state;
	assert_int_equal(cert_parse(cert, &c, err, sizeof(err)), 0);
	assert_int_equal(c.nscopes, 0);
	assert_non_null(c.scopes);
	assert_true(c.start == 0);
	assert_true(c.expiry == INT64_MAX);
	assert_string_equal(c.issuer, "tester");
	cert_free(&c);
}

static void
test_cert_junk_refused(void **state)
{
	(void)state;
	/* authorization_test.go TestBadCredsReturns500: Go answers 500. */
	cert_refused("ghi", "certificate: byte 0: not strict JSON");
	/* A caller that wants no message need not give a buffer. */
	assert_int_equal(cert_parse("{\"x\":1}", &(struct tc_cert){ 0 }, NULL,
	    0), -1);
	assert_int_equal(creds_parse("{}", 2, &(struct tc_creds){ 0 }, NULL,
	    0), -1);
	cert_refused("", "certificate: byte 0: not strict JSON");
	cert_refused("[]", "certificate: not a JSON object");
	cert_refused("{}", "certificate: \"version\" must be 1");
	/* credentials_update_test.go's certificate: Go's lenient Unmarshal
	 * takes it, the auth service would not. */
	cert_refused("{\"version\":1,\"scopes\":[\"scope1\"]}",
	    "certificate: \"start\" is missing");
	cert_refused("{\"version\":2,\"scopes\":[]}",
	    "certificate: \"version\" must be 1");
	cert_refused("{\"version\":\"1\"}", "certificate: \"version\" must "
	    "be 1");
	cert_refused("{\"version\":1.0}", "certificate: \"version\" must "
	    "be 1");
	cert_refused("{\"version\":1}", "certificate: \"scopes\" is missing");
	cert_refused("{\"version\":1,\"scopes\":\"a\"}",
	    "certificate: \"scopes\" must be an array of strings");
	cert_refused("{\"version\":1,\"scopes\":[\"a\",2]}",
	    "certificate: scope 1 must be a string of printable ASCII "
	    "(0x20-0x7e)");
	cert_refused("{\"version\":1,\"scopes\":[\"a\\u0000b\"]}",
	    "certificate: scope 0 must be a string of printable ASCII "
	    "(0x20-0x7e)");
	cert_refused("{\"version\":1,\"scopes\":[\"\\n\"]}",
	    "certificate: scope 0 must be a string of printable ASCII "
	    "(0x20-0x7e)");
	cert_refused("{\"version\":1,\"scopes\":[],\"start\":-1}",
	    "certificate: \"start\" must be an integer from 0 to "
	    "9223372036854775807");
	cert_refused("{\"version\":1,\"scopes\":[],\"start\":1.5}",
	    "certificate: \"start\" must be an integer from 0 to "
	    "9223372036854775807");
	cert_refused("{\"version\":1,\"scopes\":[],\"start\":1,"
	    "\"expiry\":9223372036854775808}", "certificate: \"expiry\" must "
	    "be an integer from 0 to 9223372036854775807");
	cert_refused("{\"version\":1,\"scopes\":[],\"start\":1,\"expiry\":2}",
	    "certificate: \"seed\" is missing");
	cert_refused("{\"version\":1,\"scopes\":[],\"start\":1,\"expiry\":2,"
	    "\"seed\":3}", "certificate: \"seed\" must be a string");
	cert_refused("{\"version\":1,\"scopes\":[],\"start\":1,\"expiry\":2,"
	    "\"seed\":\"s\"}", "certificate: \"signature\" is missing");
	cert_refused("{\"version\":1,\"scopes\":[],\"start\":1,\"expiry\":2,"
	    "\"seed\":\"s\",\"signature\":\"x\",\"issuer\":null}",
	    "certificate: \"issuer\" must be a string");
	cert_refused("{\"version\":1,\"scopes\":[],\"start\":1,\"expiry\":2,"
	    "\"seed\":\"s\",\"signature\":\"x\",\"clientId\":\"c\"}",
	    "certificate: unknown key \"clientId\"");
	cert_refused("{\"version\":1,\"version\":1}",
	    "certificate: byte 13: duplicate key \"version\"");
	/* The message says where, not what (it could be a token's byte). */
	cert_refused(VEC_CERT " x", "certificate: byte 226: not strict JSON");
	assert_int_equal(strlen(VEC_CERT " "), 226);
}

static void
check_scopes_json(const char *const *scopes, size_t n, const char *want)
{
	char *got = scopes_json(scopes, n);

	assert_string_equal(got, want);
	for (const char *p = got; *p != '\0'; p++)
		assert_true(*p >= 0x20 && *p <= 0x7e);
	free(got);
}

static void
test_scopes_json_escapes_as_go(void **state)
{
	static const char *const plain[] = { "secrets:get:garbage/pmoore/foo" };
	static const char *const two[] = { "a", "b*" };
	static const char *const quoting[] = { "q\"b\\s", "<a>&", "\n\r\t\b\f",
	    "\x01\x1f\x7f" };
	static const char *const utf8[] = { "\xc3\xa9", "\xe2\x80\xa8",
	    "\xf0\x9f\x98\x80", "\xff", "\xe2\x82", "a\xc0\xafz" };

	(void)state;
	check_scopes_json(NULL, 0, "[]");
	/* authorization_test.go TestOversteppedScopes's header. */
	check_scopes_json(plain, 1, "[\"secrets:get:garbage/pmoore/foo\"]");
	check_scopes_json(two, 2, "[\"a\",\"b*\"]");
	/* Go: \" \\, HTML-safe \u003c \u003e \u0026, \n \r \t, and since
	 * Go 1.22 \b \f; other controls \u00XX.  DEL is ours. */
	check_scopes_json(quoting, 4, "[\"q\\\"b\\\\s\",\"\\u003ca\\u003e"
	    "\\u0026\",\"\\n\\r\\t\\b\\f\",\"\\u0001\\u001f\\u007f\"]");
	/* Non-ASCII as \u escapes (Go writes it raw but for U+2028/9),
	 * astral planes as a surrogate pair, each bad byte U+FFFD. */
	check_scopes_json(utf8, 6, "[\"\\u00e9\",\"\\u2028\","
	    "\"\\ud83d\\ude00\","
	    "\"\\ufffd\",\"\\ufffd\\ufffd\",\"a\\ufffd\\ufffdz\"]");
}

/* What scopes_json writes reads back as the same strings. */
static void
test_scopes_json_round_trips(void **state)
{
	static const char *const scopes[] = { "", "queue:create-artifact:T/0",
	    "a\"b\\c</script>&", "\x01\x7f\n", "\xc3\xa9\xf0\x9f\x98\x80" };
	struct json_object *o;
	char *s, err[256];

	(void)state;
	s = scopes_json(scopes, nitems(scopes));
	o = json_parse_strict(s, strlen(s), 4096, 2, err, sizeof(err));
	assert_non_null(o);
	assert_int_equal(json_object_array_length(o), nitems(scopes));
	for (size_t i = 0; i < nitems(scopes); i++)
		assert_string_equal(json_object_get_string(
		    json_object_array_get_idx(o, i)), scopes[i]);
	json_object_put(o);
	free(s);
}

static void
lines_give(const char *buf, size_t len, size_t n, const char *const *want)
{
	char **got, err[128];
	size_t count;

	assert_int_equal(scopes_parse_lines(buf, len, &got, &count, err,
	    sizeof(err)), 0);
	assert_non_null(got);
	assert_int_equal(count, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got[i], want[i]);
	scopes_free(got, count);
}

static void
lines_refused(const char *buf, size_t len, const char *want)
{
	char **got = (char **)1, err[128];
	size_t count = 1;

	assert_int_equal(scopes_parse_lines(buf, len, &got, &count, err,
	    sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(got);
	assert_int_equal(count, 0);
}

static void
test_scope_lines(void **state)
{
	static const char *const ab[] = { "a", "b" };
	static const char *const gap[] = { "a", "", "b c" };
	static const char *const empty[] = { "" };

	(void)state;
	lines_give("", 0, 0, NULL);
	lines_give("a\nb", 3, 2, ab);
	lines_give("a\nb\n", 4, 2, ab);
	lines_give("a\n\nb c\n", 7, 3, gap);
	lines_give("\n", 1, 1, empty);
	lines_refused("a\nb\tc\n", 6, "scopes: line 2: byte 0x09 is not "
	    "printable ASCII");
	lines_refused("a\nb\nc\0", 6, "scopes: line 3: byte 0x00 is not "
	    "printable ASCII");
	lines_refused("\xc3\xa9", 2, "scopes: line 1: byte 0xc3 is not "
	    "printable ASCII");
	lines_refused("a\r\n", 3, "scopes: line 1: byte 0x0d is not "
	    "printable ASCII");
}

static void
test_scope_line_limits(void **state)
{
	size_t len = 2 * SCOPES_MAX_COUNT + 2;
	char *buf = malloc(SCOPES_MAX_BYTES + 1), **got, err[128], want[128];
	size_t n;

	(void)state;
	for (size_t i = 0; i < len; i += 2)
		memcpy(buf + i, "s\n", 2);
	assert_int_equal(scopes_parse_lines(buf, len - 2, &got, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, SCOPES_MAX_COUNT);
	scopes_free(got, n);
	snprintf(want, sizeof(want), "scopes: %d scopes, more than the %d "
	    "allowed", SCOPES_MAX_COUNT + 1, SCOPES_MAX_COUNT);
	lines_refused(buf, len, want);
	/* One scope of the whole size is fine; a byte more is not. */
	memset(buf, 'x', SCOPES_MAX_BYTES + 1);
	assert_int_equal(scopes_parse_lines(buf, SCOPES_MAX_BYTES, &got, &n,
	    err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(strlen(got[0]), SCOPES_MAX_BYTES);
	scopes_free(got, n);
	snprintf(want, sizeof(want), "scopes: %u bytes, more than the %u "
	    "allowed", SCOPES_MAX_BYTES + 1, SCOPES_MAX_BYTES);
	lines_refused(buf, SCOPES_MAX_BYTES + 1, want);
	free(buf);
}

static int
setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_permanent_credentials),
		cmocka_unit_test(test_temporary_credentials),
		cmocka_unit_test(test_refusals_name_the_problem),
		cmocka_unit_test(test_messages_never_quote_the_token),
		cmocka_unit_test(test_every_string_wiped_before_free),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_cert_from_vectors),
		cmocka_unit_test(test_named_cert_and_empty_scopes),
		cmocka_unit_test(test_cert_junk_refused),
		cmocka_unit_test(test_scopes_json_escapes_as_go),
		cmocka_unit_test(test_scopes_json_round_trips),
		cmocka_unit_test(test_scope_lines),
		cmocka_unit_test(test_scope_line_limits),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
