/*
 * callgrind_exec: make bench's stand-in for proxyd when the task proxy's
 * instructions are counted.  The taskproxy test helper execs DIR/proxyd
 * by fd, as the supervisor does (so a script cannot stand in: its fd is
 * close-on-exec); this program, copied there as "proxyd", execs
 *
 *	valgrind --tool=callgrind --callgrind-out-file=DIR/spool/callgrind.out
 *	    taskproxy ARGS...
 *
 * with PATH=DIR, so that DIR/taskproxy (a copy of the build's proxyd)
 * runs with argv[0] "taskproxy", as proxyd requires, and with
 * LD_PRELOAD=DIR/noseccomp.so: valgrind cannot run under a seccomp
 * filter (noseccomp.c says why).  Valgrind 3.19 does not implement
 * Landlock's syscalls either: the task proxy says "kernel has no
 * Landlock" and goes on.  Its uid, rlimits and request path are the
 * real ones.  It may write files as large as it likes only with a spool
 * (RLIMIT_FSIZE is 0 without), so the helper is given --agent --spool
 * DIR/spool; callgrind opens DIR/spool/callgrind.out as root at start
 * and again as the task proxy's uid when it exits, so that file must
 * exist and be the task proxy uid's already.
 *
 * Valgrind keeps 12 fds of its own below the hard RLIMIT_NOFILE and
 * refuses a setrlimit that moves it: the task proxy's own limit plus 12
 * must be in place (prlimit) when the helper starts.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VALGRIND	"/usr/bin/valgrind"
#define NOPTS		6

int
main(int argc, char **argv)
{
	char self[PATH_MAX], out[PATH_MAX + 64], path[PATH_MAX + 8];
	char preload[PATH_MAX + 32];
	char *dir, *env[3] = { path, preload, NULL };
	char **av;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		perror("callgrind_exec: /proc/self/exe");
		return 127;
	}
	self[n] = '\0';
	dir = dirname(self);
	snprintf(out, sizeof(out), "--callgrind-out-file=%s/spool/callgrind.out",
	    dir);
	snprintf(path, sizeof(path), "PATH=%s", dir);
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s/noseccomp.so", dir);
	if ((av = calloc((size_t)argc + NOPTS + 1, sizeof(*av))) == NULL)
		return 127;
	av[0] = "valgrind";
	av[1] = "--tool=callgrind";
	av[2] = "-q";
	av[3] = "--vgdb=no";
	av[4] = out;
	av[5] = "taskproxy";
	/* argv[0] is "taskproxy" already; the rest follow it. */
	memcpy(av + NOPTS, argv + 1, (size_t)(argc - 1) * sizeof(*av));
	execve(VALGRIND, av, env);
	perror("callgrind_exec: " VALGRIND);
	return 127;
}
