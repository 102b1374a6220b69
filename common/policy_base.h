/*
 * The seccomp entries every kill-by-default child needs, whatever its
 * role: its control socket, its log, memory that never becomes
 * executable, libc's locks and randomness, and a way to exit or abort.
 * A role's policy.c lists these first and then its own.
 *
 * fds, pids, ioctl requests, fcntl commands, socket families and open
 * flags are int or unsigned int in the kernel: SB_ARG32, compared on the
 * low 32 bits the kernel reads (sandbox.h).
 */
#ifndef SEPWORKER_POLICY_BASE_H
#define SEPWORKER_POLICY_BASE_H

#include <sys/mman.h>

#include "common/child.h"
#include "common/sandbox.h"

#define CHILD_BASE_SYSCALLS						\
	/* Requests and answers on the control socket. */		\
	{ SCMP_SYS(recvmsg), SCMP_ACT_ALLOW, 1,				\
	    { SB_ARG32(0, SCMP_CMP_EQ, CHILD_CONTROL_FD, 0) },		\
	    0, "read requests from fd 3" },				\
	{ SCMP_SYS(sendmsg), SCMP_ACT_ALLOW, 1,				\
	    { SB_ARG32(0, SCMP_CMP_EQ, CHILD_CONTROL_FD, 0) },		\
	    0, "answer on fd 3" },					\
	/* Logging. */							\
	{ SCMP_SYS(write), SCMP_ACT_ALLOW, 1,				\
	    { SB_ARG32(0, SCMP_CMP_EQ, CHILD_LOG_FD, 0) },		\
	    0, "log records to fd 4" },					\
	{ SCMP_SYS(write), SCMP_ACT_ALLOW, 1,				\
	    { SB_ARG32(0, SCMP_CMP_EQ, 2, 0) }, 0,			\
	    "libc's last words (fortify, abort) go to stderr, the log pipe" }, \
	{ SCMP_SYS(close), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,		\
	    "close fds received with a request" },			\
	/* Memory: the allocator and libsodium's guarded pages; nothing	\
	 * may become executable.  prot is an unsigned long to both	\
	 * calls: all 64 bits are the kernel's. */			\
	{ SCMP_SYS(brk), SCMP_ACT_ALLOW, 0, { { 0 } }, 0, "malloc" },	\
	{ SCMP_SYS(mmap), SCMP_ACT_ALLOW, 1,				\
	    { SB_ARG64(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0) },		\
	    0, "malloc of large blocks; never PROT_EXEC" },		\
	{ SCMP_SYS(mprotect), SCMP_ACT_ALLOW, 1,				\
	    { SB_ARG64(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0) },		\
	    0, "sodium_mprotect_*() on secrets; never PROT_EXEC" },	\
	{ SCMP_SYS(munmap), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,		\
	    "free of large blocks" },					\
	{ SCMP_SYS(mremap), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,		\
	    "realloc of large blocks" },				\
	{ SCMP_SYS(madvise), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,		\
	    "free() returning memory to the kernel" },			\
	{ SCMP_SYS(futex), SCMP_ACT_ALLOW, 0, { { 0 } }, 0, "libc locks" }, \
	{ SCMP_SYS(getrandom), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,		\
	    "libsodium's randombytes, json-c's hash seed" },		\
	/* Leaving, and dying loudly. */				\
	{ SCMP_SYS(exit_group), SCMP_ACT_ALLOW, 0, { { 0 } }, 0, "exit" }, \
	{ SCMP_SYS(exit), SCMP_ACT_ALLOW, 0, { { 0 } }, 0, "exit" },	\
	{ SCMP_SYS(rt_sigreturn), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,	\
	    "return from a signal handler" },				\
	{ SCMP_SYS(rt_sigprocmask), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,	\
	    "abort()" },						\
	{ SCMP_SYS(getpid), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,		\
	    "abort() -> raise()" },					\
	{ SCMP_SYS(gettid), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,		\
	    "abort() -> raise()" },					\
	{ SCMP_SYS(tgkill), SCMP_ACT_ALLOW, 1,				\
	    { SB_ARG32(0, SCMP_CMP_EQ, 0, 0) }, SB_ARG0_SELF_PID,	\
	    "abort() signals itself, and only itself" },		\
	{ SCMP_SYS(restart_syscall), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,	\
	    "resume a call interrupted by a stop" },			\
	{ SCMP_SYS(clock_gettime), SCMP_ACT_ALLOW, 0, { { 0 } }, 0,	\
	    "time, when the vDSO falls back to the syscall" }

#endif
