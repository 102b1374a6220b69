/* The chain-of-trust document (supervisor/cot.c) and the keyholder's
 * structural check of it (keyholder/sign.c). */
#include <string.h>

#include <json-c/json.h>

#include "tests/testutil.h"

#include "common/jsonscan.h"
#include "common/util.h"
#include "keyholder/sign.h"
#include "supervisor/cot.h"

static const struct cot_facts facts = {
	.task_id = "Zc6kM0p9R0ucbdE0y2f0Fw", .run_id = 0,
	.worker_group = "us-east1", .worker_id = "i-0123456789abcdef0",
	.public_ip = "12.34.56.78", .private_ip = "10.0.0.5",
	.instance_id = "i-0123456789abcdef0", .instance_type = "n2-standard-4",
	.region = "us-east1",
};

/* The reference's example (§1.6), with a smaller task. */
static void
test_document_matches_generic_worker_layout(void **state)
{
	static const char want[] =
	    "{\n"
	    "  \"chainOfTrustVersion\": 1,\n"
	    "  \"artifacts\": {\n"
	    "    \"public/build/X.txt\": {\n"
	    "      \"sha256\": \"8308d593eb56527137532595a60255a3fcfbe4b6b068e29b22d99742bad80f6f\"\n"
	    "    },\n"
	    "    \"public/logs/certified.log\": {\n"
	    "      \"sha256\": \"9877e6e5c27a859eed2c8f5b2b17e01aea9d0187bd828e603e7fa77e58b70285\"\n"
	    "    }\n"
	    "  },\n"
	    "  \"task\": {\n"
	    "    \"created\":\"2026-01-05T10:00:00.000Z\",\n"
	    "    \"payload\":{\n"
	    "      \"maxRunTime\":3600\n"
	    "    }\n"
	    "  },\n"
	    "  \"taskId\": \"Zc6kM0p9R0ucbdE0y2f0Fw\",\n"
	    "  \"runId\": 0,\n"
	    "  \"workerGroup\": \"us-east1\",\n"
	    "  \"workerId\": \"i-0123456789abcdef0\",\n"
	    "  \"environment\": {\n"
	    "    \"publicIpAddress\": \"12.34.56.78\",\n"
	    "    \"privateIpAddress\": \"10.0.0.5\",\n"
	    "    \"instanceId\": \"i-0123456789abcdef0\",\n"
	    "    \"instanceType\": \"n2-standard-4\",\n"
	    "    \"region\": \"us-east1\"\n"
	    "  }\n"
	    "}";
	static const char task[] = "{\n  \"created\":\"2026-01-05T10:00:00.000Z\","
	    "\n  \"payload\":{\n    \"maxRunTime\":3600\n  }\n}\n";
	/* Given out of order: the document sorts them, as Go sorts a map. */
	struct cot_artifact arts[] = {
		{ "public/logs/certified.log", "9877e6e5c27a859eed2c8f5b2b17e01"
		    "aea9d0187bd828e603e7fa77e58b70285" },
		{ "public/build/X.txt", "8308d593eb56527137532595a60255a3fcfbe4"
		    "b6b068e29b22d99742bad80f6f" },
	};
	size_t len;
	char *doc;

	(void)state;
	doc = cot_build(arts, 2, task, strlen(task), &facts, NULL, &len);
	assert_int_equal(len, strlen(doc));
	assert_string_equal(doc, want);
	free(doc);
}

static void
test_public_ip_omitted_when_unset(void **state)
{
	struct cot_facts f = facts;
	size_t len;
	char *doc;

	(void)state;
	f.public_ip = "";
	doc = cot_build(NULL, 0, "{}", 2, &f, NULL, &len);
	assert_null(strstr(doc, "publicIpAddress"));
	assert_non_null(strstr(doc, "\"privateIpAddress\": \"10.0.0.5\""));
	assert_non_null(strstr(doc, "\"artifacts\": {},\n"));
	free(doc);
	/* generic-worker: Go's String() of a nil net.IP, HTML-escaped as
	 * Go's encoder escapes it. */
	f.private_ip = "";
	doc = cot_build(NULL, 0, "{}", 2, &f, NULL, &len);
	assert_non_null(strstr(doc,
	    "\"privateIpAddress\": \"\\u003cnil\\u003e\""));
	free(doc);
}

