/*
 * Task uid leases (runDir lock files) between real processes, and the
 * removal walk a leftover task directory gets (common/rmtree.c).  Uses
 * a runDir of its own and task uids 71780-71782, which nothing else uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "common/rmtree.h"
#include "common/util.h"
#include "supervisor/config.h"
#include "supervisor/taskuid.h"

#define FIRST_UID	71780

struct fixture {
	struct sw_config	cfg;
	char			dir[64];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	config_defaults(&f->cfg);
	strcpy(f->dir, "/tmp/sepworker-taskuid-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	free(f->cfg.run_dir);
	f->cfg.run_dir = xasprintf("%s/run", f->dir);
	f->cfg.task_uid_first = FIRST_UID;
	f->cfg.task_uid_count = 3;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	(void)!system(cmd);
	free(cmd);
	config_free(&f->cfg);
	free(f);
	return 0;
}

/* In a forked child: take uid's lease, say so on the pipe, then hold it
 * until killed. */
static pid_t
holder(const struct sw_config *cfg, uint32_t uid)
{
	int p[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (taskuid_lease(cfg, uid) == -1)
			_exit(1);
		(void)!write(p[1], "x", 1);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void
test_lease_is_exclusive_until_its_holder_dies(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char err[256];
	pid_t pid;
	int fd;

	assert_int_equal(taskuid_rundir(&f->cfg, err, sizeof(err)), 0);
	assert_int_equal(stat(f->cfg.run_dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	pid = holder(&f->cfg, FIRST_UID);
	assert_int_equal(taskuid_lease(&f->cfg, FIRST_UID), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	/* Another uid is free. */
	fd = taskuid_lease(&f->cfg, FIRST_UID + 1);
	assert_true(fd >= 0);
	close(fd);
	/* SIGKILL: the kernel gives the uid back. */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	fd = taskuid_lease(&f->cfg, FIRST_UID);
	assert_true(fd >= 0);
	close(fd);
}

static void
test_pick_skips_held_uids(void **state)
{
	struct fixture *f = *state;
	char err[256];
	pid_t a, b;
	uint32_t uid;
	int lease, again;

	assert_int_equal(taskuid_rundir(&f->cfg, err, sizeof(err)), 0);
	a = holder(&f->cfg, FIRST_UID);
	b = holder(&f->cfg, FIRST_UID + 2);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(taskuid_pick(&f->cfg, &uid, &lease), 0);
		assert_int_equal(uid, FIRST_UID + 1);
		/* Picked means leased: the last free uid is gone now. */
		assert_int_equal(taskuid_pick(&f->cfg, &uid, &again), -1);
		assert_int_equal(errno, EAGAIN);
		close(lease);
	}
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
}

static void
test_rundir_others_may_write_refused(void **state)
{
	struct fixture *f = *state;
	char err[512];

	assert_int_equal(mkdir(f->cfg.run_dir, 0700), 0);
	assert_int_equal(chmod(f->cfg.run_dir, 0770), 0);
	assert_int_equal(taskuid_rundir(&f->cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "that no one else may write"));
	assert_int_equal(rmdir(f->cfg.run_dir), 0);
	assert_int_equal(symlink("/tmp", f->cfg.run_dir), 0);
	assert_int_equal(taskuid_rundir(&f->cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
}

/* rmtree_contents: links are unlinked, not followed; rights given back;
 * any depth. */
static void
test_rmtree_stays_inside(void **state)
{
	struct fixture *f = *state;
	char *tree = xasprintf("%s/tree", f->dir);
	char *outside = xasprintf("%s/outside", f->dir);
	char *cmd = xasprintf("set -e; mkdir -p %s/keep; echo k >%s/keep/f; "
	    "cd %s; ln -s %s out; ln -s %s/keep/f file; mkfifo fifo; "
	    "mkdir -p locked/in; echo x >locked/in/g; chmod 0 locked/in locked; "
	    "i=0; while [ $i -lt 600 ]; do mkdir d; cd d; i=$((i+1)); done; "
	    "ln -s / root", outside, outside, tree, outside, outside);
	int fd;

	assert_int_equal(mkdir(tree, 0700), 0);
	assert_int_equal(system(cmd), 0);
	fd = open(tree, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_true(rmtree_contents(fd));
	close(fd);
	assert_int_equal(rmdir(tree), 0);
	free(cmd);
	cmd = xasprintf("test \"$(cat %s/keep/f)\" = k", outside);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(tree);
	free(outside);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_lease_is_exclusive_until_its_holder_dies, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pick_skips_held_uids,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_rundir_others_may_write_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rmtree_stays_inside,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("taskuid", tests, NULL, NULL);
}
