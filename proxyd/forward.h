/*
 * The task's proxied requests upstream, all on one libcurl multi handle
 * driven by the task proxy's event loop (server.c): its connection
 * cache, with a share for DNS and TLS sessions, so that a build's
 * thousands of calls reuse a few connections instead of paying a
 * handshake each; the CA bundle parsed once.
 *
 * Each request is tried until one attempt is final, as the Taskcluster
 * clients retry (network errors and 5xx, exponential backoff with
 * jitter, each attempt signed anew), if its body was held whole; a body
 * streamed is sent once.  Redirects are passed back, never followed.
 * Bodies flow both ways without being stored: the caller's callbacks
 * take the response as it comes and give the request body as it has
 * it, and either side may say "not now" (FWD_PAUSE) and resume later.
 */
#ifndef SEPWORKER_FORWARD_H
#define SEPWORKER_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "proxyd/taskproxy.h"

/* A callback's "not now". */
#define FWD_PAUSE	((size_t)-1)

struct fwd;

struct fwd_ops {
	/* The final attempt's status and headers are in (fwd_status,
	 * fwd_headers, fwd_length); the body follows.  alone: no piece of
	 * it comes with them (send the head now). */
	void	(*head)(void *arg, bool alone);
	/* Response body bytes: all taken (len), or FWD_PAUSE (none taken;
	 * the same come again after fwd_resume_recv). */
	size_t	(*body)(void *arg, const char *data, size_t len);
	/* Request body bytes of a streamed body (fwd_request.streamed):
	 * up to max copied to buf, 0 at its end, or FWD_PAUSE if none are
	 * here yet (fwd_resume_send when there are). */
	size_t	(*read)(void *arg, char *buf, size_t max);
	/*
	 * The end, once: ok after the whole response; else err says what
	 * went wrong, with status the answer to give if no head was sent
	 * (500, or 504 for an upstream that said nothing in time).  The fwd
	 * is freed after this returns.
	 */
	void	(*done)(void *arg, bool ok, unsigned status, const char *err);
};

struct fwd_request {
	const char		*method;
	const char		*url;		/* upstream, absolute */
	/* The task's headers worth passing on ("Name: value"), and which
	 * of the ones curl would otherwise invent it sent itself. */
	const struct curl_slist	*headers;
	bool			 sent_accept;
	bool			 sent_content_type;
	bool			 has_body;
	/* The whole body, held for every attempt (streamed false), or a
	 * body given through ops->read as it comes (streamed true, length
	 * -1 if unknown: sent chunked). */
	bool			 streamed;
	const char		*body;
	int64_t			 body_len;
};

/* Set up the multi handle; the loop's hooks (server.c) for curl's
 * sockets and timer are fwd_socket_event() and fwd_timeout(). */
int		 fwd_init(struct taskproxy *tp, const struct tp_limits *lim,
		    char *err, size_t errlen);
/* Start rq (copied as needed); NULL with err set if it cannot start. */
struct fwd	*fwd_start(const struct fwd_request *rq,
		    const struct fwd_ops *ops, void *arg, char *err,
		    size_t errlen);
/* Abandon it, upstream and retries alike; no callback after this. */
void		 fwd_cancel(struct fwd *f);
void		 fwd_resume_recv(struct fwd *f);
void		 fwd_resume_send(struct fwd *f);

long		 fwd_status(const struct fwd *f);
/* The body's length if upstream said it, else -1. */
int64_t		 fwd_length(const struct fwd *f);
/* Each response header worth relaying, in order, every value. */
void		 fwd_headers(const struct fwd *f,
		    void (*fn)(void *arg, const char *name, const char *value),
		    void *arg);
unsigned	 fwd_attempts(const struct fwd *f);

/* The loop's side. */
void		 fwd_socket_event(int fd, uint32_t epoll_events);
/* Milliseconds until curl or a retry wants to run, -1 if never. */
long		 fwd_next_ms(void);
/* Run what is due: curl's timer, retries, upstream timeouts. */
void		 fwd_run_timers(void);
/* Cancel everything (the task is gone). */
void		 fwd_shutdown(void);

#endif
