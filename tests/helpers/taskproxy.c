/*
 * taskproxy [--agent] [--no-listener] [--spool DIR] BUILD_DIR UID ROOT_URL
 *     SCOPES CREDS_FILE [ALLOWED_UID|none] [RETRY_SECONDS [ALLOWED_HOSTS]]
 *
 * Start a real task proxy (proxyd exec'd as "taskproxy", sandboxed,
 * running as UID) the way the supervisor does, for tests that talk HTTP
 * to it directly: a listener on a free 127.0.0.1 port, the scopes
 * (comma-separated; "-" for none) as a sealed memfd, the credentials
 * (a JSON file) on its credentials channel as proxyd sends them;
 * ALLOWED_HOSTS is --allowed-hosts (comma-separated; without it, the
 * root URL's host alone).
 *
 * --agent, --no-listener: the task proxy's options (worker mode; no
 * listener, no scopes: SCOPES is then ignored); --spool DIR: DIR becomes
 * its spool directory (--spool-fd).
 *
 * TASKPROXY_LIMITS, when set and not empty, goes to the task proxy as
 * --limits (e.g. "head-timeout=2,connections=256").
 *
 * Prints "port N" (with --no-listener "port none") once it serves, then
 * reads commands on stdin:
 *	creds FILE	send the credentials in FILE; prints "accepted" or
 *			"rejected: why"
 *	pid		prints "pid N"
 *	agent		AGENT
 *	upload FILE NAME TYPE ENCODING s3|object EXPIRES_MS
 *			UPLOAD with FILE opened read-only
 *	error EXPIRES_MS NAME REASON MESSAGE...
 *	link EXPIRES_MS NAME TARGET CONTENT_TYPE...
 *	resolve completed|failed|exception [REASON]
 *	wait		wait for every answer still due
 *	elapsed		prints "elapsed MS": from the last request sent to
 *			the last answer read
 *	hwm		prints "hwm N": the task proxy's peak RSS (VmHWM), kB
 *	connect		prints "connect ok" or "connect refused": a TCP
 *			connection to its listener's port
 *	hold PATH	sends GET PATH on a connection of its own, kept open
 *	sleep MS	waits MS milliseconds
 *	held		prints "held closed MS" once the task proxy has closed
 *			that connection (MS since hold), "held answered"
 *			if an answer came, or "held open" after 10 s
 *	quit		SHUTDOWN, and wait for it to exit
 * A request waits for its answer (and any other due), unless it is
 * prefixed with '&'.  Answers print as "answer ID ok", "answer ID
 * uploaded BYTES SHA256", "answer ID failed CLASS MESSAGE".
 * At end of input it quits too.  Its log goes to stderr.  Exits with the
 * task proxy's exit status (or 128 + signal).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/chan_taskproxy.h"
#include "common/chan_taskrunner.h"
#include "common/memfd.h"
#include "common/util.h"
#include "supervisor/spawn.h"

static int logfd = -1;

static void
drain_log(int timeout_ms)
{
	struct pollfd p = { .fd = logfd, .events = POLLIN };
	char buf[4096];
	ssize_t n;

	while (logfd >= 0 && poll(&p, 1, timeout_ms) == 1) {
		if ((n = read(logfd, buf, sizeof(buf))) <= 0) {
			close(logfd);
			logfd = -1;
			return;
		}
		fwrite(buf, 1, (size_t)n, stderr);
		timeout_ms = 0;
	}
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = xmalloc(65536);

	if (f == NULL) {
		fprintf(stderr, "taskproxy: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	*len = fread(buf, 1, 65535, f);
	fclose(f);
	while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == ' '))
		(*len)--;
	buf[*len] = '\0';
	return buf;
}

/* Wait for a message on c, relaying the log meanwhile. */
static int
await(struct ipc_conn *c, struct ipc_msg *m, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = c->sock, .events = POLLIN },
	    { .fd = logfd, .events = POLLIN } };
	char err[IPC_ERR_MAX];
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (now_ms() < end) {
		p[1].fd = logfd;
		if (poll(p, 2, 100) < 0)
			return -1;
		if (p[1].revents)
			drain_log(0);
		if (p[0].revents) {
			int rc = ipc_recv(c, m, err, sizeof(err));

			if (rc == 1)
				return 0;
			fprintf(stderr, "taskproxy: %s channel: %s\n",
			    c->chan->name, rc == 0 ? "closed" : err);
			return -1;
		}
	}
	fprintf(stderr, "taskproxy: no answer on the %s channel\n",
	    c->chan->name);
	return -1;
}

