/* Hawk signing (proxyd/hawk.c), pinned to vectors.json and to what the
 * hawk npm package accepts. */
#include <sodium.h>
#include <string.h>

#include "tests/testutil.h"

#include "common/jsonscan.h"
#include "proxyd/hawk.h"

#define KEY(s)	(const unsigned char *)(s), strlen(s)

/* vectors.json, "hawk_header_mac" */
static const struct header_vector {
	const char	*key, *ts, *nonce, *resource, *host;
	uint16_t	 port;
	const char	*ext, *mac;
} header_vectors[] = {
	{ "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn", "1353832234",
	    "j4h3g2", "/resource/1?b=1&a=2", "example.com", 8000,
	    "some-app-data", "m8r1rHbXN6NgO+KIIhjO7sFRyd78RNGVUwehe8Cp2dU=" },
	{ "no-secret", "1700000000", "AbCd1234", "/api/auth/v1/scopes/current",
	    "tc.example.com", 443, "",
	    "LeBjnrdQMUQaQ66v2vEfWs1GmhgV6sZw48DuK3h7Ojw=" },
	{ "no-secret", "1700000000", "AbCd1234", "/api/auth/v1/scopes/current",
	    "tc.example.com", 443,
	    "eyJhdXRob3JpemVkU2NvcGVzIjpbInF1ZXVlOmdldC1hcnRpZmFjdDpwdWJsaWMvKiJd"
	    "fQ==", "LgAOYzlHLwPFzDyd/ooAFLFqbfOxZ0osKi1tJDO6kEo=" },
};

/* vectors.json, "bewit" */
#define BEWIT_RESOURCE	"/api/queue/v1/task/abc/artifacts/private%2Fx.txt"
#define BEWIT_MAC	"vbF0EK+1NYMUirXoM9LbiImG5FuKWu6TnAgQo0Q+LfA="
#define BEWIT_TOKEN	"dGVzdGVyXDE3MDAwMDM2MDBcdmJGMEVLKzFOWU1VaXJYb005TGJpSW1HNUZ1" \
			"S1d1NlRuQWdRbzBRK0xmQT1c"

/* vectors.json, "hawk_header_mac"[2]: ext_json and ext */
#define SCOPES_EXT	"eyJhdXRob3JpemVkU2NvcGVzIjpbInF1ZXVlOmdldC1hcnRpZmFjdDpwdWJs" \
			"aWMvKiJdfQ=="

/* base64 text to its bytes, NUL-terminated; returns a static buffer. */
static const char *
unbase64(const char *b64)
{
	static char out[4096];
	size_t len;

	assert_int_equal(sodium_base642bin((unsigned char *)out,
	    sizeof(out) - 1, b64, strlen(b64), NULL, &len, NULL,
	    sodium_base64_VARIANT_ORIGINAL), 0);
	out[len] = '\0';
	return out;
}

static void
test_hawk_header_mac_vectors(void **state)
{
	char mac[HAWK_MAC_B64_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(header_vectors) /
	    sizeof(header_vectors[0]); i++) {
		const struct header_vector *v = &header_vectors[i];
		const struct hawk_target t = { "GET", v->resource, v->host,
		    v->port };

		assert_int_equal(hawk_mac(KEY(v->key), "header", v->ts,
		    v->nonce, &t, "", v->ext, mac), 0);
		assert_string_equal(mac, v->mac);
	}
}

static void
test_bewit_vector(void **state)
{
	const struct hawk_target t = { "GET", BEWIT_RESOURCE,
	    "tc.example.com", 443 };
	char mac[HAWK_MAC_B64_LEN + 1], *token;

	(void)state;
	assert_int_equal(hawk_mac(KEY("no-secret"), "bewit", "1700003600", "",
	    &t, "", "", mac), 0);
	assert_string_equal(mac, BEWIT_MAC);
	token = hawk_bewit("tester", KEY("no-secret"), 1700003600, &t, "");
	assert_string_equal(token, BEWIT_TOKEN);
	free(token);
	/* NULL ext is no ext. */
	token = hawk_bewit("tester", KEY("no-secret"), 1700003600, &t, NULL);
	assert_string_equal(token, BEWIT_TOKEN);
	free(token);
}

/* hawk-go and the hawk server both sign a bewit as GET, HEAD included. */
static void
test_bewit_always_signs_get(void **state)
{
	const struct hawk_target t = { "HEAD", BEWIT_RESOURCE,
	    "tc.example.com", 443 };
	char *token;

	(void)state;
	token = hawk_bewit("tester", KEY("no-secret"), 1700003600, &t, "");
	assert_string_equal(token, BEWIT_TOKEN);
	free(token);
}

