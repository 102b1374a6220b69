#ifndef SEPWORKER_SELFCHECK_H
#define SEPWORKER_SELFCHECK_H

#include <stdbool.h>

#include "supervisor/config.h"

/* Start the children, report and check their separation, stop them.
 * With hold, serve until SIGTERM/SIGINT before stopping.  Returns the
 * process exit status. */
int	selfcheck_run(const struct sw_config *cfg, bool hold);

#endif