static int
send_creds(struct ipc_conn *cc, const char *path)
{
	struct ipc_msg m;
	size_t len;
	char *json = slurp(path, &len);

	int rc = ipc_send(cc, TPC_CREDENTIALS, 1, json, len, -1) == -1 ||
	    await(cc, &m, 10000) == -1 ? -1 : 0;

	free(json);
	if (rc == -1)
		return -1;
	if (m.hdr.type == TPC_ACCEPTED)
		printf("accepted\n");
	else
		printf("rejected: %.*s\n", (int)m.payload_len - 4,
		    (const char *)m.payload + 4);
	fflush(stdout);
	return 0;
}

static unsigned due;		/* requests not answered yet */
static uint32_t next_id = 10;
static uint64_t sent_ms, answered_ms;

static int
print_answer(struct ipc_conn *ctl)
{
	struct ipc_msg m;
	struct ipc_reader r;
	uint32_t class;
	size_t len;
	const char *msg;

	if (await(ctl, &m, 600000) == -1)
		return -1;
	answered_ms = now_ms();
	due--;
	switch (m.hdr.type) {
	case TP_OK:
		printf("answer %u ok\n", m.hdr.id);
		break;
	case TP_UPLOADED: {
		struct tp_uploaded u;

		memcpy(&u, m.payload, sizeof(u));
		printf("answer %u uploaded %llu %.64s\n", m.hdr.id,
		    (unsigned long long)u.bytes, u.sha256);
		break;
	}
	case TP_FAILED:
		ipc_reader_init(&r, &m);
		class = ipc_get_u32(&r);
		msg = ipc_get_str(&r, TP_STRING_MAX, &len);
		printf("answer %u failed %u %.*s\n", m.hdr.id, class,
		    (int)len, msg != NULL ? msg : "");
		break;
	default:
		printf("answer %u %s\n", m.hdr.id, m.spec->name);
	}
	fflush(stdout);
	return 0;
}

/* The next space-separated word of *p, NUL-terminated; "" at the end. */
static char *
word(char **p)
{
	char *w = *p + strspn(*p, " ");

	*p = w + strcspn(w, " ");
	if (**p != '\0')
		*(*p)++ = '\0';
	return w;
}

/* One agent request from a command line; -1 if the channel failed. */
static int
request(struct ipc_conn *ctl, char *line)
{
	uint8_t buf[TASKPROXY_MAX_MSG];
	struct ipc_writer w;
	bool nowait = *line == '&';
	char *p = line + nowait, *cmd = word(&p);
	uint32_t type;
	int fd = -1, rc;

	ipc_writer_init(&w, buf, sizeof(buf));
	if (strcmp(cmd, "agent") == 0)
		type = TP_AGENT;
	else if (strcmp(cmd, "upload") == 0) {
		char *file = word(&p), *name = word(&p), *ct = word(&p);
		char *enc = word(&p), *store = word(&p);

		type = TP_UPLOAD;
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
			fprintf(stderr, "taskproxy: %s: %s\n", file,
			    strerror(errno));
			return -1;
		}
		ipc_put_u64(&w, strtoull(word(&p), NULL, 10));
		ipc_put_u32(&w, strcmp(store, "object") == 0 ?
		    TP_STORE_OBJECT : TP_STORE_S3);
		ipc_put_u32(&w, 0);
		ipc_put_str(&w, name, strlen(name));
		ipc_put_str(&w, ct, strlen(ct));
		ipc_put_str(&w, enc, strlen(enc));
	} else if (strcmp(cmd, "error") == 0 || strcmp(cmd, "link") == 0) {
		char *exp = word(&p), *name = word(&p), *a = word(&p);

		type = *cmd == 'e' ? TP_ERROR_ARTIFACT : TP_LINK;
		ipc_put_u64(&w, strtoull(exp, NULL, 10));
		ipc_put_str(&w, name, strlen(name));
		ipc_put_str(&w, a, strlen(a));
		ipc_put_str(&w, p, strlen(p));
	} else if (strcmp(cmd, "resolve") == 0) {
		char *state = word(&p);

		type = TP_RESOLVE;
		ipc_put_u32(&w, strcmp(state, "completed") == 0 ?
		    TASK_COMPLETED : strcmp(state, "failed") == 0 ?
		    TASK_FAILED : strcmp(state, "exception") == 0 ?
		    TASK_EXCEPTION : 99);
		ipc_put_str(&w, p, strlen(p));
	} else {
		fprintf(stderr, "taskproxy: unknown command %s\n", cmd);
		return 0;
	}
	sent_ms = now_ms();
	rc = ipc_send(ctl, type, next_id++, w.buf, w.len, fd);
	if (fd != -1)
		close(fd);
	if (rc == -1)
		return -1;
	due++;
	while (!nowait && due > 0)
		if (print_answer(ctl) == -1)
			return -1;
	return 0;
}

