/*
 * The taskrunner's sandbox.
 *
 * Its seccomp filter is a deny-list answering EPERM, never a
 * kill-by-default allow-list: filters are inherited by every process it
 * starts, so its filter binds every task, and a task runs compilers,
 * shells and test suites whose syscalls nobody can list in advance.  The
 * list is what no task needs and what would let one reach past its
 * sandbox (the kernel's debugging, key, module and clock interfaces,
 * io_uring, which bypasses seccomp for the calls it queues, and terminal
 * injection).  Namespace creation and the mount family stay allowed here:
 * building a task's sandbox needs them, and the task's init adds a second
 * filter forbidding them once its setup is done.
 *
 * No Landlock: a Landlock domain forbids mounting in every descendant,
 * and the task's init must mount /proc, /tmp and /dev.  The taskrunner's
 * file access is bounded by its own uid and its lack of capabilities.
 */
#include <errno.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "common/util.h"
#include "taskrunner/taskrunner.h"

#define DENY	SCMP_ACT_ERRNO(EPERM)
#define NOARGS	0, { { 0 } }, 0
/* Entries a worker may give up (sepworker.allowTaskPtraceAndNamespaces)
 * for pools whose tasks debug (rr, gdb) or sandbox themselves (browsers). */
#define DEBUG_NS	0, { { 0 } }, SB_DEBUG_NS

static const struct sandbox_syscall taskrunner_syscalls[] = {
	/* Reading or steering other processes. */
	{ SCMP_SYS(ptrace), DENY, DEBUG_NS, "debug or read another process" },
	{ SCMP_SYS(process_vm_readv), DENY, DEBUG_NS, "read another's memory" },
	{ SCMP_SYS(process_vm_writev), DENY, DEBUG_NS, "write another's memory" },
	{ SCMP_SYS(kcmp), DENY, NOARGS, "probe another process's kernel state" },
	{ SCMP_SYS(pidfd_getfd), DENY, NOARGS, "steal another process's fd" },
	/* Kernel attack surface no task needs. */
	{ SCMP_SYS(bpf), DENY, NOARGS, "load BPF programs" },
	{ SCMP_SYS(perf_event_open), DENY, DEBUG_NS, "side channels, kernel bugs" },
	{ SCMP_SYS(userfaultfd), DENY, NOARGS, "widen kernel race windows" },
	{ SCMP_SYS(io_uring_setup), DENY, NOARGS,
	    "io_uring runs calls that seccomp never sees" },
	{ SCMP_SYS(io_uring_enter), DENY, NOARGS, "io_uring" },
	{ SCMP_SYS(io_uring_register), DENY, NOARGS, "io_uring" },
	{ SCMP_SYS(keyctl), DENY, NOARGS, "kernel keyrings are not namespaced" },
	{ SCMP_SYS(add_key), DENY, NOARGS, "kernel keyrings" },
	{ SCMP_SYS(request_key), DENY, NOARGS, "kernel keyrings" },
	{ SCMP_SYS(open_by_handle_at), DENY, NOARGS,
	    "open files by handle, bypassing paths (the shocker escape)" },
	{ SCMP_SYS(name_to_handle_at), DENY, NOARGS, "the other half of it" },
	/* Host administration. */
	{ SCMP_SYS(kexec_load), DENY, NOARGS, "replace the kernel" },
	{ SCMP_SYS(kexec_file_load), DENY, NOARGS, "replace the kernel" },
	{ SCMP_SYS(init_module), DENY, NOARGS, "load kernel modules" },
	{ SCMP_SYS(finit_module), DENY, NOARGS, "load kernel modules" },
	{ SCMP_SYS(delete_module), DENY, NOARGS, "unload kernel modules" },
	{ SCMP_SYS(reboot), DENY, NOARGS, "reboot the host" },
	{ SCMP_SYS(swapon), DENY, NOARGS, "host swap" },
	{ SCMP_SYS(swapoff), DENY, NOARGS, "host swap" },
	{ SCMP_SYS(syslog), DENY, NOARGS, "read the kernel log" },
	{ SCMP_SYS(acct), DENY, NOARGS, "process accounting" },
	{ SCMP_SYS(quotactl), DENY, NOARGS, "disk quotas" },
	{ SCMP_SYS(iopl), DENY, NOARGS, "raw I/O ports" },
	{ SCMP_SYS(ioperm), DENY, NOARGS, "raw I/O ports" },
	{ SCMP_SYS(clock_settime), DENY, NOARGS, "the host's clock" },
	{ SCMP_SYS(clock_adjtime), DENY, NOARGS, "the host's clock" },
	{ SCMP_SYS(settimeofday), DENY, NOARGS, "the host's clock" },
	{ SCMP_SYS(adjtimex), DENY, NOARGS, "the host's clock" },
	/* Joining or making namespaces outside the sandbox builder's
	 * clone() calls. */
	{ SCMP_SYS(setns), DENY, DEBUG_NS, "enter another namespace" },
	{ SCMP_SYS(unshare), DENY, DEBUG_NS,
	    "new namespaces: the sandbox builder uses clone() flags instead" },
	/* Typing into a terminal another process reads.  The request is
	 * an unsigned int: TIOCSTI | 1 << 32 is TIOCSTI to the kernel, so
	 * the rule compares the low 32 bits only (CVE-2017-5226). */
	{ SCMP_SYS(ioctl), DENY, 1,
	    { SB_ARG32(1, SCMP_CMP_EQ, TIOCSTI, 0) }, 0,
	    "inject input into a terminal" },
	{ SCMP_SYS(ioctl), DENY, 1, { SB_ARG32(1, SCMP_CMP_EQ, TIOCLINUX, 0) },
	    0, "console selection tricks" },
};

