/*
 * Each child's real sandbox policy, applied with the production
 * sandbox_enter() in a forked process: a forbidden syscall kills the
 * keyholder and proxyd (SIGSYS) and fails with EPERM in the taskrunner;
 * an allowed syscall with invalid arguments gets its ordinary errno.
 *
 * A confined body reports through its exit status: 100 + errno when the
 * call failed, SUCCEEDED when it worked.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "common/chan_taskproxy.h"
#include "common/child.h"
#include "common/sandbox.h"
#include "common/util.h"
#include "keyholder/keyholder.h"
#include "proxyd/proxyd.h"
#include "taskrunner/taskrunner.h"

#define SUCCEEDED	99
#define FAILED_WITH(e)	(100 + (e))

/* The default uids of the children (docs/config.md). */
#define KEYHOLDER_UID	64501
#define PROXYD_UID	64502
#define TASKRUNNER_UID	64503
#define TASKPROXY_UID	64504

/* Leave by the raw syscall: a sanitizer runtime's _exit() interceptor
 * would make calls of its own, which are not what is under test.  Not
 * marked noreturn either: ASan instruments calls to noreturn functions
 * with a sigaltstack() query. */
static void
leave(int status)
{
	for (;;)
		syscall(SYS_exit_group, status);
}

static void
report(long rc)
{
	leave(rc == -1 ? FAILED_WITH(errno) : SUCCEEDED);
}

static bool started_as_root;
/* The TCP ports Landlock lets the next confined body connect to. */
static const uint16_t *confined_ports;
static size_t nconfined_ports;

/* Fork, enter policy p as the given uid, run body; return wait status. */
static int
run_confined(const struct sandbox_policy *p, uid_t uid, void (*body)(void))
{
	int status;
	pid_t pid;

	started_as_root = geteuid() == 0;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sandbox_params prm = {
			.uid = uid, .gid = uid, .parent = getppid(),
			.connect_ports = confined_ports,
			.nconnect_ports = nconfined_ports,
		};
		struct sandbox_report rep;

		/* fd 4 is the log fd a confined child may write to; make sure
		 * it is not open here, so writing to it fails harmlessly. */
		close(CHILD_LOG_FD);
		sandbox_early(true);
		sandbox_enter(p, &prm, &rep);
		body();
		leave(SUCCEEDED);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void
expect_killed(const struct sandbox_policy *p, uid_t uid, void (*body)(void))
{
	int status = run_confined(p, uid, body);

	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		fail_msg("expected death by SIGSYS, got %s %d",
		    WIFSIGNALED(status) ? "signal" : "exit status",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status));
}

static void
expect_exit(const struct sandbox_policy *p, uid_t uid, void (*body)(void),
    int want)
{
	int status = run_confined(p, uid, body);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
		fail_msg("expected exit status %d, got %s %d", want,
		    WIFSIGNALED(status) ? "signal" : "exit status",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status));
}

/* --- bodies: one syscall each --- */

static void do_socket(void)
{ report(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0)); }
static void do_openat(void)
{ report(syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY)); }
static void do_clone(void)
{ report(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)); }
static void do_execve(void)
{
	char *argv[] = { "true", NULL };

	report(syscall(SYS_execve, "/bin/true", argv, argv + 1));
}
static void do_close_bad(void)
{ report(syscall(SYS_close, -1)); }
static void do_write_log_fd(void)
{ report(syscall(SYS_write, CHILD_LOG_FD, "x", 1)); }
static void do_write_other_fd(void)
{ report(syscall(SYS_write, 5, "x", 1)); }
static void do_mmap_exec(void)
{
	report(syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == (long)MAP_FAILED ? -1 : 0);
}
static void do_mprotect_exec(void)
{
	static char page[4096] __attribute__((aligned(4096)));

	report(syscall(SYS_mprotect, page, sizeof(page),
	    PROT_READ | PROT_EXEC));
}
static void do_ptrace_parent(void)
{ report(syscall(SYS_ptrace, PTRACE_ATTACH, getppid(), 0, 0)); }
static void do_io_uring_setup(void)
{
	struct io_uring_params prm;

	memset(&prm, 0, sizeof(prm));
	report(syscall(SYS_io_uring_setup, 1, &prm));
}
static void do_bpf(void)
{ report(syscall(SYS_bpf, 0, NULL, 0)); }
static void do_keyctl(void)
{ report(syscall(SYS_keyctl, 0, 0, 0, 0, 0)); }
static void do_unshare(void)
{ report(syscall(SYS_unshare, CLONE_NEWUSER)); }
static void do_setns(void)
{ report(syscall(SYS_setns, -1, 0)); }
static void do_tiocsti(void)
{
	char c = 'x';

	report(syscall(SYS_ioctl, 0, TIOCSTI, &c));
}
static void do_mount_bad_target(void)
{ report(syscall(SYS_mount, NULL, (char *)1, NULL, 0, NULL)); }
static void do_setresuid_root(void)
{ report(syscall(SYS_setresuid, 0, 0, 0)); }