/* Names are the task's: whatever they hold, the document stays one
 * object and says exactly those names. */
static void
test_names_escaped(void **state)
{
	static const char *const names[] = {
		"a\"b", "c\\d", "<script>&amp;", "line\xe2\x80\xa8sep", "tab\t",
	};
	const struct jsonscan_opts opts = { .max_depth = 16,
	    .require_object = true, .reject_duplicate_keys = true };
	struct cot_artifact arts[5];
	struct json_object *o, *a;
	char err[160], *doc;
	size_t len;

	(void)state;
	for (size_t i = 0; i < 5; i++)
		arts[i] = (struct cot_artifact){ names[i], "00" };
	doc = cot_build(arts, 5, "{}", 2, &facts, NULL, &len);
	assert_int_equal(jsonscan_validate(doc, len, &opts, err, sizeof(err)),
	    0);
	/* Go's HTML-safe escapes. */
	assert_non_null(strstr(doc, "\\u003cscript\\u003e\\u0026amp;"));
	assert_non_null(strstr(doc, "line\\u2028sep"));
	o = json_tokener_parse(doc);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "artifacts", &a));
	assert_int_equal(json_object_object_length(a), 5);
	for (size_t i = 0; i < 5; i++)
		assert_true(json_object_object_get_ex(a, names[i], NULL));
	json_object_put(o);
	free(doc);
}

static void
test_keyholder_accepts_the_document(void **state)
{
	size_t len;
	char *doc;

	(void)state;
	doc = cot_build(NULL, 0, "{\n  \"a\":1\n}", 11, &facts, NULL, &len);
	assert_null(cot_document_problem(doc, len, facts.task_id, 0));
	free(doc);
}

static void
test_keyholder_refuses(void **state)
{
	struct cot_facts f = facts;
	size_t len;
	char *doc, *copy;

	(void)state;
	doc = cot_build(NULL, 0, "{}", 2, &f, NULL, &len);
	/* another task, another run */
	assert_non_null(cot_document_problem(doc, len, "AAAAAAAAAAAAAAAAAAAAAA",
	    0));
	assert_non_null(cot_document_problem(doc, len, f.task_id, 1));
	/* not our prefix; cut short; a NUL inside */
	assert_non_null(cot_document_problem("{\"a\": 1}", 8, f.task_id, 0));
	assert_non_null(cot_document_problem(doc, len - 1, f.task_id, 0));
	copy = strdup(doc);
	copy[len / 2] = '\0';
	assert_non_null(cot_document_problem(copy, len, f.task_id, 0));
	free(copy);
	assert_non_null(cot_document_problem("", 0, f.task_id, 0));
	free(doc);
}

/*
 * The definition is the taskrunner's; a compromised one could lay it out
 * with a fake top-level-looking taskId line inside.  The check looks at
 * the last such line, which is the supervisor's.
 */
static void
test_keyholder_sees_past_a_forged_line(void **state)
{
	static const char task[] = "{\n  \"x\": 1,\n\n  \"taskId\": \"evil\","
	    "\n  \"runId\": 0,\n  \"y\": 2\n}";
	size_t len;
	char *doc;

	(void)state;
	doc = cot_build(NULL, 0, task, strlen(task), &facts, NULL, &len);
	assert_null(cot_document_problem(doc, len, facts.task_id, 0));
	assert_non_null(cot_document_problem(doc, len, "evil", 0));
	free(doc);
}

/* check then build, as tf_chain_of_trust does with COT_EXTRA's memfd;
 * the document parsed back by json-c.  NULL if the check refused. */
static struct json_object *
build_with(const char *task, const char *env, const char *top, char *err,
    size_t errlen)
{
	uint32_t len[3] = { (uint32_t)strlen(task), (uint32_t)strlen(env),
	    (uint32_t)strlen(top) };
	char *blob, *doc;
	const char *def;
	size_t def_len, doc_len;
	struct cot_extras x;
	struct json_object *o = NULL;
	enum json_tokener_error jerr;

	blob = xasprintf("%s%s%s", task, env, top);
	if (cot_extras_check(blob, len, &def, &def_len, &x, err, errlen) == 0) {
		doc = cot_build(NULL, 0, def, def_len, &facts, &x, &doc_len);
		o = json_tokener_parse_verbose(doc, &jerr);
		if (o == NULL)
			fail_msg("not JSON (%s): %s",
			    json_tokener_error_desc(jerr), doc);
		free(doc);
	}
	free(blob);
	return o;
}

