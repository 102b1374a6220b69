/* Secret memory: locked, and filled from files without stdio. */
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "common/secmem.h"

static long
locked_kb(void)
{
	char buf[4096], *p;
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	p = strstr(buf, "VmLck:");
	assert_non_null(p);
	return strtol(p + 6, NULL, 10);
}

static void
write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

static void
test_read_file_into_locked_memory(void **state)
{
	char path[] = "/tmp/sepworker-secmem-XXXXXX", err[256];
	long before = locked_kb();
	size_t len;
	char *s;

	(void)state;
	close(mkstemp(path));
	write_file(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	s = secmem_read_file(path, 64, &len, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(len, 44);
	assert_string_equal(s, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
#ifndef SEPWORKER_RELAXED_SANDBOX
	/* (ASan turns mlock into a no-op, so only outside `make san`.) */
	assert_true(locked_kb() > before);
#else
	(void)before;
#endif
	secmem_free(s);
	unlink(path);
}

static void
test_read_file_refusals_name_the_path(void **state)
{
	char path[] = "/tmp/sepworker-secmem-XXXXXX", err[256];
	size_t len;

	(void)state;
	close(mkstemp(path));
	write_file(path, "0123456789");
	assert_null(secmem_read_file(path, 9, &len, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "more than the 9"));
	unlink(path);
	assert_null(secmem_read_file(path, 9, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	assert_null(secmem_read_file("/tmp", 9, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "/tmp: not a regular file"));
}

static void
test_strndup_terminates(void **state)
{
	char *s = secmem_strndup("secret-and-more", 6);

	(void)state;
	assert_string_equal(s, "secret");
	secmem_free(s);
	secmem_free(NULL);
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
		cmocka_unit_test(test_read_file_into_locked_memory),
		cmocka_unit_test(test_read_file_refusals_name_the_path),
		cmocka_unit_test(test_strndup_terminates),
	};

	return cmocka_run_group_tests_name("secmem", tests, setup, NULL);
}
