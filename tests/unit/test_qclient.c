/* proxyd/qclient.c's pure parts: path escaping as Go's url.PathEscape,
 * URLs as taskcluster-lib-urls makes them, the backoff's schedule, and
 * the calls refused before anything is sent. */
#include <sodium.h>
#include <string.h>

#include <curl/curl.h>

#include "tests/testutil.h"

#include "common/util.h"
#include "proxyd/backoff.h"
#include "proxyd/qclient.h"

static void
escape_is(const char *in, const char *want)
{
	char *got = qc_escape(in);

	assert_string_equal(got, want);
	free(got);
}

/* Expected values from Go's rules (net/url shouldEscape with
 * encodePathSegment): letters, digits, "-_.~" and the reserved "$&+:=@"
 * stay; '/', ';', ',', '?' and everything else, the other sub-delims
 * "!'()*" included, become %XX in upper case. */
static void
test_escape_as_go_path_escape(void **state)
{
	(void)state;
	escape_is("", "");
	escape_is("abc", "abc");
	escape_is("abc+def", "abc+def");
	escape_is("proj/linux", "proj%2Flinux");
	escape_is("public/logs/live.log", "public%2Flogs%2Flive.log");
	escape_is("one two", "one%20two");
	escape_is("10%", "10%25");
	escape_is("AZaz09-_.~", "AZaz09-_.~");
	escape_is("$&+:=@", "$&+:=@");
	escape_is("!'()*,;?", "%21%27%28%29%2A%2C%3B%3F");
	escape_is("#\"<>[]{}|\\^`", "%23%22%3C%3E%5B%5D%7B%7D%7C%5C%5E%60");
	escape_is("\t\n\x7f", "%09%0A%7F");
	/* UTF-8 byte by byte. */
	escape_is("\xe2\x98\xba", "%E2%98%BA");
	/* Go's own test vector (net/url url_test.go pathEscapeTests). */
	escape_is(" ?&=#+%!<>#\"{}|\\^[]`\xe2\x98\xba\t:/@$'()*,;",
	    "%20%3F&=%23+%25%21%3C%3E%23%22%7B%7D%7C%5C%5E%5B%5D%60%E2%98%BA"
	    "%09:%2F@$%27%28%29%2A%2C%3B");
}

static void
url_is(const char *root, const char *svc, const char *path, const char *want)
{
	char *got = qc_url(root, svc, path);

	assert_string_equal(got, want);
	free(got);
}

static void
test_url_as_lib_urls(void **state)
{
	(void)state;
	url_is("https://tc.example.com", "queue", "claim-work/p%2Fw",
	    "https://tc.example.com/api/queue/v1/claim-work/p%2Fw");
	url_is("https://tc.example.com/", "queue", "claim-work/p%2Fw",
	    "https://tc.example.com/api/queue/v1/claim-work/p%2Fw");
	url_is("https://tc.example.com//", "worker-manager", "/workers/a",
	    "https://tc.example.com/api/worker-manager/v1/workers/a");
	url_is("http://127.0.0.1:8080/", "auth", "scopes/current",
	    "http://127.0.0.1:8080/api/auth/v1/scopes/current");
	url_is("https://tc.example.com", "object", "",
	    "https://tc.example.com/api/object/v1/");
}

/* 500 ms x1.5 per attempt, capped at 60 s, then +-50 %. */
static void
test_backoff_schedule(void **state)
{
	static const struct { unsigned attempt; double base; } want[] = {
		{ 1, 500 }, { 2, 750 }, { 3, 1125 }, { 10, 19221.6 },
		{ 13, 60000 }, { 40, 60000 },
	};

	(void)state;
	for (size_t i = 0; i < nitems(want); i++)
		for (int k = 0; k < 200; k++) {
			uint64_t ms = backoff_ms(want[i].attempt);

			assert_true(ms >= (uint64_t)(want[i].base * 0.5));
			assert_true(ms <= (uint64_t)(want[i].base * 1.5) + 1);
		}
}

static const struct qc_call base_call = {
	.root_url = "http://127.0.0.1:1", .service = "auth", .method = "GET",
	.path = "scopes/current", .max_response = 1024,
};

static void
test_bad_root_url_sends_nothing(void **state)
{
	struct qc_call c = base_call;
	struct qc_result r;

	(void)state;
	c.root_url = "http://user@tc.example.com";
	assert_int_equal(qc_do(&c, &r), -1);
	assert_int_equal(r.attempts, 0);
	assert_non_null(strstr(r.err, "userinfo"));
	qc_result_free(&r);
}

static void
test_bad_certificate_sends_nothing(void **state)
{
	struct tc_creds cr = { "c", "t", "{not json" };
	struct qc_call c = base_call;
	struct qc_result r;

	(void)state;
	c.creds = &cr;
	assert_int_equal(qc_do(&c, &r), -1);
	assert_int_equal(r.attempts, 0);
	assert_int_equal(r.status, 0);
	assert_true(r.err[0] != '\0');
	qc_result_free(&r);
}

/* Nothing listens on port 1: a network error, retried until the budget
 * is gone -- with no budget, after the first attempt. */
static void
test_network_error_within_budget(void **state)
{
	struct qc_call c = base_call;
	struct qc_result r;

	(void)state;
	assert_int_equal(qc_do(&c, &r), -1);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(r.status, 0);
	assert_null(r.body);
	assert_true(r.err[0] != '\0');
	qc_result_free(&r);

	c.max_elapsed_s = 2;
	assert_int_equal(qc_do(&c, &r), -1);
	assert_true(r.attempts >= 2);
	qc_result_free(&r);
}

static int
setup(void **state)
{
	(void)state;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	return sodium_init() < 0 ? -1 : 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_as_go_path_escape),
		cmocka_unit_test(test_url_as_lib_urls),
		cmocka_unit_test(test_backoff_schedule),
		cmocka_unit_test(test_bad_root_url_sends_nothing),
		cmocka_unit_test(test_bad_certificate_sends_nothing),
		cmocka_unit_test(test_network_error_within_budget),
	};

	return cmocka_run_group_tests_name("qclient", tests, setup, NULL);
}
