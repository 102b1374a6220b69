/*
 * payload_parse on any bytes: it either accepts them, and then the
 * re-encoding is exactly one JSON object (what the supervisor checks
 * before splicing it into the chain-of-trust document) that parses again
 * to the same bytes; or it refuses them with at least one error line.
 * Every string it hands out must be one the task runner can use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonscan.h"
#include "taskrunner/payload.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct payload_ctx ctx = {
	.task_id = "f3cKkFanQJeQVJ1cCkKN2w",
	.provisioner_id = "proj-sepworker",
	.worker_type = "linux",
	.now_ms = INT64_C(1767607200000),
	.max_task_run_time = 86400,
	.enable_chain_of_trust = true,
	.enable_taskcluster_proxy = true,
	.chain_of_trust_refusal = NULL,
};

/* Touch every string, so ASan sees any that is not whole. */
static void
check_strings(const struct task_def *t)
{
	size_t i, sum = 0;
	char **arg;

	for (i = 0; i < t->ncommands; i++)
		for (arg = t->commands[i]; *arg != NULL; arg++)
			sum += strlen(*arg);
	for (i = 0; i < t->nenv; i++) {
		if (strchr(t->env[i], '=') == NULL || t->env[i][0] == '=')
			abort();
		sum += strlen(t->env[i]);
	}
	for (i = 0; i < t->nartifacts; i++) {
		if (t->artifacts[i].path[0] == '\0' ||
		    t->artifacts[i].name[0] == '\0')
			abort();
		sum += strlen(artifact_content_type(t->artifacts[i].name));
		sum += strlen(artifact_content_encoding(t->artifacts[i].name));
	}
	for (i = 0; i < t->nscopes; i++)
		sum += strlen(t->scopes[i]);
	sum += strlen(t->task_group_id) + strlen(t->scheduler_id) +
	    strlen(t->provisioner_id) + strlen(t->worker_type) +
	    strlen(t->project_id) + strlen(t->name) + strlen(t->owner) +
	    strlen(t->live_log_name) + strlen(t->backing_log_name);
	if (t->max_run_time < 1 || t->max_run_time > ctx.max_task_run_time ||
	    t->ncommands == 0 || sum == SIZE_MAX)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct jsonscan_opts opts = {
		.max_depth = PAYLOAD_MAX_DEPTH,
		.require_object = true,
		.reject_duplicate_keys = true,
		.reject_nul_in_keys = true,
	};
	struct strlist errs = { 0 };
	struct task_def t, again;
	char *doc, *text, *text2, err[256];
	size_t len, len2;

	/* An exact-size copy, so ASan sees any read past the end. */
	doc = malloc(size ? size : 1);
	if (doc == NULL)
		return 0;
	memcpy(doc, data, size);
	if (payload_parse(doc, size, &ctx, &t, &errs) == -1) {
		if (errs.n == 0 || t.json != NULL)
			abort();
		strlist_free(&errs);
		free(doc);
		return 0;
	}
	free(doc);
	if (errs.n != 0)
		abort();
	check_strings(&t);
	text = payload_reencode(&t, &len);
	if (jsonscan_validate(text, len, &opts, err, sizeof(err)) != 0)
		abort();
	if (payload_parse(text, len, &ctx, &again, &errs) != 0)
		abort();
	text2 = payload_reencode(&again, &len2);
	if (len != len2 || memcmp(text, text2, len) != 0)
		abort();
	free(text);
	free(text2);
	task_def_free(&t);
	task_def_free(&again);
	return 0;
}
