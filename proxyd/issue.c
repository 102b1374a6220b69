/*
 * Issuing a task's temporary credentials (issue.h).  The derivations are
 * hawk.c's (checked there against vectors.json); what is built here is
 * the certificate around them and the checks the auth service would
 * otherwise fail every request on.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/secmem.h"
#include "common/util.h"
#include "proxyd/hawk.h"
#include "proxyd/issue.h"

static bool
base64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static const char *
request_problem(const struct issue_request *rq)
{
	if (rq->start < 0)
		return "the start lies before 1970";
	if (rq->expiry <= rq->start)
		return "the expiry is not after the start";
	if (rq->expiry - rq->start > ISSUE_MAX_LIFETIME_MS)
		return "the expiry is more than 31 days after the start "
		    "(Taskcluster's limit)";
	if (strlen(rq->seed) != ISSUE_SEED_LEN)
		return "the seed is not 44 characters";
	for (const char *p = rq->seed; *p != '\0'; p++)
		if (!base64url_char(*p))
			return "the seed is not base64url";
	for (size_t i = 0; i < rq->nscopes; i++)
		for (const char *p = rq->scopes[i]; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e)
				return "a scope holds a byte outside 0x20-0x7e";
	return NULL;
}

int
issue_temp_creds(const struct issue_request *rq, struct tc_creds *out,
    char *err, size_t errlen)
{
	char token[44], *sig, *scopes, *cert;
	const char *why;
	size_t cap;

	memset(out, 0, sizeof(*out));
	if ((why = request_problem(rq)) != NULL) {
		snprintf(err, errlen, "temporary credentials: %s", why);
		return -1;
	}
	sig = hawk_cert_signature(rq->access_token, NULL, NULL, rq->seed,
	    rq->start, rq->expiry, rq->scopes, rq->nscopes);
	hawk_temp_access_token(rq->access_token, rq->seed, token);
	scopes = scopes_json(rq->scopes, rq->nscopes);
	cap = strlen(scopes) + strlen(sig) + ISSUE_SEED_LEN + 128;
	cert = secmem_alloc(cap);
	snprintf(cert, cap, "{\"version\":1,\"scopes\":%s,\"start\":%" PRId64
	    ",\"expiry\":%" PRId64 ",\"seed\":\"%s\",\"signature\":\"%s\"}",
	    scopes, rq->start, rq->expiry, rq->seed, sig);
	free(scopes);
	free(sig);
	out->client_id = secmem_strndup(rq->client_id, strlen(rq->client_id));
	out->access_token = secmem_strndup(token, strlen(token));
	out->certificate = cert;
	sodium_memzero(token, sizeof(token));
	return 0;
}

void
issue_seed(char out[ISSUE_SEED_LEN + 1])
{
	unsigned char b[33];

	randombytes_buf(b, sizeof(b));
	sodium_bin2base64(out, ISSUE_SEED_LEN + 1, b, sizeof(b),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(b, sizeof(b));
}
