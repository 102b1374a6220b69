/*
 * A cgroup per task, where the host offers one: limits that hold for the
 * task as a whole (rlimits are per process, or per uid for processes) and
 * a way to find every process it made.  cgroup v2 when our cgroup can
 * hand the pids and memory controllers down; else the v1 pids and memory
 * hierarchies.  Anything missing or refused is not an error: the task
 * runs with its rlimits alone, and the task log says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
