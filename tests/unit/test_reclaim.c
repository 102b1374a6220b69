/* The reclaim schedule: 3 minutes before takenUntil; half-way when that
 * is under 30 s away (generic-worker would set no timer at all); at once
 * when takenUntil has passed. */
#include "tests/testutil.h"

#include "proxyd/reclaim.h"

#define S	1000LL
#define MIN	(60 * S)
#define NOW	1700000000000LL

static void
test_normal_claim_three_minutes_before(void **state)
{
	bool is_short = true;

	(void)state;
	/* The Queue's default claimTimeout, 20 minutes. */
	assert_int_equal(reclaim_time(NOW, NOW + 20 * MIN, &is_short),
	    NOW + 17 * MIN);
	assert_false(is_short);
}

static void
test_exactly_thirty_seconds_lead_is_normal(void **state)
{
	bool is_short = true;

	(void)state;
	assert_int_equal(reclaim_time(NOW, NOW + 3 * MIN + 30 * S, &is_short),
	    NOW + 30 * S);
	assert_false(is_short);
}

static void
test_short_claim_half_way(void **state)
{
	bool is_short = false;

	(void)state;
	/* 3 min 29.998 s left: the usual reclaim would be 29.998 s away. */
	assert_int_equal(reclaim_time(NOW, NOW + 3 * MIN + 30 * S - 2,
	    &is_short), NOW + (3 * MIN + 30 * S - 2) / 2);
	assert_true(is_short);
	/* A 16 s claim timeout (the tests'): 8 s from now. */
	assert_int_equal(reclaim_time(NOW, NOW + 16 * S, &is_short),
	    NOW + 8 * S);
	assert_true(is_short);
	/* 1 ms left: now, not a moment past takenUntil. */
	assert_int_equal(reclaim_time(NOW, NOW + 1, &is_short), NOW);
	assert_true(is_short);
}

static void
test_already_past_at_once(void **state)
{
	bool is_short = false;

	(void)state;
	assert_int_equal(reclaim_time(NOW, NOW, &is_short), NOW);
	assert_true(is_short);
	assert_int_equal(reclaim_time(NOW, NOW - 5 * MIN, &is_short), NOW);
	assert_true(is_short);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal_claim_three_minutes_before),
		cmocka_unit_test(test_exactly_thirty_seconds_lead_is_normal),
		cmocka_unit_test(test_short_claim_half_way),
		cmocka_unit_test(test_already_past_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
