/* proxyd/claim.c: the Queue's claimWork answer, checked field by field
 * before anything in it is believed. */
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "tests/testutil.h"

#include "common/chan_proxyd.h"
#include "proxyd/claim.h"
#include "taskrunner/payload.h"

#define TASK_ID		"fN1SbArXTPSVFNUvaOlinQ"
#define GROUP_ID	"Vvr2oZ1TTkuSLsERk7eHbQ"
#define TOKEN		"claim-access-token-secret"

/* A claim as the Queue sends it (clients/client-go tcqueue TaskClaim). */
static const char valid[] =
    "{\"tasks\":[{"
    "\"status\":{\"taskId\":\"" TASK_ID "\",\"provisionerId\":\"p\","
    "\"workerType\":\"w\",\"taskQueueId\":\"p/w\",\"schedulerId\":\"-\","
    "\"projectId\":\"none\",\"taskGroupId\":\"" GROUP_ID "\","
    "\"deadline\":\"2026-12-06T12:00:00.000Z\","
    "\"expires\":\"2027-12-06T12:00:00.000Z\",\"retriesLeft\":5,"
    "\"state\":\"running\",\"runs\":[{\"runId\":0,\"state\":\"running\"}]},"
    "\"runId\":2,"
    "\"workerGroup\":\"wg\",\"workerId\":\"wi\","
    "\"takenUntil\":\"2026-12-05T12:20:00.123Z\","
    "\"task\":{\"provisionerId\":\"p\",\"workerType\":\"w\","
    "\"scopes\":[\"a/b\"],\"payload\":{\"command\":[[\"true\"]],"
    "\"maxRunTime\":30,\"env\":{\"X\":\"\\u00e9\\n\"}},"
    "\"metadata\":{\"name\":\"t\",\"description\":\"d\",\"owner\":"
    "\"o@example.com\",\"source\":\"https://example.com/x\"},"
    "\"extra\":{\"f\":1.5e3}},"
    "\"credentials\":{\"accessToken\":\"" TOKEN "\","
    "\"certificate\":\"{\\\"version\\\":1}\","
    "\"clientId\":\"task-client/" TASK_ID "/2/on/wg/wi/until/1\"}"
    "}]}";

static struct json_object *
valid_doc(void)
{
	struct json_object *d = json_tokener_parse(valid);

	assert_non_null(d);
	return d;
}

static struct json_object *
claim0(struct json_object *d)
{
	return json_object_array_get_idx(json_object_object_get(d, "tasks"),
	    0);
}

/* Parse d's serialization; the error when want is -1. */
static int
parse_doc(struct json_object *d, struct claim *c, char *err, size_t errlen)
{
	const char *s = json_object_to_json_string_ext(d,
	    JSON_C_TO_STRING_PLAIN);

	return claim_parse(s, strlen(s), c, err, errlen);
}

static void
test_valid_claim(void **state)
{
	struct json_object *task, *doc = valid_doc(), *want;
	struct claim c;
	char err[256] = "";

	(void)state;
	assert_int_equal(claim_parse(valid, strlen(valid), &c, err,
	    sizeof(err)), 1);
	assert_string_equal(c.task_id, TASK_ID);
	assert_string_equal(c.task_group_id, GROUP_ID);
	assert_int_equal(c.run_id, 2);
	assert_int_equal(c.taken_until_ms, 1796473200123LL);
	assert_string_equal(c.creds.access_token, TOKEN);
	assert_string_equal(c.creds.certificate, "{\"version\":1}");
	assert_string_equal(c.creds.client_id,
	    "task-client/" TASK_ID "/2/on/wg/wi/until/1");
	/* The definition, re-serialized: the same JSON value, and nothing
	 * of the credentials in it. */
	assert_int_equal(strlen(c.task), c.task_len);
	task = json_tokener_parse(c.task);
	want = json_object_object_get(claim0(doc), "task");
	assert_non_null(task);
	assert_true(json_object_equal(task, want));
	assert_null(strstr(c.task, TOKEN));
	assert_non_null(strstr(c.task, "1.5e3"));
	json_object_put(task);
	json_object_put(doc);
	claim_free(&c);
	assert_null(c.task);
	assert_null(c.creds.access_token);
}

