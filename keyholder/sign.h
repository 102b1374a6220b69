#ifndef SEPWORKER_KEYHOLDER_SIGN_H
#define SEPWORKER_KEYHOLDER_SIGN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Is doc a chain-of-trust document for task_id/run_id, as far as can be
 * told without parsing it (the task's definition inside is the task's
 * JSON, and the keyholder parses none)?  Our builder's prefix, the end of
 * a JSON object, and, in the part after the task's definition that only
 * the supervisor writes, this task's id and run.  NULL if so, else why
 * not.
 */
const char *cot_document_problem(const char *doc, size_t len,
	    const char *task_id, uint32_t run_id);

#endif
