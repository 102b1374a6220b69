/*
 * Hawk signing for proxyd (reference §3).  Each MAC is streamed into an
 * HMAC state line by line, so no buffer ever holds a normalized string
 * next to key material; the state, which does hold key-derived pads, and
 * the raw MAC are wiped before every return.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/jsonscan.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "proxyd/hawk.h"

/* Nesting a certificate needs: the object and its scopes array. */
#define CERT_MAX_DEPTH	8


static bool
one_line(const char *s)
{
	return s != NULL && strchr(s, '\n') == NULL;
}

/* What a quoted Hawk attribute, and so a bewit field, can carry. */
static bool
attribute_safe(const char *s, bool allow_quote, bool allow_backslash)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p > 0x7e)
			return false;
		if ((*p == '"' && !allow_quote) ||
		    (*p == '\\' && !allow_backslash))
			return false;
	}
	return true;
}

static void
mac_put(crypto_auth_hmacsha256_state *st, const char *s)
{
	crypto_auth_hmacsha256_update(st, (const unsigned char *)s, strlen(s));
}

static void
mac_line(crypto_auth_hmacsha256_state *st, const char *s)
{
	mac_put(st, s);
	mac_put(st, "\n");
}

/* Finish st into base64 out (variant chosen by the caller), wiping both
 * the state and the raw MAC. */
static void
mac_finish(crypto_auth_hmacsha256_state *st, char *out, size_t outlen,
    int variant)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_final(st, mac);
	sodium_bin2base64(out, outlen, mac, sizeof(mac), variant);
	sodium_memzero(mac, sizeof(mac));
	sodium_memzero(st, sizeof(*st));
}

int
hawk_mac(const unsigned char *key, size_t keylen, const char *kind,
    const char *ts, const char *nonce, const struct hawk_target *t,
    const char *hash, const char *ext, char out[HAWK_MAC_B64_LEN + 1])
{
	crypto_auth_hmacsha256_state st;
	char port[8];
	const char *lines[9];

	if (kind == NULL ||
	    (strcmp(kind, "header") != 0 && strcmp(kind, "bewit") != 0))
		return -1;
	snprintf(port, sizeof(port), "%u", (unsigned)t->port);
	lines[0] = kind;
	lines[1] = ts;
	lines[2] = nonce;
	lines[3] = t->method;
	lines[4] = t->resource;
	lines[5] = t->host;
	lines[6] = port;
	lines[7] = hash ? hash : "";
	lines[8] = ext ? ext : "";
	for (size_t i = 0; i < nitems(lines); i++)
		if (!one_line(lines[i]))
			return -1;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	mac_put(&st, "hawk.1.");
	for (size_t i = 0; i < nitems(lines); i++)
		mac_line(&st, lines[i]);
	mac_finish(&st, out, HAWK_MAC_B64_LEN + 1,
	    sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

char *
hawk_header(const char *id, const unsigned char *key, size_t keylen,
    uint64_t ts, const char *nonce, const struct hawk_target *t,
    const char *ext)
{
	char mac[HAWK_MAC_B64_LEN + 1], tsbuf[24];

	if (ext == NULL)
		ext = "";
	if (id == NULL || *id == '\0' || !attribute_safe(id, false, false) ||
	    nonce == NULL || *nonce == '\0' ||
	    !attribute_safe(nonce, false, false) ||
	    !attribute_safe(ext, false, false))
		return NULL;
	snprintf(tsbuf, sizeof(tsbuf), "%" PRIu64, ts);
	if (hawk_mac(key, keylen, "header", tsbuf, nonce, t, "", ext,
	    mac) != 0)
		return NULL;
	return xasprintf("Hawk id=\"%s\", mac=\"%s\", ts=\"%s\", "
	    "nonce=\"%s\"%s%s%s", id, mac, tsbuf, nonce,
	    *ext ? ", ext=\"" : "", ext, *ext ? "\"" : "");
}

void
hawk_nonce(char out[HAWK_NONCE_LEN + 1])
{
	/* 6 bytes are exactly 8 base64 characters: the same shape as
	 * hawk-go's first 8 characters of 8 encoded bytes. */
	unsigned char raw[HAWK_NONCE_LEN / 4 * 3];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, HAWK_NONCE_LEN + 1, raw, sizeof(raw),
	    sodium_base64_VARIANT_ORIGINAL);
}


static bool
json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

char *
hawk_ext(const char *certificate_json, const char *const *scopes,
    size_t nscopes, bool scopes_set, char *err, size_t errlen)
{
	const struct jsonscan_opts opts = { .max_depth = CERT_MAX_DEPTH,
	    .require_object = true, .reject_duplicate_keys = true,
	    .reject_nul_in_keys = true };
	struct strbuf b = { 0 };
	const char *cert = certificate_json;
	size_t certlen = cert ? strlen(cert) : 0;
	char scanerr[160], *out;
	size_t outlen;

	while (certlen > 0 && json_space(*cert)) {
		cert++;
		certlen--;
	}
	while (certlen > 0 && json_space(cert[certlen - 1]))
		certlen--;
	if (certificate_json != NULL && *certificate_json != '\0' &&
	    (certlen == 0 || jsonscan_validate(cert, certlen, &opts, scanerr,
	    sizeof(scanerr)) != 0)) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "certificate is not a JSON "
			    "object: %s", certlen == 0 ? "it is blank" :
			    scanerr);
		return NULL;
	}
	if (certlen == 0 && !scopes_set)
		return xstrdup("");

	/* Go's struct order: certificate, then authorizedScopes. */
	strbuf_puts(&b, "{");
	if (certlen > 0) {
		strbuf_puts(&b, "\"certificate\":");
		strbuf_put(&b, cert, certlen);
	}
	if (scopes_set) {
		strbuf_puts(&b, certlen > 0 ? ",\"authorizedScopes\":[" :
		    "\"authorizedScopes\":[");
		for (size_t i = 0; i < nscopes; i++) {
			if (i > 0)
				strbuf_puts(&b, ",");
			strbuf_json_string(&b, scopes[i], false);
		}
		strbuf_puts(&b, "]");
	}
	strbuf_puts(&b, "}");

	outlen = sodium_base64_ENCODED_LEN(b.len,
	    sodium_base64_VARIANT_ORIGINAL);
	out = xmalloc(outlen);
	sodium_bin2base64(out, outlen, (const unsigned char *)b.p, b.len,
	    sodium_base64_VARIANT_ORIGINAL);
	free(b.p);
	return out;
}

