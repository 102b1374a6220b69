/* The config file: defaults, generic-worker compatibility, every refusal
 * with its message, secrets, and docs/config.md kept equal to the table.
 * Run from the repository root. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tests/testutil.h"

#include "common/json.h"
#include "common/util.h"
#include "supervisor/config.h"

/* As worker-runner writes it: json.MarshalIndent of its merged map, so
 * sorted keys, its own spelling "instanceID", workerLocation as JSON text
 * in a string, provider metadata in workerTypeMetadata. */
static const char worker_runner_config[] =
    "{\n"
    "  \"accessToken\": \"wr-access-token-0123456789abcdef\",\n"
    "  \"availabilityZone\": \"us-east-1a\",\n"
    "  \"cachesDir\": \"/var/cache/gw\",\n"
    "  \"certificate\": \"{\\\"version\\\":1,\\\"scopes\\\":[\\\"*\\\"]}\",\n"
    "  \"clientId\": \"worker/aws/proj-test/linux\",\n"
    "  \"ed25519SigningKeyLocation\": \"/etc/sepworker/ed25519.key\",\n"
    "  \"instanceID\": \"i-0123456789abcdef0\",\n"
    "  \"instanceType\": \"m5.large\",\n"
    "  \"numberOfTasksToRun\": 0,\n"
    "  \"privateIP\": \"10.0.0.12\",\n"
    "  \"provisionerId\": \"proj-test\",\n"
    "  \"publicIP\": \"2001:db8::12\",\n"
    "  \"region\": \"us-east-1\",\n"
    "  \"rootURL\": \"https://tc.example.com\",\n"
    "  \"sepworker\": {\n"
    "    \"taskNetwork\": \"isolated\",\n"
    "    \"taskUidCount\": 100\n"
    "  },\n"
    "  \"tasksDir\": \"/srv/tasks\",\n"
    "  \"workerGroup\": \"us-east-1\",\n"
    "  \"workerId\": \"i-0123456789abcdef0\",\n"
    "  \"workerLocation\": \"{\\\"cloud\\\":\\\"aws\\\",\\\"region\\\":"
    "\\\"us-east-1\\\"}\",\n"
    "  \"workerType\": \"linux\",\n"
    "  \"workerTypeMetadata\": {\n"
    "    \"instance-id\": \"i-0123456789abcdef0\",\n"
    "    \"nested\": {\"a\": [1, 2]}\n"
    "  }\n"
    "}\n";

struct fixture {
	struct sw_config	cfg;
	char			err[512];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	config_defaults(&f->cfg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	config_free(&f->cfg);
	free(f);
	return 0;
}

static int
load(struct fixture *f, const char *doc)
{
	f->err[0] = '\0';
	return config_load_buf(doc, strlen(doc), &f->cfg, f->err,
	    sizeof(f->err));
}

static void
loads(struct fixture *f, const char *doc)
{
	if (load(f, doc) != CONFIG_OK)
		fail_msg("refused %s: %s", doc, f->err);
}

/* Refused as invalid (exit 73) with exactly this message. */
static void
invalid(struct fixture *f, const char *doc, const char *want)
{
	int rc = load(f, doc);

	if (rc != CONFIG_ERR_INVALID)
		fail_msg("%s: rc %d, err \"%s\"", doc, rc, f->err);
	assert_string_equal(f->err, want);
}

/* Refused as unloadable (exit 64: what generic-worker's JSON decoder
 * rejects) with exactly this message. */
static void
unloadable(struct fixture *f, const char *doc, const char *want)
{
	int rc = load(f, doc);

	if (rc != CONFIG_ERR_LOAD)
		fail_msg("%s: rc %d, err \"%s\"", doc, rc, f->err);
	assert_string_equal(f->err, want);
}

/* Run fn with stderr captured; return what it wrote (caller frees). */
static char *
capture_stderr(void (*fn)(struct fixture *), struct fixture *f)
{
	char path[] = "/tmp/test_config_stderr_XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char *out = calloc(1, 8192);

	assert_true(fd >= 0 && saved >= 0 && out != NULL);
	unlink(path);
	dup2(fd, 2);
	fn(f);
	dup2(saved, 2);
	close(saved);
	assert_true(pread(fd, out, 8191, 0) >= 0);
	close(fd);
	return out;
}

static char *
print_to_string(void (*print)(const struct sw_config *, FILE *),
    const struct sw_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);

	assert_non_null(mem);
	print(cfg, mem);
	fclose(mem);
	return buf;
}

