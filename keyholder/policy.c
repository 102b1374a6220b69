/*
 * The keyholder's sandbox.  After start-up it only receives requests on
 * fd 3, reads sealed memfds, answers, and logs to fd 4: no files, no
 * network, no new processes, no exec.  Anything not listed kills it.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "common/child.h"
#include "common/util.h"
#include "keyholder/keyholder.h"

#define ALLOW	SCMP_ACT_ALLOW

static const struct sandbox_syscall keyholder_syscalls[] = {
	/* Requests and answers on the control socket. */
	{ SCMP_SYS(recvmsg), ALLOW, 1,
	    { SB_ARG(0, SCMP_CMP_EQ, CHILD_CONTROL_FD, 0) },
	    0, "read requests from fd 3" },
	{ SCMP_SYS(sendmsg), ALLOW, 1,
	    { SB_ARG(0, SCMP_CMP_EQ, CHILD_CONTROL_FD, 0) },
	    0, "answer on fd 3" },
	/* Logging. */
	{ SCMP_SYS(write), ALLOW, 1,
	    { SB_ARG(0, SCMP_CMP_EQ, CHILD_LOG_FD, 0) },
	    0, "log records to fd 4" },
	{ SCMP_SYS(write), ALLOW, 1, { SB_ARG(0, SCMP_CMP_EQ, 2, 0) },
	    0, "libc's last words (fortify, abort) go to stderr, the log pipe" },
	/* Documents arrive as sealed memfds. */
	{ SCMP_SYS(fcntl), ALLOW, 1,
	    { SB_ARG(1, SCMP_CMP_EQ, F_GET_SEALS, 0) },
	    0, "check a memfd's seals" },
	{ SCMP_SYS(fstat), ALLOW, 0, { { 0 } }, 0,
	    "size of a memfd (by fd only: no path is ever looked up)" },
	{ SCMP_SYS(pread64), ALLOW, 0, { { 0 } }, 0,
	    "read a memfd without its shared file offset" },
	{ SCMP_SYS(close), ALLOW, 0, { { 0 } }, 0, "close a memfd after use" },
	/* Memory: the allocator, and libsodium's guarded pages.  Nothing may
	 * become executable. */
	{ SCMP_SYS(brk), ALLOW, 0, { { 0 } }, 0, "malloc" },
	{ SCMP_SYS(mmap), ALLOW, 1,
	    { SB_ARG(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0) },
	    0, "malloc of large blocks; never PROT_EXEC" },
	{ SCMP_SYS(mprotect), ALLOW, 1,
	    { SB_ARG(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0) },
	    0, "sodium_mprotect_noaccess/readonly on the key; never PROT_EXEC" },
	{ SCMP_SYS(munmap), ALLOW, 0, { { 0 } }, 0, "free of large blocks" },
	{ SCMP_SYS(mremap), ALLOW, 0, { { 0 } }, 0, "realloc of large blocks" },
	{ SCMP_SYS(madvise), ALLOW, 0, { { 0 } }, 0,
	    "free() returning memory to the kernel" },
	{ SCMP_SYS(futex), ALLOW, 0, { { 0 } }, 0, "libc locks" },
	{ SCMP_SYS(getrandom), ALLOW, 0, { { 0 } }, 0,
	    "libsodium's randombytes" },
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
