/*
 * Hawk as Taskcluster uses it (reference §3): the Authorization header
 * hawk-go writes, the ext blob taskcluster-proxy adds (certificate and
 * authorized scopes), bewit tokens for signed URLs, and the temporary
 * credential derivations (checked against vectors.json).
 *
 * A key is an accessToken: it is only ever read from the caller's
 * buffer, never copied, and every HMAC state is wiped before returning.
 * Outputs are refused rather than mangled: whatever goes into a header
 * attribute or a bewit must already be what Hawk can carry.
 */
#ifndef SEPWORKER_HAWK_H
#define SEPWORKER_HAWK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HAWK_MAC_B64_LEN	44	/* base64 (padded) of a 32-byte MAC */
#define HAWK_NONCE_LEN		8	/* hawk-go's nonce: 8 base64 characters */

struct hawk_target {			/* what a Hawk MAC covers */
	const char	*method;	/* "GET", as sent */
	/* The request target exactly as on the request line: escaped
	 * path [?raw query], byte for byte. */
	const char	*resource;
	/* Host as in the URL, no port; an IPv6 literal keeps its brackets,
	 * as the hawk npm server parses the Host header.  url_split gives
	 * it in the form that server signs (lower case, canonical IPv6). */
	const char	*host;
	uint16_t	 port;		/* explicit, else 443 https / 80 http */
};

/*
 * base64 HMAC-SHA256(key, normalized string) for kind "header" or "bewit":
 * "hawk.1.<kind>\n<ts>\n<nonce>\n<METHOD>\n<resource>\n<host>\n<port>\n
 * <hash>\n<ext>\n".  hash and ext may be "" or NULL (an empty line).
 * Returns 0, or -1 for another kind, for a NULL field other than hash
 * and ext, or if any input holds a newline (it would move the normalized
 * string's lines).
 */
int	hawk_mac(const unsigned char *key, size_t keylen, const char *kind,
	    const char *ts, const char *nonce, const struct hawk_target *t,
	    const char *hash, const char *ext, char out[HAWK_MAC_B64_LEN + 1]);

/*
 * The Authorization header value, in hawk-go's attribute order:
 *   Hawk id="<id>", mac="<mac>", ts="<ts>", nonce="<nonce>"[, ext="<ext>"]
 * ext "" or NULL: no ext attribute.  malloc'd; NULL if id or nonce is
 * empty, if id, nonce or ext hold a character an attribute cannot carry
 * (outside 0x20-0x7e, '"' or '\\'), or if the target holds a newline.
 */
char	*hawk_header(const char *id, const unsigned char *key, size_t keylen,
	    uint64_t ts, const char *nonce, const struct hawk_target *t,
	    const char *ext);

/* HAWK_NONCE_LEN characters of base64 from random bytes, NUL-terminated. */
void	 hawk_nonce(char out[HAWK_NONCE_LEN + 1]);

/*
 * ext: standard padded base64 of
 *   {"certificate":<certificate>,"authorizedScopes":[<scopes>]}
 * certificate_json is the certificate string of temporary credentials,
 * embedded verbatim (less surrounding whitespace) once a validating scan
 * has shown it is exactly one JSON object; NULL or "" (Go's zero value)
 * for permanent credentials.  scopes_set false omits authorizedScopes
 * (taskcluster-proxy's nil); true with nscopes 0 gives [].  With neither
 * part, returns a malloc'd "": the caller then sends no ext.  Scopes are
 * escaped as Go's encoding/json does.  NULL with err set if the
 * certificate is not a JSON object.
 */
char	*hawk_ext(const char *certificate_json, const char *const *scopes,
	    size_t nscopes, bool scopes_set, char *err, size_t errlen);

/*
 * The bewit token (§3.4): base64url-no-pad of "<id>\<exp>\<mac>\<ext>",
 * the mac over the "bewit" normalized string with ts = exp, nonce "" and
 * hash "".  The method is always GET, whatever t->method says: hawk-go
 * signs a bewit so, and the hawk server checks it so, HEAD requests too.
 * ext may be NULL.  malloc'd; NULL if id is empty, if id or ext
 * hold a backslash or a character outside 0x20-0x7e, or if the target
 * holds a newline.
 */
char	*hawk_bewit(const char *id, const unsigned char *key, size_t keylen,
	    uint64_t exp, const struct hawk_target *t, const char *ext);

/*
 * Temporary credentials (§3.5), which proxyd issues for a task from
 * permanent credentials (issue.c).  accessToken = base64url-no-pad(HMAC-SHA256(issuer
 * token, seed)), 43 characters and a NUL.  The certificate signature =
 * base64(HMAC-SHA256(issuer token, text)); named credentials give both
 * client_id and issuer, unnamed neither (one without the other: NULL).
 */
void	 hawk_temp_access_token(const char *issuer_token, const char *seed,
	    char out[44]);
char	*hawk_cert_signature(const char *issuer_token, const char *client_id,
	    const char *issuer, const char *seed, int64_t start, int64_t expiry,
	    const char *const *scopes, size_t nscopes);

#endif
