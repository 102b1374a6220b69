#include <stdio.h>
#include <string.h>

#include "common/chan_keyholder.h"
#include "keyholder/sign.h"

/* The last occurrence of needle in hay[0..len). */
static const char *
last_occurrence(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (len < n)
		return NULL;
	for (size_t i = len - n + 1; i-- > 0;)
		if (memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

const char *
cot_document_problem(const char *doc, size_t len, const char *task_id,
    uint32_t run_id)
{
	static const char prefix[] = COT_PREFIX;
	static const char key[] = "\n  \"taskId\": \"";
	char expect[160];
	const char *at;
	int n;

	if (len < sizeof(prefix) || memcmp(doc, prefix, sizeof(prefix) - 1))
		return "it does not start as a chain-of-trust document does";
	if (memcmp(doc + len - 2, "\n}", 2) != 0)
		return "it does not end as a chain-of-trust document does";
	if (memchr(doc, '\0', len) != NULL)
		return "it holds a NUL byte";
	/*
	 * A JSON string cannot hold a raw newline, and the task's
	 * definition is spliced in before these fields: the last top-level
	 * taskId line is the supervisor's.
	 */
	at = last_occurrence(doc, len, key);
	n = snprintf(expect, sizeof(expect), "%s%s\",\n  \"runId\": %u,\n", key,
	    task_id, run_id);
	if (at == NULL || n < 0 || (size_t)n >= sizeof(expect) ||
	    (size_t)(doc + len - at) < (size_t)n ||
	    memcmp(at, expect, (size_t)n) != 0)
		return "it is not for the task announced";
	return NULL;
}
