/*
 * proxyd's sandbox.  It serves its control channel and logs; it opens no
 * files and starts nothing.  Anything not listed kills it.
 */
#include <sys/mman.h>

#include "common/child.h"
#include "common/util.h"
#include "proxyd/proxyd.h"

#define ALLOW	SCMP_ACT_ALLOW

static const struct sandbox_syscall proxyd_syscalls[] = {
	/* Control channel and log. */
	{ SCMP_SYS(recvmsg), ALLOW, 1,
	    { SB_ARG(0, SCMP_CMP_EQ, CHILD_CONTROL_FD, 0) },
	    0, "read requests from fd 3" },
	{ SCMP_SYS(sendmsg), ALLOW, 1,
	    { SB_ARG(0, SCMP_CMP_EQ, CHILD_CONTROL_FD, 0) },
	    0, "answer on fd 3" },
	{ SCMP_SYS(write), ALLOW, 1,
	    { SB_ARG(0, SCMP_CMP_EQ, CHILD_LOG_FD, 0) },
	    0, "log records to fd 4" },
	{ SCMP_SYS(write), ALLOW, 1, { SB_ARG(0, SCMP_CMP_EQ, 2, 0) },
	    0, "libc's last words (fortify, abort) go to stderr, the log pipe" },
	{ SCMP_SYS(close), ALLOW, 0, { { 0 } }, 0, "close received fds" },
	/* Memory; nothing may become executable. */
	{ SCMP_SYS(brk), ALLOW, 0, { { 0 } }, 0, "malloc" },
	{ SCMP_SYS(mmap), ALLOW, 1,
	    { SB_ARG(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0) },
	    0, "malloc of large blocks; never PROT_EXEC" },
	{ SCMP_SYS(mprotect), ALLOW, 1,
	    { SB_ARG(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0) },
	    0, "libsodium's guarded allocations; never PROT_EXEC" },
	{ SCMP_SYS(munmap), ALLOW, 0, { { 0 } }, 0, "free of large blocks" },
	{ SCMP_SYS(mremap), ALLOW, 0, { { 0 } }, 0, "realloc of large blocks" },
	{ SCMP_SYS(madvise), ALLOW, 0, { { 0 } }, 0,
	    "free() returning memory to the kernel" },
	{ SCMP_SYS(futex), ALLOW, 0, { { 0 } }, 0, "libc locks" },
	{ SCMP_SYS(getrandom), ALLOW, 0, { { 0 } }, 0,
	    "libsodium's randombytes, json-c's hash seed" },
	/* Leaving, and dying loudly. */
	{ SCMP_SYS(exit_group), ALLOW, 0, { { 0 } }, 0, "exit" },
	{ SCMP_SYS(exit), ALLOW, 0, { { 0 } }, 0, "exit" },
	{ SCMP_SYS(rt_sigreturn), ALLOW, 0, { { 0 } }, 0,
	    "return from a signal handler" },
	{ SCMP_SYS(rt_sigprocmask), ALLOW, 0, { { 0 } }, 0, "abort()" },
	{ SCMP_SYS(getpid), ALLOW, 0, { { 0 } }, 0, "abort() -> raise()" },
	{ SCMP_SYS(gettid), ALLOW, 0, { { 0 } }, 0, "abort() -> raise()" },
	{ SCMP_SYS(tgkill), ALLOW, 1, { SB_ARG(0, SCMP_CMP_EQ, 0, 0) },
	    SB_ARG0_SELF_PID, "abort() signals itself, and only itself" },
	{ SCMP_SYS(restart_syscall), ALLOW, 0, { { 0 } }, 0,
	    "resume a call interrupted by a stop" },
	{ SCMP_SYS(clock_gettime), ALLOW, 0, { { 0 } }, 0,
	    "time, when the vDSO falls back to the syscall" },
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
	/* No filesystem access and no TCP at all yet; signals and abstract
	 * sockets confined to its own domain. */
	.landlock = true,
	.landlock_net = true,
	.landlock_read_files = NULL,
};
