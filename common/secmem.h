/*
 * Memory for secrets: libsodium's guarded allocations (guard pages, a
 * canary, mlock'd so never swapped, MADV_DONTDUMP so never in a core),
 * wiped when freed.  Secrets are read from files with open/read straight
 * into such memory, never through stdio, whose buffers are freed without
 * being wiped.
 */
#ifndef SEPWORKER_SECMEM_H
#define SEPWORKER_SECMEM_H

#include <stddef.h>

/* Fatal if the allocation fails. */
void	*secmem_alloc(size_t n);
/* Wipes, then frees; NULL is fine. */
void	 secmem_free(void *p);
/* A NUL-terminated copy of s[0..n) in secure memory. */
char	*secmem_strndup(const char *s, size_t n);

/*
 * Read all of path (at most max bytes) into secure memory, NUL-terminated
 * (the NUL is not counted in *len).  NULL with err naming the path and
 * the problem: missing, unreadable, not a regular file, too large.
 */
char	*secmem_read_file(const char *path, size_t max, size_t *len, char *err,
	    size_t errlen);

#endif
