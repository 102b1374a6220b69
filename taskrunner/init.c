/*
 * The task's init: pid 1 of the task's pid namespace, holding every
 * capability of the task's new user namespace (and none outside it) until
 * it has built the sandbox from the inside.  Then it drops them all, runs
 * the commands, kills whatever they left, collects the artifacts as the
 * task user and cleans up.  When it exits, every process of the task dies
 * with its pid namespace.
 *
 * Order, and why:
 *   1. Wait for the supervisor to write the id maps (INIT_GO), then take
 *      the task uid and gid: files made from here on belong to the task,
 *      and the capabilities of the new namespace are kept (no id involved
 *      was 0).  The uid change cleared PR_SET_PDEATHSIG: re-arm it.
 *   2. Mounts, while we hold CAP_SYS_ADMIN over our mount namespace: the
 *      task's own root (taskroot.c: only what a task may see of the
 *      host, read-only, its directory, its own /tmp, /dev, /run, /proc,
 *      /sys), entered with pivot_root, the host's tree detached.  In a new
 *      network namespace, lo up.
 *   3. Limits: rlimits here, not in the taskrunner (a hard limit lowered
 *      there would bind every later task too); oom_score_adj raised.
 *   4. Landlock after the mounts (a Landlock domain forbids mounting),
 *      then drop every capability, then the second seccomp filter, which
 *      forbids what only setup needed (mounts, new namespaces); it stacks
 *      on the taskrunner's, which every task process inherits too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/param.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/landlock.h"
#include "common/log.h"
#include "common/sandbox.h"
#include "common/task_paths.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "common/chan_taskproxy.h"
#include "taskrunner/chan_init.h"
#include "taskrunner/task.h"
#include "taskrunner/taskrunner.h"

/* Where the init keeps what it needs, whatever the fd numbers were. */
#define INIT_SOCK_FD	3
#define INIT_OUT_FD	4
#define INIT_DIR_FD	5

static struct ipc_conn	init_conn;

void
init_note(struct ipc_conn *c, const char *fmt, ...)
{
	char msg[1024];
	uint8_t buf[sizeof(msg) + 4];
	struct ipc_writer w;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_str(&w, msg, strnlen(msg, sizeof(msg)));
	ipc_send(c, INIT_NOTE, 0, w.buf, w.len, -1);
}

void
init_setup_failed(const char *fmt, ...)
{
	char msg[512];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	init_note(&init_conn, "sandbox setup failed: %s: %s", msg,
	    strerror(saved));
	_exit(INIT_EXIT_SETUP);
}

/* Put the fds we keep at fixed numbers and close everything else: the
 * supervisor's socket and log pipe, the task log, stay out of the task. */
static void
init_fds(struct task *t)
{
	int sock = fcntl(t->init_sock[1], F_DUPFD_CLOEXEC, 10);
	int out = fcntl(t->out_pipe[1], F_DUPFD_CLOEXEC, 10);
	int dir = fcntl(t->taskdir_fd, F_DUPFD_CLOEXEC, 10);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (sock == -1 || out == -1 || dir == -1 || devnull == -1 ||
	    dup3(sock, INIT_SOCK_FD, O_CLOEXEC) == -1 ||
	    dup3(out, INIT_OUT_FD, O_CLOEXEC) == -1 ||
	    dup3(dir, INIT_DIR_FD, O_CLOEXEC) == -1 ||
	    dup2(devnull, 0) == -1 || dup2(devnull, 1) == -1 ||
	    close_range(INIT_DIR_FD + 1, ~0u, 0) == -1)
		_exit(INIT_EXIT_SETUP);
	/* Our own log lines (and a sanitizer's) go to fd 2, the taskrunner's
	 * log pipe to the supervisor, never into the task's output. */
	log_init_child(2, 0);
	t->init_sock[1] = INIT_SOCK_FD;
	t->out_pipe[1] = INIT_OUT_FD;
	t->taskdir_fd = INIT_DIR_FD;
	ipc_conn_init(&init_conn, INIT_SOCK_FD, &init_channel, IPC_TO_CHILD);
}

static void
wait_for_go(void)
{
	char err[IPC_ERR_MAX];
	struct ipc_msg m;

	if (ipc_recv(&init_conn, &m, err, sizeof(err)) != 1 ||
	    m.hdr.type != INIT_GO)
		_exit(INIT_EXIT_SETUP);	/* the taskrunner gave up on us */
}