static void
do_clone_newuser(void)
{
	long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	int status;

	if (pid == 0)
		leave(0);
	if (pid > 0)
		waitpid((pid_t)pid, &status, 0);
	report(pid > 0 ? 0 : -1);
}

static void
do_open_root_secret(void)
{
	report(open("/tmp/sepworker-test-root-secret", O_RDONLY | O_CLOEXEC));
}

/* Where do_connect_loopback connects (on 127.0.0.1): nothing listens
 * on 9 (discard) or 10. */
static uint16_t connect_port = 9;

static void
do_connect_loopback(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons(connect_port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s == -1)
		leave(SUCCEEDED - 1);
	report(connect(s, (struct sockaddr *)&sin, sizeof(sin)));
}

static void
do_listen(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s == -1)
		leave(SUCCEEDED - 1);
	report(listen(s, 1));
}
static void
do_memfd(void)
{ report(syscall(SYS_memfd_create, "x", 0)); }

static void
do_kill_parent(void)
{
	report(kill(getppid(), 0));
}

static void
do_socket_unix(void)
{ report(syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0)); }
static void
do_socket_packet(void)
{ report(syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0)); }
static void
do_open_for_writing(void)
{
	report(syscall(SYS_openat, AT_FDCWD, "/tmp/sepworker-test-write",
	    O_WRONLY | O_CREAT, 0600));
}
static void
do_open_resolver_file(void)
{ report(syscall(SYS_openat, AT_FDCWD, "/etc/resolv.conf", O_RDONLY)); }
static void
do_clone3(void)
{ report(syscall(SYS_clone3, NULL, 0)); }
static void
do_thread_clone(void)
{
	/* The filter lets a thread's flags through; the kernel refuses
	 * CLONE_THREAD without CLONE_SIGHAND. */
	report(syscall(SYS_clone, CLONE_THREAD, 0, 0, 0, 0));
}
static void
do_bind_tcp(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s == -1)
		leave(SUCCEEDED - 1);
	report(bind(s, (struct sockaddr *)&sin, sizeof(sin)));
}
static void
do_accept_other_fd(void)
{ report(syscall(SYS_accept4, 7, NULL, NULL, 0)); }
static void
do_rt_sigaction(void)
{ report(syscall(SYS_rt_sigaction, SIGUSR1, NULL, NULL, 8)); }

/* Check the kernel's view of ourselves from inside the sandbox. */
static void
do_check_status(void)
{
	char buf[4096], *p;
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (n <= 0)
		leave(1);
	buf[n] = '\0';
	if (strstr(buf, "NoNewPrivs:\t1\n") == NULL ||
	    strstr(buf, "Seccomp:\t2\n") == NULL)
		leave(2);
	for (p = strstr(buf, "Cap"); p != NULL; p = strstr(p + 1, "\nCap")) {
		char *colon = strchr(p, ':');

		/* Only root can empty the bounding set. */
		if (!started_as_root && strncmp(p, "\nCapBnd", 7) == 0)
			continue;
		if (colon && strncmp(colon, ":\t0000000000000000", 18) != 0)
			leave(3);
	}
	if (geteuid() == 0 || getuid() == 0)
		leave(4);
	leave(0);
}

/* --- keyholder --- */

static void
test_keyholder_socket_kills(void **state)
{
	(void)state;
	expect_killed(&keyholder_policy, KEYHOLDER_UID, do_socket);
}

static void
test_keyholder_open_kills(void **state)
{
	(void)state;
	expect_killed(&keyholder_policy, KEYHOLDER_UID, do_openat);
}

static void
test_keyholder_new_process_kills(void **state)
{
	(void)state;
	expect_killed(&keyholder_policy, KEYHOLDER_UID, do_clone);
	expect_killed(&keyholder_policy, KEYHOLDER_UID, do_execve);
}

static void
test_keyholder_exec_memory_kills(void **state)
{
	(void)state;
	expect_killed(&keyholder_policy, KEYHOLDER_UID, do_mmap_exec);
	expect_killed(&keyholder_policy, KEYHOLDER_UID, do_mprotect_exec);
}

static void
test_keyholder_writes_only_to_its_log(void **state)
{
	(void)state;
	expect_exit(&keyholder_policy, KEYHOLDER_UID, do_write_log_fd,
	    FAILED_WITH(EBADF));
	expect_killed(&keyholder_policy, KEYHOLDER_UID, do_write_other_fd);
}

static void
test_keyholder_allowed_call_gets_ordinary_errno(void **state)
{
	(void)state;
	expect_exit(&keyholder_policy, KEYHOLDER_UID, do_close_bad,
	    FAILED_WITH(EBADF));
}

