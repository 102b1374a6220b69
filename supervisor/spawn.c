#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/child.h"
#include "common/util.h"
#include "supervisor/spawn.h"

#define SPAWN_EXTRA_MAX	4

/* In the forked child: only syscalls from here to execveat. */
static void __attribute__((noreturn))
child_exec(const struct spawn_spec *s, pid_t parent)
{
	static char *const empty_env[] = { NULL };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int sock, logw, devnull, bin, extra[SPAWN_EXTRA_MAX];
	int binfd_in_child = CHILD_LOG_FD + 1 + s->nextra;
	char msg[160];
	int n;

	/* exec keeps ignored dispositions and the mask: reset both. */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Our own session: a terminal's ^C reaches the supervisor only, and
	 * the supervisor decides how its children stop. */
	setsid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(127);
	/* Lift every fd we keep above the low numbers first, so placing one
	 * cannot clobber another. */
	sock = fcntl(s->sock, F_DUPFD_CLOEXEC, 10);
	logw = fcntl(s->logw, F_DUPFD_CLOEXEC, 10);
	devnull = fcntl(s->devnull, F_DUPFD_CLOEXEC, 10);
	bin = fcntl(s->binfd, F_DUPFD_CLOEXEC, 10);
	if (s->nextra < 0 || s->nextra > SPAWN_EXTRA_MAX)
		_exit(127);
	for (int i = 0; i < s->nextra; i++)
		if ((extra[i] = fcntl(s->extra[i], F_DUPFD_CLOEXEC, 10)) == -1)
			_exit(127);
	if (sock == -1 || logw == -1 || devnull == -1 || bin == -1 ||
	    dup2(devnull, 0) == -1 || dup2(devnull, 1) == -1 ||
	    dup2(logw, 2) == -1 || dup2(sock, CHILD_CONTROL_FD) == -1 ||
	    dup2(logw, CHILD_LOG_FD) == -1)
		_exit(127);
	for (int i = 0; i < s->nextra; i++)
		if (dup2(extra[i], CHILD_LOG_FD + 1 + i) == -1)
			_exit(127);
	if (dup3(bin, binfd_in_child, O_CLOEXEC) == -1 ||
	    close_range((unsigned)binfd_in_child + 1, ~0u, 0) == -1)
		_exit(127);
	syscall(SYS_execveat, binfd_in_child, "", s->argv, empty_env,
	    AT_EMPTY_PATH);
	n = snprintf(msg, sizeof(msg), "Eexec %s: %s\n", s->argv[0],
	    strerror(errno));
	if (n > 0)
		write_all(CHILD_LOG_FD, msg, (size_t)n);
	_exit(127);
}

pid_t
spawn_child(const struct spawn_spec *s, int *pidfd)
{
	pid_t parent = getpid(), pid;

	pid = fork();
	if (pid == -1)
		return -1;
	if (pid == 0)
		child_exec(s, parent);
	/* The child is ours and unreaped, so its pid cannot be reused
	 * before this call: the pidfd names exactly it. */
	*pidfd = pidfd_open(pid, 0);
	if (*pidfd == -1) {
		int saved = errno;

		kill(pid, SIGKILL);
		errno = saved;
		return -1;
	}
	return pid;
}

int
spawn_open_binary(const char *dir, const char *name, char *err, size_t errlen)
{
	struct stat st;
	int dfd, fd;

	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (fstat(dfd, &st) == -1 || (st.st_uid != 0 && st.st_uid != geteuid())
	    || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "%s: the directory of sepworker's "
		    "binaries must be owned by root (or by us) and not "
		    "writable by group or others", dir);
		close(dfd);
		return -1;
	}
	fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd == -1) {
		snprintf(err, errlen, "%s/%s: %s", dir, name, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "%s/%s: must be a regular file owned by "
		    "root (or by us) and not writable by group or others",
		    dir, name);
		close(fd);
		return -1;
	}
	return fd;
}
