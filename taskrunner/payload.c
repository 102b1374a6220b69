#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/chan_taskrunner.h"
#include "common/log.h"
#include "common/reserved.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "taskrunner/payload.h"
#include "taskrunner/schema.h"

#define DAY_MS		(INT64_C(86400) * 1000)
/* generic-worker's slack around an artifact's expiry bounds. */
#define EXPIRY_SLACK_MS	1000
/* 9999-12-31T23:59:59.999Z: the last time Taskcluster's format holds. */
#define TIME_MAX_MS	INT64_C(253402300799999)
/* Two-space indentation, and '/' left alone as Go leaves it. */
#define REENCODE_FLAGS	(JSON_C_TO_STRING_PRETTY | \
			 JSON_C_TO_STRING_NOSLASHESCAPE)

/* What a bare payload's definition says about itself (run-task). */
static const char *const default_metadata[][2] = {
	{ "description", "" },
	{ "name",	"run-task" },
	{ "owner",	"sepworker@localhost" },
	{ "source",	"https://github.com/taskcluster/taskcluster" },
};

/* Any of these without "payload" makes a document a definition. */
static const char *const definition_keys[] = {
	"created", "deadline", "dependencies", "expires", "extra", "metadata",
	"priority", "projectId", "provisionerId", "requires", "retries",
	"routes", "schedulerId", "scopes", "tags", "taskGroupId",
	"taskQueueId", "workerType",
};

void
strlist_add(struct strlist *l, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("out of memory formatting an error line");
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = reallocarray(l->v, l->cap, sizeof(*l->v));
		if (l->v == NULL)
			fatalx("out of memory growing a list to %zu lines",
			    l->cap);
	}
	l->v[l->n++] = s;
}

void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

struct parse {
	const struct payload_ctx	*ctx;
	struct strlist			*errs;
	size_t				 limit;	/* errs->n: listing stops */
	size_t				 found;	/* listed or not */
	struct task_def			*t;
};

static void __attribute__((format(printf, 2, 3)))
problem(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	char *s;

	p->found++;
	if (p->errs->n >= p->limit)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatalx("out of memory formatting an error line");
	va_end(ap);
	strlist_add(p->errs, "%s", s);
	free(s);
}

static bool
has_nul(struct json_object *s)
{
	return strlen(json_object_get_string(s)) !=
	    (size_t)json_object_get_string_len(s);
}

/*
 * obj.key as a string without NUL: 1 if so, 0 if absent, -1 (reported
 * as "<where>.<key>: ...") if not a string or with a NUL.
 */
static int
get_string(struct parse *p, struct json_object *obj, const char *where,
    const char *key, const char **out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		problem(p, "%s.%s: must be a string", where, key);
		return -1;
	}
	if (has_nul(v)) {
		problem(p, "%s.%s: must not contain a NUL character", where,
		    key);
		return -1;
	}
	*out = json_object_get_string(v);
	return 1;
}

/* The same where the schema has already reported what is wrong. */
static bool
quiet_string(struct json_object *obj, const char *key, const char **out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string) || has_nul(v))
		return false;
	*out = json_object_get_string(v);
	return true;
}

/* json-c clamps integers it cannot hold; those must not be re-encoded
 * as if they were what the task said. */
static bool
saturated(struct json_object *v)
{
	return json_object_get_int64(v) == INT64_MIN ||
	    json_object_get_uint64(v) == UINT64_MAX;
}

/*
 * The whole of a value: containers' depth, saturated integers and (in
 * the payload, whose strings become argv, environment and file names)
 * strings with a NUL.  The path to a problem is built only when one is
 * found.
 */
struct walk {
	struct parse	*p;
	const char	*root;
	bool		 refuse_nul;
	unsigned	 depth;
	unsigned	 deepest;
	struct {
		const char	*key;	/* NULL: an array index */
		size_t		 idx;
	}		 at[PAYLOAD_MAX_DEPTH + 1];
};

