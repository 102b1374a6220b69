#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/reserved.h"
#include "common/utf8.h"
#include "common/util.h"
#include "supervisor/outdir.h"

/* 1 MiB: past 64 KiB the chunk size no longer matters to EVP, and fewer
 * preads mean fewer 1 µs syscalls (performance.md §0, §1). */
#define COPY_BUF_SIZE	(1024 * 1024)

/* Longest prefix of a refused name shown in an error message. */
#define SHOWN_NAME_MAX	64


/* An existing directory is acceptable only if nothing is in it, so no
 * artifact can land on top of a file that was already there. */
static int
dir_is_empty(int fd)
{
	struct dirent *de;
	int copy, empty = 1, e = 0;
	DIR *d;

	/* fdopendir takes the fd it is given: give it a copy. */
	if ((copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	if ((d = fdopendir(copy)) == NULL) {
		close(copy);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	if (de == NULL && errno != 0) {
		e = errno;
		empty = -1;
	}
	/* The copy shares its offset with fd. */
	rewinddir(d);
	closedir(d);
	errno = e;
	return empty;
}

int
outdir_open(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *last;
	struct stat st;
	size_t len = strlen(path);
	int fd, e, empty;

	/* A trailing '/', "." or ".." makes the kernel resolve a symlink
	 * before O_NOFOLLOW sees the last component. */
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 0 || len >= sizeof(dir)) {
		snprintf(err, errlen, "output directory \"%s\": %s", path,
		    len == 0 ? "empty path" : "path too long");
		return -1;
	}
	memcpy(dir, path, len);
	dir[len] = '\0';
	last = strrchr(dir, '/');
	last = last == NULL ? dir : last + 1;
	if (strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
		snprintf(err, errlen, "output directory %s: must end in a "
		    "directory name, not \".\" or \"..\"", path);
		return -1;
	}

	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		if (errno == ENOENT)
			snprintf(err, errlen, "output directory %s: its parent "
			    "directory does not exist", path);
		else
			snprintf(err, errlen, "output directory %s: %s", path,
			    strerror(errno));
		return -1;
	}
	/* O_NOFOLLOW: as root we write beneath this directory, and a
	 * symlink could send that anywhere. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		e = errno;
		/* A symlink fails with ENOTDIR too (O_DIRECTORY is checked
		 * first); lstat tells them apart, for the message only. */
		if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
			snprintf(err, errlen, "output directory %s is a symlink",
			    path);
		else if (e == ENOTDIR)
			snprintf(err, errlen, "output directory %s is not a "
			    "directory", path);
		else
			snprintf(err, errlen, "output directory %s: %s", path,
			    strerror(e));
		return -1;
	}
	if ((empty = dir_is_empty(fd)) != 1) {
		if (empty == 0)
			snprintf(err, errlen, "output directory %s is not empty",
			    path);
		else
			snprintf(err, errlen, "output directory %s: listing it: "
			    "%s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

const char *
artifact_name_problem(const char *name, size_t len)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i, n, seg, end;

	if (len == 0)
		return "is empty";
	if (len > ARTIFACT_NAME_MAX)
		return "is longer than 1024 bytes";
	if (s[0] == '/')
		return "is an absolute path";
	for (i = 0; i < len; i += n) {
		n = 1;
		if (s[i] < 0x20 || s[i] == 0x7f)
			return "contains a control character";
		if (s[i] == '\\')
			return "contains a backslash";
		if (s[i] < 0x80)
			continue;
		if ((n = utf8_sequence(s + i, len - i, NULL)) == 0)
			return "is not valid UTF-8";
		/* U+0080..U+009F: the C1 controls. */
		if (s[i] == 0xc2 && s[i + 1] < 0xa0)
			return "contains a control character";
	}
	for (seg = 0; seg <= len; seg = end + 1) {
		for (end = seg; end < len && s[end] != '/'; end++)
			continue;
		n = end - seg;
		if (n == 0)
			return "has an empty path segment";
		if (s[seg] == '.' && (n == 1 || (n == 2 && s[seg + 1] == '.')))
			return "has a \".\" or \"..\" segment";
	}
	return NULL;
}

bool
artifact_name_reserved(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < NWORKER_ARTIFACT_NAMES; i++) {
		const char *w = worker_artifact_names[i];
		size_t wn = strlen(w);

		/* The name itself, a name below it, or a directory it must
		 * be made in: each would take its place. */
		if (strcmp(name, w) == 0 ||
		    (n > wn && strncmp(name, w, wn) == 0 && name[wn] == '/') ||
		    (wn > n && n > 0 && strncmp(w, name, n) == 0 && w[n] == '/'))
			return true;
	}
	return false;
}

/*
 * One path segment beneath dirfd.  openat2 rather than openat: O_NOFOLLOW
 * covers only the last component and says nothing of "..", while these
 * resolve flags make the kernel refuse a symlink, a /proc magic link or
 * an escape from dirfd anywhere in the lookup, so writing beneath DIR does
 * not rest on the name check alone.  glibc 2.36 has no wrapper.
 */
static int
open_beneath(int dirfd, const char *segment, uint64_t flags, uint64_t mode)
{
	struct open_how how = {
		.flags = flags,
		.mode = mode,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, dirfd, segment, &how, sizeof(how));
}

/* A refused name may hold anything: show a prefix of it with every byte
 * outside printable ASCII (and '\\') as '?'. */
static const char *
shown_name(char out[SHOWN_NAME_MAX + 4], const char *name, size_t len)
{
	size_t i, n = len < SHOWN_NAME_MAX ? len : SHOWN_NAME_MAX;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		out[i] = c >= 0x20 && c < 0x7f && c != '\\' ? (char)c : '?';
	}
	strcpy(out + n, n < len ? "..." : "");
	return out;
}

