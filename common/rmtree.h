/*
 * Emptying a directory that a task wrote, as the task user: shared by the
 * task's init (after each task) and the supervisor's start-up cleanup (a
 * forked process dropped to the uid that owns what a crashed run left).
 */
#ifndef SEPWORKER_RMTREE_H
#define SEPWORKER_RMTREE_H

#include <stdbool.h>

/*
 * Remove everything below dirfd.  Every step is an *at call relative to
 * a directory fd opened with O_NOFOLLOW: a symbolic link is unlinked,
 * never followed, and a FIFO or device is unlinked, never opened.  A
 * directory the owner made unreadable or unsearchable gets its rights
 * back first (the caller must own it); trees of any depth are removed,
 * the deepest levels moved up and taken in later passes.  Call it only
 * when nothing else writes there.  True if the directory is now empty.
 */
bool	rmtree_contents(int dirfd);

/* The names in dfd but . and .., sorted if asked (for a stable order),
 * NULL-terminated; NULL if it cannot be read.  Free with
 * dir_names_free(). */
char	**dir_names(int dfd, bool sorted);
void	 dir_names_free(char **names);

#endif
