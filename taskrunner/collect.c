/*
 * Artifacts, collected by the init as the task user once every other
 * process of the task is dead (so nothing can swap a file while we look).
 * Each file is opened beneath the task directory with no symlink followed
 * anywhere on its path (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS),
 * non-blocking (a FIFO must not hang us), and must be a regular file.  Its
 * fd goes up to the supervisor, which never opens a task path itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/rmtree.h"
#include "common/util.h"
#include "taskrunner/chan_init.h"
#include "taskrunner/cotextra.h"
#include "taskrunner/task.h"

/* Deeper directory trees than this are not walked. */
#define MAX_DEPTH	256

static int
open_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		/* openat2 refuses O_NOCTTY (any flag but a few) with O_PATH */
		.flags = (uint64_t)(flags | O_CLOEXEC |
		    (flags & O_PATH ? 0 : O_NOCTTY)),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static void
put_str(struct ipc_writer *w, const char *s)
{
	size_t len = strlen(s);

	ipc_put_str(w, s, len > TASK_STRING_MAX ? TASK_STRING_MAX : len);
}

static void __attribute__((format(printf, 5, 0)))
send_error_v(struct ipc_conn *c, uint32_t flags, const char *name,
    const char *reason, const char *fmt, va_list ap)
{
	uint8_t buf[4 + 3 * (4 + TASK_STRING_MAX)];
	char msg[TASK_STRING_MAX];
	struct ipc_writer w;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_u32(&w, flags);
	put_str(&w, name);
	put_str(&w, reason);
	put_str(&w, msg);
	ipc_send(c, INIT_ARTIFACT_ERROR, 0, w.buf, w.len, -1);
}

static void __attribute__((format(printf, 4, 5)))
send_error(struct ipc_conn *c, const char *name, const char *reason,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_error_v(c, 0, name, reason, fmt, ap);
	va_end(ap);
}

/* An optional artifact that is not there: generic-worker uploads an
 * error artifact for it all the same, and the task does not fail. */
static void __attribute__((format(printf, 3, 4)))
send_optional_missing(struct ipc_conn *c, const char *name,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_error_v(c, ARTIFACT_ERROR_OPTIONAL, name,
	    "file-missing-on-worker", fmt, ap);
	va_end(ap);
}

/* When collection must end (artifactCollectionSeconds), in now_ms(). */
static uint64_t	collect_deadline = UINT64_MAX;
static unsigned	collect_secs;

/* Past the deadline: say so for artifact a, once, and stop. */
static bool
out_of_time(struct ipc_conn *c, const struct task_artifact *a,
    bool *reported, const char *what)
{
	if (now_ms() < collect_deadline)
		return false;
	if (!*reported)
		send_error(c, a->name, "invalid-resource-on-worker", "%s: "
		    "collecting artifacts took longer than %u s "
		    "(sepworker.artifactCollectionSeconds)", what, collect_secs);
	*reported = true;
	return true;
}

/* Content type and encoding come from the file's path, not the
 * artifact's name, as generic-worker derives them; the payload's own
 * contentType and contentEncoding win. */
static void
send_file(struct ipc_conn *c, const struct task_artifact *a,
    const char *name, const char *path, int fd)
{
	uint8_t buf[sizeof(struct task_artifact_meta) + 3 * (4 +
	    TASK_STRING_MAX)];
	struct task_artifact_meta meta = { .expires_ms = a->expires_ms };
	struct ipc_writer w;

	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_bytes(&w, &meta, sizeof(meta));
	put_str(&w, name);
	put_str(&w, a->content_type ? a->content_type :
	    artifact_content_type(path));
	put_str(&w, a->content_encoding ? a->content_encoding :
	    artifact_content_encoding(path));
	ipc_send(c, INIT_ARTIFACT, 0, w.buf, w.len, fd);
}

