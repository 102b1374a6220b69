/*
 * The task's filesystem view: a root of its own.
 *
 * Landlock alone cannot hide the host: it does not mediate connect() to
 * pathname sockets, stat() or inotify.  So the task's root is a fresh
 * tmpfs that holds only what a task may see, each at the path it has on
 * the host:
 *   - read-only bind mounts of task_host_paths (/usr, /bin, /sbin, /lib*,
 *     /opt, /etc) and of the operator's taskReadOnlyPaths;
 *   - the task directory, and the empty directories leading to it: no
 *     other entry of tasksDir is there, wherever tasksDir lies;
 *   - the task's own /tmp, /dev (a few host device nodes, its own pts and
 *     shm), /run (empty but for the resolver's file), /proc and /sys;
 *   - /etc/passwd and /etc/group that know the task user.
 * Every mount is nosuid, and nodev but for /dev's nodes; the root itself
 * is read-only.  We build it on the host's /tmp, in our own mount
 * namespace, then pivot_root makes it "/" and the host's tree is
 * detached.  proc and sysfs are mounted before that: a user namespace may
 * mount them only while a fully visible instance is in its mount
 * namespace.  Paths inside the new root are resolved in it (openat2
 * RESOLVE_IN_ROOT), so a symbolic link found there never leads back to
 * the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/task_paths.h"
#include "common/util.h"
#include "taskrunner/task.h"

/* Where the new root is built: any directory of the host will do, as
 * the mount on it stays in our namespace. */
#define NEWROOT		"/tmp"
#define RO_ATTRS	(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | \
			 MOUNT_ATTR_NODEV)

static int		 newroot = -1;	/* O_PATH, the new root's tmpfs */
static struct ipc_conn	*notes;		/* to the task log */

/* path (absolute, as the task will see it) in the new root: symbolic
 * links resolve there, never on the host. */
static int
root_open(const char *path)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };

	return (int)syscall(SYS_openat2, newroot, path, &how, sizeof(how));
}

static void
make_entry(int parent, const char *name, bool dir, const char *path)
{
	int fd;

	if (dir) {
		if (mkdirat(parent, name, 0755) == -1)
			init_setup_failed("mkdir %s", path);
		return;
	}
	if ((fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0444)) == -1)
		init_setup_failed("creating %s", path);
	close(fd);
}

/*
 * An O_PATH fd of path in the new root, made where missing (with the
 * directories leading to it): a directory, or an empty file to mount a
 * file on.
 */
static int
root_mountpoint(const char *path, bool dir)
{
	char buf[PATH_MAX], *name, *slash;
	int fd, parent = newroot;

	if (path[0] != '/' || strlen(path) >= sizeof(buf)) {
		errno = EINVAL;
		init_setup_failed("the path %s", path);
	}
	strcpy(buf, path);
	for (name = buf + 1;; name = slash + 1) {
		if ((slash = strchr(name, '/')) != NULL)
			*slash = '\0';
		if ((fd = root_open(buf)) == -1 && errno == ENOENT) {
			make_entry(parent, name, dir || slash != NULL, buf);
			fd = root_open(buf);
		}
		if (fd == -1)
			init_setup_failed("opening %s in the task's root", buf);
		if (parent != newroot)
			close(parent);
		if (slash == NULL)
			return fd;
		*slash = '/';
		parent = fd;
	}
}

static void
mount_on(const char *src, int fd, const char *path, const char *type,
    unsigned long flags, const char *data)
{
	char target[32];

	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(src, target, type, flags, data) == -1)
		init_setup_failed("mounting %s on %s", type ? type : src, path);
	close(fd);
}

/* Take rights away from the mount at path and every mount below it.
 * Only setting flags: clearing one the kernel locked (the host's nosuid,
 * say) is refused in a user namespace, and the atime flags stay as they
 * are for the same reason. */
static void
restrict_mount(const char *path, uint64_t attrs)
{
	struct mount_attr attr = { .attr_set = attrs };
	int fd = root_open(path);

	if (fd == -1 || mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE,
	    &attr, sizeof(attr)) == -1)
		init_setup_failed("restricting the mount on %s", path);
	close(fd);
}

/* The host's src (with what is mounted below it), read-only at path. */
static void
bind_ro(const char *src, const char *path, bool dir, uint64_t attrs)
{
	mount_on(src, root_mountpoint(path, dir), path, NULL, MS_BIND | MS_REC,
	    NULL);
	restrict_mount(path, RO_ATTRS | attrs);
}

static void
mount_fs(const char *type, const char *path, unsigned long flags,
    const char *data)
{
	mount_on(type, root_mountpoint(path, true), path, type, flags, data);
}

/* Is real (canonical) one of the listed directories, or below one? */
static bool
below_listed_dir(const char *real)
{
	struct stat st;

	for (size_t i = 0; i < TASK_HOST_PATHS; i++) {
		const char *dir = task_host_paths[i].path;
		size_t n = strlen(dir);

		if (strncmp(real, dir, n) == 0 && (real[n] == '\0' ||
		    real[n] == '/') && lstat(dir, &st) == 0 &&
		    S_ISDIR(st.st_mode))
			return true;
	}
	return false;
}

