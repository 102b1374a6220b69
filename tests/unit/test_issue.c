/*
 * The temporary credentials proxyd issues for a task (proxyd/issue.c):
 * for vectors.json's inputs, the certificate taskcluster-client makes
 * (signature and accessToken equal to the vector's, fields in the Go
 * client's order), Taskcluster's limits refused by name, fresh seeds.
 * tests/integration/proxy.sh has tc-fake's real check of them.
 */
#include <string.h>

#include <sodium.h>

#include "tests/testutil.h"

#include "common/util.h"
#include "proxyd/creds.h"
#include "proxyd/issue.h"

/* vectors.json "temporary_credentials"[0] (reference §3.5). */
#define VEC_ISSUER_TOKEN "tokenABCDEFGH"
#define VEC_SEED	"JYR4wzMCTG6XeDS2cDUCMwH0RFUXGfQjK7LgqD-e6lSQ"
#define VEC_TOKEN	"R4OVHWpIvy6KsqS4AWE51QwbvgLvsstS6e6UW8IfHUY"
#define VEC_START	1438964811744LL
#define VEC_EXPIRY	1439051211744LL
#define VEC_SIGNATURE	"45AlB/hKZZZz4Tf3NaidutasfgBnr4t2AxwBiGDQF9Q="
#define VEC_CERT							\
	"{\"version\":1,\"scopes\":[\"scope/asd:fhjdf/X\","		\
	"\"scope/asd:fhjdf/XYZ*\"],\"start\":1438964811744,"		\
	"\"expiry\":1439051211744,\"seed\":\"" VEC_SEED "\","		\
	"\"signature\":\"" VEC_SIGNATURE "\"}"

static const char *const vec_scopes[] = { "scope/asd:fhjdf/X",
    "scope/asd:fhjdf/XYZ*" };

static struct issue_request
vector_request(void)
{
	return (struct issue_request){ "issuer/client", VEC_ISSUER_TOKEN,
	    vec_scopes, 2, VEC_START, VEC_EXPIRY, VEC_SEED };
}

static void
test_issue_matches_the_vector(void **state)
{
	struct issue_request rq = vector_request();
	struct tc_creds c;
	struct tc_cert cert;
	char err[200];

	(void)state;
	assert_int_equal(issue_temp_creds(&rq, &c, err, sizeof(err)), 0);
	/* Unnamed: the issuer's clientId, no issuer in the certificate. */
	assert_string_equal(c.client_id, "issuer/client");
	assert_string_equal(c.access_token, VEC_TOKEN);
	assert_string_equal(c.certificate, VEC_CERT);
	/* And the task proxy reads it back as issued. */
	assert_int_equal(cert_parse(c.certificate, &cert, err, sizeof(err)), 0);
	assert_int_equal(cert.start, VEC_START);
	assert_int_equal(cert.expiry, VEC_EXPIRY);
	assert_int_equal(cert.nscopes, 2);
	assert_null(cert.issuer);
	cert_free(&cert);
	creds_free(&c);
}

/* No scopes: "scopes":[] (Go marshals an empty slice so), and scopes
 * with characters JSON escapes keep the signature over the raw text. */
static void
test_issue_escapes_as_go(void **state)
{
	static const char *const scopes[] = { "a<b>&\"c\\" };
	struct issue_request rq = vector_request();
	struct tc_creds c;
	char err[200];

	(void)state;
	rq.nscopes = 0;
	assert_int_equal(issue_temp_creds(&rq, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(c.certificate, "\"scopes\":[],"));
	creds_free(&c);
	rq.scopes = scopes;
	rq.nscopes = 1;
	assert_int_equal(issue_temp_creds(&rq, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(c.certificate,
	    "\"scopes\":[\"a\\u003cb\\u003e\\u0026\\\"c\\\\\"],"));
	assert_string_equal(c.access_token, VEC_TOKEN);
	creds_free(&c);
}

static void
expect_refused(struct issue_request rq, const char *why)
{
	struct tc_creds c;
	char err[200];

	assert_int_equal(issue_temp_creds(&rq, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, why));
	assert_null(c.access_token);
	assert_null(c.certificate);
}

static void
test_issue_refuses_what_taskcluster_refuses(void **state)
{
	static const char *const bad_scope[] = { "ok", "new\nline" };
	struct issue_request rq = vector_request();

	(void)state;
	rq.expiry = rq.start;
	expect_refused(rq, "the expiry is not after the start");
	rq = vector_request();
	rq.expiry = rq.start + ISSUE_MAX_LIFETIME_MS + 1;
	expect_refused(rq, "more than 31 days");
	rq.expiry = rq.start + ISSUE_MAX_LIFETIME_MS;
	{
		struct tc_creds c;
		char err[200];

		assert_int_equal(issue_temp_creds(&rq, &c, err, sizeof(err)), 0);
		creds_free(&c);
	}
	rq = vector_request();
	rq.start = -1;
	expect_refused(rq, "before 1970");
	rq = vector_request();
	rq.seed = "short";
	expect_refused(rq, "not 44 characters");
	rq.seed = "JYR4wzMCTG6XeDS2cDUCMwH0RFUXGfQjK7LgqD+e6lSQ";
	expect_refused(rq, "not base64url");
	rq = vector_request();
	rq.scopes = bad_scope;
	expect_refused(rq, "outside 0x20-0x7e");
}

static void
test_seeds_are_fresh(void **state)
{
	char a[ISSUE_SEED_LEN + 1], b[ISSUE_SEED_LEN + 1];
	struct issue_request rq = vector_request();
	struct tc_creds c1, c2;
	char err[200];

	(void)state;
	issue_seed(a);
	issue_seed(b);
	assert_int_equal(strlen(a), ISSUE_SEED_LEN);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_"), ISSUE_SEED_LEN);
	assert_string_not_equal(a, b);
	/* Each seed its own accessToken. */
	rq.seed = a;
	assert_int_equal(issue_temp_creds(&rq, &c1, err, sizeof(err)), 0);
	rq.seed = b;
	assert_int_equal(issue_temp_creds(&rq, &c2, err, sizeof(err)), 0);
	assert_string_not_equal(c1.access_token, c2.access_token);
	assert_string_not_equal(c1.access_token, VEC_ISSUER_TOKEN);
	creds_free(&c1);
	creds_free(&c2);
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
		cmocka_unit_test(test_issue_matches_the_vector),
		cmocka_unit_test(test_issue_escapes_as_go),
		cmocka_unit_test(test_issue_refuses_what_taskcluster_refuses),
		cmocka_unit_test(test_seeds_are_fresh),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
