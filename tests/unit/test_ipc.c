/* IPC framing: round trips, fd passing, and every malformed message the
 * receiver must refuse. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "common/chan_keyholder.h"
#include "common/chan_taskrunner.h"
#include "common/ipc.h"

struct pair {
	struct ipc_conn	sup;	/* supervisor end: receives from the child */
	struct ipc_conn	kid;	/* child end */
};

static void
pair_open(struct pair *p, const struct ipc_channel *ch)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	ipc_conn_init(&p->sup, sv[0], ch, IPC_TO_SUPERVISOR);
	ipc_conn_init(&p->kid, sv[1], ch, IPC_TO_CHILD);
}

static void
pair_close(struct pair *p)
{
	ipc_conn_free(&p->sup);
	ipc_conn_free(&p->kid);
}

/* Send raw bytes, optionally with fds, bypassing ipc_send's checks. */
static void
send_raw(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

static void
send_hdr(int sock, uint32_t type, uint32_t len, uint32_t flags,
    size_t actual, const int *fds, size_t nfds)
{
	uint8_t buf[8192] = { 0 };
	struct ipc_hdr h = { type, len, 7, flags };

	assert_true(actual <= sizeof(buf));
	memcpy(buf, &h, sizeof(h));
	send_raw(sock, buf, actual, fds, nfds);
}

/* Expect the next message on c to be refused with msg in the error. */
static void
expect_refused(struct ipc_conn *c, const char *msg)
{
	char err[IPC_ERR_MAX] = "";
	struct ipc_msg m;

	assert_int_equal(ipc_recv(c, &m, err, sizeof(err)), -1);
	if (strstr(err, msg) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, msg);
}

/* True when no write end of the pipe is left open anywhere in us. */
static bool
pipe_has_no_writer(int rfd)
{
	char c;

	fcntl(rfd, F_SETFL, O_NONBLOCK);
	return read(rfd, &c, 1) == 0;
}

static void
test_roundtrip_ping(void **state)
{
	struct pair p;
	struct ipc_msg m;
	char err[IPC_ERR_MAX];
	uint64_t nonce = 0x1122334455667788ull, got;

	(void)state;
	pair_open(&p, &keyholder_channel);
	assert_int_equal(ipc_send(&p.sup, MSG_PING, 42, &nonce, 8, -1), 0);
	assert_int_equal(ipc_recv(&p.kid, &m, err, sizeof(err)), 1);
	assert_int_equal(m.hdr.type, MSG_PING);
	assert_int_equal(m.hdr.id, 42);
	assert_int_equal(m.payload_len, 8);
	assert_int_equal(m.fd, -1);
	memcpy(&got, m.payload, 8);
	assert_true(got == nonce);
	assert_string_equal(m.spec->name, "PING");
	pair_close(&p);
}

static void
test_fd_passed_with_cloexec(void **state)
{
	struct pair p;
	struct ipc_msg m;
	struct stat a, b;
	char err[IPC_ERR_MAX];
	int fd = open("/dev/null", O_RDONLY);

	(void)state;
	pair_open(&p, &taskrunner_channel);
	assert_true(fd >= 0);
	assert_int_equal(ipc_send(&p.sup, TR_TASKDIR, 1, NULL, 0, fd), 0);
	assert_int_equal(ipc_recv(&p.kid, &m, err, sizeof(err)), 1);
	assert_true(m.fd >= 0);
	assert_true(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(m.fd, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(m.fd);
	close(fd);
	pair_close(&p);
}

static void
test_string_payload_roundtrip(void **state)
{
	struct pair p;
	struct ipc_msg m;
	struct ipc_reader r;
	struct ipc_writer w;
	uint8_t buf[64];
	char err[IPC_ERR_MAX];
	const char *s;
	size_t len;

	(void)state;
	pair_open(&p, &taskrunner_channel);
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_str(&w, "uid out of range", 16);
	assert_false(w.overflow);
	assert_int_equal(ipc_send(&p.sup, TR_PRIVOP_FAIL, 3, w.buf, w.len, -1),
	    0);
	assert_int_equal(ipc_recv(&p.kid, &m, err, sizeof(err)), 1);
	ipc_reader_init(&r, &m);
	s = ipc_get_str(&r, PRIVOP_REASON_MAX, &len);
	assert_non_null(s);
	assert_int_equal(len, 16);
	assert_memory_equal(s, "uid out of range", 16);
	assert_true(ipc_get_end(&r));
	pair_close(&p);
}

static void
test_refuses_unknown_type(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, &keyholder_channel);
	send_hdr(p.kid.sock, 999, IPC_HDR_SIZE, 0, IPC_HDR_SIZE, NULL, 0);
	expect_refused(&p.sup, "unknown message type 999");
	pair_close(&p);
}

static void
test_refuses_wrong_direction(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, &keyholder_channel);
	/* SHUTDOWN goes to children; a child may not send it. */
	send_hdr(p.kid.sock, MSG_SHUTDOWN, IPC_HDR_SIZE, 0, IPC_HDR_SIZE,
	    NULL, 0);
	expect_refused(&p.sup, "unknown message type");
	pair_close(&p);
}

static void
test_refuses_length_mismatch(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, &keyholder_channel);
	send_hdr(p.sup.sock, MSG_PING, IPC_HDR_SIZE + 8, 0, IPC_HDR_SIZE + 4,
	    NULL, 0);
	expect_refused(&p.kid, "header says 24 bytes, received 20");
	pair_close(&p);
}

