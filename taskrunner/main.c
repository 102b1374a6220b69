/*
 * taskrunner: runs one task in a sandbox and exits with it.  It holds no
 * secret and no capability; the privileged steps a sandbox needs are
 * requests to the supervisor (common/chan_taskrunner.h).
 */
#include <stdlib.h>

#include "common/chan_taskrunner.h"
#include "common/child.h"
#include "common/log.h"
#include "taskrunner/taskrunner.h"

int
main(int argc, char **argv)
{
	struct child_args args;
	struct ipc_conn conn;
	uint32_t state = CHILD_ST_SERVING;

	/* Soft core limit only: the hard limit is inherited by tasks. */
	sandbox_early(false);
	child_start(argc, argv, "taskrunner", NULL, NULL, &args);
	child_lockdown(&taskrunner_policy, &args);
	ipc_conn_init(&conn, CHILD_CONTROL_FD, &taskrunner_channel,
	    IPC_TO_CHILD);
	child_serve(&conn, NULL, 0, &state, NULL);
}
