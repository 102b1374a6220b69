#ifndef SEPWORKER_COT_H
#define SEPWORKER_COT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cot_artifact {
	const char	*name;
	const char	*sha256;	/* lowercase hex */
};

/* What the worker asserts about the task and itself. */
struct cot_facts {
	const char	*task_id;
	uint32_t	 run_id;
	const char	*worker_group;
	const char	*worker_id;
	const char	*public_ip;	/* "" : omitted */
	const char	*private_ip;
	const char	*instance_id;
	const char	*instance_type;
	const char	*region;
};

/* What a task added (chain-of-trust-additional-data.json, merged by the
 * taskrunner): two JSON objects whose members are spliced in, each
 * checked before to be exactly one object without the worker's keys. */
struct cot_extras {
	const char	*env;		/* after the environment's fields */
	size_t		 env_len;
	const char	*top;		/* after environment */
	size_t		 top_len;
};

/*
 * The document (not NUL-counted in *len; malloc'd): chainOfTrustVersion,
 * artifacts (sorted by name; arts is sorted in place), task (the
 * re-encoded definition, which the caller has checked is one JSON
 * object), taskId, runId, workerGroup, workerId, environment; then x's
 * members, if x is not NULL.
 */
char	*cot_build(struct cot_artifact *arts, size_t n, const char *task,
	    size_t task_len, const struct cot_facts *f,
	    const struct cot_extras *x, size_t *len);

/*
 * COT_EXTRA's memfd (blob, the three parts' lengths): the merged
 * definition, then the environment's and top level's extras, each exactly
 * one JSON object, the extras without the worker's own keys, so nothing
 * can be spliced in beside or over them.  Points *task and x into blob;
 * -1 with err set.
 */
int	cot_extras_check(const char *blob, const uint32_t len[3],
	    const char **task, size_t *task_len, struct cot_extras *x,
	    char *err, size_t errlen);

#endif