static void
test_defaults(void **state)
{
	struct fixture *f = *state;
	const struct sw_config *c = &f->cfg;

	assert_string_equal(c->provisioner_id, "test-provisioner");
	assert_string_equal(c->worker_group, "test-worker-group");
	assert_string_equal(c->tasks_dir, "/var/lib/sepworker/tasks");
	assert_string_equal(c->root_url, "");
	assert_string_equal(c->ed25519_signing_key_location, "");
	assert_null(c->access_token);
	assert_null(c->certificate);
	assert_null(c->worker_type_metadata);
	assert_int_equal(c->capacity, 1);
	assert_int_equal(c->taskcluster_proxy_port, 80);
	assert_int_equal(c->max_task_run_time, 86400);
	assert_int_equal(c->number_of_tasks_to_run, 0);
	assert_int_equal(c->idle_timeout_secs, 0);
	assert_true(c->clean_up_task_dirs);
	assert_false(c->create_object_artifacts);
	assert_true(c->enable_chain_of_trust);
	assert_true(c->enable_taskcluster_proxy);
	assert_true(c->enable_live_log);
	assert_int_equal(c->keyholder_uid, 64501);
	assert_int_equal(c->proxyd_uid, 64502);
	assert_int_equal(c->taskrunner_uid, 64503);
	assert_int_equal(c->task_uid_first, 64600);
	assert_int_equal(c->task_uid_count, 400);
	assert_int_equal(c->task_network, TASK_NET_HOST);
	assert_int_equal(c->task_max_processes, 4096);
	assert_int_equal(c->task_max_memory_bytes, 0);
	assert_int_equal(c->task_max_open_files, 4096);
	assert_int_equal(c->task_max_file_size_bytes, 0);
	/* Valid as they stand, apart from what worker mode must be given. */
	loads(f, "{}");
	assert_int_equal(config_check_worker(c, f->err, sizeof(f->err)),
	    CONFIG_ERR_INVALID);
}

static void
test_worker_runner_config_loads(void **state)
{
	struct fixture *f = *state;
	const struct sw_config *c = &f->cfg;
	struct json_object *meta, *v;

	loads(f, worker_runner_config);
	assert_string_equal(c->root_url, "https://tc.example.com");
	assert_string_equal(c->client_id, "worker/aws/proj-test/linux");
	assert_string_equal(c->access_token,
	    "wr-access-token-0123456789abcdef");
	assert_string_equal(c->certificate,
	    "{\"version\":1,\"scopes\":[\"*\"]}");
	assert_string_equal(c->provisioner_id, "proj-test");
	assert_string_equal(c->worker_type, "linux");
	assert_string_equal(c->worker_group, "us-east-1");
	assert_string_equal(c->worker_id, "i-0123456789abcdef0");
	assert_string_equal(c->instance_id, "i-0123456789abcdef0");
	assert_string_equal(c->instance_type, "m5.large");
	assert_string_equal(c->region, "us-east-1");
	assert_string_equal(c->availability_zone, "us-east-1a");
	assert_string_equal(c->public_ip, "2001:db8::12");
	assert_string_equal(c->private_ip, "10.0.0.12");
	assert_string_equal(c->worker_location,
	    "{\"cloud\":\"aws\",\"region\":\"us-east-1\"}");
	assert_string_equal(c->tasks_dir, "/srv/tasks");
	assert_string_equal(c->ed25519_signing_key_location,
	    "/etc/sepworker/ed25519.key");
	assert_int_equal(c->task_network, TASK_NET_ISOLATED);
	assert_int_equal(c->task_uid_count, 100);
	assert_int_equal(c->keyholder_uid, 64501);
	/* The metadata object survives as equivalent JSON text. */
	assert_non_null(c->worker_type_metadata);
	meta = json_tokener_parse(c->worker_type_metadata);
	assert_non_null(meta);
	assert_true(json_object_object_get_ex(meta, "nested", &v));
	assert_true(json_object_object_get_ex(v, "a", &v));
	assert_int_equal(json_object_array_length(v), 2);
	json_object_put(meta);
	assert_int_equal(config_check_worker(c, f->err, sizeof(f->err)),
	    CONFIG_OK);
}

static void
test_keys_match_case_insensitively(void **state)
{
	struct fixture *f = *state;

	loads(f, "{\"ROOTURL\":\"http://localhost:8080\",\"Capacity\":1,"
	    "\"taskclusterproxyport\":8080,\"SepWorker\":{\"TASKNETWORK\":"
	    "\"isolated\",\"keyholderuid\":70000}}");
	assert_string_equal(f->cfg.root_url, "http://localhost:8080");
	assert_int_equal(f->cfg.taskcluster_proxy_port, 8080);
	assert_int_equal(f->cfg.task_network, TASK_NET_ISOLATED);
	assert_int_equal(f->cfg.keyholder_uid, 70000);
}

static void
test_two_spellings_of_a_key_refused(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "{\"rooturl\":\"https://a\",\"rootURL\":\"https://b\"}",
	    "config: \"rooturl\" and \"rootURL\" are the same key");
	unloadable(f, "{\"sepworker\":{\"proxydUid\":1000,\"PROXYDUID\":1001}}",
	    "config: \"sepworker.proxydUid\" and \"sepworker.PROXYDUID\" are "
	    "the same key");
	unloadable(f, "{\"Sepworker\":{},\"sepworker\":{}}",
	    "config: \"Sepworker\" and \"sepworker\" are the same key");
}

