/*
 * The task's agent: artifacts and resolution, as generic-worker makes
 * them (reference worker-mode.md §4.2-§4.4, §5).
 *
 * Every Queue call is signed with the task proxy's credentials of the
 * moment (a reclaim may replace them between two calls) and without
 * authorizedScopes: reportCompleted needs queue:resolve-task, which the
 * task's own scopes lack.  The object service is called with the
 * temporary credentials createArtifact hands out for the object.
 *
 * An artifact's bytes are never held whole: an identity upload streams
 * from the artifact's fd, read afresh from offset 0 for each attempt; a
 * gzip one is first compressed into an unnamed file in the spool
 * directory (as generic-worker does, so the PUT has a Content-Length and
 * can be retried), and that file is sent.  The SHA-256 answered is of
 * the bytes read from the artifact's fd, hashed as they first pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <zlib.h>

#include "common/chan_taskproxy.h"
#include "common/chan_taskrunner.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/strbuf.h"
#include "common/timefmt.h"
#include "common/util.h"
#include "proxyd/agent.h"
#include "proxyd/backoff.h"
#include "proxyd/qclient.h"
#include "proxyd/reclaim.h"

/* The object service takes a body this small inline (tcobject's
 * DATA_INLINE_MAX_SIZE). */
#define INLINE_MAX		8192u
#define CHUNK			(256u << 10)
#define RESPONSE_MAX		(1u << 20)
#define RESPONSE_DEPTH		8u
#define CONNECT_TIMEOUT_S	30L
/* An upload making less than 1 byte/s progress for this long is cut and
 * retried; an API call taking longer, too. */
#define STALL_S			300L
#define ERRBODY_MAX		512u

