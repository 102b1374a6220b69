/*
 * The keyholder's sandbox.  After start-up it only receives requests on
 * fd 3, reads sealed memfds, answers, and logs to fd 4: no files, no
 * network, no new processes, no exec.  Anything not listed kills it.
 */
#include <fcntl.h>

#include "common/policy_base.h"
#include "common/util.h"
#include "keyholder/keyholder.h"

#define ALLOW	SCMP_ACT_ALLOW

static const struct sandbox_syscall keyholder_syscalls[] = {
	CHILD_BASE_SYSCALLS,
	/* Documents to sign arrive as sealed memfds. */
	{ SCMP_SYS(fcntl), ALLOW, 1,
	    { SB_ARG32(1, SCMP_CMP_EQ, F_GET_SEALS, 0) },
	    0, "check a memfd's seals" },
	{ SCMP_SYS(fstat), ALLOW, 0, { { 0 } }, 0,
	    "size of a memfd (by fd only: no path is ever looked up)" },
	{ SCMP_SYS(pread64), ALLOW, 0, { { 0 } }, 0,
	    "read a memfd without its shared file offset" },
};

static const struct sandbox_rlimit keyholder_rlimits[] = {
	{ RLIMIT_NOFILE, 16, 16, false,
	    "fds 0-4 and one memfd at a time; never 0, poll() would fail" },
	{ RLIMIT_NPROC, 0, 0, false, "never starts a process (as non-root)" },
	{ RLIMIT_FSIZE, 0, 0, false, "writes no files; logs go to a pipe" },
	{ RLIMIT_AS, 256u << 20, 256u << 20, false,
	    "a few MiB of libraries plus documents of at most 16 MiB" },
};

const struct sandbox_policy keyholder_policy = {
	.role = "keyholder",
	.default_action = SCMP_ACT_KILL_PROCESS,
	.syscalls = keyholder_syscalls,
	.nsyscalls = nitems(keyholder_syscalls),
	.rlimits = keyholder_rlimits,
	.nrlimits = nitems(keyholder_rlimits),
	/* Every filesystem and TCP right handled, none granted; no signals
	 * or abstract sockets outside its own domain. */
	.landlock = true,
	.landlock_net = true,
	.landlock_read_files = NULL,
};