static void
take_task_ids(struct task *t)
{
	uid_t id = t->a.task_uid;
	char c;

	/* setgroups(2) is denied in this namespace ("deny" was written), and
	 * the taskrunner has no supplementary groups to pass on. */
	if (setresgid(id, id, id) == -1 || setresuid(id, id, id) == -1)
		init_setup_failed("taking uid %u", id);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		init_setup_failed("PR_SET_PDEATHSIG");
	/* If the taskrunner died before that, its end of our socket is
	 * closed: leave, as the signal would have made us. */
	if (recv(INIT_SOCK_FD, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
		_exit(INIT_EXIT_SETUP);
}

/*
 * Our command line is the taskrunner's (we are its fork, never exec'd):
 * it names the worker's uids and the supervisor's pid, and every task
 * process may read /proc/1/cmdline.  Overwrite it, in place, with our
 * name.  Where it lies is in /proc/self/stat (arg_start, arg_end: the
 * 48th and 49th fields, counted past the command name's parenthesis).
 */
static void
hide_cmdline(void)
{
	static const char name[] = "sepworker-task-init";
	unsigned long start = 0, end = 0;
	char buf[2048], *p, *save = NULL;
	ssize_t n = -1;
	int fd, field = 2;

	if ((fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)) != -1) {
		n = read_all(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0)
		init_setup_failed("reading /proc/self/stat");
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL) {
		errno = EINVAL;
		init_setup_failed("parsing /proc/self/stat");
	}
	for (p = strtok_r(p + 1, " ", &save); p != NULL && field < 49;
	    p = strtok_r(NULL, " ", &save))
		if (++field == 48)
			start = strtoul(p, NULL, 10);
		else if (field == 49)
			end = strtoul(p, NULL, 10);
	if (end <= start) {
		errno = EINVAL;
		init_setup_failed("our command line in /proc/self/stat");
	}
	/* As much of the name as fits, and a NUL the kernel ends it at. */
	memset((void *)start, 0, end - start);
	memcpy((void *)start, name, MIN(sizeof(name), end - start) - 1);
	prctl(PR_SET_NAME, "task-init", 0, 0, 0);
}

static void
loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (s == -1 || ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		init_setup_failed("lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		init_setup_failed("bringing lo up");
	close(s);
}

/*
 * The proxy's listener, isolated networking: made here, inside the
 * task's network namespace (we hold CAP_NET_BIND_SERVICE over it until
 * the capabilities are dropped), and handed out; the task proxy serves
 * it from outside.  It is the task's only way out of the namespace.
 */
static int
proxy_listener(const struct task *t)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)t->a.proxy_port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s == -1 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(s, TASKPROXY_BACKLOG) == -1)
		init_setup_failed("the proxy's listener on 127.0.0.1:%u",
		    t->a.proxy_port);
	return s;
}

static void
build_mounts(struct task *t)
{
	taskroot_build(t, &init_conn);
	if (t->a.flags & TASK_F_NET_ISOLATED)
		loopback_up();
}

/*
 * The task directory by its path in our mount namespace: the fd the
 * supervisor opened belongs to the host's, and a working directory there
 * would be unreachable from our root (getcwd() fails).  It must be the
 * same directory as the fd.
 */
static void
enter_taskdir(struct task *t)
{
	struct stat a, b;

	if (chdir(t->taskdir_path) == -1 || stat(".", &a) == -1 ||
	    fstat(t->taskdir_fd, &b) == -1)
		init_setup_failed("entering the task directory %s",
		    t->taskdir_path);
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		errno = EXDEV;
		init_setup_failed("%s is not the task directory made for us",
		    t->taskdir_path);
	}
}

static void
set_limit(int resource, uint64_t value, const char *what)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) == -1)
		init_setup_failed("getrlimit(%s)", what);
	/* Only lowering: raising a hard limit needs CAP_SYS_RESOURCE in the
	 * host's namespace, which nobody here has. */
	if (value < rl.rlim_max || rl.rlim_max == RLIM_INFINITY)
		rl.rlim_max = value;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(resource, &rl) == -1)
		init_setup_failed("setrlimit(%s)", what);
}

static void
set_limits(struct task *t)
{
	int fd;

	set_limit(RLIMIT_NPROC, t->a.max_processes, "RLIMIT_NPROC");
	set_limit(RLIMIT_NOFILE, t->a.max_open_files, "RLIMIT_NOFILE");
	if (t->a.max_file_size_bytes)
		set_limit(RLIMIT_FSIZE, t->a.max_file_size_bytes,
		    "RLIMIT_FSIZE");
	if (t->a.max_memory_bytes && !SANDBOX_RELAXED_BUILD)
		set_limit(RLIMIT_AS, t->a.max_memory_bytes, "RLIMIT_AS");
	/* Under memory pressure the task goes first, not the worker.  The
	 * uid change made us non-dumpable, which hands our /proc files to
	 * root: be dumpable for this (no task process exists yet; we are
	 * made non-dumpable again before the first one starts). */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd == -1 || write_all(fd, "1000", 4) == -1)
		init_setup_failed("raising oom_score_adj");
	close(fd);
}

