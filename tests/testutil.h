/*
 * Shared by the cmocka tests.  A test that needs something this machine
 * may lack (root, user namespaces, Landlock) calls one of the require_*
 * macros: it skips with the reason, unless CI is set, where this machine
 * kind has all of them and a skip would hide a broken test: then it fails.
 */
#ifndef SEPWORKER_TESTUTIL_H
#define SEPWORKER_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

#endif
