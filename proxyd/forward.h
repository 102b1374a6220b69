/*
 * One proxied request upstream: attempts until one is final, as the
 * Taskcluster clients retry (network errors and 5xx, exponential backoff
 * with jitter, each attempt signed anew), then the final response's body
 * streamed to whoever reads it.  Redirects are passed back, never
 * followed.
 */
#ifndef SEPWORKER_FORWARD_H
#define SEPWORKER_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "proxyd/taskproxy.h"

struct fwd_request {
	struct taskproxy	*tp;
	const char		*method;
	const char		*url;		/* upstream, absolute */
	const char		*body;		/* kept for every attempt */
	size_t			 body_len;
	/* The task's headers worth passing on ("Name: value"), and which of
	 * the ones curl would otherwise invent it sent itself. */
	struct curl_slist	*headers;
	bool			 sent_accept;
	bool			 sent_content_type;
	int			 client_fd;	/* the task's connection */
};

struct upstream;

/*
 * The final attempt's response, headers complete, body still to be
 * read; or NULL with err saying why no response could be had (the
 * transport error of the last attempt, or a credential problem), and
 * *hung_up set if the task closed its connection meanwhile: then the
 * request is abandoned, upstream and retries alike.
 */
struct upstream	*forward(const struct fwd_request *rq, bool *hung_up,
		    char *err, size_t errlen);
long		 upstream_status(const struct upstream *u);
/* The body's length if upstream said it, else -1. */
int64_t		 upstream_length(const struct upstream *u);
/* Each response header worth relaying, in order, every value. */
void		 upstream_headers(const struct upstream *u,
		    void (*fn)(void *arg, const char *name, const char *value),
		    void *arg);
/* Up to max bytes of body; 0 at its end, -1 if the transfer failed. */
ssize_t		 upstream_read(struct upstream *u, char *buf, size_t max);
unsigned	 upstream_attempts(const struct upstream *u);
void		 upstream_free(struct upstream *u);

#endif
