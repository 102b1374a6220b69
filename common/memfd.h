/*
 * Sealed memfds carry whatever may be larger than a SEQPACKET message
 * (task definitions, documents to sign).  The sender writes the bytes and
 * seals them; the receiver refuses anything whose size could still change
 * or whose bytes could still be written, takes the size from fstat and
 * reads with pread or a private mapping (the file offset is shared with
 * the sender, so it is never used).
 */
#ifndef SEPWORKER_MEMFD_H
#define SEPWORKER_MEMFD_H

#include <fcntl.h>
#include <stddef.h>

#define MEMFD_REQUIRED_SEALS	(F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

/* A sealed memfd holding exactly buf[0..len); -1 with errno on failure. */
int	memfd_sealed(const char *name, const void *buf, size_t len);

/*
 * Check that fd is a memfd sealed against writing and resizing, at most
 * max bytes long.  Returns 0 and the size, or -1 with err set.
 */
int	memfd_check_sealed(int fd, size_t max, size_t *size, char *err,
	    size_t errlen);

/* Read all of a checked memfd into buf (size bytes); -1 on short read. */
int	memfd_read(int fd, void *buf, size_t size);

#endif
