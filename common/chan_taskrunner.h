/*
 * supervisor <-> taskrunner, including the privileged steps a task
 * sandbox needs.  The taskrunner holds no capability; it asks, and the
 * supervisor checks every request against the task it assigned and the
 * configured ranges (supervisor/privop.c).
 *
 *	USERNS_MAP_REQ	taskrunner -> supervisor
 *		u32 uid, fd = pidfd of the task's init, which the taskrunner
 *		cloned into a new user namespace.  The supervisor maps
 *		uid -> uid (and gid -> gid) in that namespace.
 *	TASKDIR_REQ	taskrunner -> supervisor
 *		create the task directory, owned by the task uid
 *	LISTENER_REQ	taskrunner -> supervisor
 *		u32 port: a TCP listener on 127.0.0.1:port (host networking)
 *	PRIVOP_OK	supervisor -> taskrunner, answers USERNS_MAP_REQ
 *	PRIVOP_FAIL	supervisor -> taskrunner
 *		string: why the request was refused
 *	TASKDIR		supervisor -> taskrunner, fd = O_PATH of the directory
 *	LISTENER	supervisor -> taskrunner, fd = the listening socket
 */
#ifndef SEPWORKER_CHAN_TASKRUNNER_H
#define SEPWORKER_CHAN_TASKRUNNER_H

#include "chan_common.h"

#define TASKRUNNER_MAX_MSG	65536u
#define PRIVOP_REASON_MAX	256u

enum {
	TR_USERNS_MAP_REQ = CHAN_FIRST_OWN_TYPE,
	TR_TASKDIR_REQ,
	TR_LISTENER_REQ,
	TR_PRIVOP_OK,
	TR_PRIVOP_FAIL,
	TR_TASKDIR,
	TR_LISTENER,
};

static const struct ipc_msgspec taskrunner_msgs[] = {
	CHAN_COMMON_MSGS,
	{ TR_USERNS_MAP_REQ, "USERNS_MAP_REQ", IPC_TO_SUPERVISOR, 4, 4, true },
	{ TR_TASKDIR_REQ, "TASKDIR_REQ", IPC_TO_SUPERVISOR, 0, 0, false },
	{ TR_LISTENER_REQ, "LISTENER_REQ", IPC_TO_SUPERVISOR, 4, 4, false },
	{ TR_PRIVOP_OK, "PRIVOP_OK", IPC_TO_CHILD, 0, 0, false },
	{ TR_PRIVOP_FAIL, "PRIVOP_FAIL", IPC_TO_CHILD, 4,
	    4 + PRIVOP_REASON_MAX, false },
	{ TR_TASKDIR, "TASKDIR", IPC_TO_CHILD, 0, 0, true },
	{ TR_LISTENER, "LISTENER", IPC_TO_CHILD, 0, 0, true },
};

static const struct ipc_channel taskrunner_channel __attribute__((unused)) = {
	"taskrunner", TASKRUNNER_MAX_MSG, taskrunner_msgs,
	sizeof(taskrunner_msgs) / sizeof(taskrunner_msgs[0]),
};

#endif
