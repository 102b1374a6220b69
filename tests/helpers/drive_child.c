/*
 * drive_child DIR ROLE UID CASE [KEYFILE]: start DIR/ROLE the way the
 * supervisor does (supervisor/spawn.c), wait for READY, then act out CASE
 * and check how the child answers.  The child's log lines are copied to
 * stderr.  Exits 0 when the child behaved as it must, 1 otherwise.  With
 * KEYFILE, the child (the keyholder) is given --key-file KEYFILE.
 *
 *	ping		PING gets the same nonce back; SHUTDOWN ends it with 0
 *	eof		closing its socket ends it with 0
 *	unknown-type	a message type not in its table: exit 3
 *	oversize	a message larger than the channel allows: exit 3
 *	bad-length	a header whose length lies: exit 3
 *	fd-on-ping	a PING carrying an fd: exit 3
 *	wrong-way	a message only a child may send (PONG): exit 3
 *
 * The keyholder's signing policy (keyholder/main.c, keyholder/sign.c),
 * each ending with SHUTDOWN and exit 0.  Every signature is checked with
 * crypto_sign_verify_detached against the PUBKEY the keyholder gave, and
 * the SHA-256 it returns against the document's.  Each refusal is
 * followed by a request that must be signed, so a refusal for some other
 * reason (or none at all) is caught:
 *
 *	sign-ok		PUBKEY; ANNOUNCE; a proper document is signed
 *	sign-non-cot	empty, not a chain-of-trust document, a proper one
 *			with a trailing newline, one holding a NUL byte:
 *			REFUSED; then a proper one is signed
 *	sign-oversized	KH_DOCUMENT_MAX + 1 bytes: REFUSED; exactly
 *			KH_DOCUMENT_MAX bytes: signed
 *	sign-unsealed	an unsealed memfd, one sealed against writing and
 *			shrinking but not growing: REFUSED; sealed: signed
 *	sign-other-task	another taskId, another runId, a taskId the
 *			announced one is a prefix of: REFUSED; then signed
 *	sign-unannounced SIGN_REQ before any ANNOUNCE: REFUSED; after: signed
 *	sign-twice	signed; the same document again, and another one for
 *			the same task: REFUSED; the next task announced: signed
 *	sign-reannounce	signed; the same task and run announced again,
 *			after another task and directly: REFUSED each time;
 *			the same task's next run: signed
 *	sign-nokey	(no KEYFILE) PUBKEY_REQ and SIGN_REQ: REFUSED
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/chan_keyholder.h"
#include "common/chan_proxyd.h"
#include "common/chan_taskrunner.h"
#include "common/child.h"
#include "common/memfd.h"
#include "supervisor/cot.h"
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

/* --- the keyholder's signing policy --- */

#define TASK_A	"Zc6kM0p9R0ucbdE0y2f0Fw"
#define TASK_B	"bA3lTl6rQWuP1M1x8QO2nw"

static uint32_t		next_id = 100;
static unsigned char	pubkey[32];

/* A document as the supervisor composes one (supervisor/cot.c), for
 * task_id/run, with task (task_len bytes) as the task's definition. */
static char *
document(const char *task_id, uint32_t run, const char *task,
    size_t task_len, size_t *len)
{
	struct cot_artifact arts[] = {
		{ "public/logs/certified.log", "9877e6e5c27a859eed2c8f5b2b17e0"
		    "1aea9d0187bd828e603e7fa77e58b70285" },
		{ "public/build/X.txt", "8308d593eb56527137532595a60255a3fcfbe"
		    "4b6b068e29b22d99742bad80f6f" },
	};
	struct cot_facts f = { .task_id = task_id, .run_id = run,
	    .worker_group = "test-group", .worker_id = "test-worker",
	    .public_ip = "", .private_ip = "10.0.0.5", .instance_id = "i-1",
	    .instance_type = "t", .region = "r" };

	return cot_build(arts, 2, task, task_len, &f, NULL, len);
}

static char *
proper(const char *task_id, uint32_t run, size_t *len)
{
	static const char task[] = "{\n  \"payload\": {\n    \"command\": "
	    "[[\"true\"]]\n  }\n}";

	return document(task_id, run, task, sizeof(task) - 1, len);
}

/*
 * Send a request; wait for the answer to it.  Returns its type, its
 * payload copied to ans (at most anscap bytes, *anslen set), or 0 when
 * nothing (or something else) came back.
 */
