/*
 * The start-up cleanup.  For each task uid that shows a trace (a process
 * running as it, a task cgroup named for it, a task directory it owns)
 * and whose lease can be taken: kill its processes, then remove its
 * cgroups (killing what is in them), then its directories, which a
 * process dropped to that uid empties (root never walks a path a task
 * controlled) before root removes the empty directory.  Then the lease
 * goes back.
 *
 * Directories named task_* that no uid of the range owns:
 * - root's: privop_make_taskdir() makes a directory as root and gives it
 *   to the task uid at once; a supervisor killed in between leaves it
 *   empty.  Removed with rmdir alone (so only when empty), and only once
 *   a minute old, past the moment a live worker could be in between.
 * - another uid's: another worker, with another task range, may share
 *   tasksDir and be running that task; this worker was given no right
 *   over that uid.  Left alone, and the log says so.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rmtree.h"
#include "common/util.h"
#include "supervisor/cgroup.h"
#include "supervisor/leftovers.h"
#include "supervisor/taskuid.h"

/* How long the processes of a uid, or of a cgroup, get to die. */
#define LEFTOVER_KILL_WAIT_MS	5000
/* A root-owned task directory younger than this may be a live worker's
 * between its mkdir and its chown. */
#define ROOT_DIR_MIN_AGE_S	60

struct uid_set {
	const struct sw_config	*cfg;
	uint32_t		*uids;
	size_t			 n;
};

struct tally {
	unsigned	uids_held;
	unsigned	processes;
	unsigned	cgroups;
	unsigned	dirs;
	unsigned	failures;
};

static void
add_uid(uint32_t uid, void *arg)
{
	struct uid_set *set = arg;

	if (!config_is_task_uid(set->cfg, uid))
		return;
	for (size_t i = 0; i < set->n; i++)
		if (set->uids[i] == uid)
			return;
	set->uids = reallocarray(set->uids, set->n + 1, sizeof(uint32_t));
	if (set->uids == NULL)
		fatal("start-up cleanup");
	set->uids[set->n++] = uid;
}

/* Is tasksDir/name a directory named task_* (not a link to one)? */
static bool
task_dir(int tasksfd, const char *name, struct stat *st)
{
	return strncmp(name, "task_", 5) == 0 &&
	    fstatat(tasksfd, name, st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st->st_mode);
}

/* Owners of task_* directories in tasksDir; the others are dealt with
 * (or named) here at once. */
static void
uids_of_dirs(struct uid_set *set, int tasksfd, struct tally *t)
{
	int fd = openat(tasksfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat st;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!task_dir(tasksfd, e->d_name, &st))
			continue;
		if (config_is_task_uid(set->cfg, st.st_uid))
			add_uid(st.st_uid, set);
		else if (st.st_uid != 0)
			log_info("start-up cleanup: left task directory %s/%s "
			    "alone: its owner, uid %u, is not of the task uid "
			    "range", set->cfg->tasks_dir, e->d_name,
			    (unsigned)st.st_uid);
		else if (time(NULL) - st.st_mtime >= ROOT_DIR_MIN_AGE_S) {
			if (unlinkat(tasksfd, e->d_name, AT_REMOVEDIR) == 0) {
				log_info("removed task directory %s/%s "
				    "(root's, empty: its run died before "
				    "giving it to the task uid)",
				    set->cfg->tasks_dir, e->d_name);
				t->dirs++;
			} else {
				log_warn("start-up cleanup: left root's task "
				    "directory %s/%s", set->cfg->tasks_dir,
				    e->d_name);
				t->failures++;
			}
		}
	}
	closedir(d);
}

/*
 * In a child dropped to uid (no capabilities, no_new_privs): empty the
 * directory tasksDir/name, which uid owns.  tasksDir is root's, so the
 * name cannot be swapped for a link meanwhile; the directory itself is
 * opened without following one anyway.  Exits 0 when it is empty.
 */
