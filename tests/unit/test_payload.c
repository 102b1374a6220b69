/*
 * Task definitions and generic-worker payloads: generic-worker's own
 * payload tests (payload_test.go, the TestArtifactExpires* ones), the
 * rules the schema cannot state, the defaults of a bare payload, and the
 * re-encoding the chain-of-trust document carries.
 */
#include <stdarg.h>
#include <string.h>

#include <json-c/json.h>

#include "tests/testutil.h"

#include "common/chan_taskrunner.h"
#include "common/jsonscan.h"
#include "common/util.h"
#include "taskrunner/payload.h"

#define CREATED		"2026-01-05T10:00:00.000Z"
#define CREATED_MS	INT64_C(1767607200000)
#define DEADLINE	"2026-01-06T10:00:00.000Z"
#define DEADLINE_MS	(CREATED_MS + 86400000)
#define EXPIRES		"2027-01-05T10:00:00.000Z"
#define EXPIRES_MS	(DEADLINE_MS + INT64_C(364) * 86400000)

/* generic-worker's test payloads run these. */
#define HELLO_GOODBYE	"[\"echo\", \"hello world!\"], " \
			"[\"echo\", \"goodbye world!\"]"

static const struct payload_ctx base_ctx = {
	.task_id = "f3cKkFanQJeQVJ1cCkKN2w",
	.provisioner_id = "proj-sepworker",
	.worker_type = "linux",
	.now_ms = CREATED_MS,
	.max_task_run_time = 86400,
	.enable_chain_of_trust = true,
	.enable_taskcluster_proxy = true,
	.chain_of_trust_refusal = NULL,
};

/* A definition as the Queue hands it out, around payload. */
static char *
definition(const char *payload)
{
	return xasprintf("{\"taskQueueId\": \"proj-sepworker/linux\", "
	    "\"provisionerId\": \"proj-sepworker\", \"workerType\": \"linux\", "
	    "\"schedulerId\": \"taskcluster-ui\", \"projectId\": \"none\", "
	    "\"taskGroupId\": \"f3cKkFanQJeQVJ1cCkKN2w\", "
	    "\"dependencies\": [], "
	    "\"requires\": \"all-completed\", \"routes\": [], "
	    "\"priority\": \"lowest\", \"retries\": 5, "
	    "\"created\": \"" CREATED "\", \"deadline\": \"" DEADLINE "\", "
	    "\"expires\": \"" EXPIRES "\", \"scopes\": [], "
	    "\"payload\": %s, "
	    "\"metadata\": {\"name\": \"hello\", \"description\": \"say it\", "
	    "\"owner\": \"me@example.com\", \"source\": "
	    "\"https://example.com/src\"}, \"tags\": {}, \"extra\": {}}",
	    payload);
}

static void
dump_errors(const struct strlist *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		print_message("#   %s\n", errs->v[i]);
}

static void
parse_ok_ctx(const char *doc, const struct payload_ctx *ctx,
    struct task_def *t)
{
	struct strlist errs = { 0 };

	if (payload_parse(doc, strlen(doc), ctx, t, &errs) != 0) {
		dump_errors(&errs);
		fail_msg("refused: %s", doc);
	}
	assert_int_equal(errs.n, 0);
	strlist_free(&errs);
}

static void
parse_ok(const char *doc, struct task_def *t)
{
	parse_ok_ctx(doc, &base_ctx, t);
}

static void
payload_ok(const char *payload, struct task_def *t)
{
	char *doc = definition(payload);

	parse_ok(doc, t);
	free(doc);
}

static bool
has_line(const struct strlist *errs, const char *want)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		if (strstr(errs->v[i], want) != NULL)
			return true;
	return false;
}

/*
 * doc must be refused, with a line containing each of the NULL-terminated
 * wants, exactly as many lines as wants, and nothing left in the struct.
 */
static void
refused_ctx(const char *doc, const struct payload_ctx *ctx,
    const char *const *want)
{
	static const struct task_def zero;
	struct strlist errs = { 0 };
	struct task_def t;
	size_t i;

	memset(&t, 0xa5, sizeof(t));
	if (payload_parse(doc, strlen(doc), ctx, &t, &errs) != -1)
		fail_msg("accepted: %s", doc);
	assert_memory_equal(&t, &zero, sizeof(t));
	for (i = 0; want[i] != NULL; i++) {
		if (!has_line(&errs, want[i])) {
			dump_errors(&errs);
			fail_msg("no line with: %s", want[i]);
		}
	}
	if (errs.n != i) {
		dump_errors(&errs);
		fail_msg("%zu lines, expected %zu", errs.n, i);
	}
	strlist_free(&errs);
}

#define REFUSED(doc, ...) refused_ctx(doc, &base_ctx, \
	(const char *const[]){ __VA_ARGS__, NULL })
#define REFUSED_CTX(doc, ctx, ...) refused_ctx(doc, ctx, \
	(const char *const[]){ __VA_ARGS__, NULL })

static void
payload_refused(const char *payload, const char *const *want)
{
	char *doc = definition(payload);

	refused_ctx(doc, &base_ctx, want);
	free(doc);
}

#define PAYLOAD_REFUSED(payload, ...) payload_refused(payload, \
	(const char *const[]){ __VA_ARGS__, NULL })

/* generic-worker: TestEmptyPayloadObject */
static void
test_empty_payload_object(void **state)
{
	(void)state;
	PAYLOAD_REFUSED("{}", "payload: \"command\" is required",
	    "payload: \"maxRunTime\" is required");
	/* A bare {} is an empty payload, not a definition; so is an object
	 * with none of a definition's fields. */
	REFUSED("{}", "payload: \"command\" is required",
	    "payload: \"maxRunTime\" is required");
	REFUSED("{\"maxRunTime\": 1}", "payload: \"command\" is required");
	REFUSED("{\"created\": \"" CREATED "\"}",
	    "task: \"payload\" is required");
}