static struct {
	struct taskproxy	*tp;
	int			 spool_fd;
	pthread_mutex_t		 lock;		/* the counts */
	unsigned		 uploads, requests;
} agent = { .spool_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

struct job {
	uint32_t	 type, id;
	int		 fd;		/* UPLOAD's artifact */
	int64_t		 expires_ms;
	uint32_t	 storage;	/* UPLOAD */
	uint32_t	 state;		/* RESOLVE */
	char		*name;
	char		*a, *b;		/* the two strings after name */
};

/* What a job ends with when it fails. */
struct failure {
	uint32_t	class;
	char		msg[TP_STRING_MAX];
};

static void	fail(struct failure *f, uint32_t class, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

static void
fail(struct failure *f, uint32_t class, const char *fmt, ...)
{
	va_list ap;

	f->class = class;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
}

/* --- Queue and object service calls --- */

/*
 * One call; creds NULL: the task's, as they are now.  On failure, f says
 * why and what the supervisor makes of it: a 409 is TPF_CONFLICT where
 * conflict says so, another 4xx TPF_REFUSED, the rest TPF_UNAVAILABLE.
 */
static int
call(const char *service, const char *method, const char *path,
    const char *body, const struct tc_creds *creds, bool conflict,
    struct qc_result *r, struct failure *f)
{
	struct taskproxy *tp = agent.tp;
	struct tc_creds mine = { 0 };
	struct qc_call c = {
		.root_url = tp->root_url, .service = service,
		.method = method, .path = path, .body = body,
		.body_len = body != NULL ? strlen(body) : 0,
		.creds = creds, .ca_pem = tp->ca_pem, .ca_len = tp->ca_len,
		.max_elapsed_s = tp->retry_seconds,
		.attempt_timeout_s = (unsigned)STALL_S,
		.max_response = RESPONSE_MAX,
	};
	int rc;

	if (creds == NULL) {
		taskproxy_creds_copy(tp, &mine);
		c.creds = &mine;
	}
	rc = qc_do(&c, r);
	creds_free(&mine);
	if (rc == 0) {
		log_info("%s %s/%s -> %ld", method, service, path, r->status);
		return 0;
	}
	log_warnx("%s %s/%s: %s", method, service, path, r->err);
	if (r->status == 409 && conflict)
		fail(f, TPF_CONFLICT, "%s %s: %s", method, path, r->err);
	else if (r->status >= 400 && r->status < 500)
		fail(f, TPF_REFUSED, "%s %s: %s", method, path, r->err);
	else
		fail(f, TPF_UNAVAILABLE, "%s %s: %s", method, path, r->err);
	return -1;
}

static char *
run_path(const char *what)
{
	struct taskproxy *tp = agent.tp;
	char *t = qc_escape(tp->task_id), *p;

	p = xasprintf("task/%s/runs/%u/%s", t, tp->run_id, what);
	free(t);
	return p;
}

static char *
artifact_path(const char *name)
{
	char *n = qc_escape(name), *what = xasprintf("artifacts/%s", n), *p;

	p = run_path(what);
	free(n);
	free(what);
	return p;
}

/* A successful call's answer as JSON, in *resp; what names the call. */
static int
parse_answer(const struct qc_result *r, const char *what,
    struct json_object **resp, struct failure *f)
{
	char err[200];

	if ((*resp = json_parse_strict(r->body != NULL ? r->body : "",
	    r->body_len, RESPONSE_MAX, RESPONSE_DEPTH, err,
	    sizeof(err))) != NULL)
		return 0;
	fail(f, TPF_UNAVAILABLE, "%s: the answer is not JSON: %s", what, err);
	return -1;
}

/* createArtifact; *resp the parsed answer when wanted. */
static int
create_artifact(const char *name, const char *body, struct json_object **resp,
    struct failure *f)
{
	struct qc_result r = { 0 };
	char *path = artifact_path(name);
	int rc = call("queue", "POST", path, body, NULL, true, &r, f);

	if (rc == 0 && resp != NULL)
		rc = parse_answer(&r, "createArtifact", resp, f);
	qc_result_free(&r);
	free(path);
	return rc;
}

/* --- bodies, keys in Go's struct order --- */

static void
put_key(struct strbuf *b, const char *key, const char *value, bool first)
{
	if (!first)
		strbuf_puts(b, ",");
	strbuf_json_string(b, key, false);
	strbuf_puts(b, ":");
	strbuf_json_string(b, value, false);
}

static void
put_expires(struct strbuf *b, int64_t ms, bool first)
{
	char t[TIMEFMT_LEN];

	time_format_ms(ms, t);
	put_key(b, "expires", t, first);
}

static char *
upload_body(const struct job *j, uint64_t size)
{
	struct strbuf b = { 0 };
	char n[24];

	strbuf_puts(&b, "{");
	if (size > 0) {
		snprintf(n, sizeof(n), "%llu", (unsigned long long)size);
		strbuf_puts(&b, "\"contentLength\":");
		strbuf_puts(&b, n);
	}
	put_key(&b, "contentType", j->a, size == 0);
	put_expires(&b, j->expires_ms, false);
	put_key(&b, "storageType", j->storage == TP_STORE_S3 ? "s3" :
	    "object", false);
	strbuf_puts(&b, "}");
	return strbuf_take(&b, NULL);
}

/* --- the bytes: a file read by offset, hashed as they first pass --- */

struct source {
	int		 fd;
	uint64_t	 size;
	uint64_t	 off;		/* this attempt's next byte */
	EVP_MD_CTX	*sha256, *sha512;	/* NULL: not hashed here */
	uint64_t	 hashed;	/* bytes from 0 hashed so far */
	int		 error;		/* errno of a failed read */
	bool		 short_read;	/* the file shrank */
};

static void
hash(struct source *s, const void *p, size_t n)
{
	if (s->sha256 != NULL && EVP_DigestUpdate(s->sha256, p, n) != 1)
		fatalx("EVP_DigestUpdate failed");
	if (s->sha512 != NULL && EVP_DigestUpdate(s->sha512, p, n) != 1)
		fatalx("EVP_DigestUpdate failed");
}

/* Up to n bytes at s->off; 0 at the size's end, -1 on a local failure. */
static ssize_t
source_read(struct source *s, void *buf, size_t n)
{
	ssize_t got;

	if (n > s->size - s->off)
		n = (size_t)(s->size - s->off);
	if (n == 0)
		return 0;
	while ((got = pread(s->fd, buf, n, (off_t)s->off)) == -1 &&
	    errno == EINTR)
		;
	if (got == -1) {
		s->error = errno;
		return -1;
	}
	if (got == 0) {
		s->short_read = true;
		return -1;
	}
	if (s->off == s->hashed) {
		hash(s, buf, (size_t)got);
		s->hashed += (uint64_t)got;
	}
	s->off += (uint64_t)got;
	return got;
}

/* Hash what no attempt read; -1 if the file cannot be read to its end. */
static int
source_finish_hash(struct source *s)
{
	char *buf;
	int rc = 0;

	if (s->sha256 == NULL || s->hashed == s->size)
		return 0;
	buf = xmalloc(CHUNK);
	for (s->off = s->hashed; s->off < s->size;)
		if (source_read(s, buf, CHUNK) < 0) {
			rc = -1;
			break;
		}
	free(buf);
	return rc;
}

static void
source_failure(const struct source *s, const char *name, struct failure *f)
{
	if (s->short_read)
		fail(f, TPF_LOCAL, "%s: the file shrank while it was read",
		    name);
	else
		fail(f, TPF_LOCAL, "%s: reading the file: %s", name,
		    strerror(s->error));
}

static EVP_MD_CTX *
digest_new(const EVP_MD *md)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c == NULL || EVP_DigestInit_ex(c, md, NULL) != 1)
		fatalx("EVP_DigestInit_ex failed");
	return c;
}