static void __attribute__((noreturn))
empty_as_uid(int tasksfd, const char *name, uint32_t uid, pid_t parent)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct caps[2];
	char self[64];
	struct stat st;
	int pfd, dfd;

	/* Leaving uid 0 for good clears every capability (the securebits
	 * are the default ones), ambient ones too: checked, not assumed. */
	if (setgroups(0, NULL) == -1 || setresgid(uid, uid, uid) == -1 ||
	    setresuid(uid, uid, uid) == -1 || setresuid(0, 0, 0) != -1 ||
	    syscall(SYS_capget, &hdr, caps) == -1 || caps[0].permitted ||
	    caps[1].permitted || caps[0].effective || caps[1].effective ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		_exit(2);
	/* The uid change cleared the death signal. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(2);
	pfd = openat(tasksfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (pfd == -1 || fstat(pfd, &st) == -1 || st.st_uid != uid)
		_exit(2);
	/* Its owner may have taken away its own rights on it. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	(void)!chmod(self, 0700);
	dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_exit(dfd != -1 && rmtree_contents(dfd) ? 0 : 1);
}

static int
remove_dir_as(int tasksfd, const char *name, uint32_t uid)
{
	pid_t parent = getpid(), pid;
	int status;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0)
		empty_as_uid(tasksfd, name, uid, parent);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = ENOTEMPTY;
		return -1;
	}
	return unlinkat(tasksfd, name, AT_REMOVEDIR);
}

static void
clean_dirs_of(const struct sw_config *cfg, int tasksfd, uint32_t uid,
    struct tally *t)
{
	int fd = openat(tasksfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat st;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!task_dir(tasksfd, e->d_name, &st) || st.st_uid != uid)
			continue;
		if (remove_dir_as(tasksfd, e->d_name, uid) == 0) {
			log_info("removed task directory %s/%s (task uid %u)",
			    cfg->tasks_dir, e->d_name, uid);
			t->dirs++;
		} else {
			log_warn("start-up cleanup: task directory %s/%s "
			    "(task uid %u) could not be removed",
			    cfg->tasks_dir, e->d_name, uid);
			t->failures++;
		}
	}
	closedir(d);
}

static void
clean_cgroups_of(uint32_t uid, struct tally *t)
{
	char dirs[CGROUP_MAX_PARENTS][PATH_MAX];
	size_t n = cgroup_task_leftovers(uid, dirs, CGROUP_MAX_PARENTS);
	unsigned killed;

	for (size_t i = 0; i < n; i++) {
		if (cgroup_remove_leftover(dirs[i], LEFTOVER_KILL_WAIT_MS,
		    &killed) == 0) {
			log_info("removed cgroup %s (task uid %u; killed %u "
			    "process%s in it)", dirs[i], uid, killed,
			    killed == 1 ? "" : "es");
			t->cgroups++;
			t->processes += killed;
		} else {
			log_warn("start-up cleanup: cgroup %s (task uid %u) "
			    "could not be removed", dirs[i], uid);
			t->failures++;
		}
	}
}

/* Everything of one uid, under its lease; false if a worker holds it. */
static bool
clean_uid(const struct sw_config *cfg, int tasksfd, uint32_t uid,
    struct tally *t)
{
	unsigned killed, left;
	int lease = taskuid_lease(cfg, uid);

	if (lease == -1) {
		if (errno != EWOULDBLOCK)
			log_warn("start-up cleanup: task uid %u: lock file in "
			    "%s", uid, cfg->run_dir);
		return false;
	}
	taskuid_kill_all(uid, LEFTOVER_KILL_WAIT_MS, &killed, &left);
	if (killed > 0)
		log_info("killed %u process%s of task uid %u", killed,
		    killed == 1 ? "" : "es", uid);
	if (left > 0) {
		log_warnx("start-up cleanup: %u process%s of task uid %u "
		    "still alive after %u ms", left, left == 1 ? "" : "es",
		    uid, LEFTOVER_KILL_WAIT_MS);
		t->failures++;
	}
	t->processes += killed;
	clean_cgroups_of(uid, t);
	clean_dirs_of(cfg, tasksfd, uid, t);
	close(lease);
	return true;
}

void
leftovers_remove(const struct sw_config *cfg)
{
	struct uid_set set = { .cfg = cfg };
	struct tally t = { 0 };
	int tasksfd;

	tasksfd = open(cfg->tasks_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (tasksfd == -1)
		fatal("tasksDir %s", cfg->tasks_dir);
	taskuid_process_uids(add_uid, &set);
	cgroup_task_leftover_uids(add_uid, &set);
	uids_of_dirs(&set, tasksfd, &t);
	for (size_t i = 0; i < set.n; i++)
		if (!clean_uid(cfg, tasksfd, set.uids[i], &t))
			t.uids_held++;
	close(tasksfd);
	free(set.uids);
	if (t.processes + t.cgroups + t.dirs + t.failures == 0)
		log_info("start-up cleanup: nothing left by earlier runs "
		    "(%u task uid%s in use by running workers, left alone)",
		    t.uids_held, t.uids_held == 1 ? "" : "s");
	else
		log_info("start-up cleanup: killed %u process%s, removed %u "
		    "cgroup%s and %u task director%s left by earlier runs; "
		    "%u failure%s; %u task uid%s in use by running workers, "
		    "left alone", t.processes, t.processes == 1 ? "" : "es",
		    t.cgroups, t.cgroups == 1 ? "" : "s", t.dirs,
		    t.dirs == 1 ? "y" : "ies", t.failures,
		    t.failures == 1 ? "" : "s", t.uids_held,
		    t.uids_held == 1 ? "" : "s");
}