static void
test_refuses_short_message(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, &keyholder_channel);
	send_raw(p.sup.sock, "abc", 3, NULL, 0);
	expect_refused(&p.kid, "short message (3 bytes)");
	pair_close(&p);
}

static void
test_refuses_oversized_message(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, &keyholder_channel);
	send_hdr(p.sup.sock, MSG_PING, 5000, 0, 5000, NULL, 0);
	expect_refused(&p.kid, "larger than the channel limit");
	pair_close(&p);
}

static void
test_refuses_payload_size_out_of_bounds(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, &keyholder_channel);
	send_hdr(p.sup.sock, MSG_PING, IPC_HDR_SIZE + 4, 0, IPC_HDR_SIZE + 4,
	    NULL, 0);
	expect_refused(&p.kid, "PING with 4 payload bytes, expected 8..8");
	pair_close(&p);
}

static void
test_refuses_unknown_flags(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, &keyholder_channel);
	send_hdr(p.sup.sock, MSG_SHUTDOWN, IPC_HDR_SIZE, 0x80, IPC_HDR_SIZE,
	    NULL, 0);
	expect_refused(&p.kid, "unknown flags 0x80");
	pair_close(&p);
}

static void
test_refuses_fd_where_none_allowed_and_closes_it(void **state)
{
	struct pair p;
	int pfd[2];

	(void)state;
	pair_open(&p, &keyholder_channel);
	assert_int_equal(pipe(pfd), 0);
	send_hdr(p.sup.sock, MSG_SHUTDOWN, IPC_HDR_SIZE, IPC_F_FD,
	    IPC_HDR_SIZE, &pfd[1], 1);
	close(pfd[1]);
	expect_refused(&p.kid, "SHUTDOWN carries an fd");
	/* The receiver closed the copy it was given. */
	assert_true(pipe_has_no_writer(pfd[0]));
	close(pfd[0]);
	pair_close(&p);
}

static void
test_refuses_fd_without_flag(void **state)
{
	struct pair p;
	int pfd[2];

	(void)state;
	pair_open(&p, &taskrunner_channel);
	assert_int_equal(pipe(pfd), 0);
	send_hdr(p.sup.sock, TR_TASKDIR, IPC_HDR_SIZE, 0, IPC_HDR_SIZE,
	    &pfd[1], 1);
	close(pfd[1]);
	expect_refused(&p.kid, "fd flag does not match the fd received");
	assert_true(pipe_has_no_writer(pfd[0]));
	close(pfd[0]);
	pair_close(&p);
}

