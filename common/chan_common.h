/*
 * Messages every child channel carries.  Channel headers (chan_*.h) list
 * these first and add their own from CHAN_FIRST_OWN_TYPE on.
 *
 *	READY		child -> supervisor	sandbox entered, serving
 *	PING		supervisor -> child	u64 nonce
 *	PONG		child -> supervisor	u64 nonce, echoed
 *	SHUTDOWN	supervisor -> child	exit now, status 0
 */
#ifndef SEPWORKER_CHAN_COMMON_H
#define SEPWORKER_CHAN_COMMON_H

#include "ipc.h"

enum {
	MSG_READY = 1,
	MSG_PING = 2,
	MSG_PONG = 3,
	MSG_SHUTDOWN = 4,
	CHAN_FIRST_OWN_TYPE = 16,
};

#define CHAN_COMMON_MSGS						\
	{ MSG_READY, "READY", IPC_TO_SUPERVISOR, 0, 0, false },		\
	{ MSG_PING, "PING", IPC_TO_CHILD, 8, 8, false },		\
	{ MSG_PONG, "PONG", IPC_TO_SUPERVISOR, 8, 8, false },		\
	{ MSG_SHUTDOWN, "SHUTDOWN", IPC_TO_CHILD, 0, 0, false }

#endif
