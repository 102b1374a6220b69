#ifndef SEPWORKER_PROXYD_H
#define SEPWORKER_PROXYD_H

#include "common/sandbox.h"

extern const struct sandbox_policy proxyd_policy;

#endif
