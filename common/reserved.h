/*
 * Artifact names the worker writes itself: the task's logs and its
 * chain-of-trust files (and run-task's result.json).  A task's artifact
 * of one of these names is skipped, as generic-worker skips it
 * ("Not uploading artifact ... since this will be uploaded later").
 */
#ifndef SEPWORKER_RESERVED_H
#define SEPWORKER_RESERVED_H

#include <stdbool.h>
#include <string.h>

static const char *const worker_artifact_names[] __attribute__((unused)) = {
	"public/logs/live.log",
	"public/logs/live_backing.log",
	"public/logs/certified.log",
	"public/chain-of-trust.json",
	"public/chain-of-trust.json.sig",
	"result.json",
};

#define NWORKER_ARTIFACT_NAMES	\
	(sizeof(worker_artifact_names) / sizeof(worker_artifact_names[0]))

static inline bool
is_worker_artifact_name(const char *name)
{
	for (size_t i = 0; i < NWORKER_ARTIFACT_NAMES; i++)
		if (strcmp(name, worker_artifact_names[i]) == 0)
			return true;
	return false;
}

#endif
