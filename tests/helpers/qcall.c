/*
 * qcall: one Taskcluster API call through proxyd/qclient.c, for the
 * shell tests.
 *
 *   qcall --root-url URL --service S --method M --path P [--body JSON]
 *       [--creds FILE] [--budget SECONDS] [--attempt-timeout SECONDS]
 *       [--max-response BYTES] [--parallel N] [--body-file FILE]
 *
 * --body-file: the body from FILE, for bodies too long for argv.
 * --creds: a JSON file {"clientId", "accessToken"[, "certificate"]} (the
 * shape tests/tc-fake/mkcreds.js prints); without it the call is
 * unauthenticated.  --budget defaults to 0 (one attempt unless a retry
 * fits in no time at all), --max-response to 16 MiB.
 *
 * Prints "status N", "attempts N", "err TEXT" (only on failure) and
 * "body TEXT" (when there was one), one per line.  Exit 0 when qc_do
 * succeeded, 1 when it failed, 2 on bad usage.
 *
 * --parallel N: N threads make the call at once (as the task agent
 * does), each with "{i}" in the path replaced by its number from 0; one
 * line each, in thread order: "i status N attempts N[ err TEXT][ body
 * TEXT]".  Exit 0 when every call succeeded.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;

	if (f == NULL || getdelim(&buf, len, '\0', f) == -1)
		usage(path);
	*len = strlen(buf);
	fclose(f);
	return buf;
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

#define PARALLEL_MAX	64

struct job {
	struct qc_call		 call;
	char			*path;
	struct qc_result	 r;
	int			 rc;
};

static void *
run_job(void *arg)
{
	struct job *j = arg;

	j->rc = qc_do(&j->call, &j->r);
	return NULL;
}

/* "{i}" in path replaced by i. */
static char *
numbered(const char *path, unsigned i)
{
	const char *at = strstr(path, "{i}");

	if (at == NULL)
		return xstrdup(path);
	return xasprintf("%.*s%u%s", (int)(at - path), path, i, at + 3);
}

static int
parallel(const struct qc_call *c, unsigned n)
{
	struct job jobs[PARALLEL_MAX];
	pthread_t t[PARALLEL_MAX];
	int rc = 0;

	for (unsigned i = 0; i < n; i++) {
		jobs[i].call = *c;
		jobs[i].call.path = jobs[i].path = numbered(c->path, i);
		if (pthread_create(&t[i], NULL, run_job, &jobs[i]) != 0)
			usage("pthread_create");
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		printf("%u status %ld attempts %u%s%s%s%s\n", i,
		    jobs[i].r.status, jobs[i].r.attempts,
		    jobs[i].rc == 0 ? "" : " err ",
		    jobs[i].rc == 0 ? "" : jobs[i].r.err,
		    jobs[i].r.body != NULL ? " body " : "",
		    jobs[i].r.body != NULL ? jobs[i].r.body : "");
		if (jobs[i].rc != 0)
			rc = 1;
		qc_result_free(&jobs[i].r);
		free(jobs[i].path);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct qc_call c = { .max_response = 16u << 20 };
	unsigned n = 0;
	struct tc_creds creds;
	struct qc_result r;
	int rc;

	if (sodium_init() < 0)
		usage("cannot initialise libsodium");
	qc_global_init();
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
		} else if (strcmp(o, "--body-file") == 0)
			c.body = slurp(v, &c.body_len);
		else if (strcmp(o, "--creds") == 0) {
			load_creds(v, &creds);
			c.creds = &creds;
		} else if (strcmp(o, "--budget") == 0)
			c.max_elapsed_s = (unsigned)number(o, v);
		else if (strcmp(o, "--attempt-timeout") == 0)
			c.attempt_timeout_s = (unsigned)number(o, v);
		else if (strcmp(o, "--max-response") == 0)
			c.max_response = number(o, v);
		else if (strcmp(o, "--parallel") == 0 &&
		    (n = (unsigned)number(o, v)) >= 1 && n <= PARALLEL_MAX)
			;
		else
			usage(o);
	}
	if (c.root_url == NULL || c.service == NULL || c.method == NULL ||
	    c.path == NULL)
		usage("--root-url, --service, --method and --path are needed");
	if (n > 0) {
		rc = parallel(&c, n);
		if (c.creds != NULL)
			creds_free(&creds);
		return rc;
	}
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
