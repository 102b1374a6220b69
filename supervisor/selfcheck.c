/*
 * `sepworker selfcheck`: start the three children, show from /proc what
 * each process may do, check that they are separated as designed, ping
 * each over its control socket, and stop them all.  What it reports is
 * read from the kernel, not from what the children say about themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/chan_keyholder.h"
#include "common/edkey.h"
#include "common/memfd.h"
#include "common/util.h"
#include "supervisor/cot.h"
#include "supervisor/exitcodes.h"
#include "supervisor/keys.h"
#include "supervisor/selfcheck.h"
#include "supervisor/supervisor.h"

#define READY_TIMEOUT_MS	10000
#define PING_TIMEOUT_MS		5000

struct proc_facts {
	pid_t		 pid;
	unsigned long	 uid[4];	/* real, effective, saved, fs */
	unsigned long	 gid[4];
	int		 nonewprivs;
	int		 seccomp;
	uint64_t	 cap[5];	/* inh, prm, eff, bnd, amb */
	int		 dumpable;	/* 1, 0, or -1: cannot tell */
};

static const char *const cap_keys[5] = {
	"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"
};

static int
proc_facts_read(pid_t pid, struct proc_facts *f)
{
	char path[64], buf[8192], *line, *save = NULL;
	struct stat st;
	ssize_t n;
	int fd;

	memset(f, 0, sizeof(*f));
	f->pid = pid;
	f->nonewprivs = f->seccomp = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read_all(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		sscanf(line, "Uid: %lu %lu %lu %lu", &f->uid[0], &f->uid[1],
		    &f->uid[2], &f->uid[3]);
		sscanf(line, "Gid: %lu %lu %lu %lu", &f->gid[0], &f->gid[1],
		    &f->gid[2], &f->gid[3]);
		sscanf(line, "NoNewPrivs: %d", &f->nonewprivs);
		sscanf(line, "Seccomp: %d", &f->seccomp);
		for (int i = 0; i < 5; i++) {
			size_t klen = strlen(cap_keys[i]);

			if (strncmp(line, cap_keys[i], klen) == 0 &&
			    line[klen] == ':')
				f->cap[i] = strtoull(line + klen + 1, NULL, 16);
		}
	}
	/* The kernel gives the files in /proc/<pid> to root when a process
	 * is not dumpable; for a root process that tells nothing. */
	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)pid);
	if (pid == getpid())
		f->dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	else if (stat(path, &st) == -1 || f->uid[1] == 0)
		f->dumpable = -1;
	else
		f->dumpable = st.st_uid == f->uid[1];
	return 0;
}

static void
print_facts(const char *name, const struct proc_facts *f)
{
	printf("  %-11s %-7ld %-7lu %-11d %-8d %016" PRIx64 " %016" PRIx64
	    " %s\n", name, (long)f->pid, f->uid[1], f->nonewprivs, f->seccomp,
	    f->cap[2], f->cap[3], f->dumpable < 0 ? "?" :
	    f->dumpable ? "yes" : "no");
}

struct verdict {
	int	failed;
};

