/*
 * The chain-of-trust document's builder and the keyholder's check of it.
 * Input: artifact names separated by NUL bytes (the task chooses them),
 * then, after the last NUL, text for a document the keyholder is handed.
 * Whatever the names, the built document is exactly one JSON object with
 * those names, and the keyholder accepts it for its task; whatever the
 * text, the check never reads out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonscan.h"
#include "keyholder/sign.h"
#include "supervisor/cot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cot_facts f = { .task_id = "Zc6kM0p9R0ucbdE0y2f0Fw",
	    .run_id = 3, .worker_group = "g", .worker_id = "w",
	    .public_ip = "", .private_ip = "", .instance_id = "",
	    .instance_type = "", .region = "" };
	const struct jsonscan_opts opts = { .max_depth = 16,
	    .require_object = true, .reject_duplicate_keys = true };
	struct cot_artifact arts[64];
	char *copy = malloc(size + 1), *names[64], *p, *doc, err[160];
	const uint8_t *last = size ? memrchr(data, '\0', size) : NULL;
	size_t n = 0, len, tail;

	memcpy(copy, data, size);
	copy[size] = '\0';
	/* The keyholder on arbitrary bytes. */
	tail = last ? size - (size_t)(last + 1 - data) : size;
	(void)cot_document_problem((const char *)data + (size - tail), tail,
	    f.task_id, f.run_id);
	/* The builder on arbitrary names: distinct (the supervisor refuses
	 * a second artifact of a name), no NUL (they are C strings). */
	for (p = copy; p < copy + (last ? (size_t)(last - data) : 0) &&
	    n < 64; p += strlen(p) + 1)
		names[n++] = p;
	qsort(names, n, sizeof(char *), cmp_str);
	for (size_t i = 0, k = 0; i < n; i++)
		if (k == 0 || strcmp(names[i], arts[k - 1].name) != 0)
			arts[k++] = (struct cot_artifact){ names[i], "ab" }, n = k;
	doc = cot_build(arts, n, "{}", 2, &f, NULL, &len);
	if (jsonscan_validate(doc, len, &opts, err, sizeof(err)) != 0)
		abort();
	if (cot_document_problem(doc, len, f.task_id, f.run_id) != NULL)
		abort();
	free(doc);
	free(copy);
	return 0;
}