static uint32_t
call(struct ipc_conn *c, uint32_t type, const void *p, size_t len, int fd,
    uint8_t *ans, size_t anscap, size_t *anslen)
{
	char err[IPC_ERR_MAX];
	struct ipc_msg m;
	uint32_t id = next_id++;

	*anslen = 0;
	if (ipc_send(c, type, id, p, len, fd) == -1) {
		fprintf(stderr, "drive_child: sending: %s\n", strerror(errno));
		return 0;
	}
	if (ipc_recv(c, &m, err, sizeof(err)) != 1) {
		fprintf(stderr, "drive_child: no answer: %s\n", err);
		return 0;
	}
	if (m.hdr.id != id) {
		fprintf(stderr, "drive_child: answer to %u, expected %u\n",
		    m.hdr.id, id);
		return 0;
	}
	*anslen = m.payload_len < anscap ? m.payload_len : anscap;
	memcpy(ans, m.payload, *anslen);
	if (m.fd >= 0)
		close(m.fd);
	if (m.hdr.type == KH_REFUSED) {
		struct ipc_reader r;
		const char *why;
		size_t n;

		ipc_reader_init(&r, &m);
		why = ipc_get_str(&r, KH_REASON_MAX, &n);
		fprintf(stderr, "drive_child: REFUSED: %.*s\n", (int)n,
		    why ? why : "");
	}
	return m.hdr.type;
}

/* PUBKEY: kept for the checks, and shown for the shell test to compare. */
static int
get_pubkey(struct ipc_conn *c)
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	uint8_t ans[64];
	size_t n;

	if (call(c, KH_PUBKEY_REQ, NULL, 0, -1, ans, sizeof(ans), &n) !=
	    KH_PUBKEY || n != 32) {
		fprintf(stderr, "drive_child: no PUBKEY\n");
		return -1;
	}
	memcpy(pubkey, ans, 32);
	sodium_bin2base64(b64, sizeof(b64), pubkey, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	fprintf(stderr, "drive_child: PUBKEY %s\n", b64);
	return 0;
}

static int
announce(struct ipc_conn *c, const char *task_id, uint32_t run)
{
	uint8_t buf[4 + 4 + KH_TASK_ID_MAX];
	struct ipc_writer w;

	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_u32(&w, run);
	ipc_put_str(&w, task_id, strlen(task_id));
	/* ANNOUNCE has no answer; the next request is served after it. */
	if (ipc_send(c, KH_ANNOUNCE, next_id++, w.buf, w.len, -1) == -1)
		return -1;
	return 0;
}

/* SIGN_REQ over fd, which holds doc: SIGNATURE, and it verifies. */
static int
expect_signed(struct ipc_conn *c, int fd, const char *doc, size_t len,
    const char *what)
{
	unsigned char digest[32];
	uint8_t ans[KH_REASON_MAX + 8];
	size_t n;
	uint32_t t = call(c, KH_SIGN_REQ, NULL, 0, fd, ans, sizeof(ans), &n);

	close(fd);
	if (t != KH_SIGNATURE || n != 64 + 32) {
		fprintf(stderr, "drive_child: %s: not signed\n", what);
		return -1;
	}
	crypto_hash_sha256(digest, (const unsigned char *)doc, len);
	if (crypto_sign_verify_detached(ans, (const unsigned char *)doc, len,
	    pubkey) != 0) {
		fprintf(stderr, "drive_child: %s: the signature does not "
		    "verify with the keyholder's public key\n", what);
		return -1;
	}
	if (memcmp(ans + 64, digest, 32) != 0) {
		fprintf(stderr, "drive_child: %s: the SHA-256 it returned is "
		    "not the document's\n", what);
		return -1;
	}
	fprintf(stderr, "drive_child: %s: signed, and it verifies\n", what);
	return 0;
}

static int
expect_refused(struct ipc_conn *c, int fd, const char *what)
{
	uint8_t ans[KH_REASON_MAX + 8];
	size_t n;
	uint32_t t = call(c, KH_SIGN_REQ, NULL, 0, fd, ans, sizeof(ans), &n);

	if (fd >= 0)
		close(fd);
	if (t != KH_REFUSED) {
		fprintf(stderr, "drive_child: %s: %s\n", what, t == KH_SIGNATURE ?
		    "SIGNED, must be refused" : "no REFUSED");
		return -1;
	}
	return 0;
}

/* A sealed memfd holding buf; exits on failure. */
static int
sealed(const void *buf, size_t len)
{
	int fd = memfd_sealed("document", buf, len);

	if (fd == -1) {
		fprintf(stderr, "drive_child: memfd: %s\n", strerror(errno));
		exit(2);
	}
	return fd;
}

