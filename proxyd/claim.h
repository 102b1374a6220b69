/*
 * The Queue's answer to claimWork, checked before anything in it is
 * believed: it comes from the network.  What proxyd passes on is the
 * typed part (taskId, runId, takenUntil, taskGroupId) and the task
 * definition re-serialized; the claim's credentials stay in proxyd.
 */
#ifndef SEPWORKER_CLAIM_H
#define SEPWORKER_CLAIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/slugid.h"
#include "proxyd/creds.h"

/* The largest claimWork response read (the task definition is the bulk
 * of it); larger fails the call before any parsing. */
#define CLAIM_RESPONSE_MAX	(16u << 20)
/* The Queue's run ids: a task has at most 50 runs, 1000 leaves room. */
#define CLAIM_RUN_ID_MAX	1000u

struct claim {
	char		 task_id[SLUGID_LEN + 1];
	char		 task_group_id[SLUGID_LEN + 1];
	uint32_t	 run_id;
	int64_t		 taken_until_ms;
	/* The task definition as json-c serializes it (plain), malloc'd. */
	char		*task;
	size_t		 task_len;
	/* secmem; certificate never NULL or empty (a claim's are temporary
	 * credentials). */
	struct tc_creds	 creds;
};

/*
 * body[0..len): {"tasks": [claim]} with 0 or 1 claim (proxyd asks for
 * one).  Returns 1 with *out filled, 0 for no task, -1 with err naming
 * the field that is wrong (never quoting a credential).  Checked: tasks
 * an array of at most 1; status.taskId and status.taskGroupId slugids;
 * runId an integer 0..CLAIM_RUN_ID_MAX; takenUntil an RFC 3339 date;
 * credentials' clientId, accessToken and certificate non-empty
 * printable strings within PX_CLIENT_ID_MAX, PX_TOKEN_MAX and
 * PX_CERTIFICATE_MAX; task an object that serializes in at most
 * PAYLOAD_MAX_BYTES.  Other keys are left alone: the Queue's schemas may
 * grow.  Every string of the parsed document is wiped before it is
 * freed; body is the caller's to wipe.
 */
int	claim_parse(const char *body, size_t len, struct claim *out, char *err,
	    size_t errlen);
/* Wipes and frees what out holds; zeroes it. */
void	claim_free(struct claim *c);

#endif
