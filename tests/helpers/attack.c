/*
 * attack UID PID: become UID, then try to read or steer process PID the
 * ways a hostile process on the host would (ptrace, its memory, its
 * environment; signals are not tried: a uid may signal its own processes).  Prints one line per attempt;
 * exits 0 if every attempt was refused, 1 if any worked, 2 on misuse.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int worked;

static void
outcome(const char *what, int rc)
{
	if (rc == -1)
		printf("refused: %s: %s\n", what, strerror(errno));
	else {
		printf("WORKED: %s\n", what);
		worked = 1;
	}
}

int
main(int argc, char **argv)
{
	char path[64], byte;
	struct iovec local = { &byte, 1 }, remote = { (void *)0x400000, 1 };
	uid_t uid;
	pid_t pid;
	int fd;

	if (argc != 3)
		return 2;
	uid = (uid_t)atoi(argv[1]);
	pid = (pid_t)atoi(argv[2]);
	if (setgroups(0, NULL) == -1 || setresgid(uid, uid, uid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		perror("dropping to the attacker's uid");
		return 2;
	}
	if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) == 0) {
		waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		outcome("ptrace(PTRACE_ATTACH)", 0);
	} else
		outcome("ptrace(PTRACE_ATTACH)", -1);
	outcome("process_vm_readv", process_vm_readv(pid, &local, 1, &remote,
	    1, 0) == -1 && errno != EFAULT ? -1 : 0);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY);
	outcome("open /proc/<pid>/mem", fd);
	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	fd = open(path, O_RDONLY);
	outcome("open /proc/<pid>/environ", fd);
	return worked;
}