/* The digest in lower-case hex, NUL-terminated (2 * size + 1 bytes). */
static void
digest_hex(EVP_MD_CTX *c, char *hex, size_t hexlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len;

	if (EVP_DigestFinal_ex(c, md, &len) != 1 || hexlen < 2 * len + 1)
		fatalx("EVP_DigestFinal_ex failed");
	sodium_bin2hex(hex, hexlen, md, len);
}

/* --- PUT to a storage URL, retried as httpbackoff --- */

struct put {
	struct source	*src;
	char		 body[ERRBODY_MAX];	/* the answer's start */
	size_t		 len;
};

static size_t
put_read(char *buf, size_t size, size_t n, void *arg)
{
	struct put *p = arg;
	ssize_t got = source_read(p->src, buf, size * n);

	return got < 0 ? CURL_READFUNC_ABORT : (size_t)got;
}

static size_t
put_answer(char *data, size_t size, size_t n, void *arg)
{
	struct put *p = arg;
	size_t take = size * n;

	if (take > sizeof(p->body) - 1 - p->len)
		take = sizeof(p->body) - 1 - p->len;
	memcpy(p->body + p->len, data, take);
	p->len += take;
	p->body[p->len] = '\0';
	return size * n;
}

/* One attempt: the status, or 0 with err set when none came. */
static long
put_once(const char *url, struct curl_slist *headers, struct put *p,
    char *err)
{
	struct taskproxy *tp = agent.tp;
	struct curl_blob ca = { tp->ca_pem, tp->ca_len, CURL_BLOB_NOCOPY };
	CURL *e = curl_easy_init();
	CURLcode rc;
	long status = 0;

	if (e == NULL)
		fatalx("curl_easy_init failed");
	p->src->off = 0;
	p->len = 0;
	p->body[0] = '\0';
	err[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
	    (curl_off_t)p->src->size);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, put_read);
	curl_easy_setopt(e, CURLOPT_READDATA, p);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)CHUNK);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, put_answer);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, STALL_S);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	if (tp->ca_pem != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
	if ((rc = curl_easy_perform(e)) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	else if (err[0] == '\0')
		snprintf(err, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
	curl_easy_cleanup(e);
	return status;
}

/*
 * PUT the source to url, each attempt from offset 0: network errors and
 * 5xx are retried with the Go client's backoff for the proxy's retry
 * budget, and S3's 400 too where s3 says so (generic-worker, bug
 * 1394557).  A local read failure is final.
 */
static int
put_storage(const char *name, const char *url, struct curl_slist *headers,
    struct source *src, bool s3, struct failure *f)
{
	struct taskproxy *tp = agent.tp;
	uint64_t deadline = now_ms() + (uint64_t)tp->retry_seconds * 1000;
	struct put *p = xcalloc(1, sizeof(*p));
	char err[CURL_ERROR_SIZE];
	unsigned attempt = 0;
	long status;
	int rc = -1;

	p->src = src;
	for (;;) {
		uint64_t wait;

		attempt++;
		status = put_once(url, headers, p, err);
		if (src->error != 0 || src->short_read) {
			source_failure(src, name, f);
			break;
		}
		if (status >= 200 && status < 300) {
			rc = 0;
			break;
		}
		if (status != 0)
			snprintf(err, sizeof(err), "status %ld: %.200s",
			    status, p->body);
		log_warnx("%s: upload attempt %u: %s", name, attempt, err);
		if (status != 0 && status < 500 && !(s3 && status == 400)) {
			fail(f, TPF_UNAVAILABLE, "uploading %s: %s", name,
			    err);
			break;
		}
		wait = backoff_ms(attempt);
		if (now_ms() + wait > deadline) {
			fail(f, TPF_UNAVAILABLE, "uploading %s: %s (after %u "
			    "attempts)", name, err, attempt);
			break;
		}
		sleep_ms(wait);
	}
	free(p);
	return rc;
}

static struct curl_slist *
add_header(struct curl_slist *l, const char *name, const char *value)
{
	char *line = xasprintf("%s: %s", name, value);

	l = curl_slist_append(l, line);
	free(line);
	if (l == NULL)
		fatalx("out of memory");
	return l;
}

/* --- gzip into the spool --- */

/*
 * Compress the artifact into an unnamed file in the spool, hashing the
 * raw bytes in the same pass, as Go's gzip.NewWriter writes (default
 * level, mtime 0, OS unknown, the artifact's base name in the header).
 * *out is then the compressed file, *raw how many bytes were read.
 */
static int
spool_gzip(const struct job *j, EVP_MD_CTX *sha256, struct source *out,
    uint64_t *raw, struct failure *f)
{
	const char *base = strrchr(j->name, '/');
	unsigned char *in = xmalloc(CHUNK), *buf = xmalloc(CHUNK);
	gz_header h = { .os = 255 };
	z_stream z = { 0 };
	int fd = -1, zr = Z_OK, rc = -1;
	ssize_t n;

	base = base != NULL ? base + 1 : j->name;
	/* Go writes the name in Latin-1: ASCII alike, the rest left out. */
	for (const char *p = base; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80) {
			base = "";
			break;
		}
	if (*base != '\0')
		h.name = (Bytef *)(uintptr_t)base;
	*raw = 0;
	if (agent.spool_fd == -1) {
		fail(f, TPF_LOCAL, "%s: no spool directory to gzip it in",
		    j->name);
		goto out;
	}
	if ((fd = openat(agent.spool_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
	    0600)) == -1) {
		fail(f, TPF_LOCAL, "%s: a file in the spool: %s", j->name,
		    strerror(errno));
		goto out;
	}
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK || deflateSetHeader(&z, &h) != Z_OK)
		fatalx("deflateInit2 failed");
	do {
		while ((n = pread(j->fd, in, CHUNK, (off_t)*raw)) == -1 &&
		    errno == EINTR)
			;
		if (n == -1) {
			fail(f, TPF_LOCAL, "%s: reading the file: %s", j->name,
			    strerror(errno));
			goto end;
		}
		if (EVP_DigestUpdate(sha256, in, (size_t)n) != 1)
			fatalx("EVP_DigestUpdate failed");
		*raw += (uint64_t)n;
		z.next_in = in;
		z.avail_in = (uInt)n;
		do {
			z.next_out = buf;
			z.avail_out = CHUNK;
			zr = deflate(&z, n == 0 ? Z_FINISH : Z_NO_FLUSH);
			if (write_all(fd, buf, CHUNK - z.avail_out) == -1) {
				fail(f, TPF_LOCAL, "%s: writing the gzip'd copy "
				    "to the spool: %s", j->name,
				    strerror(errno));
				goto end;
			}
		} while (z.avail_out == 0);
	} while (n != 0);
	if (zr != Z_STREAM_END)
		fatalx("deflate did not finish");
	out->fd = fd;
	out->size = z.total_out;
	fd = -1;
	rc = 0;
end:
	deflateEnd(&z);
out:
	if (fd != -1)
		close(fd);
	free(in);
	free(buf);
	return rc;
}

/* The artifact's size: it must be a regular file, as the supervisor
 * promises (a pipe or a device has no size to announce). */
static int
artifact_size(const struct job *j, uint64_t *size, struct failure *f)
{
	struct stat st;

	if (fstat(j->fd, &st) == -1) {
		fail(f, TPF_LOCAL, "%s: %s", j->name, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(f, TPF_LOCAL, "%s: not a regular file", j->name);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* --- s3 --- */

static int
upload_s3(const struct job *j, struct tp_uploaded *done, struct failure *f)
{
	EVP_MD_CTX *sha256 = digest_new(EVP_sha256());
	struct source src = { .fd = j->fd }, spooled = { .fd = -1 };
	struct json_object *resp = NULL;
	struct curl_slist *h = NULL;
	const char *url, *type;
	bool gzip = strcmp(j->b, "gzip") == 0;
	char err[200] = "", hex[2 * 32 + 1], *body = NULL;
	int rc = -1;

	if (artifact_size(j, &src.size, f) == -1)
		goto out;
	if (gzip) {
		if (spool_gzip(j, sha256, &spooled, &done->bytes, f) == -1)
			goto out;
	} else {
		done->bytes = src.size;
		src.sha256 = sha256;
	}
	body = upload_body(j, done->bytes);
	if (create_artifact(j->name, body, &resp, f) == -1)
		goto out;
	if (json_get_string(resp, "putUrl", &url, err, sizeof(err)) != 1 ||
	    json_get_string(resp, "contentType", &type, err,
	    sizeof(err)) != 1) {
		fail(f, TPF_UNAVAILABLE, "createArtifact %s: the Queue's "
		    "answer has no putUrl and contentType%s%s", j->name,
		    err[0] != '\0' ? ": " : "", err);
		goto out;
	}
	h = add_header(h, "Content-Type", type);
	h = add_header(h, "Content-Encoding", j->b);
	/* No Expect or Accept: the Go client sends neither. */
	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, "Accept:");
	if (put_storage(j->name, url, h, gzip ? &spooled : &src, true,
	    f) == -1)
		goto out;
	if (!gzip && source_finish_hash(&src) == -1) {
		source_failure(&src, j->name, f);
		goto out;
	}
	digest_hex(sha256, hex, sizeof(hex));
	memcpy(done->sha256, hex, sizeof(done->sha256));
	rc = 0;
out:
	if (spooled.fd != -1)
		close(spooled.fd);
	curl_slist_free_all(h);
	json_object_put(resp);
	free(body);
	EVP_MD_CTX_free(sha256);
	return rc;
}

/* --- object --- */

/* What createArtifact answers for an object, and what the upload adds. */
struct object {
	struct tc_creds	 creds;		/* temporary, for this object only */
	const char	*name;		/* the object's */
	const char	*project;
	const char	*upload_id;
	char		 expires[TIMEFMT_LEN];
};

static int
object_parse(struct json_object *resp, struct object *o, char *err,
    size_t errlen)
{
	struct json_object *c;
	const char *id, *token, *cert = NULL, *expires;
	int64_t ms;

	if (!json_object_object_get_ex(resp, "credentials", &c) ||
	    !json_object_is_type(c, json_type_object)) {
		snprintf(err, errlen, "no credentials object");
		return -1;
	}
	if (json_get_string(c, "clientId", &id, err, errlen) != 1 ||
	    json_get_string(c, "accessToken", &token, err, errlen) != 1 ||
	    json_get_string(c, "certificate", &cert, err, errlen) == -1 ||
	    json_get_string(resp, "name", &o->name, err, errlen) != 1 ||
	    json_get_string(resp, "projectId", &o->project, err,
	    errlen) != 1 ||
	    json_get_string(resp, "uploadId", &o->upload_id, err,
	    errlen) != 1 ||
	    json_get_string(resp, "expires", &expires, err, errlen) != 1) {
		if (err[0] == '\0')
			snprintf(err, errlen, "a field is missing");
		return -1;
	}
	if (time_parse_rfc3339(expires, &ms) == -1) {
		snprintf(err, errlen, "\"expires\" is not a time");
		return -1;
	}
	time_format_ms(ms, o->expires);
	o->creds.client_id = secmem_strndup(id, strlen(id));
	o->creds.access_token = secmem_strndup(token, strlen(token));
	if (cert != NULL && *cert != '\0')
		o->creds.certificate = secmem_strndup(cert, strlen(cert));
	json_wipe_strings(c);
	return 0;
}

/* The object service's upload body: dataInline only for a small object
 * (its bytes then read and hashed here), putUrl always. */
static char *
object_upload_body(const struct job *j, const struct object *o,
    struct source *src, struct failure *f)
{
	struct strbuf b = { 0 };
	char n[24], *data = NULL, *b64;
	size_t b64len;

	if (src->size < INLINE_MAX) {
		data = xmalloc(src->size + 1);
		for (src->off = 0; src->off < src->size;)
			if (source_read(src, data + src->off,
			    (size_t)(src->size - src->off)) < 0) {
				source_failure(src, j->name, f);
				free(data);
				return NULL;
			}
	}
	strbuf_puts(&b, "{");
	put_key(&b, "expires", o->expires, true);
	put_key(&b, "projectId", o->project, false);
	strbuf_puts(&b, ",\"proposedUploadMethods\":{");
	if (data != NULL) {
		b64len = sodium_base64_ENCODED_LEN(src->size,
		    sodium_base64_VARIANT_ORIGINAL);
		b64 = xmalloc(b64len);
		sodium_bin2base64(b64, b64len, (unsigned char *)data,
		    src->size, sodium_base64_VARIANT_ORIGINAL);
		strbuf_puts(&b, "\"dataInline\":{");
		put_key(&b, "contentType", j->a, true);
		put_key(&b, "objectData", b64, false);
		strbuf_puts(&b, "},");
		free(b64);
		free(data);
	}
	snprintf(n, sizeof(n), "%llu", (unsigned long long)src->size);
	strbuf_puts(&b, "\"putUrl\":{\"contentLength\":");
	strbuf_puts(&b, n);
	put_key(&b, "contentType", j->a, false);
	strbuf_puts(&b, "}}");
	put_key(&b, "uploadId", o->upload_id, false);
	strbuf_puts(&b, "}");
	return strbuf_take(&b, NULL);
}

/* The upload method the object service chose: 1 data inline (done),
 * 0 a PUT to *url with *headers, -1 neither. */
static int
object_method(struct json_object *resp, const char **url,
    struct curl_slist **headers, char *err, size_t errlen)
{
	struct json_object *m, *put, *h;
	bool inline_done = false;

	if (!json_object_object_get_ex(resp, "uploadMethod", &m) ||
	    !json_object_is_type(m, json_type_object)) {
		snprintf(err, errlen, "no uploadMethod");
		return -1;
	}
	if (json_get_bool(m, "dataInline", &inline_done, err, errlen) == 1 &&
	    inline_done)
		return 1;
	if (!json_object_object_get_ex(m, "putUrl", &put) ||
	    !json_object_is_type(put, json_type_object) ||
	    json_get_string(put, "url", url, err, errlen) != 1) {
		snprintf(err, errlen, "uploadMethod is neither dataInline nor "
		    "putUrl");
		return -1;
	}
	*headers = curl_slist_append(NULL, "Expect:");
	*headers = curl_slist_append(*headers, "Accept:");
	if (json_object_object_get_ex(put, "headers", &h) &&
	    json_object_is_type(h, json_type_object)) {
		json_object_object_foreach(h, k, v) {
			const char *value;

			if (json_as_string(v, k, &value, err, errlen) == -1)
				return -1;
			*headers = add_header(*headers, k, value);
		}
	}
	return 0;
}

/* A call to the object service with the object's credentials: any
 * failure there is the upload's, TPF_UNAVAILABLE. */
static int
object_call(const char *method, const char *what, const char *name,
    const char *body, const struct object *o, struct json_object **resp,
    struct failure *f)
{
	struct qc_result r = { 0 };
	char *n = qc_escape(name), *path = xasprintf("%s/%s", what, n);
	int rc = call("object", method, path, body, &o->creds, false, &r, f);

	if (rc == 0 && resp != NULL)
		rc = parse_answer(&r, what, resp, f);
	if (rc == -1)
		f->class = TPF_UNAVAILABLE;
	qc_result_free(&r);
	free(path);
	free(n);
	return rc;
}

static char *
finish_body(const struct object *o, EVP_MD_CTX *sha256, EVP_MD_CTX *sha512,
    char *hex256, size_t len256)
{
	struct strbuf b = { 0 };
	char hex512[2 * 64 + 1];

	digest_hex(sha256, hex256, len256);
	digest_hex(sha512, hex512, sizeof(hex512));
	strbuf_puts(&b, "{\"hashes\":{");
	put_key(&b, "sha256", hex256, true);
	put_key(&b, "sha512", hex512, false);
	strbuf_puts(&b, "}");
	put_key(&b, "projectId", o->project, false);
	put_key(&b, "uploadId", o->upload_id, false);
	strbuf_puts(&b, "}");
	return strbuf_take(&b, NULL);
}

/* The Queue's finishArtifact, with the task's credentials. */
static int
finish_artifact(const char *name, const struct object *o, struct failure *f)
{
	struct strbuf b = { 0 };
	struct qc_result r = { 0 };
	char *body, *path = artifact_path(name);
	int rc;

	strbuf_puts(&b, "{");
	put_key(&b, "uploadId", o->upload_id, true);
	strbuf_puts(&b, "}");
	body = strbuf_take(&b, NULL);
	if ((rc = call("queue", "PUT", path, body, NULL, false, &r, f)) == -1)
		f->class = TPF_UNAVAILABLE;
	qc_result_free(&r);
	free(body);
	free(path);
	return rc;
}

/*
 * createArtifact (object), the object service's upload (inline or a
 * PUT of the raw bytes: contentEncoding does not apply), finish-upload
 * with the hashes of the bytes sent, then finishArtifact.
 */
static int
upload_object(const struct job *j, struct tp_uploaded *done,
    struct failure *f)
{
	struct source src = { .fd = j->fd, .sha256 = digest_new(EVP_sha256()),
	    .sha512 = digest_new(EVP_sha512()) };
	struct json_object *resp = NULL, *up = NULL;
	struct object o;
	struct curl_slist *h = NULL;
	char err[200] = "", hex[2 * 32 + 1], *body = NULL, *qbody = NULL;
	const char *url;
	int rc = -1, m;

	memset(&o, 0, sizeof(o));
	if (artifact_size(j, &src.size, f) == -1)
		goto out;
	done->bytes = src.size;
	qbody = upload_body(j, src.size);
	if (create_artifact(j->name, qbody, &resp, f) == -1)
		goto out;
	if (object_parse(resp, &o, err, sizeof(err)) == -1) {
		fail(f, TPF_UNAVAILABLE, "createArtifact %s: the Queue's "
		    "answer for an object: %s", j->name, err);
		goto out;
	}
	if ((body = object_upload_body(j, &o, &src, f)) == NULL ||
	    object_call("PUT", "upload", o.name, body, &o, &up, f) == -1)
		goto out;
	if ((m = object_method(up, &url, &h, err, sizeof(err))) == -1) {
		fail(f, TPF_UNAVAILABLE, "%s: the object service's upload "
		    "answer: %s", j->name, err);
		goto out;
	}
	if (m == 0 && put_storage(j->name, url, h, &src, false, f) == -1)
		goto out;
	if (source_finish_hash(&src) == -1) {
		source_failure(&src, j->name, f);
		goto out;
	}
	free(body);
	body = finish_body(&o, src.sha256, src.sha512, hex, sizeof(hex));
	if (object_call("POST", "finish-upload", o.name, body, &o, NULL,
	    f) == -1)
		goto out;
	if (finish_artifact(j->name, &o, f) == -1)
		goto out;
	memcpy(done->sha256, hex, sizeof(done->sha256));
	rc = 0;
out:
	creds_free(&o.creds);
	curl_slist_free_all(h);
	json_object_put(up);
	json_object_put(resp);
	free(body);
	free(qbody);
	EVP_MD_CTX_free(src.sha256);
	EVP_MD_CTX_free(src.sha512);
	return rc;
}

/* --- error and link artifacts, resolution --- */

static int
error_artifact(const struct job *j, struct failure *f)
{
	struct strbuf b = { 0 };
	char *body;
	int rc;

	strbuf_puts(&b, "{");
	put_expires(&b, j->expires_ms, true);
	put_key(&b, "message", j->b, false);
	put_key(&b, "reason", j->a, false);
	put_key(&b, "storageType", "error", false);
	strbuf_puts(&b, "}");
	body = strbuf_take(&b, NULL);
	rc = create_artifact(j->name, body, NULL, f);
	free(body);
	return rc;
}

static int
link_artifact(const struct job *j, struct failure *f)
{
	struct strbuf b = { 0 };
	char *body;
	int rc;

	strbuf_puts(&b, "{");
	put_key(&b, "artifact", j->a, true);
	put_key(&b, "contentType", j->b, false);
	put_expires(&b, j->expires_ms, false);
	put_key(&b, "storageType", "link", false);
	strbuf_puts(&b, "}");
	body = strbuf_take(&b, NULL);
	rc = create_artifact(j->name, body, NULL, f);
	free(body);
	return rc;
}

/* reportCompleted, reportFailed (no body), reportException. */
static int
resolve(const struct job *j, struct failure *f)
{
	static const char *const what[] = {
		[TASK_COMPLETED] = "completed", [TASK_FAILED] = "failed",
		[TASK_EXCEPTION] = "exception",
	};
	struct strbuf b = { 0 };
	struct qc_result r = { 0 };
	char *path = run_path(what[j->state]), *body = NULL;
	int rc;

	if (j->state == TASK_EXCEPTION) {
		strbuf_puts(&b, "{");
		put_key(&b, "reason", j->a, true);
		strbuf_puts(&b, "}");
		body = strbuf_take(&b, NULL);
	}
	rc = call("queue", "POST", path, body, NULL, false, &r, f);
	qc_result_free(&r);
	free(body);
	free(path);
	return rc;
}

/* --- requests --- */

static void
job_free(struct job *j)
{
	if (j->fd != -1)
		close(j->fd);
	free(j->name);
	free(j->a);
	free(j->b);
	free(j);
}

static void
answer(const struct job *j, int rc, const struct tp_uploaded *done,
    const struct failure *f)
{
	uint8_t buf[4 + 4 + TP_STRING_MAX];
	struct ipc_writer w;
	int sent;

	if (rc == 0 && j->type == TP_UPLOAD)
		sent = taskproxy_answer(agent.tp, TP_UPLOADED, j->id, done,
		    sizeof(*done));
	else if (rc == 0)
		sent = taskproxy_answer(agent.tp, TP_OK, j->id, NULL, 0);
	else {
		ipc_writer_init(&w, buf, sizeof(buf));
		ipc_put_u32(&w, f->class);
		ipc_put_str(&w, f->msg, strlen(f->msg));
		sent = taskproxy_answer(agent.tp, TP_FAILED, j->id, w.buf,
		    w.len);
	}
	if (sent == -1)
		fatal("answering the supervisor");
}

static void *
run(void *arg)
{
	struct job *j = arg;
	struct failure *f = xcalloc(1, sizeof(*f));
	struct tp_uploaded done = { 0 };
	int rc = -1;

	switch (j->type) {
	case TP_UPLOAD:
		rc = j->storage == TP_STORE_S3 ? upload_s3(j, &done, f) :
		    upload_object(j, &done, f);
		break;
	case TP_ERROR_ARTIFACT:
		rc = error_artifact(j, f);
		break;
	case TP_LINK:
		rc = link_artifact(j, f);
		break;
	case TP_RESOLVE:
		rc = resolve(j, f);
		break;
	}
	if (rc == 0)
		log_info("%s %s: done", ipc_spec(&taskproxy_channel,
		    j->type)->name, j->name != NULL ? j->name : "");
	/* Counted out before the answer, so the supervisor may send the
	 * next request as soon as it has it. */
	pthread_mutex_lock(&agent.lock);
	agent.requests--;
	if (j->type == TP_UPLOAD)
		agent.uploads--;
	pthread_mutex_unlock(&agent.lock);
	answer(j, rc, &done, f);
	free(f);
	job_free(j);
	return NULL;
}

/* Latest expiry a Taskcluster timestamp can carry (9999-12-31). */
#define EXPIRES_MAX	253402300799999LL

/* What is wrong with m as a request, or NULL; j filled. */
static const char *
parse(const struct ipc_msg *m, struct job *j)
{
	struct ipc_reader r;
	uint32_t flags = 0;

	ipc_reader_init(&r, m);
	if (m->hdr.type == TP_RESOLVE)
		j->state = ipc_get_u32(&r);
	else
		j->expires_ms = (int64_t)ipc_get_u64(&r);
	if (m->hdr.type == TP_UPLOAD) {
		j->storage = ipc_get_u32(&r);
		flags = ipc_get_u32(&r);
	}
	if (m->hdr.type != TP_RESOLVE)
		j->name = ipc_get_strdup(&r, TP_STRING_MAX);
	j->a = ipc_get_strdup(&r, TP_STRING_MAX);
	if (m->hdr.type != TP_RESOLVE)
		j->b = ipc_get_strdup(&r, TP_STRING_MAX);
	if (!ipc_get_end(&r))
		return "malformed payload";
	if (m->hdr.type == TP_RESOLVE) {
		if (j->state < TASK_COMPLETED || j->state > TASK_EXCEPTION)
			return "unknown state";
		if ((j->state == TASK_EXCEPTION) != (j->a[0] != '\0'))
			return "a reason for an exception, and only then";
		return NULL;
	}
	if (j->name[0] == '\0')
		return "an empty artifact name";
	if (j->expires_ms < 0 || j->expires_ms > EXPIRES_MAX)
		return "expiry out of range";
	if (m->hdr.type == TP_UPLOAD) {
		if (j->storage != TP_STORE_S3 && j->storage != TP_STORE_OBJECT)
			return "unknown storage";
		if (flags != 0)
			return "unknown flags";
		if (strcmp(j->b, "gzip") != 0 && strcmp(j->b, "identity") != 0)
			return "contentEncoding neither gzip nor identity";
	}
	return NULL;
}

void
agent_take(struct ipc_msg *m)
{
	struct job *j = xcalloc(1, sizeof(*j));
	const char *why;
	pthread_t t;
	int rc;

	j->type = m->hdr.type;
	j->id = m->hdr.id;
	j->fd = m->fd;
	m->fd = -1;
	why = parse(m, j);
	pthread_mutex_lock(&agent.lock);
	if (why == NULL && agent.requests == TP_MAX_REQUESTS)
		why = "more requests at once than allowed";
	if (why == NULL && j->type == TP_UPLOAD &&
	    agent.uploads == TP_MAX_UPLOADS)
		why = "more uploads at once than allowed";
	if (why == NULL) {
		agent.requests++;
		if (j->type == TP_UPLOAD)
			agent.uploads++;
	}
	pthread_mutex_unlock(&agent.lock);
	if (why != NULL)
		taskproxy_violation("%s: %s", m->spec->name, why);
	/* The claim ends with the resolution: a reclaim racing it would
	 * only be refused. */
	if (j->type == TP_RESOLVE)
		reclaim_stop(agent.tp);
	if ((rc = pthread_create(&t, NULL, run, j)) != 0 ||
	    (rc = pthread_detach(t)) != 0)
		fatalx("starting a thread for %s: %s", m->spec->name,
		    strerror(rc));
}

void
agent_init(struct taskproxy *tp, int spool_fd)
{
	EVP_MD_CTX *c = digest_new(EVP_sha512());
	char hex[2 * 64 + 1];
	z_stream z = { 0 };

	agent.tp = tp;
	agent.spool_fd = spool_fd;
	/* OpenSSL and zlib set themselves up on first use: now, while
	 * files can still be opened. */
	digest_hex(c, hex, sizeof(hex));
	EVP_MD_CTX_free(c);
	c = digest_new(EVP_sha256());
	EVP_MD_CTX_free(c);
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		fatalx("deflateInit2 failed");
	deflateEnd(&z);
}