/* generic-worker: TestEnvVarsMustBeStrings */
static void
test_env_vars_must_be_strings(void **state)
{
	(void)state;
	PAYLOAD_REFUSED("{\"env\": {\"XPI_NAME\": "
	    "\"dist/example_add-on-0.0.1.zip\", \"NUMBER\": 1234, "
	    "\"FLAG\": true}, \"maxRunTime\": 3, \"command\": ["
	    HELLO_GOODBYE "]}",
	    "payload.env.NUMBER: must be a string",
	    "payload.env.FLAG: must be a string");
}

/* generic-worker: TestExtraFieldsNotAllowed */
static void
test_extra_fields_not_allowed(void **state)
{
	(void)state;
	PAYLOAD_REFUSED("{\"env\": {\"XPI_NAME\": "
	    "\"dist/example_add-on-0.0.1.zip\"}, \"maxRunTime\": 3, "
	    "\"extraField\": \"This field is not allowed!\", \"command\": ["
	    HELLO_GOODBYE "]}",
	    "payload: property \"extraField\" is not allowed");
}

/* generic-worker: TestNoCommandsSpecified */
static void
test_no_commands_specified(void **state)
{
	(void)state;
	PAYLOAD_REFUSED("{\"env\": {\"XPI_NAME\": "
	    "\"dist/example_add-on-0.0.1.zip\"}, \"maxRunTime\": 3, "
	    "\"command\": []}", "payload.command: must have at least 1 item");
	PAYLOAD_REFUSED("{\"maxRunTime\": 3, \"command\": [[]]}",
	    "payload.command[0]: must have at least 1 item");
	PAYLOAD_REFUSED("{\"maxRunTime\": 3, \"command\": \"echo hi\"}",
	    "payload.command: must be an array");
}

/* generic-worker: TestValidPayload */
static void
test_valid_payload(void **state)
{
	struct task_def t;

	(void)state;
	payload_ok("{\"env\": {\"XPI_NAME\": "
	    "\"dist/example_add-on-0.0.1.zip\"}, "
	    "\"maxRunTime\": 3, \"command\": [" HELLO_GOODBYE "]}", &t);
	assert_int_equal(t.ncommands, 2);
	assert_string_equal(t.commands[0][0], "echo");
	assert_string_equal(t.commands[0][1], "hello world!");
	assert_null(t.commands[0][2]);
	assert_string_equal(t.commands[1][1], "goodbye world!");
	assert_int_equal(t.nenv, 1);
	assert_string_equal(t.env[0], "XPI_NAME=dist/example_add-on-0.0.1.zip");
	assert_int_equal(t.max_run_time, 3);
	assert_int_equal(t.created_ms, CREATED_MS);
	assert_int_equal(t.deadline_ms, DEADLINE_MS);
	assert_int_equal(t.expires_ms, EXPIRES_MS);
	assert_string_equal(t.task_group_id, "f3cKkFanQJeQVJ1cCkKN2w");
	assert_string_equal(t.scheduler_id, "taskcluster-ui");
	assert_string_equal(t.provisioner_id, "proj-sepworker");
	assert_string_equal(t.worker_type, "linux");
	assert_string_equal(t.project_id, "none");
	assert_string_equal(t.name, "hello");
	assert_string_equal(t.owner, "me@example.com");
	assert_int_equal(t.nscopes, 0);
	assert_int_equal(t.nartifacts, 0);
	assert_int_equal(t.nretry, 0);
	assert_true(t.features.live_log);
	assert_true(t.features.backing_log);
	assert_false(t.features.chain_of_trust);
	assert_false(t.features.taskcluster_proxy);
	assert_string_equal(t.live_log_name, "public/logs/live.log");
	assert_string_equal(t.backing_log_name, "public/logs/live_backing.log");
	assert_non_null(t.json);
	task_def_free(&t);
	assert_null(t.json);
}

static void
artifact_payload(char *buf, size_t len, const char *expires)
{
	snprintf(buf, len, "{\"maxRunTime\": 3, \"command\": [[\"true\"]], "
	    "\"artifacts\": [{\"type\": \"file\", \"path\": \"a.txt\", "
	    "\"expires\": \"%s\"}]}", expires);
}

/* generic-worker: TestArtifactExpiresBeforeDeadline */
static void
test_artifact_expires_before_deadline(void **state)
{
	char payload[512];

	(void)state;
	artifact_payload(payload, sizeof(payload), "2026-01-06T09:59:58.999Z");
	PAYLOAD_REFUSED(payload, "payload.artifacts[0].expires: "
	    "\"2026-01-06T09:59:58.999Z\" is before the task's deadline, "
	    DEADLINE ": an artifact must not expire before its task's "
	    "deadline");
}

/* generic-worker: TestArtifactExpiresAfterTaskExpiry */
static void
test_artifact_expires_after_task_expiry(void **state)
{
	char payload[512];

	(void)state;
	artifact_payload(payload, sizeof(payload), "2027-01-05T10:00:01.001Z");
	PAYLOAD_REFUSED(payload, "payload.artifacts[0].expires: "
	    "\"2027-01-05T10:00:01.001Z\" is after the task's expires, "
	    EXPIRES ": an artifact must not outlive its task");
}

/* generic-worker: TestArtifactExpiresWithinBounds, with its 1 s slack */
static void
test_artifact_expires_within_bounds(void **state)
{
	static const char *const ok[] = {
		"2026-01-06T09:59:59.000Z",	/* deadline - 1 s */
		DEADLINE,
		"2026-06-01T00:00:00Z",
		"2027-01-05T12:00:01+02:00",	/* expires + 1 s */
	};
	static const int64_t ok_ms[] = {
		DEADLINE_MS - 1000, DEADLINE_MS, INT64_C(1780272000000),
		EXPIRES_MS + 1000,
	};
	char payload[512];
	struct task_def t;
	size_t i;

	(void)state;
	for (i = 0; i < nitems(ok); i++) {
		artifact_payload(payload, sizeof(payload), ok[i]);
		payload_ok(payload, &t);
		assert_int_equal(t.nartifacts, 1);
		assert_int_equal(t.artifacts[0].expires_ms, ok_ms[i]);
		task_def_free(&t);
	}
}

