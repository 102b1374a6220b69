/*
 * The sandbox toolkit: how a child locks itself down before it reads its
 * first request.  Each role describes its sandbox as data (a struct
 * sandbox_policy in its own policy.c); sandbox_enter() applies it in the
 * one order that works, and the tests apply the very same tables.
 *
 * Order, and why:
 *   0. sandbox_early(), first thing in main: PR_SET_DUMPABLE=0 and
 *      RLIMIT_CORE=0, before any secret is read (dumpable resets to 1 on
 *      every execve).
 *   1. As root: drop the capability bounding set and lock the securebits
 *      (both need CAP_SETPCAP, which the uid change takes away), then
 *      setgroups/setresgid/setresuid to the role's numeric ids.  With
 *      SECBIT_NO_SETUID_FIXUP off and locked, leaving uid 0 clears the
 *      permitted and effective sets; capset then clears the inheritable
 *      set, which a uid change does not touch.
 *   2. The uid change cleared PR_SET_PDEATHSIG: re-arm it and re-check
 *      getppid(), so no child outlives a supervisor that died meanwhile.
 *   3. rlimits.
 *   4. no_new_privs: required by Landlock and by seccomp without
 *      CAP_SYS_ADMIN, and keeps execve from granting anything.
 *   5. Landlock, where the role has one.
 *   6. seccomp last, so the filter need not allow any of the above.
 */
#ifndef SEPWORKER_SANDBOX_H
#define SEPWORKER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <seccomp.h>

/*
 * A sanitizer build cannot live under a kill-by-default filter (ASan and
 * LSan make syscalls of their own at exit) or a low address-space limit:
 * `make san` defines SEPWORKER_RELAXED_SANDBOX, and the children then use
 * SCMP_ACT_LOG as their default action and skip RLIMIT_AS.  See README,
 * "Sanitizer builds".
 */
#ifdef SEPWORKER_RELAXED_SANDBOX
#define SANDBOX_RELAXED_BUILD	true
#else
#define SANDBOX_RELAXED_BUILD	false
#endif

/* flags of struct sandbox_syscall */
#define SB_ARG0_SELF_PID	0x1	/* arg 0 compared with getpid() */
#define SB_DEBUG_NS		0x2	/* dropped where the worker lets tasks
					   debug and make namespaces */

/*
 * One comparison of a rule.  The kernel reads many arguments as int or
 * unsigned int (fds, ioctl requests, socket families) and ignores the
 * upper half of the 64-bit register; a filter comparing all 64 bits is
 * then bypassed by setting bits the kernel never sees (TIOCSTI | 1 << 32
 * is still TIOCSTI).  So every comparison names the width of the
 * argument as the kernel's SYSCALL_DEFINE declares it, and
 * sandbox_seccomp() compares a 32-bit one on its low 32 bits only.
 * Tests check each width against the kernel's types.
 */
struct sandbox_arg {
	unsigned		 arg;	/* argument number, from 0 */
	unsigned		 bits;	/* 32 or 64, the kernel's type */
	enum scmp_compare	 op;	/* EQ or MASKED_EQ for 32 bits */
	scmp_datum_t		 a;	/* value, or mask for MASKED_EQ */
	scmp_datum_t		 b;	/* value for MASKED_EQ */
};

struct sandbox_syscall {
	int			 nr;		/* SCMP_SYS(name) */
	uint32_t		 action;	/* SCMP_ACT_* */
	unsigned		 argc;		/* comparisons, all must hold */
	struct sandbox_arg	 arg[2];
	uint32_t		 flags;
	const char		*why;
};

/* An int, unsigned int or pid_t argument, and an unsigned long one. */
#define SB_ARG32(n, cmp, va, vb)	{ .arg = (n), .bits = 32, .op = (cmp), \
					  .a = (va), .b = (vb) }
#define SB_ARG64(n, cmp, va, vb)	{ .arg = (n), .bits = 64, .op = (cmp), \
					  .a = (va), .b = (vb) }

struct sandbox_rlimit {
	int		 resource;
	rlim_t		 soft;
	rlim_t		 hard;
	bool		 soft_only;	/* leave the hard limit alone */
	const char	*why;
};

struct sandbox_policy {
	const char			*role;
	uint32_t			 default_action;
	const struct sandbox_syscall	*syscalls;
	size_t				 nsyscalls;
	const struct sandbox_rlimit	*rlimits;
	size_t				 nrlimits;
	bool				 landlock;	/* enter a domain */
	bool				 landlock_net;	/* TCP rules too */
	/* With landlock_net: handle only binding, so TCP connects to any
	 * port stay allowed (a proxy's upstreams) and no bind is. */
	bool				 landlock_connect_any;
	const char *const		*landlock_read_files; /* NULL-ended */
	/* Above 0: an open directory fd beneath which files may be made,
	 * written and read (a private spool), nothing else. */
	int				 landlock_rw_dir_fd;
};

struct sandbox_params {
	uid_t		 uid;		/* role ids, used when started as root */
	gid_t		 gid;
	pid_t		 parent;	/* expected parent, 0 to skip the check */
	bool		 relaxed;	/* SANDBOX_RELAXED_BUILD in children */
	uint32_t	 skip_flags;	/* leave out entries with these flags */
	const uint16_t	*connect_ports;	/* Landlock: TCP connect allowed to */
	size_t		 nconnect_ports;
};

/* What sandbox_enter() achieved, for the child's first log line. */
struct sandbox_report {
	bool		uid_dropped;
	int		landlock_abi;	/* 0: no domain entered */
	size_t		nrules;
};

/*
 * core_hard: also set the hard core limit to 0.  The taskrunner passes
 * false: its limits are inherited by every task, and a task may want core
 * dumps of its own programs (the taskrunner itself is non-dumpable anyway).
 */
void	sandbox_early(bool core_hard);
void	sandbox_enter(const struct sandbox_policy *p,
	    const struct sandbox_params *params, struct sandbox_report *rep);

/* Pieces of sandbox_enter(), exposed for tests. */
int	sandbox_landlock_abi(void);
void	sandbox_drop_privileges(uid_t uid, gid_t gid);
void	sandbox_check_parent(pid_t parent);
void	sandbox_seccomp(const struct sandbox_policy *p, bool relaxed,
	    uint32_t skip_flags);
const char *sandbox_arg_cmp(const struct sandbox_arg *in,
	    struct scmp_arg_cmp *out);

#endif
