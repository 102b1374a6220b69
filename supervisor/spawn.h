#ifndef SEPWORKER_SPAWN_H
#define SEPWORKER_SPAWN_H

#include <sys/types.h>

/* How to start one child: its binary (an fd, so a path swapped after
 * start-up cannot change what runs), argv, and the fds it gets. */
struct spawn_spec {
	int		  binfd;	/* O_PATH fd of the executable */
	char *const	 *argv;
	int		  sock;		/* becomes fd 3 */
	int		  logw;		/* becomes fd 4, and fd 2 */
	int		  devnull;	/* becomes fd 0 and 1 */
	const int	 *extra;	/* become fds 5, 6, ... */
	int		  nextra;
};

/*
 * fork+exec the child with an empty environment, default signal state,
 * its own session, PR_SET_PDEATHSIG(SIGKILL), fds 0-4 as above, the extra
 * fds from 5 on, and every other fd closed.  Returns its pid and a pidfd for it, or -1.
 */
pid_t	spawn_child(const struct spawn_spec *s, int *pidfd);

/* Open the child binary name next to our own executable, after checking
 * that nobody but root (or our own uid) can have changed it. */
int	spawn_open_binary(const char *dir, const char *name, char *err,
	    size_t errlen);

#endif
