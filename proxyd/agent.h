/*
 * The task's agent (worker mode): once the task's processes are gone,
 * the task proxy makes the Queue calls the claim's credentials are for
 * on the supervisor's typed requests (chan_taskproxy.h: UPLOAD,
 * ERROR_ARTIFACT, LINK, RESOLVE), each in a thread of its own, answered
 * in whatever order they finish.
 */
#ifndef SEPWORKER_AGENT_H
#define SEPWORKER_AGENT_H

#include "common/ipc.h"
#include "proxyd/taskproxy.h"

/*
 * Before lockdown: load what hashing and compression load.  spool_fd is
 * the directory gzip'd artifacts are spooled in (TASKPROXY_SPOOL_FD), or
 * -1 when there is none (then a gzip upload fails TPF_LOCAL).
 */
void	agent_init(struct taskproxy *tp, int spool_fd);

/*
 * Take one request from the control channel (m->fd becomes ours and is
 * set to -1) and start it.  A malformed request, or one more than
 * TP_MAX_UPLOADS / TP_MAX_REQUESTS allow, is a protocol violation: the
 * process exits CHILD_EXIT_VIOLATION.
 */
void	agent_take(struct ipc_msg *m);

#endif
