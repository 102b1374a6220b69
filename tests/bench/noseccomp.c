/*
 * noseccomp.so: preloaded into the task proxy only while make bench
 * counts its instructions under callgrind (see callgrind_exec.c).
 * Valgrind cannot run a process that loads a seccomp filter: the filter
 * would judge valgrind's own syscalls too, and valgrind 3.19 does not
 * implement the seccomp syscall (libseccomp's seccomp_init then fails).
 * So the libseccomp calls the sandbox makes succeed here and load
 * nothing.  Nothing on the request path is replaced.
 */
#include <seccomp.h>

static char dummy;

scmp_filter_ctx
seccomp_init(uint32_t def_action)
{
	(void)def_action;
	return &dummy;
}

int
seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr,
    uint32_t value)
{
	(void)ctx, (void)attr, (void)value;
	return 0;
}

int
seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
    unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array)
{
	(void)ctx, (void)action, (void)syscall, (void)arg_cnt;
	(void)arg_array;
	return 0;
}

int
seccomp_load(const scmp_filter_ctx ctx)
{
	(void)ctx;
	return 0;
}

void
seccomp_release(scmp_filter_ctx ctx)
{
	(void)ctx;
}
