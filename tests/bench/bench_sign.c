/*
 * bench_sign BUILD_DIR: the signing round trip (supervisor -> keyholder ->
 * back: a sealed memfd of a 64 KiB chain-of-trust document, the
 * announcement, the signature) with the real keyholder, against the same
 * work (the signature and the SHA-256 the keyholder logs) done in this
 * process.  Each run is its own runId (the keyholder signs a run once);
 * the documents are built before timing.  Medians of many runs; prints
 * both and the ratio.
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/chan_keyholder.h"
#include "common/edkey.h"
#include "common/memfd.h"
#include "common/util.h"
#include "supervisor/cot.h"
#include "supervisor/spawn.h"

#define RUNS	400
#define DOC	(64u << 10)

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void
expect(struct ipc_conn *c, uint32_t type, struct ipc_msg *m)
{
	char err[IPC_ERR_MAX];

	if (ipc_recv(c, m, err, sizeof(err)) != 1 || m->hdr.type != type) {
		fprintf(stderr, "bench_sign: unexpected answer: %s\n", err);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/sepworker-bench-key.XXXXXX", keyfile[64], ppid[16];
	char seedb64[EDKEY_B64_LEN + 1], err[256], *task, *doc[RUNS];
	unsigned char seed[32], pk[32], sk[64], sig[64], digest[32];
	double ipc[RUNS], local[RUNS];
	uint8_t ann[RUNS][64];
	size_t ann_len[RUNS], len[RUNS];
	struct ipc_writer w;
	struct ipc_conn conn;
	struct ipc_msg m;
	size_t n;
	int sv[2], lp[2], devnull, fd, pidfd;

	if (argc != 2 || sodium_init() < 0 || mkdtemp(dir) == NULL)
		return 2;
	/* A throwaway key, given to the keyholder as a worker gives it. */
	randombytes_buf(seed, sizeof(seed));
	edkey_encode(seed, seedb64);
	snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
	fd = open(keyfile, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd == -1 || write_all(fd, seedb64, EDKEY_B64_LEN) == -1)
		return 2;
	close(fd);
	crypto_sign_seed_keypair(pk, sk, seed);
	/* A 64 KiB document: a task definition padded out. */
	task = xmalloc(DOC);
	n = (size_t)snprintf(task, DOC, "{\n  \"pad\": \"");
	memset(task + n, 'x', DOC - n - 8);
	strcpy(task + DOC - 8, "\"\n}");
	for (uint32_t i = 0; i < RUNS; i++) {
		doc[i] = cot_build(NULL, 0, task, strlen(task),
		    &(struct cot_facts){ .task_id = "bench", .run_id = i,
		    .worker_group = "g", .worker_id = "w", .public_ip = "",
		    .private_ip = "", .instance_id = "", .instance_type = "",
		    .region = "" }, NULL, &len[i]);
		ipc_writer_init(&w, ann[i], sizeof(ann[i]));
		ipc_put_u32(&w, i);
		ipc_put_str(&w, "bench", 5);
		ann_len[i] = w.len;
	}
	free(task);
	snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
	char *cargv[] = { "keyholder", "--uid", "64501", "--gid", "64501",
	    "--ppid", ppid, "--key-file", keyfile, NULL };
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    pipe2(lp, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return 2;
	struct spawn_spec spec = { .binfd = spawn_open_binary(argv[1],
	    "keyholder", err, sizeof(err)), .argv = cargv, .sock = sv[1],
	    .logw = lp[1], .devnull = devnull };
	if (spec.binfd == -1 || spawn_child(&spec, &pidfd) == -1) {
		fprintf(stderr, "bench_sign: %s\n", err);
		return 2;
	}
	close(sv[1]);
	close(lp[1]);
	ipc_conn_init(&conn, sv[0], &keyholder_channel, IPC_TO_SUPERVISOR);
	expect(&conn, MSG_READY, &m);
	for (int i = 0; i < RUNS; i++) {
		double t0 = now_us();

		if ((fd = memfd_sealed("doc", doc[i], len[i])) == -1 ||
		    ipc_send(&conn, KH_ANNOUNCE, 0, ann[i], ann_len[i], -1) ==
		    -1 ||
		    ipc_send(&conn, KH_SIGN_REQ, 1, NULL, 0, fd) == -1)
			return 2;
		expect(&conn, KH_SIGNATURE, &m);
		ipc[i] = now_us() - t0;
		close(fd);
		if (crypto_sign_verify_detached(m.payload,
		    (unsigned char *)doc[i], len[i], pk) != 0)
			return 3;
		drain(lp[0]);
		t0 = now_us();
		crypto_sign_detached(sig, NULL, (unsigned char *)doc[i],
		    len[i], sk);
		crypto_hash_sha256(digest, (unsigned char *)doc[i], len[i]);
		local[i] = now_us() - t0;
	}
	ipc_send(&conn, MSG_SHUTDOWN, 2, NULL, 0, -1);
	qsort(ipc, RUNS, sizeof(double), cmp_double);
	qsort(local, RUNS, sizeof(double), cmp_double);
	printf("signing a %zu-byte document: keyholder round trip p50 %.0f us; "
	    "in-process p50 %.0f us; ratio %.2f (target <= 2.00)\n", len[0],
	    ipc[RUNS / 2], local[RUNS / 2], ipc[RUNS / 2] / local[RUNS / 2]);
	for (int i = 0; i < RUNS; i++)
		free(doc[i]);
	unlink(keyfile);
	rmdir(dir);
	return 0;
}
