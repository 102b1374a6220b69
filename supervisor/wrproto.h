/*
 * worker-runner's protocol (`sepworker run --with-worker-runner`,
 * reference/worker-mode.md §6.1): "~{json}" lines, the runner's on our
 * stdin, ours on our stdout.  stdout belongs to the protocol: once the
 * protocol starts, fds 0 and 1 are /dev/null and the protocol speaks on
 * private copies of them, so nothing else (a stray printf, a child) can
 * reach the runner.
 */
#ifndef SEPWORKER_WRPROTO_H
#define SEPWORKER_WRPROTO_H

#include <stdbool.h>

#include "supervisor/supervisor.h"

/* Capabilities, one bit each; both sides must list one to use it. */
#define WR_CAP_ERROR_REPORT	0x01
#define WR_CAP_GRACEFUL		0x02
#define WR_CAP_LOG		0x04
#define WR_CAP_NEW_CREDENTIALS	0x08
#define WR_CAP_SHUTDOWN		0x10

/*
 * Take stdin and stdout, wait up to timeout_ms for the runner's welcome,
 * answer hello with our capabilities.  With `log`, every log line goes
 * to the runner from then on.  0, or -1 with err set.
 */
int	wrproto_start(unsigned timeout_ms, char *err, size_t errlen);
/* The protocol was started. */
bool	wrproto_active(void);
/* Both sides list cap (a WR_CAP_ bit). */
bool	wrproto_capable(unsigned cap);
/* From now on the supervisor's poll loop reads the runner's messages
 * (graceful-termination, new-credentials go to s); lines that came
 * before are handled now.  After the worker's credentials are with
 * proxyd: new ones must come later. */
void	wrproto_attach(struct supervisor *s);
/* The supervisor is going away: its loop no longer reads. */
void	wrproto_detach(struct supervisor *s);
/* error-report for exit_code, once, if capable: the last error logged
 * is its description. */
void	wrproto_error_report(int exit_code);
/* ~{"type":"shutdown"}; false if not capable. */
bool	wrproto_shutdown(void);

#endif