struct ll_path {
	const char	*path;
	uint64_t	 access;
};

#define LL_READ		(LL_FS_READ_FILE | LL_FS_READ_DIR)
#define LL_READ_EXEC	(LL_READ | LL_FS_EXECUTE)

static uint64_t
ll_all_rights(int abi)
{
	uint64_t r = (LL_FS_MAKE_SYM << 1) - 1;

	if (abi >= 2)
		r |= LL_FS_REFER;
	if (abi >= 3)
		r |= LL_FS_TRUNCATE;
	if (abi >= 5)
		r |= LL_FS_IOCTL_DEV;
	return r;
}

static void
ll_allow(int ruleset, const char *path, uint64_t access, uint64_t handled)
{
	struct ll_path_beneath_attr pb;
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd == -1)
		return;	/* not on this host: nothing to allow */
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		access &= LL_FS_FILE_RIGHTS;
	pb.allowed_access = access & handled;
	pb.parent_fd = fd;
	if (pb.allowed_access &&
	    ll_add_rule(ruleset, LL_RULE_PATH_BENEATH, &pb) == -1)
		init_setup_failed("landlock rule for %s", path);
	close(fd);
}

/*
 * The second wall, inside the task's root: the task may read and run the
 * system's programs and libraries, read its configuration, list any
 * directory of its root, and write only to its own directory, /tmp and
 * /dev/shm (all three private to it).  It may not signal or reach
 * abstract sockets outside its own domain.  Returns the ABI used.
 */
static int
task_landlock(struct task *t)
{
	/* What the task has of its own, beyond task_host_paths: */
	static const struct ll_path own_paths[] = {
		/* Only what taskroot.c put there can be named. */
		{ "/", LL_FS_READ_DIR },
		{ "/run", LL_READ },	/* an empty tmpfs, or the resolver's */
		{ "/sys", LL_READ },
		{ "/proc", LL_READ | LL_FS_WRITE_FILE },
		{ "/dev", LL_READ | LL_FS_WRITE_FILE | LL_FS_IOCTL_DEV },
	};
	struct ll_ruleset_attr attr = { 0 };
	struct ll_path_beneath_attr pb;
	int abi = sandbox_landlock_abi(), ruleset;
	size_t size = sizeof(attr.handled_access_fs);

	if (abi == 0)
		return 0;
	attr.handled_access_fs = ll_all_rights(abi);
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	if ((ruleset = ll_create_ruleset(&attr, size, 0)) == -1)
		init_setup_failed("landlock_create_ruleset");
	for (size_t i = 0; i < TASK_HOST_PATHS; i++)
		ll_allow(ruleset, task_host_paths[i].path,
		    task_host_paths[i].exec ? LL_READ_EXEC : LL_READ,
		    attr.handled_access_fs);
	for (size_t i = 0; i < nitems(own_paths); i++)
		ll_allow(ruleset, own_paths[i].path, own_paths[i].access,
		    attr.handled_access_fs);
	/* The operator's additions (taskReadOnlyPaths). */
	for (char *p = t->read_only_paths, *nl; p != NULL && *p; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		ll_allow(ruleset, p, LL_READ_EXEC, attr.handled_access_fs);
	}
	ll_allow(ruleset, "/tmp", attr.handled_access_fs,
	    attr.handled_access_fs);
	ll_allow(ruleset, "/dev/shm", attr.handled_access_fs,
	    attr.handled_access_fs);
	pb.allowed_access = attr.handled_access_fs;
	pb.parent_fd = t->taskdir_fd;
	if (ll_add_rule(ruleset, LL_RULE_PATH_BENEATH, &pb) == -1)
		init_setup_failed("landlock rule for the task directory");
	if (ll_restrict_self(ruleset) == -1)
		init_setup_failed("landlock_restrict_self");
	close(ruleset);
	return abi;
}

static void
drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	for (int cap = 0; cap <= CAP_LAST_CAP + 8; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL)
			init_setup_failed("dropping capability %d", cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1)
		init_setup_failed("clearing ambient capabilities");
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1)
		init_setup_failed("capset");
}

/* --- running the commands --- */

struct waiter {
	int	sigfd;
	int	timer;
	bool	timed_out;
};

/* Reap every child that has exited; true when pid was among them. */
static bool
reap(pid_t pid, int *status, struct rusage *ru)
{
	bool found = false;
	int st;
	struct rusage r;
	pid_t p;

	while ((p = wait4(-1, &st, WNOHANG, &r)) > 0)
		if (p == pid) {
			found = true;
			*status = st;
			*ru = r;
		}
	return found;
}

