/*
 * Artifact names the worker writes itself: the task's logs and its
 * chain-of-trust files (and run-task's result.json), each with the
 * generic-worker feature that writes it.  A task's artifact of one of
 * these names is skipped with a warning, as generic-worker skips it
 * ("Not uploading artifact ... since this will be uploaded later by
 * <feature>").  Unlike generic-worker, every name is reserved whether the
 * task enables the feature or not: a task without chain of trust must not
 * publish a chain-of-trust.json the worker never signed.
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

/* Who writes each of worker_artifact_names, in generic-worker's words. */
static const char *const worker_artifact_features[] __attribute__((unused)) = {
	"Live Log",
	"Backing log",
	"Chain of Trust",
	"Chain of Trust",
	"Chain of Trust",
	"run-task",
};

#define NWORKER_ARTIFACT_NAMES	\
	(sizeof(worker_artifact_names) / sizeof(worker_artifact_names[0]))

/* The feature that writes name, or NULL if the task may use it. */
static inline const char *
worker_artifact_feature(const char *name)
{
	for (size_t i = 0; i < NWORKER_ARTIFACT_NAMES; i++)
		if (strcmp(name, worker_artifact_names[i]) == 0)
			return worker_artifact_features[i];
	return NULL;
}

static inline bool
is_worker_artifact_name(const char *name)
{
	return worker_artifact_feature(name) != NULL;
}

#endif