/* generic-worker: TestDefaultArtifactExpiry; and the other defaults */
static void
test_artifact_defaults(void **state)
{
	struct task_def t;

	(void)state;
	payload_ok("{\"maxRunTime\": 3, \"command\": [[\"true\"]], "
	    "\"artifacts\": [{\"type\": \"file\", \"path\": \"out/a.tar.gz\"}, "
	    "{\"type\": \"directory\", \"path\": \"out/logs\", "
	    "\"name\": \"public/logs/extra\", \"contentType\": \"text/html\", "
	    "\"contentEncoding\": \"identity\", \"optional\": true}]}", &t);
	assert_int_equal(t.nartifacts, 2);
	assert_int_equal(t.artifacts[0].type, ARTIFACT_FILE);
	assert_string_equal(t.artifacts[0].path, "out/a.tar.gz");
	assert_string_equal(t.artifacts[0].name, "out/a.tar.gz");
	assert_int_equal(t.artifacts[0].expires_ms, EXPIRES_MS);
	assert_null(t.artifacts[0].content_type);
	assert_null(t.artifacts[0].content_encoding);
	assert_false(t.artifacts[0].optional);
	assert_int_equal(t.artifacts[1].type, ARTIFACT_DIRECTORY);
	assert_string_equal(t.artifacts[1].name, "public/logs/extra");
	assert_string_equal(t.artifacts[1].content_type, "text/html");
	assert_string_equal(t.artifacts[1].content_encoding, "identity");
	assert_true(t.artifacts[1].optional);
	task_def_free(&t);
}

static void
test_artifact_rules(void **state)
{
	(void)state;
	PAYLOAD_REFUSED("{\"maxRunTime\": 3, \"command\": [[\"true\"]], "
	    "\"artifacts\": [{\"type\": \"file\", \"path\": \"\"}, "
	    "{\"type\": \"file\", \"path\": \"a\", \"name\": \"\"}, "
	    "{\"type\": \"link\", \"path\": \"b\"}, "
	    "{\"path\": \"c\", \"contentEncoding\": \"br\"}, "
	    "{\"type\": \"file\", \"path\": \"d\", \"expires\": \"tomorrow\", "
	    "\"optional\": \"yes\", \"url\": \"x\"}]}",
	    "payload.artifacts[0].path: must not be empty",
	    "payload.artifacts[1].name: must not be empty",
	    "payload.artifacts[2].type: must be one of \"file\", \"directory\"",
	    "payload.artifacts[3]: \"type\" is required",
	    "payload.artifacts[3].contentEncoding: must be one of "
	    "\"identity\", \"gzip\"",
	    "payload.artifacts[4].expires: must be an RFC 3339 date-time",
	    "payload.artifacts[4].optional: must be true or false",
	    "payload.artifacts[4]: property \"url\" is not allowed");
}

/* run-task's TASK.json may be just a payload. */
static void
test_bare_payload_gets_defaults(void **state)
{
	static const char *want =
	    "{\n"
	    "  \"created\":\"2026-01-05T10:00:00.000Z\",\n"
	    "  \"deadline\":\"2026-01-06T10:00:00.000Z\",\n"
	    "  \"dependencies\":[\n"
	    "  ],\n"
	    "  \"expires\":\"2027-01-06T10:00:00.000Z\",\n"
	    "  \"extra\":{\n"
	    "  },\n"
	    "  \"metadata\":{\n"
	    "    \"description\":\"\",\n"
	    "    \"name\":\"run-task\",\n"
	    "    \"owner\":\"sepworker@localhost\",\n"
	    "    \"source\":\"https://github.com/taskcluster/taskcluster\"\n"
	    "  },\n"
	    "  \"payload\":{\n"
	    "    \"maxRunTime\":30,\n"
	    "    \"command\":[\n"
	    "      [\n"
	    "        \"true\"\n"
	    "      ]\n"
	    "    ]\n"
	    "  },\n"
	    "  \"priority\":\"lowest\",\n"
	    "  \"projectId\":\"none\",\n"
	    "  \"provisionerId\":\"proj-sepworker\",\n"
	    "  \"requires\":\"all-completed\",\n"
	    "  \"retries\":0,\n"
	    "  \"routes\":[\n"
	    "  ],\n"
	    "  \"schedulerId\":\"-\",\n"
	    "  \"scopes\":[\n"
	    "  ],\n"
	    "  \"tags\":{\n"
	    "  },\n"
	    "  \"taskGroupId\":\"f3cKkFanQJeQVJ1cCkKN2w\",\n"
	    "  \"taskQueueId\":\"proj-sepworker/linux\",\n"
	    "  \"workerType\":\"linux\"\n"
	    "}";
	struct task_def t;
	size_t len;
	char *text;

	(void)state;
	parse_ok("{\"maxRunTime\": 30, \"command\": [[\"true\"]]}", &t);
	assert_int_equal(t.created_ms, CREATED_MS);
	assert_int_equal(t.deadline_ms, DEADLINE_MS);
	/* One calendar year, as the Queue's default. */
	assert_int_equal(t.expires_ms, DEADLINE_MS + INT64_C(365) * 86400000);
	assert_string_equal(t.task_group_id, "f3cKkFanQJeQVJ1cCkKN2w");
	assert_string_equal(t.scheduler_id, "-");
	assert_string_equal(t.project_id, "none");
	assert_string_equal(t.name, "run-task");
	assert_string_equal(t.owner, "sepworker@localhost");
	assert_int_equal(t.max_run_time, 30);
	text = payload_reencode(&t, &len);
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
	free(text);
	task_def_free(&t);
}