/* err for a failure at the first at bytes of name (all of it: the file). */
static int
create_failed(char *err, size_t errlen, const char *name, size_t at, int e)
{
	const char *what;
	int whole = name[at] == '\0';

	switch (e) {
	case EEXIST:
		what = "already exists";
		break;
	case ELOOP:
		what = "is a symlink";
		break;
	case ENOTDIR:
		what = "is not a directory";
		break;
	case EXDEV:
		what = "is outside the output directory";
		break;
	default:
		snprintf(err, errlen, "artifact %s: %.*s%s%s", name,
		    whole ? 0 : (int)at, name, whole ? "" : ": ", strerror(e));
		return -1;
	}
	snprintf(err, errlen, "artifact %s: %.*s%s%s", name,
	    whole ? 0 : (int)at, name, whole ? "" : " ", what);
	return -1;
}

/*
 * The directory name is to be made in, opened O_PATH beneath dirfd as
 * outdir_create does (missing directories made, no symlink followed);
 * *last points at its last segment.  -1 with err set.
 */
static int
open_parent(int dirfd, const char *name, const char **last, bool make,
    char *err, size_t errlen)
{
	char part[ARTIFACT_NAME_MAX + 1];
	const char *seg, *slash;
	int fd = dirfd, next, e;

	for (seg = name; (slash = strchr(seg, '/')) != NULL; seg = slash + 1) {
		memcpy(part, seg, (size_t)(slash - seg));
		part[slash - seg] = '\0';
		/* EEXIST is fine: an earlier artifact made it, and
		 * open_beneath refuses it below unless it is a directory. */
		if (make && mkdirat(fd, part, 0755) == -1 && errno != EEXIST) {
			e = errno;
			if (fd != dirfd)
				close(fd);
			snprintf(err, errlen, "artifact %s: creating %.*s: %s",
			    name, (int)(slash - name), name, strerror(e));
			return -1;
		}
		next = open_beneath(fd, part, O_PATH | O_DIRECTORY | O_CLOEXEC,
		    0);
		e = errno;
		if (fd != dirfd)
			close(fd);
		if ((fd = next) == -1)
			return create_failed(err, errlen, name,
			    (size_t)(slash - name), e);
	}
	*last = seg;
	return fd;
}

void
outdir_parent_init(struct outdir_parent *p)
{
	p->fd = -1;
	p->len = 0;
}

void
outdir_parent_free(struct outdir_parent *p)
{
	if (p->fd >= 0)
		close(p->fd);
	outdir_parent_init(p);
}

/*
 * open_parent through p: the files of a directory artifact come one
 * directory at a time, and each but the first finds it open already,
 * saving a mkdirat and an openat2 a level.  Only this process writes
 * beneath dirfd, so the directory cannot have changed meanwhile.  The
 * fd returned is p's or dirfd: never closed by the caller.
 */
static int
cached_parent(struct outdir_parent *p, int dirfd, const char *name,
    const char **last, char *err, size_t errlen)
{
	const char *slash = strrchr(name, '/');
	size_t len = slash == NULL ? 0 : (size_t)(slash - name);
	int fd;

	if (len == 0) {
		*last = name;
		return dirfd;
	}
	if (p->fd >= 0 && p->len == len && memcmp(p->path, name, len) == 0) {
		*last = slash + 1;
		return p->fd;
	}
	if ((fd = open_parent(dirfd, name, last, true, err, errlen)) == -1)
		return -1;
	outdir_parent_free(p);
	memcpy(p->path, name, len);
	p->len = len;
	p->fd = fd;
	return fd;
}