/* Kill every process of the task but us, and reap them all. */
static void
kill_all(void)
{
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

static void
report_done(size_t i, int32_t code, uint32_t flags, uint32_t detail,
    uint64_t ms)
{
	uint8_t buf[24];
	struct ipc_writer w;

	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_u32(&w, (uint32_t)i);
	ipc_put_u32(&w, (uint32_t)code);
	ipc_put_u32(&w, flags);
	ipc_put_u32(&w, detail);
	ipc_put_u64(&w, ms);
	ipc_send(&init_conn, INIT_COMMAND_DONE, 0, w.buf, w.len, -1);
}

/* Run command i to its end, or to the deadline.  Its exit code. */
static int32_t
run_one(struct task *t, struct waiter *wt, size_t i)
{
	uint64_t start = now_ms();
	uint32_t index = (uint32_t)i;
	struct rusage ru;
	int err = 0, status = 0;
	pid_t pid;

	ipc_send(&init_conn, INIT_COMMAND_START, 0, &index, sizeof(index), -1);
	pid = exec_command(t, i, &err);
	if (pid == -1) {
		report_done(i, -1, INIT_CMD_NOT_STARTED, (uint32_t)err,
		    now_ms() - start);
		return -1;
	}
	for (;;) {
		struct pollfd pfd[2] = {
			{ wt->sigfd, POLLIN, 0 }, { wt->timer, POLLIN, 0 },
		};
		struct signalfd_siginfo si;

		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			_exit(INIT_EXIT_SETUP);
		if (pfd[1].revents) {
			/* maxRunTime: everything goes, not just this one. */
			wt->timed_out = true;
			kill(-1, SIGKILL);
			ipc_send(&init_conn, INIT_TIMEOUT, 0, NULL, 0, -1);
			(void)!read(wt->timer, &si, 8);
		}
		if (pfd[0].revents)
			while (read(wt->sigfd, &si, sizeof(si)) > 0)
				;
		if (reap(pid, &status, &ru))
			break;
	}
	if (WIFSIGNALED(status)) {
		report_done(i, 128 + WTERMSIG(status), INIT_CMD_SIGNALED,
		    (uint32_t)WTERMSIG(status), now_ms() - start);
		return 128 + WTERMSIG(status);
	}
	report_done(i, WEXITSTATUS(status), 0, 0, now_ms() - start);
	return WEXITSTATUS(status);
}

static void
run_commands(struct task *t)
{
	struct itimerspec its = { .it_value.tv_sec = t->def.max_run_time };
	struct waiter wt = { -1, -1, false };
	sigset_t set;

	/* SIGCHLD by signalfd; the mask is reset in each command's child. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (wt.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1 ||
	    (wt.timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC |
	    TFD_NONBLOCK)) == -1 ||
	    timerfd_settime(wt.timer, 0, &its, NULL) == -1)
		init_setup_failed("setting up the command loop");
	for (size_t i = 0; i < t->def.ncommands && !wt.timed_out; i++)
		if (run_one(t, &wt, i) != 0)
			break;
	kill_all();
	close(wt.sigfd);
	close(wt.timer);
}

void
init_main(struct task *t)
{
	uint32_t ready[2] = { 0, 0 };
	int listener = -1;

	/* Die with the taskrunner; the uid change below clears this, and it
	 * is armed again there. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	init_fds(t);
	wait_for_go();
	take_task_ids(t);
	hide_cmdline();
	build_mounts(t);
	if ((t->a.flags & TASK_F_NET_ISOLATED) &&
	    t->def.features.taskcluster_proxy)
		listener = proxy_listener(t);
	enter_taskdir(t);
	set_limits(t);
	ready[0] = (uint32_t)task_landlock(t);
	drop_capabilities();
	sandbox_seccomp(&task_setup_done_policy, false,
	    (t->a.flags & TASK_F_DEBUG_NS) ? SB_DEBUG_NS : 0);
	/* Same uid as the task, but not dumpable: the task cannot read or
	 * steer its init through /proc. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (t->a.flags & TASK_F_NET_ISOLATED)
		ready[1] |= INIT_READY_NETNS;
	if (listener != -1) {
		ipc_send(&init_conn, INIT_LISTENER, 0, NULL, 0, listener);
		close(listener);
	}
	ipc_send(&init_conn, INIT_READY, 0, ready, sizeof(ready), -1);
	run_commands(t);
	collect_artifacts(t, &init_conn);
	if (t->def.features.chain_of_trust)
		collect_cot_extra(t, &init_conn);
	if (t->a.flags & TASK_F_CLEAN_UP)
		clean_taskdir(t, &init_conn);
	ipc_send(&init_conn, INIT_DONE, 0, NULL, 0, -1);
	_exit(0);
}
