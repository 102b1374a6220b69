/*
 * A task proxy's limits: what it allows its task (server.c enforces
 * them), set by --limits, which the supervisor passes from
 * sepworker.proxyLimits (checked when the config is loaded, with the
 * same parser).
 */
#ifndef SEPWORKER_LIMITS_H
#define SEPWORKER_LIMITS_H

#include <stddef.h>

/*
 * What a task's proxy allows its task (--limits name=value,...): see
 * server.c.  Seconds, bytes, counts.
 */
struct tp_limits {
	unsigned	 connections;	/* at once */
	unsigned	 head_bytes;	/* request line and headers */
	unsigned	 headers;	/* header fields */
	unsigned	 head_timeout_s;	/* a head, from its first byte */
	unsigned	 idle_timeout_s;	/* between requests */
	unsigned	 body_timeout_s;	/* no body byte */
	unsigned	 send_timeout_s;	/* the task takes no byte */
	unsigned	 upstream_timeout_s;	/* upstream sends none */
	size_t		 retry_body;	/* bodies held for a retry */
};
/* The most connections --limits may allow: RLIMIT_NOFILE (policy.c)
 * less upstream connections and the proxy's own fds. */
#define TASKPROXY_NOFILE	2048u
#define TP_CONNECTIONS_MAX	1700u

extern const struct tp_limits tp_default_limits;

/* Parse "name=value,..." over lim's values; -1 with err naming what was
 * wrong (lim then partly changed). */
int	limits_parse(const char *spec, struct tp_limits *lim, char *err,
	    size_t errlen);

#endif