static void
test_temporary_credentials_vector(void **state)
{
	static const char *const scopes[] = { "scope/asd:fhjdf/X",
	    "scope/asd:fhjdf/XYZ*" };
	char token[44], *sig;

	(void)state;
	hawk_temp_access_token("tokenABCDEFGH",
	    "JYR4wzMCTG6XeDS2cDUCMwH0RFUXGfQjK7LgqD-e6lSQ", token);
	assert_string_equal(token, "R4OVHWpIvy6KsqS4AWE51QwbvgLvsstS6e6UW8IfHUY");
	sig = hawk_cert_signature("tokenABCDEFGH", NULL, NULL,
	    "JYR4wzMCTG6XeDS2cDUCMwH0RFUXGfQjK7LgqD-e6lSQ", 1438964811744,
	    1439051211744, scopes, 2);
	assert_string_equal(sig, "45AlB/hKZZZz4Tf3NaidutasfgBnr4t2AxwBiGDQF9Q=");
	free(sig);
	/* A name without an issuer (or the reverse) is not a certificate. */
	assert_null(hawk_cert_signature("tokenABCDEFGH", "temp", NULL, "s", 1,
	    2, scopes, 2));
	assert_null(hawk_cert_signature("tokenABCDEFGH", NULL, "issuer", "s",
	    1, 2, scopes, 2));
}

/* Named credentials: the text gains clientId and issuer lines after
 * version, checked here against libsodium over the text written out. */
static void
test_named_certificate_signature(void **state)
{
	static const char text[] = "version:1\nclientId:temp/x\n"
	    "issuer:test:temp-cred-issuer\nseed:S\nstart:1\nexpiry:2\n"
	    "scopes:\na\nb";
	static const char *const scopes[] = { "a", "b" };
	unsigned char mac[32];
	char want[HAWK_MAC_B64_LEN + 1], *sig;
	crypto_auth_hmacsha256_state st;

	(void)state;
	crypto_auth_hmacsha256_init(&st, KEY("tokenABCDEFGH"));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)text,
	    strlen(text));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(want, sizeof(want), mac, sizeof(mac),
	    sodium_base64_VARIANT_ORIGINAL);
	sig = hawk_cert_signature("tokenABCDEFGH", "temp/x",
	    "test:temp-cred-issuer", "S", 1, 2, scopes, 2);
	assert_string_equal(sig, want);
	free(sig);
}

static void
test_header_shape_and_order(void **state)
{
	const struct header_vector *v = &header_vectors[0];
	const struct hawk_target t = { "GET", v->resource, v->host, v->port };
	const struct hawk_target t2 = { "GET", header_vectors[1].resource,
	    "tc.example.com", 443 };
	char *h;

	(void)state;
	h = hawk_header("dh37fgj492je", KEY(v->key), 1353832234, "j4h3g2", &t,
	    "some-app-data");
	assert_string_equal(h, "Hawk id=\"dh37fgj492je\", "
	    "mac=\"m8r1rHbXN6NgO+KIIhjO7sFRyd78RNGVUwehe8Cp2dU=\", "
	    "ts=\"1353832234\", nonce=\"j4h3g2\", ext=\"some-app-data\"");
	free(h);
	/* No ext: no ext attribute, for "" and NULL alike. */
	h = hawk_header("tester", KEY("no-secret"), 1700000000, "AbCd1234",
	    &t2, "");
	assert_string_equal(h, "Hawk id=\"tester\", "
	    "mac=\"LeBjnrdQMUQaQ66v2vEfWs1GmhgV6sZw48DuK3h7Ojw=\", "
	    "ts=\"1700000000\", nonce=\"AbCd1234\"");
	free(h);
	h = hawk_header("tester", KEY("no-secret"), 1700000000, "AbCd1234",
	    &t2, NULL);
	assert_non_null(strstr(h, "nonce=\"AbCd1234\""));
	assert_null(strstr(h, "ext="));
	free(h);
}

/*
 * Checked with hawk@9's server.authenticate (key no-secret, clock set to
 * 1700000000, Host tc.example.com, TLS): accepted, ext read back as sent.
 */
static void
test_header_accepted_by_hawk9(void **state)
{
	const struct hawk_target t = { "GET",
	    "/api/auth/v1/scopes/current?x=%2F", "tc.example.com", 443 };
	char *h;

	(void)state;
	h = hawk_header("tester", KEY("no-secret"), 1700000000, "AbCd1234", &t,
	    SCOPES_EXT);
	assert_string_equal(h, "Hawk id=\"tester\", "
	    "mac=\"RGQgq4jc/nRvWTey0JbcHDZWDiu0sxrnAma24ktjkI8=\", "
	    "ts=\"1700000000\", nonce=\"AbCd1234\", ext=\"" SCOPES_EXT "\"");
	free(h);
}

