/*
 * tasks-resolved-count.txt: read at start, rewritten after each task.
 * A crash between the write and the rename leaves the old count and a
 * stray temporary file, which the next write truncates: the count is
 * never half-written.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "supervisor/taskcount.h"

/* Twenty digits and a newline an operator's editor may have added. */
#define COUNT_MAX_BYTES	21

int
taskcount_read(const char *work_dir, uint64_t *n, char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", work_dir, TASKCOUNT_FILE);
	char buf[COUNT_MAX_BYTES + 2];
	ssize_t len;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			*n = 0;
			rc = 0;
		} else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	len = read_all(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[len - 1] = '\0';
	if (len > COUNT_MAX_BYTES || parse_u64(buf, 0, UINT64_MAX, n) == -1) {
		snprintf(err, errlen, "%s must hold the number of tasks "
		    "resolved, as a decimal number, and nothing else", path);
		goto out;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

int
taskcount_write(const char *work_dir, uint64_t n, char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", work_dir, TASKCOUNT_FILE);
	char *tmp = xasprintf("%s.tmp", path);
	char text[COUNT_MAX_BYTES + 1];
	const char *what = tmp;
	int fd = -1, dirfd = -1, rc = -1, len;

	len = snprintf(text, sizeof(text), "%" PRIu64, n);
	/* fchmod too: a stale temporary file keeps the mode it had. */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1 || fchmod(fd, 0600) == -1 ||
	    write_all(fd, text, (size_t)len) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	what = path;
	if (rename(tmp, path) == -1)
		goto fail;
	/* The rename itself survives a crash only once the directory is
	 * on disk. */
	what = work_dir;
	if ((dirfd = open(work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || fsync(dirfd) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "writing the task count: %s: %s", what,
	    strerror(errno));
out:
	if (fd != -1)
		close(fd);
	if (dirfd != -1)
		close(dirfd);
	if (rc == -1)
		unlink(tmp);
	free(tmp);
	free(path);
	return rc;
}
