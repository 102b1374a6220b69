/*
 * proxyd's two roles, one binary:
 *	proxyd		the long-lived holder of credentials (main.c); in
 *			worker mode it also makes the worker's own Queue
 *			calls (qclient.c, claim.c)
 *	taskproxy	one task's proxy, exec'd afresh for that task with
 *			argv[0] "taskproxy" (taskproxy.c, server.c,
 *			forward.c, peer.c)
 */
#ifndef SEPWORKER_PROXYD_H
#define SEPWORKER_PROXYD_H

#include "common/sandbox.h"

/* Where proxyd puts the task proxy end it was handed, so its filter can
 * name the one socket it may send credentials on. */
#define PROXYD_FEED_FD	5

extern const struct sandbox_policy proxyd_policy;
extern const struct sandbox_policy proxyd_worker_policy;
extern const struct sandbox_policy taskproxy_policy;
/* The same, with a spool directory (--spool-fd) to write in. */
extern const struct sandbox_policy taskproxy_spool_policy;

int	taskproxy_main(int argc, char **argv);

#endif
