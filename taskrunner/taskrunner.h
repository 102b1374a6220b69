#ifndef SEPWORKER_TASKRUNNER_H
#define SEPWORKER_TASKRUNNER_H

#include "common/sandbox.h"

extern const struct sandbox_policy taskrunner_policy;
extern const struct sandbox_policy task_setup_done_policy;

#endif
