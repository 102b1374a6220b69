/*
 * The supervisor's privileged-request channel, driven over a real
 * socketpair with real processes in real user namespaces: the test plays
 * the taskrunner, privop_handle() the supervisor.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "common/chan_taskrunner.h"
#include "supervisor/config.h"
#include "supervisor/privop.h"

struct fixture {
	struct sw_config	cfg;
	struct privop_task	t;
	struct ipc_conn		sup;	/* supervisor end */
	struct ipc_conn		runner;	/* taskrunner end (the test) */
	char			tasks_dir[64];
	pid_t			kid;	/* a process to map */
	int			kid_pidfd;
	int			kid_go;	/* write end: closing it lets it exit */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];

	if (f == NULL)
		return -1;
	config_defaults(&f->cfg);
	strcpy(f->tasks_dir, "/tmp/sepworker-tasks-XXXXXX");
	if (mkdtemp(f->tasks_dir) == NULL)
		return -1;
	free(f->cfg.tasks_dir);
	f->cfg.tasks_dir = strdup(f->tasks_dir);
	f->t.cfg = &f->cfg;
	f->t.runner_pid = getpid();
	f->t.runner_uid = geteuid();
	f->t.task_uid = f->cfg.task_uid_first + 5;
	strcpy(f->t.taskdir, "task_test");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	ipc_conn_init(&f->sup, sv[0], &taskrunner_channel, IPC_TO_SUPERVISOR);
	ipc_conn_init(&f->runner, sv[1], &taskrunner_channel, IPC_TO_CHILD);
	f->kid = -1;
	f->kid_pidfd = f->kid_go = -1;
	*state = f;
	return 0;
}

static void
kid_stop(struct fixture *f)
{
	if (f->kid_go >= 0)
		close(f->kid_go);
	if (f->kid > 0)
		waitpid(f->kid, NULL, 0);
	if (f->kid_pidfd >= 0)
		close(f->kid_pidfd);
	f->kid = -1;
	f->kid_pidfd = f->kid_go = -1;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	kid_stop(f);
	snprintf(path, sizeof(path), "%s/task_test", f->tasks_dir);
	rmdir(path);
	rmdir(f->tasks_dir);
	ipc_conn_free(&f->sup);
	ipc_conn_free(&f->runner);
	config_free(&f->cfg);
	free(f);
	return 0;
}

/* A child of ours that waits until kid_stop(), in a new user namespace
 * when new_userns is set. */