static void
test_refuses_missing_fd(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, &taskrunner_channel);
	send_hdr(p.sup.sock, TR_TASKDIR, IPC_HDR_SIZE, 0, IPC_HDR_SIZE, NULL,
	    0);
	expect_refused(&p.kid, "TASKDIR arrived without its fd");
	pair_close(&p);
}

static void
test_refuses_flag_without_fd(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, &taskrunner_channel);
	send_hdr(p.sup.sock, TR_TASKDIR, IPC_HDR_SIZE, IPC_F_FD, IPC_HDR_SIZE,
	    NULL, 0);
	expect_refused(&p.kid, "fd flag does not match the absence of an fd");
	pair_close(&p);
}

static void
test_refuses_two_fds_and_closes_both(void **state)
{
	struct pair p;
	int a[2], b[2], fds[2];

	(void)state;
	pair_open(&p, &taskrunner_channel);
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	fds[0] = a[1];
	fds[1] = b[1];
	send_hdr(p.sup.sock, TR_TASKDIR, IPC_HDR_SIZE, IPC_F_FD, IPC_HDR_SIZE,
	    fds, 2);
	close(a[1]);
	close(b[1]);
	expect_refused(&p.kid, "fds");
	assert_true(pipe_has_no_writer(a[0]));
	assert_true(pipe_has_no_writer(b[0]));
	close(a[0]);
	close(b[0]);
	pair_close(&p);
}

static void
test_decode_rejects_every_truncation(void **state)
{
	uint8_t buf[IPC_HDR_SIZE + 8];
	struct ipc_hdr h = { MSG_PING, sizeof(buf), 1, 0 };
	struct ipc_msg m;
	char err[IPC_ERR_MAX];

	(void)state;
	memcpy(buf, &h, sizeof(h));
	memset(buf + IPC_HDR_SIZE, 0xab, 8);
	assert_int_equal(ipc_decode(&keyholder_channel, IPC_TO_CHILD, buf,
	    sizeof(buf), false, &m, err, sizeof(err)), 0);
	for (size_t n = 0; n < sizeof(buf); n++)
		assert_int_equal(ipc_decode(&keyholder_channel, IPC_TO_CHILD,
		    buf, n, false, &m, err, sizeof(err)), -1);
}

static void
test_eof_when_peer_closes(void **state)
{
	struct pair p;
	struct ipc_msg m;
	char err[IPC_ERR_MAX];

	(void)state;
	pair_open(&p, &keyholder_channel);
	close(p.sup.sock);
	p.sup.sock = -1;
	assert_int_equal(ipc_recv(&p.kid, &m, err, sizeof(err)), 0);
	pair_close(&p);
}

static void
test_nonblocking_recv_reports_nothing_waiting(void **state)
{
	struct pair p;
	struct ipc_msg m;
	char err[IPC_ERR_MAX];

	(void)state;
	pair_open(&p, &keyholder_channel);
	fcntl(p.sup.sock, F_SETFL, O_NONBLOCK);
	assert_int_equal(ipc_recv(&p.sup, &m, err, sizeof(err)), -2);
	pair_close(&p);
}

static void
test_send_refuses_invalid_messages(void **state)
{
	struct pair p;
	uint64_t nonce = 1;
	int fd = open("/dev/null", O_RDONLY);

	(void)state;
	pair_open(&p, &taskrunner_channel);
	/* wrong direction: PONG is sent by children */
	assert_int_equal(ipc_send(&p.sup, MSG_PONG, 1, &nonce, 8, -1), -1);
	assert_int_equal(errno, EINVAL);
	/* wrong size */
	assert_int_equal(ipc_send(&p.sup, MSG_PING, 1, &nonce, 4, -1), -1);
	/* fd missing, fd extra, unknown type */
	assert_int_equal(ipc_send(&p.sup, TR_TASKDIR, 1, NULL, 0, -1), -1);
	assert_int_equal(ipc_send(&p.sup, MSG_SHUTDOWN, 1, NULL, 0, fd), -1);
	assert_int_equal(ipc_send(&p.sup, 999, 1, NULL, 0, -1), -1);
	close(fd);
	pair_close(&p);
}

