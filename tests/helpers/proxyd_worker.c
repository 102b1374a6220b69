/*
 * proxyd_worker BUILD_DIR UID TASKPROXY_UID ROOT_URL PROVISIONER_ID
 *     WORKER_TYPE WORKER_GROUP WORKER_ID
 *
 * Start proxyd in worker mode the way the supervisor does (spawn.c,
 * running as UID, sandboxed), then read commands on stdin, one answer
 * line each:
 *	creds FILE	WORKER_CREDS from a JSON file {"clientId",
 *			"accessToken"[, "certificate"]}: "done" or
 *			"failed: why"
 *	claim FILE	CLAIM_WORK: "no-task: REASON", "failed: why", or
 *			"claimed TASKID RUNID TAKEN_UNTIL_MS TASKGROUPID",
 *			the memfd's bytes written to FILE (checked sealed)
 *	forget		FORGET_TASK: "done"
 *	feed SCOPES	start a task proxy (as TASKPROXY_UID, for the last
 *			claimed task and run; SCOPES comma-separated, "-"
 *			for none), and FEED_TASKPROXY its credentials
 *			channel: "failed: why", or "port N" once it serves
 *	pid		"pid N" (proxyd), "tppid N" (the task proxy, if any)
 *	quit		SHUTDOWN to both, and wait for them
 * At end of input it quits too.  The children's logs go to stderr.
 * Exits with proxyd's exit status (or 128 + signal); 2 on bad usage.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "common/chan_proxyd.h"
#include "common/chan_taskproxy.h"
#include "common/memfd.h"
#include "common/secmem.h"
#include "common/util.h"
#include "proxyd/creds.h"
#include "supervisor/spawn.h"

#define ANSWER_MS	180000	/* a claim: 120 s of retries, 60 s a try */

static char	**av;
static int	  logfd[2] = { -1, -1 }, devnull = -1, binfd = -1;
static struct ipc_conn ctl, tpctl;
static pid_t	  pid = -1, tppid = -1;
static char	  task_id[PX_SLUGID_LEN + 1];
static uint32_t	  run_id;

/* Relay the children's logs (proxyd's, the task proxy's) to stderr. */
static void
drain_log(int timeout_ms)
{
	struct pollfd p[2] = { { .fd = logfd[0], .events = POLLIN },
	    { .fd = logfd[1], .events = POLLIN } };
	char buf[4096];
	ssize_t n;

	while (poll(p, 2, timeout_ms) > 0) {
		for (int i = 0; i < 2; i++) {
			if (p[i].revents == 0)
				continue;
			if ((n = read(logfd[i], buf, sizeof(buf))) <= 0) {
				close(logfd[i]);
				logfd[i] = p[i].fd = -1;
			} else
				fwrite(buf, 1, (size_t)n, stderr);
		}
		timeout_ms = 0;
	}
}

/* Wait for a message on c, relaying the logs meanwhile. */
static int
await(struct ipc_conn *c, struct ipc_msg *m, int timeout_ms)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	char err[IPC_ERR_MAX];
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (now_ms() < end) {
		drain_log(0);
		if (poll(&p, 1, 20) < 0)
			return -1;
		if (p.revents) {
			if (ipc_recv(c, m, err, sizeof(err)) == 1)
				return 0;
			fprintf(stderr, "proxyd_worker: %s channel: %s\n",
			    c->chan->name, err);
			return -1;
		}
	}
	fprintf(stderr, "proxyd_worker: no answer on the %s channel\n",
	    c->chan->name);
	return -1;
}

/* DONE, FAILED or NO_TASK: their line; -1 for anything else. */
static int
plain_answer(const struct ipc_msg *m)
{
	struct ipc_reader r;
	const char *s;
	size_t n;

	if (m->hdr.type == PX_DONE) {
		printf("done\n");
		fflush(stdout);
		return 0;
	}
	if (m->hdr.type != PX_FAILED && m->hdr.type != PX_NO_TASK)
		return -1;
	ipc_reader_init(&r, m);
	if ((s = ipc_get_str(&r, PX_REASON_MAX, &n)) == NULL)
		return -1;
	printf("%s: %.*s\n", m->hdr.type == PX_FAILED ? "failed" : "no-task",
	    (int)n, s);
	fflush(stdout);
	return 0;
}

static int
request(uint32_t type, const void *p, size_t len, int fd, struct ipc_msg *m)
{
	return ipc_send(&ctl, type, 1, p, len, fd) == -1 ||
	    await(&ctl, m, ANSWER_MS) == -1 ? -1 : 0;
}

