#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/nsfs.h>
#include <linux/sockios.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/chan_taskrunner.h"
#include "common/log.h"
#include "common/util.h"
#include "common/chan_taskproxy.h"
#include "supervisor/privop.h"

#define refuse(...)	do { snprintf(err, errlen, __VA_ARGS__); goto out; } \
			while (0)

/* Find "Key:\t<number>" in a /proc text file opened from dirfd. */
static int
proc_field(int dirfd, const char *file, const char *key, long long *out)
{
	char buf[4096], *p;
	size_t klen = strlen(key);
	ssize_t n;
	int fd;

	fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	n = read_all(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (p = buf; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 :
	    NULL) {
		char *end;

		if (strncmp(p, key, klen) != 0 || p[klen] != ':')
			continue;
		errno = 0;
		*out = strtoll(p + klen + 1, &end, 10);
		if (errno != 0 || end == p + klen + 1)
			return -1;
		return 0;
	}
	return -1;
}

static int
write_proc_file(int dirfd, const char *file, const char *text)
{
	int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
	int rc;

	if (fd == -1)
		return -1;
	rc = write_all(fd, text, strlen(text));
	if (close(fd) == -1)
		rc = -1;
	return rc;
}

/*
 * The process a pidfd from the taskrunner names: alive, and its child.
 * Returns an O_PATH fd of its /proc directory (that very process's, not a
 * later one's with a reused pid), or -1 with err set.
 */
static int
task_process(const struct privop_task *t, int pidfd, long long *pid,
    char *err, size_t errlen)
{
	char path[64];
	long long ppid;
	int dirfd = -1;

	/* fdinfo gives the pid in our pid namespace (-1 once reaped). */
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	if (proc_field(AT_FDCWD, path, "Pid", pid) == -1 || *pid <= 0)
		refuse("the fd passed is not a pidfd of a live process");
	snprintf(path, sizeof(path), "/proc/%lld", *pid);
	if ((dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		refuse("process %lld: %s", *pid, strerror(errno));
	/* Still alive after we opened /proc/<pid>: then that directory is
	 * the process the pidfd names, not a later one with a reused pid. */
	if (pidfd_send_signal(pidfd, 0, NULL, 0) == -1)
		refuse("process %lld exited", *pid);
	if (proc_field(dirfd, "status", "PPid", &ppid) == -1 ||
	    ppid != t->runner_pid)
		refuse("process %lld is not a child of the taskrunner", *pid);
	return dirfd;
out:
	if (dirfd != -1)
		close(dirfd);
	return -1;
}

int
privop_map_userns(struct privop_task *t, int pidfd, uint32_t uid, char *err,
    size_t errlen)
{
	const struct sw_config *cfg = t->cfg;
	char map[64];
	struct stat ns, own;
	long long pid;
	int dirfd = -1, nsfd = -1, rc = -1;
	uid_t owner;

	if (t->task_uid == 0)
		refuse("no task is assigned to this taskrunner");
	if (!config_is_task_uid(cfg, uid))
		refuse("uid %u is outside the task uid range %u-%u", uid,
		    cfg->task_uid_first, cfg->task_uid_first +
		    cfg->task_uid_count - 1);
	if (uid != t->task_uid)
		refuse("uid %u is not the uid of the assigned task (%u)", uid,
		    t->task_uid);
	if (t->mapped_userns != 0)
		refuse("the task's user namespace is already mapped");
	if ((dirfd = task_process(t, pidfd, &pid, err, errlen)) == -1)
		goto out;
	if ((nsfd = openat(dirfd, "ns/user", O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(nsfd, &ns) == -1 || stat("/proc/self/ns/user", &own) == -1)
		refuse("process %lld: user namespace: %s", pid,
		    strerror(errno));
	if (ns.st_ino == own.st_ino)
		refuse("process %lld is not in a new user namespace", pid);
	if (ioctl(nsfd, NS_GET_OWNER_UID, &owner) == -1 ||
	    owner != t->runner_uid)
		refuse("process %lld's user namespace was not created by the "
		    "taskrunner", pid);
	/* setgroups "deny" first: the task may never drop a group to get
	 * past a permission that denies by group. */
	snprintf(map, sizeof(map), "%u %u 1\n", uid, uid);
	if (write_proc_file(dirfd, "setgroups", "deny") == -1 ||
	    write_proc_file(dirfd, "gid_map", map) == -1 ||
	    write_proc_file(dirfd, "uid_map", map) == -1)
		refuse("process %lld: writing its id maps: %s (already "
		    "mapped?)", pid, strerror(errno));
	t->mapped_userns = ns.st_ino;
	rc = 0;
out:
	if (nsfd != -1)
		close(nsfd);
	if (dirfd != -1)
		close(dirfd);
	return rc;
}

int
privop_cgroup(struct privop_task *t, int pidfd, char *err, size_t errlen)
{
	struct cgroup_limits lim;
	long long pid;
	int dirfd = -1;

	if (t->task_uid == 0)
		refuse("no task is assigned to this taskrunner");
	if (t->mapped_userns == 0)
		refuse("the task's user namespace is not mapped yet");
	if (t->cgroup_made)
		refuse("the task's cgroup was already made");
	if ((dirfd = task_process(t, pidfd, &pid, err, errlen)) == -1)
		goto out;
	close(dirfd);
	lim = (struct cgroup_limits){ .uid = t->task_uid,
	    .max_processes = t->cfg->task_max_processes,
	    .max_memory_bytes = t->cfg->task_max_memory_bytes };
	cgroup_task_enter(&lim, (pid_t)pid, &t->cg);
	t->cgroup_made = true;
	return 0;
out:
	return -1;
}

/* tasksDir must not let anyone but root plant names in it. */
static int
open_tasks_dir(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd == -1) {
		snprintf(err, errlen, "tasksDir %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "tasksDir %s must be owned by uid %u and "
		    "not writable by group or others", path, geteuid());
		close(fd);
		return -1;
	}
	return fd;
}

int
privop_make_taskdir(struct privop_task *t, int *fd, char *err, size_t errlen)
{
	int tasksfd = -1, rc = -1;

	*fd = -1;
	if (t->task_uid == 0)
		refuse("no task is assigned to this taskrunner");
	if (t->taskdir_made)
		refuse("the task directory was already created");
	if ((tasksfd = open_tasks_dir(t->cfg->tasks_dir, err, errlen)) == -1)
		goto out;
	if (mkdirat(tasksfd, t->taskdir, 0700) == -1)
		refuse("%s/%s: %s", t->cfg->tasks_dir, t->taskdir,
		    strerror(errno));
	/* Created by us a moment ago in a directory only we can write: the
	 * name is still ours, but never follow a link anyway. */
	if (fchownat(tasksfd, t->taskdir, t->task_uid, t->task_uid,
	    AT_SYMLINK_NOFOLLOW) == -1 ||
	    (*fd = openat(tasksfd, t->taskdir, O_PATH | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s/%s: %s", t->cfg->tasks_dir,
		    t->taskdir, strerror(errno));
		unlinkat(tasksfd, t->taskdir, AT_REMOVEDIR);
		goto out;
	}
	t->taskdir_made = true;
	rc = 0;
out:
	if (tasksfd != -1)
		close(tasksfd);
	return rc;
}

int
privop_listener(struct privop_task *t, uint32_t port, int *fd, char *err,
    size_t errlen)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1, s = -1, rc = -1;

	*fd = -1;
	if (t->task_uid == 0)
		refuse("no task is assigned to this taskrunner");
	if (t->cfg->task_network != TASK_NET_HOST)
		refuse("with isolated task networking the listener is made "
		    "inside the task's network namespace");
	if (port != t->cfg->taskcluster_proxy_port)
		refuse("port %u is not taskclusterProxyPort (%u)", port,
		    t->cfg->taskcluster_proxy_port);
	if (t->listener_made)
		refuse("the task's listener was already created");
	sin.sin_port = htons((uint16_t)port);
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(s, TASKPROXY_BACKLOG) == -1)
		refuse("listening on 127.0.0.1:%u: %s", port, strerror(errno));
	*fd = s;
	s = -1;
	t->listener_made = true;
	rc = 0;
out:
	if (s != -1)
		close(s);
	return rc;
}

int
privop_check_task_listener(const struct privop_task *t, int fd, char *err,
    size_t errlen)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int type = 0, listening = 0, netns = -1, userns = -1, rc = -1;
	socklen_t ilen = sizeof(int);
	struct stat st;

	if (t->mapped_userns == 0)
		refuse("the task's user namespace is not mapped yet");
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) == -1 ||
	    type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) ==
	    -1 || !listening)
		refuse("the fd is not a listening TCP socket");
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1 ||
	    sin.sin_family != AF_INET ||
	    sin.sin_addr.s_addr != htonl(INADDR_LOOPBACK) ||
	    ntohs(sin.sin_port) != t->cfg->taskcluster_proxy_port)
		refuse("the socket is not bound to 127.0.0.1:%u",
		    t->cfg->taskcluster_proxy_port);
	/* Its network namespace must belong to the task's user namespace:
	 * a socket of the host's (or of anyone else's) would put the
	 * task's credentials on a port others reach. */
	if ((netns = ioctl(fd, SIOCGSKNS)) == -1 ||
	    (userns = ioctl(netns, NS_GET_USERNS)) == -1 ||
	    fstat(userns, &st) == -1)
		refuse("the socket's network namespace: %s", strerror(errno));
	if ((uint64_t)st.st_ino != t->mapped_userns)
		refuse("the socket is not in the task's network namespace");
	rc = 0;
