/*
 * Taskcluster API calls with libcurl's easy interface: proxyd waits for
 * its own calls, so one blocking transfer per attempt is all it needs.
 */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <sodium.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "proxyd/backoff.h"
#include "proxyd/hawk.h"
#include "proxyd/qclient.h"
#include "proxyd/url.h"

#define CA_BUNDLE		"/etc/ssl/certs/ca-certificates.crt"
#define CA_MAX			(8u << 20)
#define CONNECT_TIMEOUT_S	30L
/* An error body is read for its "message" only up to this size. */
#define ERROR_BODY_MAX		(1u << 20)
#define ERROR_BODY_DEPTH	32u

enum outcome { QC_SUCCESS, QC_RETRY, QC_FINAL };

/* The body being received.  A claim's holds credentials, so a buffer
 * that grows is copied and the old one wiped: no realloc, which could
 * leave a copy behind in freed memory. */
struct sink {
	struct qc_result	*r;
	size_t			 cap, max;
	bool			 too_big;
};

static void
drop_body(struct qc_result *r)
{
	if (r->body != NULL) {
		sodium_memzero(r->body, r->body_len);
		free(r->body);
	}
	r->body = NULL;
	r->body_len = 0;
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	struct qc_result *r = s->r;
	size_t len = size * n;
	char *grown;

	if (len > s->max - r->body_len) {
		s->too_big = true;
		return 0;
	}
	if (r->body_len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;

		while (cap < r->body_len + len + 1)
			cap *= 2;
		grown = xmalloc(cap);
		if (r->body != NULL) {
			memcpy(grown, r->body, r->body_len);
			sodium_memzero(r->body, r->body_len);
			free(r->body);
		}
		r->body = grown;
		s->cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return len;
}

/* "Authorization: Hawk ..." for this attempt, or NULL with err set. */
static char *
authorization(const struct qc_call *c, const struct url_parts *u,
    const char *ext, char *err, size_t errlen)
{
	struct hawk_target t = { c->method, u->target, u->host, u->port };
	const struct tc_creds *cr = c->creds;
	char nonce[HAWK_NONCE_LEN + 1], *h, *line;

	hawk_nonce(nonce);
	h = hawk_header(cr->client_id, (const unsigned char *)cr->access_token,
	    strlen(cr->access_token), (uint64_t)time(NULL), nonce, &t, ext);
	if (h == NULL) {
		snprintf(err, errlen, "the request cannot be signed: the "
		    "clientId or the URL holds characters Hawk cannot carry");
		return NULL;
	}
	line = xasprintf("Authorization: %s", h);
	free(h);
	return line;
}

/* The service's "message" of an error body, on one line, else "". */
static void
service_message(const struct qc_result *r, char *out, size_t outlen)
{
	struct json_object *doc, *m;
	char err[128];
	const char *s;
	size_t at = 0;

	out[0] = '\0';
	if (r->body == NULL || (doc = json_parse_strict(r->body, r->body_len,
	    ERROR_BODY_MAX, ERROR_BODY_DEPTH, err, sizeof(err))) == NULL)
		return;
	if (json_object_is_type(doc, json_type_object) &&
	    json_object_object_get_ex(doc, "message", &m) &&
	    json_as_string(m, "message", &s, err, sizeof(err)) == 0) {
		/* Taskcluster's messages run over many lines, and end in a
		 * trailer ("\n\n---\n\n* method: ...") that says nothing
		 * new: the trailer goes, and runs of whitespace and control
		 * bytes become one space. */
		const char *end = strstr(s, "\n\n---\n");

		for (; *s != '\0' && s != end && at + 1 < outlen; s++) {
			bool space = (unsigned char)*s <= 0x20 || *s == 0x7f;

			if (space && (at == 0 || out[at - 1] == ' '))
				continue;
			out[at++] = space ? ' ' : *s;
		}
		while (at > 0 && out[at - 1] == ' ')
			at--;
		out[at] = '\0';
	}
	json_object_put(doc);
}

static struct curl_slist *
request_headers(const struct qc_call *c, const char *auth)
{
	struct curl_slist *h = NULL;

	h = curl_slist_append(h, "Accept: application/json");
	/* curl invents a form type for a POST: none without a body. */
	h = curl_slist_append(h, c->body != NULL ?
	    "Content-Type: application/json" : "Content-Type:");
	h = curl_slist_append(h, "Expect:");
	if (auth != NULL)
		h = curl_slist_append(h, auth);
	return h;
}

static void
set_method(CURL *e, const struct qc_call *c)
{
	bool sends = c->body != NULL || strcmp(c->method, "POST") == 0 ||
	    strcmp(c->method, "PUT") == 0;

	if (sends) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    c->body != NULL ? c->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(c->body != NULL ? c->body_len : 0));
	}
	if ((sends && strcmp(c->method, "POST") != 0) ||
	    (!sends && strcmp(c->method, "GET") != 0))
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
}

