/*
 * drive_child DIR ROLE UID CASE: start DIR/ROLE the way the supervisor
 * does (supervisor/spawn.c), wait for READY, then act out CASE and check
 * how the child answers.  The child's log lines are copied to stderr.
 * Exits 0 when the child behaved as it must, 1 otherwise.
 *
 *	ping		PING gets the same nonce back; SHUTDOWN ends it with 0
 *	eof		closing its socket ends it with 0
 *	unknown-type	a message type not in its table: exit 3
 *	oversize	a message larger than the channel allows: exit 3
 *	bad-length	a header whose length lies: exit 3
 *	fd-on-ping	a PING carrying an fd: exit 3
 *	wrong-way	a message only a child may send (PONG): exit 3
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/chan_keyholder.h"
#include "common/chan_proxyd.h"
#include "common/chan_taskrunner.h"
#include "common/child.h"
#include "supervisor/spawn.h"

static int logfd = -1;

static void
relay_log(void)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(logfd, buf, sizeof(buf))) > 0)
		fprintf(stderr, "%.*s", (int)n, buf);
}

static int
wait_exit(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	relay_log();
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "drive_child: child killed by signal %d\n",
		    WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

static void
send_raw(int sock, uint32_t type, uint32_t len, size_t actual, int fd)
{
	static uint8_t buf[1 << 17];
	struct ipc_hdr h = { type, len, 1, fd >= 0 ? IPC_F_FD : 0 };
	union {
		struct cmsghdr	align;
		char		c[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { buf, actual };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &h, sizeof(h));
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.c;
		mh.msg_controllen = sizeof(cbuf.c);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)actual)
		fprintf(stderr, "drive_child: sendmsg: %s\n", strerror(errno));
}

int
main(int argc, char **argv)
{
	const struct ipc_channel *ch;
	struct spawn_spec spec;
	struct ipc_conn conn;
	struct ipc_msg m;
	char err[IPC_ERR_MAX], ppid[16];
	const char *dir, *role, *uid, *cse;
	uint64_t nonce = 0x5e9a5e9a12345678ull, got;
	int sv[2], lp[2], devnull, pidfd, want;
	pid_t pid;

	if (argc != 5)
		return 2;
	dir = argv[1];
	role = argv[2];
	uid = argv[3];
	cse = argv[4];
	ch = strcmp(role, "keyholder") == 0 ? &keyholder_channel :
	    strcmp(role, "proxyd") == 0 ? &proxyd_channel : &taskrunner_channel;
	snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
	char *cargv[] = { (char *)role, "--uid", (char *)uid, "--gid",
	    (char *)uid, "--ppid", ppid, NULL };
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    pipe2(lp, O_CLOEXEC) == -1 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return 2;
	spec = (struct spawn_spec){ .binfd = spawn_open_binary(dir, role, err,
	    sizeof(err)), .argv = cargv, .sock = sv[1], .logw = lp[1],
	    .devnull = devnull };
	if (spec.binfd == -1) {
		fprintf(stderr, "drive_child: %s\n", err);
		return 2;
	}
	if ((pid = spawn_child(&spec, &pidfd)) == -1)
		return 2;
	close(sv[1]);
	close(lp[1]);
	logfd = lp[0];
	ipc_conn_init(&conn, sv[0], ch, IPC_TO_SUPERVISOR);
	if (ipc_recv(&conn, &m, err, sizeof(err)) != 1 ||
	    m.hdr.type != MSG_READY) {
		fprintf(stderr, "drive_child: no READY: %s\n", err);
		wait_exit(pid);
		return 1;
	}
	want = CHILD_EXIT_VIOLATION;
	if (strcmp(cse, "ping") == 0) {
		if (ipc_send(&conn, MSG_PING, 5, &nonce, 8, -1) == -1 ||
		    ipc_recv(&conn, &m, err, sizeof(err)) != 1 ||
		    m.hdr.type != MSG_PONG || m.hdr.id != 5) {
			fprintf(stderr, "drive_child: no PONG\n");
			return 1;
		}
		memcpy(&got, m.payload, 8);
		if (got != nonce) {
			ipc_conn_free(&conn);
			return 1;
		}
		ipc_send(&conn, MSG_SHUTDOWN, 6, NULL, 0, -1);
		want = CHILD_EXIT_OK;
	} else if (strcmp(cse, "eof") == 0) {
		close(sv[0]);
		want = CHILD_EXIT_OK;
	} else if (strcmp(cse, "unknown-type") == 0)
		send_raw(sv[0], 999, IPC_HDR_SIZE, IPC_HDR_SIZE, -1);
	else if (strcmp(cse, "oversize") == 0)
		send_raw(sv[0], MSG_PING, ch->max_msg + 100, ch->max_msg + 100,
		    -1);
	else if (strcmp(cse, "bad-length") == 0)
		send_raw(sv[0], MSG_PING, IPC_HDR_SIZE + 8, IPC_HDR_SIZE + 4,
		    -1);
	else if (strcmp(cse, "fd-on-ping") == 0)
		send_raw(sv[0], MSG_PING, IPC_HDR_SIZE + 8, IPC_HDR_SIZE + 8,
		    devnull);
	else if (strcmp(cse, "wrong-way") == 0)
		send_raw(sv[0], MSG_PONG, IPC_HDR_SIZE + 8, IPC_HDR_SIZE + 8,
		    -1);
	else
		return 2;
	got = (uint64_t)wait_exit(pid);
	ipc_conn_free(&conn);
	if ((int)got != want) {
		fprintf(stderr, "drive_child: %s exited with %d, expected %d\n",
		    role, (int)got, want);
		return 1;
	}
	return 0;
}