out:
	if (netns != -1)
		close(netns);
	if (userns != -1)
		close(userns);
	return rc;
}

static int
answer_fail(struct ipc_conn *c, uint32_t id, const char *why)
{
	uint8_t buf[4 + PRIVOP_REASON_MAX];
	struct ipc_writer w;
	size_t len = strnlen(why, PRIVOP_REASON_MAX);

	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_str(&w, why, len);
	return ipc_send(c, TR_PRIVOP_FAIL, id, w.buf, w.len, -1);
}

int
privop_handle(struct privop_task *t, struct ipc_conn *c, struct ipc_msg *m)
{
	char err[256] = "malformed request";
	struct ipc_reader r;
	int fd = -1, rc = -1;
	uint32_t arg = 0;

	ipc_reader_init(&r, m);
	if (m->spec->min_payload == 4)
		arg = ipc_get_u32(&r);
	switch (ipc_get_end(&r) ? m->hdr.type : 0) {
	case TR_USERNS_MAP_REQ:
		rc = privop_map_userns(t, m->fd, arg, err, sizeof(err));
		if (rc == 0 && ipc_send(c, TR_PRIVOP_OK, m->hdr.id, NULL, 0,
		    -1) == -1)
			rc = -2;
		break;
	case TR_TASKDIR_REQ:
		rc = privop_make_taskdir(t, &fd, err, sizeof(err));
		if (rc == 0 && ipc_send(c, TR_TASKDIR, m->hdr.id, NULL, 0, fd)
		    == -1)
			rc = -2;
		break;
	case TR_CGROUP_REQ:
		rc = privop_cgroup(t, m->fd, err, sizeof(err));
		if (rc == 0) {
			uint8_t buf[4 + sizeof(t->cg.desc)];
			struct ipc_writer w;

			ipc_writer_init(&w, buf, sizeof(buf));
			ipc_put_str(&w, t->cg.desc, strlen(t->cg.desc));
			if (ipc_send(c, TR_CGROUP_DONE, m->hdr.id, w.buf, w.len,
			    -1) == -1)
				rc = -2;
		}
		break;
	case 0:
		break;
	default:
		snprintf(err, sizeof(err), "%s is not a privileged request",
		    m->spec->name);
		break;
	}
	if (fd != -1)
		close(fd);
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	if (rc != -1)
		return rc;
	log_errorx("taskrunner %ld: refused %s: %s", (long)t->runner_pid,
	    m->spec->name, err);
	return answer_fail(c, m->hdr.id, err) == -1 ? -2 : -1;
}