/* One attempt: its answer in r, and whether to try again. */
static enum outcome
attempt(const struct qc_call *c, const char *url, const struct url_parts *u,
    const char *ext, struct qc_result *r)
{
	struct sink s = { .r = r, .max = c->max_response };
	char errbuf[CURL_ERROR_SIZE] = "", msg[sizeof(r->err)];
	char *auth = NULL;
	struct curl_slist *h;
	CURLcode rc;
	CURL *e;

	drop_body(r);
	r->status = 0;
	if (c->creds != NULL && (auth = authorization(c, u, ext, r->err,
	    sizeof(r->err))) == NULL)
		return QC_FINAL;
	h = request_headers(c, auth);
	if ((e = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)c->attempt_timeout_s);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	if (c->ca_pem != NULL) {
		struct curl_blob ca = { (void *)c->ca_pem, c->ca_len,
		    CURL_BLOB_NOCOPY };

		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
	}
	set_method(e, c);
	rc = curl_easy_perform(e);
	r->attempts++;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	free(auth);

	if (s.too_big) {
		snprintf(r->err, sizeof(r->err), "the response body is larger "
		    "than %zu bytes", c->max_response);
		drop_body(r);
		return QC_FINAL;
	}
	if (rc != CURLE_OK) {
		/* A response cut short counts as none: it is retried, as a
		 * network error. */
		snprintf(r->err, sizeof(r->err), "%s", errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(rc));
		drop_body(r);
		return QC_RETRY;
	}
	if (r->status >= 200 && r->status < 400)
		return QC_SUCCESS;
	service_message(r, msg, sizeof(msg));
	snprintf(r->err, sizeof(r->err), "HTTP %ld%s%s", r->status,
	    msg[0] != '\0' ? ": " : "", msg);
	return r->status >= 500 ? QC_RETRY : QC_FINAL;
}

/* --- start-up --- */

static void
wiping_free(void *p)
{
	if (p != NULL) {
		sodium_memzero(p, malloc_usable_size(p));
		free(p);
	}
}

/* realloc moves the block and frees the old one unwiped: do it here. */
static void *
wiping_realloc(void *p, size_t n)
{
	size_t old = p != NULL ? malloc_usable_size(p) : 0;
	void *q;

	if (n == 0) {
		wiping_free(p);
		return NULL;
	}
	if ((q = malloc(n)) == NULL)
		return NULL;
	if (p != NULL)
		memcpy(q, p, old < n ? old : n);
	wiping_free(p);
	return q;
}

static void *
ssl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void *
ssl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return wiping_realloc(p, n);
}

static void
ssl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	wiping_free(p);
}

static void *
nothing(void *arg)
{
	return arg;
}

void
qc_global_init(void)
{
	pthread_t t;

	/* OpenSSL takes its allocators only before it first allocates. */
	if (CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free) != 1)
		fatalx("OpenSSL allocated memory before qc_global_init");
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wiping_free,
	    wiping_realloc, strdup, calloc) != CURLE_OK)
		fatalx("curl_global_init failed");
	if (pthread_create(&t, NULL, nothing, NULL) != 0 ||
	    pthread_join(t, NULL) != 0)
		fatalx("starting a thread");
}

void
qc_load_ca(void **pem, size_t *len)
{
	int fd = open(CA_BUNDLE, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*pem = NULL;
	*len = 0;
	if (fd == -1) {
		log_warn("%s: https upstreams cannot be verified", CA_BUNDLE);
		return;
	}
	*pem = xmalloc(CA_MAX);
	n = read_all(fd, *pem, CA_MAX);
	close(fd);
	if (n <= 0 || (size_t)n == CA_MAX)
		fatalx("%s: unreadable or larger than %u bytes", CA_BUNDLE,
		    CA_MAX);
	*len = (size_t)n;
}

/* --- calls --- */

int
qc_do(const struct qc_call *c, struct qc_result *r)
{
	uint64_t deadline = now_ms() + (uint64_t)c->max_elapsed_s * 1000;
	char *url = qc_url(c->root_url, c->service, c->path), *ext = NULL;
	struct url_parts u;
	enum outcome o = QC_FINAL;

	memset(r, 0, sizeof(*r));
	if (url_split(url, &u, r->err, sizeof(r->err)) == -1) {
		free(url);
		return -1;
	}
	/* Permanent credentials give "" (no ext); a certificate that is
	 * not JSON is refused here, before anything is sent. */
	if (c->creds != NULL && (ext = hawk_ext(c->creds->certificate, NULL,
	    0, false, r->err, sizeof(r->err))) == NULL)
		goto out;
	for (;;) {
		uint64_t wait;

		if ((o = attempt(c, url, &u, ext, r)) != QC_RETRY)
			break;
		wait = backoff_ms(r->attempts);
		if (now_ms() + wait > deadline)
			break;
		log_info("%s %s: attempt %u: %s; retrying in %llu ms",
		    c->method, url, r->attempts, r->err,
		    (unsigned long long)wait);
		sleep_ms(wait);
	}
out:
	free(ext);
	url_parts_free(&u);
	free(url);
	return o == QC_SUCCESS ? 0 : -1;
}

void
qc_result_free(struct qc_result *r)
{
	drop_body(r);
}

char *
qc_escape(const char *segment)
{
	static const char hex[] = "0123456789ABCDEF";
	/* Go's shouldEscape(c, encodePathSegment): unreserved characters
	 * and the reserved ones a segment may hold, less '/', ';', ',' and
	 * '?'.  Go escapes the other sub-delims ("!'()*") too. */
	static const char keep[] = "-_.~$&+:=@";
	char *out = xmalloc(3 * strlen(segment) + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)segment; *p;
	    p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(keep, *p) != NULL)
			*o++ = (char)*p;
		else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

char *
qc_url(const char *root_url, const char *service, const char *path)
{
	size_t n = strlen(root_url);

	while (n > 0 && root_url[n - 1] == '/')
		n--;
	while (*path == '/')
		path++;
	return xasprintf("%.*s/api/%s/v1/%s", (int)n, root_url, service,
	    path);
}