static void
check(struct verdict *v, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
check(struct verdict *v, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("  %-4s ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		v->failed++;
}

static void
check_separation(struct supervisor *s, struct verdict *v)
{
	struct proc_facts f[NSTANDING], self;
	bool root = geteuid() == 0;

	printf("\n  %-11s %-7s %-7s %-11s %-8s %-16s %-16s %s\n", "process",
	    "pid", "uid", "NoNewPrivs", "Seccomp", "CapEff", "CapBnd",
	    "dumpable");
	proc_facts_read(getpid(), &self);
	print_facts("supervisor", &self);
	for (int i = 0; i < NSTANDING; i++) {
		if (proc_facts_read(s->kids[i].pid, &f[i]) == -1)
			fatal("reading /proc of %s", s->kids[i].name);
		print_facts(s->kids[i].name, &f[i]);
	}
	printf("\n");
	if (root) {
		const uint32_t want[NSTANDING] = { s->cfg->keyholder_uid,
		    s->cfg->proxyd_uid, s->cfg->taskrunner_uid };
		bool ok = true;

		for (int i = 0; i < NSTANDING; i++)
			for (int j = 0; j < 4; j++)
				if (f[i].uid[j] != want[i] ||
				    f[i].gid[j] != want[i])
					ok = false;
		check(v, ok && want[0] != want[1] && want[1] != want[2] &&
		    want[0] != want[2], "keyholder, proxyd and taskrunner run "
		    "under their own uids and gids (%u, %u, %u), none root",
		    want[0], want[1], want[2]);
	} else
		printf("  skip uid separation: not started as root, so the "
		    "children keep uid %u\n", geteuid());
	for (int i = 0; i < NSTANDING; i++) {
		bool nocaps = f[i].cap[0] == 0 && f[i].cap[1] == 0 &&
		    f[i].cap[2] == 0 && f[i].cap[4] == 0 &&
		    (!root || f[i].cap[3] == 0);

		check(v, f[i].nonewprivs == 1 && f[i].seccomp == 2 && nocaps &&
		    f[i].dumpable == 0, "%s: no_new_privs, a seccomp filter, "
		    "no capabilities%s, not dumpable", s->kids[i].name,
		    root ? " (bounding set empty)" : "");
	}
}

/*
 * With a signing key: the keyholder's public key, and one signature over
 * a chain-of-trust document for a task named "selfcheck", checked here
 * against that key.
 */
static void
check_signing(struct supervisor *s, struct verdict *v)
{
	const struct cot_facts facts = { .task_id = "selfcheck", .run_id = 0,
	    .worker_group = s->cfg->worker_group, .worker_id = "selfcheck",
	    .public_ip = "", .private_ip = "", .instance_id = "",
	    .instance_type = "", .region = "" };
	uint8_t ann[4 + 4 + 16];
	struct kh_answer pub, sig;
	struct ipc_writer w;
	char b64[EDKEY_B64_LEN + 1], *doc;
	size_t len;
	int fd;

	if (*s->cfg->ed25519_signing_key_location == '\0') {
		printf("  skip chain-of-trust signing: no "
		    "ed25519SigningKeyLocation configured\n");
		return;
	}
	if (supervisor_keyholder_call(s, KH_PUBKEY_REQ, NULL, 0, -1, 5000,
	    &pub) != 0) {
		check(v, false, "keyholder: public key (%s)", pub.reason);
		return;
	}
	edkey_encode(pub.data, b64);
	doc = cot_build(NULL, 0, "{}", 2, &facts, NULL, &len);
	ipc_writer_init(&w, ann, sizeof(ann));
	ipc_put_u32(&w, 0);
	ipc_put_str(&w, "selfcheck", 9);
	fd = memfd_sealed("selfcheck.json", doc, len);
	if (fd == -1 || supervisor_keyholder_call(s, KH_ANNOUNCE, w.buf,
	    w.len, -1, 5000, &sig) != 0 || supervisor_keyholder_call(s,
	    KH_SIGN_REQ, NULL, 0, fd, 5000, &sig) != 0)
		check(v, false, "keyholder: signing a test chain-of-trust "
		    "document (%s)", sig.reason);
	else
		check(v, crypto_sign_verify_detached(sig.data,
		    (unsigned char *)doc, len, pub.data) == 0, "keyholder "
		    "signed a test chain-of-trust document; it verifies with "
		    "public key %s", b64);
	if (fd >= 0)
		close(fd);
	free(doc);
}

int
selfcheck_run(const struct sw_config *cfg, bool hold)
{
	struct supervisor s;
	struct verdict v = { 0 };
	char err[512], how[256];
	bool clean;

	if (*cfg->ed25519_signing_key_location != '\0' &&
	    secret_file_problem(cfg, cfg->ed25519_signing_key_location,
	    cfg->keyholder_uid, err, sizeof(err)) != NULL) {
		log_errorx("ed25519SigningKeyLocation: %s", err);
		return EXIT_MISSING_KEY;
	}
	if (supervisor_init(&s, cfg, err, sizeof(err)) == -1) {
		log_errorx("%s", err);
		return EXIT_INTERNAL_ERROR;
	}
	for (int i = 0; i < NSTANDING; i++)
		if (supervisor_spawn(&s, (enum role)i) == -1) {
			supervisor_shutdown(&s);
			return EXIT_INTERNAL_ERROR;
		}
	if (supervisor_wait_ready(&s, READY_TIMEOUT_MS) == -1 ||
	    supervisor_ping_all(&s, PING_TIMEOUT_MS) == -1) {
		supervisor_shutdown(&s);
		return s.exit_code ? s.exit_code : EXIT_INTERNAL_ERROR;
	}
	printf("sepworker selfcheck: supervisor (pid %ld) started keyholder, "
	    "proxyd and taskrunner\n", (long)getpid());
	check_separation(&s, &v);
	check(&v, true, "every child answered a PING on its control socket");
	check_signing(&s, &v);
	fflush(stdout);
	if (hold) {
		log_info("holding until SIGTERM or SIGINT");
		supervisor_run(&s);
	}
	clean = supervisor_shutdown(&s);
	printf("\nshutdown:\n");
	for (int i = 0; i < NSTANDING; i++) {
		child_describe_end(&s.kids[i], how, sizeof(how));
		check(&v, s.kids[i].reaped && s.kids[i].exit_signal == 0 &&
		    s.kids[i].exit_code == 0, "%s (pid %ld) %s",
		    s.kids[i].name, (long)s.kids[i].pid, how);
	}
	check(&v, clean, "all three children stopped on request and were "
	    "reaped: no process is left");
	if (s.exit_code != EXIT_OK)
		return s.exit_code;
	printf("\n%s\n", v.failed ? "selfcheck FAILED" :
	    "selfcheck passed: four processes, separated, stopped cleanly");
	return v.failed ? EXIT_CHECK_FAILED : EXIT_OK;
}