static void
test_exact_duplicate_key_refused(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "{\"rootURL\":\"https://a\",\"rootURL\":\"https://b\"}",
	    "config: byte 23: duplicate key \"rootURL\"");
	unloadable(f, "{\"sepworker\":{\"proxydUid\":1000,\"proxyd\\u0055id\":1}}",
	    "config: byte 31: duplicate key \"proxydUid\"");
}

static void
test_unknown_key_named(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "{\"rootURL\":\"https://a\",\"workerPool\":\"a/b\"}",
	    "config: unknown key \"workerPool\"");
	unloadable(f, "{\"sepworker\":{\"foo\":1}}",
	    "config: unknown key \"sepworker.foo\"");
	/* A key's bytes cannot break the message. */
	unloadable(f, "{\"a\\nb\\\"\\u001b[2J\":1}",
	    "config: unknown key \"a\\x0ab\\\"\\x1b[2J\"");
	/* generic-worker's own keys are not sepworker's, and the reverse. */
	unloadable(f, "{\"sepworker\":{\"rootURL\":\"https://a\"}}",
	    "config: unknown key \"sepworker.rootURL\"");
	unloadable(f, "{\"taskNetwork\":\"host\"}",
	    "config: unknown key \"taskNetwork\"");
}

static void
test_wrong_types_named(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "{\"capacity\":\"1\"}",
	    "config: \"capacity\" must be an integer from 1 to 255");
	invalid(f, "{\"capacity\":0}",
	    "config: \"capacity\" must be an integer from 1 to 255");
	unloadable(f, "{\"capacity\":1.0}",
	    "config: \"capacity\" must be an integer from 1 to 255");
	unloadable(f, "{\"maxTaskRunTime\":-1}",
	    "config: \"maxTaskRunTime\" must be an integer from 0 to "
	    "4294967295");
	invalid(f, "{\"idleTimeoutSecs\":4294967296}",
	    "config: \"idleTimeoutSecs\" must be an integer from 0 to "
	    "4294967295");
	unloadable(f, "{\"cleanUpTaskDirs\":\"false\"}",
	    "config: \"cleanUpTaskDirs\" must be true or false");
	unloadable(f, "{\"rootURL\":null}",
	    "config: \"rootURL\" must be a string");
	unloadable(f, "{\"workerId\":[\"w\"]}",
	    "config: \"workerId\" must be a string");
	invalid(f, "{\"workerType\":\"a\\u0000b\"}",
	    "config: \"workerType\" must not contain a NUL character");
	unloadable(f, "{\"workerTypeMetadata\":[]}",
	    "config: \"workerTypeMetadata\" must be an object");
	unloadable(f, "{\"sepworker\":[]}",
	    "config: \"sepworker\" must be an object");
	invalid(f, "{\"sepworker\":{\"taskNetwork\":\"bridge\"}}",
	    "config: \"sepworker.taskNetwork\" must be \"host\" or "
	    "\"isolated\"");
	invalid(f, "{\"sepworker\":{\"taskMaxOpenFiles\":0}}",
	    "config: \"sepworker.taskMaxOpenFiles\" must be an integer from 3 "
	    "to 1048576");
	/* Ignored keys are type-checked all the same. */
	unloadable(f, "{\"enableInteractive\":1}",
	    "config: \"enableInteractive\" must be true or false");
	invalid(f, "{\"livelogPortBase\":70000}",
	    "config: \"livelogPortBase\" must be an integer from 0 to 65535");
	unloadable(f, "{\"d2gConfig\":\"x\"}",
	    "config: \"d2gConfig\" must be an object");
}

/* generic-worker's config_test.go, case by case: what its decoder
 * rejects is CONFIG_ERR_LOAD (exit 64). */
static void
TestBoolAsString(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "{\"shutdownMachineOnInternalError\":\"true\"}",
	    "config: \"shutdownMachineOnInternalError\" must be true or "
	    "false");
	unloadable(f, "{\"enableChainOfTrust\":\"false\"}",
	    "config: \"enableChainOfTrust\" must be true or false");
}

static void
TestInvalidJsonConfig(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "{\"rootURL\": \"https://tc\" \"clientId\": \"c\"}",
	    "config: byte 25: unexpected '\"', expected ',' or '}'");
}

static void
TestInvalidIPConfig(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "{\"publicIP\":\"123.1.2\"}",
	    "config: \"publicIP\" must be an IPv4 or IPv6 address");
}

/* No publicIP at all is fine: it is optional. */
static void
TestMissingIPConfig(void **state)
{
	struct fixture *f = *state;

	loads(f, "{\"accessToken\":\"t\",\"clientId\":\"c\","
	    "\"ed25519SigningKeyLocation\":\"/k\",\"rootURL\":\"https://tc\","
	    "\"workerId\":\"w\",\"workerType\":\"wt\"}");
	assert_string_equal(f->cfg.public_ip, "");
	assert_int_equal(config_check_worker(&f->cfg, f->err, sizeof(f->err)),
	    CONFIG_OK);
}

