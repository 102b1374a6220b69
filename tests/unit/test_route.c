/*
 * The task proxy's routing (proxyd/route.c) against taskcluster-proxy's:
 * the reference's examples (§2.3, §6.3), the cases its own Go tests pin
 * (each names the test it comes from), and the corners of routes.go and
 * services.go that no Go test reaches.
 */
#include <regex.h>
#include <string.h>

#include "tests/testutil.h"

#include "proxyd/route.h"

#define ROOT		"https://tc.example.com"
#define LOCAL_ROOT	"http://127.0.0.1:4567"	/* an httptest.Server's URL */

static void
expect_forward(const char *root, const char *target, const char *url)
{
	struct route r;

	if (route_target(root, target, &r) != 0)
		fail_msg("%s: refused, expected %s", target, url);
	if (r.kind != ROUTE_FORWARD)
		fail_msg("%s: kind %d (%s), expected %s", target, r.kind,
		    r.body ? r.body : "", url);
	if (strcmp(r.url, url) != 0)
		fail_msg("%s: got %s, expected %s", target, r.url, url);
	assert_null(r.body);
	route_free(&r);
}

static void
expect_not_found(const char *target, const char *body)
{
	struct route r;

	if (route_target(ROOT, target, &r) != 0)
		fail_msg("%s: refused, expected a 404", target);
	if (r.kind != ROUTE_NOT_FOUND)
		fail_msg("%s: kind %d (%s), expected a 404", target, r.kind,
		    r.url ? r.url : "");
	if (strcmp(r.body, body) != 0)
		fail_msg("%s: body \"%s\", expected \"%s\"", target, r.body,
		    body);
	assert_null(r.url);
	route_free(&r);
}

static void
expect_kind(const char *target, enum route_kind kind)
{
	struct route r;

	if (route_target(ROOT, target, &r) != 0 || r.kind != kind)
		fail_msg("%s: not routed as kind %d", target, kind);
	assert_null(r.url);
	assert_null(r.body);
	route_free(&r);
}

static void
expect_refused(const char *target)
{
	struct route r;

	if (route_target(ROOT, target, &r) != -1)
		fail_msg("%s: routed (kind %d), expected a 400", target,
		    r.kind);
	assert_null(r.url);
	assert_null(r.body);
}

/* Reference §2.3 and the task's-eye view of §6.2. */
static void
test_reference_examples(void **state)
{
	(void)state;
	expect_forward(ROOT, "/queue/v1/task/X/artifacts/a%2Fb",
	    ROOT "/api/queue/v1/task/X/artifacts/a%2Fb");
	expect_forward(ROOT, "/queue/v1/task/T/artifacts/"
	    "SampleArtifacts%2F_%2FX.txt", ROOT "/api/queue/v1/task/T/"
	    "artifacts/SampleArtifacts%2F_%2FX.txt");
	expect_forward(ROOT, "/api/queue/v1/task/X",
	    ROOT "/api/queue/v1/task/X");
	expect_not_found("/x@/", "Unkown taskcluster service: x@ is not a "
	    "valid taskcluster service");
	expect_not_found("/api/queue", "invalid /api path");
	expect_forward(ROOT, "/example.com/v1/stuff",
	    "https://example.com/v1/stuff");
	expect_kind("/bewit", ROUTE_BEWIT);
	expect_kind("/credentials", ROUTE_CREDENTIALS);
}