static void
kid_start(struct fixture *f, bool new_userns)
{
	int go[2], ready[2];
	char c;

	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	f->kid = fork();
	assert_true(f->kid >= 0);
	if (f->kid == 0) {
		close(go[1]);
		if (new_userns && unshare(CLONE_NEWUSER) == -1)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		_exit(read(go[0], &c, 1) == 0 ? 0 : 1);
	}
	close(go[0]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	f->kid_go = go[1];
	f->kid_pidfd = pidfd_open(f->kid, 0);
	assert_true(f->kid_pidfd >= 0);
}

/* Send a request as the taskrunner, let the supervisor side serve it,
 * and return the answer's type (with its fd or reason). */
static uint32_t
request(struct fixture *f, uint32_t type, uint32_t arg, bool with_arg,
    int fd, int *answer_fd, char *reason, size_t reasonlen)
{
	char err[IPC_ERR_MAX];
	struct ipc_msg m;
	struct ipc_reader r;
	const char *s;
	size_t len;

	assert_int_equal(ipc_send(&f->runner, type, 9, &arg, with_arg ? 4 : 0,
	    fd), 0);
	assert_int_equal(ipc_recv(&f->sup, &m, err, sizeof(err)), 1);
	(void)privop_handle(&f->t, &f->sup, &m);
	assert_int_equal(ipc_recv(&f->runner, &m, err, sizeof(err)), 1);
	assert_int_equal(m.hdr.id, 9);
	if (answer_fd != NULL)
		*answer_fd = m.fd;
	else if (m.fd >= 0)
		close(m.fd);
	if (reason != NULL) {
		reason[0] = '\0';
		if (m.hdr.type == TR_PRIVOP_FAIL) {
			ipc_reader_init(&r, &m);
			s = ipc_get_str(&r, PRIVOP_REASON_MAX, &len);
			assert_non_null(s);
			snprintf(reason, reasonlen, "%.*s", (int)len, s);
		}
	}
	return m.hdr.type;
}

static void
expect_map_refused(struct fixture *f, uint32_t uid, int fd, const char *why)
{
	char reason[PRIVOP_REASON_MAX + 1];

	assert_int_equal(request(f, TR_USERNS_MAP_REQ, uid, true, fd, NULL,
	    reason, sizeof(reason)), TR_PRIVOP_FAIL);
	if (strstr(reason, why) == NULL)
		fail_msg("reason \"%s\" does not mention \"%s\"", reason, why);
}

static void
read_proc(pid_t pid, const char *file, char *buf, size_t len)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, file);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, len - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void
test_map_userns_granted(void **state)
{
	struct fixture *f = *state;
	uint32_t uid = f->t.task_uid;
	char buf[128], want[64];

	require_root();
	kid_start(f, true);
	assert_int_equal(request(f, TR_USERNS_MAP_REQ, uid, true,
	    f->kid_pidfd, NULL, NULL, 0), TR_PRIVOP_OK);
	snprintf(want, sizeof(want), "%u", uid);
	read_proc(f->kid, "uid_map", buf, sizeof(buf));
	/* "<inside> <outside> <count>": the task uid is itself inside. */
	assert_non_null(strstr(buf, want));
	assert_int_equal(strspn(buf, " "), strlen(buf) - strlen(strstr(buf,
	    want)));
	read_proc(f->kid, "gid_map", buf, sizeof(buf));
	assert_non_null(strstr(buf, want));
	read_proc(f->kid, "setgroups", buf, sizeof(buf));
	assert_string_equal(buf, "deny\n");
}

static void
test_refuses_uid_outside_range(void **state)
{
	struct fixture *f = *state;

	require_root();
	kid_start(f, true);
	expect_map_refused(f, 1000, f->kid_pidfd, "outside the task uid range");
	expect_map_refused(f, 0, f->kid_pidfd, "outside the task uid range");
	expect_map_refused(f, f->cfg.keyholder_uid, f->kid_pidfd,
	    "outside the task uid range");
}

static void
test_refuses_uid_of_another_task(void **state)
{
	struct fixture *f = *state;

	require_root();
	kid_start(f, true);
	expect_map_refused(f, f->t.task_uid + 1, f->kid_pidfd,
	    "not the uid of the assigned task");
}

static void
test_refuses_pid_not_child_of_requester(void **state)
{
	struct fixture *f = *state;

	require_root();
	kid_start(f, true);
	f->t.runner_pid = getppid();
	expect_map_refused(f, f->t.task_uid, f->kid_pidfd,
	    "is not a child of the taskrunner");
}

static void
test_refuses_second_map(void **state)
{
	struct fixture *f = *state;

	require_root();
	kid_start(f, true);
	assert_int_equal(request(f, TR_USERNS_MAP_REQ, f->t.task_uid, true,
	    f->kid_pidfd, NULL, NULL, 0), TR_PRIVOP_OK);
	expect_map_refused(f, f->t.task_uid, f->kid_pidfd, "already mapped");
	/* Even if the supervisor's own record were lost, the kernel keeps a
	 * namespace's first map, and the refusal says so. */
	f->t.mapped_userns = 0;
	expect_map_refused(f, f->t.task_uid, f->kid_pidfd,
	    "writing its id maps");
}

static void
test_refuses_process_in_our_user_namespace(void **state)
{
	struct fixture *f = *state;

	require_root();
	kid_start(f, false);
	expect_map_refused(f, f->t.task_uid, f->kid_pidfd,
	    "not in a new user namespace");
}

static void
test_refuses_without_assigned_task(void **state)
{
	struct fixture *f = *state;

	require_userns();
	kid_start(f, true);
	f->t.task_uid = 0;
	expect_map_refused(f, f->cfg.task_uid_first, f->kid_pidfd,
	    "no task is assigned");
}

