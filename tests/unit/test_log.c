/* Log records and the escaping that keeps a child's bytes from forging
 * lines or driving the reader's terminal. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "common/log.h"

static void
expect_escape(const char *in, size_t len, int json, const char *want)
{
	char out[256];

	log_escape(out, sizeof(out), in, len, json);
	assert_string_equal(out, want);
}

static void
test_escape_controls_and_backslash(void **state)
{
	(void)state;
	expect_escape("a\nb", 3, 0, "a\\x0ab");
	expect_escape("\r\t\x1b[31m", 7, 0, "\\x0d\\x09\\x1b[31m");
	expect_escape("\x7f", 1, 0, "\\x7f");
	expect_escape("a\\b", 3, 0, "a\\\\b");
	expect_escape("nul\0x", 5, 0, "nul\\x00x");
}

static void
test_escape_keeps_valid_utf8(void **state)
{
	(void)state;
	expect_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", 14, 0,
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
}

static void
test_escape_invalid_and_dangerous_utf8(void **state)
{
	(void)state;
	/* a lone continuation byte, a truncated sequence, an overlong '/' */
	expect_escape("\x80", 1, 0, "\\x80");
	expect_escape("\xe2\x82", 2, 0, "\\xe2\\x82");
	expect_escape("\xc0\xaf", 2, 0, "\\xc0\\xaf");
	/* an encoded surrogate */
	expect_escape("\xed\xa0\x80", 3, 0, "\\xed\\xa0\\x80");
	/* C1 CSI, which some terminals obey */
	expect_escape("\xc2\x9b", 2, 0, "\\xc2\\x9b");
	/* right-to-left override */
	expect_escape("\xe2\x80\xae", 3, 0, "\\xe2\\x80\\xae");
}

static void
test_escape_json_quotes(void **state)
{
	(void)state;
	expect_escape("say \"hi\"", 8, 1, "say \\\"hi\\\"");
	expect_escape("say \"hi\"", 8, 0, "say \"hi\"");
}

static void
test_escape_truncates_between_escapes(void **state)
{
	char out[7];

	(void)state;
	/* Room for one four-byte escape and two characters, not half of the
	 * second escape. */
	log_escape(out, sizeof(out), "\n\nab", 4, 0);
	assert_string_equal(out, "\\x0a");
}

static void
test_child_record_is_one_line(void **state)
{
	char buf[256];
	ssize_t n;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	log_init_child(p[1], 0);
	log_info("two\nlines");
	log_debug("not shown without --verbose");
	log_warnx("careful");
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "Itwo lines\nWcareful\n");
	close(p[0]);
	log_init_supervisor("test", LOG_FORMAT_TEXT, 0);
}

static void
test_level_letters(void **state)
{
	int known;

	(void)state;
	assert_int_equal(log_level_from_letter('E', &known), LOG_LVL_ERROR);
	assert_true(known);
	assert_int_equal(log_level_from_letter('x', &known), LOG_LVL_STDERR);
	assert_false(known);
	assert_int_equal(log_level_from_letter('\0', &known), LOG_LVL_STDERR);
	assert_false(known);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_controls_and_backslash),
		cmocka_unit_test(test_escape_keeps_valid_utf8),
		cmocka_unit_test(test_escape_invalid_and_dangerous_utf8),
		cmocka_unit_test(test_escape_json_quotes),
		cmocka_unit_test(test_escape_truncates_between_escapes),
		cmocka_unit_test(test_child_record_is_one_line),
		cmocka_unit_test(test_level_letters),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
