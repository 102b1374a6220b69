/*
 * A cgroup per task, where the host offers one: limits that hold for the
 * task as a whole (rlimits are per process, or per uid for processes) and
 * a way to find every process it made.  cgroup v2 when our cgroup can
 * hand the pids and memory controllers down; else the v1 pids and memory
 * hierarchies.  Anything missing or refused is not an error: the task
 * runs with its rlimits alone, and the task log says so.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "supervisor/cgroup.h"

/* Our cgroup path in the hierarchy whose controller list has ctl ("" for
 * the v2 hierarchy), from /proc/self/cgroup. */
static int
own_path(const char *ctl, char *out, size_t outsz)
{
	char buf[4096], *line, *save = NULL;
	ssize_t n;
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return -1;
	n = read_all(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *ctls = strchr(line, ':'), *path;

		if (ctls == NULL || (path = strchr(ctls + 1, ':')) == NULL)
			continue;
		*path++ = '\0';
		ctls++;
		if (*ctl == '\0' ? *ctls != '\0' : strcmp(ctls, ctl) != 0)
			continue;
		snprintf(out, outsz, "%s", path);
		return 0;
	}
	return -1;
}

/* Where the hierarchy is mounted (v1: the one with controller ctl;
 * v2: ctl ""), and the part of the hierarchy the mount shows. */
static int
mount_of(const char *ctl, char *point, size_t pointsz, char *root,
    size_t rootsz)
{
	char line[1024];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int rc = -1;

	if (f == NULL)
		return -1;
	while (rc == -1 && fgets(line, sizeof(line), f) != NULL) {
		char r[PATH_MAX], p[PATH_MAX], fstype[32], opts[512];
		const char *dash = strstr(line, " - ");

		if (dash == NULL || sscanf(line, "%*s %*s %*s %4095s %4095s",
		    r, p) != 2 || sscanf(dash + 3, "%31s %*s %511s", fstype,
		    opts) != 2)
			continue;
		if (*ctl == '\0' ? strcmp(fstype, "cgroup2") != 0 :
		    strcmp(fstype, "cgroup") != 0)
			continue;
		if (*ctl != '\0') {
			/* the controller must be one of the super options */
			char *o, *save = NULL;
			bool found = false;

			for (o = strtok_r(opts, ",", &save); o != NULL;
			    o = strtok_r(NULL, ",", &save))
				if (strcmp(o, ctl) == 0)
					found = true;
			if (!found)
				continue;
		}
		snprintf(point, pointsz, "%s", p);
		snprintf(root, rootsz, "%s", r);
		rc = 0;
	}
	fclose(f);
	return rc;
}

/* The directory of our own cgroup in that hierarchy. */
static int
own_dir(const char *ctl, char *out, size_t outsz)
{
	char path[PATH_MAX], point[PATH_MAX], root[PATH_MAX];
	const char *rel;
	size_t rlen;

	if (own_path(ctl, path, sizeof(path)) == -1 ||
	    mount_of(ctl, point, sizeof(point), root, sizeof(root)) == -1)
		return -1;
	rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
	if (strncmp(path, root, rlen) != 0)
		return -1;	/* our cgroup is outside what is mounted */
	rel = path + rlen;
	if ((size_t)snprintf(out, outsz, "%s%s", point, strcmp(rel, "/") == 0 ?
	    "" : rel) >= outsz)
		return -1;
	return 0;
}

