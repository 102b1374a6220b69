/*
 * try_syscall NAME [ARGS]: make one system call a task's sandbox must
 * refuse, with arguments that would do no harm if it were allowed, and
 * print exactly "NAME: ok" or "NAME: <errno name>" (e.g. "ptrace: EPERM").
 * Exits 0 either way, so the task's log shows the answer; 2 on misuse.
 *
 * Where arguments allow it, an unprivileged caller outside the sandbox
 * gets another answer than EPERM (bpf: an unknown command, EINVAL; setns:
 * our own namespace, EINVAL; userfaultfd: user-mode faults only, ok), so
 * that EPERM inside can only be the seccomp filter's; the sandbox suite
 * runs them outside to show it.  mount, umount2 and unshare(CLONE_NEWNS)
 * need privilege whatever their arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* A command number bpf(2) does not have: unsandboxed, EINVAL. */
#define BPF_NO_SUCH_COMMAND	0x7fff

/* The pid in ARGS[0], or ours when there is none. */
static pid_t
pid_arg(int argc, char **argv)
{
	return argc > 0 ? (pid_t)atoi(argv[0]) : getpid();
}

/* A successful call returned a new fd or process: close or reap it. */
static long
close_fd(long fd)
{
	if (fd >= 0)
		close((int)fd);
	return fd;
}

static long
reap_child(long pid)
{
	if (pid == 0)
		_exit(0);	/* the child does nothing */
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

/* PTRACE_ATTACH to PID (detached again at once), or PTRACE_TRACEME: our
 * parent would trace us, and we exit without exec'ing anything. */
static long
try_ptrace(int argc, char **argv)
{
	pid_t pid;

	if (argc == 0)
		return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	pid = pid_arg(argc, argv);
	if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) == -1)
		return -1;
	waitpid(pid, NULL, __WALL);
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	return 0;
}

/* A one-entry ring, closed unused. */
static long
try_io_uring_setup(int argc, char **argv)
{
	struct io_uring_params p;

	(void)argc;
	(void)argv;
	memset(&p, 0, sizeof(p));
	return close_fd(syscall(SYS_io_uring_setup, 1, &p));
}

/* A small tmpfs over DIR (default: the task's own directory, the working
 * directory), detached again at once. */
static long
try_mount(int argc, char **argv)
{
	const char *dir = argc > 0 ? argv[0] : ".";

	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "size=4k") == -1)
		return -1;
	umount2(dir, MNT_DETACH);
	return 0;
}

/* Detach DIR (default /dev/shm, under which lies an empty directory of
 * the task's own /dev): only the task's private mount namespace changes. */
static long
try_umount2(int argc, char **argv)
{
	return umount2(argc > 0 ? argv[0] : "/dev/shm", MNT_DETACH);
}

/* New namespaces for this short-lived process alone. */
static long
try_unshare_user(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return unshare(CLONE_NEWUSER);
}

static long
try_unshare_mnt(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return unshare(CLONE_NEWNS);
}

/* A child in a new user namespace, which exits at once.  Raw clone(2):
 * glibc's wrapper wants a stack of its own. */
static long
try_clone_newuser(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return reap_child(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL,
	    NULL, NULL, NULL));
}

/* clone3 with no flags: a plain fork whose child exits at once. */
static long
try_clone3(int argc, char **argv)
{
	struct clone_args args;

	(void)argc;
	(void)argv;
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	return reap_child(syscall(SYS_clone3, &args, sizeof(args)));
}

/* A command bpf(2) does not know: nothing is loaded or created. */
static long
try_bpf(int argc, char **argv)
{
	char attr[128];

	(void)argc;
	(void)argv;
	memset(attr, 0, sizeof(attr));
	return syscall(SYS_bpf, BPF_NO_SUCH_COMMAND, attr, sizeof(attr));
}

/* Look up the id of our user keyring, creating nothing. */
static long
try_keyctl(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID,
	    KEY_SPEC_USER_KEYRING, 0);
}