static void __attribute__((format(printf, 2, 3)))
walk_problem(struct walk *w, const char *fmt, ...)
{
	char *path, *next, *msg;
	va_list ap;
	unsigned i;

	path = xstrdup(w->root);
	for (i = 0; i < w->depth; i++) {
		if (w->at[i].key != NULL)
			next = schema_path_key(path, w->at[i].key);
		else
			next = xasprintf("%s[%zu]", path, w->at[i].idx);
		free(path);
		path = next;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fatalx("out of memory formatting an error line");
	va_end(ap);
	problem(w->p, "%s: %s", path, msg);
	free(msg);
	free(path);
}

static void
walk_value(struct walk *w, struct json_object *v)
{
	unsigned slot;
	size_t i, n;

	switch (json_object_get_type(v)) {
	case json_type_string:
		if (w->refuse_nul && has_nul(v))
			walk_problem(w, "must not contain a NUL character");
		return;
	case json_type_int:
		if (saturated(v))
			walk_problem(w, "integers must lie between %lld and "
			    "%llu to be kept exactly", (long long)-INT64_MAX,
			    (unsigned long long)UINT64_MAX - 1);
		return;
	case json_type_array:
	case json_type_object:
		break;
	default:
		return;
	}
	/* json_parse_strict's depth limit bounds the recursion. */
	if (w->depth >= PAYLOAD_MAX_DEPTH)
		fatalx("JSON nested deeper than its parser allows");
	slot = w->depth++;
	if (w->depth > w->deepest)
		w->deepest = w->depth;
	if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			w->at[slot].key = NULL;
			w->at[slot].idx = i;
			walk_value(w, json_object_array_get_idx(v, i));
		}
	} else {
		json_object_object_foreach(v, key, val) {
			w->at[slot].key = key;
			walk_value(w, val);
		}
	}
	w->depth--;
}

/* The definition's own fields, each checked, defaulted and added to def
 * in generic-worker's order. */

static int64_t
plus_one_year(int64_t ms)
{
	struct tm tm;
	time_t secs;

	/* Out of range, it is refused in any case. */
	if (ms < 0 || ms > TIME_MAX_MS)
		return ms;
	secs = (time_t)(ms / 1000);
	gmtime_r(&secs, &tm);
	/* As the Queue does (setFullYear): 29 February rolls to 1 March. */
	tm.tm_year++;
	return (int64_t)timegm(&tm) * 1000 + ms % 1000;
}

static void
def_time(struct parse *p, struct json_object *in, struct json_object *def,
    const char *key, int64_t dflt, int64_t *out)
{
	char text[TIMEFMT_LEN];
	const char *s;
	int rc;

	/* Whatever happens, later defaults derive from something sane. */
	*out = dflt;
	if ((rc = get_string(p, in, "task", key, &s)) == -1)
		return;
	if (rc == 1 && (time_parse_rfc3339(s, out) == -1 ||
	    *out > TIME_MAX_MS)) {
		problem(p, "task.%s: must be an RFC 3339 date-time from 1970 "
		    "to 9999, like 2026-01-05T10:00:00.000Z", key);
		*out = dflt;
		return;
	}
	if (rc == 0 && (dflt < 0 || dflt > TIME_MAX_MS)) {
		problem(p, "task.%s: is missing, and its default would lie "
		    "outside the years 1970 to 9999", key);
		return;
	}
	time_format_ms(*out, text);
	json_object_object_add(def, key, json_object_new_string(text));
}

static void
def_string(struct parse *p, struct json_object *in, struct json_object *def,
    const char *key, const char *dflt, char **copy)
{
	const char *s = dflt;

	if (get_string(p, in, "task", key, &s) == -1)
		return;
	json_object_object_add(def, key, json_object_new_string(s));
	if (copy != NULL)
		*copy = xstrdup(s);
}

static void
def_strings(struct parse *p, struct json_object *in, struct json_object *def,
    const char *key, char ***copy, size_t *ncopy)
{
	struct json_object *v, *e;
	size_t i, n;
	bool ok = true;

	if (!json_object_object_get_ex(in, key, &v)) {
		json_object_object_add(def, key, json_object_new_array());
		if (copy != NULL)
			*copy = xcalloc(1, sizeof(**copy));
		return;
	}
	if (!json_object_is_type(v, json_type_array)) {
		problem(p, "task.%s: must be an array of strings", key);
		return;
	}
	n = json_object_array_length(v);
	if (copy != NULL)
		*copy = xcalloc(n, sizeof(**copy));
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_string)) {
			problem(p, "task.%s[%zu]: must be a string", key, i);
			ok = false;
		} else if (has_nul(e)) {
			problem(p, "task.%s[%zu]: must not contain a NUL "
			    "character", key, i);
			ok = false;
		} else if (copy != NULL)
			(*copy)[(*ncopy)++] =
			    xstrdup(json_object_get_string(e));
	}
	if (ok)
		json_object_object_add(def, key, json_object_get(v));
}