static const char *
kind_of(mode_t mode)
{
	return S_ISDIR(mode) ? "a directory" : S_ISFIFO(mode) ? "a FIFO" :
	    S_ISCHR(mode) || S_ISBLK(mode) ? "a device" :
	    S_ISSOCK(mode) ? "a socket" : S_ISLNK(mode) ? "a symbolic link" :
	    "not a regular file";
}

/* Say why path could not be opened, as generic-worker's error reasons. */
static void
open_failed(struct ipc_conn *c, const struct task_artifact *a, int err)
{
	if (err == ENOENT || err == ENOTDIR) {
		if (a->optional)
			send_optional_missing(c, a->name, "%s does not exist "
			    "in the task directory", a->path);
		else
			send_error(c, a->name, "file-missing-on-worker",
			    "%s does not exist in the task directory",
			    a->path);
	} else if (err == ELOOP)
		send_error(c, a->name, "invalid-resource-on-worker",
		    "%s is or passes through a symbolic link, and artifacts "
		    "are never collected through links", a->path);
	else if (err == EXDEV)
		send_error(c, a->name, "invalid-resource-on-worker",
		    "%s is outside the task directory", a->path);
	else if (err == EACCES || err == EPERM)
		send_error(c, a->name, "file-not-readable-on-worker",
		    "%s cannot be read by the task user", a->path);
	else
		send_error(c, a->name, "invalid-resource-on-worker",
		    "%s: %s", a->path, strerror(err));
}

static void
collect_file(struct task *t, struct ipc_conn *c, const struct task_artifact *a)
{
	struct stat st;
	int fd = open_beneath(t->taskdir_fd, a->path, O_RDONLY | O_NONBLOCK);

	if (fd == -1) {
		open_failed(c, a, errno);
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		send_error(c, a->name, "invalid-resource-on-worker",
		    "%s is %s, not a regular file", a->path,
		    kind_of(st.st_mode));
		close(fd);
		return;
	}
	send_file(c, a, a->name, a->path, fd);
	close(fd);
}

/* Every regular file below dfd becomes "<artifact name>/<relative path>",
 * until the collection runs out of time (*late). */
static void
walk(struct ipc_conn *c, const struct task_artifact *a, int dfd,
    const char *rel, int depth, bool *late)
{
	char **names = dir_names(dfd, true);

	if (names == NULL) {
		send_error(c, a->name, "file-not-readable-on-worker",
		    "%s/%s cannot be listed", a->path, rel);
		return;
	}
	for (size_t i = 0; names[i] != NULL; i++) {
		char *sub;
		struct stat st;
		int fd;

		if (*late || out_of_time(c, a, late, "the rest of this "
		    "directory was not collected"))
			break;
		sub = *rel ? xasprintf("%s/%s", rel, names[i]) :
		    xstrdup(names[i]);
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == -1)
			st.st_mode = 0;
		if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
			fd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				walk(c, a, fd, sub, depth + 1, late);
				close(fd);
			}
		} else if (S_ISREG(st.st_mode)) {
			char *name = xasprintf("%s/%s", a->name, sub);

			fd = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW |
			    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
			if (fd >= 0 && fstat(fd, &st) == 0 &&
			    S_ISREG(st.st_mode))
				send_file(c, a, name, names[i], fd);
			else
				send_error(c, name, "file-not-readable-on-"
				    "worker", "%s/%s cannot be read", a->path,
				    sub);
			if (fd >= 0)
				close(fd);
			free(name);
		} else
			init_note(c, "Directory artifact %s: skipping %s/%s, "
			    "which is %s", a->name, a->path, sub,
			    S_ISDIR(st.st_mode) ? "nested too deep" :
			    kind_of(st.st_mode));
		free(sub);
	}
	dir_names_free(names);
}

/* A directory artifact's path that exists but is a file (or other
 * non-directory) is invalid-resource-on-worker, as generic-worker says,
 * not missing: tell the two ENOTDIRs apart by opening it O_PATH, which
 * reads nothing.  True if it was reported. */