static void
test_keyholder_runs_confined(void **state)
{
	struct sandbox_policy p = keyholder_policy;

	(void)state;
	/* The same sandbox, with reading /proc/self/status let through. */
	p.default_action = SCMP_ACT_ALLOW;
	p.nsyscalls = 0;
	p.landlock = false;
	expect_exit(&p, KEYHOLDER_UID, do_check_status, 0);
}

/* The keyholder's Landlock domain, seen without its seccomp filter. */
static void
test_keyholder_landlock_denies_files_tcp_signals(void **state)
{
	struct sandbox_policy p = keyholder_policy;
	int abi = sandbox_landlock_abi();

	(void)state;
	require_or_skip(abi >= 6, "Landlock ABI 6 (this kernel has it)");
	p.default_action = SCMP_ACT_ALLOW;
	p.nsyscalls = 0;
	expect_exit(&p, KEYHOLDER_UID, do_openat, FAILED_WITH(EACCES));
	expect_exit(&p, KEYHOLDER_UID, do_connect_loopback,
	    FAILED_WITH(EACCES));
	expect_exit(&p, KEYHOLDER_UID, do_kill_parent, FAILED_WITH(EPERM));
}

/* --- proxyd --- */

static void
test_proxyd_exec_kills(void **state)
{
	(void)state;
	expect_killed(&proxyd_policy, PROXYD_UID, do_execve);
	expect_killed(&proxyd_policy, PROXYD_UID, do_clone);
}

static void
test_proxyd_open_kills(void **state)
{
	(void)state;
	expect_killed(&proxyd_policy, PROXYD_UID, do_openat);
}

static void
test_proxyd_allowed_call_gets_ordinary_errno(void **state)
{
	(void)state;
	expect_exit(&proxyd_policy, PROXYD_UID, do_close_bad,
	    FAILED_WITH(EBADF));
}

/* --- proxyd in worker mode: the Queue's calls, and no more --- */

static void
test_proxyd_worker_kills(void **state)
{
	const struct sandbox_policy *p = &proxyd_worker_policy;

	(void)state;
	expect_killed(p, PROXYD_UID, do_execve);
	expect_killed(p, PROXYD_UID, do_clone);
	expect_killed(p, PROXYD_UID, do_ptrace_parent);
	expect_killed(p, PROXYD_UID, do_listen);
	expect_killed(p, PROXYD_UID, do_accept_other_fd);
	expect_killed(p, PROXYD_UID, do_socket_packet);
	expect_killed(p, PROXYD_UID, do_rt_sigaction);
	expect_killed(p, PROXYD_UID, do_mprotect_exec);
	expect_killed(p, PROXYD_UID, do_unshare);
}

static void
test_proxyd_worker_allowed(void **state)
{
	const struct sandbox_policy *p = &proxyd_worker_policy;

	(void)state;
	expect_exit(p, PROXYD_UID, do_socket, SUCCEEDED);
	expect_exit(p, PROXYD_UID, do_memfd, SUCCEEDED);
	expect_exit(p, PROXYD_UID, do_thread_clone, FAILED_WITH(EINVAL));
	expect_exit(p, PROXYD_UID, do_socket_unix, FAILED_WITH(EACCES));
	expect_exit(p, PROXYD_UID, do_open_for_writing, FAILED_WITH(EACCES));
	expect_exit(p, PROXYD_UID, do_clone3, FAILED_WITH(ENOSYS));
}

/* Files: the resolver's, read-only.  TCP: connect to the ports it was
 * given (the root URL's; here 9, where nothing listens), no other, and
 * bind none. */
static void
test_proxyd_worker_landlock(void **state)
{
	static const uint16_t ports[] = { 9, 53 };
	const struct sandbox_policy *p = &proxyd_worker_policy;
	int abi = sandbox_landlock_abi();

	(void)state;
	require_or_skip(abi >= 4, "Landlock ABI 4 (this kernel has it)");
	confined_ports = ports;
	nconfined_ports = nitems(ports);
	expect_exit(p, PROXYD_UID, do_open_resolver_file, SUCCEEDED);
	expect_exit(p, PROXYD_UID, do_openat, FAILED_WITH(EACCES));
	expect_exit(p, PROXYD_UID, do_connect_loopback,
	    FAILED_WITH(ECONNREFUSED));
	connect_port = 10;
	expect_exit(p, PROXYD_UID, do_connect_loopback, FAILED_WITH(EACCES));
	expect_exit(p, PROXYD_UID, do_bind_tcp, FAILED_WITH(EACCES));
	connect_port = 9;
	confined_ports = NULL;
	nconfined_ports = 0;
	expect_exit(p, PROXYD_UID, do_connect_loopback, FAILED_WITH(EACCES));
}

/* A failed test leaves by longjmp: the next one must not inherit its
 * ports. */
static int
reset_connect(void **state)
{
	(void)state;
	connect_port = 9;
	confined_ports = NULL;
	nconfined_ports = 0;
	return 0;
}