/* Missing times in a definition default as in a bare payload; the
 * Queue's one-year default keeps to the calendar. */
static void
test_missing_times_default(void **state)
{
	struct task_def t;

	(void)state;
	parse_ok("{\"deadline\": \"2028-02-29T12:00:00Z\", \"payload\": "
	    "{\"maxRunTime\": 1, \"command\": [[\"true\"]]}}", &t);
	assert_int_equal(t.created_ms, CREATED_MS);
	/* 2029-03-01T12:00:00Z */
	assert_int_equal(t.expires_ms, INT64_C(1867060800000));
	task_def_free(&t);
	REFUSED("{\"deadline\": \"9999-06-01T00:00:00Z\", \"payload\": "
	    "{\"maxRunTime\": 1, \"command\": [[\"true\"]]}}",
	    "task.expires: is missing, and its default would lie outside "
	    "the years 1970 to 9999");
}

static void
test_max_run_time_above_worker_limit(void **state)
{
	struct payload_ctx ctx = base_ctx;
	struct task_def t;

	(void)state;
	PAYLOAD_REFUSED("{\"maxRunTime\": 90000, \"command\": [[\"true\"]]}",
	    "payload.maxRunTime: 90000 seconds is more than this worker's "
	    "maxTaskRunTime of 86400");
	PAYLOAD_REFUSED("{\"maxRunTime\": 0, \"command\": [[\"true\"]]}",
	    "payload.maxRunTime: must be at least 1");
	PAYLOAD_REFUSED("{\"maxRunTime\": 1.5, \"command\": [[\"true\"]]}",
	    "payload.maxRunTime: must be an integer");
	payload_ok("{\"maxRunTime\": 86400, \"command\": [[\"true\"]]}", &t);
	assert_int_equal(t.max_run_time, 86400);
	task_def_free(&t);
	ctx.max_task_run_time = 60;
	REFUSED_CTX("{\"maxRunTime\": 61, \"command\": [[\"true\"]]}", &ctx,
	    "payload.maxRunTime: 61 seconds is more than this worker's "
	    "maxTaskRunTime of 60");
}

static void
feature_refused(const char *name, const struct payload_ctx *ctx,
    const char *want)
{
	char *doc;

	doc = xasprintf("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"features\": {\"%s\": true}}", name);
	REFUSED_CTX(doc, ctx, want);
	free(doc);
}

static void
feature_accepted(const char *features, const struct payload_ctx *ctx,
    struct task_def *t)
{
	char *doc;

	doc = xasprintf("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"features\": %s}", features);
	parse_ok_ctx(doc, ctx, t);
	free(doc);
}

static void
test_features_the_worker_may_offer(void **state)
{
	struct payload_ctx ctx = base_ctx;
	struct task_def t;

	(void)state;
	feature_accepted("{\"chainOfTrust\": true, \"taskclusterProxy\": true}",
	    &ctx, &t);
	assert_true(t.features.chain_of_trust);
	assert_true(t.features.taskcluster_proxy);
	task_def_free(&t);

	ctx.enable_chain_of_trust = ctx.enable_taskcluster_proxy = false;
	feature_refused("chainOfTrust", &ctx, "payload.features.chainOfTrust: "
	    "this worker's configuration disables chain of trust "
	    "(enableChainOfTrust)");
	feature_refused("taskclusterProxy", &ctx,
	    "payload.features.taskclusterProxy: this worker's configuration "
	    "disables the taskcluster proxy (enableTaskclusterProxy)");
	/* Not asked for, a disabled feature is no problem. */
	feature_accepted("{\"chainOfTrust\": false, \"taskclusterProxy\": "
	    "false}", &ctx, &t);
	task_def_free(&t);

	ctx = base_ctx;
	ctx.chain_of_trust_refusal = "this worker has no signing key";
	ctx.taskcluster_proxy_refusal = "this worker has no credentials";
	feature_refused("chainOfTrust", &ctx, "payload.features.chainOfTrust: "
	    "this worker has no signing key");
	feature_refused("taskclusterProxy", &ctx,
	    "payload.features.taskclusterProxy: this worker has no "
	    "credentials");
}

static void
test_features_never_offered(void **state)
{
	struct task_def t;

	(void)state;
	feature_refused("interactive", &base_ctx, "payload.features."
	    "interactive: sepworker offers no interactive sessions");
	feature_refused("loopbackAudio", &base_ctx, "payload.features."
	    "loopbackAudio: sepworker provides no loopback audio device");
	feature_refused("loopbackVideo", &base_ctx, "payload.features."
	    "loopbackVideo: sepworker provides no loopback video device");
	feature_refused("runTaskAsCurrentUser", &base_ctx, "payload.features."
	    "runTaskAsCurrentUser: sepworker never runs a task as the "
	    "worker's own user");
	feature_accepted("{\"interactive\": false, \"loopbackAudio\": false, "
	    "\"loopbackVideo\": false, \"runTaskAsCurrentUser\": false, "
	    "\"resourceMonitor\": true, \"liveLog\": false, "
	    "\"backingLog\": false}", &base_ctx, &t);
	assert_false(t.features.live_log);
	assert_false(t.features.backing_log);
	task_def_free(&t);
	feature_accepted("{\"resourceMonitor\": false}", &base_ctx, &t);
	task_def_free(&t);
	REFUSED("{\"maxRunTime\": 1, \"command\": [[\"true\"]], \"features\": "
	    "{\"dind\": true, \"liveLog\": 1}}",
	    "payload.features: property \"dind\" is not allowed",
	    "payload.features.liveLog: must be true or false");
}

