#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "memfd.h"

int
memfd_sealed(const char *name, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	int fd, saved;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1)
		return -1;
	while (done < len) {
		ssize_t n = pwrite(fd, p + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	/* F_SEAL_SEAL too: nobody may loosen or add seals afterwards. */
	if (fcntl(fd, F_ADD_SEALS, MEMFD_REQUIRED_SEALS | F_SEAL_SEAL) == -1)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved ? saved : EIO;
	return -1;
}

int
memfd_check_sealed(int fd, size_t max, size_t *size, char *err,
    size_t errlen)
{
	struct stat st;
	int seals;

	seals = fcntl(fd, F_GET_SEALS);
	if (seals == -1) {
		snprintf(err, errlen, "not a sealable memfd: %s",
		    strerror(errno));
		return -1;
	}
	if ((seals & MEMFD_REQUIRED_SEALS) != MEMFD_REQUIRED_SEALS) {
		snprintf(err, errlen, "memfd is not sealed against writing "
		    "and resizing (seals 0x%x)", seals);
		return -1;
	}
	/* The fstat syscall itself: glibc's fstat() is fstatat(fd, "", ...),
	 * which a sandbox cannot tell from a path lookup. */
	if (syscall(SYS_fstat, fd, &st) == -1) {
		snprintf(err, errlen, "fstat: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0) {
		snprintf(err, errlen, "memfd is not a regular file");
		return -1;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "memfd holds %lld bytes, limit is %zu",
		    (long long)st.st_size, max);
		return -1;
	}
	*size = (size_t)st.st_size;
	return 0;
}

int
memfd_read(int fd, void *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pread(fd, (char *)buf + done, size - done,
		    (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}
