/*
 * The output directory of `sepworker run-task`: each artifact is written
 * to DIR/<artifact name>.  The supervisor writes as root and the names
 * come from the task, so a name is checked before use, every step of its
 * path is resolved beneath DIR without following a symlink, and nothing
 * that exists is ever overwritten.  The bytes are hashed as they are
 * copied, so the digest that chain of trust signs is that of exactly the
 * bytes written.
 */
#ifndef SEPWORKER_OUTDIR_H
#define SEPWORKER_OUTDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARTIFACT_NAME_MAX	1024

/* Create DIR (mode 0755; its parent must exist) or take an existing empty
 * directory that is not a symlink.  Returns an O_DIRECTORY|O_CLOEXEC fd,
 * or -1 with err naming path and the problem. */
int	outdir_open(const char *path, char *err, size_t errlen);

/* NULL if name (len bytes, not NUL-terminated) may be an artifact name,
 * else a static phrase saying why not ("has a \".\" or \"..\" segment"). */
const char *artifact_name_problem(const char *name, size_t len);

/* Would an artifact of this name take a place only the worker writes
 * (the logs, the chain-of-trust files, run-task's result.json): the same
 * name, a name below one, or a directory one of them is made in? */
bool	artifact_name_reserved(const char *name);

/* Create dirfd/name, with its missing directories, for writing.  Returns
 * an O_WRONLY|O_CLOEXEC fd of a new file, or -1 with err naming the
 * artifact and the problem (a bad name, a symlink on the path, a name
 * that already exists). */
int	outdir_create(int dirfd, const char *name, char *err, size_t errlen);

/* The directory the last file was made in, kept open for the next (a
 * directory artifact's files come one directory at a time). */
struct outdir_parent {
	char	path[ARTIFACT_NAME_MAX + 1];
	size_t	len;
	int	fd;		/* O_PATH; -1: none */
};
void	outdir_parent_init(struct outdir_parent *p);
void	outdir_parent_free(struct outdir_parent *p);
/* outdir_create, through p. */
int	outdir_create_in(struct outdir_parent *p, int dirfd, const char *name,
	    char *err, size_t errlen);

/* Make name (as outdir_create) a second name of the file dirfd/existing,
 * which this process wrote: no byte is written again.  0, or -1 with
 * err. */
int	outdir_link(int dirfd, const char *existing, const char *name,
	    char *err, size_t errlen);

/* Remove the file dirfd/name (a partial copy), not following symlinks;
 * what cannot be removed stays. */
void	outdir_remove(int dirfd, const char *name);

enum copy_failure {
	COPY_READ,	/* reading the artifact, or hashing */
	COPY_WRITE,	/* writing the copy: error says why (ENOSPC) */
	COPY_LATE,	/* the deadline passed */
};

struct copy_result {
	uint64_t	bytes;
	uint8_t		sha256[32];
	char		sha256_hex[65];	/* lowercase, NUL-terminated */
	enum copy_failure failure;	/* when -1 is returned */
	int		error;		/* errno of a COPY_WRITE */
};

/* At most max_bytes are copied, and the copy stops (COPY_LATE) once
 * now_ms() reaches deadline_ms. */
struct copy_bounds {
	uint64_t	max_bytes;
	uint64_t	deadline_ms;
};

/* Copy all of src, from offset 0 to EOF, to dst and hash what is written
 * in the same pass (on a second thread for large files).  src is read
 * with pread only: its file offset is left as it was.  Not reentrant
 * (static buffers).  0, or -1 with err saying what failed. */
int	copy_and_hash(int src, int dst, struct copy_result *r, char *err,
	    size_t errlen);
/* The same, within b. */
int	copy_and_hash_bounded(int src, int dst, const struct copy_bounds *b,
	    struct copy_result *r, char *err, size_t errlen);

#endif