/* A disabled software counter of our own user-space time, closed unused. */
static long
try_perf_event_open(int argc, char **argv)
{
	struct perf_event_attr attr;

	(void)argc;
	(void)argv;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	return close_fd(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
}

/* User-mode-only faults, which vm.unprivileged_userfaultfd=0 allows;
 * closed unused. */
static long
try_userfaultfd(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return close_fd(syscall(SYS_userfaultfd, O_CLOEXEC |
	    UFFD_USER_MODE_ONLY));
}

/* Re-join the user namespace we are in: the kernel answers EINVAL. */
static long
try_setns(int argc, char **argv)
{
	int fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	long rc;

	(void)argc;
	(void)argv;
	if (fd == -1)
		return -1;
	rc = setns(fd, CLONE_NEWUSER);
	close(fd);
	return rc;
}

/* kill PID [SIG]: signal 0 (a mere check) unless told otherwise; the
 * tests point this only at processes they started to be killed. */
static long
try_kill(int argc, char **argv)
{
	if (argc == 0) {
		errno = EINVAL;
		return -1;
	}
	return kill(pid_arg(argc, argv), argc > 1 ? atoi(argv[1]) : 0);
}

/* One byte of PID's memory (default: our own), read into ours.  The
 * address is one of ours: in another process it may be unmapped, which
 * shows as EFAULT, i.e. the permission check was passed. */
static long
try_process_vm_readv(int argc, char **argv)
{
	static char from = 'x';
	char to;
	struct iovec local = { &to, 1 }, remote = { &from, 1 };

	return process_vm_readv(pid_arg(argc, argv), &local, 1, &remote, 1,
	    0);
}

/* open PATH read-only; non-blocking, so a FIFO cannot hang us. */
static long
try_open(int argc, char **argv)
{
	if (argc == 0) {
		errno = EINVAL;
		return -1;
	}
	return close_fd(open(argv[0], O_RDONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC));
}

/*
 * TIOCSTI, the request number REQ, on a new pty that a child makes its
 * controlling terminal (as the kernel wants of an unprivileged caller):
 * the byte is typed into a terminal nobody reads.  Raw syscall(), so the
 * high half of REQ reaches the filter.
 */
static long
tiocsti_on_new_pty(unsigned long req)
{
	char *name;
	int m, status;
	pid_t pid;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m == -1 || grantpt(m) == -1 || unlockpt(m) == -1 ||
	    (name = ptsname(m)) == NULL)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		char c = '\n';
		int s;

		if (setsid() == -1 || (s = open(name, O_RDWR)) == -1)
			_exit(errno);
		_exit(syscall(SYS_ioctl, s, req, &c) == -1 ? errno : 0);
	}
	close(m);
	if (waitpid(pid, &status, 0) == -1)
		return -1;
	errno = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
	return errno == 0 ? 0 : -1;
}

static long
try_tiocsti(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return tiocsti_on_new_pty(TIOCSTI);
}

/* The same request with bits set above the 32 the kernel reads. */
static long
try_tiocsti_high(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return tiocsti_on_new_pty(TIOCSTI | 1UL << 32);
}

/* A pidfd for PID, closed unused. */
static long
try_pidfd_open(int argc, char **argv)
{
	return close_fd(syscall(SYS_pidfd_open, pid_arg(argc, argv), 0));
}

static const struct probe {
	const char	*name;
	long		(*call)(int, char **);
	const char	*args;
} probes[] = {
	{ "ptrace", try_ptrace, "[PID]" },
	{ "io_uring_setup", try_io_uring_setup, "" },
	{ "mount", try_mount, "[DIR]" },
	{ "umount2", try_umount2, "[DIR]" },
	{ "unshare_user", try_unshare_user, "" },
	{ "unshare_mnt", try_unshare_mnt, "" },
	{ "clone_newuser", try_clone_newuser, "" },
	{ "clone3", try_clone3, "" },
	{ "bpf", try_bpf, "" },
	{ "keyctl", try_keyctl, "" },
	{ "perf_event_open", try_perf_event_open, "" },
	{ "userfaultfd", try_userfaultfd, "" },
	{ "setns", try_setns, "" },
	{ "kill", try_kill, "PID [SIG]" },
	{ "process_vm_readv", try_process_vm_readv, "[PID]" },
	{ "open", try_open, "PATH" },
	{ "pidfd_open", try_pidfd_open, "[PID]" },
	{ "tiocsti", try_tiocsti, "" },
	{ "tiocsti_high", try_tiocsti_high, "" },
};

#ifdef SEPWORKER_RELAXED_SANDBOX
/*
 * In a sanitizer build this runs inside tasks, where LeakSanitizer cannot
 * stop the process with ptrace at exit (the sandbox refuses it, as it
 * should): leak checking off, as for the children (README, "Sanitizer
 * builds"); every other check stays on.
 */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

int
main(int argc, char **argv)
{
	size_t i;

	for (i = 0; argc > 1 && i < sizeof(probes) / sizeof(probes[0]); i++) {
		if (strcmp(argv[1], probes[i].name) != 0)
			continue;
		errno = 0;
		if (probes[i].call(argc - 2, argv + 2) == -1)
			printf("%s: %s\n", argv[1], strerrorname_np(errno) ?
			    strerrorname_np(errno) : "unknown errno");
		else
			printf("%s: ok\n", argv[1]);
		return 0;
	}
	fprintf(stderr, "usage: try_syscall NAME [ARGS]; NAME is one of:\n");
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		fprintf(stderr, "  %s %s\n", probes[i].name, probes[i].args);
	return 2;
}
