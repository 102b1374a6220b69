#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"

void
sandbox_early(bool core_hard)
{
	struct rlimit rl;

	/* Non-dumpable: /proc/<pid>/mem, ptrace and core dumps are closed to
	 * every uid but root with CAP_SYS_PTRACE. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_DUMPABLE)");
	if (getrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("getrlimit(RLIMIT_CORE)");
	rl.rlim_cur = 0;
	if (core_hard)
		rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("setrlimit(RLIMIT_CORE)");
}

static int
cap_last(void)
{
	char buf[16];
	ssize_t n;
	int fd, last = -1;

	fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			last = atoi(buf);
		}
	}
	/* Fall back to the number this build knows; dropping a cap the
	 * kernel does not have just fails with EINVAL, which ends the loop. */
	return last > 0 ? last : CAP_LAST_CAP;
}

static void
caps_clear_and_verify(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	/* Clears the inheritable set, which no uid change touches. */
	if (syscall(SYS_capset, &hdr, data) == -1)
		fatal("capset");
	if (syscall(SYS_capget, &hdr, data) == -1)
		fatal("capget");
	/* Ambient capabilities cannot outlive an empty permitted set. */
	for (int i = 0; i < 2; i++)
		if (data[i].effective || data[i].permitted ||
		    data[i].inheritable)
			fatalx("capabilities remain after the drop");
}

void
sandbox_drop_privileges(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int last = cap_last();

	if (uid == 0 || gid == 0)
		fatalx("refusing to \"drop\" to uid %u gid %u", uid, gid);
	/* Bounding set first: dropping it needs CAP_SETPCAP, which the uid
	 * change below takes away. */
	for (int cap = 0; cap <= last; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL)
			fatal("prctl(PR_CAPBSET_DROP, %d)", cap);
	/* Lock the securebits so nothing below can win root back: uid 0 gets
	 * no implicit capabilities, capabilities are not kept across the uid
	 * change (the setuid fixup stays on, locked), ambient raise is
	 * forbidden. Also needs CAP_SETPCAP. */
	if (prctl(PR_SET_SECUREBITS,
	    SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
	    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
	    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
	    0, 0, 0) == -1)
		fatal("prctl(PR_SET_SECUREBITS)");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1)
		fatal("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
	/* Groups, then gid, then uid: each earlier step needs the privilege
	 * the later ones remove. */
	if (setgroups(0, NULL) == -1)
		fatal("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid(%u)", gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid(%u)", uid);
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		fatal("getresuid");
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid || getgroups(0, NULL) != 0)
		fatalx("uid/gid change did not take");
	if (setresuid(0, 0, 0) != -1)
		fatalx("could become root again after dropping privileges");
	caps_clear_and_verify();
}

void
sandbox_check_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_PDEATHSIG)");
	/* If the supervisor died before the line above, the signal will
	 * never come: we have been re-parented, so leave now. */
	if (parent != 0 && getppid() != parent)
		fatalx("supervisor %ld is gone", (long)parent);
}

