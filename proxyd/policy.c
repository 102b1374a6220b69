/*
 * proxyd's two sandboxes.  Anything not listed kills the process.
 *
 * proxyd (long-lived) serves its control channel, holds credentials and
 * writes them to one socket at a time: the task proxy end it was handed,
 * moved to fd PROXYD_FEED_FD so the filter can name it, and reads the
 * task's scopes from the sealed memfd it is handed.  No network, no
 * files.
 *
 * proxyd in worker mode (--worker) also makes the worker's own Queue
 * calls with libcurl: it resolves the root URL's host and connects to it,
 * and hands each claim's task definition up in a sealed memfd it makes.
 * Landlock lets it connect over TCP to two ports only, the root URL's and
 * 53 (DNS over TCP), and bind none; files as the task proxy: the
 * resolver's configuration, read-only.  It listens on nothing, accepts
 * nothing and starts nothing but threads (libcurl's resolver).
 *
 * taskproxy (one per task) speaks HTTP both ways: it accepts the task's
 * connections on its listener, resolves and connects to upstream hosts,
 * and runs threads (the serving loop, libcurl's resolver).  The
 * filter is installed before any thread starts, so every thread has it.
 * Files: Landlock lets it read the resolver's configuration and nothing
 * else; an open for writing is answered EACCES here.  Libraries that open
 * files lazily (OpenSSL's configuration, time zones) get EACCES from
 * Landlock rather than death, as OpenSSH's sandbox answers them.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "common/chan_taskproxy.h"
#include "common/policy_base.h"
#include "common/util.h"
#include "proxyd/proxyd.h"
#include "proxyd/limits.h"
#include "taskrunner/payload.h"

#define NOARGS		0, { { 0 } }, 0
/* Credentials arrive after lockdown, into sodium_malloc'd memory. */
#define SECMEM_SYSCALLS							\
	{ SCMP_SYS(mlock), SCMP_ACT_ALLOW, NOARGS,			\
	    "sodium_malloc: credentials never swapped" },		\
	{ SCMP_SYS(munlock), SCMP_ACT_ALLOW, NOARGS, "sodium_free" }
#define ARG0_IS(v)	1, { SB_ARG32(0, SCMP_CMP_EQ, (v), 0) }, 0
#define ALLOW		SCMP_ACT_ALLOW

static const struct sandbox_syscall proxyd_syscalls[] = {
	CHILD_BASE_SYSCALLS,
	{ SCMP_SYS(dup3), ALLOW, 1,
	    { SB_ARG32(1, SCMP_CMP_EQ, PROXYD_FEED_FD, 0) }, 0,
	    "move a task proxy's channel to its fixed fd" },
	{ SCMP_SYS(sendmsg), ALLOW, ARG0_IS(PROXYD_FEED_FD),
	    "send a task proxy its credentials" },
	{ SCMP_SYS(recvmsg), ALLOW, ARG0_IS(PROXYD_FEED_FD),
	    "the task proxy's answer" },
	{ SCMP_SYS(poll), ALLOW, NOARGS,
	    "wait for that answer, with a time limit" },
	/* A task's scopes arrive in a sealed memfd (TASK_GRANT). */
	{ SCMP_SYS(fcntl), ALLOW, 1,
	    { SB_ARG32(1, SCMP_CMP_EQ, F_GET_SEALS, 0) }, 0,
	    "check that the scopes' memfd is sealed" },
	{ SCMP_SYS(fstat), ALLOW, NOARGS, "the scopes' size" },
	{ SCMP_SYS(pread64), ALLOW, NOARGS, "read the scopes" },
	SECMEM_SYSCALLS,
};

