/*
 * keyholder: holds the ed25519 signing key and does nothing but sign.
 *
 * It is started by the supervisor, locks itself down (common/sandbox.h)
 * and then serves its channel (common/chan_keyholder.h).
 */
#include <stdlib.h>
#include <sodium.h>

#include "common/chan_keyholder.h"
#include "common/child.h"
#include "common/log.h"
#include "common/util.h"
#include "keyholder/keyholder.h"

int
main(int argc, char **argv)
{
	struct child_args args;
	struct ipc_conn conn;
	uint32_t state = CHILD_ST_SERVING;

	sandbox_early(true);
	child_start(argc, argv, "keyholder", NULL, NULL, &args);
	/* libsodium reads /dev/urandom state and CPU features once: do it
	 * while files may still be opened. */
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	child_lockdown(&keyholder_policy, &args);
	ipc_conn_init(&conn, CHILD_CONTROL_FD, &keyholder_channel,
	    IPC_TO_CHILD);
	child_serve(&conn, NULL, 0, &state, NULL);
}
