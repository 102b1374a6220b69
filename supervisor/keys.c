/*
 * The chain-of-trust key on disk: making one, showing its public half,
 * and checking that no task could read it.  The running worker never
 * reads the key here (only the keyholder opens it); these are one-shot
 * commands and metadata checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/edkey.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/task_paths.h"
#include "common/util.h"
#include "supervisor/exitcodes.h"
#include "supervisor/keys.h"

int
keys_new_keypair(const char *path)
{
	unsigned char pk[EDKEY_PUBLIC_BYTES];
	unsigned char *seed = secmem_alloc(EDKEY_SEED_BYTES);
	unsigned char *sk = secmem_alloc(EDKEY_SECRET_BYTES);
	char *b64 = secmem_alloc(EDKEY_B64_LEN + 1), pub[EDKEY_B64_LEN + 1];
	int fd, rc = EXIT_CANNOT_CREATE_KEY;

	randombytes_buf(seed, EDKEY_SEED_BYTES);
	crypto_sign_seed_keypair(pk, sk, seed);
	edkey_encode(seed, b64);
	/* Never over an existing key, never through a link; 0600 whatever
	 * the umask. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		log_errorx("%s: %s%s", path, strerror(errno), errno == EEXIST ?
		    " (refusing to overwrite a key)" : "");
		goto out;
	}
	if (fchmod(fd, 0600) == -1 || write_all(fd, b64, EDKEY_B64_LEN) == -1 ||
	    fsync(fd) == -1) {
		log_errorx("%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	close(fd);
	edkey_encode(pk, pub);
	/* As generic-worker: the public key, no newline. */
	fputs(pub, stdout);
	rc = EXIT_OK;
out:
	secmem_free(seed);
	secmem_free(sk);
	secmem_free(b64);
	return rc;
}

int
keys_show_public(const char *path)
{
	unsigned char pk[EDKEY_PUBLIC_BYTES];
	unsigned char *seed = secmem_alloc(EDKEY_SEED_BYTES);
	unsigned char *sk = secmem_alloc(EDKEY_SECRET_BYTES);
	char err[256], pub[EDKEY_B64_LEN + 1], *text;
	size_t len;
	int rc = EXIT_MISSING_KEY;

	text = secmem_read_file(path, EDKEY_FILE_MAX, &len, err, sizeof(err));
	if (text == NULL) {
		log_errorx("ed25519 key %s", err);
		goto out;
	}
	if (edkey_decode(text, len, seed, err, sizeof(err)) == -1) {
		log_errorx("ed25519 key %s %s", path, err);
		goto out;
	}
	crypto_sign_seed_keypair(pk, sk, seed);
	edkey_encode(pk, pub);
	printf("%s\n", pub);
	rc = EXIT_OK;
out:
	secmem_free(text);
	secmem_free(seed);
	secmem_free(sk);
	return rc;
}

/* Is path at or below dir (both canonical)? */
static bool
below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' ||
	    path[n] == '\0' || strcmp(dir, "/") == 0);
}

/* The trees a task may read, canonical; "" entries where one is absent. */
static const char *
readable_tree(const struct sw_config *cfg, const char *real)
{
	static char found[PATH_MAX];
	char canon[PATH_MAX];

	for (size_t i = 0; i < TASK_HOST_PATHS; i++)
		if (realpath(task_host_paths[i].path, canon) != NULL &&
		    below(real, canon)) {
			snprintf(found, sizeof(found), "%s", canon);
			return found;
		}
	for (const char *p = cfg->task_read_only_paths; p != NULL && *p;) {
		size_t len = strcspn(p, "\n");
		char one[PATH_MAX];

		snprintf(one, sizeof(one), "%.*s", (int)len, p);
		if (realpath(one, canon) != NULL && below(real, canon)) {
			snprintf(found, sizeof(found), "%.4000s "
			    "(taskReadOnlyPaths)", canon);
			return found;
		}
		p += len + (p[len] == '\n');
	}
	if (realpath(cfg->tasks_dir, canon) != NULL && below(real, canon)) {
		snprintf(found, sizeof(found), "%.4000s (tasksDir)", canon);
		return found;
	}
	return NULL;
}

const char *
secret_file_problem(const struct sw_config *cfg, const char *path,
    uint32_t owner_ok, char *buf, size_t len)
{
	char real[PATH_MAX], dir[PATH_MAX];
	const char *tree;
	struct stat st;

	if (lstat(path, &st) == -1) {
		snprintf(buf, len, "%s: %s", path, strerror(errno));
		return buf;
	}
	if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode)) {
		snprintf(buf, len, "%s must be a regular file, not a symbolic "
		    "link or anything else", path);
		return buf;
	}
	if (st.st_uid != 0 && st.st_uid != owner_ok) {
		snprintf(buf, len, "%s is owned by uid %u; it must be owned by "
		    "root or uid %u (chown root %s)", path, st.st_uid,
		    owner_ok, path);
		return buf;
	}
	if (st.st_mode & 077) {
		snprintf(buf, len, "%s has mode %04o: readable or writable by "
		    "group or others (chmod 600 %s)", path,
		    (unsigned)(st.st_mode & 07777), path);
		return buf;
	}
	if (realpath(path, real) == NULL) {
		snprintf(buf, len, "%s: %s", path, strerror(errno));
		return buf;
	}
	if ((tree = readable_tree(cfg, real)) != NULL) {
		snprintf(buf, len, "%s lies in %s, which tasks may read: only "
		    "its file mode would stand between a task and it; move it "
		    "(e.g. to /var/lib/sepworker/)", path, tree);
		return buf;
	}
	/* Every directory above must be root's alone: whoever can write one
	 * of them can swap the file. */
	snprintf(dir, sizeof(dir), "%s", real);
	for (char *d = dirname(dir);; d = dirname(d)) {
		if (stat(d, &st) == -1) {
			snprintf(buf, len, "%s: %s", d, strerror(errno));
			return buf;
		}
		if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
			snprintf(buf, len, "directory %s above %s must be owned "
			    "by root and writable by root alone (chown root %s; "
			    "chmod go-w %s)", d, path, d, d);
			return buf;
		}
		if (strcmp(d, "/") == 0)
			break;
	}
	return NULL;
}
