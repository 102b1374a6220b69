/*
 * chain-of-trust-additional-data.json: what a task may add to its
 * chain-of-trust document, merged as generic-worker merges it
 * (peterbourgon/mergemap, the worker's document winning at every level),
 * but never the artifacts' hashes.
 */
#ifndef SEPWORKER_COTEXTRA_H
#define SEPWORKER_COTEXTRA_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

#define COT_EXTRA_FILE		"chain-of-trust-additional-data.json"
#define COT_EXTRA_MAX_BYTES	(1u << 20)

/* The three parts the supervisor splices in, each one JSON object. */
struct cot_extra {
	struct json_object	*task;	/* the definition, extra task under */
	struct json_object	*env;	/* environment members to add */
	struct json_object	*top;	/* top-level members to add */
	bool			 dropped_artifacts;
};

/* The file's bytes as one JSON object; NULL with err set (jsonscan's
 * "byte N: ..." or "it is not a JSON object"). */
struct json_object *cot_extra_parse(const char *buf, size_t len, char *err,
	    size_t errlen);

/* Merge extra (from cot_extra_parse) with the worker's definition def,
 * which is not changed; out's objects are new references. */
void	cot_extra_merge(struct json_object *extra, struct json_object *def,
	    struct cot_extra *out);
void	cot_extra_free(struct cot_extra *out);

#endif