/* dir/name into out; -1 if it does not fit. */
static int
join(char *out, size_t outsz, const char *dir, const char *name)
{
	int n = snprintf(out, outsz, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
write_file(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	int fd, rc;

	if (join(path, sizeof(path), dir, file) == -1 ||
	    (fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = write_all(fd, text, strlen(text));
	if (close(fd) == -1)
		rc = -1;
	return rc;
}

static bool
file_has_word(const char *dir, const char *file, const char *word)
{
	char path[PATH_MAX], buf[1024], *w, *save = NULL;
	ssize_t n;
	int fd;

	if (join(path, sizeof(path), dir, file) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read_all(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	for (w = strtok_r(buf, " \n", &save); w != NULL;
	    w = strtok_r(NULL, " \n", &save))
		if (strcmp(w, word) == 0)
			return true;
	return false;
}

static void
add_dir(struct task_cgroup *cg, const char *dir)
{
	cg->dirs[cg->ndirs++] = xstrdup(dir);
}

/* Make dir and put pid in it, with the given limit written first. */
static int
enter(struct task_cgroup *cg, const char *dir, const char *limit_file,
    const char *limit, pid_t pid)
{
	char num[24];

	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return -1;
	add_dir(cg, dir);
	if (limit_file != NULL && write_file(dir, limit_file, limit) == -1)
		return -1;
	snprintf(num, sizeof(num), "%ld", (long)pid);
	return write_file(dir, "cgroup.procs", num);
}

/*
 * cgroup v2 with delegation: our cgroup hands pids and memory down.  A
 * cgroup that enables controllers for its children may hold no process
 * itself, so the supervisor and its children move to a leaf first.
 */
static int
enter_v2(const struct cgroup_limits *lim, pid_t pid, struct task_cgroup *cg)
{
	char own[PATH_MAX], leaf[PATH_MAX], dir[PATH_MAX], num[24];
	char procs[PATH_MAX], buf[8192], name[32], *p, *save = NULL;
	ssize_t n;
	int fd;

	if (own_dir("", own, sizeof(own)) == -1 ||
	    !file_has_word(own, "cgroup.controllers", "pids") ||
	    !file_has_word(own, "cgroup.controllers", "memory"))
		return -1;
	if (!file_has_word(own, "cgroup.subtree_control", "pids") ||
	    !file_has_word(own, "cgroup.subtree_control", "memory")) {
		if (join(leaf, sizeof(leaf), own, "sepworker") == -1 ||
		    (mkdir(leaf, 0755) == -1 && errno != EEXIST) ||
		    join(procs, sizeof(procs), own, "cgroup.procs") == -1 ||
		    (fd = open(procs, O_RDONLY | O_CLOEXEC)) == -1)
			return -1;
		n = read_all(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0)
			return -1;
		buf[n] = '\0';
		for (p = strtok_r(buf, "\n", &save); p != NULL;
		    p = strtok_r(NULL, "\n", &save))
			if (write_file(leaf, "cgroup.procs", p) == -1 &&
			    errno != ESRCH)
				return -1;
		if (write_file(own, "cgroup.subtree_control",
		    "+pids +memory") == -1)
			return -1;
	}
	snprintf(name, sizeof(name), "task-%u", lim->uid);
	snprintf(num, sizeof(num), "%ju", (uintmax_t)lim->max_processes);
	if (join(dir, sizeof(dir), own, name) == -1 ||
	    enter(cg, dir, "pids.max", num, pid) == -1)
		return -1;
	if (lim->max_memory_bytes) {
		snprintf(num, sizeof(num), "%ju",
		    (uintmax_t)lim->max_memory_bytes);
		if (write_file(dir, "memory.max", num) == -1)
			return -1;
	}
	snprintf(cg->desc, sizeof(cg->desc), "cgroup v2 %.140s", dir);
	return 0;
}

/* cgroup v1: one directory in each of the pids and memory hierarchies. */
static int
enter_v1(const struct cgroup_limits *lim, pid_t pid, struct task_cgroup *cg)
{
	char own[PATH_MAX], dir[PATH_MAX], num[24], name[40];
	int have = 0;

	snprintf(name, sizeof(name), "sepworker-task-%u", lim->uid);
	if (own_dir("pids", own, sizeof(own)) == 0) {
		snprintf(num, sizeof(num), "%ju",
		    (uintmax_t)lim->max_processes);
		if (join(dir, sizeof(dir), own, name) == -1 ||
		    enter(cg, dir, "pids.max", num, pid) == -1)
			return -1;
		have |= 1;
	}
	if (own_dir("memory", own, sizeof(own)) == 0) {
		snprintf(num, sizeof(num), "%ju",
		    (uintmax_t)lim->max_memory_bytes);
		if (join(dir, sizeof(dir), own, name) == -1 ||
		    enter(cg, dir, lim->max_memory_bytes ?
		    "memory.limit_in_bytes" : NULL, num, pid) == -1)
			return -1;
		have |= 2;
	}
	if (have == 0)
		return -1;
	snprintf(cg->desc, sizeof(cg->desc), "cgroup v1%s%s",
	    have & 1 ? " pids" : "", have & 2 ? " memory" : "");
	return 0;
}

bool
cgroup_task_enter(const struct cgroup_limits *lim, pid_t pid,
    struct task_cgroup *cg)
{
	memset(cg, 0, sizeof(*cg));
	if (enter_v2(lim, pid, cg) == 0)
		return true;
	cgroup_task_remove(cg);
	if (enter_v1(lim, pid, cg) == 0)
		return true;
	cgroup_task_remove(cg);
	snprintf(cg->desc, sizeof(cg->desc), "no cgroup limits (this host "
	    "offers neither a delegated cgroup v2 nor writable v1 pids or "
	    "memory hierarchies): rlimits only");
	return false;
}

void
cgroup_task_remove(struct task_cgroup *cg)
{
	for (size_t i = 0; i < cg->ndirs; i++) {
		/* Empty once the task's pid namespace is gone. */
		rmdir(cg->dirs[i]);
		free(cg->dirs[i]);
	}
	cg->ndirs = 0;
}

/* Where task cgroups are made, with the prefix of their names. */
struct task_parent {
	char		 dir[PATH_MAX];
	const char	*prefix;
};

static size_t
task_parents(struct task_parent *tp)
{
	size_t n = 0;
	char *slash;

	if (own_dir("", tp[n].dir, sizeof(tp[n].dir)) == 0) {
		tp[n++].prefix = "task-";
		/* enter_v2() moves every process of its cgroup, this one's
		 * starter too, into a "sepworker" leaf: an earlier run's
		 * task cgroup may lie beside the leaf we are in now. */
		slash = strrchr(tp[n - 1].dir, '/');
		if (slash != NULL && strcmp(slash, "/sepworker") == 0) {
			memcpy(tp[n].dir, tp[n - 1].dir, sizeof(tp[n].dir));
			tp[n].dir[slash - tp[n - 1].dir] = '\0';
			tp[n++].prefix = "task-";
		}
	}
	if (own_dir("pids", tp[n].dir, sizeof(tp[n].dir)) == 0)
		tp[n++].prefix = "sepworker-task-";
	if (own_dir("memory", tp[n].dir, sizeof(tp[n].dir)) == 0)
		tp[n++].prefix = "sepworker-task-";
	return n;
}

/* The uid a task cgroup's name stands for, or 0. */
static uint32_t
name_uid(const char *name, const char *prefix)
{
	size_t plen = strlen(prefix);
	unsigned long u;
	char *end;

	if (strncmp(name, prefix, plen) != 0 || name[plen] < '1' ||
	    name[plen] > '9')
		return 0;
	errno = 0;
	u = strtoul(name + plen, &end, 10);
	return *end != '\0' || errno != 0 || u > UINT32_MAX ? 0 : (uint32_t)u;
}

void
cgroup_task_leftover_uids(void (*found)(uint32_t, void *), void *arg)
{
	struct task_parent tp[CGROUP_MAX_PARENTS];
	size_t n = task_parents(tp);

	for (size_t i = 0; i < n; i++) {
		DIR *d = opendir(tp[i].dir);
		struct dirent *e;
		uint32_t u;

		while (d != NULL && (e = readdir(d)) != NULL)
			if (e->d_type == DT_DIR &&
			    (u = name_uid(e->d_name, tp[i].prefix)) != 0)
				found(u, arg);
		if (d != NULL)
			closedir(d);
	}
}

size_t
cgroup_task_leftovers(uint32_t uid, char (*dirs)[PATH_MAX], size_t max)
{
	struct task_parent tp[CGROUP_MAX_PARENTS];
	size_t n = 0, np = task_parents(tp);
	struct stat st;
	char name[40];

	for (size_t i = 0; i < np && n < max; i++) {
		snprintf(name, sizeof(name), "%s%u", tp[i].prefix, uid);
		if (join(dirs[n], sizeof(dirs[n]), tp[i].dir, name) == 0 &&
		    lstat(dirs[n], &st) == 0 && S_ISDIR(st.st_mode))
			n++;
	}
	return n;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * SIGKILL what cgroup.procs of dir lists.  Each pid is pinned with a
 * pidfd and the list read again: a pid still listed then is the pinned
 * process (a reused pid would have to join this very cgroup), so no
 * process outside it is ever signalled.  Returns how many were listed.
 */
static size_t
kill_members(const char *dir, unsigned *killed)
{
	char path[PATH_MAX], buf[8192], again[8192], *p, *save = NULL;
	ssize_t n;
	size_t listed = 0;
	int fd;

	if (join(path, sizeof(path), dir, "cgroup.procs") == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read_all(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (p = strtok_r(buf, "\n", &save); p != NULL;
	    p = strtok_r(NULL, "\n", &save)) {
		char *w, *save2 = NULL;
		bool still = false;
		int pfd;

		listed++;
		if ((pfd = (int)pidfd_open((pid_t)atoi(p), 0)) == -1)
			continue;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
			n = read_all(fd, again, sizeof(again) - 1);
			close(fd);
			again[n > 0 ? n : 0] = '\0';
			for (w = strtok_r(again, "\n", &save2); w != NULL;
			    w = strtok_r(NULL, "\n", &save2))
				if (strcmp(w, p) == 0)
					still = true;
		}
		if (still && pidfd_send_signal(pfd, SIGKILL, NULL, 0) == 0)
			(*killed)++;
		close(pfd);
	}
	return listed;
}

int
cgroup_remove_leftover(const char *dir, unsigned wait_ms, unsigned *killed)
{
	uint64_t deadline = mono_ms() + wait_ms;
	const struct timespec pause = { 0, 20 * 1000 * 1000 };
	unsigned again = 0;

	*killed = 0;
	kill_members(dir, killed);
	/* v2 also kills, at once, whatever a member forked meanwhile. */
	(void)write_file(dir, "cgroup.kill", "1");
	/* A member still dying is signalled again, not counted again: no
	 * new one can join, as only a member could fork it. */
	for (;;) {
		if (kill_members(dir, &again) == 0 &&
		    (rmdir(dir) == 0 || errno == ENOENT))
			return 0;
		if (mono_ms() >= deadline) {
			errno = EBUSY;
			return -1;
		}
		nanosleep(&pause, NULL);
	}
}
