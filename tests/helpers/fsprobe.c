/*
 * fsprobe MODE ARGS: what a task can learn of the host's filesystem
 * without reading a file, the calls Landlock does not mediate.  Prints
 * one line per path, "MODE PATH: ok" or "MODE PATH: <errno name>"; exits
 * 0 either way, 2 on misuse.
 *
 *   serve PATH...     (the test, on the host) listen on a pathname Unix
 *                     socket at each PATH, mode 0777; print "ready" and
 *                     accept until killed
 *   connect PATH...   connect to each
 *   stat PATH...      lstat each
 *   watch SECS PATH...  inotify_add_watch on each, then for SECS seconds
 *                     print "event PATH" for each watch that saw anything
 *   env               print the environment, one "env: NAME=VALUE" a line
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

static void
answer(const char *mode, const char *path, int rc)
{
	printf("%s %s: %s\n", mode, path, rc == 0 ? "ok" :
	    strerrorname_np(errno) ? strerrorname_np(errno) : "unknown errno");
}

static int
unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

static int
serve(int n, char **paths)
{
	struct pollfd pfd[64];
	struct sockaddr_un sun;

	if (n > 64)
		return 2;
	for (int i = 0; i < n; i++) {
		pfd[i] = (struct pollfd){ socket(AF_UNIX, SOCK_STREAM, 0),
		    POLLIN, 0 };
		unlink(paths[i]);
		if (pfd[i].fd == -1 || unix_addr(paths[i], &sun) == -1 ||
		    bind(pfd[i].fd, (struct sockaddr *)&sun, sizeof(sun)) ==
		    -1 || chmod(paths[i], 0777) == -1 ||
		    listen(pfd[i].fd, 16) == -1) {
			perror(paths[i]);
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) == -1)
			return 1;
		for (int i = 0; i < n; i++)
			if (pfd[i].revents) {
				int c = accept(pfd[i].fd, NULL, NULL);

				if (c >= 0)
					close(c);
			}
	}
}

static int
try_connect(const char *path)
{
	struct sockaddr_un sun;
	int s = socket(AF_UNIX, SOCK_STREAM, 0), rc;

	if (s == -1 || unix_addr(path, &sun) == -1)
		return -1;
	rc = connect(s, (struct sockaddr *)&sun, sizeof(sun));
	close(s);
	return rc;
}

static void
watch(int secs, int n, char **paths)
{
	char buf[4096] __attribute__((aligned(8)));
	int fd = inotify_init1(IN_NONBLOCK), wd[64];
	bool seen[64] = { false };

	for (int i = 0; i < n && i < 64; i++) {
		wd[i] = fd == -1 ? -1 : inotify_add_watch(fd, paths[i],
		    IN_ALL_EVENTS);
		answer("watch", paths[i], wd[i] == -1 ? -1 : 0);
	}
	for (int waited = 0; fd != -1 && waited < secs * 10; waited++) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t len;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		len = read(fd, buf, sizeof(buf));
		for (char *p = buf; len > 0 && p < buf + len;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			for (int i = 0; i < n && i < 64; i++)
				if (wd[i] == ev->wd)
					seen[i] = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	for (int i = 0; i < n && i < 64; i++)
		if (seen[i])
			printf("event %s\n", paths[i]);
}

#ifdef SEPWORKER_RELAXED_SANDBOX
/* In a sanitizer build this runs inside tasks, where LeakSanitizer cannot
 * stop the process with ptrace at exit: leak checking off, as in
 * try_syscall. */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

int
main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "serve") == 0)
		return serve(argc - 2, argv + 2);
	if (strcmp(argv[1], "env") == 0) {
		for (char **e = environ; *e != NULL; e++)
			printf("env: %s\n", *e);
		return 0;
	}
	if (strcmp(argv[1], "watch") == 0 && argc > 2) {
		watch(atoi(argv[2]), argc - 3, argv + 3);
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		struct stat st;

		if (strcmp(argv[1], "connect") == 0)
			answer("connect", argv[i], try_connect(argv[i]));
		else if (strcmp(argv[1], "stat") == 0)
			answer("stat", argv[i], lstat(argv[i], &st));
		else
			return 2;
	}
	return 0;
}