static void
def_object(struct parse *p, struct json_object *in, struct json_object *def,
    const char *key, bool string_values)
{
	struct json_object *v;
	bool ok = true;
	char *where, *path;

	if (!json_object_object_get_ex(in, key, &v)) {
		json_object_object_add(def, key, json_object_new_object());
		return;
	}
	if (!json_object_is_type(v, json_type_object)) {
		problem(p, "task.%s: must be an object", key);
		return;
	}
	where = xasprintf("task.%s", key);
	json_object_object_foreach(v, k, val) {
		if (!string_values ||
		    json_object_is_type(val, json_type_string))
			continue;
		path = schema_path_key(where, k);
		problem(p, "%s: must be a string", path);
		free(path);
		ok = false;
	}
	free(where);
	if (ok)
		json_object_object_add(def, key, json_object_get(v));
}

static void
def_metadata(struct parse *p, struct json_object *in, struct json_object *def)
{
	struct json_object *given = NULL, *md;
	const char *key, *s;
	size_t i;

	if (json_object_object_get_ex(in, "metadata", &given) &&
	    !json_object_is_type(given, json_type_object)) {
		problem(p, "task.metadata: must be an object");
		return;
	}
	md = json_object_new_object();
	for (i = 0; i < nitems(default_metadata); i++) {
		key = default_metadata[i][0];
		s = default_metadata[i][1];
		if (given != NULL &&
		    get_string(p, given, "task.metadata", key, &s) == -1)
			continue;
		json_object_object_add(md, key, json_object_new_string(s));
		if (strcmp(key, "name") == 0)
			p->t->name = xstrdup(s);
		else if (strcmp(key, "owner") == 0)
			p->t->owner = xstrdup(s);
	}
	json_object_object_add(def, "metadata", md);
}

static void
def_retries(struct parse *p, struct json_object *in, struct json_object *def)
{
	struct json_object *v;

	if (!json_object_object_get_ex(in, "retries", &v)) {
		json_object_object_add(def, "retries", json_object_new_int(0));
		return;
	}
	/* Go's int64: nothing a uint64 holds beyond it. */
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 ||
	    json_object_get_uint64(v) > INT64_MAX) {
		problem(p, "task.retries: must be an integer from 0 to %lld",
		    (long long)INT64_MAX);
		return;
	}
	json_object_object_add(def, "retries", json_object_get(v));
}

/* The payload, against the schema and then the rules it cannot state. */

static struct schema *
payload_schema(void)
{
	/* Loaded once: the taskrunner serves one task, the fuzzer many. */
	static struct schema *schema;
	char err[512];

	if (schema == NULL) {
		schema = schema_load(payload_schema_json,
		    strlen(payload_schema_json), err, sizeof(err));
		if (schema == NULL)
			fatalx("the embedded payload schema: %s", err);
	}
	return schema;
}

static void
read_commands(struct parse *p, struct json_object *pl)
{
	struct task_def *t = p->t;
	struct json_object *cmds, *argv, *arg;
	size_t i, j, n, k;
	char **a;

	if (!json_object_object_get_ex(pl, "command", &cmds) ||
	    !json_object_is_type(cmds, json_type_array))
		return;
	n = json_object_array_length(cmds);
	t->commands = xcalloc(n, sizeof(*t->commands));
	for (i = 0; i < n; i++) {
		argv = json_object_array_get_idx(cmds, i);
		if (!json_object_is_type(argv, json_type_array))
			continue;
		a = xcalloc(json_object_array_length(argv) + 1, sizeof(*a));
		for (j = k = 0; j < json_object_array_length(argv); j++) {
			arg = json_object_array_get_idx(argv, j);
			if (json_object_is_type(arg, json_type_string))
				a[k++] = xstrdup(json_object_get_string(arg));
		}
		t->commands[t->ncommands++] = a;
	}
}

static void
read_env(struct parse *p, struct json_object *pl)
{
	struct task_def *t = p->t;
	struct json_object *env;
	char *path;

	if (!json_object_object_get_ex(pl, "env", &env) ||
	    !json_object_is_type(env, json_type_object))
		return;
	t->env = xcalloc((size_t)json_object_object_length(env),
	    sizeof(*t->env));
	json_object_object_foreach(env, key, val) {
		if (*key == '\0' || strchr(key, '=') != NULL) {
			path = schema_path_key("payload.env", key);
			problem(p, "%s: environment variable names must %s",
			    path, *key == '\0' ? "not be empty" :
			    "not contain \"=\"");
			free(path);
			continue;
		}
		if (json_object_is_type(val, json_type_string))
			t->env[t->nenv++] = xasprintf("%s=%s", key,
			    json_object_get_string(val));
	}
}

