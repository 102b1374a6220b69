/* The merge of chain-of-trust-additional-data.json (taskrunner/cotextra.c):
 * generic-worker's mergemap precedence at every depth, the environment's
 * and top level's keys the worker keeps, and the artifacts it drops. */
#include <string.h>

#include <json-c/json.h>

#include "tests/testutil.h"

#include "taskrunner/cotextra.h"

static struct json_object *
parse(const char *s)
{
	char err[256];
	struct json_object *o = cot_extra_parse(s, strlen(s), err, sizeof(err));

	if (o == NULL)
		fail_msg("parse %s: %s", s, err);
	return o;
}

static void
same(struct json_object *got, const char *want)
{
	struct json_object *w = parse(want);

	if (!json_object_equal(got, w))
		fail_msg("got %s, want %s", json_object_to_json_string(got),
		    want);
	json_object_put(w);
}

/* Merge extra with the definition def; check the three parts. */
static void
merges(const char *extra, const char *def, const char *task,
    const char *env, const char *top, bool dropped)
{
	struct json_object *x = parse(extra), *d = parse(def);
	char *before = strdup(json_object_to_json_string(d));
	struct cot_extra out;

	cot_extra_merge(x, d, &out);
	same(out.task, task);
	same(out.env, env);
	same(out.top, top);
	assert_int_equal(out.dropped_artifacts, dropped);
	/* The worker's definition itself is left alone. */
	assert_string_equal(json_object_to_json_string(d), before);
	free(before);
	cot_extra_free(&out);
	json_object_put(x);
	json_object_put(d);
}

static void
test_gw_additional_data(void **state)
{
	(void)state;
	/* generic-worker's TestChainOfTrustAdditionalData. */
	merges("{\"foo\": \"bar1\", \"task\": {\"foo\": \"bar2\", "
	    "\"schedulerId\": \"fake\"}}",
	    "{\"provisionerId\": \"p\", \"schedulerId\": \"real\"}",
	    "{\"provisionerId\": \"p\", \"schedulerId\": \"real\", "
	    "\"foo\": \"bar2\"}", "{}", "{\"foo\": \"bar1\"}", false);
}

static void
test_worker_wins_at_depth(void **state)
{
	(void)state;
	merges("{\"task\": {\"payload\": {\"maxRunTime\": 1, \"env\": "
	    "{\"A\": \"x\", \"B\": \"y\"}, \"new\": [1]}, \"tags\": {\"t\": 1}}}",
	    "{\"payload\": {\"maxRunTime\": 30, \"env\": {\"A\": \"a\"}}, "
	    "\"tags\": {}}",
	    "{\"payload\": {\"maxRunTime\": 30, \"env\": {\"A\": \"a\", "
	    "\"B\": \"y\"}, \"new\": [1]}, \"tags\": {\"t\": 1}}",
	    "{}", "{}", false);
}

static void
test_non_objects_never_merge(void **state)
{
	(void)state;
	/* Object against non-object, either way round, and null: the
	 * worker's value stands; a task that is no object adds nothing. */
	merges("{\"task\": {\"payload\": \"x\", \"scopes\": {\"a\": 1}, "
	    "\"extra\": {\"k\": 1}}}",
	    "{\"payload\": {\"a\": 1}, \"scopes\": [\"s\"], \"extra\": null}",
	    "{\"payload\": {\"a\": 1}, \"scopes\": [\"s\"], \"extra\": null}",
	    "{}", "{}", false);
	merges("{\"task\": \"no\", \"environment\": [1]}", "{\"a\": 1}",
	    "{\"a\": 1}", "{}", "{}", false);
}

static void
test_environment_and_top_level(void **state)
{
	(void)state;
	merges("{\"environment\": {\"region\": \"evil\", \"publicIpAddress\": "
	    "\"6.6.6.6\", \"privateIpAddress\": \"x\", \"instanceId\": \"x\", "
	    "\"instanceType\": \"x\", \"imageHash\": \"h\", \"n\": null}, "
	    "\"chainOfTrustVersion\": 2, \"taskId\": \"x\", \"runId\": 9, "
	    "\"workerGroup\": \"x\", \"workerId\": \"x\", \"keep\": {\"a\": 1}}",
	    "{}", "{}", "{\"imageHash\": \"h\", \"n\": null}",
	    "{\"keep\": {\"a\": 1}}", false);
}

static void
test_artifacts_dropped(void **state)
{
	(void)state;
	merges("{\"artifacts\": {\"public/evil\": {\"sha256\": \"00\"}}, "
	    "\"x\": 1}", "{}", "{}", "{}", "{\"x\": 1}", true);
	merges("{\"artifacts\": null}", "{}", "{}", "{}", "{}", true);
}

static void
refuses(const char *doc, const char *want)
{
	char err[256] = "";

	assert_null(cot_extra_parse(doc, strlen(doc), err, sizeof(err)));
	assert_string_equal(err, want);
}

static void
test_parse_refusals(void **state)
{
	(void)state;
	refuses("[1]", "it is array, not a JSON object");
	refuses("\"s\"", "it is string, not a JSON object");
	refuses("{\"a\": 1,}", "byte 8: unexpected '}', expected a string key");
	refuses("{\"a\": 1, \"a\": 2}", "byte 9: duplicate key \"a\"");
	refuses("{\"a\\u0000b\": 1}", "byte 3: key contains \\u0000");
	refuses("", "byte 0: unexpected end of input, expected a value");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gw_additional_data),
		cmocka_unit_test(test_worker_wins_at_depth),
		cmocka_unit_test(test_non_objects_never_merge),
		cmocka_unit_test(test_environment_and_top_level),
		cmocka_unit_test(test_artifacts_dropped),
		cmocka_unit_test(test_parse_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
