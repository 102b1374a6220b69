/*
 * supervisor <-> keyholder.  The keyholder's channel is the smallest:
 * nothing it receives needs more than a few bytes, and what it will sign
 * arrives as a sealed memfd, never inline.
 */
#ifndef SEPWORKER_CHAN_KEYHOLDER_H
#define SEPWORKER_CHAN_KEYHOLDER_H

#include "chan_common.h"

#define KEYHOLDER_MAX_MSG	4096u

static const struct ipc_msgspec keyholder_msgs[] = {
	CHAN_COMMON_MSGS,
};

static const struct ipc_channel keyholder_channel
    __attribute__((unused)) = {
	"keyholder", KEYHOLDER_MAX_MSG, keyholder_msgs,
	sizeof(keyholder_msgs) / sizeof(keyholder_msgs[0]),
};

#endif
