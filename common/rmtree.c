#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rmtree.h"
#include "util.h"

/* Levels one pass goes down before it moves what lies deeper up. */
#define RMTREE_PASS_DEPTH	256

static int
cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

char **
dir_names(int dfd, bool sorted)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **names = NULL, **grown;
	size_t n = 0, cap = 0;
	struct dirent *e;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 32;
			grown = reallocarray(names, cap, sizeof(char *));
			if (grown == NULL)
				fatal("listing a directory");
			names = grown;
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (names == NULL)
		names = xcalloc(1, sizeof(char *));
	names[n] = NULL;
	if (sorted)
		qsort(names, n, sizeof(char *), cmp_names);
	return names;
}

void
dir_names_free(char **names)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

/* One pass below dfd; what lies deeper than RMTREE_PASS_DEPTH is renamed
 * into top for the next pass, counted in *moved. */
static void
remove_below(int dfd, int depth, int top, unsigned *moved)
{
	char **names = dir_names(dfd, false);

	if (names == NULL)
		return;
	for (size_t i = 0; names[i] != NULL; i++) {
		struct stat st;
		int fd;

		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISDIR(st.st_mode)) {
			unlinkat(dfd, names[i], 0);
			continue;
		}
		if (depth >= RMTREE_PASS_DEPTH) {
			char up[48];

			snprintf(up, sizeof(up), ".sepworker-deep-%u", *moved);
			if (renameat(dfd, names[i], top, up) == 0)
				(*moved)++;
			continue;
		}
		/* A directory, seen without following a link: give it its
		 * rights back.  Failing shows as what remains at the end. */
		(void)!fchmodat(dfd, names[i], 0700, 0);
		fd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd >= 0) {
			remove_below(fd, depth + 1, top, moved);
			close(fd);
		}
		unlinkat(dfd, names[i], AT_REMOVEDIR);
	}
	dir_names_free(names);
}

bool
rmtree_contents(int dirfd)
{
	unsigned moved = 0, before;
	char **left;
	bool empty;

	/* The owner may have taken away its own rights on the top too. */
	(void)!fchmod(dirfd, 0700);
	do {
		before = moved;
		remove_below(dirfd, 0, dirfd, &moved);
	} while (moved != before);
	left = dir_names(dirfd, false);
	empty = left != NULL && left[0] == NULL;
	dir_names_free(left);
	return empty;
}
