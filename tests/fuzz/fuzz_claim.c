/*
 * proxyd/claim.c on arbitrary bytes, as a claimWork response from the
 * network.  Whatever the bytes, nothing crashes or leaks; a refusal says
 * why and leaves nothing behind; a claim that parses has slugids, a run
 * id in range, printable credentials within their limits and a task
 * definition that is one JSON object within PAYLOAD_MAX_BYTES; freeing
 * is always safe.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/chan_proxyd.h"
#include "common/json.h"
#include "common/slugid.h"
#include "proxyd/claim.h"
#include "taskrunner/payload.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	return 0;
}

static void
check_text(const char *s, size_t max)
{
	size_t len = s != NULL ? strlen(s) : 0;

	if (len == 0 || len > max)
		abort();
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
}

static void
check_claim(const struct claim *c)
{
	struct json_object *task;
	char err[256];

	if (!slugid_valid(c->task_id) || !slugid_valid(c->task_group_id) ||
	    c->run_id > CLAIM_RUN_ID_MAX || c->taken_until_ms < 0)
		abort();
	check_text(c->creds.client_id, PX_CLIENT_ID_MAX);
	check_text(c->creds.access_token, PX_TOKEN_MAX);
	check_text(c->creds.certificate, PX_CERTIFICATE_MAX);
	if (c->task == NULL || strlen(c->task) != c->task_len ||
	    c->task_len > PAYLOAD_MAX_BYTES)
		abort();
	task = json_parse_strict(c->task, c->task_len, PAYLOAD_MAX_BYTES,
	    PAYLOAD_MAX_DEPTH + 1, err, sizeof(err));
	if (task == NULL || !json_object_is_type(task, json_type_object))
		abort();
	json_object_put(task);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct claim c;
	char err[256] = "";
	int rc = claim_parse((const char *)data, size, &c, err, sizeof(err));

	if (rc == 1)
		check_claim(&c);
	else if (c.task != NULL || c.creds.access_token != NULL ||
	    (rc == -1 && err[0] == '\0') || (rc != 0 && rc != -1))
		abort();
	claim_free(&c);
	claim_free(&c);
	return 0;
}
