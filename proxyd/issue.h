/*
 * Temporary credentials proxyd issues for one task (reference §3.5), so
 * that a task proxy never holds a permanent accessToken: unnamed (the
 * clientId stays the issuer's, no "issuer" in the certificate, as
 * taskcluster-client's createTemporaryCredentials makes them without a
 * name), scopes = what the task may use, an expiry at the task's end.
 *
 * Taskcluster's own rules, which the auth service checks: the issuer's
 * credentials must be permanent (a temporary accessToken cannot sign a
 * certificate the service can check: it checks with the issuing client's
 * stored token), expiry - start at most 31 days, a 44-character seed.
 */
#ifndef SEPWORKER_ISSUE_H
#define SEPWORKER_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include "proxyd/creds.h"

#define ISSUE_SEED_LEN		44
#define ISSUE_MAX_LIFETIME_MS	(31LL * 24 * 3600 * 1000)

struct issue_request {
	const char		*client_id;	/* the issuer's */
	const char		*access_token;	/* the issuer's, permanent */
	const char *const	*scopes;	/* each of 0x20-0x7e */
	size_t			 nscopes;
	int64_t			 start, expiry;	/* ms since the epoch */
	const char		*seed;		/* ISSUE_SEED_LEN characters */
};

/*
 * The credentials: clientId (the issuer's), the temporary accessToken
 * (base64url-no-pad of HMAC-SHA256(issuer token, seed)) and the
 * certificate, in the Go client's field order and escaping:
 *   {"version":1,"scopes":[...],"start":N,"expiry":N,"seed":"...",
 *    "signature":"..."}
 * Every field of *out is in locked memory (creds_free() it).  -1 with
 * err set, naming the rule broken, for a start before 0, an expiry not
 * after start or more than 31 days after it, a seed of another length or
 * alphabet, or a scope outside 0x20-0x7e.
 */
int	issue_temp_creds(const struct issue_request *rq, struct tc_creds *out,
	    char *err, size_t errlen);

/* A fresh seed: 33 random bytes in base64url, 44 characters (the Go
 * client's two slugids are 44 of the same alphabet). */
void	issue_seed(char out[ISSUE_SEED_LEN + 1]);

#endif