/* Values of the right type that are out of range or inconsistent fail
 * validation (exit 73), as generic-worker's Validate does. */
static void
test_range_and_consistency_are_invalid(void **state)
{
	struct fixture *f = *state;

	invalid(f, "{\"capacity\":0}",
	    "config: \"capacity\" must be an integer from 1 to 255");
	invalid(f, "{\"capacity\":2}",
	    "config: \"capacity\" must be 1: sepworker runs one task at a "
	    "time");
	invalid(f, "{\"rootURL\":\"tc.example.com\"}",
	    "config: \"rootURL\" must start with https:// or http://");
	invalid(f, "{\"sepworker\":{\"taskNetwork\":\"bridge\"}}",
	    "config: \"sepworker.taskNetwork\" must be \"host\" or "
	    "\"isolated\"");
	invalid(f, "{\"sepworker\":{\"workDir\":\"var/lib/sw\"}}",
	    "config: \"sepworker.workDir\" must be an absolute path other "
	    "than /");
}

/* worker-runner's workerPoolId, split at the first '/'. */
static void
test_worker_pool_id(void **state)
{
	struct fixture *f = *state;

	loads(f, "{\"workerPoolId\":\"proj-releng/linux/large\"}");
	assert_string_equal(f->cfg.provisioner_id, "proj-releng");
	assert_string_equal(f->cfg.worker_type, "linux/large");
	loads(f, "{\"workerPoolId\":\"a/b\",\"provisionerId\":\"a\","
	    "\"workerType\":\"b\"}");
	assert_string_equal(f->cfg.provisioner_id, "a");
	assert_string_equal(f->cfg.worker_type, "b");
	invalid(f, "{\"workerPoolId\":\"proj\"}",
	    "config: \"workerPoolId\" (\"proj\") must be "
	    "<provisionerId>/<workerType>, both non-empty");
	invalid(f, "{\"workerPoolId\":\"/linux\"}",
	    "config: \"workerPoolId\" (\"/linux\") must be "
	    "<provisionerId>/<workerType>, both non-empty");
	invalid(f, "{\"workerPoolId\":\"a/b\",\"provisionerId\":\"c\"}",
	    "config: \"workerPoolId\" (\"a/b\") and \"provisionerId\" (\"c\") "
	    "disagree");
	invalid(f, "{\"workerType\":\"x\",\"workerPoolId\":\"a/b\"}",
	    "config: \"workerPoolId\" (\"a/b\") and \"workerType\" (\"x\") "
	    "disagree");
	/* The refused files changed nothing. */
	assert_string_equal(f->cfg.provisioner_id, "a");
	assert_string_equal(f->cfg.worker_type, "b");
}

static void
test_capacity_must_be_one(void **state)
{
	struct fixture *f = *state;

	invalid(f, "{\"capacity\":2}",
	    "config: \"capacity\" must be 1: sepworker runs one task at a "
	    "time");
	loads(f, "{\"capacity\":1}");
}

static void
test_proxy_port_range(void **state)
{
	struct fixture *f = *state;

	invalid(f, "{\"taskclusterProxyPort\":0}",
	    "config: \"taskclusterProxyPort\" must be an integer from 1 to "
	    "65535");
	invalid(f, "{\"taskclusterProxyPort\":65536}",
	    "config: \"taskclusterProxyPort\" must be an integer from 1 to "
	    "65535");
	loads(f, "{\"taskclusterProxyPort\":65535}");
	assert_int_equal(f->cfg.taskcluster_proxy_port, 65535);
}

/* sepworker.proxyAllowedHosts: host names as the task proxy's dotted
 * route takes them, "*.name", "*"; unset is the rootURL's host (NULL
 * here), [] is none; what a route can never carry is refused by name. */
