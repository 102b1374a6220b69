#ifndef SEPWORKER_RUNTASK_H
#define SEPWORKER_RUNTASK_H

#include <stdbool.h>
#include <stdint.h>

#include "supervisor/config.h"

struct runtask_opts {
	const char	*task_file;
	const char	*out_dir;
	const char	*task_id;	/* NULL: a new slugid */
	uint32_t	 run_id;
};

/* Run the task; the process exit status (0 completed, 1 failed,
 * 2 exception, 64 bad usage, 69 internal error). */
/* cfg's credentials are handed to proxyd and wiped from it. */
int	runtask_main(struct sw_config *cfg, const struct runtask_opts *o);

#endif
