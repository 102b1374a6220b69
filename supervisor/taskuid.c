#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "supervisor/taskuid.h"

/* The ids of process pid (a /proc name) and its state letter; -1 if it
 * is gone or unreadable. */
static int
proc_ids(const char *pid, unsigned long ids[4], char *state)
{
	char path[300], buf[2048], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read_all(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "\nState:")) == NULL ||
	    sscanf(p + 7, " %c", state) != 1)
		return -1;
	if ((p = strstr(buf, "\nUid:")) == NULL ||
	    sscanf(p + 5, "%lu %lu %lu %lu", &ids[0], &ids[1], &ids[2],
	    &ids[3]) != 4)
		return -1;
	return 0;
}

static bool
runs_as(const char *pid, uint32_t uid, bool *zombie)
{
	unsigned long ids[4];
	char state;

	if (proc_ids(pid, ids, &state) == -1)
		return false;
	*zombie = state == 'Z';
	for (int i = 0; i < 4; i++)
		if (ids[i] == uid)
			return true;
	return false;
}

static bool
is_pid(const char *name)
{
	return name[0] >= '1' && name[0] <= '9';
}

bool
uid_has_process(uint32_t uid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false, zombie;

	if (d == NULL)
		return true;	/* cannot tell: do not reuse it */
	/* A zombie runs nothing: it only waits for a parent (here perhaps
	 * a pid 1 that never reaps) and must not take its uid out of use. */
	while (!found && (e = readdir(d)) != NULL)
		if (is_pid(e->d_name) && runs_as(e->d_name, uid, &zombie) &&
		    !zombie)
			found = true;
	closedir(d);
	return found;
}

void
taskuid_process_uids(void (*found)(uint32_t, void *), void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	unsigned long ids[4];
	char state;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (!is_pid(e->d_name) || proc_ids(e->d_name, ids, &state) ==
		    -1 || state == 'Z')
			continue;
		for (int i = 0; i < 4; i++)
			if (ids[i] <= UINT32_MAX)
				found((uint32_t)ids[i], arg);
	}
	if (d != NULL)
		closedir(d);
}

int
taskuid_rundir(const struct sw_config *cfg, char *err, size_t errlen)
{
	char *copy = xstrdup(cfg->run_dir), *p;
	struct stat st;

	for (p = strchr(copy + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(copy, 0755) == -1 && errno != EEXIST)
			break;
		*p = '/';
	}
	free(copy);
	if (mkdir(cfg->run_dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "runDir %s: %s", cfg->run_dir,
		    strerror(errno));
		return -1;
	}
	if (lstat(cfg->run_dir, &st) == -1) {
		snprintf(err, errlen, "runDir %s: %s", cfg->run_dir,
		    strerror(errno));
		return -1;
	}
	/* Whoever could write here could hold any uid's lease, or swap a
	 * lock file for a link. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0) {
		snprintf(err, errlen, "runDir %s must be a directory of uid "
		    "%u that no one else may write (it is %s, uid %u, mode "
		    "%04o)", cfg->run_dir, (unsigned)geteuid(),
		    S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int
taskuid_lease(const struct sw_config *cfg, uint32_t uid)
{
	char path[4200];
	int fd, saved;

	if ((size_t)snprintf(path, sizeof(path), "%s/task-uid-%u.lock",
	    cfg->run_dir, uid) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
taskuid_pick(const struct sw_config *cfg, uint32_t *uid, int *lease)
{
	uint32_t start = randombytes_uniform(cfg->task_uid_count);
	int fd;

	for (uint32_t k = 0; k < cfg->task_uid_count; k++) {
		uint32_t u = cfg->task_uid_first +
		    (start + k) % cfg->task_uid_count;

		if ((fd = taskuid_lease(cfg, u)) == -1) {
			if (errno == EWOULDBLOCK)
				continue;
			return -1;
		}
		/* Held by none, yet something runs as it: not ours to
		 * take (a start cleans such uids up first). */
		if (uid_has_process(u)) {
			close(fd);
			continue;
		}
		*uid = u;
		*lease = fd;
		return 0;
	}
	errno = EAGAIN;
	return -1;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * SIGKILL the process /proc names pid if it still runs as uid.  The
 * pidfd pins the process: if pid was reused after the first look, the
 * second look (made with the pidfd open) sees the new process's ids, and
 * a process that died since gets no signal at all.
 */
static bool
kill_if_runs_as(const char *pid, uint32_t uid)
{
	bool zombie, sent = false;
	int fd = (int)pidfd_open((pid_t)atoi(pid), 0);

	if (fd == -1)
		return false;
	if (runs_as(pid, uid, &zombie) && !zombie)
		sent = pidfd_send_signal(fd, SIGKILL, NULL, 0) == 0;
	close(fd);
	return sent;
}

/* Add pid to the set of those signalled; false if it was there. */
static bool
note_pid(pid_t **pids, size_t *n, pid_t pid)
{
	pid_t *grown;

	for (size_t i = 0; i < *n; i++)
		if ((*pids)[i] == pid)
			return false;
	if ((grown = reallocarray(*pids, *n + 1, sizeof(pid_t))) == NULL)
		return true;	/* counted, not remembered */
	*pids = grown;
	(*pids)[(*n)++] = pid;
	return true;
}

void
taskuid_kill_all(uint32_t uid, unsigned wait_ms, unsigned *killed,
    unsigned *left)
{
	uint64_t deadline = mono_ms() + wait_ms;
	const struct timespec pause = { 0, 20 * 1000 * 1000 };
	pid_t *signalled = NULL;
	size_t nsignalled = 0;

	*killed = 0;
	for (;;) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		bool zombie;

		*left = 0;
		if (d == NULL)
			break;
		while ((e = readdir(d)) != NULL) {
			if (!is_pid(e->d_name) ||
			    !runs_as(e->d_name, uid, &zombie) || zombie)
				continue;
			(*left)++;
			/* A process still dying is signalled again, and
			 * counted once. */
			if (kill_if_runs_as(e->d_name, uid) &&
			    note_pid(&signalled, &nsignalled,
			    (pid_t)atoi(e->d_name)))
				(*killed)++;
		}
		closedir(d);
		if (*left == 0 || mono_ms() >= deadline)
			break;
		nanosleep(&pause, NULL);
	}
	free(signalled);
}