static const struct sandbox_rlimit taskrunner_rlimits[] = {
	/* Nothing else: a hard limit lowered here would bind every task.
	 * The task's init sets the task limits. */
	{ RLIMIT_CORE, 0, 0, true, "no core files of the taskrunner" },
};

const struct sandbox_policy taskrunner_policy = {
	.role = "taskrunner",
	.default_action = SCMP_ACT_ALLOW,
	.syscalls = taskrunner_syscalls,
	.nsyscalls = nitems(taskrunner_syscalls),
	.rlimits = taskrunner_rlimits,
	.nrlimits = nitems(taskrunner_rlimits),
	.landlock = false,
};

/*
 * What the task's init forbids once its setup is done, on top of the
 * taskrunner's filter above (seccomp filters stack: a task process is
 * bound by both).  These are exactly what building the sandbox needed.
 * clone's flags are an unsigned long of which the kernel keeps the low
 * 32 bits (kernel_clone_args), so they are compared as 32 bits.
 */
#define NEWNS_DENY(flag, why)						\
	{ SCMP_SYS(clone), DENY, 1,					\
	    { SB_ARG32(0, SCMP_CMP_MASKED_EQ, (flag), (flag)) }, SB_DEBUG_NS, \
	    why }

static const struct sandbox_syscall task_setup_done_syscalls[] = {
	{ SCMP_SYS(mount), DENY, NOARGS, "change the task's mounts" },
	{ SCMP_SYS(umount2), DENY, NOARGS, "uncover what a mount hides" },
	{ SCMP_SYS(pivot_root), DENY, NOARGS, "change the root" },
	{ SCMP_SYS(fsopen), DENY, NOARGS, "the new mount API" },
	{ SCMP_SYS(fsconfig), DENY, NOARGS, "the new mount API" },
	{ SCMP_SYS(fsmount), DENY, NOARGS, "the new mount API" },
	{ SCMP_SYS(fspick), DENY, NOARGS, "the new mount API" },
	{ SCMP_SYS(move_mount), DENY, NOARGS, "the new mount API" },
	{ SCMP_SYS(open_tree), DENY, NOARGS, "the new mount API" },
	{ SCMP_SYS(mount_setattr), DENY, NOARGS, "make a mount writable" },
	NEWNS_DENY(CLONE_NEWUSER, "a user namespace brings capabilities back"),
	NEWNS_DENY(CLONE_NEWNS, "a mount namespace of its own"),
	NEWNS_DENY(CLONE_NEWPID, "hide processes from the init"),
	NEWNS_DENY(CLONE_NEWNET, "a network namespace of its own"),
	NEWNS_DENY(CLONE_NEWIPC, "an ipc namespace of its own"),
	NEWNS_DENY(CLONE_NEWUTS, "a uts namespace of its own"),
	NEWNS_DENY(CLONE_NEWCGROUP, "a cgroup namespace of its own"),
	/* clone3 passes its flags in memory, where a filter cannot look;
	 * ENOSYS makes glibc fall back to clone, which is checked above. */
	{ SCMP_SYS(clone3), SCMP_ACT_ERRNO(ENOSYS), DEBUG_NS,
	    "flags a filter cannot see" },
};

const struct sandbox_policy task_setup_done_policy = {
	.role = "task",
	.default_action = SCMP_ACT_ALLOW,
	.syscalls = task_setup_done_syscalls,
	.nsyscalls = nitems(task_setup_done_syscalls),
};