static void
read_max_run_time(struct parse *p, struct json_object *pl)
{
	struct json_object *v;
	uint64_t secs;

	if (!json_object_object_get_ex(pl, "maxRunTime", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1)
		return;
	secs = json_object_get_uint64(v);
	if (secs > p->ctx->max_task_run_time) {
		problem(p, "payload.maxRunTime: %llu seconds is more than this "
		    "worker's maxTaskRunTime of %u", (unsigned long long)secs,
		    p->ctx->max_task_run_time);
		return;
	}
	p->t->max_run_time = (uint32_t)secs;
}

static void
check_artifact_expiry(struct parse *p, const char *where, const char *given,
    int64_t ms)
{
	const struct task_def *t = p->t;
	char bound[TIMEFMT_LEN];
	char *quoted;

	if (ms >= t->deadline_ms - EXPIRY_SLACK_MS &&
	    ms <= t->expires_ms + EXPIRY_SLACK_MS)
		return;
	quoted = schema_quote(given);
	if (ms < t->deadline_ms - EXPIRY_SLACK_MS) {
		time_format_ms(t->deadline_ms, bound);
		problem(p, "%s.expires: %s is before the task's deadline, %s: "
		    "an artifact must not expire before its task's deadline",
		    where, quoted, bound);
	} else {
		time_format_ms(t->expires_ms, bound);
		problem(p, "%s.expires: %s is after the task's expires, %s: "
		    "an artifact must not outlive its task", where, quoted,
		    bound);
	}
	free(quoted);
}

static void
read_artifact(struct parse *p, struct json_object *obj, const char *where,
    struct task_artifact *a)
{
	struct json_object *v;
	const char *s;
	int64_t ms;

	a->type = quiet_string(obj, "type", &s) &&
	    strcmp(s, "directory") == 0 ? ARTIFACT_DIRECTORY : ARTIFACT_FILE;
	if (quiet_string(obj, "path", &s)) {
		a->path = xstrdup(s);
		if (*s == '\0')
			problem(p, "%s.path: must not be empty", where);
	}
	if (quiet_string(obj, "name", &s)) {
		a->name = xstrdup(s);
		if (*s == '\0')
			problem(p, "%s.name: must not be empty", where);
	} else if (a->path != NULL)
		a->name = xstrdup(a->path);
	a->expires_ms = p->t->expires_ms;
	if (quiet_string(obj, "expires", &s) &&
	    time_parse_rfc3339(s, &ms) == 0) {
		a->expires_ms = ms;
		check_artifact_expiry(p, where, s, ms);
	}
	if (quiet_string(obj, "contentType", &s))
		a->content_type = xstrdup(s);
	if (quiet_string(obj, "contentEncoding", &s))
		a->content_encoding = xstrdup(s);
	if (json_object_object_get_ex(obj, "optional", &v) &&
	    json_object_is_type(v, json_type_boolean))
		a->optional = json_object_get_boolean(v);
}

static void
read_artifacts(struct parse *p, struct json_object *pl)
{
	struct task_def *t = p->t;
	struct json_object *arts, *obj;
	size_t i, n;
	char *where;

	if (!json_object_object_get_ex(pl, "artifacts", &arts) ||
	    !json_object_is_type(arts, json_type_array))
		return;
	n = json_object_array_length(arts);
	t->artifacts = xcalloc(n, sizeof(*t->artifacts));
	for (i = 0; i < n; i++) {
		obj = json_object_array_get_idx(arts, i);
		if (!json_object_is_type(obj, json_type_object))
			continue;
		where = xasprintf("payload.artifacts[%zu]", i);
		read_artifact(p, obj, where, &t->artifacts[t->nartifacts++]);
		free(where);
	}
}

static bool
feature(struct json_object *features, const char *name, bool dflt)
{
	struct json_object *v;

	if (features != NULL &&
	    json_object_object_get_ex(features, name, &v) &&
	    json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v);
	return dflt;
}

/* A feature the worker may offer: the config can turn it off, and the
 * worker may have a reason not to offer it (refusal, NULL if none). */
static void
check_offered(struct parse *p, const char *name, bool wanted, bool enabled,
    const char *config_key, const char *refusal, const char *what)
{
	if (!wanted)
		return;
	if (!enabled)
		problem(p, "payload.features.%s: this worker's configuration "
		    "disables %s (%s)", name, what, config_key);
	else if (refusal != NULL)
		problem(p, "payload.features.%s: %s", name, refusal);
}

static void
read_features(struct parse *p, struct json_object *pl)
{
	static const struct {
		const char	*name;
		const char	*why;
	} never[] = {
		{ "interactive", "sepworker offers no interactive sessions" },
		{ "loopbackAudio",
		    "sepworker provides no loopback audio device" },
		{ "loopbackVideo",
		    "sepworker provides no loopback video device" },
		{ "runTaskAsCurrentUser", "sepworker never runs a task as the "
		    "worker's own user: each task gets a fresh user of its "
		    "own" },
	};
	const struct payload_ctx *ctx = p->ctx;
	struct task_features *f = &p->t->features;
	struct json_object *given;
	size_t i;

	if (!json_object_object_get_ex(pl, "features", &given) ||
	    !json_object_is_type(given, json_type_object))
		given = NULL;
	/* Defaults as in the schema (a test holds them equal). */
	f->chain_of_trust = feature(given, "chainOfTrust", false);
	f->taskcluster_proxy = feature(given, "taskclusterProxy", false);
	f->live_log = feature(given, "liveLog", true);
	f->backing_log = feature(given, "backingLog", true);
	check_offered(p, "chainOfTrust", f->chain_of_trust,
	    ctx->enable_chain_of_trust, "enableChainOfTrust",
	    ctx->chain_of_trust_refusal, "chain of trust");
	check_offered(p, "taskclusterProxy", f->taskcluster_proxy,
	    ctx->enable_taskcluster_proxy, "enableTaskclusterProxy",
	    ctx->taskcluster_proxy_refusal, "the taskcluster proxy");
	for (i = 0; i < nitems(never); i++)
		if (feature(given, never[i].name, false))
			problem(p, "payload.features.%s: %s", never[i].name,
			    never[i].why);
}

static void
read_exit_status(struct parse *p, struct json_object *pl)
{
	struct task_def *t = p->t;
	struct json_object *o, *retry, *code;
	size_t i, n;

	if (!json_object_object_get_ex(pl, "onExitStatus", &o) ||
	    !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "retry", &retry) ||
	    !json_object_is_type(retry, json_type_array))
		return;
	n = json_object_array_length(retry);
	t->retry_codes = xcalloc(n, sizeof(*t->retry_codes));
	for (i = 0; i < n; i++) {
		code = json_object_array_get_idx(retry, i);
		if (json_object_is_type(code, json_type_int) &&
		    json_object_get_int64(code) >= 1)
			t->retry_codes[t->nretry++] =
			    json_object_get_int64(code);
	}
}

