/*
 * badchild: a stand-in for a child that has been taken over.  It says
 * READY like a real child, then sends a message its channel does not
 * have.  The supervisor must treat it as compromised and stop.
 */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/child.h"
#include "common/ipc.h"

int
main(void)
{
	struct ipc_hdr ready = { 1, IPC_HDR_SIZE, 0, 0 };
	struct ipc_hdr bogus = { 999, IPC_HDR_SIZE, 0, 0 };
	char c;

	send(CHILD_CONTROL_FD, &ready, sizeof(ready), 0);
	send(CHILD_CONTROL_FD, &bogus, sizeof(bogus), 0);
	/* Wait to be killed. */
	while (read(CHILD_CONTROL_FD, &c, 1) > 0)
		;
	return 0;
}