static void
test_proxy_allowed_hosts(void **state)
{
	struct fixture *f = *state;
	struct json_object *o, *own, *v;
	char *out;

	assert_null(f->cfg.proxy_allowed_hosts);
	loads(f, "{\"sepworker\":{\"proxyAllowedHosts\":[\"tc.example.com\","
	    "\"*.cdn.example\",\"1.2.3.4\"]}}");
	assert_string_equal(f->cfg.proxy_allowed_hosts,
	    "tc.example.com,*.cdn.example,1.2.3.4");
	out = print_to_string(config_print_effective, &f->cfg);
	o = json_parse_strict(out, strlen(out), 1 << 20, 16, f->err,
	    sizeof(f->err));
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "sepworker", &own));
	assert_true(json_object_object_get_ex(own, "proxyAllowedHosts", &v));
	assert_string_equal(json_object_to_json_string_ext(v,
	    JSON_C_TO_STRING_PLAIN), "[\"tc.example.com\",\"*.cdn.example\","
	    "\"1.2.3.4\"]");
	json_object_put(o);
	free(out);
	loads(f, "{\"sepworker\":{\"proxyAllowedHosts\":[]}}");
	assert_string_equal(f->cfg.proxy_allowed_hosts, "");
	loads(f, "{\"sepworker\":{\"proxyAllowedHosts\":[\"*\"]}}");
	assert_string_equal(f->cfg.proxy_allowed_hosts, "*");
	invalid(f, "{\"sepworker\":{\"proxyAllowedHosts\":[\"tc.example.com:443\"]}}",
	    "config: \"sepworker.proxyAllowedHosts[0]\" must be a host name "
	    "(letters, digits, '-' and dots; no port, no scheme), \"*.\" and "
	    "one, or \"*\"");
	invalid(f, "{\"sepworker\":{\"proxyAllowedHosts\":[\"a\",\"https://x\"]}}",
	    "config: \"sepworker.proxyAllowedHosts[1]\" must be a host name "
	    "(letters, digits, '-' and dots; no port, no scheme), \"*.\" and "
	    "one, or \"*\"");
	invalid(f, "{\"sepworker\":{\"proxyAllowedHosts\":[\"a..b\"]}}",
	    "config: \"sepworker.proxyAllowedHosts[0]\" has an empty label or "
	    "one ending in '-'");
	invalid(f, "{\"sepworker\":{\"proxyAllowedHosts\":[\"*.\"]}}",
	    "config: \"sepworker.proxyAllowedHosts[0]\" must be a host name of "
	    "1 to 253 characters, \"*.\" and one, or \"*\"");
	unloadable(f, "{\"sepworker\":{\"proxyAllowedHosts\":\"tc.example.com\"}}",
	    "config: \"sepworker.proxyAllowedHosts\" must be an array of host "
	    "names");
	/* A refused file leaves the last good list. */
	assert_string_equal(f->cfg.proxy_allowed_hosts, "*");
	loads(f, "{\"sepworker\":{\"proxyCredentialsMarginSeconds\":0}}");
	assert_int_equal(f->cfg.proxy_credentials_margin_seconds, 0);
	invalid(f, "{\"sepworker\":{\"proxyCredentialsMarginSeconds\":3601}}",
	    "config: \"sepworker.proxyCredentialsMarginSeconds\" must be an "
	    "integer from 0 to 3600");
}

static void
test_root_url_needs_http_scheme(void **state)
{
	struct fixture *f = *state;

	invalid(f, "{\"rootURL\":\"tc.example.com\"}",
	    "config: \"rootURL\" must start with https:// or http://");
	invalid(f, "{\"rootURL\":\"ftp://tc.example.com\"}",
	    "config: \"rootURL\" must start with https:// or http://");
	loads(f, "{\"rootURL\":\"\"}");
	loads(f, "{\"rootURL\":\"http://127.0.0.1:1234\"}");
}

static void
test_ip_addresses_checked(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "{\"publicIP\":\"1.2.3\"}",
	    "config: \"publicIP\" must be an IPv4 or IPv6 address");
	unloadable(f, "{\"privateIP\":\"localhost\"}",
	    "config: \"privateIP\" must be an IPv4 or IPv6 address");
	loads(f, "{\"publicIP\":\"203.0.113.7\",\"privateIP\":\"::1\"}");
	loads(f, "{\"publicIP\":\"\"}");
}

static void
test_uid_rules(void **state)
{
	struct fixture *f = *state;

	invalid(f, "{\"sepworker\":{\"keyholderUid\":0}}",
	    "config: \"sepworker.keyholderUid\" must be an integer from 1 to "
	    "2147483646");
	invalid(f, "{\"sepworker\":{\"proxydUid\":2147483647}}",
	    "config: \"sepworker.proxydUid\" must be an integer from 1 to "
	    "2147483646");
	invalid(f, "{\"sepworker\":{\"taskUidFirst\":0}}",
	    "config: \"sepworker.taskUidFirst\" must be an integer from 1 to "
	    "2147483646");
	invalid(f, "{\"sepworker\":{\"taskUidCount\":0}}",
	    "config: \"sepworker.taskUidCount\" must be an integer from 1 to "
	    "2147483646");
	invalid(f, "{\"sepworker\":{\"taskrunnerUid\":64501}}",
	    "config: \"sepworker.keyholderUid\" and "
	    "\"sepworker.taskrunnerUid\" must differ");
	invalid(f, "{\"sepworker\":{\"proxydUid\":64999}}",
	    "config: \"sepworker.proxydUid\" (64999) lies in the task uid "
	    "range 64600-64999");
	invalid(f, "{\"sepworker\":{\"keyholderUid\":65534}}",
	    "config: \"sepworker.keyholderUid\" must not be 65534 (nobody)");
	invalid(f, "{\"sepworker\":{\"taskUidFirst\":65000,\"taskUidCount\":"
	    "535}}", "config: the task uid range 65000-65534 includes 65534 "
	    "(nobody)");
	invalid(f, "{\"sepworker\":{\"taskUidFirst\":2147483600,"
	    "\"taskUidCount\":48}}", "config: the task uid range "
	    "(\"sepworker.taskUidFirst\" 2147483600, \"sepworker.taskUidCount\""
	    " 48) goes past 2147483646");
	invalid(f, "{\"sepworker\":{\"taskUidFirst\":1,\"taskUidCount\":"
	    "2147483646}}", "config: the task uid range 1-2147483646 includes "
	    "65534 (nobody)");
	loads(f, "{\"sepworker\":{\"taskUidFirst\":2147483600,"
	    "\"taskUidCount\":47}}");
	loads(f, "{\"sepworker\":{\"taskUidFirst\":65000,\"taskUidCount\":"
	    "534}}");
	/* Just below a child uid is fine too. */
	loads(f, "{\"sepworker\":{\"keyholderUid\":1000,\"proxydUid\":1001,"
	    "\"taskrunnerUid\":1002,\"taskUidFirst\":1003,\"taskUidCount\":"
	    "10}}");
}

