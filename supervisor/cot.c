/*
 * The chain-of-trust document, composed by the supervisor as generic-
 * worker's Go struct marshals it: its field order, two-space indentation,
 * no trailing newline, Go's HTML-safe string escapes.  The task's
 * definition is the taskrunner's re-encoding, spliced in as it is: the
 * supervisor parses none of it, and checked before (taskrun_on_valid)
 * with a validating scan that it is exactly one JSON object, so nothing
 * can be spliced in beside it.  The task's additional data, merged by the
 * taskrunner, is spliced the same way (cot_extras_check): the merged
 * definition in place of the definition, the members of two more objects
 * after the environment's fields and after environment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan_keyholder.h"
#include "common/chan_taskrunner.h"
#include "common/jsonscan.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "supervisor/cot.h"


static int
cmp_artifacts(const void *x, const void *y)
{
	/* Go sorts map keys by their bytes. */
	return strcmp(((const struct cot_artifact *)x)->name,
	    ((const struct cot_artifact *)y)->name);
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* JSON text without the whitespace around it. */
static void
trim(const char **p, size_t *len)
{
	while (*len > 0 && is_space((*p)[*len - 1]))
		(*len)--;
	while (*len > 0 && is_space(**p)) {
		(*p)++;
		(*len)--;
	}
}

/* Text nested deeper: indent more spaces after each newline.  A JSON
 * string holds no raw newline, so every one is whitespace. */
static void
put_indented(struct strbuf *b, const char *p, size_t len, size_t indent)
{
	for (size_t i = 0; i < len; i++) {
		strbuf_put(b, p + i, 1);
		if (p[i] == '\n')
			strbuf_put(b, "    ", indent);
	}
}

static void
put_task(struct strbuf *b, const char *task, size_t len)
{
	trim(&task, &len);
	put_indented(b, task, len, 2);
}

/*
 * The members of an object (checked to be exactly one, without the
 * worker's keys), after members already written: ",\n" and them, or
 * nothing if it has none.
 */
static void
put_members(struct strbuf *b, const char *obj, size_t len, size_t indent)
{
	if (obj == NULL)
		return;
	trim(&obj, &len);
	if (len < 2)
		return;
	obj++;
	len -= 2;
	trim(&obj, &len);
	if (len == 0)
		return;
	strbuf_puts(b, ",\n");
	strbuf_put(b, "    ", indent + 2);
	put_indented(b, obj, len, indent);
}

static void
put_field(struct strbuf *b, const char *key, const char *value,
    bool last)
{
	strbuf_puts(b, "    ");
	strbuf_json_string(b, key, false);
	strbuf_puts(b, ": ");
	strbuf_json_string(b, value, false);
	strbuf_puts(b, last ? "\n" : ",\n");
}

char *
cot_build(struct cot_artifact *arts, size_t n, const char *task,
    size_t task_len, const struct cot_facts *f, const struct cot_extras *x,
    size_t *len)
{
	struct strbuf b = { 0 };
	char num[16];

	if (n > 1)
		qsort(arts, n, sizeof(*arts), cmp_artifacts);
	strbuf_puts(&b, COT_PREFIX);
	for (size_t i = 0; i < n; i++) {
		strbuf_puts(&b, i ? ",\n    " : "\n    ");
		strbuf_json_string(&b, arts[i].name, false);
		strbuf_puts(&b, ": {\n      \"sha256\": ");
		strbuf_json_string(&b, arts[i].sha256, false);
		strbuf_puts(&b, "\n    }");
	}
	strbuf_puts(&b, n ? "\n  },\n  \"task\": " : "},\n  \"task\": ");
	put_task(&b, task, task_len);
	strbuf_puts(&b, ",\n  \"taskId\": ");
	strbuf_json_string(&b, f->task_id, false);
	snprintf(num, sizeof(num), "%u", f->run_id);
	strbuf_puts(&b, ",\n  \"runId\": ");
	strbuf_puts(&b, num);
	strbuf_puts(&b, ",\n  \"workerGroup\": ");
	strbuf_json_string(&b, f->worker_group, false);
	strbuf_puts(&b, ",\n  \"workerId\": ");
	strbuf_json_string(&b, f->worker_id, false);
	strbuf_puts(&b, ",\n  \"environment\": {\n");
	/* publicIpAddress is omitted when unset, as generic-worker's
	 * omitempty does; the rest are always there. */
	if (*f->public_ip)
		put_field(&b, "publicIpAddress", f->public_ip, false);
	/* Unset, generic-worker writes what Go prints for a nil IP. */
	put_field(&b, "privateIpAddress", *f->private_ip ? f->private_ip :
	    "<nil>", false);
	put_field(&b, "instanceId", f->instance_id, false);
	put_field(&b, "instanceType", f->instance_type, false);
	put_field(&b, "region", f->region, true);
	if (x != NULL && x->env != NULL) {
		b.len -= 1;	/* region's newline: more members follow */
		put_members(&b, x->env, x->env_len, 2);
		strbuf_puts(&b, "\n");
	}
	strbuf_puts(&b, "  }");
	if (x != NULL)
		put_members(&b, x->top, x->top_len, 0);
	strbuf_puts(&b, "\n}");
	*len = b.len;
	return b.p;
}

int
cot_extras_check(const char *blob, const uint32_t len[3], const char **task,
    size_t *task_len, struct cot_extras *x, char *err, size_t errlen)
{
	static const char *const top_keys[] = { COT_TOP_KEYS };
	static const char *const env_keys[] = { COT_ENV_KEYS };
	static const char *const what[] = { "the definition",
	    "the environment's members", "the top level's members" };
	const char *part[3];
	char why[160];

	for (size_t i = 0; i < 3; i++) {
		const struct jsonscan_opts opts = { .max_depth = 128,
		    .require_object = true, .reject_duplicate_keys = true,
		    .reject_nul_in_keys = true, .refuse_top_keys = i == 0 ?
		    NULL : i == 1 ? env_keys : top_keys };

		part[i] = i == 0 ? blob : part[i - 1] + len[i - 1];
		if (jsonscan_validate(part[i], len[i], &opts, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "the taskrunner's chain-of-trust "
			    "additional data is refused: %s: %s", what[i], why);
			return -1;
		}
	}
	*task = part[0];
	*task_len = len[0];
	*x = (struct cot_extras){ part[1], len[1], part[2], len[2] };
	return 0;
}