/* VmHWM of pid in kB, -1 if it cannot be read. */
static long
peak_rss(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static bool
try_connect(const struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd != -1 && connect(fd, (const struct sockaddr *)sin,
	    sizeof(*sin)) == 0;

	if (fd != -1)
		close(fd);
	return ok;
}

static int held_fd = -1;
static uint64_t held_since;

static void
hold(const struct sockaddr_in *sin, const char *path)
{
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: "
	    "127.0.0.1\r\n\r\n", path);

	held_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (held_fd == -1 || connect(held_fd, (const struct sockaddr *)sin,
	    sizeof(*sin)) == -1 || write(held_fd, req, (size_t)n) != n)
		perror("taskproxy: hold");
	held_since = now_ms();
}

static void
held(void)
{
	struct pollfd p = { .fd = held_fd, .events = POLLIN };
	char buf[256];
	ssize_t n = -1;

	if (poll(&p, 1, 10000) == 1)
		n = read(held_fd, buf, sizeof(buf));
	if (n > 0)
		printf("held answered\n");
	else if (n == 0 || (n == -1 && p.revents != 0))
		printf("held closed %llu\n",
		    (unsigned long long)(now_ms() - held_since));
	else
		printf("held open\n");
	fflush(stdout);
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

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	struct ipc_conn ctl, cc;
	struct ipc_msg m;
	char err[256], ppid[16], line[4096];
	int sv[2], cp[2], lp[2], devnull, lfd, pidfd, status, sfd;
	int spool = -1;
	bool agent = false, no_listener = false;
	pid_t pid;

	for (; argc > 1 && strncmp(argv[1], "--", 2) == 0; argc--, argv++)
		if (strcmp(argv[1], "--agent") == 0)
			agent = true;
		else if (strcmp(argv[1], "--no-listener") == 0)
			no_listener = true;
		else if (strcmp(argv[1], "--spool") == 0 && argc > 2) {
			if ((spool = open(argv[2], O_RDONLY | O_DIRECTORY |
			    O_CLOEXEC)) == -1) {
				perror(argv[2]);
				return 2;
			}
			argc--, argv++;
		} else
			return 2;
	if (argc < 6 || argc > 9)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
	char *cargv[32] = { "taskproxy", "--uid", argv[2], "--gid", argv[2],
	    "--ppid", ppid, "--task-id", getenv("TASK_ID") != NULL ?
	    getenv("TASK_ID") : "KTBKfEgxR5GdfIIREQIvFQ",
	    "--run-id", "0", "--root-url", argv[3] };
	int n = 13;
	if (agent) {
		cargv[n++] = "--agent";
		cargv[n++] = "1";
	}
	if (no_listener) {
		cargv[n++] = "--no-listener";
		cargv[n++] = "1";
	}
	if (spool != -1) {
		cargv[n++] = "--spool-fd";
		cargv[n++] = "7";
	}
	if (argc >= 7 && strcmp(argv[6], "none") != 0) {
		cargv[n++] = "--allowed-uid";
		cargv[n++] = argv[6];
	}
	if (argc >= 8) {
		cargv[n++] = "--retry-seconds";
		cargv[n++] = argv[7];
	}
	if (argc >= 9) {
		cargv[n++] = "--allowed-hosts";
		cargv[n++] = argv[8];
	}
	if (getenv("TASKPROXY_LIMITS") != NULL &&
	    *getenv("TASKPROXY_LIMITS") != '\0') {
		cargv[n++] = "--limits";
		cargv[n++] = getenv("TASKPROXY_LIMITS");
	}
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, TASKPROXY_BACKLOG) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cp) == -1 ||
	    pipe2(lp, O_CLOEXEC) == -1 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		perror("taskproxy: setting up");
		return 2;
	}
	/* Without a listener, fd 5 is a placeholder: extras are consecutive. */
	int extra[3] = { no_listener ? devnull : lfd, cp[1], spool };
	struct spawn_spec spec = { .binfd = spawn_open_binary(argv[1],
	    "proxyd", err, sizeof(err)), .argv = cargv, .sock = sv[1],
	    .logw = lp[1], .devnull = devnull, .extra = extra,
	    .nextra = spool != -1 ? 3 : 2 };
	if (spec.binfd == -1) {
		fprintf(stderr, "taskproxy: %s\n", err);
		return 2;
	}
	if ((pid = spawn_child(&spec, &pidfd)) == -1) {
		perror("taskproxy: spawn");
		return 2;
	}
	close(sv[1]);
	close(cp[1]);
	close(lp[1]);
	close(lfd);
	logfd = lp[0];
	ipc_conn_init(&ctl, sv[0], &taskproxy_channel, IPC_TO_SUPERVISOR);
	ipc_conn_init(&cc, cp[0], &taskcreds_channel, IPC_TO_SUPERVISOR);
	if (await(&ctl, &m, 10000) == -1 || m.hdr.type != MSG_READY)
		goto dead;
	if (!no_listener) {
		if ((sfd = scopes_memfd(argv[4])) == -1 ||
		    ipc_send(&ctl, TP_SCOPES, 1, NULL, 0, sfd) == -1)
			goto dead;
		close(sfd);
	}
	if (send_creds(&cc, argv[5]) == -1)
		goto dead;
	if (await(&ctl, &m, 10000) == -1 || m.hdr.type != TP_SERVING)
		goto dead;
	if (no_listener)
		printf("port none\n");
	else
		printf("port %u\n", ntohs(sin.sin_port));
	fflush(stdout);
	for (;;) {
		struct pollfd p[2] = { { .fd = 0, .events = POLLIN },
		    { .fd = logfd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0)
			break;
		if (p[1].revents)
			drain_log(0);
		if (!p[0].revents)
			continue;
		if (fgets(line, sizeof(line), stdin) == NULL)
			break;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "creds ", 6) == 0) {
			if (send_creds(&cc, line + 6) == -1)
				goto dead;
		} else if (strcmp(line, "pid") == 0) {
			printf("pid %ld\n", (long)pid);
			fflush(stdout);
		} else if (strcmp(line, "elapsed") == 0) {
			printf("elapsed %llu\n",
			    (unsigned long long)(answered_ms - sent_ms));
			fflush(stdout);
		} else if (strcmp(line, "hwm") == 0) {
			printf("hwm %ld\n", peak_rss(pid));
			fflush(stdout);
		} else if (strncmp(line, "hold ", 5) == 0)
			hold(&sin, line + 5);
		else if (strcmp(line, "held") == 0)
			held();
		else if (strncmp(line, "sleep ", 6) == 0)
			usleep((useconds_t)strtoul(line + 6, NULL, 10) * 1000);
		else if (strcmp(line, "connect") == 0) {
			printf("connect %s\n", try_connect(&sin) ? "ok" :
			    "refused");
			fflush(stdout);
		} else if (strcmp(line, "quit") == 0)
			break;
		else if (strcmp(line, "wait") == 0) {
			while (due > 0)
				if (print_answer(&ctl) == -1)
					goto dead;
		} else if (request(&ctl, line) == -1)
			goto dead;
	}
	ipc_send(&ctl, MSG_SHUTDOWN, 2, NULL, 0, -1);
	if (0) {
dead:
		/* It may have ended itself (a protocol violation). */
		for (int i = 0; i < 20 && waitpid(pid, &status, WNOHANG) == 0;
		    i++)
			drain_log(100);
		if (kill(pid, SIGKILL) == -1 && errno == ESRCH)
			goto reaped;
	}
	drain_log(200);
	if (waitpid(pid, &status, 0) == -1)
		return 2;
reaped:
	drain_log(0);
	ipc_conn_free(&ctl);
	ipc_conn_free(&cc);
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "taskproxy: killed by signal %d\n",
		    WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}