/* --- the task proxy: network, threads, the resolver's files --- */

static void
test_taskproxy_process_and_exec_kill(void **state)
{
	(void)state;
	expect_killed(&taskproxy_policy, TASKPROXY_UID, do_execve);
	expect_killed(&taskproxy_policy, TASKPROXY_UID, do_clone);
	expect_killed(&taskproxy_policy, TASKPROXY_UID, do_ptrace_parent);
	expect_killed(&taskproxy_policy, TASKPROXY_UID, do_rt_sigaction);
	expect_killed(&taskproxy_policy, TASKPROXY_UID, do_socket_packet);
	expect_killed(&taskproxy_policy, TASKPROXY_UID, do_accept_other_fd);
	expect_killed(&taskproxy_policy, TASKPROXY_UID, do_mprotect_exec);
}

static void
test_taskproxy_refusals_are_errors(void **state)
{
	(void)state;
	/* What libraries try on their own gets an error, not death. */
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_socket_unix,
	    FAILED_WITH(EACCES));
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_open_for_writing,
	    FAILED_WITH(EACCES));
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_clone3,
	    FAILED_WITH(ENOSYS));
}

static void
test_taskproxy_threads_and_sockets_allowed(void **state)
{
	(void)state;
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_socket, SUCCEEDED);
	/* Allowed through to the kernel, which refuses the bad stack. */
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_thread_clone,
	    FAILED_WITH(EINVAL));
}

static void
test_taskproxy_landlock(void **state)
{
	int abi = sandbox_landlock_abi();

	(void)state;
	require_or_skip(abi >= 4, "Landlock ABI 4 (this kernel has it)");
	/* The resolver's configuration, and no other file. */
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_open_resolver_file,
	    SUCCEEDED);
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_openat,
	    FAILED_WITH(EACCES));
	/* Connecting anywhere, binding nowhere. */
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_connect_loopback,
	    FAILED_WITH(ECONNREFUSED));
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_bind_tcp,
	    FAILED_WITH(EACCES));
}

static void
test_taskproxy_runs_confined(void **state)
{
	struct sandbox_policy p = taskproxy_policy;

	(void)state;
	require_root();
	/* The same sandbox, with reading /proc/self/status let through. */
	p.default_action = SCMP_ACT_ALLOW;
	p.nsyscalls = 0;
	p.landlock = false;
	expect_exit(&p, TASKPROXY_UID, do_check_status, 0);
}

/* --- taskproxy with a spool (--spool-fd): fd TASKPROXY_SPOOL_FD --- */

#define SPOOL_OPEN	(O_TMPFILE | O_RDWR | O_CLOEXEC)

static void
do_spool_tmpfile(void)
{
	int fd = (int)syscall(SYS_openat, TASKPROXY_SPOOL_FD, ".", SPOOL_OPEN,
	    0600);

	if (fd == -1)
		report(-1);
	/* Written past what RLIMIT_FSIZE 0 would allow, and read back. */
	report(write(fd, "spool", 5) == 5 && pread(fd, (char[5]){ 0 }, 5,
	    0) == 5 ? 0 : -1);
}
/* The same flags, the spool's fd, but an absolute path: Landlock's. */
static void
do_spool_tmpfile_elsewhere(void)
{
	report(syscall(SYS_openat, TASKPROXY_SPOOL_FD, "/tmp", SPOOL_OPEN,
	    0600));
}
static void
do_tmpfile_other_fd(void)
{ report(syscall(SYS_openat, AT_FDCWD, "/tmp", SPOOL_OPEN, 0600)); }
static void
do_spool_named(void)
{
	report(syscall(SYS_openat, TASKPROXY_SPOOL_FD, "x",
	    O_RDWR | O_CREAT | O_CLOEXEC, 0600));
}
static void
do_open_rdwr(void)
{ report(syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDWR)); }

static void
test_taskproxy_spool(void **state)
{
	char dir[] = "/tmp/sepworker-spool.XXXXXX";
	const struct sandbox_policy *p = &taskproxy_spool_policy;
	int fd;

	(void)state;
	require_root();
	require_or_skip(sandbox_landlock_abi() >= 4,
	    "Landlock ABI 4 (this kernel has it)");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chown(dir, TASKPROXY_UID, TASKPROXY_UID), 0);
	assert_true((fd = open(dir, O_RDONLY | O_DIRECTORY)) != -1);
	assert_int_equal(dup2(fd, TASKPROXY_SPOOL_FD), TASKPROXY_SPOOL_FD);
	close(fd);
	expect_exit(p, TASKPROXY_UID, do_spool_tmpfile, SUCCEEDED);
	expect_exit(p, TASKPROXY_UID, do_spool_tmpfile_elsewhere,
	    FAILED_WITH(EACCES));
	expect_killed(p, TASKPROXY_UID, do_tmpfile_other_fd);
	expect_exit(p, TASKPROXY_UID, do_spool_named, FAILED_WITH(EACCES));
	expect_exit(p, TASKPROXY_UID, do_open_rdwr, FAILED_WITH(EACCES));
	expect_exit(p, TASKPROXY_UID, do_open_for_writing,
	    FAILED_WITH(EACCES));
	expect_exit(p, TASKPROXY_UID, do_open_resolver_file, SUCCEEDED);
	/* Without a spool, no unnamed file anywhere. */
	expect_exit(&taskproxy_policy, TASKPROXY_UID, do_spool_tmpfile,
	    FAILED_WITH(EACCES));
	close(TASKPROXY_SPOOL_FD);
	assert_int_equal(rmdir(dir), 0);
}

