/*
 * Credentials, certificates and scopes for the task proxy.  Credentials
 * are secrets: their strings are copied into locked memory and every
 * string of the document they came in is wiped before json-c frees it.
 * A certificate is not one (it travels in every request's Hawk ext), nor
 * are scopes.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/utf8.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "proxyd/creds.h"

/* Objects holding strings; a deeper document is wrong anyway, and the
 * limit keeps json_wipe_strings()' recursion short. */
#define DOC_MAX_DEPTH	4

static const char *const creds_keys[] = {
	"clientId", "accessToken", "certificate",
};
static const char *const cert_keys[] = {
	"version", "scopes", "start", "expiry", "seed", "signature", "issuer",
};

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
printable_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/*
 * json_parse_strict()'s message, unless it could quote the input:
 * jsonscan names the byte it stopped at ("unexpected 'x'", "byte 0x01",
 * "\uD800"), which may be one of the accessToken's.  Then only where.
 */
static void
doc_problem(const char *what, const char *jerr, char *err, size_t errlen)
{
	size_t at;
	int n = 0;

	if (sscanf(jerr, "byte %zu: %n", &at, &n) < 1 || n == 0 ||
	    starts_with(jerr + n, "duplicate key ") ||
	    starts_with(jerr + n, "nesting deeper than "))
		snprintf(err, errlen, "%s: %s", what, jerr);
	else
		snprintf(err, errlen, "%s: byte %zu: not strict JSON", what,
		    at);
}

/*
 * Refuse a key not in names, by name.  Keys are not secrets, but they
 * come from outside and end up in logs: anything unprintable is shown as
 * '?' and a long one is cut.
 */
static int
only_known_keys(struct json_object *obj, const char *what,
    const char *const *names, size_t nnames, char *err, size_t errlen)
{
	json_object_object_foreach(obj, key, val) {
		char shown[41];
		size_t i;

		(void)val;
		for (i = 0; i < nnames; i++)
			if (strcmp(key, names[i]) == 0)
				break;
		if (i < nnames)
			continue;
		for (i = 0; key[i] != '\0' && i < sizeof(shown) - 1; i++)
			shown[i] = printable_ascii(&key[i], 1) ? key[i] : '?';
		shown[i] = '\0';
		snprintf(err, errlen, "%s: unknown key \"%s\"%s", what, shown,
		    key[i] != '\0' ? "..." : "");
		return -1;
	}
	return 0;
}

/* The document in buf, if it is one JSON object; NULL with err set. */
static struct json_object *
parse_object(const char *what, const char *buf, size_t len, char *err,
    size_t errlen)
{
	struct json_object *doc;
	char jerr[256];

	doc = json_parse_strict(buf, len, CREDS_MAX_BYTES, DOC_MAX_DEPTH, jerr,
	    sizeof(jerr));
	if (doc == NULL) {
		doc_problem(what, jerr, err, errlen);
		return NULL;
	}
	if (!json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "%s: not a JSON object", what);
		json_wipe_strings(doc);
		json_object_put(doc);
		return NULL;
	}
	return doc;
}

/* The string under key, present, checked; NULL with err set.  Messages
 * name the key, never the value. */
static const char *
get_string(struct json_object *obj, const char *what, const char *key,
    char *err, size_t errlen)
{
	struct json_object *v;
	const char *s;
	char why[128];

	if (!json_object_object_get_ex(obj, key, &v)) {
		snprintf(err, errlen, "%s: \"%s\" is missing", what, key);
		return NULL;
	}
	if (json_as_string(v, key, &s, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", what, why);
		return NULL;
	}
	return s;
}

/* clientId and accessToken: they go into Hawk header attributes. */
static char *
take_token(struct json_object *doc, const char *key, char *err,
    size_t errlen)
{
	const char *s;

	if ((s = get_string(doc, "credentials", key, err, errlen)) == NULL)
		return NULL;
	if (*s == '\0') {
		snprintf(err, errlen, "credentials: \"%s\" must not be empty",
		    key);
		return NULL;
	}
	if (!printable_ascii(s, strlen(s))) {
		snprintf(err, errlen, "credentials: \"%s\" must be printable "
		    "ASCII (0x20-0x7e)", key);
		return NULL;
	}
	return secmem_strndup(s, strlen(s));
}

int
creds_parse(const char *buf, size_t len, struct tc_creds *out, char *err,
    size_t errlen)
{
	struct json_object *doc;
	const char *cert;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((doc = parse_object("credentials", buf, len, err, errlen)) == NULL)
		goto done;
	if (only_known_keys(doc, "credentials", creds_keys,
	    nitems(creds_keys), err, errlen) == -1)
		goto done;
	if ((out->client_id = take_token(doc, "clientId", err, errlen)) ==
	    NULL || (out->access_token = take_token(doc, "accessToken", err,
	    errlen)) == NULL)
		goto done;
	/* Absent or "" (Go's zero value): permanent credentials. */
	if (json_object_object_get_ex(doc, "certificate", NULL)) {
		cert = get_string(doc, "credentials", "certificate", err,
		    errlen);
		if (cert == NULL)
			goto done;
		if (*cert != '\0')
			out->certificate = secmem_strndup(cert, strlen(cert));
	}
	rc = 0;
done:
	if (doc != NULL) {
		json_wipe_strings(doc);
		json_object_put(doc);
	}
	if (rc == -1)
		creds_free(out);
	return rc;
}

void
creds_free(struct tc_creds *c)
{
	secmem_free(c->client_id);
	secmem_free(c->access_token);
	secmem_free(c->certificate);
	c->client_id = c->access_token = c->certificate = NULL;
}

static int
cert_scopes(struct json_object *doc, struct tc_cert *out, char *err,
    size_t errlen)
{
	struct json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(doc, "scopes", &arr)) {
		snprintf(err, errlen, "certificate: \"scopes\" is missing");
		return -1;
	}
	if (!json_object_is_type(arr, json_type_array)) {
		snprintf(err, errlen, "certificate: \"scopes\" must be an "
		    "array of strings");
		return -1;
	}
	n = json_object_array_length(arr);
	out->scopes = xcalloc(n, sizeof(*out->scopes));
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		/* An embedded NUL is caught too: it is not printable. */
		if (!json_object_is_type(v, json_type_string) ||
		    !printable_ascii(json_object_get_string(v),
		    (size_t)json_object_get_string_len(v))) {
			snprintf(err, errlen, "certificate: scope %zu must be "
			    "a string of printable ASCII (0x20-0x7e)", i);
			return -1;
		}
		out->scopes[out->nscopes++] =
		    xstrdup(json_object_get_string(v));
	}
	return 0;
}

