/*
 * The Taskcluster API calls proxyd makes itself (the long-lived proxyd's
 * claimWork, the task agent's uploads and resolution), made as the Go
 * client makes them (clients/client-go http.go with httpbackoff):
 * network errors and 5xx retried with the Go client's backoff (backoff.h)
 * until a time budget runs out, any other non-2xx final, 3xx a success,
 * redirects never followed; each attempt Hawk-signed anew (hawk.c) with
 * no payload hash, the certificate of temporary credentials in ext and no
 * authorizedScopes.
 *
 * Thread-safe: every call has its own easy handle and touches nothing
 * shared, once curl_global_init has run (before the first thread).
 */
#ifndef SEPWORKER_QCLIENT_H
#define SEPWORKER_QCLIENT_H

#include <stddef.h>

#include "proxyd/creds.h"

struct qc_call {
	const char		*root_url;
	const char		*service;	/* "queue", "object", "worker-manager" */
	const char		*method;	/* "POST", "PUT", "GET" */
	/* After /api/<service>/v1/, each parameter already escaped with
	 * qc_escape. */
	const char		*path;
	/* JSON, or NULL: no body and no Content-Type. */
	const char		*body;
	size_t			 body_len;
	/* NULL: unauthenticated; certificate NULL (or "") for permanent
	 * credentials. */
	const struct tc_creds	*creds;
	/* CA bundle read before lockdown (CURLOPT_CAINFO_BLOB); NULL:
	 * curl's default. */
	const void		*ca_pem;
	size_t			 ca_len;
	unsigned		 max_elapsed_s;	/* retry budget: the Go client's is 900 */
	unsigned		 attempt_timeout_s; /* one attempt's total time; 0: none */
	size_t			 max_response;	/* bytes of response body kept; more fails the call */
};

struct qc_result {
	long		 status;	/* last HTTP status, 0 if none arrived */
	/* NUL-terminated, malloc'd (may be NULL).  It may hold credentials
	 * (a claim's): qc_result_free wipes it. */
	char		*body;
	size_t		 body_len;
	unsigned	 attempts;
	/* Why it failed: the status and the service's "message", or curl's
	 * error. */
	char		 err[256];
};

/*
 * Once, before lockdown and before any other thread: libcurl and OpenSSL
 * set up with allocators that wipe what they free (a response may hold
 * credentials, and their buffers held its bytes), and glibc's thread
 * machinery started (libcurl resolves names on a thread of its own), so
 * the sandbox need not allow installing signal handlers.
 */
void	qc_global_init(void);

/*
 * The system's CA bundle, read now: the sandbox keeps files shut.  *pem
 * is malloc'd; NULL, with a warning logged, when there is no bundle
 * (https cannot be verified then).  A bundle over 8 MiB is fatal.
 */
void	qc_load_ca(void **pem, size_t *len);

/*
 * Make the call.  0 when a 2xx or 3xx answer arrived; -1 otherwise, with
 * r->status (0 if no answer came) and r->err set, and r->body holding the
 * last answer's body if there was one.  r is always the caller's to
 * qc_result_free.
 */
int	qc_do(const struct qc_call *c, struct qc_result *r);
void	qc_result_free(struct qc_result *r);

/* Go's url.PathEscape of one path segment ('/' becomes %2F). malloc'd. */
char	*qc_escape(const char *segment);

/* "<rootURL without trailing />/api/<service>/v1/<path>": taskcluster-
 * lib-urls API(), the path's leading '/' dropped as there. malloc'd. */
char	*qc_url(const char *root_url, const char *service, const char *path);

#endif