/* The cases taskcluster-proxy's Go tests route, with the paths they use. */
static void
test_go_suite_cases(void **state)
{
	(void)state;
	/* services_test.go TestConvertPathForQueue (urlConversions):
	 * the URL's host is ignored, only its escaped path counts. */
	expect_forward(ROOT, "/queue/v1/y/z", ROOT "/api/queue/v1/y/z");
	expect_forward(ROOT, "/aws-provisioner/v1/y/z",
	    ROOT "/api/aws-provisioner/v1/y/z");
	expect_forward(ROOT, "/queue/v1/y%2fz", ROOT "/api/queue/v1/y%2fz");
	/* services.go ConvertPath's doc comment. */
	expect_forward(ROOT, "/queue/v1/stuff", ROOT "/api/queue/v1/stuff");
	expect_forward(ROOT, "/myserver.com/v1/stuff",
	    "https://myserver.com/v1/stuff");
	expect_forward(ROOT, "/api/queue/v1/stuff",
	    ROOT "/api/queue/v1/stuff");
	/* routes_test.go TestNonCanonicalUrls. */
	expect_forward(LOCAL_ROOT, "/queue/v1/double//slash/encode1%2F/"
	    "encode2%252F/encode3%25252F", LOCAL_ROOT "/api/queue/v1/"
	    "double//slash/encode1%2F/encode2%252F/encode3%25252F");
	/* routes_test.go TestHttpRedirects. */
	expect_forward(LOCAL_ROOT, "/redirector/v1/redirect-me",
	    LOCAL_ROOT "/api/redirector/v1/redirect-me");
	/* authorization_test.go TestAPICallGET (APIHandler). */
	expect_forward(ROOT, "/api/auth/v1/test-authenticate-get/",
	    ROOT "/api/auth/v1/test-authenticate-get/");
	/* authorization_test.go TestAPICallPOST (RootHandler). */
	expect_forward(ROOT, "/auth/v1/test-authenticate",
	    ROOT "/api/auth/v1/test-authenticate");
	/* authorization_test.go TestNon200HasErrorBody. */
	expect_forward(ROOT, "/queue/v1/task/Vq4ZkDrsTUWMszwk5sQFxA/schedule",
	    ROOT "/api/queue/v1/task/Vq4ZkDrsTUWMszwk5sQFxA/schedule");
	/* authorization_test.go TestOversteppedScopes and
	 * TestBadCredsReturns500: X-Taskcluster-Endpoint is
	 * tcurls.API(root, "secrets", "v1", "secret/garbage/pmoore/foo"). */
	expect_forward(ROOT, "/secrets/v1/secret/garbage/pmoore/foo",
	    ROOT "/api/secrets/v1/secret/garbage/pmoore/foo");
	/* authorization_test.go TestGetResponseBody. */
	expect_forward(ROOT, "/auth/v1/test-authenticate-get/",
	    ROOT "/api/auth/v1/test-authenticate-get/");
	/* authorization_test.go TestInvalidEndpoint: 404, no endpoint. */
	expect_not_found("/x@/", "Unkown taskcluster service: x@ is not a "
	    "valid taskcluster service");
	/* authorization_test.go TestBewit, TestBewitArbitraryURL. */
	expect_kind("/bewit", ROUTE_BEWIT);
	/* credentials_update_test.go TestCredentialsUpdate. */
	expect_kind("/credentials", ROUTE_CREDENTIALS);
}

/* ServeHTTP: strings.HasPrefix on r.URL.String(), query and all. */
static void
test_prefixes_match_the_whole_target(void **state)
{
	(void)state;
	expect_kind("/bewitness", ROUTE_BEWIT);
	expect_kind("/bewit/", ROUTE_BEWIT);
	expect_kind("/bewit?url=x", ROUTE_BEWIT);
	expect_kind("/credentials/x", ROUTE_CREDENTIALS);
	expect_kind("/credentialsXYZ?a=b", ROUTE_CREDENTIALS);
	/* "/api" is a prefix too: these never reach ConvertPath. */
	expect_not_found("/apis/v1/x", "invalid /api path");
	expect_not_found("/api?x=/a/b/c", "invalid /api path");
	/* Not the prefixes: case and escapes count. */
	expect_not_found("/Bewit/", "invalid path: expected "
	    "/Bewit/<apiVersion>/<path>");
	expect_not_found("/%62ewit", "Unkown taskcluster service: %62ewit is "
	    "not a valid taskcluster service");
	expect_not_found("//bewit", "Unkown taskcluster service:  is not a "
	    "valid taskcluster service");
	/* First match wins, even over what looks like a host. */
	expect_kind("/bewitx.com/y", ROUTE_BEWIT);
	expect_kind("/credentials.example.com/x", ROUTE_CREDENTIALS);
}

