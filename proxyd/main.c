/*
 * proxyd: holds the Taskcluster credentials and makes the requests that
 * need them.  Started by the supervisor; locks itself down before it
 * serves its channel (common/chan_proxyd.h).
 */
#include <sodium.h>
#include <stdlib.h>

#include "common/chan_proxyd.h"
#include "common/child.h"
#include "common/log.h"
#include "proxyd/proxyd.h"

int
main(int argc, char **argv)
{
	struct child_args args;
	struct ipc_conn conn;
	uint32_t state = CHILD_ST_SERVING;

	sandbox_early(true);
	child_start(argc, argv, "proxyd", NULL, NULL, &args);
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	child_lockdown(&proxyd_policy, &args);
	ipc_conn_init(&conn, CHILD_CONTROL_FD, &proxyd_channel, IPC_TO_CHILD);
	child_serve(&conn, NULL, 0, &state, NULL);
}
