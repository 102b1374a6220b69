/*
 * qcall: one Taskcluster API call through proxyd/qclient.c, for the
 * shell tests.
 *
 *   qcall --root-url URL --service S --method M --path P [--body JSON]
 *       [--creds FILE] [--budget SECONDS] [--attempt-timeout SECONDS]
 *       [--max-response BYTES]
 *
 * --creds: a JSON file {"clientId", "accessToken"[, "certificate"]} (the
 * shape tests/tc-fake/mkcreds.js prints); without it the call is
 * unauthenticated.  --budget defaults to 0 (one attempt unless a retry
 * fits in no time at all), --max-response to 16 MiB.
 *
 * Prints "status N", "attempts N", "err TEXT" (only on failure) and
 * "body TEXT" (when there was one), one per line.  Exit 0 when qc_do
 * succeeded, 1 when it failed, 2 on bad usage.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "common/secmem.h"
#include "common/util.h"
#include "proxyd/creds.h"
#include "proxyd/qclient.h"

static void
usage(const char *why)
{
	fprintf(stderr, "qcall: %s\nusage: qcall --root-url URL --service S "
	    "--method M --path P [--body JSON] [--creds FILE] [--budget S] "
	    "[--attempt-timeout S] [--max-response BYTES]\n", why);
	exit(2);
}

static unsigned long
number(const char *opt, const char *s)
{
	uint64_t n;

	if (parse_u64(s, 0, UINT32_MAX, &n) == -1)
		usage(opt);
	return (unsigned long)n;
}

static void
load_creds(const char *path, struct tc_creds *c)
{
	char err[256], *buf;
	size_t len;

	if ((buf = secmem_read_file(path, CREDS_MAX_BYTES, &len, err,
	    sizeof(err))) == NULL)
		usage(err);
	if (creds_parse(buf, len, c, err, sizeof(err)) == -1)
		usage(err);
	secmem_free(buf);
}

int
main(int argc, char **argv)
{
	struct qc_call c = { .max_response = 16u << 20 };
	struct tc_creds creds;
	struct qc_result r;
	int rc;

	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		usage("cannot initialise libsodium or libcurl");
	for (int i = 1; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			usage(o);
		if (strcmp(o, "--root-url") == 0)
			c.root_url = v;
		else if (strcmp(o, "--service") == 0)
			c.service = v;
		else if (strcmp(o, "--method") == 0)
			c.method = v;
		else if (strcmp(o, "--path") == 0)
			c.path = v;
		else if (strcmp(o, "--body") == 0) {
			c.body = v;
			c.body_len = strlen(v);
		} else if (strcmp(o, "--creds") == 0) {
			load_creds(v, &creds);
			c.creds = &creds;
		} else if (strcmp(o, "--budget") == 0)
			c.max_elapsed_s = (unsigned)number(o, v);
		else if (strcmp(o, "--attempt-timeout") == 0)
			c.attempt_timeout_s = (unsigned)number(o, v);
		else if (strcmp(o, "--max-response") == 0)
			c.max_response = number(o, v);
		else
			usage(o);
	}
	if (c.root_url == NULL || c.service == NULL || c.method == NULL ||
	    c.path == NULL)
		usage("--root-url, --service, --method and --path are needed");
	rc = qc_do(&c, &r);
	printf("status %ld\nattempts %u\n", r.status, r.attempts);
	if (rc == -1)
		printf("err %s\n", r.err);
	if (r.body != NULL)
		printf("body %s\n", r.body);
	qc_result_free(&r);
	if (c.creds != NULL)
		creds_free(&creds);
	return rc == 0 ? 0 : 1;
}