/* APIHandler: ^/api/([^/]*)/([^/]*)/(.*)$ on the escaped path. */
static void
test_api_paths(void **state)
{
	(void)state;
	expect_not_found("/api", "invalid /api path");
	expect_not_found("/api/", "invalid /api path");
	expect_not_found("/api/queue/v1", "invalid /api path");
	expect_not_found("/api/queue/v1?x=/y", "invalid /api path");
	expect_not_found("/api%2Fqueue/v1/x", "invalid /api path");
	expect_forward(ROOT, "/api/queue/v1/", ROOT "/api/queue/v1/");
	expect_forward(ROOT, "/api/queue/v1/?a=1", ROOT "/api/queue/v1/?a=1");
	/* Empty service and version match [^/]*. */
	expect_forward(ROOT, "/api//v1/x", ROOT "/api//v1/x");
	expect_forward(ROOT, "/api///x", ROOT "/api///x");
	/* tcurls.API trims every leading '/' of the path. */
	expect_forward(ROOT, "/api/queue/v1//x", ROOT "/api/queue/v1/x");
	expect_forward(ROOT, "/api/queue/v1///", ROOT "/api/queue/v1/");
	/* Anything in a segment but '/', escapes included. */
	expect_forward(ROOT, "/api/a%2Fb/v%31/c%2Fd",
	    ROOT "/api/a%2Fb/v%31/c%2Fd");
	expect_forward(ROOT, "/api/x@:y/v1/z", ROOT "/api/x@:y/v1/z");
	expect_forward(ROOT, "/api/queue/v1/a/../b/./c",
	    ROOT "/api/queue/v1/a/../b/./c");
}

/* ConvertPath slices path[i+1:] past the end for these and panics; net/http
 * drops the connection.  We answer 404. */
static void
test_short_service_paths_404_where_go_panics(void **state)
{
	(void)state;
	expect_not_found("/queue", "invalid path: expected "
	    "/queue/<apiVersion>/<path>");
	expect_not_found("/queue/", "invalid path: expected "
	    "/queue/<apiVersion>/<path>");
	expect_not_found("/queue/v1", "invalid path: expected "
	    "/queue/<apiVersion>/<path>");
	expect_not_found("/queue?a/b/c", "invalid path: expected "
	    "/queue/<apiVersion>/<path>");
	expect_not_found("/queue/v1?x=/y", "invalid path: expected "
	    "/queue/<apiVersion>/<path>");
	/* One more '/' and it routes: an empty path. */
	expect_forward(ROOT, "/queue/v1/", ROOT "/api/queue/v1/");
	/* An empty version is fine by Go. */
	expect_forward(ROOT, "/queue//x", ROOT "/api/queue//x");
}

static void
test_empty_and_bad_service_names(void **state)
{
	(void)state;
	expect_not_found("/", "Unkown taskcluster service:  is not a valid "
	    "taskcluster service");
	expect_not_found("//", "Unkown taskcluster service:  is not a valid "
	    "taskcluster service");
	expect_not_found("/?x=1", "Unkown taskcluster service:  is not a "
	    "valid taskcluster service");
	expect_not_found("//queue/v1/x", "Unkown taskcluster service:  is "
	    "not a valid taskcluster service");
	expect_not_found("/queue%2Fv1/task", "Unkown taskcluster service: "
	    "queue%2Fv1 is not a valid taskcluster service");
	expect_not_found("/queue_x/v1/y", "Unkown taskcluster service: "
	    "queue_x is not a valid taskcluster service");
	expect_not_found("/example.com:8080/x", "Unkown taskcluster service: "
	    "example.com:8080 is not a valid taskcluster service");
	expect_not_found("/-queue/v1/x", "Unkown taskcluster service: -queue "
	    "is not a valid taskcluster service");
	expect_not_found("/a..b/x", "Unkown taskcluster service: a..b is not "
	    "a valid taskcluster service");
	expect_not_found("/example.com./x", "Unkown taskcluster service: "
	    "example.com. is not a valid taskcluster service");
}

/* A dot in the first segment: https://<host>/<rest>, rest untrimmed. */
static void
test_dotted_first_segment_is_a_host(void **state)
{
	(void)state;
	expect_forward(ROOT, "/example.com/v1/x?y=1&z=%2F",
	    "https://example.com/v1/x?y=1&z=%2F");
	expect_forward(ROOT, "/example.com", "https://example.com/");
	expect_forward(ROOT, "/example.com/", "https://example.com/");
	expect_forward(ROOT, "/example.com?q", "https://example.com/?q");
	expect_forward(ROOT, "/example.com//x", "https://example.com//x");
	expect_forward(ROOT, "/1.2.3.4/x", "https://1.2.3.4/x");
	expect_forward(ROOT, "/a-b.c-d.example/x", "https://a-b.c-d.example/x");
	expect_forward(ROOT, "/tc.example.com/api/queue/v1/x",
	    "https://tc.example.com/api/queue/v1/x");
}

/* The host a dotted route names, for the allow-list; none for the
 * rootURL's routes. */