static void
test_is_task_uid_bounds(void **state)
{
	struct fixture *f = *state;

	assert_false(config_is_task_uid(&f->cfg, 64599));
	assert_true(config_is_task_uid(&f->cfg, 64600));
	assert_true(config_is_task_uid(&f->cfg, 64999));
	assert_false(config_is_task_uid(&f->cfg, 65000));
	assert_false(config_is_task_uid(&f->cfg, 0));
	assert_false(config_is_task_uid(&f->cfg, UINT32_MAX));
}

static void
test_run_dir(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(f->cfg.run_dir, "/run/sepworker");
	loads(f, "{\"sepworker\":{\"runDir\":\"/var/run/sw-a\"}}");
	assert_string_equal(f->cfg.run_dir, "/var/run/sw-a");
	invalid(f, "{\"sepworker\":{\"runDir\":\"run/sepworker\"}}",
	    "config: \"sepworker.runDir\" must be an absolute path other "
	    "than /");
	invalid(f, "{\"sepworker\":{\"runDir\":\"/run/../etc\"}}",
	    "config: \"sepworker.runDir\" must not contain \".\", \"..\" or "
	    "empty segments");
}

static void
test_top_level_must_be_an_object(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "[]", "config: the top level must be a JSON object");
	unloadable(f, "\"rootURL\"", "config: the top level must be a JSON "
	    "object");
}

static void
test_not_json_is_a_load_error(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "{\"rootURL\": \"x\",}"), CONFIG_ERR_LOAD);
	assert_string_equal(f->err, "config: byte 16: unexpected '}', "
	    "expected a string key");
	assert_int_equal(load(f, ""), CONFIG_ERR_LOAD);
	assert_string_equal(f->err, "config: byte 0: unexpected end of "
	    "input, expected a value");
}

/* A refused file changes nothing, even keys it set before the error. */
static void
test_refused_file_leaves_config_alone(void **state)
{
	struct fixture *f = *state;

	loads(f, "{\"workerType\":\"first\",\"accessToken\":\"tok-1\"}");
	invalid(f, "{\"workerType\":\"second\",\"accessToken\":\"tok-2\","
	    "\"capacity\":2}", "config: \"capacity\" must be 1: sepworker "
	    "runs one task at a time");
	assert_string_equal(f->cfg.worker_type, "first");
	assert_string_equal(f->cfg.access_token, "tok-1");
	/* A later valid file replaces what it names and keeps the rest. */
	loads(f, "{\"accessToken\":\"tok-3\"}");
	assert_string_equal(f->cfg.worker_type, "first");
	assert_string_equal(f->cfg.access_token, "tok-3");
	loads(f, "{\"accessToken\":\"\"}");
	assert_null(f->cfg.access_token);
}

static void
load_ignored_keys(struct fixture *f)
{
	loads(f, "{\"cachesDir\":\"/c\",\"enableMounts\":false,"
	    "\"d2gConfig\":{\"enableD2G\":true},\"sentryProject\":\"x\","
	    "\"interactivePort\":1}");
}

static void
test_ignored_keys_load_with_a_warning(void **state)
{
	struct fixture *f = *state;
	char *out = capture_stderr(load_ignored_keys, f);

	assert_non_null(strstr(out, "config: \"cachesDir\" is a "
	    "generic-worker setting sepworker does not implement; ignored"));
	assert_non_null(strstr(out, "\"enableMounts\" is a generic-worker"));
	assert_non_null(strstr(out, "\"d2gConfig\" is a generic-worker"));
	assert_non_null(strstr(out, "\"sentryProject\" is a generic-worker"));
	assert_non_null(strstr(out, "\"interactivePort\" is a "
	    "generic-worker"));
	assert_null(strstr(out, "tasksDir"));
	free(out);
}