static void
test_header_refuses_unsafe_attributes(void **state)
{
	static const char *const bad[] = {
		"a\"b", "a\\b", "a\nb", "a\rb", "a\x7f", "a\x80", "\xc3\xa9",
		"",
	};
	const struct hawk_target t = { "GET", "/", "h", 443 };
	const struct hawk_target nl = { "GET", "/a\nb", "h", 443 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(hawk_header(bad[i], KEY("k"), 1, "nonce", &t, ""));
		assert_null(hawk_header("id", KEY("k"), 1, bad[i], &t, ""));
		if (*bad[i])
			assert_null(hawk_header("id", KEY("k"), 1, "nonce", &t,
			    bad[i]));
	}
	assert_null(hawk_header(NULL, KEY("k"), 1, "nonce", &t, ""));
	/* A newline in the target fails closed too. */
	assert_null(hawk_header("id", KEY("k"), 1, "nonce", &nl, ""));
}

static void
test_mac_refuses_newlines(void **state)
{
	const struct hawk_target ok = { "GET", "/", "h", 443 };
	const struct hawk_target in_resource = { "GET", "/a\nb", "h", 443 };
	const struct hawk_target in_host = { "GET", "/", "h\n", 443 };
	const struct hawk_target in_method = { "GET\n", "/", "h", 443 };
	char mac[HAWK_MAC_B64_LEN + 1];

	(void)state;
	assert_int_equal(hawk_mac(KEY("k"), "header", "1", "n", &ok, "", "",
	    mac), 0);
	assert_int_equal(hawk_mac(KEY("k"), "header", "1", "n", &in_resource,
	    "", "", mac), -1);
	assert_int_equal(hawk_mac(KEY("k"), "header", "1", "n", &in_host, "",
	    "", mac), -1);
	assert_int_equal(hawk_mac(KEY("k"), "header", "1", "n", &in_method,
	    "", "", mac), -1);
	assert_int_equal(hawk_mac(KEY("k"), "header", "1\n", "n", &ok, "", "",
	    mac), -1);
	assert_int_equal(hawk_mac(KEY("k"), "header", "1", "n\n", &ok, "", "",
	    mac), -1);
	assert_int_equal(hawk_mac(KEY("k"), "header", "1", "n", &ok, "h\n",
	    "", mac), -1);
	assert_int_equal(hawk_mac(KEY("k"), "header", "1", "n", &ok, "",
	    "e\n", mac), -1);
	/* Only the two kinds proxyd signs. */
	assert_int_equal(hawk_mac(KEY("k"), "response", "1", "n", &ok, "", "",
	    mac), -1);
}

static void
test_ext_permanent_with_scopes(void **state)
{
	static const char *const scopes[] = { "a", "b" };
	static const char *const vector[] = { "queue:get-artifact:public/*" };
	char err[160], *ext;

	(void)state;
	ext = hawk_ext(NULL, scopes, 2, true, err, sizeof(err));
	assert_string_equal(unbase64(ext), "{\"authorizedScopes\":[\"a\",\"b\"]}");
	free(ext);
	/* Byte for byte what the Go client sends (vectors.json). */
	ext = hawk_ext(NULL, vector, 1, true, err, sizeof(err));
	assert_string_equal(ext, SCOPES_EXT);
	free(ext);
}

static void
test_ext_no_scopes_is_empty_list(void **state)
{
	char err[160], *ext;

	(void)state;
	ext = hawk_ext(NULL, NULL, 0, true, err, sizeof(err));
	assert_string_equal(unbase64(ext), "{\"authorizedScopes\":[]}");
	free(ext);
}

static void
test_ext_nil_without_certificate_is_empty(void **state)
{
	char err[160], *ext;

	(void)state;
	ext = hawk_ext(NULL, NULL, 0, false, err, sizeof(err));
	assert_string_equal(ext, "");
	free(ext);
	/* Go's zero-value certificate means permanent credentials too. */
	ext = hawk_ext("", NULL, 0, false, err, sizeof(err));
	assert_string_equal(ext, "");
	free(ext);
}