/* --- taskrunner: a deny-list, EPERM --- */

static void
test_taskrunner_denied_calls_get_eperm(void **state)
{
	void (*const denied[])(void) = {
		do_ptrace_parent, do_io_uring_setup, do_bpf, do_keyctl,
		do_unshare, do_setns, do_tiocsti,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		expect_exit(&taskrunner_policy, TASKRUNNER_UID, denied[i],
		    FAILED_WITH(EPERM));
}

static void
test_taskrunner_allowed_calls_get_ordinary_errno(void **state)
{
	(void)state;
	expect_exit(&taskrunner_policy, TASKRUNNER_UID, do_close_bad,
	    FAILED_WITH(EBADF));
	/* The mount family stays allowed for building sandboxes: a bad
	 * target pointer gets EFAULT from the kernel, not EPERM from us. */
	expect_exit(&taskrunner_policy, TASKRUNNER_UID, do_mount_bad_target,
	    FAILED_WITH(EFAULT));
}

static void
test_taskrunner_can_make_user_namespaces(void **state)
{
	(void)state;
	require_userns();
	expect_exit(&taskrunner_policy, TASKRUNNER_UID, do_clone_newuser,
	    SUCCEEDED);
}

static void
test_taskrunner_cannot_become_root_again(void **state)
{
	(void)state;
	require_root();
	expect_exit(&taskrunner_policy, TASKRUNNER_UID, do_setresuid_root,
	    FAILED_WITH(EPERM));
}

static void
test_taskrunner_cannot_read_root_only_file(void **state)
{
	int fd;

	(void)state;
	require_root();
	unlink("/tmp/sepworker-test-root-secret");
	fd = open("/tmp/sepworker-test-root-secret", O_WRONLY | O_CREAT |
	    O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "secret", 6), 6);
	close(fd);
	expect_exit(&taskrunner_policy, TASKRUNNER_UID, do_open_root_secret,
	    FAILED_WITH(EACCES));
	unlink("/tmp/sepworker-test-root-secret");
}

static void
test_taskrunner_runs_without_capabilities(void **state)
{
	(void)state;
	require_root();
	expect_exit(&taskrunner_policy, TASKRUNNER_UID, do_check_status, 0);
}

/* --- 32-bit arguments: the high half of the register is not compared --- */

/*
 * The kernel's type of every argument a policy compares, from the x86_64
 * SYSCALL_DEFINEs.  A rule on an argument missing here fails
 * test_rules_compare_kernel_width until its type is looked up.
 */
static const struct kernel_arg {
	int		 nr;
	unsigned	 arg;
	unsigned	 bits;
	const char	*decl;
} kernel_args[] = {
	{ SCMP_SYS(recvmsg), 0, 32, "int fd" },
	{ SCMP_SYS(sendmsg), 0, 32, "int fd" },
	{ SCMP_SYS(write), 0, 32, "unsigned int fd" },
	{ SCMP_SYS(mmap), 2, 64, "unsigned long prot" },
	{ SCMP_SYS(mprotect), 2, 64, "unsigned long prot" },
	{ SCMP_SYS(tgkill), 0, 32, "pid_t tgid" },
	{ SCMP_SYS(fcntl), 1, 32, "unsigned int cmd" },
	{ SCMP_SYS(dup3), 1, 32, "unsigned int newfd" },
	{ SCMP_SYS(socket), 0, 32, "int family" },
	{ SCMP_SYS(socket), 2, 32, "int protocol" },
	{ SCMP_SYS(socketpair), 0, 32, "int family" },
	{ SCMP_SYS(accept4), 0, 32, "int fd" },
	{ SCMP_SYS(accept), 0, 32, "int fd" },
	{ SCMP_SYS(ioctl), 1, 32, "unsigned int cmd" },
	{ SCMP_SYS(openat), 0, 32, "int dfd" },
	{ SCMP_SYS(openat), 2, 32, "int flags" },
	/* Declared unsigned long; kernel_clone_args keeps its low 32 bits
	 * (test_clone_ignores_high_flag_bits shows it). */
	{ SCMP_SYS(clone), 0, 32, "unsigned long clone_flags, low 32 used" },
	{ SCMP_SYS(prctl), 0, 32, "int option" },
	{ SCMP_SYS(rt_sigaction), 0, 32, "int sig" },
};