static int
cert_time(struct json_object *doc, const char *key, int64_t *out, char *err,
    size_t errlen)
{
	struct json_object *v;
	uint64_t u;
	char why[128];

	if (!json_object_object_get_ex(doc, key, &v)) {
		snprintf(err, errlen, "certificate: \"%s\" is missing", key);
		return -1;
	}
	if (json_as_uint(v, key, 0, INT64_MAX, &u, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "certificate: %s", why);
		return -1;
	}
	*out = (int64_t)u;
	return 0;
}

int
cert_parse(const char *cert, struct tc_cert *out, char *err, size_t errlen)
{
	struct json_object *doc, *v;
	const char *issuer;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	doc = parse_object("certificate", cert, strlen(cert), err, errlen);
	if (doc == NULL)
		return -1;
	if (only_known_keys(doc, "certificate", cert_keys, nitems(cert_keys),
	    err, errlen) == -1)
		goto done;
	if (!json_object_object_get_ex(doc, "version", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != 1) {
		snprintf(err, errlen, "certificate: \"version\" must be 1");
		goto done;
	}
	out->version = 1;
	if (cert_scopes(doc, out, err, errlen) == -1 ||
	    cert_time(doc, "start", &out->start, err, errlen) == -1 ||
	    cert_time(doc, "expiry", &out->expiry, err, errlen) == -1 ||
	    get_string(doc, "certificate", "seed", err, errlen) == NULL ||
	    get_string(doc, "certificate", "signature", err, errlen) == NULL)
		goto done;
	if (json_object_object_get_ex(doc, "issuer", NULL)) {
		issuer = get_string(doc, "certificate", "issuer", err, errlen);
		if (issuer == NULL)
			goto done;
		out->issuer = xstrdup(issuer);
	}
	rc = 0;
done:
	json_object_put(doc);
	if (rc == -1)
		cert_free(out);
	return rc;
}

void
cert_free(struct tc_cert *c)
{
	scopes_free(c->scopes, c->nscopes);
	free(c->issuer);
	memset(c, 0, sizeof(*c));
}

/* Every non-ASCII character escaped too: the result goes in a header. */
char *
scopes_json(const char *const *scopes, size_t n)
{
	struct strbuf b = { 0 };

	strbuf_puts(&b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strbuf_puts(&b, ",");
		strbuf_json_string(&b, scopes[i], true);
	}
	strbuf_puts(&b, "]");
	return strbuf_take(&b, NULL);
}

int
scopes_parse_lines(const char *buf, size_t len, char ***out, size_t *n,
    char *err, size_t errlen)
{
	size_t lines = 0, start, line;
	char **v;

	*out = NULL;
	*n = 0;
	if (len > SCOPES_MAX_BYTES) {
		snprintf(err, errlen, "scopes: %zu bytes, more than the %u "
		    "allowed", len, SCOPES_MAX_BYTES);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n' || i == len - 1)
			lines++;
	if (lines > SCOPES_MAX_COUNT) {
		snprintf(err, errlen, "scopes: %zu scopes, more than the %d "
		    "allowed", lines, SCOPES_MAX_COUNT);
		return -1;
	}
	v = xcalloc(lines, sizeof(*v));
	for (start = 0, line = 0; start < len; line++) {
		const char *nl = memchr(buf + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - buf) : len;

		for (size_t i = start; i < end; i++) {
			if (!printable_ascii(&buf[i], 1)) {
				snprintf(err, errlen, "scopes: line %zu: byte "
				    "0x%02x is not printable ASCII", line + 1,
				    (unsigned char)buf[i]);
				scopes_free(v, line);
				return -1;
			}
		}
		v[line] = xmalloc(end - start + 1);
		memcpy(v[line], buf + start, end - start);
		v[line][end - start] = '\0';
		start = end + 1;
	}
	*out = v;
	*n = lines;
	return 0;
}

void
scopes_free(char **s, size_t n)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}