static void
test_extras_spliced(void **state)
{
	char err[256] = "";
	struct json_object *o, *v;

	(void)state;
	o = build_with("{\n  \"foo\": \"bar2\",\n  \"payload\": {\n    \"a\": 1\n  }\n}",
	    "{\n  \"imageHash\": \"h\",\n  \"n\": {\n    \"deep\": [\n      1\n    ]\n  }\n}",
	    "{\n  \"foo\": \"bar1\"\n}", err, sizeof(err));
	assert_non_null(o);
	assert_string_equal(json_object_get_string(json_object_object_get(
	    json_object_object_get(o, "task"), "foo")), "bar2");
	v = json_object_object_get(o, "environment");
	assert_int_equal(json_object_object_length(v), 7);
	assert_string_equal(json_object_get_string(json_object_object_get(v,
	    "region")), "us-east1");
	assert_string_equal(json_object_get_string(json_object_object_get(v,
	    "imageHash")), "h");
	assert_string_equal(json_object_get_string(json_object_object_get(o,
	    "foo")), "bar1");
	assert_int_equal(json_object_object_length(o), 9);
	json_object_put(o);
	/* Empty extras, compact or spaced, add nothing and stay JSON. */
	o = build_with("{}", " { \t} ", "{}", err, sizeof(err));
	assert_non_null(o);
	assert_int_equal(json_object_object_length(o), 8);
	assert_int_equal(json_object_object_length(json_object_object_get(o,
	    "environment")), 5);
	json_object_put(o);
}

static void
extras_refused(const char *task, const char *env, const char *top,
    const char *want)
{
	char err[256] = "";

	assert_null(build_with(task, env, top, err, sizeof(err)));
	assert_string_equal(err, want);
}

/* A compromised taskrunner cannot add a second member the worker writes,
 * nor splice anything beside the objects. */
static void
test_extras_checked(void **state)
{
	(void)state;
	extras_refused("{}", "{}", "{\"x\": 1, \"artifacts\": {}}",
	    "the taskrunner's chain-of-trust additional data is refused: "
	    "the top level's members: byte 9: key \"artifacts\" is not allowed here");
	extras_refused("{}", "{}", "{\"\\u0065nvironment\": {}}",
	    "the taskrunner's chain-of-trust additional data is refused: "
	    "the top level's members: byte 1: key \"environment\" is not allowed here");
	extras_refused("{}", "{\"region\": \"evil\"}", "{}",
	    "the taskrunner's chain-of-trust additional data is refused: "
	    "the environment's members: byte 1: key \"region\" is not allowed here");
	extras_refused("{}", "{\"publicIpAddress\": \"6.6.6.6\"}", "{}",
	    "the taskrunner's chain-of-trust additional data is refused: "
	    "the environment's members: byte 1: key \"publicIpAddress\" is not allowed here");
	extras_refused("{}}, \"taskId\": \"x\", \"y\": {", "{}", "{}",
	    "the taskrunner's chain-of-trust additional data is refused: "
	    "the definition: byte 2: unexpected '}' after the JSON value");
	extras_refused("{}", "{}", "{\"a\": 1, \"a\": 2}",
	    "the taskrunner's chain-of-trust additional data is refused: "
	    "the top level's members: byte 9: duplicate key \"a\"");
	extras_refused("{}", "[]", "{}",
	    "the taskrunner's chain-of-trust additional data is refused: "
	    "the environment's members: byte 0: top-level value must be an object");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document_matches_generic_worker_layout),
		cmocka_unit_test(test_public_ip_omitted_when_unset),
		cmocka_unit_test(test_names_escaped),
		cmocka_unit_test(test_keyholder_accepts_the_document),
		cmocka_unit_test(test_keyholder_refuses),
		cmocka_unit_test(test_keyholder_sees_past_a_forged_line),
		cmocka_unit_test(test_extras_spliced),
		cmocka_unit_test(test_extras_checked),
	};

	return cmocka_run_group_tests_name("cot", tests, NULL, NULL);
}