static const struct sandbox_policy *const all_policies[] = {
	&keyholder_policy, &proxyd_policy, &proxyd_worker_policy,
	&taskproxy_policy, &taskproxy_spool_policy,
	&taskrunner_policy, &task_setup_done_policy,
};

static const struct kernel_arg *
kernel_arg(int nr, unsigned arg)
{
	for (size_t i = 0; i < sizeof(kernel_args) / sizeof(kernel_args[0]);
	    i++)
		if (kernel_args[i].nr == nr && kernel_args[i].arg == arg)
			return &kernel_args[i];
	return NULL;
}

/* One comparison of rule j of policy p: declared with the kernel's
 * width, and one on a 32-bit argument becomes a comparison that masks
 * the high half away. */
static void
check_arg_width(const struct sandbox_policy *p, size_t j,
    const struct sandbox_arg *a)
{
	const struct kernel_arg *ka = kernel_arg(p->syscalls[j].nr, a->arg);
	struct scmp_arg_cmp c;
	const char *bad;

	if (ka == NULL) {
		fail_msg("%s rule %zu: syscall %d arg %u not in kernel_args",
		    p->role, j, p->syscalls[j].nr, a->arg);
		return;
	}
	if (a->bits != ka->bits)
		fail_msg("%s rule %zu: arg %u declared %u bits, the kernel's "
		    "is %s", p->role, j, a->arg, a->bits, ka->decl);
	if ((bad = sandbox_arg_cmp(a, &c)) != NULL)
		fail_msg("%s rule %zu: %s", p->role, j, bad);
	if (ka->bits == 32 && (c.op != SCMP_CMP_MASKED_EQ ||
	    c.datum_a > UINT32_MAX))
		fail_msg("%s rule %zu: arg %u (%s) compares high bits",
		    p->role, j, a->arg, ka->decl);
}

static void
test_rules_compare_kernel_width(void **state)
{
	size_t checked = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(all_policies) / sizeof(all_policies[0]);
	    i++) {
		const struct sandbox_policy *p = all_policies[i];

		for (size_t j = 0; j < p->nsyscalls; j++)
			for (unsigned k = 0; k < p->syscalls[j].argc; k++) {
				check_arg_width(p, j, &p->syscalls[j].arg[k]);
				checked++;
			}
	}
	/* Not vacuous: the tables have their argument rules. */
	assert_true(checked >= 30);
}

/* What sandbox_seccomp() refuses to build. */
static void
test_arg_cmp_refuses_what_cannot_be_masked(void **state)
{
	const struct sandbox_arg wide = SB_ARG32(1, SCMP_CMP_EQ,
	    1ULL << 32, 0);
	const struct sandbox_arg order = SB_ARG32(1, SCMP_CMP_LT, 5, 0);
	const struct sandbox_arg unset = { .arg = 1, .op = SCMP_CMP_EQ };
	const struct sandbox_arg eq = SB_ARG32(1, SCMP_CMP_EQ, TIOCSTI, 0);
	const struct sandbox_arg eq64 = SB_ARG64(1, SCMP_CMP_LT, 5, 0);
	struct scmp_arg_cmp c;

	(void)state;
	assert_non_null(sandbox_arg_cmp(&wide, &c));
	assert_non_null(sandbox_arg_cmp(&order, &c));
	assert_non_null(sandbox_arg_cmp(&unset, &c));
	assert_null(sandbox_arg_cmp(&eq, &c));
	assert_int_equal(c.op, SCMP_CMP_MASKED_EQ);
	assert_int_equal(c.datum_a, UINT32_MAX);
	assert_int_equal(c.datum_b, TIOCSTI);
	assert_null(sandbox_arg_cmp(&eq64, &c));
	assert_int_equal(c.op, SCMP_CMP_LT);
}

/* One raw syscall, its arguments set before the fork: libc wrappers
 * would truncate int arguments, the filter sees all 64 bits. */
static long call_nr;
static unsigned long call_arg[6];

static void
do_call(void)
{
	report(syscall(call_nr, call_arg[0], call_arg[1], call_arg[2],
	    call_arg[3], call_arg[4], call_arg[5]));
}

#define KILLED	(-1)
#define HI1	(1ULL << 32)
#define HI2	0xdeadbeef00000000ULL

/* expect_call(policy, uid, want, nr, args...): want is KILLED or an exit
 * status as from report(). */