static void
test_no_task(void **state)
{
	struct claim c;
	char err[256];

	(void)state;
	assert_int_equal(claim_parse("{\"tasks\":[]}", 12, &c, err,
	    sizeof(err)), 0);
	assert_null(c.task);
	assert_null(c.creds.access_token);
}

static void
refused(const char *body, const char *want)
{
	struct claim c;
	char err[256] = "";

	if (claim_parse(body, strlen(body), &c, err, sizeof(err)) != -1)
		fail_msg("%s: accepted", body);
	if (strstr(err, want) == NULL)
		fail_msg("%s: error \"%s\" does not say \"%s\"", body, err,
		    want);
	assert_null(c.task);
	assert_null(c.creds.access_token);
}

static void
test_refused_documents(void **state)
{
	(void)state;
	refused("", "not JSON");
	refused("{\"tasks\":[]} x", "not JSON");
	refused("{\"tasks\":[],\"tasks\":[]}", "duplicate key");
	refused("[]", "not a JSON object");
	refused("{}", "tasks must be an array");
	refused("{\"tasks\":{}}", "tasks must be an array");
	refused("{\"tasks\":[1,2]}", "tasks holds 2 claims; proxyd asked for 1");
	refused("{\"tasks\":[1]}", "tasks[0] must be an object");
	refused("{\"tasks\":[null]}", "tasks[0] must be an object");
}

/* Set key (under the claim, or under one of its objects) to the JSON
 * value v ("" for removing it), and check the claim is refused naming
 * the field. */
static void
field_refused(const char *parent, const char *key, const char *v,
    const char *want)
{
	struct json_object *d = valid_doc(), *o = claim0(d);
	struct claim c;
	char err[256] = "";

	if (parent != NULL)
		o = json_object_object_get(o, parent);
	if (*v == '\0')
		json_object_object_del(o, key);
	else
		json_object_object_add(o, key, json_tokener_parse(v));
	if (parse_doc(d, &c, err, sizeof(err)) != -1)
		fail_msg("%s.%s = %s: accepted", parent ? parent : "", key, v);
	if (strstr(err, want) == NULL)
		fail_msg("%s.%s = %s: error \"%s\" does not say \"%s\"",
		    parent ? parent : "", key, v, err, want);
	if (strstr(err, TOKEN) != NULL)
		fail_msg("the error quotes the accessToken: %s", err);
	assert_null(c.task);
	assert_null(c.creds.access_token);
	json_object_put(d);
}