static void
test_reader_is_strict(void **state)
{
	uint8_t buf[32];
	struct ipc_writer w;
	struct ipc_msg m = { .payload = buf };
	struct ipc_reader r;
	size_t len;

	(void)state;
	/* A string with a NUL inside. */
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_str(&w, "a\0b", 3);
	m.payload_len = w.len;
	ipc_reader_init(&r, &m);
	assert_null(ipc_get_str(&r, 16, &len));
	assert_false(ipc_get_end(&r));
	/* Longer than the caller allows. */
	ipc_reader_init(&r, &m);
	assert_null(ipc_get_str(&r, 2, &len));
	/* Reading past the end fails and stays failed. */
	ipc_reader_init(&r, &m);
	(void)ipc_get_u64(&r);
	(void)ipc_get_u64(&r);
	assert_false(ipc_get_end(&r));
	/* Trailing bytes are not an end. */
	ipc_reader_init(&r, &m);
	(void)ipc_get_u32(&r);
	assert_false(ipc_get_end(&r));
	/* The writer refuses to overflow. */
	ipc_writer_init(&w, buf, 6);
	ipc_put_str(&w, "abc", 3);
	assert_true(w.overflow);
}

static int
dummy_handler(void *ctx, struct ipc_msg *m)
{
	(void)ctx;
	(void)m;
	return 0;
}

static void
test_dispatch_checks_state(void **state)
{
	static const struct ipc_handler tbl[] = {
		{ MSG_PING, 0x2, dummy_handler },
	};
	struct ipc_msg m = { .hdr = { .type = MSG_PING },
	    .spec = &keyholder_msgs[1] };
	struct ipc_msg other = { .hdr = { .type = MSG_SHUTDOWN },
	    .spec = &keyholder_msgs[3] };
	char err[IPC_ERR_MAX];

	(void)state;
	assert_non_null(ipc_lookup(tbl, 1, 0x2, &m, err, sizeof(err)));
	assert_null(ipc_lookup(tbl, 1, 0x1, &m, err, sizeof(err)));
	assert_non_null(strstr(err, "PING not allowed in state 0x1"));
	assert_null(ipc_lookup(tbl, 1, 0x2, &other, err, sizeof(err)));
	assert_non_null(strstr(err, "SHUTDOWN has no handler"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_ping),
		cmocka_unit_test(test_fd_passed_with_cloexec),
		cmocka_unit_test(test_string_payload_roundtrip),
		cmocka_unit_test(test_refuses_unknown_type),
		cmocka_unit_test(test_refuses_wrong_direction),
		cmocka_unit_test(test_refuses_length_mismatch),
		cmocka_unit_test(test_refuses_short_message),
		cmocka_unit_test(test_refuses_oversized_message),
		cmocka_unit_test(test_refuses_payload_size_out_of_bounds),
		cmocka_unit_test(test_refuses_unknown_flags),
		cmocka_unit_test(test_refuses_fd_where_none_allowed_and_closes_it),
		cmocka_unit_test(test_refuses_fd_without_flag),
		cmocka_unit_test(test_refuses_missing_fd),
		cmocka_unit_test(test_refuses_flag_without_fd),
		cmocka_unit_test(test_refuses_two_fds_and_closes_both),
		cmocka_unit_test(test_decode_rejects_every_truncation),
		cmocka_unit_test(test_eof_when_peer_closes),
		cmocka_unit_test(test_nonblocking_recv_reports_nothing_waiting),
		cmocka_unit_test(test_send_refuses_invalid_messages),
		cmocka_unit_test(test_reader_is_strict),
		cmocka_unit_test(test_dispatch_checks_state),
	};

	return cmocka_run_group_tests_name("ipc", tests, NULL, NULL);
}
