/* sepworker's exit statuses: generic-worker's where it has one
 * (reference/taskcluster-protocol.md §5.2). */
#ifndef SEPWORKER_EXITCODES_H
#define SEPWORKER_EXITCODES_H

#define EXIT_OK			0
#define EXIT_CHECK_FAILED	1	/* selfcheck: a separation check failed */
#define EXIT_TASK_FAILED	1	/* run-task: the task failed */
#define EXIT_TASK_EXCEPTION	2	/* run-task: resolved as an exception */
#define EXIT_USAGE		64	/* bad command line */
#define EXIT_CANT_LOAD_CONFIG	64	/* unreadable, not JSON, unknown key,
					   wrong type, bad IP address */
#define EXIT_IDLE_TIMEOUT	68	/* run: idleTimeoutSecs passed */
#define EXIT_INTERNAL_ERROR	69	/* a child died or misbehaved */
#define EXIT_WM_SHUTDOWN	70	/* run: worker-manager said terminate */
#define EXIT_WORKER_STOPPED	71	/* run: SIGINT */
#define EXIT_WORKER_SHUTDOWN	72	/* run: SIGTERM, worker-runner's
					   graceful-termination */
#define EXIT_INVALID_CONFIG	73	/* a setting missing, out of range,
					   inconsistent; tasksDir unusable */
#define EXIT_CANNOT_CREATE_KEY	75
#define EXIT_CANNOT_SECURE	77	/* a config with secrets is exposed */
#define EXIT_MISSING_KEY	82	/* the signing key is missing or bad */

#endif
