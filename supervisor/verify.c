/*
 * `sepworker verify-cot DIR --public-key KEY`: check what run-task wrote
 * (or what was downloaded into DIR) the way a verifier would: the
 * signature over the document's exact bytes, its taskId, and every
 * artifact it lists against the file in DIR.  Every problem is named;
 * the exit status is 0 only when all of them hold.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/chan_keyholder.h"
#include "common/edkey.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/exitcodes.h"
#include "supervisor/outdir.h"
#include "supervisor/verify.h"

struct verdict {
	int	problems;
};

static void __attribute__((format(printf, 3, 4)))
say(struct verdict *v, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%-4s ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		v->problems++;
}

/* Open name beneath dir, never through a link (the files may come from
 * anywhere). */
static int
open_in(int dirfd, const char *name)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

/* All of name (a regular file of at most max bytes), malloc'd. */
static char *
slurp(int dirfd, const char *name, size_t max, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open_in(dirfd, name);

	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max) {
		if (fd != -1)
			close(fd);
		errno = fd == -1 ? errno : EINVAL;
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = read_all(fd, buf, (size_t)st.st_size + 1);
	close(fd);
	if (n < 0 || (size_t)n > max) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* KEY: base64 of the public key, or a file holding it. */
static int
load_public_key(const char *arg, unsigned char pk[32])
{
	char buf[128];
	ssize_t n;
	int fd;

	if (edkey_public_decode(arg, strlen(arg), pk) == 0)
		return 0;
	if ((fd = open(arg, O_RDONLY | O_CLOEXEC)) == -1) {
		log_errorx("--public-key %s: neither a base64 public key nor a "
		    "file: %s", arg, strerror(errno));
		return -1;
	}
	n = read_all(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || edkey_public_decode(buf, (size_t)n, pk) == -1) {
		log_errorx("--public-key %s: does not hold a base64 ed25519 "
		    "public key", arg);
		return -1;
	}
	return 0;
}

static void
check_artifact(struct verdict *v, int dirfd, const char *name,
    struct json_object *entry)
{
	struct json_object *want;
	struct copy_result res;
	char err[256];
	const char *why, *hex;
	int fd, null;

	if ((why = artifact_name_problem(name, strlen(name))) != NULL) {
		say(v, false, "artifact \"%.200s\": its name %s", name, why);
		return;
	}
	if (!json_object_is_type(entry, json_type_object) ||
	    !json_object_object_get_ex(entry, "sha256", &want) ||
	    !json_object_is_type(want, json_type_string) ||
	    strlen(hex = json_object_get_string(want)) != 64) {
		say(v, false, "artifact %s: no sha256 in the document", name);
		return;
	}
	if ((fd = open_in(dirfd, name)) == -1) {
		say(v, false, "artifact %s: %s in %s", name, strerror(errno),
		    "the directory");
		return;
	}
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (copy_and_hash(fd, null, &res, err, sizeof(err)) == -1)
		say(v, false, "artifact %s: %s", name, err);
	else if (strcmp(res.sha256_hex, hex) != 0)
		say(v, false, "artifact %s: sha256 %s, the document says %s",
		    name, res.sha256_hex, hex);
	else
		say(v, true, "artifact %s: sha256 %s", name, hex);
	close(fd);
	close(null);
}

/* Is rel one of the files a task's output holds that are no artifact
 * of its own? */
static bool
not_an_artifact(const char *rel)
{
	static const char *const worker_files[] = {
		"result.json", "public/logs/live.log",
		"public/logs/live_backing.log", "public/chain-of-trust.json",
		"public/chain-of-trust.json.sig",
	};

	for (size_t i = 0; i < nitems(worker_files); i++)
		if (strcmp(rel, worker_files[i]) == 0)
			return true;
	return false;
}

/* Files in DIR the document does not cover: worth a warning. */
static void
warn_uncovered(int dfd, const char *rel, struct json_object *arts, int depth)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (d == NULL || depth > 64) {
		if (d != NULL)
			closedir(d);
		else if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char *sub;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		sub = *rel ? xasprintf("%s/%s", rel, e->d_name) :
		    xstrdup(e->d_name);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
		    && S_ISDIR(st.st_mode)) {
			int sfd = openat(dirfd(d), e->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sfd >= 0) {
				warn_uncovered(sfd, sub, arts, depth + 1);
				close(sfd);
			}
		} else if (!not_an_artifact(sub) &&
		    !json_object_object_get_ex(arts, sub, NULL))
			printf("warn %s is in the directory but not in the "
			    "document\n", sub);
		free(sub);
	}
	closedir(d);
}

