/*
 * supervisor <-> proxyd.  Task definitions and other large bodies travel
 * as sealed memfds; inline payloads stay under the control limit.
 */
#ifndef SEPWORKER_CHAN_PROXYD_H
#define SEPWORKER_CHAN_PROXYD_H

#include "chan_common.h"

#define PROXYD_MAX_MSG	65536u

static const struct ipc_msgspec proxyd_msgs[] = {
	CHAN_COMMON_MSGS,
};

static const struct ipc_channel proxyd_channel __attribute__((unused)) = {
	"proxyd", PROXYD_MAX_MSG, proxyd_msgs,
	sizeof(proxyd_msgs) / sizeof(proxyd_msgs[0]),
};

#endif