static int
cmd_creds(const char *path)
{
	struct tc_creds c;
	struct ipc_writer w;
	struct ipc_msg m;
	char err[256], *buf;
	uint8_t msg[PROXYD_MAX_MSG];
	size_t len;

	if ((buf = secmem_read_file(path, CREDS_MAX_BYTES, &len, err,
	    sizeof(err))) == NULL || creds_parse(buf, len, &c, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "proxyd_worker: %s\n", err);
		return -1;
	}
	secmem_free(buf);
	ipc_writer_init(&w, msg, sizeof(msg));
	ipc_put_str(&w, c.client_id, strlen(c.client_id));
	ipc_put_str(&w, c.access_token, strlen(c.access_token));
	ipc_put_str(&w, c.certificate ? c.certificate : "",
	    c.certificate ? strlen(c.certificate) : 0);
	creds_free(&c);
	if (request(PX_WORKER_CREDS, w.buf, w.len, -1, &m) == -1)
		return -1;
	sodium_memzero(msg, sizeof(msg));
	return plain_answer(&m);
}

static int
claimed(const struct ipc_msg *m, const char *path)
{
	struct px_claim pc;
	struct ipc_reader r;
	const uint8_t *fixed;
	const char *id, *group;
	char err[160], *buf;
	size_t idn, groupn, size;
	FILE *f;

	ipc_reader_init(&r, m);
	fixed = ipc_get_bytes(&r, sizeof(pc));
	id = ipc_get_str(&r, PX_SLUGID_LEN, &idn);
	group = ipc_get_str(&r, PX_SLUGID_LEN, &groupn);
	if (fixed == NULL || !ipc_get_end(&r) || m->fd < 0 ||
	    memfd_check_sealed(m->fd, 64u << 20, &size, err, sizeof(err)) ==
	    -1) {
		fprintf(stderr, "proxyd_worker: bad CLAIMED\n");
		return -1;
	}
	memcpy(&pc, fixed, sizeof(pc));
	buf = xmalloc(size + 1);
	if (memfd_read(m->fd, buf, size) == -1 ||
	    (f = fopen(path, "we")) == NULL ||
	    fwrite(buf, 1, size, f) != size || fclose(f) != 0) {
		fprintf(stderr, "proxyd_worker: %s: cannot write\n", path);
		return -1;
	}
	free(buf);
	close(m->fd);
	snprintf(task_id, sizeof(task_id), "%.*s", (int)idn, id);
	run_id = pc.run_id;
	printf("claimed %s %u %lld %.*s%s\n", task_id, pc.run_id,
	    (long long)pc.taken_until_ms, (int)groupn, group,
	    pc.reserved != 0 ? " (reserved not 0)" : "");
	fflush(stdout);
	return 0;
}

static int
cmd_claim(const char *path)
{
	struct ipc_msg m;

	if (request(PX_CLAIM_WORK, NULL, 0, -1, &m) == -1)
		return -1;
	if (m.hdr.type == PX_CLAIMED)
		return claimed(&m, path);
	return plain_answer(&m);
}

static int
scopes_memfd(const char *list)
{
	char *lines = xstrdup(strcmp(list, "-") == 0 ? "" : list);
	int fd;

	for (char *p = lines; *p; p++)
		if (*p == ',')
			*p = '\n';
	fd = memfd_sealed("scopes", lines, strlen(lines));
	free(lines);
	return fd;
}

/* A task proxy as the supervisor starts one in worker mode: a listener
 * on a free port (fd 5), a credentials channel (fd 6) whose other end
 * goes to proxyd, its scopes. */