static void
test_check_worker_names_first_missing_key(void **state)
{
	static const struct {
		const char	*doc;
		const char	*missing;
	} steps[] = {
		{ "{}", "accessToken" },
		{ "{\"accessToken\":\"t\"}", "clientId" },
		{ "{\"clientId\":\"c\"}", "ed25519SigningKeyLocation" },
		{ "{\"ed25519SigningKeyLocation\":\"/k\",\"provisionerId\":\"\"}",
		  "provisionerId" },
		{ "{\"provisionerId\":\"p\"}", "rootURL" },
		{ "{\"rootURL\":\"https://tc\",\"tasksDir\":\"\"}", "tasksDir" },
		{ "{\"tasksDir\":\"/t\",\"workerGroup\":\"\"}", "workerGroup" },
		{ "{\"workerGroup\":\"g\"}", "workerId" },
		{ "{\"workerId\":\"w\"}", "workerType" },
	};
	struct fixture *f = *state;
	char want[128];

	for (size_t i = 0; i < nitems(steps); i++) {
		loads(f, steps[i].doc);
		assert_int_equal(config_check_worker(&f->cfg, f->err,
		    sizeof(f->err)), CONFIG_ERR_INVALID);
		snprintf(want, sizeof(want), "Config setting \"%s\" has not "
		    "been defined", steps[i].missing);
		assert_string_equal(f->err, want);
	}
	loads(f, "{\"workerType\":\"wt\"}");
	assert_int_equal(config_check_worker(&f->cfg, f->err, sizeof(f->err)),
	    CONFIG_OK);
	/* Once forwarded and wiped, the token is missing again. */
	config_wipe_secrets(&f->cfg);
	assert_int_equal(config_check_worker(&f->cfg, f->err, sizeof(f->err)),
	    CONFIG_ERR_INVALID);
}

static void
test_secrets_load_and_wipe(void **state)
{
	struct fixture *f = *state;
	char *out;

	loads(f, worker_runner_config);
	assert_string_equal(f->cfg.access_token,
	    "wr-access-token-0123456789abcdef");
	out = print_to_string(config_print_effective, &f->cfg);
	assert_null(strstr(out, "wr-access-token"));
	assert_null(strstr(out, "version"));
	assert_non_null(strstr(out, "\"accessToken\": \"(set)\""));
	assert_non_null(strstr(out, "\"certificate\": \"(set)\""));
	free(out);
	config_wipe_secrets(&f->cfg);
	assert_null(f->cfg.access_token);
	assert_null(f->cfg.certificate);
	assert_string_equal(f->cfg.client_id, "worker/aws/proj-test/linux");
	out = print_to_string(config_print_effective, &f->cfg);
	assert_null(strstr(out, "accessToken"));
	assert_null(strstr(out, "certificate"));
	free(out);
	/* Twice is harmless. */
	config_wipe_secrets(&f->cfg);
}

/* A token under a misspelt key is an unknown key: named, never shown. */
static void
test_secret_never_in_messages(void **state)
{
	struct fixture *f = *state;

	unloadable(f, "{\"acessToken\":\"tok-SECRET\"}",
	    "config: unknown key \"acessToken\"");
	unloadable(f, "{\"accessToken\":\"tok-SECRET\",\"accessToken\":\"b\"}",
	    "config: byte 28: duplicate key \"accessToken\"");
	assert_null(strstr(f->err, "SECRET"));
}

static void
test_effective_config_is_json(void **state)
{
	struct fixture *f = *state;
	struct json_object *o, *own, *v;
	char *out;

	loads(f, worker_runner_config);
	out = print_to_string(config_print_effective, &f->cfg);
	o = json_parse_strict(out, strlen(out), 1 << 20, 16, f->err,
	    sizeof(f->err));
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "rootURL", &v));
	assert_string_equal(json_object_get_string(v),
	    "https://tc.example.com");
	assert_true(json_object_object_get_ex(o, "workerTypeMetadata", &v));
	assert_true(json_object_is_type(v, json_type_object));
	assert_true(json_object_object_get_ex(o, "sepworker", &own));
	assert_true(json_object_object_get_ex(own, "taskNetwork", &v));
	assert_string_equal(json_object_get_string(v), "isolated");
	assert_true(json_object_object_get_ex(own, "taskUidCount", &v));
	assert_int_equal(json_object_get_int64(v), 100);
	/* What sepworker ignores is not part of its effective config. */
	assert_false(json_object_object_get_ex(o, "cachesDir", &v));
	json_object_put(o);
	free(out);
}