static char *
log_name(struct parse *p, struct json_object *logs, const char *key,
    const char *dflt)
{
	const char *s = dflt;

	if (logs != NULL && quiet_string(logs, key, &s) && *s == '\0')
		problem(p, "payload.logs.%s: must not be empty", key);
	return xstrdup(s);
}

/* A log's name, unless the worker writes it for another purpose (its
 * chain of trust, run-task's result.json). */
static void
check_log_name(struct parse *p, const char *key, const char *name)
{
	const char *feature = worker_artifact_feature(name);

	if (strlen(name) > TASK_LOG_NAME_MAX)
		problem(p, "payload.logs.%s: longer than %u bytes", key,
		    TASK_LOG_NAME_MAX);
	else if (feature != NULL && strcmp(feature, "Live Log") != 0 &&
	    strcmp(feature, "Backing log") != 0)
		problem(p, "payload.logs.%s: \"%s\" is written by the "
		    "worker's %s feature", key, name, feature);
}

/*
 * The task may rename its logs, but not onto a name the worker writes
 * for another purpose (generic-worker would upload the log over the
 * chain-of-trust document, whose re-create the Queue accepts), nor both
 * logs onto one name.
 */
static void
check_log_names(struct parse *p)
{
	check_log_name(p, "live", p->t->live_log_name);
	check_log_name(p, "backing", p->t->backing_log_name);
	if (strcmp(p->t->live_log_name, p->t->backing_log_name) == 0)
		problem(p, "payload.logs: live and backing are both \"%s\"",
		    p->t->live_log_name);
}

