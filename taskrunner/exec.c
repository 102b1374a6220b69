/*
 * Starting one of the task's commands, from the init: a child with the
 * task's environment, in the task directory, stdin from /dev/null and
 * stdout and stderr into the log pipe, found on the task's own PATH.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "taskrunner/task.h"

#define FALLBACK_PATH	"/usr/local/bin:/usr/bin:/bin"

static const char *
env_get(char *const *envp, const char *key)
{
	size_t klen = strlen(key);

	for (; *envp != NULL; envp++)
		if (strncmp(*envp, key, klen) == 0 && (*envp)[klen] == '=')
			return *envp + klen + 1;
	return NULL;
}

/*
 * execvpe() searches the PATH of the calling process, not the one in the
 * environment it is given: search the task's PATH ourselves.  Returns only
 * on failure, with errno: EACCES if a candidate was found but could not be
 * run, ENOENT if none was found.
 */
static void
exec_search(char *const *argv, char *const *envp)
{
	const char *file = argv[0], *path, *p;
	bool denied = false;
	char buf[4096];

	if (*file == '\0') {
		errno = ENOENT;
		return;
	}
	if (strchr(file, '/') != NULL) {
		execve(file, argv, envp);
		return;
	}
	if ((path = env_get(envp, "PATH")) == NULL)
		path = FALLBACK_PATH;
	for (p = path;; p++) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);

		if (dlen + strlen(file) + 2 <= sizeof(buf)) {
			memcpy(buf, dlen ? p : ".", dlen ? dlen : 1);
			buf[dlen ? dlen : 1] = '/';
			strcpy(buf + (dlen ? dlen : 1) + 1, file);
			execve(buf, argv, envp);
			if (errno == EACCES)
				denied = true;
			else if (errno != ENOENT && errno != ENOTDIR)
				return;
		}
		if (end == NULL)
			break;
		p = end;
	}
	errno = denied ? EACCES : ENOENT;
}

static void __attribute__((noreturn))
command_child(struct task *t, size_t i, int errfd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int devnull, e;

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A session of its own: its process group is killed as one. */
	setsid();
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull == -1 || dup2(devnull, 0) == -1 ||
	    dup2(t->out_pipe[1], 1) == -1 || dup2(t->out_pipe[1], 2) == -1 ||
	    close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) == -1)
		e = errno;
	else {
		exec_search(t->def.commands[i], t->envp);
		e = errno;
	}
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

pid_t
exec_command(struct task *t, size_t i, int *err)
{
	int ep[2], e;
	ssize_t n;
	pid_t pid;

	/* The child reports why exec failed through a close-on-exec pipe:
	 * end of file means the command is running. */
	if (pipe2(ep, O_CLOEXEC) == -1) {
		*err = errno;
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		*err = errno;
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	if (pid == 0)
		command_child(t, i, ep[1]);
	close(ep[1]);
	do {
		n = read(ep[0], &e, sizeof(e));
	} while (n == -1 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		*err = e;
		return -1;
	}
	return pid;
}
