#ifndef SEPWORKER_TASKUID_H
#define SEPWORKER_TASKUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "supervisor/config.h"

/* Does any live process (not a zombie) run as uid (real, effective,
 * saved or filesystem)? */
bool	uid_has_process(uint32_t uid);

/* Call found(uid, arg) for each uid (real, effective, saved, filesystem)
 * of each live process, repeats included. */
void	taskuid_process_uids(void (*found)(uint32_t, void *), void *arg);

/*
 * The lease on task uids.  A worker running a task as uid N holds an
 * exclusive flock on runDir/task-uid-N.lock for as long as anything of
 * that task may remain; the kernel drops it when the worker dies, even
 * by SIGKILL.  So a uid whose lock can be taken belongs to no live
 * worker: a new task may have it, and whatever runs or lies about as it
 * was left by a crashed one.  Lock files are never removed: a lock on
 * an unlinked file would guard nothing.
 */

/* runDir, made if missing: 0700, ours, a real directory.  0, or -1
 * with err saying what is wrong. */
int	taskuid_rundir(const struct sw_config *cfg, char *err, size_t errlen);

/* Take uid's lease without waiting: an O_CLOEXEC fd to keep open (close
 * it to give the uid back), or -1: errno EWOULDBLOCK when a live worker
 * holds it, anything else when the lock file could not be opened. */
int	taskuid_lease(const struct sw_config *cfg, uint32_t uid);

/*
 * A uid for the next task, with its lease in *lease: from the configured
 * range, starting at a random place so the same uid rarely comes back
 * soon, never one another worker holds or a process still runs as.  -1
 * with errno EAGAIN if every uid of the range is busy, or the error of
 * the lock file.
 */
int	taskuid_pick(const struct sw_config *cfg, uint32_t *uid, int *lease);

/*
 * SIGKILL every process running as uid (real, effective, saved or
 * filesystem) until none is left or wait_ms passed.  *killed counts the
 * processes signalled, *left those still alive at the end (zombies are
 * dead and not counted).  Call it only with uid's lease held.
 */
void	taskuid_kill_all(uint32_t uid, unsigned wait_ms, unsigned *killed,
	    unsigned *left);

#endif
