/* Sealed memfds: what a receiver accepts, and what it must refuse. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "common/memfd.h"

static const char doc[] = "{\n  \"chainOfTrustVersion\": 1\n}";

static void
expect_refused(int fd, size_t max, const char *msg)
{
	char err[160] = "";
	size_t size;

	assert_int_equal(memfd_check_sealed(fd, max, &size, err, sizeof(err)),
	    -1);
	if (strstr(err, msg) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, msg);
}

static void
test_sealed_roundtrip(void **state)
{
	char err[160], buf[sizeof(doc)];
	size_t size;
	int fd;

	(void)state;
	fd = memfd_sealed("doc", doc, strlen(doc));
	assert_true(fd >= 0);
	assert_int_equal(memfd_check_sealed(fd, 4096, &size, err, sizeof(err)),
	    0);
	assert_int_equal(size, strlen(doc));
	assert_int_equal(memfd_read(fd, buf, size), 0);
	assert_memory_equal(buf, doc, size);
	close(fd);
}

static void
test_sealed_memfd_cannot_change(void **state)
{
	int fd;

	(void)state;
	fd = memfd_sealed("doc", doc, strlen(doc));
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, 1), -1);
	assert_int_equal(ftruncate(fd, 1 << 20), -1);
	/* Nor can the seals be loosened or extended. */
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
	close(fd);
}

static void
test_refuses_unsealed_memfd(void **state)
{
	int fd = memfd_create("plain", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
	expect_refused(fd, 4096, "not sealed against writing and resizing");
	close(fd);
}

static void
test_refuses_partly_sealed_memfd(void **state)
{
	int fd = memfd_create("partly", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
	/* Cannot shrink or grow, but can still be rewritten in place. */
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW),
	    0);
	expect_refused(fd, 4096, "not sealed against writing");
	close(fd);
}

static void
test_refuses_memfd_without_sealing(void **state)
{
	int fd = memfd_create("nosealing", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	expect_refused(fd, 4096, "not sealed");
	close(fd);
}

static void
test_refuses_regular_file(void **state)
{
	char path[] = "/tmp/sepworker-memfd-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	expect_refused(fd, 4096, "not a sealable memfd");
	close(fd);
}

static void
test_refuses_oversized(void **state)
{
	int fd = memfd_sealed("doc", doc, strlen(doc));

	(void)state;
	assert_true(fd >= 0);
	expect_refused(fd, 8, "limit is 8");
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealed_roundtrip),
		cmocka_unit_test(test_sealed_memfd_cannot_change),
		cmocka_unit_test(test_refuses_unsealed_memfd),
		cmocka_unit_test(test_refuses_partly_sealed_memfd),
		cmocka_unit_test(test_refuses_memfd_without_sealing),
		cmocka_unit_test(test_refuses_regular_file),
		cmocka_unit_test(test_refuses_oversized),
	};

	return cmocka_run_group_tests_name("memfd", tests, NULL, NULL);
}
