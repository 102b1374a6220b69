#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/chan_proxyd.h"
#include "common/json.h"
#include "common/secmem.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "proxyd/claim.h"
#include "taskrunner/payload.h"

/* The response's nesting: {"tasks": [{"task": <definition>}]}. */
#define CLAIM_MAX_DEPTH		(PAYLOAD_MAX_DEPTH + 3)

/* The member key of obj, which must be there with the given type; NULL
 * with err naming where ("tasks[0].status") otherwise. */
static struct json_object *
member(struct json_object *obj, const char *where, const char *key,
    enum json_type type, char *err, size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, type)) {
		snprintf(err, errlen, "%s%s%s must be %s", where,
		    *where != '\0' ? "." : "", key, type == json_type_object ?
		    "an object" : type == json_type_array ? "an array" :
		    "a string");
		return NULL;
	}
	return v;
}

/* A string member: no NUL, 1..max bytes of 0x20-0x7e. */
static const char *
text(struct json_object *obj, const char *where, const char *key,
    size_t max, char *err, size_t errlen)
{
	struct json_object *v;
	const char *s;
	size_t len;

	if ((v = member(obj, where, key, json_type_string, err, errlen)) ==
	    NULL)
		return NULL;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len || len == 0 || len > max)
		goto bad;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			goto bad;
	return s;
bad:
	snprintf(err, errlen, "%s.%s must be 1 to %zu printable ASCII "
	    "characters", where, key, max);
	return NULL;
}

static int
slugid(struct json_object *status, const char *key, char out[SLUGID_LEN + 1],
    char *err, size_t errlen)
{
	const char *s = text(status, "tasks[0].status", key, SLUGID_LEN, err,
	    errlen);

	if (s == NULL || !slugid_valid(s)) {
		snprintf(err, errlen, "tasks[0].status.%s is not a slugid", key);
		return -1;
	}
	memcpy(out, s, SLUGID_LEN + 1);
	return 0;
}

static int
take_creds(struct json_object *claim, struct tc_creds *c, char *err,
    size_t errlen)
{
	static const char where[] = "tasks[0].credentials";
	struct json_object *cr;
	const char *id, *token, *cert;

	if ((cr = member(claim, "tasks[0]", "credentials", json_type_object,
	    err, errlen)) == NULL ||
	    (id = text(cr, where, "clientId", PX_CLIENT_ID_MAX, err,
	    errlen)) == NULL ||
	    (token = text(cr, where, "accessToken", PX_TOKEN_MAX, err,
	    errlen)) == NULL ||
	    (cert = text(cr, where, "certificate", PX_CERTIFICATE_MAX, err,
	    errlen)) == NULL)
		return -1;
	c->client_id = secmem_strndup(id, strlen(id));
	c->access_token = secmem_strndup(token, strlen(token));
	c->certificate = secmem_strndup(cert, strlen(cert));
	return 0;
}

static int
take_task(struct json_object *claim, struct claim *out, char *err,
    size_t errlen)
{
	struct json_object *task;
	const char *s;
	size_t len;

	if ((task = member(claim, "tasks[0]", "task", json_type_object, err,
	    errlen)) == NULL)
		return -1;
	s = json_object_to_json_string_length(task, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (s == NULL || len > PAYLOAD_MAX_BYTES) {
		snprintf(err, errlen, "tasks[0].task takes more than %u bytes",
		    PAYLOAD_MAX_BYTES);
		return -1;
	}
	out->task = xmalloc(len + 1);
	memcpy(out->task, s, len + 1);
	out->task_len = len;
	return 0;
}

static int
take_claim(struct json_object *claim, struct claim *out, char *err,
    size_t errlen)
{
	struct json_object *status, *v;
	const char *until;
	uint64_t run;
	char why[160];

	if (!json_object_is_type(claim, json_type_object)) {
		snprintf(err, errlen, "tasks[0] must be an object");
		return -1;
	}
	if ((status = member(claim, "tasks[0]", "status", json_type_object,
	    err, errlen)) == NULL ||
	    slugid(status, "taskId", out->task_id, err, errlen) == -1 ||
	    slugid(status, "taskGroupId", out->task_group_id, err,
	    errlen) == -1)
		return -1;
	if (!json_object_object_get_ex(claim, "runId", &v) ||
	    json_as_uint(v, "runId", 0, CLAIM_RUN_ID_MAX, &run, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "tasks[0].runId must be an integer from "
		    "0 to %u", CLAIM_RUN_ID_MAX);
		return -1;
	}
	out->run_id = (uint32_t)run;
	if ((v = member(claim, "tasks[0]", "takenUntil", json_type_string,
	    err, errlen)) == NULL)
		return -1;
	until = json_object_get_string(v);
	if (time_parse_rfc3339(until, &out->taken_until_ms) == -1) {
		snprintf(err, errlen, "tasks[0].takenUntil is not an RFC 3339 "
		    "date");
		return -1;
	}
	if (take_task(claim, out, err, errlen) == -1)
		return -1;
	return take_creds(claim, &out->creds, err, errlen);
}

int
claim_parse(const char *body, size_t len, struct claim *out, char *err,
    size_t errlen)
{
	struct json_object *doc, *tasks;
	char why[200];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((doc = json_parse_strict(body, len, CLAIM_RESPONSE_MAX,
	    CLAIM_MAX_DEPTH, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "not JSON: %s", why);
		return -1;
	}
	if (!json_object_is_type(doc, json_type_object))
		snprintf(err, errlen, "not a JSON object");
	else if ((tasks = member(doc, "", "tasks", json_type_array, err,
	    errlen)) == NULL)
		;
	else if (json_object_array_length(tasks) > 1)
		snprintf(err, errlen, "tasks holds %zu claims; proxyd asked "
		    "for 1", json_object_array_length(tasks));
	else if (json_object_array_length(tasks) == 0)
		rc = 0;
	else if (take_claim(json_object_array_get_idx(tasks, 0), out, err,
	    errlen) == 0)
		rc = 1;
	if (rc == -1)
		claim_free(out);
	json_wipe_strings(doc);
	json_object_put(doc);
	return rc;
}

void
claim_free(struct claim *c)
{
	creds_free(&c->creds);
	free(c->task);
	memset(c, 0, sizeof(*c));
}
