/*
 * inject PID: make a running child break protocol.  Takes a copy of its
 * end of the supervisor's socket (pidfd_getfd: root only) and sends, as
 * the child, a message its channel does not have -- what a child taken
 * over might send.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/child.h"
#include "common/ipc.h"

int
main(int argc, char **argv)
{
	struct ipc_hdr bogus = { 999, IPC_HDR_SIZE, 0, 0 };
	int pidfd, fd;

	if (argc != 2) {
		fprintf(stderr, "usage: inject PID\n");
		return 2;
	}
	if ((pidfd = (int)syscall(SYS_pidfd_open, atoi(argv[1]), 0)) == -1 ||
	    (fd = (int)syscall(SYS_pidfd_getfd, pidfd, CHILD_CONTROL_FD,
	    0)) == -1) {
		perror("inject");
		return 1;
	}
	if (send(fd, &bogus, sizeof(bogus), 0) != (ssize_t)sizeof(bogus)) {
		perror("inject: send");
		return 1;
	}
	return 0;
}
