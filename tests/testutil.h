/*
 * Shared by the cmocka tests.  A test that needs something this machine
 * may lack (root, user namespaces, Landlock) calls one of the require_*
 * macros: it skips with the reason, unless CI is set, where this machine
 * kind has all of them and a skip would hide a broken test: then it fails.
 */
#ifndef SEPWORKER_TESTUTIL_H
#define SEPWORKER_TESTUTIL_H

#include <sched.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define require_or_skip(cond, reason) do {				\
	if (!(cond)) {							\
		if (getenv("CI") != NULL)				\
			fail_msg("needs %s, and CI is set", reason);	\
		print_message("# skip: needs %s\n", reason);		\
		skip();							\
	}								\
} while (0)

#define require_root()	require_or_skip(geteuid() == 0, "root")
#define require_userns() \
	require_or_skip(userns_available(), "user namespaces")

/* Can this process make a user namespace?  (Tried in a throwaway child.) */
static inline bool
userns_available(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#endif