static void
read_logs(struct parse *p, struct json_object *pl)
{
	struct json_object *logs;

	if (!json_object_object_get_ex(pl, "logs", &logs) ||
	    !json_object_is_type(logs, json_type_object))
		logs = NULL;
	p->t->live_log_name = log_name(p, logs, "live", "public/logs/live.log");
	p->t->backing_log_name = log_name(p, logs, "backing",
	    "public/logs/live_backing.log");
	check_log_names(p);
}

static void
read_payload(struct parse *p, struct json_object *pl)
{
	struct walk w = { .p = p, .root = "payload", .refuse_nul = true };

	p->found += schema_validate(payload_schema(), pl, "payload", p->errs,
	    p->limit);
	if (!json_object_is_type(pl, json_type_object))
		return;
	walk_value(&w, pl);
	/* A bare payload is wrapped in a definition, one level up. */
	if (w.deepest > PAYLOAD_MAX_DEPTH - 1)
		problem(p, "payload: containers nest deeper than %d levels",
		    PAYLOAD_MAX_DEPTH - 1);
	read_commands(p, pl);
	read_env(p, pl);
	read_max_run_time(p, pl);
	read_artifacts(p, pl);
	read_features(p, pl);
	read_exit_status(p, pl);
	read_logs(p, pl);
}

static const char *
or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/*
 * Build t->json from in: generic-worker's TaskDefinitionResponse, its
 * fields in its order, unknown ones dropped.  Every default depends only
 * on fields before it.
 */
static void
read_definition(struct parse *p, struct json_object *in)
{
	const struct payload_ctx *ctx = p->ctx;
	struct task_def *t = p->t;
	struct json_object *def, *pl, *extra;
	struct walk w = { .p = p, .root = "task.extra" };
	const char *project = "", *worker_type;
	char *queue;

	def = t->json = json_object_new_object();
	def_time(p, in, def, "created", ctx->now_ms, &t->created_ms);
	def_time(p, in, def, "deadline", t->created_ms + DAY_MS,
	    &t->deadline_ms);
	def_strings(p, in, def, "dependencies", NULL, NULL);
	/* Always set, so never left out as Go leaves out a zero time. */
	def_time(p, in, def, "expires", plus_one_year(t->deadline_ms),
	    &t->expires_ms);
	def_object(p, in, def, "extra", false);
	def_metadata(p, in, def);
	if (!json_object_object_get_ex(in, "payload", &pl))
		problem(p, "task: \"payload\" is required");
	else {
		read_payload(p, pl);
		if (json_object_is_type(pl, json_type_object))
			json_object_object_add(def, "payload",
			    json_object_get(pl));
	}
	def_string(p, in, def, "priority", "lowest", NULL);
	/* Missing is empty, as in Go, so a re-encoding parses back the
	 * same. */
	if (get_string(p, in, "task", "projectId", &project) != -1) {
		t->project_id = xstrdup(project);
		if (*project != '\0')
			json_object_object_add(def, "projectId",
			    json_object_new_string(project));
	}
	def_string(p, in, def, "provisionerId", or_empty(ctx->provisioner_id),
	    &t->provisioner_id);
	def_string(p, in, def, "requires", "all-completed", NULL);
	def_retries(p, in, def);
	def_strings(p, in, def, "routes", NULL, NULL);
	def_string(p, in, def, "schedulerId", "-", &t->scheduler_id);
	def_strings(p, in, def, "scopes", &t->scopes, &t->nscopes);
	for (size_t i = 0; i < t->nscopes; i++)
		for (const char *c = t->scopes[i]; *c != '\0'; c++)
			if (*c < 0x20 || *c > 0x7e) {
				problem(p, "task.scopes[%zu]: must be printable "
				    "ASCII, as the Queue requires", i);
				break;
			}
	def_object(p, in, def, "tags", true);
	def_string(p, in, def, "taskGroupId", or_empty(ctx->task_id),
	    &t->task_group_id);
	/* workerType comes after taskQueueId, whose default it is part of. */
	if (!quiet_string(in, "workerType", &worker_type))
		worker_type = or_empty(ctx->worker_type);
	queue = xasprintf("%s/%s", or_empty(t->provisioner_id), worker_type);
	def_string(p, in, def, "taskQueueId", queue, NULL);
	free(queue);
	def_string(p, in, def, "workerType", or_empty(ctx->worker_type),
	    &t->worker_type);
	if (json_object_object_get_ex(def, "extra", &extra))
		walk_value(&w, extra);
}

