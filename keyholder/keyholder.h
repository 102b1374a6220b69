#ifndef SEPWORKER_KEYHOLDER_H
#define SEPWORKER_KEYHOLDER_H

#include "common/sandbox.h"

extern const struct sandbox_policy keyholder_policy;

#endif