/* The schema's "default"s are what payload_parse applies. */
static void
test_feature_defaults_match_schema(void **state)
{
	static const struct {
		const char	*name;
		size_t		 offset;
	} features[] = {
		{ "chainOfTrust", offsetof(struct task_features,
		    chain_of_trust) },
		{ "taskclusterProxy", offsetof(struct task_features,
		    taskcluster_proxy) },
		{ "liveLog", offsetof(struct task_features, live_log) },
		{ "backingLog", offsetof(struct task_features, backing_log) },
	};
	struct json_object *schema, *props, *f, *dflt;
	struct task_def t;
	size_t i;

	(void)state;
	schema = json_tokener_parse(payload_schema_json);
	assert_non_null(schema);
	assert_true(json_object_object_get_ex(schema, "properties", &props));
	assert_true(json_object_object_get_ex(props, "features", &f));
	assert_true(json_object_object_get_ex(f, "properties", &f));
	parse_ok("{\"maxRunTime\": 1, \"command\": [[\"true\"]]}", &t);
	for (i = 0; i < nitems(features); i++) {
		assert_true(json_object_object_get_ex(f, features[i].name,
		    &dflt));
		assert_true(json_object_object_get_ex(dflt, "default", &dflt));
		assert_int_equal(json_object_get_boolean(dflt),
		    *(bool *)((char *)&t.features + features[i].offset));
	}
	assert_true(json_object_object_get_ex(props, "logs", &f));
	assert_true(json_object_object_get_ex(f, "properties", &f));
	assert_true(json_object_object_get_ex(f, "live", &dflt));
	assert_true(json_object_object_get_ex(dflt, "default", &dflt));
	assert_string_equal(json_object_get_string(dflt), t.live_log_name);
	assert_true(json_object_object_get_ex(f, "backing", &dflt));
	assert_true(json_object_object_get_ex(dflt, "default", &dflt));
	assert_string_equal(json_object_get_string(dflt), t.backing_log_name);
	task_def_free(&t);
	json_object_put(schema);
}

static void
test_mounts_and_os_groups(void **state)
{
	struct task_def t;

	(void)state;
	payload_ok("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"mounts\": [], \"osGroups\": []}", &t);
	task_def_free(&t);
	PAYLOAD_REFUSED("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"mounts\": [{\"cacheName\": \"c\", \"directory\": \"d\"}], "
	    "\"osGroups\": [\"docker\"]}",
	    "payload.mounts: must be empty",
	    "payload.osGroups: must be empty");
}

static void
test_env_names(void **state)
{
	struct task_def t;

	(void)state;
	PAYLOAD_REFUSED("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"env\": {\"\": \"x\", \"A=B\": \"y\", \"OK\": \"z\"}}",
	    "payload.env[\"\"]: environment variable names must not be empty",
	    "payload.env[\"A=B\"]: environment variable names must not "
	    "contain \"=\"");
	PAYLOAD_REFUSED("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"env\": {\"A\": \"x\\u0000y\"}}",
	    "payload.env.A: must not contain a NUL character");
	/* Values may hold '=' and anything else but NUL; order is kept. */
	payload_ok("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"env\": {\"Z\": \"a=b\", \"A\": \"\", \"lower_1\": \"\\n\"}}",
	    &t);
	assert_int_equal(t.nenv, 3);
	assert_string_equal(t.env[0], "Z=a=b");
	assert_string_equal(t.env[1], "A=");
	assert_string_equal(t.env[2], "lower_1=\n");
	task_def_free(&t);
}

static void
test_nul_in_strings_refused(void **state)
{
	(void)state;
	PAYLOAD_REFUSED("{\"maxRunTime\": 1, \"command\": "
	    "[[\"echo\", \"a\\u0000b\"]]}",
	    "payload.command[0][1]: must not contain a NUL character");
	PAYLOAD_REFUSED("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"artifacts\": [{\"type\": \"file\", \"path\": \"a\\u0000\", "
	    "\"name\": \"\\u0000\"}]}",
	    "payload.artifacts[0].path: must not contain a NUL character",
	    "payload.artifacts[0].name: must not contain a NUL character");
}

static void
test_exit_status_and_logs(void **state)
{
	struct task_def t;

	(void)state;
	payload_ok("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"onExitStatus\": {\"retry\": [36, 1], \"purgeCaches\": [0]}, "
	    "\"logs\": {\"live\": \"public/l.log\", \"backing\": \"b.log\"}, "
	    "\"supersederUrl\": \"https://example.com\", "
	    "\"taskclusterProxyInterface\": \"localhost\"}", &t);
	assert_int_equal(t.nretry, 2);
	assert_int_equal(t.retry_codes[0], 36);
	assert_int_equal(t.retry_codes[1], 1);
	assert_string_equal(t.live_log_name, "public/l.log");
	assert_string_equal(t.backing_log_name, "b.log");
	task_def_free(&t);
	PAYLOAD_REFUSED("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"onExitStatus\": {\"retry\": [0], \"purgeCaches\": [-1], "
	    "\"other\": []}, \"logs\": {\"live\": \"\"}, "
	    "\"taskclusterProxyInterface\": \"docker-bridge\"}",
	    "payload.onExitStatus.retry[0]: must be at least 1",
	    "payload.onExitStatus.purgeCaches[0]: must be at least 0",
	    "payload.onExitStatus: property \"other\" is not allowed",
	    "payload.logs.live: must not be empty",
	    "payload.taskclusterProxyInterface: must be one of \"localhost\"");
}

/* The logs may be renamed, even onto each other's default names, but
 * not onto a chain-of-trust file, one name for both, or past the cap. */