static void
expect_host(const char *target, const char *host)
{
	struct route r;

	if (route_target(ROOT, target, &r) != 0 || r.kind != ROUTE_FORWARD)
		fail_msg("%s: not forwarded", target);
	if (host == NULL)
		assert_null(r.host);
	else
		assert_string_equal(r.host, host);
	route_free(&r);
}

static void
test_dotted_route_names_its_host(void **state)
{
	(void)state;
	expect_host("/example.com/v1/x?y=1", "example.com");
	expect_host("/Example.COM", "Example.COM");
	expect_host("/1.2.3.4/x", "1.2.3.4");
	expect_host("/queue/v1/x", NULL);
	expect_host("/api/queue/v1/x.y/z", NULL);
}

static void
test_allow_list_patterns(void **state)
{
	static const char *const list[] = { "tc.example.com", "*.cdn.example" };
	static const char *const any[] = { "*" };

	(void)state;
	assert_true(route_host_allowed("tc.example.com", list, 2));
	assert_true(route_host_allowed("TC.Example.Com", list, 2));
	assert_true(route_host_allowed("a.cdn.example", list, 2));
	assert_true(route_host_allowed("a.b.cdn.example", list, 2));
	/* Not the domain itself, nor a name that merely ends alike. */
	assert_false(route_host_allowed("cdn.example", list, 2));
	assert_false(route_host_allowed("evilcdn.example", list, 2));
	assert_false(route_host_allowed("tc.example.com.evil.org", list, 2));
	assert_false(route_host_allowed("x.tc.example.com", list, 2));
	assert_false(route_host_allowed("example.com", list, 2));
	assert_false(route_host_allowed("tc.example.com", list, 0));
	assert_true(route_host_allowed("anything.at.all", any, 1));
}

/* Escapes and the raw query go upstream byte for byte (TestNonCanonicalUrls
 * for the path; RawQuery for the query). */
static void
test_escaping_and_query_verbatim(void **state)
{
	(void)state;
	expect_forward(ROOT, "/queue/v1/a%252Fb", ROOT "/api/queue/v1/a%252Fb");
	expect_forward(ROOT, "/queue/v1/a%2fb%2F%41", ROOT "/api/queue/v1/"
	    "a%2fb%2F%41");
	expect_forward(ROOT, "/queue/v1/a//b/../c/./", ROOT "/api/queue/v1/"
	    "a//b/../c/./");
	expect_forward(ROOT, "/queue/v1/x?b=2&a=1&a=%2F", ROOT "/api/queue/"
	    "v1/x?b=2&a=1&a=%2F");
	/* Go does not check the query: a bad escape or a brace passes. */
	expect_forward(ROOT, "/queue/v1/x?a=%zz&b={}", ROOT "/api/queue/v1/"
	    "x?a=%zz&b={}");
	expect_forward(ROOT, "/queue/v1/x??", ROOT "/api/queue/v1/x??");
	/* An empty query is RawQuery "": no '?' upstream. */
	expect_forward(ROOT, "/queue/v1/x?", ROOT "/api/queue/v1/x");
	/* The trim of leading '/' stops at the query. */
	expect_forward(ROOT, "/queue/v1//?/a", ROOT "/api/queue/v1/?/a");
	expect_forward(ROOT, "/queue/v1//x", ROOT "/api/queue/v1/x");
	/* Sub-delims, ':' '@' '[' ']' '~' are fine raw in a Go path. */
	expect_forward(ROOT, "/queue/v1/!$&'()*+,;=:@[]~_.-",
	    ROOT "/api/queue/v1/!$&'()*+,;=:@[]~_.-");
}

static void
test_root_url_forms(void **state)
{
	(void)state;
	expect_forward("https://tc.example.com/", "/queue/v1/x",
	    ROOT "/api/queue/v1/x");
	expect_forward("https://tc.example.com//", "/api/queue/v1/x",
	    ROOT "/api/queue/v1/x");
	expect_forward(LOCAL_ROOT, "/queue/v1/x?a=1",
	    LOCAL_ROOT "/api/queue/v1/x?a=1");
	expect_forward(LOCAL_ROOT "/", "/api/auth/v1/ping",
	    LOCAL_ROOT "/api/auth/v1/ping");
	/* A host route ignores the root URL. */
	expect_forward(LOCAL_ROOT, "/example.com/x", "https://example.com/x");
}

