/* tasks-resolved-count.txt: missing is 0, anything but a decimal number
 * is an error naming the file, a write is whole, atomic and 0600. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/testutil.h"

#include "common/util.h"
#include "supervisor/taskcount.h"

struct fixture {
	char	dir[64];
	char	file[128];
	char	err[512];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_taskcount_XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->file, sizeof(f->file), "%s/%s", f->dir, TASKCOUNT_FILE);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char tmp[160];

	snprintf(tmp, sizeof(tmp), "%s.tmp", f->file);
	unlink(tmp);
	unlink(f->file);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
put_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_missing_file_is_zero(void **state)
{
	struct fixture *f = *state;
	uint64_t n = 99;

	assert_int_equal(taskcount_read(f->dir, &n, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(n, 0);
}

static void
test_write_then_read(void **state)
{
	struct fixture *f = *state;
	char text[32] = "";
	struct stat st;
	uint64_t n = 0;
	int fd;

	assert_int_equal(taskcount_write(f->dir, 41, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(taskcount_write(f->dir, 18446744073709551615u,
	    f->err, sizeof(f->err)), 0);
	assert_int_equal(taskcount_read(f->dir, &n, f->err, sizeof(f->err)),
	    0);
	assert_true(n == 18446744073709551615u);
	assert_int_equal(stat(f->file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	fd = open(f->file, O_RDONLY);
	assert_true(fd >= 0);
	assert_true(read(fd, text, sizeof(text) - 1) > 0);
	close(fd);
	/* The number alone, as generic-worker writes it. */
	assert_string_equal(text, "18446744073709551615");
}

/* A stale temporary file (a crash before the rename) is replaced, with
 * the right mode, and the count it held never counts. */
static void
test_stale_temporary_file(void **state)
{
	struct fixture *f = *state;
	char tmp[160];
	struct stat st;
	uint64_t n = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", f->file);
	put_file(tmp, "999", 0644);
	assert_int_equal(taskcount_read(f->dir, &n, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(n, 0);
	assert_int_equal(taskcount_write(f->dir, 3, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(stat(f->file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(taskcount_read(f->dir, &n, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(n, 3);
}

static void
test_trailing_newline_accepted(void **state)
{
	struct fixture *f = *state;
	uint64_t n = 0;

	put_file(f->file, "12\n", 0600);
	assert_int_equal(taskcount_read(f->dir, &n, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(n, 12);
}

static void
test_not_a_number_names_the_file(void **state)
{
	static const char *const bad[] = { "", "\n", "-1", "1 2", "0x10",
	    "12\n\n", "007", "ten", "18446744073709551616",
	    "123456789012345678901234" };
	struct fixture *f = *state;
	char want[256];
	uint64_t n;

	snprintf(want, sizeof(want), "%s must hold the number of tasks "
	    "resolved, as a decimal number, and nothing else", f->file);
	for (size_t i = 0; i < nitems(bad); i++) {
		put_file(f->file, bad[i], 0600);
		f->err[0] = '\0';
		if (taskcount_read(f->dir, &n, f->err, sizeof(f->err)) != -1)
			fail_msg("\"%s\" read as %ju", bad[i], (uintmax_t)n);
		assert_string_equal(f->err, want);
	}
}

static void
test_unusable_directory_named(void **state)
{
	struct fixture *f = *state;
	char missing[128], want[256];
	uint64_t n;

	snprintf(missing, sizeof(missing), "%s/nonexistent", f->dir);
	assert_int_equal(taskcount_write(missing, 1, f->err, sizeof(f->err)),
	    -1);
	snprintf(want, sizeof(want), "writing the task count: %s/%s.tmp: No "
	    "such file or directory", missing, TASKCOUNT_FILE);
	assert_string_equal(f->err, want);
	/* A directory where the file should be: not a count, not 0. */
	assert_int_equal(mkdir(f->file, 0700), 0);
	assert_int_equal(taskcount_read(f->dir, &n, f->err, sizeof(f->err)),
	    -1);
	assert_non_null(strstr(f->err, f->file));
	rmdir(f->file);
}

#define T(name)	cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_missing_file_is_zero),
		T(test_write_then_read),
		T(test_stale_temporary_file),
		T(test_trailing_newline_accepted),
		T(test_not_a_number_names_the_file),
		T(test_unusable_directory_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