static void
test_refused_fields(void **state)
{
	(void)state;
	field_refused(NULL, "status", "", "tasks[0].status must be an object");
	field_refused(NULL, "status", "[]", "tasks[0].status must be an object");
	field_refused("status", "taskId", "", "tasks[0].status.taskId is not a slugid");
	field_refused("status", "taskId", "\"fN1SbArXTPSVFNUvaOlin\"",
	    "status.taskId is not a slugid");
	/* The version nibble must say 4. */
	field_refused("status", "taskId", "\"fN1SbArXAPSVFNUvaOlinQ\"",
	    "status.taskId is not a slugid");
	field_refused("status", "taskId", "\"../../etc/passwd\"",
	    "status.taskId is not a slugid");
	field_refused("status", "taskId", "7", "status.taskId is not a slugid");
	field_refused("status", "taskGroupId", "\"x\"",
	    "status.taskGroupId is not a slugid");
	field_refused("status", "taskGroupId", "",
	    "status.taskGroupId is not a slugid");
	field_refused(NULL, "runId", "", "tasks[0].runId must be an integer from 0 to 1000");
	field_refused(NULL, "runId", "-1", "runId must be an integer");
	field_refused(NULL, "runId", "1001", "runId must be an integer");
	field_refused(NULL, "runId", "1.0", "runId must be an integer");
	field_refused(NULL, "runId", "\"1\"", "runId must be an integer");
	field_refused(NULL, "runId", "18446744073709551617", "runId must be an integer");
	field_refused(NULL, "takenUntil", "", "tasks[0].takenUntil must be a string");
	field_refused(NULL, "takenUntil", "1796473200123", "takenUntil must be a string");
	field_refused(NULL, "takenUntil", "\"tomorrow\"",
	    "tasks[0].takenUntil is not an RFC 3339 date");
	field_refused(NULL, "takenUntil", "\"2026-13-05T12:20:00Z\"",
	    "takenUntil is not an RFC 3339 date");
	field_refused(NULL, "task", "", "tasks[0].task must be an object");
	field_refused(NULL, "task", "\"{}\"", "tasks[0].task must be an object");
	field_refused(NULL, "credentials", "", "tasks[0].credentials must be an object");
	field_refused("credentials", "accessToken", "",
	    "tasks[0].credentials.accessToken must be a string");
	field_refused("credentials", "accessToken", "\"\"",
	    "credentials.accessToken must be 1 to 256 printable");
	field_refused("credentials", "accessToken", "\"tok\\u0000en\"",
	    "credentials.accessToken must be 1 to 256 printable");
	field_refused("credentials", "accessToken", "\"tok\\nen\"",
	    "credentials.accessToken must be 1 to 256 printable");
	field_refused("credentials", "certificate", "\"\"",
	    "credentials.certificate must be 1 to 16384 printable");
	field_refused("credentials", "certificate", "null",
	    "credentials.certificate must be a string");
	field_refused("credentials", "clientId", "\"caf\\u00e9\"",
	    "credentials.clientId must be 1 to 256 printable");
}

static char *
repeated(char c, size_t n)
{
	char *s = malloc(n + 3);

	assert_non_null(s);
	s[0] = '"';
	memset(s + 1, c, n);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	return s;
}

/* Each limit exactly, and one more. */
static void
test_limits(void **state)
{
	static const struct { const char *key; size_t max; } lim[] = {
		{ "clientId", PX_CLIENT_ID_MAX },
		{ "accessToken", PX_TOKEN_MAX },
		{ "certificate", PX_CERTIFICATE_MAX },
	};
	struct json_object *d, *big;
	struct claim c;
	char err[256], *s;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		d = valid_doc();
		s = repeated('x', lim[i].max);
		json_object_object_add(json_object_object_get(claim0(d),
		    "credentials"), lim[i].key, json_tokener_parse(s));
		assert_int_equal(parse_doc(d, &c, err, sizeof(err)), 1);
		claim_free(&c);
		json_object_put(d);
		free(s);
		s = repeated('x', lim[i].max + 1);
		d = valid_doc();
		json_object_object_add(json_object_object_get(claim0(d),
		    "credentials"), lim[i].key, json_tokener_parse(s));
		assert_int_equal(parse_doc(d, &c, err, sizeof(err)), -1);
		json_object_put(d);
		free(s);
	}
	/* A definition over PAYLOAD_MAX_BYTES once serialized. */
	d = valid_doc();
	s = repeated('y', PAYLOAD_MAX_BYTES);
	big = json_tokener_parse(s);
	assert_non_null(big);
	json_object_object_add(json_object_object_get(claim0(d), "task"),
	    "big", big);
	assert_int_equal(parse_doc(d, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tasks[0].task takes more than"));
	json_object_put(d);
	free(s);
	/* A response over CLAIM_RESPONSE_MAX is not parsed at all. */
	s = repeated(' ', CLAIM_RESPONSE_MAX);
	memcpy(s, "{\"tasks\":[]}", 12);
	assert_int_equal(claim_parse(s, strlen(s), &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exceeds the limit"));
	free(s);
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
		cmocka_unit_test(test_valid_claim),
		cmocka_unit_test(test_no_task),
		cmocka_unit_test(test_refused_documents),
		cmocka_unit_test(test_refused_fields),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests_name("claim", tests, setup, NULL);
}
