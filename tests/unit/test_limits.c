/* A task proxy's limits: --limits (and sepworker.proxyLimits) sets the
 * names it gives, keeps the defaults of the others, and refuses bad
 * input whole, naming what was wrong. */
#include <string.h>

#include "tests/testutil.h"

#include "proxyd/limits.h"

static void
test_empty_keeps_the_defaults(void **state)
{
	struct tp_limits lim = tp_default_limits;
	char err[256] = "";

	(void)state;
	assert_int_equal(limits_parse("", &lim, err, sizeof(err)), 0);
	assert_memory_equal(&lim, &tp_default_limits, sizeof(lim));
	assert_int_equal(lim.connections, 1024);
	assert_int_equal(lim.head_bytes, 32768);
	assert_int_equal(lim.retry_body, 1048576);
}

static void
test_each_name_sets_its_field_alone(void **state)
{
	struct tp_limits lim = tp_default_limits;
	char err[256] = "";

	(void)state;
	assert_int_equal(limits_parse("connections=256,head-bytes=8192,"
	    "headers=20,head-timeout=2,idle-timeout=3,body-timeout=4,"
	    "send-timeout=5,upstream-timeout=6,retry-body=0", &lim, err,
	    sizeof(err)), 0);
	assert_int_equal(lim.connections, 256);
	assert_int_equal(lim.head_bytes, 8192);
	assert_int_equal(lim.headers, 20);
	assert_int_equal(lim.head_timeout_s, 2);
	assert_int_equal(lim.idle_timeout_s, 3);
	assert_int_equal(lim.body_timeout_s, 4);
	assert_int_equal(lim.send_timeout_s, 5);
	assert_int_equal(lim.upstream_timeout_s, 6);
	assert_int_equal(lim.retry_body, 0);

	lim = tp_default_limits;
	assert_int_equal(limits_parse("upstream-timeout=7", &lim, err,
	    sizeof(err)), 0);
	assert_int_equal(lim.upstream_timeout_s, 7);
	assert_int_equal(lim.connections, tp_default_limits.connections);
	assert_int_equal(lim.body_timeout_s, tp_default_limits.body_timeout_s);
}

static void
test_bad_input_names_what_was_wrong(void **state)
{
	static const struct { const char *spec, *says; } bad[] = {
		{ "conections=5", "\"conections\" is not name=value" },
		{ "connections", "\"connections\" is not name=value" },
		{ "connections=5,connections=6", "connections is given twice" },
		{ "connections=0", "connections=0 is not a number from 1 to 1700" },
		{ "connections=1701", "from 1 to 1700" },
		{ "head-bytes=100", "head-bytes=100 is not a number from 1024" },
		{ "head-timeout=x", "head-timeout=x is not a number" },
		{ "retry-body=-1", "retry-body=-1 is not a number" },
		{ "retry-body=67108865", "from 0 to 67108864" },
		{ "idle-timeout=10s", "idle-timeout=10s is not a number" },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tp_limits lim = tp_default_limits;

		err[0] = '\0';
		assert_int_equal(limits_parse(bad[i].spec, &lim, err,
		    sizeof(err)), -1);
		if (strstr(err, bad[i].says) == NULL)
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].spec,
			    err, bad[i].says);
		assert_non_null(strstr(err, "--limits"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_keeps_the_defaults),
		cmocka_unit_test(test_each_name_sets_its_field_alone),
		cmocka_unit_test(test_bad_input_names_what_was_wrong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