static const struct sandbox_rlimit proxyd_rlimits[] = {
	{ RLIMIT_NOFILE, 32, 32, false, "control fds and one task channel" },
	{ RLIMIT_FSIZE, 0, 0, false, "writes no files; logs go to a pipe" },
	{ RLIMIT_NPROC, 0, 0, false, "starts nothing" },
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

#define WRITE_FLAGS	(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)
#define OPEN_REFUSED_WITH(flag)						\
	{ SCMP_SYS(openat), SCMP_ACT_ERRNO(EACCES), 1,			\
	    { SB_ARG32(2, SCMP_CMP_MASKED_EQ, (flag), (flag)) }, 0,	\
	    "opening for writing (" #flag ")" }
/* Opening the resolver's files for reading (Landlock says which); for
 * writing: refused, not fatal.  One rule per flag: an unconditional rule
 * would shadow the conditional allow.  O_RDWR's refusal is each policy's
 * own (the spool's differs, below). */
#define RESOLVER_FILE_SYSCALLS						\
	{ SCMP_SYS(openat), ALLOW, 1,					\
	    { SB_ARG32(2, SCMP_CMP_MASKED_EQ, WRITE_FLAGS, 0) }, 0,	\
	    "read the resolver's files (Landlock says which)" },	\
	OPEN_REFUSED_WITH(O_WRONLY),					\
	OPEN_REFUSED_WITH(O_CREAT),					\
	OPEN_REFUSED_WITH(O_TRUNC),					\
	OPEN_REFUSED_WITH(O_APPEND),					\
	{ SCMP_SYS(read), ALLOW, NOARGS, "sockets, the resolver's files" }, \
	{ SCMP_SYS(lseek), ALLOW, NOARGS,				\
	    "stdio on the resolver's files" },				\
	{ SCMP_SYS(newfstatat), ALLOW, NOARGS,				\
	    "the resolver checks whether its files changed" },		\
	{ SCMP_SYS(fstat), ALLOW, NOARGS, "stdio, a memfd's size" },	\
	{ SCMP_SYS(statx), ALLOW, NOARGS, "the same, newer libc paths" }
/* Resolving names and speaking HTTP as a client. */
#define CLIENT_SOCKET_SYSCALLS						\
	{ SCMP_SYS(socket), ALLOW, ARG0_IS(AF_INET), "upstream, DNS" },	\
	{ SCMP_SYS(socket), ALLOW, ARG0_IS(AF_INET6), "upstream, DNS" }, \
	{ SCMP_SYS(socket), ALLOW, 2, {					\
	    SB_ARG32(0, SCMP_CMP_EQ, AF_NETLINK, 0),			\
	    SB_ARG32(2, SCMP_CMP_EQ, NETLINK_ROUTE, 0) }, 0,		\
	    "getaddrinfo's AI_ADDRCONFIG asks which addresses exist" },	\
	{ SCMP_SYS(socket), SCMP_ACT_ERRNO(EACCES), ARG0_IS(AF_UNIX),	\
	    "glibc tries nscd; there is none to talk to" },		\
	{ SCMP_SYS(socketpair), ALLOW, ARG0_IS(AF_UNIX),		\
	    "libcurl's wake-up pair" },					\
	{ SCMP_SYS(connect), ALLOW, NOARGS, "upstream and DNS servers" }, \
	{ SCMP_SYS(bind), ALLOW, NOARGS,				\
	    "a netlink socket's address; Landlock refuses TCP binds" },	\
	{ SCMP_SYS(getsockname), ALLOW, NOARGS, "socket addresses" },	\
	{ SCMP_SYS(getpeername), ALLOW, NOARGS, "socket addresses" },	\
	{ SCMP_SYS(getsockopt), ALLOW, NOARGS, "connect results, options" }, \
	{ SCMP_SYS(setsockopt), ALLOW, NOARGS, "TCP_NODELAY, keepalive" }, \
	{ SCMP_SYS(sendto), ALLOW, NOARGS, "HTTP, DNS, netlink" },	\
	{ SCMP_SYS(recvfrom), ALLOW, NOARGS, "HTTP, DNS, netlink" },	\
	{ SCMP_SYS(sendmsg), ALLOW, NOARGS, "HTTP, DNS, channels" },	\
	{ SCMP_SYS(recvmsg), ALLOW, NOARGS, "HTTP, DNS, channels" },	\
	{ SCMP_SYS(sendmmsg), ALLOW, NOARGS,				\
	    "the resolver's A+AAAA pair" },				\
	{ SCMP_SYS(ioctl), ALLOW, 1,					\
	    { SB_ARG32(1, SCMP_CMP_EQ, FIONREAD, 0) }, 0,		\
	    "bytes waiting on a socket" },				\
	{ SCMP_SYS(ioctl), ALLOW, 1,					\
	    { SB_ARG32(1, SCMP_CMP_EQ, FIONBIO, 0) }, 0,		\
	    "non-blocking sockets" }
/*
 * Threads: clone for threads only.  clone3's flags sit in memory the
 * filter cannot read, so glibc is told it does not exist and falls back
 * to clone.  clone's flags are an unsigned long, of which the kernel
 * keeps the low 32 bits (kernel_clone_args).
 */
#define THREAD_SYSCALLS							\
	{ SCMP_SYS(clone), ALLOW, 1,					\
	    { SB_ARG32(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD) }, \
	    0, "threads: the serving loop, libcurl's resolver" },	\
	{ SCMP_SYS(clone3), SCMP_ACT_ERRNO(ENOSYS), NOARGS,		\
	    "no clone3: glibc falls back to clone" },			\
	{ SCMP_SYS(set_robust_list), ALLOW, NOARGS, "new threads" },	\
	{ SCMP_SYS(rseq), ALLOW, NOARGS, "new threads" },		\
	{ SCMP_SYS(rt_sigaction), ALLOW, ARG0_IS(SIGPIPE),		\
	    "libcurl saves and restores SIGPIPE's disposition around a " \
	    "connection it closes (already ignored here)" }

/* The task proxy's, with or without a spool. */
#define TASKPROXY_SYSCALLS						\
	CHILD_BASE_SYSCALLS,						\
	/* Sockets: TCP both ways, the resolver's UDP, netlink for	\
	 * getaddrinfo's address check and for peer lookups. */		\
	CLIENT_SOCKET_SYSCALLS,						\
	{ SCMP_SYS(accept4), ALLOW, ARG0_IS(TASKPROXY_LISTEN_FD),	\
	    "the task's connections, on the listener we were handed" },	\
	{ SCMP_SYS(shutdown), ALLOW, NOARGS, "closing connections" },	\
	/* Waiting. */							\
	{ SCMP_SYS(poll), ALLOW, NOARGS, "event loops" },		\
	{ SCMP_SYS(ppoll), ALLOW, NOARGS, "event loops" },		\
	{ SCMP_SYS(epoll_create1), ALLOW, NOARGS, "event loops" },	\
	{ SCMP_SYS(epoll_ctl), ALLOW, NOARGS, "event loops" },		\
	{ SCMP_SYS(epoll_wait), ALLOW, NOARGS, "event loops" },		\
	{ SCMP_SYS(epoll_pwait), ALLOW, NOARGS, "event loops" },	\
	{ SCMP_SYS(pipe2), ALLOW, NOARGS, "wake-ups" },			\
	{ SCMP_SYS(nanosleep), ALLOW, NOARGS, "backoff between attempts" }, \
	{ SCMP_SYS(clock_nanosleep), ALLOW, NOARGS, "backoff" },	\
	{ SCMP_SYS(sched_yield), ALLOW, NOARGS, "locks" },		\
	/* I/O on the fds it has. */					\
	RESOLVER_FILE_SYSCALLS,						\
	{ SCMP_SYS(write), ALLOW, NOARGS, "sockets, wake-ups" },	\
	{ SCMP_SYS(readv), ALLOW, NOARGS, "sockets" },			\
	{ SCMP_SYS(writev), ALLOW, NOARGS, "sockets" },			\
	{ SCMP_SYS(pread64), ALLOW, NOARGS, "reading a sealed memfd" },	\
	{ SCMP_SYS(fcntl), ALLOW, NOARGS, "non-blocking sockets, seals" }, \
	THREAD_SYSCALLS,						\
	{ SCMP_SYS(prctl), ALLOW, ARG0_IS(PR_SET_NAME),			\
	    "threads naming themselves" },				\
	{ SCMP_SYS(sched_getaffinity), ALLOW, NOARGS, "thread pools size" }, \
	{ SCMP_SYS(uname), ALLOW, NOARGS, "library version checks" },	\
	SECMEM_SYSCALLS

static const struct sandbox_syscall taskproxy_syscalls[] = {
	TASKPROXY_SYSCALLS,
	OPEN_REFUSED_WITH(O_RDWR),
};

static const char *const resolver_files[] = {
	"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
	"/etc/gai.conf", "/etc/host.conf", NULL,
};

static const struct sandbox_rlimit taskproxy_rlimits[] = {
	{ RLIMIT_NOFILE, TASKPROXY_NOFILE, TASKPROXY_NOFILE, false,
	    "listener, channels, the task's connections (--limits), "
	    "upstream connections (forward.c's cap)" },
	{ RLIMIT_FSIZE, 0, 0, false, "writes no files; logs go to a pipe" },
	{ RLIMIT_AS, 8ull << 30, 8ull << 30, false,
	    "it lives outside the task's cgroup: its connections' "
	    "buffers (request bodies within a 64 MiB budget), curl, "
	    "the reclaim and agent threads" },
};

const struct sandbox_policy taskproxy_policy = {
	.role = "taskproxy",
	.default_action = SCMP_ACT_KILL_PROCESS,
	.syscalls = taskproxy_syscalls,
	.nsyscalls = nitems(taskproxy_syscalls),
	.rlimits = taskproxy_rlimits,
	.nrlimits = nitems(taskproxy_rlimits),
	.landlock = true,
	.landlock_net = true,
	.landlock_connect_any = true,
	.landlock_read_files = resolver_files,
};

/*
 * With a spool (--spool-fd): unnamed files in that directory, made with
 * O_TMPFILE so nothing is ever named or left behind, and written as
 * large as an artifact compresses to.  Landlock grants making, writing
 * and reading files beneath the spool's fd and nowhere else.  The rule
 * allows exactly one fd and one set of flags.
 *
 * Rules for one syscall must not overlap (of two that match, libseccomp
 * lets the refusal win), so O_RDWR's refusal leaves O_TMPFILE out: an
 * O_RDWR O_TMPFILE open anywhere but the spool, or with other flags, is
 * the default action.  (__O_TMPFILE is O_TMPFILE without O_DIRECTORY.)
 */
#define SPOOL_OPEN	(O_TMPFILE | O_RDWR | O_CLOEXEC)

static const struct sandbox_syscall taskproxy_spool_syscalls[] = {
	TASKPROXY_SYSCALLS,
	{ SCMP_SYS(openat), ALLOW, 2, {
	    SB_ARG32(0, SCMP_CMP_EQ, TASKPROXY_SPOOL_FD, 0),
	    SB_ARG32(2, SCMP_CMP_EQ, SPOOL_OPEN, 0) }, 0,
	    "an unnamed file in the spool, to gzip an artifact into" },
	{ SCMP_SYS(openat), SCMP_ACT_ERRNO(EACCES), 1,
	    { SB_ARG32(2, SCMP_CMP_MASKED_EQ, O_RDWR | __O_TMPFILE, O_RDWR) },
	    0, "opening for writing (O_RDWR), but an unnamed file" },
};

static const struct sandbox_rlimit taskproxy_spool_rlimits[] = {
	{ RLIMIT_NOFILE, TASKPROXY_NOFILE, TASKPROXY_NOFILE, false,
	    "listener, channels, the task's connections (--limits), "
	    "upstream connections (forward.c's cap)" },
	{ RLIMIT_AS, 8ull << 30, 8ull << 30, false,
	    "it lives outside the task's cgroup: its connections' "
	    "buffers (request bodies within a 64 MiB budget), curl, "
	    "the reclaim and agent threads" },
};

const struct sandbox_policy taskproxy_spool_policy = {
	.role = "taskproxy",
	.default_action = SCMP_ACT_KILL_PROCESS,
	.syscalls = taskproxy_spool_syscalls,
	.nsyscalls = nitems(taskproxy_spool_syscalls),
	.rlimits = taskproxy_spool_rlimits,
	.nrlimits = nitems(taskproxy_spool_rlimits),
	.landlock = true,
	.landlock_net = true,
	.landlock_connect_any = true,
	.landlock_read_files = resolver_files,
	.landlock_rw_dir_fd = TASKPROXY_SPOOL_FD,
};

static const struct sandbox_syscall proxyd_worker_syscalls[] = {
	CHILD_BASE_SYSCALLS,
	/* As proxyd: feeding a task proxy its credentials. */
	{ SCMP_SYS(dup3), ALLOW, 1,
	    { SB_ARG32(1, SCMP_CMP_EQ, PROXYD_FEED_FD, 0) }, 0,
	    "move a task proxy's channel to its fixed fd" },
	SECMEM_SYSCALLS,
	/* The Queue's calls, over the channels' sendmsg and recvmsg. */
	CLIENT_SOCKET_SYSCALLS,
	RESOLVER_FILE_SYSCALLS,
	OPEN_REFUSED_WITH(O_RDWR),
	{ SCMP_SYS(write), ALLOW, NOARGS, "sockets, wake-ups" },
	{ SCMP_SYS(poll), ALLOW, NOARGS,
	    "libcurl's transfers, a task proxy's answer" },
	{ SCMP_SYS(nanosleep), ALLOW, NOARGS, "backoff between attempts" },
	{ SCMP_SYS(clock_nanosleep), ALLOW, NOARGS, "backoff" },
	{ SCMP_SYS(fcntl), ALLOW, NOARGS,
	    "non-blocking sockets; a memfd's seals, set and checked" },
	THREAD_SYSCALLS,
	/* A claim's task definition goes up in a sealed memfd. */
	{ SCMP_SYS(memfd_create), ALLOW, NOARGS, "the task definition" },
	{ SCMP_SYS(pwrite64), ALLOW, NOARGS, "writing it" },
};

static const struct sandbox_rlimit proxyd_worker_rlimits[] = {
	{ RLIMIT_NOFILE, 64, 64, false,
	    "control fds, a task channel, a transfer's sockets" },
	{ RLIMIT_FSIZE, PAYLOAD_MAX_BYTES, PAYLOAD_MAX_BYTES, false,
	    "writes no files; a memfd holding a task definition" },
	{ RLIMIT_AS, 2ull << 30, 2ull << 30, false,
	    "a claim's answer (16 MiB) parsed, libcurl, OpenSSL, threads" },
};

const struct sandbox_policy proxyd_worker_policy = {
	.role = "proxyd",
	.default_action = SCMP_ACT_KILL_PROCESS,
	.syscalls = proxyd_worker_syscalls,
	.nsyscalls = nitems(proxyd_worker_syscalls),
	.rlimits = proxyd_worker_rlimits,
	.nrlimits = nitems(proxyd_worker_rlimits),
	/* TCP connects to the ports the caller names (the root URL's and
	 * DNS's), no bind. */
	.landlock = true,
	.landlock_net = true,
	.landlock_read_files = resolver_files,
};
