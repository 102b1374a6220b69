/*
 * supervisor <-> keyholder.  The keyholder's channel is the smallest:
 * nothing it receives needs more than a few bytes, and what it will sign
 * arrives as a sealed memfd, never inline.
 *
 *	PUBKEY_REQ	supervisor -> keyholder
 *	PUBKEY		keyholder -> supervisor: the 32-byte public key
 *	ANNOUNCE	supervisor -> keyholder: u32 runId, taskId (u32-length
 *			string): the one task it may sign for, once
 *	SIGN_REQ	supervisor -> keyholder, fd = sealed memfd holding a
 *			chain-of-trust document for the announced task
 *	SIGNATURE	keyholder -> supervisor: the 64-byte ed25519 signature,
 *			then the SHA-256 of what it signed (32 bytes)
 *	REFUSED		keyholder -> supervisor: why (u32-length string)
 */
#ifndef SEPWORKER_CHAN_KEYHOLDER_H
#define SEPWORKER_CHAN_KEYHOLDER_H

#include "chan_common.h"

#define KEYHOLDER_MAX_MSG	4096u
#define KH_TASK_ID_MAX		64u
#define KH_REASON_MAX		256u
/* The largest document it signs: a task with ~100k artifacts. */
#define KH_DOCUMENT_MAX		(16u << 20)
/* The keyholder's exit status when its key cannot be loaded. */
#define KEYHOLDER_EXIT_KEY	82

enum {
	KH_PUBKEY_REQ = CHAN_FIRST_OWN_TYPE,
	KH_PUBKEY,
	KH_ANNOUNCE,
	KH_SIGN_REQ,
	KH_SIGNATURE,
	KH_REFUSED,
};

static const struct ipc_msgspec keyholder_msgs[] = {
	CHAN_COMMON_MSGS,
	{ KH_PUBKEY_REQ, "PUBKEY_REQ", IPC_TO_CHILD, 0, 0, false },
	{ KH_PUBKEY, "PUBKEY", IPC_TO_SUPERVISOR, 32, 32, false },
	{ KH_ANNOUNCE, "ANNOUNCE", IPC_TO_CHILD, 4 + 4 + 1,
	    4 + 4 + KH_TASK_ID_MAX, false },
	{ KH_SIGN_REQ, "SIGN_REQ", IPC_TO_CHILD, 0, 0, true },
	{ KH_SIGNATURE, "SIGNATURE", IPC_TO_SUPERVISOR, 64 + 32, 64 + 32,
	    false },
	{ KH_REFUSED, "REFUSED", IPC_TO_SUPERVISOR, 4, 4 + KH_REASON_MAX,
	    false },
};

static const struct ipc_channel keyholder_channel
    __attribute__((unused)) = {
	"keyholder", KEYHOLDER_MAX_MSG, keyholder_msgs,
	sizeof(keyholder_msgs) / sizeof(keyholder_msgs[0]),
};

/* The first bytes of every document the keyholder signs: our builder's
 * (supervisor/cot.c), generic-worker's field order, two-space indent. */
#define COT_PREFIX	"{\n  \"chainOfTrustVersion\": 1,\n  \"artifacts\": {"

#endif
