/*
 * proxyd's sandbox.  It serves its control channel and logs; it opens no
 * files and starts nothing.  Anything not listed kills it.
 */
#include "common/policy_base.h"
#include "common/util.h"
#include "proxyd/proxyd.h"

static const struct sandbox_syscall proxyd_syscalls[] = {
	CHILD_BASE_SYSCALLS,
};

static const struct sandbox_rlimit proxyd_rlimits[] = {
	{ RLIMIT_NOFILE, 256, 256, false,
	    "control fds plus client and upstream connections" },
	{ RLIMIT_FSIZE, 0, 0, false, "writes no files; logs go to a pipe" },
};

const struct sandbox_policy proxyd_policy = {
	.role = "proxyd",
	.default_action = SCMP_ACT_KILL_PROCESS,
	.syscalls = proxyd_syscalls,
	.nsyscalls = nitems(proxyd_syscalls),
	.rlimits = proxyd_rlimits,
	.nrlimits = nitems(proxyd_rlimits),
	/* No filesystem access and no TCP; signals and abstract
	 * sockets confined to its own domain. */
	.landlock = true,
	.landlock_net = true,
	.landlock_read_files = NULL,
};
