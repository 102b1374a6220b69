/*
 * The task proxy's credentials, certificate and scopes parsers
 * (proxyd/creds.c) on arbitrary bytes: as a credentials document, as a
 * certificate and as scope lines.  Whatever the bytes, nothing crashes
 * or leaks, a refusal says why and leaves nothing behind, freeing is
 * always safe, and every scope list that parses goes through scopes_json
 * and reads back as the same strings.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "proxyd/creds.h"

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
check_scopes_json(char *const *scopes, size_t n)
{
	char *s = scopes_json((const char *const *)scopes, n), err[256];
	struct json_object *o;

	for (const char *p = s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			abort();
	o = json_parse_strict(s, strlen(s), strlen(s), 2, err, sizeof(err));
	if (o == NULL || json_object_array_length(o) != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (strcmp(json_object_get_string(
		    json_object_array_get_idx(o, i)), scopes[i]) != 0)
			abort();
	json_object_put(o);
	free(s);
}

static void
check_cert(const char *text)
{
	struct tc_cert cert;
	char err[256] = "";

	if (cert_parse(text, &cert, err, sizeof(err)) == 0) {
		if (cert.version != 1 || (cert.nscopes && !cert.scopes) ||
		    cert.start < 0 || cert.expiry < 0)
			abort();
		check_scopes_json(cert.scopes, cert.nscopes);
	} else if (err[0] == '\0' || cert.scopes || cert.nscopes ||
	    cert.issuer) {
		abort();
	}
	cert_free(&cert);
	cert_free(&cert);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tc_creds creds;
	char err[256] = "", *text, **lines;
	size_t n;

	if (creds_parse((const char *)data, size, &creds, err,
	    sizeof(err)) == 0) {
		if (creds.client_id == NULL || creds.access_token == NULL ||
		    *creds.client_id == '\0' || *creds.access_token == '\0')
			abort();
		if (creds.certificate != NULL)
			check_cert(creds.certificate);
	} else if (err[0] == '\0' || creds.client_id ||
	    creds.access_token || creds.certificate) {
		abort();
	}
	creds_free(&creds);
	creds_free(&creds);

	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	check_cert(text);
	free(text);

	err[0] = '\0';
	if (scopes_parse_lines((const char *)data, size, &lines, &n, err,
	    sizeof(err)) == 0) {
		check_scopes_json(lines, n);
		scopes_free(lines, n);
	} else if (err[0] == '\0' || lines != NULL || n != 0) {
		abort();
	}
	return 0;
}
