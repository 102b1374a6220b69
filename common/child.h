/*
 * What the three children share: how they are started (fds, argv), and
 * the request loop with the messages every channel carries.
 *
 * A child is exec'd by the supervisor with an empty environment and
 *	fd 0, 1	/dev/null
 *	fd 2	the log pipe (so libc and sanitizer reports reach the log)
 *	fd 3	its control socket (SOCK_SEQPACKET)
 *	fd 4	the log pipe
 * and argv: --uid N --gid N --ppid N [--verbose] [role options].
 */
#ifndef SEPWORKER_CHILD_H
#define SEPWORKER_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"
#include "sandbox.h"

#define CHILD_CONTROL_FD	3
#define CHILD_LOG_FD		4

/* Exit statuses the supervisor explains by name. */
#define CHILD_EXIT_OK		0
#define CHILD_EXIT_FATAL	1
#define CHILD_EXIT_USAGE	2
#define CHILD_EXIT_VIOLATION	3

/* Child states for dispatch tables (bits). */
#define CHILD_ST_SERVING	0x1u

struct child_args {
	uid_t	 uid;
	gid_t	 gid;
	pid_t	 ppid;
	bool	 verbose;
	uint32_t skip_flags;	/* sandbox_params.skip_flags, from the role */
	/* sandbox_params.connect_ports, from the role (set after
	 * child_start): the TCP ports Landlock lets it connect to. */
	const uint16_t	*connect_ports;
	size_t		 nconnect_ports;
};

/*
 * Check the fds the supervisor set up, start logging to fd 4 and parse
 * the common options.  Options the role knows are handed to role_opt
 * (which returns 0 if it took the option and its value, -1 otherwise);
 * anything else is a usage error.
 */
void	child_start(int argc, char **argv, const char *role,
	    int (*role_opt)(const char *opt, const char *val, void *arg),
	    void *arg, struct child_args *out);

/* Enter the role's sandbox with the ids from argv, and say so in the log. */
void	child_lockdown(const struct sandbox_policy *p,
	    const struct child_args *a);

/*
 * Serve requests until SHUTDOWN: send READY, then receive and dispatch.
 * PING and SHUTDOWN are handled here; tbl has the role's own messages.
 * A message not in the channel table, or not allowed in *state, is a
 * protocol violation and ends the process with CHILD_EXIT_VIOLATION.
 */
void	child_serve(struct ipc_conn *c, const struct ipc_handler *tbl,
	    size_t n, uint32_t *state, void *ctx) __attribute__((noreturn));
/*
 * One more fd for child_serve to wait on besides its channel (-1: none):
 * fn(ctx) is called when it is readable.  fn may call this again (to
 * watch another fd, or none).  The child's filter must allow poll.
 */
void	child_serve_watch(int fd, void (*fn)(void *ctx));

#endif