/* A memfd holding buf with only the given seals. */
static int
memfd_with_seals(const void *buf, size_t len, int seals)
{
	int fd = memfd_create("document", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd == -1 || write(fd, buf, len) != (ssize_t)len ||
	    (seals != 0 && fcntl(fd, F_ADD_SEALS, seals) == -1)) {
		fprintf(stderr, "drive_child: memfd: %s\n", strerror(errno));
		exit(2);
	}
	return fd;
}

/* A proper document for task_id/run: signed. */
static int
sign_proper(struct ipc_conn *c, const char *task_id, uint32_t run,
    const char *what)
{
	size_t len;
	char *doc = proper(task_id, run, &len);
	int rc = expect_signed(c, sealed(doc, len), doc, len, what);

	free(doc);
	return rc;
}

/* A proper document of exactly size bytes, for task_id/run 0. */
static char *
sized(const char *task_id, size_t size, size_t *len)
{
	static const char head[] = "{\"pad\": \"", tail[] = "\"}";
	char *task, *doc;
	size_t base, pad;

	free(document(task_id, 0, "{\"pad\": \"\"}", 11, &base));
	pad = size - base;
	task = malloc(sizeof(head) - 1 + pad + sizeof(tail));
	if (task == NULL)
		exit(2);
	memcpy(task, head, sizeof(head) - 1);
	memset(task + sizeof(head) - 1, 'a', pad);
	memcpy(task + sizeof(head) - 1 + pad, tail, sizeof(tail));
	doc = document(task_id, 0, task, strlen(task), len);
	free(task);
	if (*len != size) {
		fprintf(stderr, "drive_child: built %zu bytes, wanted %zu\n",
		    *len, size);
		exit(2);
	}
	return doc;
}