/*
 * What json-c's pretty printer adds to the plain encoding: after each
 * opening bracket a newline, before each member a newline (after the
 * comma) and its indent, before the closing bracket a newline (if there
 * were members) and the container's own indent.  Counted rather than
 * printed: indenting deep nesting can blow 4 MiB up sixty-fold.
 */
static size_t
pretty_overhead(struct json_object *v, size_t level)
{
	size_t i, k, sum = 0;

	if (json_object_is_type(v, json_type_array)) {
		k = json_object_array_length(v);
		for (i = 0; i < k; i++)
			sum += pretty_overhead(json_object_array_get_idx(v, i),
			    level + 1);
	} else if (json_object_is_type(v, json_type_object)) {
		k = (size_t)json_object_object_length(v);
		json_object_object_foreach(v, key, val) {
			(void)key;
			sum += pretty_overhead(val, level + 1);
		}
	} else
		return 0;
	return sum + k * (2 * level + 3) + 2 * level + 1;
}

static bool
is_bare_payload(struct json_object *doc)
{
	size_t i;

	if (json_object_object_get_ex(doc, "payload", NULL))
		return false;
	if (json_object_object_get_ex(doc, "command", NULL))
		return true;
	for (i = 0; i < nitems(definition_keys); i++)
		if (json_object_object_get_ex(doc, definition_keys[i], NULL))
			return false;
	return true;
}

int
payload_parse(const char *buf, size_t len, const struct payload_ctx *ctx,
    struct task_def *out, struct strlist *errs)
{
	struct parse p = {
		.ctx = ctx, .errs = errs, .t = out,
		.limit = errs->n + PAYLOAD_MAX_ERRORS,
	};
	struct json_object *doc, *def;
	size_t start = errs->n, listed, textlen;
	char err[256];

	memset(out, 0, sizeof(*out));
	doc = json_parse_strict(buf, len, PAYLOAD_MAX_BYTES, PAYLOAD_MAX_DEPTH,
	    err, sizeof(err));
	if (doc == NULL) {
		problem(&p, "task definition: %s", err);
		return -1;
	}
	if (!json_object_is_type(doc, json_type_object)) {
		problem(&p, "task definition: must be a JSON object");
		json_object_put(doc);
		return -1;
	}
	if (is_bare_payload(doc)) {
		/* The Queue's default project; everything else defaults in
		 * read_definition. */
		def = json_object_new_object();
		json_object_object_add(def, "projectId",
		    json_object_new_string("none"));
		json_object_object_add(def, "payload", doc);
		doc = def;
	}
	read_definition(&p, doc);
	json_object_put(doc);

	/* The re-encoding is indented: it must still fit the limit the
	 * supervisor and a second parse apply. */
	if (p.found == 0) {
		if (json_object_to_json_string_length(out->json,
		    REENCODE_FLAGS & ~JSON_C_TO_STRING_PRETTY,
		    &textlen) == NULL)
			fatalx("out of memory encoding the task definition");
		textlen += pretty_overhead(out->json, 0);
		if (textlen > PAYLOAD_MAX_BYTES)
			problem(&p, "task definition: %zu bytes once "
			    "re-encoded, more than the limit of %u", textlen,
			    PAYLOAD_MAX_BYTES);
	}
	if (p.found == 0)
		return 0;
	listed = errs->n - start;
	if (p.found > listed)
		strlist_add(errs, "(%zu more problems not listed)",
		    p.found - listed);
	task_def_free(out);
	return -1;
}

void
task_def_free(struct task_def *t)
{
	size_t i;
	char **arg;

	free(t->task_group_id);
	free(t->scheduler_id);
	free(t->provisioner_id);
	free(t->worker_type);
	free(t->project_id);
	free(t->name);
	free(t->owner);
	for (i = 0; i < t->nscopes; i++)
		free(t->scopes[i]);
	free(t->scopes);
	for (i = 0; i < t->ncommands; i++) {
		for (arg = t->commands[i]; *arg != NULL; arg++)
			free(*arg);
		free(t->commands[i]);
	}
	free(t->commands);
	for (i = 0; i < t->nenv; i++)
		free(t->env[i]);
	free(t->env);
	for (i = 0; i < t->nartifacts; i++) {
		free(t->artifacts[i].path);
		free(t->artifacts[i].name);
		free(t->artifacts[i].content_type);
		free(t->artifacts[i].content_encoding);
	}
	free(t->artifacts);
	free(t->retry_codes);
	free(t->live_log_name);
	free(t->backing_log_name);
	json_object_put(t->json);
	memset(t, 0, sizeof(*t));
}