/* task_host_paths; a symbolic link among them (/lib -> usr/lib) is
 * copied when it leads to another of them, else what it leads to is
 * mounted in its place. */
static void
bind_host_paths(void)
{
	char real[PATH_MAX], link[PATH_MAX];

	for (size_t i = 0; i < TASK_HOST_PATHS; i++) {
		const char *path = task_host_paths[i].path;
		struct stat st;
		ssize_t n;

		if (lstat(path, &st) == -1 || realpath(path, real) == NULL)
			continue;	/* not on this host */
		if (S_ISLNK(st.st_mode) && below_listed_dir(real)) {
			if ((n = readlink(path, link, sizeof(link) - 1)) == -1)
				init_setup_failed("readlink %s", path);
			link[n] = '\0';
			if (symlinkat(link, newroot, path + 1) == -1)
				init_setup_failed("symlink %s", path);
			continue;
		}
		bind_ro(real, path, true, task_host_paths[i].exec ? 0 :
		    MOUNT_ATTR_NOEXEC);
	}
}

/* Is path one of the task's own trees (or below one), where a host path
 * could not show? */
static const char *
own_tree(const char *path)
{
	static const char *const own[] = { "/tmp", "/dev", "/run", "/proc",
	    "/sys" };

	for (size_t i = 0; i < nitems(own); i++) {
		size_t n = strlen(own[i]);

		if (strncmp(path, own[i], n) == 0 && (path[n] == '\0' ||
		    path[n] == '/'))
			return own[i];
	}
	return NULL;
}

/* A symbolic link at path (made with the directories leading to it)
 * to target, unless path already leads somewhere in the new root. */
static void
link_path(const char *path, const char *target)
{
	char dir[PATH_MAX], *slash;
	int fd, parent;

	if ((fd = root_open(path)) != -1) {
		close(fd);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	parent = dir[0] == '\0' ? newroot : root_mountpoint(dir, true);
	if (symlinkat(target, parent, slash + 1) == -1)
		init_setup_failed("symlink %s", path);
	if (parent != newroot)
		close(parent);
}

/*
 * The operator's taskReadOnlyPaths, one a line; read and run.  Each is
 * mounted at its canonical path, with a symbolic link at the path as
 * given when that differs (a symbolic link on the way may lie in a tree
 * mounted read-only, where nothing can be made).  The init is the task
 * user here: what that user could not reach on the host is not shown.
 */
static void
bind_read_only_paths(struct task *t)
{
	const char *p = t->read_only_paths, *tree;
	char path[PATH_MAX], real[PATH_MAX];
	struct stat st;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, "\n");

		snprintf(path, sizeof(path), "%.*s", (int)len, p);
		p += len + (p[len] == '\n');
		if ((tree = own_tree(path)) == NULL &&
		    (realpath(path, real) == NULL || stat(real, &st) == -1))
			init_note(notes, "taskReadOnlyPaths: %s is not shown: "
			    "%s", path, strerror(errno));
		else if (tree != NULL || (tree = own_tree(real)) != NULL)
			init_note(notes, "taskReadOnlyPaths: %s is not shown: "
			    "the task has its own %s", path, tree);
		else {
			bind_ro(real, real, S_ISDIR(st.st_mode), 0);
			if (strcmp(path, real) != 0)
				link_path(path, real);
		}
	}
}

/* A file with the given text, made in the task's /tmp (already
 * mounted), bind-mounted read-only over path, then unlinked: the mount
 * keeps it alive. */
static void
overlay_file(const char *path, const char *text)
{
	static int n;
	char tmp[64];
	int fd;

	snprintf(tmp, sizeof(tmp), NEWROOT "/tmp/.sepworker-overlay-%d", n++);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd == -1 || write_all(fd, text, strlen(text)) == -1)
		init_setup_failed("writing the task's %s", path);
	close(fd);
	mount_on(tmp, root_mountpoint(path, false), path, NULL, MS_BIND, NULL);
	restrict_mount(path, RO_ATTRS | MOUNT_ATTR_NOEXEC);
	unlink(tmp);
}

/* /dev: a tmpfs with bind mounts of the few host devices a task needs,
 * its own pts and shm. */