static void
test_unforwardable_targets_refused(void **state)
{
	(void)state;
	expect_refused("");
	expect_refused("*");
	expect_refused("queue/v1/x");
	expect_refused("http://tc.example.com/queue/v1/x");
	expect_refused("/queue/v1/a b");
	expect_refused("/queue/v1/a\tb");
	expect_refused("/queue/v1/\x7f");
	expect_refused("/queue/v1/\xc3\xa9");
	expect_refused("/queue/v1/x?a=\x01");
	/* Go's url.ParseRequestURI refuses these: 400 there too. */
	expect_refused("/queue/v1/%zz");
	expect_refused("/queue/v1/%2");
	expect_refused("/queue/v1/%");
	expect_refused("/bewit%");
	/* Go would re-escape the whole path (and decode %2F) or cut it. */
	expect_refused("/queue/v1/a{b}");
	expect_refused("/queue/v1/a\"b");
	expect_refused("/queue/v1/<a>");
	expect_refused("/queue/v1/a\\b");
	expect_refused("/queue/v1/a^b");
	expect_refused("/queue/v1/a`b");
	expect_refused("/queue/v1/a|b");
	expect_refused("/queue/v1/a#frag");
	expect_refused("/queue/v1/x?a#b");
}

/* The hand-written matcher against services.go's hostnamePattern (as a
 * POSIX ERE: inside brackets "\-" is two characters there, so plain "-"),
 * through the route: a name routes iff it matches. */
static bool
check_against_regex(const regex_t *re, const char *name)
{
	char target[128];
	struct route r;
	bool matches = regexec(re, name, 0, NULL, 0) == 0;

	snprintf(target, sizeof(target), "/%s/v1/x", name);
	assert_int_equal(route_target(ROOT, target, &r), 0);
	if (matches != (r.kind == ROUTE_FORWARD))
		fail_msg("\"%s\": regex %s, route kind %d", name,
		    matches ? "matches" : "does not match", r.kind);
	if (!matches && strncmp(r.body, "Unkown taskcluster service: ",
	    28) != 0)
		fail_msg("\"%s\": body %s", name, r.body);
	route_free(&r);
	return matches;
}

static void
test_hostname_matcher_agrees_with_regex(void **state)
{
	static const char alphabet[] = "a9-.Z_@~";
	regex_t re;
	char name[64];
	uint64_t x = 0x9e3779b97f4a7c15u;
	size_t total = 0, matched = 0;

	(void)state;
	assert_int_equal(regcomp(&re, "^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*"
	    "[a-zA-Z0-9])\\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*"
	    "[A-Za-z0-9])$", REG_EXTENDED | REG_NOSUB), 0);
	/* Every name of up to 6 characters from a, 9, '-' and '.'. */
	for (size_t len = 0; len <= 6; len++) {
		size_t count = 1;

		for (size_t i = 0; i < len; i++)
			count *= 4;
		for (size_t k = 0; k < count; k++, total++) {
			size_t v = k;

			for (size_t i = 0; i < len; i++, v /= 4)
				name[i] = alphabet[v % 4];
			name[len] = '\0';
			matched += check_against_regex(&re, name);
		}
	}
	/* Longer ones with the other characters too (xorshift64). */
	for (int n = 0; n < 20000; n++, total++) {
		size_t len;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		len = 1 + x % 40;
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* Mostly letters, so long labels turn up. */
			name[i] = x % 3 ? alphabet[x % 2 ? 0 : 4] :
			    alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
		}
		name[len] = '\0';
		matched += check_against_regex(&re, name);
	}
	/* Both answers, often: the cases are not all one way. */
	assert_true(matched > total / 10 && matched < total - total / 10);
	regfree(&re);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_examples),
		cmocka_unit_test(test_go_suite_cases),
		cmocka_unit_test(test_prefixes_match_the_whole_target),
		cmocka_unit_test(test_api_paths),
		cmocka_unit_test(test_short_service_paths_404_where_go_panics),
		cmocka_unit_test(test_empty_and_bad_service_names),
		cmocka_unit_test(test_dotted_first_segment_is_a_host),
		cmocka_unit_test(test_dotted_route_names_its_host),
		cmocka_unit_test(test_allow_list_patterns),
		cmocka_unit_test(test_escaping_and_query_verbatim),
		cmocka_unit_test(test_root_url_forms),
		cmocka_unit_test(test_unforwardable_targets_refused),
		cmocka_unit_test(test_hostname_matcher_agrees_with_regex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