/* Act out a sign-* case; -1 if the keyholder misbehaved, -2 if unknown. */
static int
keyholder_case(struct ipc_conn *c, const char *cse)
{
	uint8_t ans[KH_REASON_MAX + 8];
	size_t len, n;
	char *doc;
	int bad = 0;

	if (sodium_init() < 0)
		exit(2);
	if (strcmp(cse, "sign-nokey") == 0) {
		doc = proper(TASK_A, 0, &len);
		if (call(c, KH_PUBKEY_REQ, NULL, 0, -1, ans, sizeof(ans),
		    &n) != KH_REFUSED)
			bad = -1;
		if (announce(c, TASK_A, 0) == -1 ||
		    expect_refused(c, sealed(doc, len), "no key") == -1)
			bad = -1;
		free(doc);
		return bad;
	}
	if (get_pubkey(c) == -1)
		return -1;
	if (strcmp(cse, "sign-ok") == 0) {
		if (announce(c, TASK_A, 0) == -1)
			return -1;
		return sign_proper(c, TASK_A, 0, "a proper document");
	}
	if (strcmp(cse, "sign-non-cot") == 0) {
		static const char json[] = "{\"chainOfTrustVersion\": 1, "
		    "\"taskId\": \"" TASK_A "\", \"runId\": 0}";
		static const char nul_task[] = "{\"a\": \"x\0y\"}";
		char *nl;

		if (announce(c, TASK_A, 0) == -1)
			return -1;
		bad |= expect_refused(c, sealed("", 0), "an empty document");
		bad |= expect_refused(c, sealed(json, sizeof(json) - 1),
		    "a JSON object that is not our document");
		doc = proper(TASK_A, 0, &len);
		nl = malloc(len + 1);
		if (nl == NULL)
			exit(2);
		memcpy(nl, doc, len);
		nl[len] = '\n';
		bad |= expect_refused(c, sealed(nl, len + 1),
		    "a proper document with a trailing newline");
		free(nl);
		free(doc);
		doc = document(TASK_A, 0, nul_task, sizeof(nul_task) - 1,
		    &len);
		bad |= expect_refused(c, sealed(doc, len),
		    "a document holding a NUL byte");
		free(doc);
		bad |= sign_proper(c, TASK_A, 0, "then a proper document");
		return bad;
	}
	if (strcmp(cse, "sign-oversized") == 0) {
		if (announce(c, TASK_A, 0) == -1)
			return -1;
		doc = sized(TASK_A, KH_DOCUMENT_MAX + 1, &len);
		bad |= expect_refused(c, sealed(doc, len),
		    "a document of KH_DOCUMENT_MAX + 1 bytes");
		free(doc);
		doc = sized(TASK_A, KH_DOCUMENT_MAX, &len);
		bad |= expect_signed(c, sealed(doc, len), doc, len,
		    "a document of exactly KH_DOCUMENT_MAX bytes");
		free(doc);
		return bad;
	}
	if (strcmp(cse, "sign-unsealed") == 0) {
		if (announce(c, TASK_A, 0) == -1)
			return -1;
		doc = proper(TASK_A, 0, &len);
		bad |= expect_refused(c, memfd_with_seals(doc, len, 0),
		    "an unsealed memfd");
		bad |= expect_refused(c, memfd_with_seals(doc, len,
		    F_SEAL_WRITE | F_SEAL_SHRINK),
		    "a memfd that can still grow");
		bad |= expect_signed(c, sealed(doc, len), doc, len,
		    "the same document, sealed");
		free(doc);
		return bad;
	}
	if (strcmp(cse, "sign-other-task") == 0) {
		if (announce(c, TASK_A, 0) == -1)
			return -1;
		doc = proper(TASK_B, 0, &len);
		bad |= expect_refused(c, sealed(doc, len),
		    "a document for another task");
		free(doc);
		doc = proper(TASK_A, 1, &len);
		bad |= expect_refused(c, sealed(doc, len),
		    "a document for another run");
		free(doc);
		doc = proper(TASK_A "x", 0, &len);
		bad |= expect_refused(c, sealed(doc, len),
		    "a document for a taskId that begins with the announced "
		    "one");
		free(doc);
		bad |= sign_proper(c, TASK_A, 0, "then the announced task's");
		return bad;
	}
	if (strcmp(cse, "sign-unannounced") == 0) {
		doc = proper(TASK_A, 0, &len);
		bad |= expect_refused(c, sealed(doc, len),
		    "a document before any ANNOUNCE");
		free(doc);
		if (announce(c, TASK_A, 0) == -1)
			return -1;
		bad |= sign_proper(c, TASK_A, 0, "the same after ANNOUNCE");
		return bad;
	}
	if (strcmp(cse, "sign-twice") == 0) {
		static const char other[] = "{\"payload\": {}}";

		if (announce(c, TASK_A, 0) == -1)
			return -1;
		bad |= sign_proper(c, TASK_A, 0, "the first document");
		doc = proper(TASK_A, 0, &len);
		bad |= expect_refused(c, sealed(doc, len),
		    "the same document again");
		free(doc);
		doc = document(TASK_A, 0, other, sizeof(other) - 1, &len);
		bad |= expect_refused(c, sealed(doc, len),
		    "another document for the same task");
		free(doc);
		if (announce(c, TASK_B, 0) == -1)
			return -1;
		bad |= sign_proper(c, TASK_B, 0, "the next task announced");
		return bad;
	}
	if (strcmp(cse, "sign-reannounce") == 0) {
		if (announce(c, TASK_A, 0) == -1)
			return -1;
		bad |= sign_proper(c, TASK_A, 0, "the first run");
		if (announce(c, TASK_B, 0) == -1)
			return -1;
		bad |= sign_proper(c, TASK_B, 0, "another task");
		doc = proper(TASK_A, 0, &len);
		if (announce(c, TASK_A, 0) == -1)
			return -1;
		bad |= expect_refused(c, sealed(doc, len),
		    "the first run, announced again after another task");
		if (announce(c, TASK_A, 0) == -1)
			return -1;
		bad |= expect_refused(c, sealed(doc, len),
		    "the first run, announced again directly");
		free(doc);
		if (announce(c, TASK_A, 1) == -1)
			return -1;
		bad |= sign_proper(c, TASK_A, 1, "the same task's next run");
		return bad;
	}
	return -2;
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

	if (argc != 5 && argc != 6)
		return 2;
	dir = argv[1];
	role = argv[2];
	uid = argv[3];
	cse = argv[4];
	ch = strcmp(role, "keyholder") == 0 ? &keyholder_channel :
	    strcmp(role, "proxyd") == 0 ? &proxyd_channel : &taskrunner_channel;
	snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
	char *cargv[] = { (char *)role, "--uid", (char *)uid, "--gid",
	    (char *)uid, "--ppid", ppid, argc == 6 ? "--key-file" : NULL,
	    argc == 6 ? argv[5] : NULL, NULL };
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
	else if (strncmp(cse, "sign-", 5) == 0 && ch == &keyholder_channel) {
		int rc = keyholder_case(&conn, cse);

		if (rc == -2)
			return 2;
		if (rc != 0) {
			/* What the keyholder logged says why. */
			kill(pid, SIGKILL);
			wait_exit(pid);
			ipc_conn_free(&conn);
			return 1;
		}
		ipc_send(&conn, MSG_SHUTDOWN, next_id++, NULL, 0, -1);
		want = CHILD_EXIT_OK;
	} else
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