static void
build_dev(void)
{
	static const char *const nodes[] = {
		"null", "zero", "full", "random", "urandom", "tty",
	};
	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" }, { "ptmx", "pts/ptmx" },
	};
	char path[64];
	int dev;

	mount_fs("tmpfs", "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
	for (size_t i = 0; i < nitems(nodes); i++) {
		snprintf(path, sizeof(path), "/dev/%s", nodes[i]);
		/* The source is the host's node, the target ours. */
		mount_on(path, root_mountpoint(path, false), path, NULL,
		    MS_BIND, NULL);
		restrict_mount(path, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	}
	if ((dev = root_open("/dev")) == -1)
		init_setup_failed("opening the task's /dev");
	for (size_t i = 0; i < nitems(links); i++)
		if (symlinkat(links[i][1], dev, links[i][0]) == -1)
			init_setup_failed("symlink /dev/%s", links[i][0]);
	close(dev);
	mount_fs("devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC,
	    "newinstance,ptmxmode=0666,mode=0620");
	mount_fs("tmpfs", "/dev/shm", MS_NOSUID | MS_NODEV, "mode=1777");
}

/* An empty, read-only /run: none of the host's sockets (dbus, systemd,
 * container engines).  The resolver's file is kept if /etc/resolv.conf
 * leads there. */
static void
build_run(void)
{
	char target[PATH_MAX];

	mount_fs("tmpfs", "/run", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "mode=0755,size=64k");
	if (realpath("/etc/resolv.conf", target) != NULL &&
	    strncmp(target, "/run/", 5) == 0)
		bind_ro(target, target, false, MOUNT_ATTR_NOEXEC);
	restrict_mount("/run", RO_ATTRS | MOUNT_ATTR_NOEXEC);
}

/*
 * /sys.  In its own network namespace the task gets a fresh sysfs: it
 * shows that namespace's interfaces, and no mount of the host's (no
 * cgroup tree).  Sharing the host's network, it cannot have one (sysfs
 * belongs to the host's namespace then); it gets what runtimes read to
 * size themselves (processors, NUMA nodes, transparent huge pages),
 * nothing that names the host's files, mounts or other tasks.
 */
static void
build_sys(struct task *t)
{
	static const char *const parts[] = {
		"/sys/devices/system/cpu", "/sys/devices/system/node",
		"/sys/kernel/mm/transparent_hugepage",
	};
	struct stat st;

	if (t->a.flags & TASK_F_NET_ISOLATED) {
		mount_fs("sysfs", "/sys", MS_RDONLY | MS_NOSUID | MS_NODEV |
		    MS_NOEXEC, NULL);
		return;
	}
	mount_fs("tmpfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "mode=0755,size=64k");
	for (size_t i = 0; i < nitems(parts); i++)
		if (stat(parts[i], &st) == 0)
			bind_ro(parts[i], parts[i], true, MOUNT_ATTR_NOEXEC);
	restrict_mount("/sys", RO_ATTRS | MOUNT_ATTR_NOEXEC);
}

/*
 * The task directory at its own path, alone in an empty read-only tmpfs
 * on tasksDir: no other entry of tasksDir shows, even where tasksDir lies
 * in a tree the task may read.  The supervisor's fd cannot be the source
 * (its mount is in the host's namespace, not ours): the path is, in our
 * copy of the host's tree, once we know it is the same directory.
 */
static void
bind_taskdir(struct task *t)
{
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	char tasksdir[PATH_MAX], src[32];
	struct stat a, b;
	int fd, dirfd, target;

	fd = open(t->taskdir_path, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 || fstat(fd, &a) == -1 || fstat(t->taskdir_fd, &b) == -1)
		init_setup_failed("the task directory %s", t->taskdir_path);
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		errno = EXDEV;
		init_setup_failed("%s is not the task directory made for us",
		    t->taskdir_path);
	}
	snprintf(tasksdir, sizeof(tasksdir), "%s", t->taskdir_path);
	*strrchr(tasksdir, '/') = '\0';
	mount_fs("tmpfs", tasksdir, MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "mode=0755,size=16k");
	target = root_mountpoint(t->taskdir_path, true);
	if ((dirfd = root_open(tasksdir)) == -1 ||
	    mount_setattr(dirfd, "", AT_EMPTY_PATH, &ro, sizeof(ro)) == -1)
		init_setup_failed("making %s read-only", tasksdir);
	close(dirfd);
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	mount_on(src, target, t->taskdir_path, NULL, MS_BIND | MS_REC, NULL);
	close(fd);
	restrict_mount(t->taskdir_path, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

/* The new root becomes "/", read-only, and the host's tree goes. */
static void
enter_root(void)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

	if (mount_setattr(newroot, "", AT_EMPTY_PATH, &attr, sizeof(attr)) ==
	    -1)
		init_setup_failed("making the task's root read-only");
	/* pivot_root(".", ".") stacks the old root on the new one; the
	 * detach takes it, and every host mount below it, away. */
	if (fchdir(newroot) == -1 || syscall(SYS_pivot_root, ".", ".") == -1)
		init_setup_failed("pivot_root");
	if (umount2(".", MNT_DETACH) == -1 || chdir("/") == -1)
		init_setup_failed("detaching the host's root");
	close(newroot);
	newroot = -1;
}

void
taskroot_build(struct task *t, struct ipc_conn *c)
{
	notes = c;
	/* Nothing we mount may leak back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		init_setup_failed("making our mounts private");
	if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "mode=0755,size=1m") == -1 ||
	    (newroot = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		init_setup_failed("the task's root on %s", NEWROOT);
	bind_host_paths();
	mount_fs("tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777");
	overlay_file("/etc/passwd", t->passwd);
	overlay_file("/etc/group", t->group);
	build_dev();
	build_run();
	mount_fs("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	build_sys(t);
	bind_read_only_paths(t);
	bind_taskdir(t);
	enter_root();
}