static void
test_log_names(void **state)
{
	struct task_def t;
	char *long_name, *json;

	(void)state;
	payload_ok("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"logs\": {\"live\": \"public/logs/live_backing.log\", "
	    "\"backing\": \"public/logs/live.log\"}}", &t);
	assert_string_equal(t.live_log_name, "public/logs/live_backing.log");
	task_def_free(&t);
	PAYLOAD_REFUSED("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"logs\": {\"live\": \"public/chain-of-trust.json.sig\", "
	    "\"backing\": \"public/logs/certified.log\"}}",
	    "payload.logs.live: \"public/chain-of-trust.json.sig\" is written "
	    "by the worker's Chain of Trust feature",
	    "payload.logs.backing: \"public/logs/certified.log\" is written by "
	    "the worker's Chain of Trust feature");
	PAYLOAD_REFUSED("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"logs\": {\"live\": \"public/logs/live_backing.log\"}}",
	    "payload.logs: live and backing are both "
	    "\"public/logs/live_backing.log\"");
	long_name = xmalloc(TASK_LOG_NAME_MAX + 2);
	memset(long_name, 'x', TASK_LOG_NAME_MAX + 1);
	long_name[TASK_LOG_NAME_MAX + 1] = '\0';
	json = xasprintf("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"logs\": {\"backing\": \"%s\"}}", long_name);
	PAYLOAD_REFUSED(json, "payload.logs.backing: longer than 1024 bytes");
	free(json);
	free(long_name);
}

/* Every problem is reported, not just the first. */
static void
test_several_problems_all_reported(void **state)
{
	(void)state;
	PAYLOAD_REFUSED("{\"command\": [], \"env\": {\"N\": 1}, "
	    "\"maxRunTime\": 100000, \"extra\": 1, "
	    "\"features\": {\"interactive\": true}, "
	    "\"artifacts\": [{\"type\": \"dir\", \"path\": \"x\"}]}",
	    "payload.command: must have at least 1 item",
	    "payload.env.N: must be a string",
	    "payload: property \"extra\" is not allowed",
	    "payload.artifacts[0].type: must be one of",
	    "payload.maxRunTime: 100000 seconds is more than",
	    "payload.features.interactive: sepworker offers no");
}

static void
test_error_lines_capped(void **state)
{
	struct strlist errs = { 0 };
	struct task_def t;
	size_t i, len = 0;
	char *doc;

	(void)state;
	doc = xmalloc(8192);
	len += (size_t)snprintf(doc + len, 8192 - len,
	    "{\"maxRunTime\": 1, \"command\": [[\"true\"]], \"env\": {");
	for (i = 0; i < 150; i++)
		len += (size_t)snprintf(doc + len, 8192 - len,
		    "%s\"V%zu\": %zu", i ? ", " : "", i, i);
	snprintf(doc + len, 8192 - len, "}}");
	assert_int_equal(payload_parse(doc, strlen(doc), &base_ctx, &t, &errs),
	    -1);
	assert_int_equal(errs.n, PAYLOAD_MAX_ERRORS + 1);
	assert_string_equal(errs.v[0], "payload.env.V0: must be a string");
	assert_string_equal(errs.v[PAYLOAD_MAX_ERRORS],
	    "(50 more problems not listed)");
	strlist_free(&errs);
	free(doc);
}

static void
test_definition_fields_checked(void **state)
{
	(void)state;
	REFUSED("{\"created\": \"yesterday\", \"deadline\": 5, "
	    "\"scopes\": [\"a\", 1], \"routes\": {}, "
	    "\"metadata\": {\"name\": 1}, \"provisionerId\": null, "
	    "\"retries\": -1, \"tags\": {\"k\": 1}, \"extra\": [], "
	    "\"payload\": {\"maxRunTime\": 1, \"command\": [[\"true\"]]}}",
	    "task.created: must be an RFC 3339 date-time from 1970 to 9999",
	    "task.deadline: must be a string",
	    "task.scopes[1]: must be a string",
	    "task.routes: must be an array of strings",
	    "task.metadata.name: must be a string",
	    "task.provisionerId: must be a string",
	    "task.retries: must be an integer from 0 to",
	    "task.tags.k: must be a string",
	    "task.extra: must be an object");
	REFUSED("{\"created\": \"" CREATED "\", \"metadata\": []}",
	    "task.metadata: must be an object",
	    "task: \"payload\" is required");
	REFUSED("{\"created\": \"" CREATED "\", \"payload\": []}",
	    "payload: must be an object");
	REFUSED("{\"schedulerId\": \"a\\u0000\", \"payload\": "
	    "{\"maxRunTime\": 1, \"command\": [[\"true\"]]}}",
	    "task.schedulerId: must not contain a NUL character");
	/* A scope holds a line of the proxy's scope list: no newline. */
	REFUSED("{\"scopes\": [\"ok\", \"a\\nb\", \"\\u00e9\"], "
	    "\"payload\": {\"maxRunTime\": 1, \"command\": [[\"true\"]]}}",
	    "task.scopes[1]: must be printable ASCII",
	    "task.scopes[2]: must be printable ASCII");
}

static void
test_not_a_definition(void **state)
{
	char *big;

	(void)state;
	REFUSED("[]", "task definition: must be a JSON object");
	REFUSED("{\"payload\": {}, \"payload\": {}}",
	    "task definition: byte 16: duplicate key \"payload\"");
	REFUSED("{\"payload\": {} junk", "task definition: byte ");
	REFUSED("", "task definition: ");
	big = xmalloc(PAYLOAD_MAX_BYTES + 2);
	memset(big, ' ', PAYLOAD_MAX_BYTES + 1);
	big[PAYLOAD_MAX_BYTES + 1] = '\0';
	REFUSED(big, "task definition: 4194305 bytes exceeds the limit of "
	    "4194304");
	free(big);
}

/* Integers json-c cannot hold would come out as other numbers. */
static void
test_unrepresentable_integers_refused(void **state)
{
	(void)state;
	REFUSED("{\"extra\": {\"n\": [99999999999999999999]}, \"payload\": "
	    "{\"maxRunTime\": 1, \"command\": [[\"true\"]]}}",
	    "task.extra.n[0]: integers must lie between "
	    "-9223372036854775807 and 18446744073709551614");
	REFUSED("{\"maxRunTime\": 1, \"command\": [[\"true\"]], "
	    "\"onExitStatus\": {\"retry\": [-99999999999999999999]}}",
	    "payload.onExitStatus.retry[0]: integers must lie between",
	    "payload.onExitStatus.retry[0]: must be at least 1");
}