static void
expect_call_(const struct sandbox_policy *p, uid_t uid, int want, long nr,
    unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3)
{
	call_nr = nr;
	call_arg[0] = a0;
	call_arg[1] = a1;
	call_arg[2] = a2;
	call_arg[3] = a3;
	call_arg[4] = call_arg[5] = 0;
	if (want == KILLED)
		expect_killed(p, uid, do_call);
	else
		expect_exit(p, uid, do_call, want);
}
#define expect_call(p, uid, want, nr, a0, a1, a2, a3)			\
	expect_call_((p), (uid), (want), (nr), (unsigned long)(a0),	\
	    (unsigned long)(a1), (unsigned long)(a2), (unsigned long)(a3))

/* The deny-list: the terminal ioctls stay refused whatever the high half
 * (on an fd that is no terminal: unfiltered, EBADF). */
static void
test_taskrunner_ioctl_denied_with_high_bits(void **state)
{
	const unsigned long hi[] = { 0, HI1, HI2 };
	char c = 'x';

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		expect_call(&taskrunner_policy, TASKRUNNER_UID,
		    FAILED_WITH(EPERM), SYS_ioctl, -1, TIOCSTI | hi[i], &c, 0);
		expect_call(&taskrunner_policy, TASKRUNNER_UID,
		    FAILED_WITH(EPERM), SYS_ioctl, -1, TIOCLINUX | hi[i], &c,
		    0);
	}
	/* Other requests reach the kernel. */
	expect_call(&taskrunner_policy, TASKRUNNER_UID, FAILED_WITH(EBADF),
	    SYS_ioctl, -1, FIONREAD | HI1, &c, 0);
}

/* Unfiltered, the kernel reads clone's flags as 32 bits: a high bit does
 * not stop CLONE_NEWUSER.  The task's filter refuses it all the same. */
static void
do_clone_newuser_high(void)
{
	long pid = syscall(SYS_clone, HI1 | CLONE_NEWUSER | SIGCHLD, 0, 0, 0,
	    0);
	int status;

	if (pid == 0)
		leave(0);
	if (pid > 0)
		waitpid((pid_t)pid, &status, 0);
	report(pid > 0 ? 0 : -1);
}

static void
test_clone_ignores_high_flag_bits(void **state)
{
	struct sandbox_policy open_policy = task_setup_done_policy;

	(void)state;
	require_userns();
	open_policy.nsyscalls = 0;
	expect_exit(&open_policy, TASKRUNNER_UID, do_clone_newuser_high,
	    SUCCEEDED);
	expect_exit(&task_setup_done_policy, TASKRUNNER_UID,
	    do_clone_newuser_high, FAILED_WITH(EPERM));
}

/* tgkill(own pid, own tid, 0): a check that succeeds. */
static void
do_tgkill_self_high(void)
{
	report(syscall(SYS_tgkill, (unsigned long)getpid() | HI1, gettid(),
	    0));
}

/* Kill-by-default allow rules: a call whose high half is set is the same
 * call to the kernel, and gets the same answer as without it; a value
 * the rule does not allow still kills. */
static void
test_base_rules_with_high_bits(void **state)
{
	static char page[4096] __attribute__((aligned(4096)));

	(void)state;
	expect_call(&keyholder_policy, KEYHOLDER_UID, FAILED_WITH(EBADF),
	    SYS_write, CHILD_LOG_FD | HI1, "x", 1, 0);
	expect_call(&keyholder_policy, KEYHOLDER_UID, FAILED_WITH(EBADF),
	    SYS_write, CHILD_LOG_FD | HI2, "x", 1, 0);
	expect_call(&keyholder_policy, KEYHOLDER_UID, KILLED,
	    SYS_write, 5 | HI1, "x", 1, 0);
	expect_exit(&keyholder_policy, KEYHOLDER_UID, do_tgkill_self_high,
	    SUCCEEDED);
	expect_call(&keyholder_policy, KEYHOLDER_UID, KILLED,
	    SYS_tgkill, (unsigned long)getppid() | HI1, getppid(), 0, 0);
	/* prot is 64 bits to the kernel: a high bit is its EINVAL, and
	 * PROT_EXEC with one still kills. */
	expect_call(&keyholder_policy, KEYHOLDER_UID, FAILED_WITH(EINVAL),
	    SYS_mprotect, page, sizeof(page), PROT_READ | HI1, 0);
	expect_call(&keyholder_policy, KEYHOLDER_UID, KILLED,
	    SYS_mprotect, page, sizeof(page), PROT_READ | PROT_EXEC | HI1, 0);
	expect_call(&keyholder_policy, KEYHOLDER_UID, FAILED_WITH(EBADF),
	    SYS_fcntl, -1, F_GET_SEALS | HI1, 0, 0);
	expect_call(&keyholder_policy, KEYHOLDER_UID, KILLED,
	    SYS_fcntl, -1, F_GETFD | HI1, 0, 0);
	expect_call(&proxyd_policy, PROXYD_UID, FAILED_WITH(EBADF),
	    SYS_dup3, 1000, PROXYD_FEED_FD | HI1, 0, 0);
	expect_call(&proxyd_policy, PROXYD_UID, KILLED,
	    SYS_dup3, 1000, 9 | HI1, 0, 0);
}

