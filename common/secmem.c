#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "secmem.h"
#include "util.h"

void *
secmem_alloc(size_t n)
{
	void *p = sodium_malloc(n ? n : 1);

	if (p == NULL)
		fatalx("out of locked memory allocating %zu bytes (is "
		    "RLIMIT_MEMLOCK too low?)", n);
	return p;
}

void
secmem_free(void *p)
{
	sodium_free(p);
}

char *
secmem_strndup(const char *s, size_t n)
{
	char *p = secmem_alloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
secmem_read_file(const char *path, size_t max, size_t *len, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: %lld bytes, more than the %zu "
		    "allowed", path, (long long)st.st_size, max);
		goto fail;
	}
	/* One byte more than the limit shows a file that grew meanwhile. */
	buf = secmem_alloc(max + 2);
	n = read_all(fd, buf, max + 1);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((size_t)n > max) {
		snprintf(err, errlen, "%s: more than the %zu bytes allowed",
		    path, max);
		goto fail;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	close(fd);
	return buf;
fail:
	secmem_free(buf);
	close(fd);
	return NULL;
}