/* Indenting deep nesting multiplies the size: the re-encoding must
 * still fit the limit a second parse (and the supervisor) apply. */
static void
test_reencoding_size_limited(void **state)
{
	size_t i, len = 0;
	char *nest, *doc;

	(void)state;
	/* 80 kB plain; indented 60 levels deep, about 5 MB. */
	nest = xmalloc(60 * 2 + 40000 * 2);
	for (i = 0; i < 60; i++)
		nest[len++] = '[';
	for (i = 0; i < 40000; i++) {
		memcpy(nest + len, "1,", 2);
		len += 2;
	}
	len--;
	for (i = 0; i < 60; i++)
		nest[len++] = ']';
	nest[len] = '\0';
	doc = xasprintf("{\"extra\": {\"x\": %s}, \"payload\": "
	    "{\"maxRunTime\": 1, \"command\": [[\"true\"]]}}", nest);
	REFUSED(doc, "task definition: 5088500 bytes once re-encoded, more "
	    "than the limit of 4194304");
	free(doc);
	free(nest);
}

/* A bare payload nests one level deeper once wrapped. */
static void
test_bare_payload_depth(void **state)
{
	char doc[512];
	size_t i, len = 0;
	int depth;

	(void)state;
	for (depth = PAYLOAD_MAX_DEPTH - 1; depth <= PAYLOAD_MAX_DEPTH;
	    depth++) {
		len = (size_t)snprintf(doc, sizeof(doc), "{\"maxRunTime\": 1, "
		    "\"command\": [[\"true\"]], \"env\": ");
		for (i = 1; i < (size_t)depth; i++)
			doc[len++] = '[';
		for (i = 1; i < (size_t)depth; i++)
			doc[len++] = ']';
		snprintf(doc + len, sizeof(doc) - len, "}");
		if (depth < PAYLOAD_MAX_DEPTH)
			REFUSED(doc, "payload.env: must be an object");
		else
			REFUSED(doc, "payload.env: must be an object",
			    "payload: containers nest deeper than 63 levels");
	}
}

static const char known_definition[] =
    "{\"workerType\": \"linux\", \"zzz\": 1, \"taskQueueId\": \"p/linux\", "
    "\"status\": {\"state\": \"running\"}, \"provisionerId\": \"p\", "
    "\"retries\": 5, \"routes\": [\"index.a\"], \"tags\": {\"b\": \"1\", "
    "\"a\": \"2\"}, \"scopes\": [\"queue:x/y\"], "
    "\"extra\": {\"z\": 1.50, \"a\": [true, null]}, "
    "\"schedulerId\": \"s\", \"taskGroupId\": \"g\", \"projectId\": \"\", "
    "\"priority\": \"high\", \"requires\": \"all-resolved\", "
    "\"dependencies\": [\"d\"], "
    "\"payload\": {\"maxRunTime\": 5, \"env\": {\"U\": \"<a/b&>\"}, "
    "\"command\": [[\"sh\", \"-c\", \"echo \\\"hi\\\"\\n\"]]}, "
    "\"metadata\": {\"source\": \"https://x/y\", \"owner\": \"o@x\", "
    "\"extraMeta\": 1, \"name\": \"n\", \"description\": \"\\u00e9\"}, "
    "\"expires\": \"2027-01-05T12:00:00+02:00\", "
    "\"deadline\": \"2026-01-06T10:00:00.123456Z\", "
    "\"created\": \"2026-01-05T10:00:00Z\"}";

/*
 * generic-worker's TaskDefinitionResponse: its key order, unknown fields
 * dropped, empty projectId left out, times with milliseconds in UTC;
 * payload and extra as given.
 */
static void
test_reencoding_is_exact(void **state)
{
	static const char *want =
	    "{\n"
	    "  \"created\":\"2026-01-05T10:00:00.000Z\",\n"
	    "  \"deadline\":\"2026-01-06T10:00:00.123Z\",\n"
	    "  \"dependencies\":[\n"
	    "    \"d\"\n"
	    "  ],\n"
	    "  \"expires\":\"2027-01-05T10:00:00.000Z\",\n"
	    "  \"extra\":{\n"
	    "    \"z\":1.50,\n"
	    "    \"a\":[\n"
	    "      true,\n"
	    "      null\n"
	    "    ]\n"
	    "  },\n"
	    "  \"metadata\":{\n"
	    "    \"description\":\"\xc3\xa9\",\n"
	    "    \"name\":\"n\",\n"
	    "    \"owner\":\"o@x\",\n"
	    "    \"source\":\"https://x/y\"\n"
	    "  },\n"
	    "  \"payload\":{\n"
	    "    \"maxRunTime\":5,\n"
	    "    \"env\":{\n"
	    "      \"U\":\"<a/b&>\"\n"
	    "    },\n"
	    "    \"command\":[\n"
	    "      [\n"
	    "        \"sh\",\n"
	    "        \"-c\",\n"
	    "        \"echo \\\"hi\\\"\\n\"\n"
	    "      ]\n"
	    "    ]\n"
	    "  },\n"
	    "  \"priority\":\"high\",\n"
	    "  \"provisionerId\":\"p\",\n"
	    "  \"requires\":\"all-resolved\",\n"
	    "  \"retries\":5,\n"
	    "  \"routes\":[\n"
	    "    \"index.a\"\n"
	    "  ],\n"
	    "  \"schedulerId\":\"s\",\n"
	    "  \"scopes\":[\n"
	    "    \"queue:x/y\"\n"
	    "  ],\n"
	    "  \"tags\":{\n"
	    "    \"b\":\"1\",\n"
	    "    \"a\":\"2\"\n"
	    "  },\n"
	    "  \"taskGroupId\":\"g\",\n"
	    "  \"taskQueueId\":\"p/linux\",\n"
	    "  \"workerType\":\"linux\"\n"
	    "}";
	struct task_def t;
	size_t len;
	char *text;

	(void)state;
	parse_ok(known_definition, &t);
	assert_string_equal(t.project_id, "");
	assert_int_equal(t.nscopes, 1);
	assert_string_equal(t.scopes[0], "queue:x/y");
	text = payload_reencode(&t, &len);
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
	free(text);
	task_def_free(&t);
}