static void
apply_rlimits(const struct sandbox_policy *p, bool relaxed)
{
	for (size_t i = 0; i < p->nrlimits; i++) {
		const struct sandbox_rlimit *l = &p->rlimits[i];
		struct rlimit rl;

		/* ASan reserves terabytes of address space for its shadow
		 * memory: no address-space limit in a sanitizer build, not
		 * even in the tests that otherwise apply the real policy. */
		if ((relaxed || SANDBOX_RELAXED_BUILD) &&
		    l->resource == RLIMIT_AS)
			continue;
		if (getrlimit(l->resource, &rl) == -1)
			fatal("getrlimit(%d)", l->resource);
		rl.rlim_cur = l->soft;
		if (!l->soft_only)
			rl.rlim_max = l->hard;
		if (rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		if (setrlimit(l->resource, &rl) == -1)
			fatal("setrlimit(%d)", l->resource);
	}
}

int
sandbox_landlock_abi(void)
{
	int abi = ll_create_ruleset(NULL, 0, LL_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : abi;
}

static uint64_t
landlock_fs_rights(int abi)
{
	uint64_t r = (LL_FS_MAKE_SYM << 1) - 1;	/* everything of ABI 1 */

	if (abi >= 2)
		r |= LL_FS_REFER;
	if (abi >= 3)
		r |= LL_FS_TRUNCATE;
	if (abi >= 5)
		r |= LL_FS_IOCTL_DEV;
	return r;
}

static void
landlock_add_read_file(int ruleset, const char *path)
{
	struct ll_path_beneath_attr pb = { .allowed_access = LL_FS_READ_FILE };
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd == -1) {
		if (errno != ENOENT)
			fatal("landlock: %s", path);
		return;	/* a missing file stays unreadable */
	}
	pb.parent_fd = fd;
	if (ll_add_rule(ruleset, LL_RULE_PATH_BENEATH, &pb) == -1)
		fatal("landlock_add_rule(%s)", path);
	close(fd);
}

/*
 * Handle every right the kernel knows and grant only the listed ones:
 * a right left unhandled stays allowed.  Returns the ABI used, 0 if the
 * kernel has no Landlock.
 */
static int
apply_landlock(const struct sandbox_policy *p,
    const struct sandbox_params *params)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t attr_size = sizeof(attr.handled_access_fs);
	int abi = sandbox_landlock_abi(), ruleset;

	if (abi == 0) {
		log_warnx("%s: kernel has no Landlock; seccomp and uid "
		    "separation only", p->role);
		return 0;
	}
	attr.handled_access_fs = landlock_fs_rights(abi);
	if (abi >= 4 && p->landlock_net) {
		attr.handled_access_net = LL_NET_BIND_TCP |
		    (p->landlock_connect_any ? 0 : LL_NET_CONNECT_TCP);
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	ruleset = ll_create_ruleset(&attr, attr_size, 0);
	if (ruleset == -1)
		fatal("landlock_create_ruleset");
	for (size_t i = 0; p->landlock_read_files &&
	    p->landlock_read_files[i]; i++)
		landlock_add_read_file(ruleset, p->landlock_read_files[i]);
	if (p->landlock_rw_dir_fd > 0) {
		struct ll_path_beneath_attr pb = {
			.allowed_access = attr.handled_access_fs &
			    (LL_FS_READ_FILE | LL_FS_WRITE_FILE |
			    LL_FS_MAKE_REG | LL_FS_TRUNCATE),
			.parent_fd = p->landlock_rw_dir_fd,
		};

		if (ll_add_rule(ruleset, LL_RULE_PATH_BENEATH, &pb) == -1)
			fatal("landlock_add_rule(fd %d)", p->landlock_rw_dir_fd);
	}
	for (size_t i = 0; (attr.handled_access_net & LL_NET_CONNECT_TCP) &&
	    i < params->nconnect_ports; i++) {
		struct ll_net_port_attr np = {
			.allowed_access = LL_NET_CONNECT_TCP,
			.port = params->connect_ports[i],
		};

		if (ll_add_rule(ruleset, LL_RULE_NET_PORT, &np) == -1)
			fatal("landlock_add_rule(port %u)",
			    params->connect_ports[i]);
	}
	if (ll_restrict_self(ruleset) == -1)
		fatal("landlock_restrict_self");
	close(ruleset);
	return abi;
}

/*
 * The libseccomp comparison for one of ours; NULL, or what is wrong with
 * it.  A 32-bit argument is compared on its low half: EQ becomes a
 * MASKED_EQ with 0xffffffff, and a MASKED_EQ keeps a mask that has no
 * high bits.  Ordering comparisons cannot be confined to the low half,
 * and a datum with high bits could never match what the kernel uses.
 */
const char *
sandbox_arg_cmp(const struct sandbox_arg *in, struct scmp_arg_cmp *out)
{
	memset(out, 0, sizeof(*out));
	out->arg = in->arg;
	out->op = in->op;
	out->datum_a = in->a;
	out->datum_b = in->b;
	if (in->bits == 64)
		return NULL;
	if (in->bits != 32)
		return "argument width is neither 32 nor 64";
	if (in->a > UINT32_MAX || in->b > UINT32_MAX)
		return "datum wider than its 32-bit argument";
	switch (in->op) {
	case SCMP_CMP_EQ:
		out->op = SCMP_CMP_MASKED_EQ;
		out->datum_a = UINT32_MAX;
		out->datum_b = in->a;
		return NULL;
	case SCMP_CMP_MASKED_EQ:
		return NULL;
	default:
		return "only EQ and MASKED_EQ can ignore the high 32 bits";
	}
}

void
sandbox_seccomp(const struct sandbox_policy *p, bool relaxed,
    uint32_t skip_flags)
{
	uint32_t def = p->default_action;
	scmp_filter_ctx ctx;
	const char *bad;
	int rc;

	/* Sanitizer builds log what the filter would have killed. */
	if (relaxed && (def == SCMP_ACT_KILL_PROCESS || def == SCMP_ACT_KILL))
		def = SCMP_ACT_LOG;
	ctx = seccomp_init(def);
	if (ctx == NULL)
		fatalx("seccomp_init failed");
	/* A syscall from another ABI (int 0x80, x32) must not slip past a
	 * table written for x86_64 numbers. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) != 0)
		fatalx("seccomp_attr_set(BADARCH): %s", strerror(-rc));
	for (size_t i = 0; i < p->nsyscalls; i++) {
		const struct sandbox_syscall *s = &p->syscalls[i];
		struct sandbox_arg in[2];
		struct scmp_arg_cmp arg[2];

		if (s->flags & skip_flags)
			continue;
		if (s->argc > nitems(s->arg))
			fatalx("%s: seccomp rule %zu: %u comparisons", p->role,
			    i, s->argc);
		memcpy(in, s->arg, sizeof(in));
		if (s->flags & SB_ARG0_SELF_PID)
			in[0].a = (scmp_datum_t)getpid();
		for (unsigned j = 0; j < s->argc; j++)
			if ((bad = sandbox_arg_cmp(&in[j], &arg[j])) != NULL)
				fatalx("%s: seccomp rule %zu, argument %u: %s",
				    p->role, i, in[j].arg, bad);
		/* An entry whose action equals the default is redundant but
		 * harmless; libseccomp refuses it, so skip it. */
		if (s->action == def)
			continue;
		rc = seccomp_rule_add_array(ctx, s->action, s->nr, s->argc,
		    s->argc ? arg : NULL);
		if (rc != 0)
			fatalx("%s: seccomp rule %zu (syscall %d): %s",
			    p->role, i, s->nr, strerror(-rc));
	}
	if ((rc = seccomp_load(ctx)) != 0)
		fatalx("seccomp_load: %s", strerror(-rc));
	seccomp_release(ctx);
}

void
sandbox_enter(const struct sandbox_policy *p,
    const struct sandbox_params *params, struct sandbox_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		fatalx("sandbox_early() was not called");
	if (geteuid() == 0) {
		sandbox_drop_privileges(params->uid, params->gid);
		rep->uid_dropped = true;
	} else
		caps_clear_and_verify();
	sandbox_check_parent(params->parent);
	apply_rlimits(p, params->relaxed);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
	if (p->landlock)
		rep->landlock_abi = apply_landlock(p, params);
	sandbox_seccomp(p, params->relaxed, params->skip_flags);
	rep->nrules = p->nsyscalls;
}
