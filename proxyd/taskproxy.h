/*
 * One task's proxy: serves the task's TASKCLUSTER_PROXY_URL on a
 * listener it was handed (fd 5), signs each request with the task's
 * credentials restricted to the task's scopes, and forwards it.
 *
 *	taskproxy.c	start-up, the control and credentials channels, the
 *			credentials in use (behind a lock: a reclaim replaces
 *			them while requests are in flight)
 *	server.c	HTTP from the task, in one epoll loop: admission,
 *			each head checked (head.c), bodies, keep-alive,
 *			routes, /bewit, responses, limits (limits.c)
 *	forward.c	HTTP to upstream (libcurl's multi-socket interface,
 *			in the same loop): retries, streaming both ways
 *	peer.c		who is on the other end of a loopback connection
 *	agent.c		worker mode, after the task: its artifacts and its
 *			resolution (agent.h)
 *	reclaim.c	worker mode: the task's reclaims (reclaim.h)
 */
#ifndef SEPWORKER_TASKPROXY_H
#define SEPWORKER_TASKPROXY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include "common/ipc.h"
#include "proxyd/creds.h"
#include "proxyd/limits.h"

/* How long a signed URL from /bewit is valid, as taskcluster-proxy. */
#define TP_BEWIT_TTL_S		3600u

struct taskproxy {
	/* From the command line. */
	char		*root_url;
	char		*task_id;
	uint32_t	 run_id;
	bool		 check_peer;	/* host networking: check the uid */
	uint32_t	 allowed_uid;
	uint32_t	 retry_seconds;
	bool		 add_artifact_scope;	/* worker mode */
	bool		 agent;		/* --agent: worker mode, agent after */
	bool		 no_listener;	/* --no-listener: no fd 5, no scopes */
	int		 spool_fd;	/* --spool-fd, or -1 */
	char		*live_log;	/* --live-log: the task's name for it */
	char		*backing_log;	/* --backing-log */
	struct tp_limits limits;	/* --limits */
	bool		 agent_on;	/* AGENT came: the task is over */
	int64_t		 taken_until_ms; /* --taken-until: reclaim (0: not) */
	/* Where /<host.with.dot>/... may go (sepworker.proxyAllowedHosts;
	 * without --allowed-hosts, the root URL's host alone). */
	char		**allowed_hosts;
	size_t		  nallowed_hosts;
	bool		  allowed_hosts_set;

	/* Set once before serving, then read-only. */
	char		**scopes;	/* authorizedScopes */
	size_t		  nscopes;
	char		 *scopes_json;	/* X-Taskcluster-Authorized-Scopes */
	struct sockaddr_in listen_addr;
	int		  diag_fd;	/* NETLINK_SOCK_DIAG, peer lookups */
	void		 *ca_pem;	/* CA bundle, read before lockdown */
	size_t		  ca_len;

	/* The credentials in use, replaced by a reclaim's. */
	pthread_rwlock_t lock;
	struct tc_creds	 creds;
	bool		 have_creds;
	char		*ext;		/* Hawk ext; NULL: bad certificate */
	char		 cert_error[320];
	char		*temp_scopes_json; /* the certificate's; NULL: perm. */

	/* The credentials channel (fd 6): the main thread reads it, the
	 * reclaim thread sends each reclaim's credentials back on it. */
	struct ipc_conn	*creds_conn;

	/* The supervisor's channel: answers come from several threads. */
	pthread_mutex_t	 ctl_lock;
	struct ipc_conn	*ctl;
};

/* Send on the supervisor's channel, under its lock; ipc_send's result. */
int	taskproxy_answer(struct taskproxy *tp, uint32_t type, uint32_t id,
	    const void *payload, size_t len);
/* End the process (_exit: taskproxy.c says why), with a protocol
 * violation logged for the second. */
void	taskproxy_exit(int status) __attribute__((noreturn));
void	taskproxy_violation(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* Put new credentials in use (c's fields taken, c zeroed). */
void	taskproxy_install_creds(struct taskproxy *tp, struct tc_creds *c);
/* A copy of the credentials in use (secmem; creds_free() it). */
void	taskproxy_creds_copy(struct taskproxy *tp, struct tc_creds *out);

/*
 * A signature for one attempt: the Authorization header value for
 * method/url made now with the credentials in use, or NULL with err set
 * (a certificate that is not valid JSON: taskcluster-proxy answers 500).
 */
char	*taskproxy_authorization(struct taskproxy *tp, const char *method,
	    const char *url, char *err, size_t errlen);
/* A signed URL for /bewit's body, or NULL with err set. */
char	*taskproxy_bewit(struct taskproxy *tp, const char *body, size_t len,
	    char *err, size_t errlen);

/* Is method url a createArtifact (or finishArtifact) of the task's own
 * run for a name the worker writes itself (its logs, its chain of
 * trust)?  The feature that writes it, or NULL. */
const char *taskproxy_worker_artifact(const struct taskproxy *tp,
	    const char *method, const char *url);

/* May a task's request go to host by /<host>/...?  The allow-list is
 * set before serving and read-only after. */
bool	taskproxy_host_allowed(const struct taskproxy *tp, const char *host);

/* The X-Taskcluster-Proxy-* identity headers, as name/value pairs for
 * add(); made under the lock, so one response names one client. */
void	taskproxy_identity_headers(struct taskproxy *tp,
	    void (*add)(void *arg, const char *name, const char *value),
	    void *arg);

/* server.c: the event loop's registrations, for forward.c too. */
enum watch_kind {
	WATCH_LISTENER,
	WATCH_WAKE,
	WATCH_CONN,
	WATCH_CURL,
};

struct watch {
	enum watch_kind	 kind;
	int		 fd;		/* -1: gone (its events are dropped) */
	bool		 registered;
	uint32_t	 events;	/* as registered */
	struct watch	*next_gone;	/* forward.c's, once fd is -1 */
};

/* Watch fd for events (epoll's), or no more if 0. */
void	loop_watch(int fd, uint32_t events, struct watch *w);
/* The headers taskcluster-proxy puts on every response. */
void	server_common_headers(struct taskproxy *tp,
	    void (*add)(void *arg, const char *name, const char *value),
	    void *arg);
int	server_start(struct taskproxy *tp, int listen_fd, char *err,
	    size_t errlen);
/* Stop serving the task for good: the listener closed, every connection
 * of the task closed, a request in flight cut. */
void	server_stop(void);

/* peer.c: the uid owning the client end of a loopback TCP connection
 * from client to server; -1 with errno set if it cannot be found. */
int	peer_uid(int diag_fd, const struct sockaddr_in *client,
	    const struct sockaddr_in *server, uint32_t *uid);
int	peer_diag_socket(void);

#endif