int
outdir_create(int dirfd, const char *name, char *err, size_t errlen)
{
	struct outdir_parent p;
	int fd;

	outdir_parent_init(&p);
	fd = outdir_create_in(&p, dirfd, name, err, errlen);
	outdir_parent_free(&p);
	return fd;
}

int
outdir_create_in(struct outdir_parent *p, int dirfd, const char *name,
    char *err, size_t errlen)
{
	char shown[SHOWN_NAME_MAX + 4];
	const char *last, *why;
	size_t len = strlen(name);
	int parent, fd;

	if ((why = artifact_name_problem(name, len)) != NULL) {
		snprintf(err, errlen, "artifact name \"%s\" %s",
		    shown_name(shown, name, len), why);
		return -1;
	}
	if ((parent = cached_parent(p, dirfd, name, &last, err, errlen)) ==
	    -1)
		return -1;
	/* O_EXCL: never overwrite, whether a second artifact of the same
	 * name or anything else; with it a final symlink is not followed
	 * either (EEXIST), O_NOFOLLOW says so once more. */
	fd = open_beneath(parent, last, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0644);
	return fd == -1 ? create_failed(err, errlen, name, len, errno) : fd;
}

int
outdir_link(int dirfd, const char *existing, const char *name, char *err,
    size_t errlen)
{
	char shown[SHOWN_NAME_MAX + 4], self[64];
	const char *why, *last;
	size_t len = strlen(name);
	int from, parent, rc, e;

	if ((why = artifact_name_problem(name, len)) != NULL) {
		snprintf(err, errlen, "artifact name \"%s\" %s",
		    shown_name(shown, name, len), why);
		return -1;
	}
	from = open_beneath(dirfd, existing, O_PATH | O_NOFOLLOW | O_CLOEXEC,
	    0);
	if (from == -1) {
		snprintf(err, errlen, "artifact %s: reopening %s to link it: "
		    "%s", name, existing, strerror(errno));
		return -1;
	}
	if ((parent = open_parent(dirfd, name, &last, true, err, errlen)) ==
	    -1) {
		close(from);
		return -1;
	}
	/* linkat never replaces a name that exists (EEXIST), and the new
	 * name's directory was resolved beneath dirfd as for a file.
	 * AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd does not. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", from);
	rc = linkat(AT_FDCWD, self, parent, last, AT_SYMLINK_FOLLOW);
	e = errno;
	close(from);
	if (parent != dirfd)
		close(parent);
	return rc == -1 ? create_failed(err, errlen, name, len, e) : 0;
}

void
outdir_remove(int dirfd, const char *name)
{
	const char *last;
	char err[64];
	int parent = open_parent(dirfd, name, &last, false, err, sizeof(err));

	if (parent == -1)
		return;
	unlinkat(parent, last, 0);
	if (parent != dirfd)
		close(parent);
}

static void
to_hex(const uint8_t *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/*
 * The copy and the hash overlap: this thread reads chunks and writes
 * them out while a second one hashes them, so the two cores each do one
 * job and the artifact path runs near the speed of hashing alone
 * (`make bench`).  A ring of buffers passes between them; a buffer is
 * reused only once it has been both written and hashed.  Small files are
 * not worth a thread.
 */
#define RING		4
#define THREAD_MIN	(2u * COPY_BUF_SIZE)

struct ring {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	unsigned char	*buf[RING];
	size_t		 len[RING];
	bool		 full[RING];	/* waiting to be hashed */
	bool		 done;		/* no more chunks will come */
	bool		 failed;	/* the digest failed */
	EVP_MD_CTX	*ctx;
};

static void *
hasher(void *arg)
{
	struct ring *g = arg;

	for (size_t i = 0;; i = (i + 1) % RING) {
		pthread_mutex_lock(&g->mu);
		while (!g->full[i] && !g->done)
			pthread_cond_wait(&g->cv, &g->mu);
		if (!g->full[i]) {
			pthread_mutex_unlock(&g->mu);
			return NULL;
		}
		pthread_mutex_unlock(&g->mu);
		if (EVP_DigestUpdate(g->ctx, g->buf[i], g->len[i]) != 1)
			g->failed = true;
		pthread_mutex_lock(&g->mu);
		g->full[i] = false;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
	}
}

/* pread until n bytes or EOF; -1 on error. */
static ssize_t
read_chunk(int src, unsigned char *buf, size_t n, uint64_t off)
{
	ssize_t got;

	/* pread, not read: the offset of src may be shared with a process
	 * of the task's user, which could move it under us and make us copy
	 * and sign other bytes than the file's. */
	do {
		got = pread(src, buf, n, (off_t)off);
	} while (got == -1 && errno == EINTR);
	return got;
}

int
copy_and_hash(int src, int dst, struct copy_result *r, char *err,
    size_t errlen)
{
	const struct copy_bounds none = { UINT64_MAX, UINT64_MAX };

	return copy_and_hash_bounded(src, dst, &none, r, err, errlen);
}

int
copy_and_hash_bounded(int src, int dst, const struct copy_bounds *b,
    struct copy_result *r, char *err, size_t errlen)
{
	/*
	 * Static: their pages fault in once per process, not once per
	 * artifact (about 3 ms per MiB here, performance.md Fact B).  Not
	 * reentrant; the supervisor copies one artifact at a time.
	 */
	static unsigned char bufs[RING][COPY_BUF_SIZE];
	struct ring g = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	enum copy_failure failure = COPY_READ;
	unsigned int mdlen = 0;
	struct stat st;
	bool threaded;
	pthread_t th;
	uint64_t off = 0;
	int rc = -1, error = 0;

	memset(r, 0, sizeof(*r));
	if ((g.ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(g.ctx, EVP_sha256(), NULL) != 1) {
		snprintf(err, errlen, "SHA-256: OpenSSL could not start a "
		    "digest");
		EVP_MD_CTX_free(g.ctx);
		r->failure = COPY_READ;
		return -1;
	}
	for (int i = 0; i < RING; i++)
		g.buf[i] = bufs[i];
	threaded = fstat(src, &st) == 0 && (uint64_t)st.st_size >= THREAD_MIN &&
	    b->max_bytes >= THREAD_MIN &&
	    pthread_create(&th, NULL, hasher, &g) == 0;
	for (size_t i = 0;; i = (i + 1) % RING) {
		size_t want = b->max_bytes - off < COPY_BUF_SIZE ?
		    (size_t)(b->max_bytes - off) : COPY_BUF_SIZE;
		ssize_t n;

		/* Whatever the file does meanwhile, no more than its size
		 * when it was handed over is written. */
		if (want == 0)
			break;
		if (now_ms() >= b->deadline_ms) {
			snprintf(err, errlen, "the time for collecting "
			    "artifacts ran out at byte %llu",
			    (unsigned long long)off);
			failure = COPY_LATE;
			goto out;
		}
		if (threaded) {
			pthread_mutex_lock(&g.mu);
			while (g.full[i])
				pthread_cond_wait(&g.cv, &g.mu);
			pthread_mutex_unlock(&g.mu);
		}
		if ((n = read_chunk(src, g.buf[i], want, off)) == -1) {
			snprintf(err, errlen, "reading the artifact at byte "
			    "%llu: %s", (unsigned long long)off,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		g.len[i] = (size_t)n;
		if (threaded) {
			pthread_mutex_lock(&g.mu);
			g.full[i] = true;
			pthread_cond_broadcast(&g.cv);
			pthread_mutex_unlock(&g.mu);
		} else if (EVP_DigestUpdate(g.ctx, g.buf[i], (size_t)n) != 1)
			g.failed = true;
		if (write_all(dst, g.buf[i], (size_t)n) == -1) {
			error = errno;
			snprintf(err, errlen, "writing the output file at byte "
			    "%llu: %s", (unsigned long long)off,
			    strerror(error));
			failure = COPY_WRITE;
			goto out;
		}
		off += (uint64_t)n;
	}
	rc = 0;
out:
	if (threaded) {
		pthread_mutex_lock(&g.mu);
		g.done = true;
		pthread_cond_broadcast(&g.cv);
		pthread_mutex_unlock(&g.mu);
		pthread_join(th, NULL);
	}
	if (rc == 0 && (g.failed || EVP_DigestFinal_ex(g.ctx, r->sha256,
	    &mdlen) != 1 || mdlen != sizeof(r->sha256))) {
		snprintf(err, errlen, "SHA-256: OpenSSL digest failed");
		failure = COPY_READ;
		rc = -1;
	}
	EVP_MD_CTX_free(g.ctx);
	if (rc == 0) {
		r->bytes = off;
		to_hex(r->sha256, sizeof(r->sha256), r->sha256_hex);
	} else {
		memset(r, 0, sizeof(*r));
		r->failure = failure;
		r->error = error;
	}
	return rc;
}
