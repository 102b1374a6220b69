#ifndef SEPWORKER_VERIFY_H
#define SEPWORKER_VERIFY_H

/* `verify-cot DIR --public-key KEY [--task-id ID]`; the exit status:
 * 0 when the signature, the taskId and every listed hash hold. */
int	verify_cot(const char *dir, const char *key, const char *task_id);

#endif
