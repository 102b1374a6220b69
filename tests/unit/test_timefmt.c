/* Taskcluster timestamps, both ways. */
#include <string.h>

#include "tests/testutil.h"

#include "common/timefmt.h"

static void
expect_parse(const char *s, int64_t want)
{
	int64_t got = -2;

	if (time_parse_rfc3339(s, &got) != 0 || got != want)
		fail_msg("%s: got %lld, want %lld", s, (long long)got,
		    (long long)want);
}

static void
test_parse_valid(void **state)
{
	(void)state;
	expect_parse("1970-01-01T00:00:00Z", 0);
	expect_parse("1970-01-01T00:00:00.001Z", 1);
	expect_parse("2026-01-05T10:00:00.000Z", 1767607200000);
	expect_parse("2026-01-05T10:00:00.1234567Z", 1767607200123);
	expect_parse("2026-01-05T12:00:00+02:00", 1767607200000);
	expect_parse("2026-01-05T09:30:00-00:30", 1767607200000);
	expect_parse("2024-02-29T23:59:59.999Z", 1709251199999);
}

static void
test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"", "2026-01-05", "2026-01-05T10:00:00", "2026-13-05T10:00:00Z",
		"2026-02-29T10:00:00Z", "2026-01-05T24:00:00Z",
		"2026-01-05T10:00:00.Z", "2026-01-05T10:00:00Zjunk",
		"2026-01-05 10:00:00Z", "1969-12-31T23:59:59Z",
		"2026-01-05T10:00:00+2:00", "+2026-01-05T10:00:00Z",
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (time_parse_rfc3339(bad[i], &ms) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void
test_format_round_trip(void **state)
{
	char buf[TIMEFMT_LEN];
	int64_t ms;

	(void)state;
	time_format_ms(1767607200123, buf);
	assert_string_equal(buf, "2026-01-05T10:00:00.123Z");
	assert_int_equal(time_parse_rfc3339(buf, &ms), 0);
	assert_true(ms == 1767607200123);
	time_format_ms(0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	assert_true(time_now_ms() > 1767607200000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_format_round_trip),
	};

	return cmocka_run_group_tests_name("timefmt", tests, NULL, NULL);
}
