#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan_common.h"
#include "child.h"
#include "log.h"
#include "util.h"

#ifdef SEPWORKER_RELAXED_SANDBOX
/*
 * LeakSanitizer checks for leaks at exit by stopping the process from a
 * helper thread with ptrace, which a non-dumpable, no_new_privs process
 * with RLIMIT_NPROC 0 cannot allow: leak checking is off in the sandboxed
 * children of a sanitizer build (ASan's other checks stay on).  The
 * environment is empty, so the runtime's defaults are set here.
 */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

static void
usage_exit(const char *role, const char *what)
{
	char msg[256];
	int n;

	n = snprintf(msg, sizeof(msg), "%s: %s (this program is started by "
	    "sepworker, not by hand)\n", role, what);
	if (n > 0)
		write_all(2, msg, (size_t)n < sizeof(msg) ? (size_t)n :
		    sizeof(msg) - 1);
	exit(CHILD_EXIT_USAGE);
}

static void
check_fds(const char *role)
{
	struct stat st;
	socklen_t len;
	int type = 0, domain = 0;

	len = sizeof(type);
	if (getsockopt(CHILD_CONTROL_FD, SOL_SOCKET, SO_TYPE, &type, &len) ==
	    -1 || type != SOCK_SEQPACKET)
		usage_exit(role, "fd 3 is not a SOCK_SEQPACKET socket");
	len = sizeof(domain);
	if (getsockopt(CHILD_CONTROL_FD, SOL_SOCKET, SO_DOMAIN, &domain,
	    &len) == -1 || domain != AF_UNIX)
		usage_exit(role, "fd 3 is not a Unix socket");
	if (fstat(CHILD_LOG_FD, &st) == -1 || !S_ISFIFO(st.st_mode))
		usage_exit(role, "fd 4 is not a pipe");
}

static int
take_id(const char *role, const char *opt, const char *val, uint64_t min,
    uint64_t max)
{
	uint64_t v;

	if (val == NULL || parse_u64(val, min, max, &v) == -1) {
		log_errorx("%s: bad value for %s", role, opt);
		exit(CHILD_EXIT_USAGE);
	}
	return (int)v;
}

void
child_start(int argc, char **argv, const char *role,
    int (*role_opt)(const char *opt, const char *val, void *arg), void *arg,
    struct child_args *out)
{
	bool have_uid = false, have_gid = false, have_ppid = false;

	check_fds(role);
	memset(out, 0, sizeof(*out));
	log_init_child(CHILD_LOG_FD, 0);
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = argv[i + 1];

		if (strcmp(opt, "--verbose") == 0) {
			out->verbose = true;
			log_init_child(CHILD_LOG_FD, 1);
			continue;
		}
		if (strcmp(opt, "--uid") == 0) {
			out->uid = (uid_t)take_id(role, opt, val, 1, INT32_MAX);
			have_uid = true;
		} else if (strcmp(opt, "--gid") == 0) {
			out->gid = (gid_t)take_id(role, opt, val, 1, INT32_MAX);
			have_gid = true;
		} else if (strcmp(opt, "--ppid") == 0) {
			out->ppid = (pid_t)take_id(role, opt, val, 1,
			    INT32_MAX);
			have_ppid = true;
		} else if (role_opt == NULL || val == NULL ||
		    role_opt(opt, val, arg) == -1) {
			log_errorx("%s: unknown or incomplete option %s", role,
			    opt);
			exit(CHILD_EXIT_USAGE);
		}
		i++;
	}
	if (!have_uid || !have_gid || !have_ppid) {
		log_errorx("%s: --uid, --gid and --ppid are required", role);
		exit(CHILD_EXIT_USAGE);
	}
}

void
child_lockdown(const struct sandbox_policy *p, const struct child_args *a)
{
	struct sandbox_params params = {
		.uid = a->uid,
		.gid = a->gid,
		.parent = a->ppid,
		.relaxed = SANDBOX_RELAXED_BUILD,
		.skip_flags = a->skip_flags,
		.connect_ports = a->connect_ports,
		.nconnect_ports = a->nconnect_ports,
	};
	struct sandbox_report rep;

	char landlock[32];

	sandbox_enter(p, &params, &rep);
	if (!p->landlock)
		snprintf(landlock, sizeof(landlock), "no Landlock domain");
	else if (rep.landlock_abi == 0)
		snprintf(landlock, sizeof(landlock), "no Landlock in kernel");
	else
		snprintf(landlock, sizeof(landlock), "Landlock ABI %d",
		    rep.landlock_abi);
	log_info("sandbox entered: %s, %s, %zu seccomp rules%s",
	    rep.uid_dropped ? "uid dropped" : "not started as root, uid kept",
	    landlock, rep.nrules, params.relaxed ?
	    ", default action LOG (sanitizer build)" : "");
}

static void
violation(const char *why)
{
	log_errorx("protocol violation: %s", why);
	exit(CHILD_EXIT_VIOLATION);
}

static struct {
	int	  fd;
	void	(*fn)(void *);
} watch = { -1, NULL };

void
child_serve_watch(int fd, void (*fn)(void *ctx))
{
	watch.fd = fd;
	watch.fn = fn;
}

void
child_serve(struct ipc_conn *c, const struct ipc_handler *tbl, size_t n,
    uint32_t *state, void *ctx)
{
	char err[IPC_ERR_MAX];

	if (ipc_send(c, MSG_READY, 0, NULL, 0, -1) == -1)
		fatal("sending READY");
	for (;;) {
		const struct ipc_handler *h;
		struct ipc_msg m;
		int rc;

		if (watch.fd >= 0) {
			struct pollfd pfd[2] = {
				{ .fd = c->sock, .events = POLLIN },
				{ .fd = watch.fd, .events = POLLIN },
			};

			if (poll(pfd, 2, -1) == -1) {
				if (errno != EINTR)
					fatal("poll");
				continue;
			}
			if (pfd[1].revents != 0)
				watch.fn(ctx);
			if (pfd[0].revents == 0)
				continue;
		}
		rc = ipc_recv(c, &m, err, sizeof(err));

		if (rc == 0) {
			/* The supervisor closed our socket: it is gone. */
			log_info("control socket closed, exiting");
			exit(CHILD_EXIT_OK);
		}
		if (rc < 0)
			violation(err);
		switch (m.hdr.type) {
		case MSG_PING:
			if (ipc_send(c, MSG_PONG, m.hdr.id, m.payload, 8, -1) ==
			    -1)
				fatal("sending PONG");
			continue;
		case MSG_SHUTDOWN:
			log_debug("shutting down on request");
			exit(CHILD_EXIT_OK);
		}
		h = ipc_lookup(tbl, n, *state, &m, err, sizeof(err));
		if (h == NULL) {
			if (m.fd >= 0)
				close(m.fd);
			violation(err);
		}
		if (h->fn(ctx, &m) == -1)
			violation(m.spec->name);
		/* An fd the handler did not keep is closed. */
		if (m.fd >= 0)
			close(m.fd);
	}
}