static void
test_ext_embeds_certificate_verbatim(void **state)
{
	static const char cert[] = "{\"version\":1,\"scopes\":[\"x:*\"],"
	    "\"start\":1438964811744,\"expiry\":1439051211744,"
	    "\"seed\":\"JYR4wzMCTG6XeDS2cDUCMwH0RFUXGfQjK7LgqD-e6lSQ\","
	    "\"signature\":\"45AlB/hKZZZz4Tf3NaidutasfgBnr4t2AxwBiGDQF9Q=\"}";
	static const char *const scopes[] = { "x:y" };
	char err[160], *ext;

	(void)state;
	ext = hawk_ext(cert, NULL, 0, false, err, sizeof(err));
	assert_string_equal(unbase64(ext),
	    "{\"certificate\":" "{\"version\":1,\"scopes\":[\"x:*\"],"
	    "\"start\":1438964811744,\"expiry\":1439051211744,"
	    "\"seed\":\"JYR4wzMCTG6XeDS2cDUCMwH0RFUXGfQjK7LgqD-e6lSQ\","
	    "\"signature\":\"45AlB/hKZZZz4Tf3NaidutasfgBnr4t2AxwBiGDQF9Q=\"}}");
	free(ext);
	/* Surrounding whitespace goes; the object itself is untouched. */
	ext = hawk_ext(" \n{ \"version\" : 1 }\r\n", scopes, 1, true, err,
	    sizeof(err));
	assert_string_equal(unbase64(ext), "{\"certificate\":{ \"version\" : 1 },"
	    "\"authorizedScopes\":[\"x:y\"]}");
	free(ext);
}

static void
test_ext_refuses_certificate_not_an_object(void **state)
{
	static const char *const bad[] = {
		"[1]", "\"str\"", "not json", "{} {}", "{\"a\":1,\"a\":2}",
		"{\"a\":", "   ", "null",
	};
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(hawk_ext(bad[i], NULL, 0, true, err, sizeof(err)));
		assert_non_null(strstr(err, "certificate"));
	}
}

static void
test_ext_escapes_scopes(void **state)
{
	static const char *const scopes[] = {
		"q\"b\\c", "\x01\n\t<&>", "\xe2\x80\xa8", "\xff",
	};
	const struct jsonscan_opts opts = { .max_depth = 4,
	    .require_object = true, .reject_duplicate_keys = true };
	char err[160], *ext;
	const char *json;

	(void)state;
	ext = hawk_ext(NULL, scopes, 4, true, err, sizeof(err));
	json = unbase64(ext);
	assert_string_equal(json, "{\"authorizedScopes\":["
	    "\"q\\\"b\\\\c\",\"\\u0001\\n\\t\\u003c\\u0026\\u003e\","
	    "\"\\u2028\",\"\\ufffd\"]}");
	assert_int_equal(jsonscan_validate(json, strlen(json), &opts, err,
	    sizeof(err)), 0);
	free(ext);
}

static void
test_nonce_shape(void **state)
{
	char a[HAWK_NONCE_LEN + 1], b[HAWK_NONCE_LEN + 1];

	(void)state;
	hawk_nonce(a);
	hawk_nonce(b);
	assert_int_equal(strlen(a), 8);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789+/"), 8);
	/* 48 random bits: equal only by a broken generator. */
	assert_string_not_equal(a, b);
}

static void
test_bewit_refuses_unfit_fields(void **state)
{
	const struct hawk_target t = { "GET", "/", "h", 443 };
	const struct hawk_target nl = { "GET", "/\n", "h", 443 };

	(void)state;
	assert_null(hawk_bewit("a\\b", KEY("k"), 1, &t, ""));
	assert_null(hawk_bewit("", KEY("k"), 1, &t, ""));
	assert_null(hawk_bewit("a\x80", KEY("k"), 1, &t, ""));
	assert_null(hawk_bewit("a\x1f", KEY("k"), 1, &t, ""));
	assert_null(hawk_bewit("id", KEY("k"), 1, &t, "e\\x"));
	assert_null(hawk_bewit("id", KEY("k"), 1, &t, "e\n"));
	assert_null(hawk_bewit("id", KEY("k"), 1, &nl, ""));
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
		cmocka_unit_test(test_hawk_header_mac_vectors),
		cmocka_unit_test(test_bewit_vector),
		cmocka_unit_test(test_bewit_always_signs_get),
		cmocka_unit_test(test_temporary_credentials_vector),
		cmocka_unit_test(test_named_certificate_signature),
		cmocka_unit_test(test_header_shape_and_order),
		cmocka_unit_test(test_header_accepted_by_hawk9),
		cmocka_unit_test(test_header_refuses_unsafe_attributes),
		cmocka_unit_test(test_mac_refuses_newlines),
		cmocka_unit_test(test_ext_permanent_with_scopes),
		cmocka_unit_test(test_ext_no_scopes_is_empty_list),
		cmocka_unit_test(test_ext_nil_without_certificate_is_empty),
		cmocka_unit_test(test_ext_embeds_certificate_verbatim),
		cmocka_unit_test(test_ext_refuses_certificate_not_an_object),
		cmocka_unit_test(test_ext_escapes_scopes),
		cmocka_unit_test(test_nonce_shape),
		cmocka_unit_test(test_bewit_refuses_unfit_fields),
	};

	return cmocka_run_group_tests_name("hawk", tests, setup, NULL);
}