/* What the supervisor checks before splicing it into the CoT document;
 * and parsing it again gives the same bytes. */
static void
test_reencoding_is_one_object_and_stable(void **state)
{
	const struct jsonscan_opts opts = {
		.max_depth = PAYLOAD_MAX_DEPTH,
		.require_object = true,
		.reject_duplicate_keys = true,
		.reject_nul_in_keys = true,
	};
	struct task_def t, again;
	char *text, *text2, err[256];
	size_t len, len2;

	(void)state;
	parse_ok(known_definition, &t);
	text = payload_reencode(&t, &len);
	if (jsonscan_validate(text, len, &opts, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	parse_ok(text, &again);
	text2 = payload_reencode(&again, &len2);
	assert_int_equal(len, len2);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	task_def_free(&t);
	task_def_free(&again);
}

static void
test_content_type_by_name(void **state)
{
	static const char *const cases[][2] = {
		{ "public/logs/live_backing.log", "text/plain" },
		{ "events.jsonl", "application/jsonl" },
		{ "a/b/report.JSON", "application/json" },
		{ "index.html", "text/html; charset=utf-8" },
		{ "notes.txt", "text/plain; charset=utf-8" },
		{ "target.tar.gz", "application/gzip" },
		{ "target.tar.zst", "application/zstd" },
		{ "image.PNG", "image/png" },
		{ "photo.jpeg", "image/jpeg" },
		{ "app.apk", "application/vnd.android.package-archive" },
		{ "x.wasm", "application/wasm" },
		{ "x.whl", "application/zip" },
		{ "font.woff2", "font/woff2" },
		{ "no-extension", "application/octet-stream" },
		{ "dir.log/file", "application/octet-stream" },
		{ "trailing.", "application/octet-stream" },
		{ "x.unknownext", "application/octet-stream" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < nitems(cases); i++)
		if (strcmp(artifact_content_type(cases[i][0]),
		    cases[i][1]) != 0)
			fail_msg("%s: %s, want %s", cases[i][0],
			    artifact_content_type(cases[i][0]), cases[i][1]);
}

static void
test_content_encoding_case_sensitive(void **state)
{
	static const char *const identity[] = {
		"a.7z", "a.br", "a.aab", "a.apk", "a.bz2", "a.deb", "a.dmg",
		"a.flv", "a.gif", "a.gz", "a.jar", "a.jpeg", "a.jpg", "a.lz",
		"a.lz4", "a.mz", "a.npz", "a.pkg", "a.png", "a.swf", "a.sz",
		"a.tbz", "a.tgz", "a.wasm", "a.webp", "a.whl", "a.woff",
		"a.woff2", "a.xpi", "a.xz", "a.zip", "a.zst", "a.zz",
		"dir/target.tar.gz",
	};
	/* The identity list is compared case-sensitively, as
	 * generic-worker compares it. */
	static const char *const gzip[] = {
		"a.log", "a.txt", "a.json", "a.tar", "a.html", "noext",
		"gz", "a.gz.txt", "x.gz/file", "dir/TARGET.TAR.GZ", "x.Zip",
		"image.PNG",
	};
	size_t i;

	(void)state;
	for (i = 0; i < nitems(identity); i++)
		if (strcmp(artifact_content_encoding(identity[i]),
		    "identity") != 0)
			fail_msg("%s: not identity", identity[i]);
	for (i = 0; i < nitems(gzip); i++)
		if (strcmp(artifact_content_encoding(gzip[i]), "gzip") != 0)
			fail_msg("%s: not gzip", gzip[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_payload_object),
		cmocka_unit_test(test_env_vars_must_be_strings),
		cmocka_unit_test(test_extra_fields_not_allowed),
		cmocka_unit_test(test_no_commands_specified),
		cmocka_unit_test(test_valid_payload),
		cmocka_unit_test(test_artifact_expires_before_deadline),
		cmocka_unit_test(test_artifact_expires_after_task_expiry),
		cmocka_unit_test(test_artifact_expires_within_bounds),
		cmocka_unit_test(test_artifact_defaults),
		cmocka_unit_test(test_artifact_rules),
		cmocka_unit_test(test_bare_payload_gets_defaults),
		cmocka_unit_test(test_missing_times_default),
		cmocka_unit_test(test_max_run_time_above_worker_limit),
		cmocka_unit_test(test_features_the_worker_may_offer),
		cmocka_unit_test(test_features_never_offered),
		cmocka_unit_test(test_feature_defaults_match_schema),
		cmocka_unit_test(test_mounts_and_os_groups),
		cmocka_unit_test(test_env_names),
		cmocka_unit_test(test_nul_in_strings_refused),
		cmocka_unit_test(test_exit_status_and_logs),
		cmocka_unit_test(test_log_names),
		cmocka_unit_test(test_several_problems_all_reported),
		cmocka_unit_test(test_error_lines_capped),
		cmocka_unit_test(test_definition_fields_checked),
		cmocka_unit_test(test_not_a_definition),
		cmocka_unit_test(test_unrepresentable_integers_refused),
		cmocka_unit_test(test_reencoding_size_limited),
		cmocka_unit_test(test_bare_payload_depth),
		cmocka_unit_test(test_reencoding_is_exact),
		cmocka_unit_test(test_reencoding_is_one_object_and_stable),
		cmocka_unit_test(test_content_type_by_name),
		cmocka_unit_test(test_content_encoding_case_sensitive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