/* The taskId the document must carry: --task-id, else result.json's. */
static char *
expected_task_id(int dirfd, const char *given)
{
	struct json_object *res, *id;
	char err[160], *text, *out = NULL;
	size_t len;

	if (given != NULL)
		return xstrdup(given);
	if ((text = slurp(dirfd, "result.json", 1u << 20, &len)) == NULL)
		return NULL;
	res = json_parse_strict(text, len, 1u << 20, 32, err, sizeof(err));
	free(text);
	if (res != NULL && json_object_object_get_ex(res, "taskId", &id) &&
	    json_object_is_type(id, json_type_string))
		out = xstrdup(json_object_get_string(id));
	json_object_put(res);
	return out;
}

int
verify_cot(const char *dir, const char *key, const char *task_id)
{
	struct json_object *doc = NULL, *v, *arts;
	struct verdict ver = { 0 };
	unsigned char pk[32];
	char err[256], *text = NULL, *sig = NULL, *want_id = NULL;
	size_t len, siglen;
	int dirfd;

	if (load_public_key(key, pk) == -1)
		return EXIT_USAGE;
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_errorx("%s: %s", dir, strerror(errno));
		return EXIT_USAGE;
	}
	text = slurp(dirfd, "public/chain-of-trust.json", KH_DOCUMENT_MAX,
	    &len);
	sig = slurp(dirfd, "public/chain-of-trust.json.sig", 64, &siglen);
	if (text == NULL || sig == NULL || siglen != 64) {
		say(&ver, false, "%s/public/chain-of-trust.json and its .sig "
		    "(64 bytes) must both be there", dir);
		goto out;
	}
	say(&ver, crypto_sign_verify_detached((unsigned char *)sig,
	    (unsigned char *)text, len, pk) == 0,
	    "signature over the document's %zu bytes (ed25519)", len);
	doc = json_parse_strict(text, len, KH_DOCUMENT_MAX, 128, err,
	    sizeof(err));
	if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
		say(&ver, false, "the document is not a JSON object: %s",
		    doc ? "" : err);
		goto out;
	}
	say(&ver, json_object_object_get_ex(doc, "chainOfTrustVersion", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) == 1, "chainOfTrustVersion is 1");
	want_id = expected_task_id(dirfd, task_id);
	if (!json_object_object_get_ex(doc, "taskId", &v) ||
	    !json_object_is_type(v, json_type_string))
		say(&ver, false, "the document has no taskId");
	else if (want_id == NULL)
		say(&ver, false, "no taskId to check against (no result.json "
		    "in %s; give --task-id)", dir);
	else
		say(&ver, strcmp(json_object_get_string(v), want_id) == 0,
		    "taskId %s (expected %s)", json_object_get_string(v),
		    want_id);
	if (!json_object_object_get_ex(doc, "artifacts", &arts) ||
	    !json_object_is_type(arts, json_type_object)) {
		say(&ver, false, "the document has no artifacts object");
		goto out;
	}
	json_object_object_foreach(arts, name, entry)
		check_artifact(&ver, dirfd, name, entry);
	warn_uncovered(dirfd, "", arts, 0);
out:
	printf("verify-cot: %s\n", ver.problems ? "FAILED" : "OK");
	json_object_put(doc);
	free(text);
	free(sig);
	free(want_id);
	close(dirfd);
	return ver.problems ? EXIT_CHECK_FAILED : EXIT_OK;
}