char *
payload_encode(struct json_object *o, size_t *len)
{
	const char *text;
	char *copy;

	text = json_object_to_json_string_length(o, REENCODE_FLAGS, len);
	if (text == NULL)
		fatalx("out of memory re-encoding the task definition");
	copy = xmalloc(*len + 1);
	memcpy(copy, text, *len + 1);
	return copy;
}

char *
payload_reencode(const struct task_def *t, size_t *len)
{
	return payload_encode(t->json, len);
}

/* Artifact defaults by the extension of the file's path, not the
 * artifact's name (generic-worker's artifact_feature.go). */

static const char *
extension(const char *name)
{
	const char *base = strrchr(name, '/'), *dot;

	base = base != NULL ? base + 1 : name;
	dot = strrchr(base, '.');
	return dot != NULL ? dot + 1 : "";
}

static const char *const content_types[][2] = {
	/* generic-worker's own two, ahead of the mime table */
	{ "log",	"text/plain" },
	{ "jsonl",	"application/jsonl" },
	/* Go's built-in table, then Debian's /etc/mime.types */
	{ "txt",	"text/plain; charset=utf-8" },
	{ "html",	"text/html; charset=utf-8" },
	{ "htm",	"text/html; charset=utf-8" },
	{ "css",	"text/css; charset=utf-8" },
	{ "js",		"text/javascript; charset=utf-8" },
	{ "mjs",	"text/javascript; charset=utf-8" },
	{ "json",	"application/json" },
	{ "xml",	"text/xml; charset=utf-8" },
	{ "csv",	"text/csv" },
	{ "md",		"text/markdown" },
	{ "yaml",	"application/yaml" },
	{ "yml",	"application/yaml" },
	{ "png",	"image/png" },
	{ "jpg",	"image/jpeg" },
	{ "jpeg",	"image/jpeg" },
	{ "gif",	"image/gif" },
	{ "svg",	"image/svg+xml" },
	{ "webp",	"image/webp" },
	{ "avif",	"image/avif" },
	{ "ico",	"image/vnd.microsoft.icon" },
	{ "pdf",	"application/pdf" },
	{ "wasm",	"application/wasm" },
	{ "zip",	"application/zip" },
	{ "gz",		"application/gzip" },
	{ "tgz",	"application/gzip" },
	{ "tar",	"application/x-tar" },
	{ "bz2",	"application/x-bzip2" },
	{ "xz",		"application/x-xz" },
	{ "zst",	"application/zstd" },
	{ "7z",		"application/x-7z-compressed" },
	{ "deb",	"application/vnd.debian.binary-package" },
	{ "rpm",	"application/x-redhat-package-manager" },
	{ "apk",	"application/vnd.android.package-archive" },
	{ "jar",	"application/java-archive" },
	{ "whl",	"application/zip" },
	{ "mp4",	"video/mp4" },
	{ "webm",	"video/webm" },
	{ "mp3",	"audio/mpeg" },
	{ "woff",	"font/woff" },
	{ "woff2",	"font/woff2" },
};

/* Formats that are compressed already: gzip would only cost time. */
static const char *const identity_extensions[] = {
	"7z", "br", "aab", "apk", "bz2", "deb", "dmg", "flv", "gif", "gz",
	"jar", "jpeg", "jpg", "lz", "lz4", "mz", "npz", "pkg", "png", "swf",
	"sz", "tbz", "tgz", "wasm", "webp", "whl", "woff", "woff2", "xpi",
	"xz", "zip", "zst", "zz",
};

const char *
artifact_content_type(const char *name)
{
	const char *ext = extension(name);
	size_t i;

	for (i = 0; i < nitems(content_types); i++)
		if (strcasecmp(ext, content_types[i][0]) == 0)
			return content_types[i][1];
	return "application/octet-stream";
}

const char *
artifact_content_encoding(const char *name)
{
	const char *ext = extension(name);
	size_t i;

	/* Case-sensitive, as generic-worker compares: x.ZIP is gzipped. */
	for (i = 0; i < nitems(identity_extensions); i++)
		if (strcmp(ext, identity_extensions[i]) == 0)
			return "identity";
	return "gzip";
}