static char *
write_temp(const char *doc, size_t len)
{
	char *path = strdup("/tmp/test_config_XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, len), (ssize_t)len);
	close(fd);
	return path;
}

static void
test_file_loads(void **state)
{
	struct fixture *f = *state;
	char *path = write_temp(worker_runner_config,
	    strlen(worker_runner_config));
	char want[256];

	assert_int_equal(config_load_file(path, &f->cfg, f->err,
	    sizeof(f->err)), CONFIG_OK);
	assert_string_equal(f->cfg.access_token,
	    "wr-access-token-0123456789abcdef");
	unlink(path);
	free(path);
	/* Errors in a file name it. */
	path = write_temp("{\"capacity\":3}", strlen("{\"capacity\":3}"));
	assert_int_equal(config_load_file(path, &f->cfg, f->err,
	    sizeof(f->err)), CONFIG_ERR_INVALID);
	snprintf(want, sizeof(want), "config: %s: \"capacity\" must be 1: "
	    "sepworker runs one task at a time", path);
	assert_string_equal(f->err, want);
	unlink(path);
	free(path);
	path = write_temp("{\"a\\q\":1}", strlen("{\"a\\q\":1}"));
	assert_int_equal(config_load_file(path, &f->cfg, f->err,
	    sizeof(f->err)), CONFIG_ERR_LOAD);
	snprintf(want, sizeof(want), "config: %s: byte 3: invalid escape: "
	    "backslash before 'q'", path);
	assert_string_equal(f->err, want);
	unlink(path);
	free(path);
}

static void
test_missing_file_names_the_path(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(config_load_file("/nonexistent/sepworker.json",
	    &f->cfg, f->err, sizeof(f->err)), CONFIG_ERR_LOAD);
	assert_string_equal(f->err, "config: /nonexistent/sepworker.json: "
	    "No such file or directory");
	assert_int_equal(config_load_file("/", &f->cfg, f->err,
	    sizeof(f->err)), CONFIG_ERR_LOAD);
	assert_string_equal(f->err, "config: /: not a regular file");
}

static void
test_too_large_file_refused(void **state)
{
	struct fixture *f = *state;
	size_t len = CONFIG_MAX_BYTES + 1;
	char *doc = malloc(len), *path, want[256];

	assert_non_null(doc);
	/* Valid JSON, only too long. */
	memset(doc, ' ', len);
	memcpy(doc, "{}", 2);
	path = write_temp(doc, len);
	assert_int_equal(config_load_file(path, &f->cfg, f->err,
	    sizeof(f->err)), CONFIG_ERR_LOAD);
	snprintf(want, sizeof(want), "config: %s: %zu bytes, more than the %u "
	    "allowed", path, len, CONFIG_MAX_BYTES);
	assert_string_equal(f->err, want);
	unlink(path);
	free(path);
	path = write_temp(doc, len - 1);
	assert_int_equal(config_load_file(path, &f->cfg, f->err,
	    sizeof(f->err)), CONFIG_OK);
	unlink(path);
	free(path);
	free(doc);
}

static void
print_reference(const struct sw_config *cfg, FILE *out)
{
	(void)cfg;
	config_print_reference(out);
}

static void
test_reference_equals_docs(void **state)
{
	struct fixture *f = *state;
	char *want = calloc(1, 1 << 17), *got;
	int fd = open("docs/config.md", O_RDONLY);
	ssize_t n;

	assert_non_null(want);
	if (fd == -1)
		fail_msg("docs/config.md: %s (run from the repository root)",
		    strerror(errno));
	n = read(fd, want, (1 << 17) - 1);
	close(fd);
	assert_true(n > 0);
	got = print_to_string(print_reference, &f->cfg);
	if (strcmp(got, want) != 0)
		fail_msg("docs/config.md differs from `sepworker "
		    "config-reference`; regenerate it");
	free(got);
	free(want);
}

int
main(void)
{
#define T(name)	cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_worker_runner_config_loads),
		T(test_keys_match_case_insensitively),
		T(test_two_spellings_of_a_key_refused),
		T(test_exact_duplicate_key_refused),
		T(test_unknown_key_named),
		T(test_wrong_types_named),
		T(TestBoolAsString),
		T(TestInvalidJsonConfig),
		T(TestInvalidIPConfig),
		T(TestMissingIPConfig),
		T(test_range_and_consistency_are_invalid),
		T(test_worker_pool_id),
		T(test_capacity_must_be_one),
		T(test_proxy_port_range),
		T(test_proxy_allowed_hosts),
		T(test_root_url_needs_http_scheme),
		T(test_ip_addresses_checked),
		T(test_uid_rules),
		T(test_is_task_uid_bounds),
		T(test_run_dir),
		T(test_top_level_must_be_an_object),
		T(test_not_json_is_a_load_error),
		T(test_refused_file_leaves_config_alone),
		T(test_ignored_keys_load_with_a_warning),
		T(test_check_worker_names_first_missing_key),
		T(test_secrets_load_and_wipe),
		T(test_secret_never_in_messages),
		T(test_effective_config_is_json),
		T(test_file_loads),
		T(test_missing_file_names_the_path),
		T(test_too_large_file_refused),
		T(test_reference_equals_docs),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