static void
test_taskproxy_rules_with_high_bits(void **state)
{
	const struct sandbox_policy *p = &taskproxy_policy;

	(void)state;
	expect_call(p, TASKPROXY_UID, SUCCEEDED,
	    SYS_socket, AF_INET | HI1, SOCK_STREAM, 0, 0);
	expect_call(p, TASKPROXY_UID, FAILED_WITH(EACCES),
	    SYS_socket, AF_UNIX | HI2, SOCK_STREAM, 0, 0);
	expect_call(p, TASKPROXY_UID, KILLED,
	    SYS_socket, AF_PACKET | HI1, SOCK_RAW, 0, 0);
	expect_call(p, TASKPROXY_UID, FAILED_WITH(EBADF),
	    SYS_ioctl, 1000, FIONREAD | HI1, 0, 0);
	expect_call(p, TASKPROXY_UID, KILLED,
	    SYS_ioctl, 1000, TIOCSTI | HI1, 0, 0);
	expect_call(p, TASKPROXY_UID, FAILED_WITH(EBADF),
	    SYS_accept4, TASKPROXY_LISTEN_FD | HI1, 0, 0, 0);
	expect_call(p, TASKPROXY_UID, KILLED,
	    SYS_accept4, 7 | HI1, 0, 0, 0);
	expect_call(p, TASKPROXY_UID, FAILED_WITH(EACCES),
	    SYS_openat, AT_FDCWD, "/tmp/sepworker-test-write",
	    O_WRONLY | O_CREAT | HI1, 0600);
	expect_call(p, TASKPROXY_UID, SUCCEEDED,
	    SYS_prctl, PR_SET_NAME | HI1, "hi", 0, 0);
	expect_call(p, TASKPROXY_UID, KILLED,
	    SYS_prctl, PR_SET_DUMPABLE | HI1, 1, 0, 0);
	expect_call(p, TASKPROXY_UID, SUCCEEDED,
	    SYS_rt_sigaction, SIGPIPE | HI1, NULL, NULL, 8);
	expect_call(p, TASKPROXY_UID, FAILED_WITH(EINVAL),
	    SYS_clone, CLONE_THREAD | HI1, 0, 0, 0);
	expect_call(p, TASKPROXY_UID, KILLED, SYS_clone, SIGCHLD | HI1, 0,
	    0, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyholder_socket_kills),
		cmocka_unit_test(test_keyholder_open_kills),
		cmocka_unit_test(test_keyholder_new_process_kills),
		cmocka_unit_test(test_keyholder_exec_memory_kills),
		cmocka_unit_test(test_keyholder_writes_only_to_its_log),
		cmocka_unit_test(test_keyholder_allowed_call_gets_ordinary_errno),
		cmocka_unit_test(test_keyholder_runs_confined),
		cmocka_unit_test(test_keyholder_landlock_denies_files_tcp_signals),
		cmocka_unit_test(test_proxyd_exec_kills),
		cmocka_unit_test(test_proxyd_open_kills),
		cmocka_unit_test(test_proxyd_allowed_call_gets_ordinary_errno),
		cmocka_unit_test(test_proxyd_worker_kills),
		cmocka_unit_test(test_proxyd_worker_allowed),
		cmocka_unit_test_teardown(test_proxyd_worker_landlock,
		    reset_connect),
		cmocka_unit_test(test_taskproxy_process_and_exec_kill),
		cmocka_unit_test(test_taskproxy_refusals_are_errors),
		cmocka_unit_test(test_taskproxy_threads_and_sockets_allowed),
		cmocka_unit_test(test_taskproxy_landlock),
		cmocka_unit_test(test_taskproxy_runs_confined),
		cmocka_unit_test(test_taskproxy_spool),
		cmocka_unit_test(test_taskrunner_denied_calls_get_eperm),
		cmocka_unit_test(test_taskrunner_allowed_calls_get_ordinary_errno),
		cmocka_unit_test(test_taskrunner_can_make_user_namespaces),
		cmocka_unit_test(test_taskrunner_cannot_become_root_again),
		cmocka_unit_test(test_taskrunner_cannot_read_root_only_file),
		cmocka_unit_test(test_taskrunner_runs_without_capabilities),
		cmocka_unit_test(test_rules_compare_kernel_width),
		cmocka_unit_test(test_arg_cmp_refuses_what_cannot_be_masked),
		cmocka_unit_test(test_taskrunner_ioctl_denied_with_high_bits),
		cmocka_unit_test(test_clone_ignores_high_flag_bits),
		cmocka_unit_test(test_base_rules_with_high_bits),
		cmocka_unit_test(test_taskproxy_rules_with_high_bits),
	};

	return cmocka_run_group_tests_name("sandbox_policy", tests, NULL,
	    NULL);
}