static bool
not_a_directory(struct task *t, struct ipc_conn *c,
    const struct task_artifact *a)
{
	struct stat st;
	int fd = open_beneath(t->taskdir_fd, a->path, O_PATH);
	bool found;

	if (fd == -1)
		return false;
	found = fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode);
	close(fd);
	if (found)
		send_error(c, a->name, "invalid-resource-on-worker",
		    "%s is %s, not a directory", a->path,
		    S_ISREG(st.st_mode) ? "a file" : kind_of(st.st_mode));
	errno = ENOTDIR;
	return found;
}

static void
collect_directory(struct task *t, struct ipc_conn *c,
    const struct task_artifact *a)
{
	int fd = open_beneath(t->taskdir_fd, a->path, O_RDONLY |
	    O_DIRECTORY);
	bool late = false;

	if (fd == -1) {
		if (errno != ENOTDIR || !not_a_directory(t, c, a))
			open_failed(c, a, errno);
		return;
	}
	walk(c, a, fd, "", 0, &late);
	close(fd);
}

void
collect_artifacts(struct task *t, struct ipc_conn *c)
{
	collect_secs = t->a.collect_secs;
	collect_deadline = now_ms() + (uint64_t)collect_secs * 1000;
	for (size_t i = 0; i < t->def.nartifacts; i++) {
		const struct task_artifact *a = &t->def.artifacts[i];
		bool late = false;

		if (out_of_time(c, a, &late, "not collected"))
			continue;
		if (a->type == ARTIFACT_FILE)
			collect_file(t, c, a);
		else
			collect_directory(t, c, a);
	}
}

/* chain-of-trust-additional-data.json, by the artifacts' rules: absent
 * is nothing; there but not a regular file we can open is the task's
 * error, said in its log. */
void
collect_cot_extra(struct task *t, struct ipc_conn *c)
{
	uint8_t buf[4 + TASK_STRING_MAX];
	char msg[TASK_STRING_MAX];
	struct ipc_writer w;
	struct stat st = { 0 };
	int fd = open_beneath(t->taskdir_fd, COT_EXTRA_FILE, O_RDONLY |
	    O_NONBLOCK), err = errno;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		ipc_send(c, INIT_COT_EXTRA, 0, NULL, 0, fd);
		close(fd);
		return;
	}
	if (fd >= 0)
		snprintf(msg, sizeof(msg), "%s is %s, not a regular file",
		    COT_EXTRA_FILE, kind_of(st.st_mode));
	else if (err == ENOENT)
		return;
	else if (err == ELOOP)
		snprintf(msg, sizeof(msg), "%s is a symbolic link, which is "
		    "never followed", COT_EXTRA_FILE);
	else if (err == EACCES || err == EPERM)
		snprintf(msg, sizeof(msg), "%s cannot be read by the task "
		    "user", COT_EXTRA_FILE);
	else
		snprintf(msg, sizeof(msg), "%s: %s", COT_EXTRA_FILE,
		    strerror(err));
	if (fd >= 0)
		close(fd);
	ipc_writer_init(&w, buf, sizeof(buf));
	put_str(&w, msg);
	ipc_send(c, INIT_COT_EXTRA_ERROR, 0, w.buf, w.len, -1);
}

void
clean_taskdir(struct task *t, struct ipc_conn *c)
{
	int fd = openat(t->taskdir_fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	char **left;

	if (fd == -1) {
		init_note(c, "Cannot clean the task directory: %s",
		    strerror(errno));
		return;
	}
	/* We own all of it (the task user) and every task process is dead,
	 * so nothing moves while we work. */
	if (!rmtree_contents(fd)) {
		left = dir_names(fd, true);
		init_note(c, "The task directory could not be emptied (%s "
		    "remains)", left != NULL && left[0] != NULL ? left[0] :
		    "an unreadable entry");
		dir_names_free(left);
	}
	close(fd);
}
