/*
 * The task proxy's inputs: the task's credentials (the claim's
 * {"clientId", "accessToken", "certificate"}, the shape of
 * taskcluster-proxy's PUT /credentials body), the certificate inside them
 * as far as the proxy reads it, and the task's scopes.  Parsing here is
 * stricter than taskcluster-proxy's encoding/json, which takes unknown
 * keys, missing fields and trailing bytes; what both accept reads alike.
 * Where a function takes err, errlen, err may be NULL when errlen is 0.
 */
#ifndef SEPWORKER_CREDS_H
#define SEPWORKER_CREDS_H

#include <stddef.h>
#include <stdint.h>

/* A task's scopes as scopes_parse_lines() takes them. */
#define SCOPES_MAX_COUNT	10000
#define SCOPES_MAX_BYTES	(1u << 20)

/*
 * The largest credentials document creds_parse() takes.  The certificate
 * carries the task's scopes, and a byte of a scope may need escaping
 * twice (once in the certificate, once in the credentials around it):
 * four times SCOPES_MAX_BYTES, plus room for the rest.
 */
#define CREDS_MAX_BYTES		(4 * SCOPES_MAX_BYTES + (64u << 10))

struct tc_creds {
	char	*client_id;	/* secmem */
	char	*access_token;	/* secmem */
	char	*certificate;	/* secmem, or NULL for permanent credentials */
};

/*
 * Strict: exactly one JSON object with clientId and accessToken,
 * non-empty strings of 0x20-0x7e, and certificate absent, "" or a
 * string; any other key is refused by name.  Every string value in the
 * parsed document is wiped before it is freed, on every path; buf is the
 * caller's to wipe.  -1 with err naming the problem, never quoting a
 * byte of a value (*out then holds nothing).
 */
int	creds_parse(const char *buf, size_t len, struct tc_creds *out,
	    char *err, size_t errlen);
/* Wipes and frees each field (NULL is fine) and sets it to NULL. */
void	creds_free(struct tc_creds *c);

struct tc_cert {
	uint32_t	 version;
	char		**scopes;	/* malloc'd copies */
	size_t		 nscopes;
	int64_t		 start, expiry;	/* ms since the epoch */
	char		*issuer;	/* NULL when absent */
};

/*
 * A certificate as far as the proxy needs it: one JSON object with
 * version 1, scopes (an array of strings of 0x20-0x7e), start and expiry
 * (integers from 0), seed and signature (strings) and optionally issuer
 * (a string); any other key is refused.  Nothing is verified: only the
 * auth service can.  -1 with err set otherwise, which is where
 * taskcluster-proxy answers 500.
 */
int	cert_parse(const char *cert, struct tc_cert *out, char *err,
	    size_t errlen);
void	cert_free(struct tc_cert *c);

/*
 * A JSON array of the strings, compact and escaped as Go's encoding/json
 * escapes (<, > and & as \u003c...), except that every byte outside
 * 0x20-0x7e leaves as a \u escape, so the result can go in an HTTP
 * header as it is (X-Taskcluster-Authorized-Scopes,
 * X-Taskcluster-Proxy-Temp-Scopes).  malloc'd.
 */
char	*scopes_json(const char *const *scopes, size_t n);

/*
 * A task's scopes as the taskrunner hands them up: one per line, lines
 * ended by '\n' or by the end of buf (so a last '\n' starts no new
 * scope), each of 0x20-0x7e; at most SCOPES_MAX_COUNT scopes and
 * SCOPES_MAX_BYTES.  *out is a malloc'd array (not NULL, even for no
 * scopes) of malloc'd strings.  -1 with err naming the bad line (from 1).
 */
int	scopes_parse_lines(const char *buf, size_t len, char ***out,
	    size_t *n, char *err, size_t errlen);
void	scopes_free(char **s, size_t n);

#endif
