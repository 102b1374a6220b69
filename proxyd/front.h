/*
 * The task's connections between accept and libmicrohttpd (front.c), and
 * what the two share with server.c.
 */
#ifndef SEPWORKER_FRONT_H
#define SEPWORKER_FRONT_H

#include <stddef.h>

#include <microhttpd.h>

#include "proxyd/taskproxy.h"

/* At most this many of the task's connections at once, waiting for their
 * head or served. */
#define FRONT_CONNECTION_LIMIT	64
/* The longest request head taken (libmicrohttpd's own limit before). */
#define FRONT_HEAD_MAX		(32u << 10)
/* Seconds a connection may take to send its head. */
#define FRONT_HEAD_TIMEOUT_S	300

/*
 * Accept the task's connections on listen_fd in a thread of its own: each
 * from a uid other than the task's is closed at once (tp->check_peer);
 * each other is held until its request head is complete, checked by
 * head_check(), and answered there if refused, else handed to d, whose
 * connection reads the same bytes.  A connection carries one request:
 * every response says "Connection: close", so no later head reaches
 * libmicrohttpd unchecked.
 */
int	front_start(struct taskproxy *tp, int listen_fd, struct MHD_Daemon *d,
	    char *err, size_t errlen);

/* Stop accepting: the accepting thread closes the listener and every
 * connection it holds, and is gone when this returns. */
void	front_stop(void);

/* server.c: the headers taskcluster-proxy puts on every response. */
void	server_common_headers(struct taskproxy *tp,
	    void (*add)(void *arg, const char *name, const char *value),
	    void *arg);

#endif