static int
cmd_feed(const char *scopes)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	char ppid[16], run[16];
	int sv[2], cp[2], lp[2], lfd, pidfd, sfd, extra[2];
	struct ipc_msg m;

	snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
	snprintf(run, sizeof(run), "%u", run_id);
	char *targv[] = { "taskproxy", "--uid", av[3], "--gid", av[3],
	    "--ppid", ppid, "--task-id", task_id, "--run-id", run,
	    "--root-url", av[4], "--artifact-scope", "1", NULL };
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 16) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cp) == -1 ||
	    pipe2(lp, O_CLOEXEC) == -1)
		return -1;
	extra[0] = lfd;
	extra[1] = cp[1];
	struct spawn_spec spec = { .binfd = binfd, .argv = targv,
	    .sock = sv[1], .logw = lp[1], .devnull = devnull, .extra = extra,
	    .nextra = 2 };
	if ((tppid = spawn_child(&spec, &pidfd)) == -1)
		return -1;
	close(lp[1]);
	logfd[1] = lp[0];
	close(sv[1]);
	close(cp[1]);
	close(lfd);
	ipc_conn_init(&tpctl, sv[0], &taskproxy_channel, IPC_TO_SUPERVISOR);
	if (await(&tpctl, &m, 10000) == -1 || m.hdr.type != MSG_READY ||
	    (sfd = scopes_memfd(scopes)) == -1 ||
	    ipc_send(&tpctl, TP_SCOPES, 1, NULL, 0, sfd) == -1)
		return -1;
	close(sfd);
	if (request(PX_FEED_TASKPROXY, NULL, 0, cp[0], &m) == -1)
		return -1;
	close(cp[0]);
	if (m.hdr.type != PX_DONE)
		return plain_answer(&m);
	if (await(&tpctl, &m, 10000) == -1 || m.hdr.type != TP_SERVING)
		return -1;
	printf("port %u\n", ntohs(sin.sin_port));
	fflush(stdout);
	return 0;
}

static int
start(void)
{
	char ppid[16], err[256];
	int sv[2], lp[2];

	snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
	char *cargv[] = { "proxyd", "--uid", av[2], "--gid", av[2],
	    "--ppid", ppid, "--worker", "--root-url", av[4],
	    "--provisioner-id", av[5], "--worker-type", av[6],
	    "--worker-group", av[7], "--worker-id", av[8], NULL };
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    pipe2(lp, O_CLOEXEC) == -1 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    (binfd = spawn_open_binary(av[1], "proxyd", err,
	    sizeof(err))) == -1) {
		fprintf(stderr, "proxyd_worker: setting up: %s\n", err);
		return -1;
	}
	struct spawn_spec spec = { .binfd = binfd, .argv = cargv,
	    .sock = sv[1], .logw = lp[1], .devnull = devnull };
	if ((pid = spawn_child(&spec, &(int){ -1 })) == -1)
		return -1;
	close(sv[1]);
	close(lp[1]);
	logfd[0] = lp[0];
	ipc_conn_init(&ctl, sv[0], &proxyd_channel, IPC_TO_SUPERVISOR);
	return 0;
}

static int
command(char *line)
{
	if (strncmp(line, "creds ", 6) == 0)
		return cmd_creds(line + 6);
	if (strncmp(line, "claim ", 6) == 0)
		return cmd_claim(line + 6);
	if (strcmp(line, "forget") == 0) {
		struct ipc_msg m;

		return request(PX_FORGET_TASK, NULL, 0, -1, &m) == -1 ? -1 :
		    plain_answer(&m);
	}
	if (strncmp(line, "feed ", 5) == 0)
		return cmd_feed(line + 5);
	if (strcmp(line, "pid") == 0) {
		printf("pid %ld\ntppid %ld\n", (long)pid, (long)tppid);
		fflush(stdout);
		return 0;
	}
	fprintf(stderr, "proxyd_worker: unknown command %s\n", line);
	return -1;
}

static int
stop(pid_t p, bool kill_it)
{
	int status;

	if (kill_it)
		kill(p, SIGKILL);
	drain_log(200);
	if (waitpid(p, &status, 0) == -1)
		return 2;
	drain_log(0);
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "proxyd_worker: pid %ld killed by signal %d\n",
		    (long)p, WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

int
main(int argc, char **argv)
{
	struct ipc_msg m;
	char line[4096];
	bool dead = false;

	if (argc != 9)
		return 2;
	av = argv;
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || start() == -1)
		return 2;
	if (await(&ctl, &m, 10000) == -1 || m.hdr.type != MSG_READY)
		dead = true;
	while (!dead) {
		struct pollfd p = { .fd = 0, .events = POLLIN };

		drain_log(0);
		if (poll(&p, 1, 100) < 0)
			break;
		if (!p.revents)
			continue;
		if (fgets(line, sizeof(line), stdin) == NULL)
			break;
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		if (command(line) == -1)
			dead = true;
	}
	if (tppid > 0) {
		ipc_send(&tpctl, MSG_SHUTDOWN, 2, NULL, 0, -1);
		stop(tppid, dead);
	}
	if (!dead)
		ipc_send(&ctl, MSG_SHUTDOWN, 2, NULL, 0, -1);
	return stop(pid, dead);
}