char *
hawk_bewit(const char *id, const unsigned char *key, size_t keylen,
    uint64_t exp, const struct hawk_target *t, const char *ext)
{
	const struct hawk_target get = { "GET", t->resource, t->host,
	    t->port };
	char mac[HAWK_MAC_B64_LEN + 1], expbuf[24], *plain, *out;
	size_t plainlen, outlen;

	if (ext == NULL)
		ext = "";
	/* The server splits the decoded token on '\'. */
	if (id == NULL || *id == '\0' || !attribute_safe(id, true, false) ||
	    !attribute_safe(ext, true, false))
		return NULL;
	snprintf(expbuf, sizeof(expbuf), "%" PRIu64, exp);
	if (hawk_mac(key, keylen, "bewit", expbuf, "", &get, "", ext,
	    mac) != 0)
		return NULL;
	plain = xasprintf("%s\\%s\\%s\\%s", id, expbuf, mac, ext);
	plainlen = strlen(plain);
	outlen = sodium_base64_ENCODED_LEN(plainlen,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	out = xmalloc(outlen);
	sodium_bin2base64(out, outlen, (const unsigned char *)plain, plainlen,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	free(plain);
	return out;
}

void
hawk_temp_access_token(const char *issuer_token, const char *seed,
    char out[44])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)issuer_token,
	    strlen(issuer_token));
	mac_put(&st, seed);
	mac_finish(&st, out, 44, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

char *
hawk_cert_signature(const char *issuer_token, const char *client_id,
    const char *issuer, const char *seed, int64_t start, int64_t expiry,
    const char *const *scopes, size_t nscopes)
{
	crypto_auth_hmacsha256_state st;
	char num[24], *out;

	if ((client_id == NULL) != (issuer == NULL))
		return NULL;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)issuer_token,
	    strlen(issuer_token));
	/* Lines joined by '\n', none after the last. */
	mac_put(&st, "version:1\n");
	if (client_id != NULL) {
		mac_put(&st, "clientId:");
		mac_line(&st, client_id);
		mac_put(&st, "issuer:");
		mac_line(&st, issuer);
	}
	mac_put(&st, "seed:");
	mac_line(&st, seed);
	snprintf(num, sizeof(num), "%" PRId64, start);
	mac_put(&st, "start:");
	mac_line(&st, num);
	snprintf(num, sizeof(num), "%" PRId64, expiry);
	mac_put(&st, "expiry:");
	mac_line(&st, num);
	mac_put(&st, "scopes:");
	for (size_t i = 0; i < nscopes; i++) {
		mac_put(&st, "\n");
		mac_put(&st, scopes[i]);
	}
	out = xmalloc(HAWK_MAC_B64_LEN + 1);
	mac_finish(&st, out, HAWK_MAC_B64_LEN + 1,
	    sodium_base64_VARIANT_ORIGINAL);
	return out;
}