static void
test_refuses_fd_that_is_not_a_pidfd(void **state)
{
	struct fixture *f = *state;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	expect_map_refused(f, f->t.task_uid, fd, "not a pidfd");
	close(fd);
}

static void
test_refuses_exited_process(void **state)
{
	struct fixture *f = *state;
	int pidfd;

	require_userns();
	kid_start(f, true);
	pidfd = dup(f->kid_pidfd);
	kid_stop(f);
	expect_map_refused(f, f->t.task_uid, pidfd, "not a pidfd of a live");
	close(pidfd);
}

static void
test_taskdir_owned_by_task_uid(void **state)
{
	struct fixture *f = *state;
	char path[128], reason[PRIVOP_REASON_MAX + 1];
	struct stat st, fst;
	int fd = -1;

	require_root();
	assert_int_equal(request(f, TR_TASKDIR_REQ, 0, false, -1, &fd, NULL,
	    0), TR_TASKDIR);
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/task_test", f->tasks_dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, f->t.task_uid);
	assert_int_equal(st.st_gid, f->t.task_uid);
	assert_int_equal(fstat(fd, &fst), 0);
	assert_true(fst.st_ino == st.st_ino);
	close(fd);
	assert_int_equal(request(f, TR_TASKDIR_REQ, 0, false, -1, NULL,
	    reason, sizeof(reason)), TR_PRIVOP_FAIL);
	assert_non_null(strstr(reason, "already created"));
}

static void
test_taskdir_refuses_writable_tasks_dir(void **state)
{
	struct fixture *f = *state;
	char reason[PRIVOP_REASON_MAX + 1];

	assert_int_equal(chmod(f->tasks_dir, 0777), 0);
	assert_int_equal(request(f, TR_TASKDIR_REQ, 0, false, -1, NULL,
	    reason, sizeof(reason)), TR_PRIVOP_FAIL);
	assert_non_null(strstr(reason, "not writable by group or others"));
}

static uint16_t
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	return ntohs(sin.sin_port);
}

static void
test_listener_only_on_configured_port(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char reason[PRIVOP_REASON_MAX + 1];
	int fd = -1, listening = 0;
	uint16_t port = free_port();

	f->cfg.taskcluster_proxy_port = port;
	assert_int_equal(privop_listener(&f->t, port + 1u, &fd, reason,
	    sizeof(reason)), -1);
	assert_non_null(strstr(reason, "is not taskclusterProxyPort"));
	assert_int_equal(privop_listener(&f->t, port, &fd, reason,
	    sizeof(reason)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	assert_int_equal(ntohs(sin.sin_port), port);
	assert_int_equal(ntohl(sin.sin_addr.s_addr), INADDR_LOOPBACK);
	len = sizeof(listening);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	    &len), 0);
	assert_true(listening);
	close(fd);
	/* One listener per task. */
	assert_int_equal(privop_listener(&f->t, port, &fd, reason,
	    sizeof(reason)), -1);
	assert_non_null(strstr(reason, "already created"));
}

static void
test_listener_refused_with_isolated_networking(void **state)
{
	struct fixture *f = *state;
	char reason[PRIVOP_REASON_MAX + 1];
	int fd = -1;

	f->cfg.task_network = TASK_NET_ISOLATED;
	assert_int_equal(privop_listener(&f->t, f->cfg.taskcluster_proxy_port,
	    &fd, reason, sizeof(reason)), -1);
	assert_non_null(strstr(reason, "inside the task's network namespace"));
}

/*
 * A listener made as the task's init makes it: in a child with a new
 * user and network namespace, lo up, bound to 127.0.0.1:port.  Returns
 * the socket (received over SCM_RIGHTS) and the inode of the child's
 * user namespace in *userns.
 */
