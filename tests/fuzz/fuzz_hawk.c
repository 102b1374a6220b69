/*
 * Hawk's encoders on hostile fields.  Input: 2 bytes of port, 8 of
 * timestamp, 1 of flags, then fields separated by NUL bytes: id, key,
 * nonce, method, resource, host, ext, certificate, scopes...  Whatever
 * they hold, a header or bewit comes out printable and parses back into
 * the fields that went in, or nothing comes out and some field was one
 * Hawk cannot carry; an ext is always one JSON object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/jsonscan.h"
#include "proxyd/hawk.h"

#define MAX_FIELDS	40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* What a quoted attribute can carry: printable, no '"', no '\'. */
static bool
attr_ok(const char *s)
{
	return printable(s) && strpbrk(s, "\"\\") == NULL;
}

static void
check(bool cond)
{
	if (!cond)
		abort();
}

/* The value of attribute name in header h, into out; false if absent. */
static bool
attr(const char *h, const char *name, char *out, size_t outlen)
{
	char pat[16];
	const char *p, *end;

	snprintf(pat, sizeof(pat), "%s=\"", name);
	/* Attributes start the header or follow ", ". */
	for (p = h; (p = strstr(p, pat)) != NULL; p++)
		if (p == h + 5 || (p >= h + 2 && p[-2] == ',' && p[-1] == ' '))
			break;
	if (p == NULL)
		return false;
	p += strlen(pat);
	end = strchr(p, '"');
	check(end != NULL && (size_t)(end - p) < outlen);
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return true;
}

static void
check_header(const char *const *f, uint16_t port, uint64_t ts)
{
	const struct hawk_target t = { f[3], f[4], f[5], port };
	char got[4096], tsbuf[24];
	char *h = hawk_header(f[0], (const unsigned char *)f[1], strlen(f[1]),
	    ts, f[2], &t, f[6]);
	bool fit = *f[0] && attr_ok(f[0]) && *f[2] && attr_ok(f[2]) &&
	    attr_ok(f[6]) && !strchr(f[3], '\n') && !strchr(f[4], '\n') &&
	    !strchr(f[5], '\n');

	check((h != NULL) == fit);
	if (h == NULL)
		return;
	check(printable(h) && strncmp(h, "Hawk id=\"", 9) == 0);
	check(attr(h, "id", got, sizeof(got)) && strcmp(got, f[0]) == 0);
	check(attr(h, "nonce", got, sizeof(got)) && strcmp(got, f[2]) == 0);
	snprintf(tsbuf, sizeof(tsbuf), "%llu", (unsigned long long)ts);
	check(attr(h, "ts", got, sizeof(got)) && strcmp(got, tsbuf) == 0);
	check(attr(h, "mac", got, sizeof(got)) &&
	    strlen(got) == HAWK_MAC_B64_LEN);
	if (*f[6])
		check(attr(h, "ext", got, sizeof(got)) &&
		    strcmp(got, f[6]) == 0);
	else
		check(!attr(h, "ext", got, sizeof(got)));
	free(h);
}

static void
check_mac(const char *const *f, uint16_t port)
{
	const struct hawk_target t = { f[3], f[4], f[5], port };
	char mac[HAWK_MAC_B64_LEN + 1];
	bool fit = true;

	for (int i = 0; i < 7; i++)
		if (i != 1 && strchr(f[i], '\n') != NULL)
			fit = false;
	/* id stands in for ts here: any bytes go into the MAC. */
	check((hawk_mac((const unsigned char *)f[1], strlen(f[1]), "header",
	    f[0], f[2], &t, "", f[6], mac) == 0) == fit);
	if (fit)
		check(strlen(mac) == HAWK_MAC_B64_LEN && mac[43] == '=');
}

static void
check_ext(const char *cert, const char *const *scopes, size_t n, bool set)
{
	const struct jsonscan_opts opts = { .max_depth = 16,
	    .require_object = true, .reject_duplicate_keys = true,
	    .reject_nul_in_keys = true };
	char err[256] = "", *ext = hawk_ext(cert, scopes, n, set, err,
	    sizeof(err));
	unsigned char *json;
	size_t len;

	if (ext == NULL) {
		check(*err != '\0' && cert != NULL);
		return;
	}
	check(printable(ext));
	if (*ext == '\0') {
		check(!set && (cert == NULL || *cert == '\0'));
		free(ext);
		return;
	}
	json = malloc(strlen(ext));
	check(sodium_base642bin(json, strlen(ext), ext, strlen(ext), NULL,
	    &len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0);
	check(jsonscan_validate((const char *)json, len, &opts, err,
	    sizeof(err)) == 0);
	free(json);
	free(ext);
}

static void
check_bewit(const char *const *f, uint16_t port, uint64_t exp)
{
	const struct hawk_target t = { f[3], f[4], f[5], port };
	char *b = hawk_bewit(f[0], (const unsigned char *)f[1], strlen(f[1]),
	    exp, &t, f[6]);
	bool fit = *f[0] && printable(f[0]) && !strchr(f[0], '\\') &&
	    printable(f[6]) && !strchr(f[6], '\\') && !strchr(f[4], '\n') &&
	    !strchr(f[5], '\n');
	char *plain, *want;
	size_t len, blen;

	check((b != NULL) == fit);
	if (b == NULL)
		return;
	blen = strlen(b);
	check(printable(b) && strcspn(b, "+/=") == blen);
	plain = malloc(blen + 1);
	check(sodium_base642bin((unsigned char *)plain, blen, b, blen, NULL,
	    &len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
	plain[len] = '\0';
	/* id\exp\mac\ext, split by the server on '\' into exactly four. */
	want = malloc(strlen(f[0]) + strlen(f[6]) + 32);
	sprintf(want, "%s\\%llu\\", f[0], (unsigned long long)exp);
	check(strncmp(plain, want, strlen(want)) == 0);
	check(strlen(plain) == strlen(want) + HAWK_MAC_B64_LEN + 1 +
	    strlen(f[6]));
	check(plain[strlen(want) + HAWK_MAC_B64_LEN] == '\\');
	check(strcmp(plain + strlen(want) + HAWK_MAC_B64_LEN + 1, f[6]) == 0);
	free(want);
	free(plain);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[MAX_FIELDS];
	char *copy, *p, *end;
	uint16_t port;
	uint64_t ts;
	uint8_t flags;
	size_t n = 0;

	if (size < 11)
		return 0;
	port = (uint16_t)(data[0] << 8 | data[1]);
	memcpy(&ts, data + 2, 8);
	flags = data[10];
	copy = malloc(size - 11 + 1);
	memcpy(copy, data + 11, size - 11);
	copy[size - 11] = '\0';
	end = copy + (size - 11);
	for (p = copy; n < MAX_FIELDS; p += strlen(p) + 1) {
		f[n++] = p;
		if (p + strlen(p) >= end)
			break;
	}
	while (n < 8)
		f[n++] = "";

	check_header(f, port, ts);
	check_mac(f, port);
	check_bewit(f, port, ts);
	check_ext((flags & 1) ? f[7] : NULL, f + 8, n - 8, (flags & 2) != 0);
	free(copy);
	return 0;
}
