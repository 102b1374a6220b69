/*
 * Landlock's user-space ABI, carried here because Debian 12's
 * linux/landlock.h stops at ABI 2 and glibc 2.36 has no wrappers.  Values
 * are the kernel's (include/uapi/linux/landlock.h); names carry an LL_
 * prefix so they cannot collide with a newer system header.
 */
#ifndef SEPWORKER_LANDLOCK_H
#define SEPWORKER_LANDLOCK_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset	444
#define __NR_landlock_add_rule		445
#define __NR_landlock_restrict_self	446
#endif

#define LL_CREATE_RULESET_VERSION	(1u << 0)
#define LL_RULE_PATH_BENEATH		1
#define LL_RULE_NET_PORT		2

/* Filesystem rights, with the ABI that introduced them. */
#define LL_FS_EXECUTE		(1ull << 0)	/* ABI 1 */
#define LL_FS_WRITE_FILE	(1ull << 1)
#define LL_FS_READ_FILE		(1ull << 2)
#define LL_FS_READ_DIR		(1ull << 3)
#define LL_FS_REMOVE_DIR	(1ull << 4)
#define LL_FS_REMOVE_FILE	(1ull << 5)
#define LL_FS_MAKE_CHAR		(1ull << 6)
#define LL_FS_MAKE_DIR		(1ull << 7)
#define LL_FS_MAKE_REG		(1ull << 8)
#define LL_FS_MAKE_SOCK		(1ull << 9)
#define LL_FS_MAKE_FIFO		(1ull << 10)
#define LL_FS_MAKE_BLOCK	(1ull << 11)
#define LL_FS_MAKE_SYM		(1ull << 12)
#define LL_FS_REFER		(1ull << 13)	/* ABI 2 */
#define LL_FS_TRUNCATE		(1ull << 14)	/* ABI 3 */
#define LL_FS_IOCTL_DEV		(1ull << 15)	/* ABI 5 */

#define LL_NET_BIND_TCP		(1ull << 0)	/* ABI 4 */
#define LL_NET_CONNECT_TCP	(1ull << 1)

#define LL_SCOPE_ABSTRACT_UNIX	(1ull << 0)	/* ABI 6 */
#define LL_SCOPE_SIGNAL		(1ull << 1)

/* Rights that may be granted on a file (not a directory) rule. */
#define LL_FS_FILE_RIGHTS	(LL_FS_EXECUTE | LL_FS_WRITE_FILE |	\
    LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

struct ll_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;	/* ABI 4 */
	uint64_t	scoped;			/* ABI 6 */
};

struct ll_path_beneath_attr {
	uint64_t	allowed_access;
	int32_t		parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
	uint64_t	allowed_access;
	uint64_t	port;
};

static inline int
ll_create_ruleset(const struct ll_ruleset_attr *attr, size_t size,
    uint32_t flags)
{
	return (int)syscall(__NR_landlock_create_ruleset, attr, size, flags);
}

static inline int
ll_add_rule(int ruleset, int type, const void *attr)
{
	return (int)syscall(__NR_landlock_add_rule, ruleset, type, attr, 0);
}

static inline int
ll_restrict_self(int ruleset)
{
	return (int)syscall(__NR_landlock_restrict_self, ruleset, 0);
}

#endif
