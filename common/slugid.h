/* Taskcluster's ids (taskId, taskGroupId): slugids, v4 UUIDs in URL-safe
 * base64 without padding, 22 characters. */
#ifndef SEPWORKER_SLUGID_H
#define SEPWORKER_SLUGID_H

#include <stdbool.h>

#define SLUGID_LEN	22

/* Does s match Taskcluster's slugid pattern (the Queue's schemas)? */
bool	slugid_valid(const char *s);

#endif
