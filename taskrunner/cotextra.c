/*
 * The merge of chain-of-trust-additional-data.json.  generic-worker calls
 * mergemap.Merge(additional, document): for each key of the document,
 * if both sides hold an object the two merge the same way, otherwise
 * the document's value wins.  Here the document is split as the
 * supervisor composes it: the task definition (merged whole), the
 * environment (the task may only add keys the worker never writes --
 * publicIpAddress included, even when the worker leaves it out) and the
 * top level (likewise).  The artifacts' hashes are the worker's alone:
 * generic-worker would let a task add entries for files it never hashed,
 * signed all the same, so an additional "artifacts" is dropped.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/chan_taskrunner.h"
#include "common/json.h"
#include "common/log.h"
#include "taskrunner/cotextra.h"

/* The additional file nests no deeper than a task definition may. */
#define COT_EXTRA_MAX_DEPTH	64

static const char *const top_keys[] = { COT_TOP_KEYS };
static const char *const env_keys[] = { COT_ENV_KEYS };

struct json_object *
cot_extra_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	struct json_object *o;

	o = json_parse_strict(buf, len, COT_EXTRA_MAX_BYTES,
	    COT_EXTRA_MAX_DEPTH, err, errlen);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "it is %s, not a JSON object",
		    json_type_to_name(json_object_get_type(o)));
		json_object_put(o);
		return NULL;
	}
	return o;
}

static bool
listed(const char *const *keys, const char *key)
{
	for (; *keys != NULL; keys++)
		if (strcmp(*keys, key) == 0)
			return true;
	return false;
}

/* Into w (the worker's), every member of x that w lacks; where both
 * hold an object, the same one level down. */
static void
add_missing(struct json_object *w, struct json_object *x)
{
	json_object_object_foreach(x, key, xv) {
		struct json_object *wv;

		if (!json_object_object_get_ex(w, key, &wv))
			json_object_object_add(w, key, json_object_get(xv));
		else if (json_object_is_type(wv, json_type_object) &&
		    json_object_is_type(xv, json_type_object))
			add_missing(wv, xv);
	}
}

/* The members of x (if it is an object) whose keys are not refused. */
static struct json_object *
members_except(struct json_object *x, const char *const *refused)
{
	struct json_object *o = json_object_new_object();

	if (!json_object_is_type(x, json_type_object))
		return o;
	json_object_object_foreach(x, key, v)
		if (!listed(refused, key))
			json_object_object_add(o, key, json_object_get(v));
	return o;
}

void
cot_extra_merge(struct json_object *extra, struct json_object *def,
    struct cot_extra *out)
{
	struct json_object *v;

	out->task = NULL;
	if (json_object_deep_copy(def, &out->task, NULL) != 0)
		fatalx("out of memory copying the task definition");
	if (json_object_object_get_ex(extra, "task", &v) &&
	    json_object_is_type(v, json_type_object))
		add_missing(out->task, v);
	out->env = members_except(json_object_object_get_ex(extra,
	    "environment", &v) ? v : NULL, env_keys);
	out->top = members_except(extra, top_keys);
	out->dropped_artifacts = json_object_object_get_ex(extra,
	    "artifacts", NULL);
}

void
cot_extra_free(struct cot_extra *out)
{
	json_object_put(out->task);
	json_object_put(out->env);
	json_object_put(out->top);
	memset(out, 0, sizeof(*out));
}