static int
listener_in_new_netns(uint16_t port, bool listen_too, uint64_t *userns)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cb;
	struct msghdr mh = { 0 };
	struct iovec iov;
	struct stat st;
	char path[64], c = 'x';
	int sv[2], fd = -1, status;
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET,
		    .sin_port = htons(port),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		struct ifreq ifr = { .ifr_name = "lo" };
		int s, u;

		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == -1 ||
		    (u = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
		    ioctl(u, SIOCGIFFLAGS, &ifr) == -1)
			_exit(1);
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(u, SIOCSIFFLAGS, &ifr) == -1 ||
		    (s = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
		    bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
		    (listen_too && listen(s, 1) == -1))
			_exit(2);
		iov = (struct iovec){ &c, 1 };
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cb.b;
		mh.msg_controllen = sizeof(cb.b);
		CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &s, sizeof(int));
		if (sendmsg(sv[1], &mh, 0) != 1)
			_exit(3);
		/* Stay until the parent has looked at our namespace. */
		if (read(sv[1], &c, 1) < 0)
			_exit(4);
		_exit(0);
	}
	iov = (struct iovec){ &c, 1 };
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cb.b;
	mh.msg_controllen = sizeof(cb.b);
	if (recvmsg(sv[0], &mh, 0) == 1 && CMSG_FIRSTHDR(&mh) != NULL)
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	snprintf(path, sizeof(path), "/proc/%ld/ns/user", (long)pid);
	assert_int_equal(stat(path, &st), 0);
	*userns = st.st_ino;
	assert_int_equal(write(sv[0], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sv[0]);
	close(sv[1]);
	return fd;
}

static void
test_task_listener_checked(void **state)
{
	struct fixture *f = *state;
	char reason[PRIVOP_REASON_MAX + 1];
	uint16_t port = free_port();
	uint64_t userns, other;
	int fd, host;

	require_userns();
	f->cfg.task_network = TASK_NET_ISOLATED;
	f->cfg.taskcluster_proxy_port = port;
	fd = listener_in_new_netns(port, true, &userns);
	assert_true(fd >= 0);
	/* Before the task's namespace is known, nothing passes. */
	assert_int_equal(privop_check_task_listener(&f->t, fd, reason,
	    sizeof(reason)), -1);
	assert_non_null(strstr(reason, "not mapped yet"));
	f->t.mapped_userns = userns;
	assert_int_equal(privop_check_task_listener(&f->t, fd, reason,
	    sizeof(reason)), 0);
	/* Another port. */
	f->cfg.taskcluster_proxy_port = port + 1u;
	assert_int_equal(privop_check_task_listener(&f->t, fd, reason,
	    sizeof(reason)), -1);
	assert_non_null(strstr(reason, "not bound to 127.0.0.1:"));
	f->cfg.taskcluster_proxy_port = port;
	close(fd);
	/* Bound but not listening. */
	fd = listener_in_new_netns(port, false, &other);
	f->t.mapped_userns = other;
	assert_int_equal(privop_check_task_listener(&f->t, fd, reason,
	    sizeof(reason)), -1);
	assert_non_null(strstr(reason, "not a listening TCP socket"));
	close(fd);
	/* A listener of the host's, on the right port: not the task's. */
	f->cfg.task_network = TASK_NET_HOST;
	f->t.task_uid = 64600;
	assert_int_equal(privop_listener(&f->t, port, &host, reason,
	    sizeof(reason)), 0);
	f->t.mapped_userns = userns;
	assert_int_equal(privop_check_task_listener(&f->t, host, reason,
	    sizeof(reason)), -1);
	assert_non_null(strstr(reason, "not in the task's network namespace"));
	close(host);
}

int
main(void)
{
#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_map_userns_granted),
		T(test_refuses_uid_outside_range),
		T(test_refuses_uid_of_another_task),
		T(test_refuses_pid_not_child_of_requester),
		T(test_refuses_second_map),
		T(test_refuses_process_in_our_user_namespace),
		T(test_refuses_without_assigned_task),
		T(test_refuses_fd_that_is_not_a_pidfd),
		T(test_refuses_exited_process),
		T(test_taskdir_owned_by_task_uid),
		T(test_taskdir_refuses_writable_tasks_dir),
		T(test_listener_only_on_configured_port),
		T(test_listener_refused_with_isolated_networking),
		T(test_task_listener_checked),
	};

	return cmocka_run_group_tests_name("privop", tests, NULL, NULL);
}
