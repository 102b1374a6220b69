/*
 * The run-task output directory: which directories and artifact names are
 * taken, that files land beneath DIR and nowhere else (symlinks planted on
 * the path beforehand), that nothing is overwritten, and that the copy's
 * SHA-256 is that of the bytes written, checked against sha256sum.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "common/util.h"
#include "supervisor/outdir.h"

#define SHA256_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

struct fixture {
	char	base[64];	/* a fresh directory per test */
	char	out[128];	/* base/out, the output directory */
	char	outside[128];	/* base/outside, where nothing may land */
	char	err[512];
	int	dirfd;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strcpy(f->base, "/tmp/sepworker-outdir-XXXXXX");
	if (mkdtemp(f->base) == NULL)
		return -1;
	snprintf(f->out, sizeof(f->out), "%s/out", f->base);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
	if (mkdir(f->outside, 0755) == -1)
		return -1;
	f->dirfd = -1;
	*state = f;
	return 0;
}

/* Opens the output directory too, for the tests of outdir_create. */
static int
setup_open(void **state)
{
	struct fixture *f;

	if (setup(state) == -1)
		return -1;
	f = *state;
	f->dirfd = outdir_open(f->out, f->err, sizeof(f->err));
	return f->dirfd >= 0 ? 0 : -1;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->dirfd >= 0)
		close(f->dirfd);
	nftw(f->base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* The whole of a small file, NUL-terminated, or "" if it cannot be read. */
static const char *
read_small(const char *path)
{
	static char buf[256];
	ssize_t n = -1;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int
count_entries(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int
count_open_fds(void)
{
	return count_entries("/proc/self/fd");
}

static void
test_open_creates_missing_dir(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	f->dirfd = outdir_open(f->out, f->err, sizeof(f->err));
	assert_true(f->dirfd >= 0);
	assert_int_equal(lstat(f->out, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_true(fcntl(f->dirfd, F_GETFD) & FD_CLOEXEC);
}

static void
test_open_accepts_empty_dir(void **state)
{
	struct fixture *f = *state;
	char slash[160];

	assert_int_equal(mkdir(f->out, 0700), 0);
	f->dirfd = outdir_open(f->out, f->err, sizeof(f->err));
	assert_true(f->dirfd >= 0);
	close(f->dirfd);
	snprintf(slash, sizeof(slash), "%s//", f->out);
	f->dirfd = outdir_open(slash, f->err, sizeof(f->err));
	assert_true(f->dirfd >= 0);
}

static void
test_open_refuses_non_empty_dir(void **state)
{
	struct fixture *f = *state;
	char path[160];

	assert_int_equal(mkdir(f->out, 0755), 0);
	snprintf(path, sizeof(path), "%s/.hidden", f->out);
	write_file(path, "x");
	assert_int_equal(outdir_open(f->out, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, f->out));
	assert_non_null(strstr(f->err, "is not empty"));
}

static void
test_open_refuses_file(void **state)
{
	struct fixture *f = *state;

	write_file(f->out, "x");
	assert_int_equal(outdir_open(f->out, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, f->out));
	assert_non_null(strstr(f->err, "is not a directory"));
}

static void
test_open_refuses_symlink_to_dir(void **state)
{
	struct fixture *f = *state;
	char path[160];

	assert_int_equal(symlink(f->outside, f->out), 0);
	assert_int_equal(outdir_open(f->out, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, f->out));
	assert_non_null(strstr(f->err, "is a symlink"));
	/* A trailing '/' would make the kernel follow it. */
	snprintf(path, sizeof(path), "%s/", f->out);
	assert_int_equal(outdir_open(path, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "is a symlink"));
	snprintf(path, sizeof(path), "%s/.", f->out);
	assert_int_equal(outdir_open(path, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "not \".\" or \"..\""));
	/* A dangling one is refused the same way, and not created through. */
	assert_int_equal(unlink(f->out), 0);
	snprintf(path, sizeof(path), "%s/target", f->outside);
	assert_int_equal(symlink(path, f->out), 0);
	assert_int_equal(outdir_open(f->out, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "is a symlink"));
	assert_int_equal(count_entries(f->outside), 0);
}

static void
test_open_refuses_missing_parent(void **state)
{
	struct fixture *f = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/nope/out", f->base);
	assert_int_equal(outdir_open(path, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, path));
	assert_non_null(strstr(f->err, "parent directory does not exist"));
}

static void
test_name_rules(void **state)
{
	static const struct {
		const char	*name;
		const char	*problem;
	} bad[] = {
		{ "", "is empty" },
		{ "/etc/passwd", "is an absolute path" },
		{ "/", "is an absolute path" },
		{ "public//x", "has an empty path segment" },
		{ "public/", "has an empty path segment" },
		{ ".", "has a \".\" or \"..\" segment" },
		{ "..", "has a \".\" or \"..\" segment" },
		{ "public/./x", "has a \".\" or \"..\" segment" },
		{ "public/../../etc/x", "has a \".\" or \"..\" segment" },
		{ "public/..", "has a \".\" or \"..\" segment" },
		{ "public/x\n", "contains a control character" },
		{ "public/\tx", "contains a control character" },
		{ "public/\x1bx", "contains a control character" },
		{ "public/\x7fx", "contains a control character" },
		{ "public/\xc2\x85x", "contains a control character" },
		{ "public\\x", "contains a backslash" },
		{ "..\\x", "contains a backslash" },
	};
	static const char *const good[] = {
		"x",
		"public/build/target.tar.gz",
		"a/b/c/d/e/f/g",
		"public/...",
		"public/..x/.y",
		".hidden",
		"public/name with spaces",
		"public/logs/live.log",
	};
	size_t i;

	(void)state;
	for (i = 0; i < nitems(bad); i++) {
		const char *p = artifact_name_problem(bad[i].name,
		    strlen(bad[i].name));

		if (p == NULL || strcmp(p, bad[i].problem) != 0)
			fail_msg("name %zu \"%s\": got \"%s\", want \"%s\"", i,
			    bad[i].name, p ? p : "(accepted)",
			    bad[i].problem);
	}
	for (i = 0; i < nitems(good); i++)
		if (artifact_name_problem(good[i], strlen(good[i])) != NULL)
			fail_msg("name \"%s\" refused: %s", good[i],
			    artifact_name_problem(good[i], strlen(good[i])));
	/* A NUL within the given length is a control character. */
	assert_string_equal(artifact_name_problem("a\0b", 3),
	    "contains a control character");
}

static void
test_name_length_limit(void **state)
{
	char name[ARTIFACT_NAME_MAX + 2];

	(void)state;
	assert_int_equal(ARTIFACT_NAME_MAX, 1024);
	memset(name, 'a', sizeof(name));
	name[100] = '/';
	assert_null(artifact_name_problem(name, 1024));
	assert_string_equal(artifact_name_problem(name, 1025),
	    "is longer than 1024 bytes");
}

static void
test_name_utf8(void **state)
{
	static const char *const valid[] = {
		"public/caf\xc3\xa9.txt",			/* U+00E9 */
		"public/\xc2\xa0",				/* U+00A0 */
		"\xe6\x97\xa5\xe6\x9c\xac/\xe8\xaa\x9e",	/* CJK */
		"\xed\x9f\xbf",					/* U+D7FF */
		"\xee\x80\x80",					/* U+E000 */
		"public/\xf0\x9f\x98\x80.png",			/* U+1F600 */
		"\xf4\x8f\xbf\xbf",				/* U+10FFFF */
	};
	static const char *const invalid[] = {
		"\x80",				/* lone continuation byte */
		"public/\xbf",
		"\xc0\xaf",			/* overlong '/' */
		"\xc1\xbf",			/* overlong */
		"\xe0\x80\xaf",			/* overlong '/' */
		"\xf0\x80\x80\xaf",		/* overlong '/' */
		"\xed\xa0\x80",			/* surrogate U+D800 */
		"\xed\xbf\xbf",			/* surrogate U+DFFF */
		"\xf4\x90\x80\x80",		/* U+110000 */
		"\xf5\x80\x80\x80",
		"\xff",
		"x\xe6\x97",			/* truncated */
		"\xe6\x97x",			/* interrupted */
		"\xc3",
	};
	size_t i;

	(void)state;
	for (i = 0; i < nitems(valid); i++)
		if (artifact_name_problem(valid[i], strlen(valid[i])) != NULL)
			fail_msg("valid UTF-8 %zu refused", i);
	for (i = 0; i < nitems(invalid); i++) {
		const char *p = artifact_name_problem(invalid[i],
		    strlen(invalid[i]));

		if (p == NULL || strcmp(p, "is not valid UTF-8") != 0)
			fail_msg("invalid UTF-8 %zu: got \"%s\"", i,
			    p ? p : "(accepted)");
	}
	/* A sequence cut by the given length, not by a NUL. */
	assert_string_equal(artifact_name_problem("\xc3\xa9", 1),
	    "is not valid UTF-8");
}

static void
test_reserved_names(void **state)
{
	static const char *const reserved[] = {
		"public/logs/live.log",
		"public/logs/live_backing.log",
		"public/logs/certified.log",
		"public/chain-of-trust.json",
		"public/chain-of-trust.json.sig",
		"result.json",
		/* below one, or a directory one is made in */
		"result.json/x",
		"public/chain-of-trust.json/evil",
		"public/logs",
		"public",
	};
	static const char *const free_names[] = {
		"public/logs/live.log2",
		"public/logs/live",
		"Public/logs/live.log",
		"publicity",
		"public/chain-of-trust.json.sig.x",
		"private/chain-of-trust.json",
		"chain-of-trust.json",
		"",
	};
	size_t i;

	(void)state;
	for (i = 0; i < nitems(reserved); i++)
		assert_true(artifact_name_reserved(reserved[i]));
	for (i = 0; i < nitems(free_names); i++)
		assert_false(artifact_name_reserved(free_names[i]));
}

static void
create_and_write(struct fixture *f, const char *name, const char *text)
{
	int fd = outdir_create(f->dirfd, name, f->err, sizeof(f->err));

	if (fd < 0)
		fail_msg("outdir_create %s: %s", name, f->err);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
test_create_writes_nested_files(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct stat st;

	create_and_write(f, "public/build/x.tgz", "x");
	create_and_write(f, "public/build/y.tgz", "y");
	create_and_write(f, "public/z", "z");
	create_and_write(f, "top.txt", "top");
	create_and_write(f, "a/b/c/d/e", "deep");

	snprintf(path, sizeof(path), "%s/public/build/x.tgz", f->out);
	assert_string_equal(read_small(path), "x");
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	snprintf(path, sizeof(path), "%s/public/build/y.tgz", f->out);
	assert_string_equal(read_small(path), "y");
	snprintf(path, sizeof(path), "%s/public/z", f->out);
	assert_string_equal(read_small(path), "z");
	snprintf(path, sizeof(path), "%s/top.txt", f->out);
	assert_string_equal(read_small(path), "top");
	snprintf(path, sizeof(path), "%s/a/b/c/d/e", f->out);
	assert_string_equal(read_small(path), "deep");
	snprintf(path, sizeof(path), "%s/public/build", f->out);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(count_entries(f->out), 3);
}

static void
test_create_refuses_existing_file(void **state)
{
	struct fixture *f = *state;
	char path[256];

	create_and_write(f, "public/x.tgz", "original");
	assert_int_equal(outdir_create(f->dirfd, "public/x.tgz", f->err,
	    sizeof(f->err)), -1);
	assert_string_equal(f->err, "artifact public/x.tgz: already exists");
	snprintf(path, sizeof(path), "%s/public/x.tgz", f->out);
	assert_string_equal(read_small(path), "original");
	/* A directory an earlier artifact made is not a file either. */
	assert_int_equal(outdir_create(f->dirfd, "public", f->err,
	    sizeof(f->err)), -1);
	assert_string_equal(f->err, "artifact public: already exists");
}

static void
test_create_refuses_file_as_directory(void **state)
{
	struct fixture *f = *state;

	create_and_write(f, "public/x", "x");
	assert_int_equal(outdir_create(f->dirfd, "public/x/y", f->err,
	    sizeof(f->err)), -1);
	assert_string_equal(f->err,
	    "artifact public/x/y: public/x is not a directory");
}

static void
test_create_refuses_symlinked_directory(void **state)
{
	struct fixture *f = *state;
	char path[256], tmpname[128];

	/* A symlink to /tmp, planted as the first directory. */
	snprintf(path, sizeof(path), "%s/public", f->out);
	assert_int_equal(symlink("/tmp", path), 0);
	snprintf(tmpname, sizeof(tmpname), "public/sepworker-outdir-%ld",
	    (long)getpid());
	assert_int_equal(outdir_create(f->dirfd, tmpname, f->err,
	    sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "public is a symlink"));
	snprintf(path, sizeof(path), "/tmp/sepworker-outdir-%ld",
	    (long)getpid());
	assert_int_equal(access(path, F_OK), -1);

	/* And one deeper down, to a directory outside. */
	create_and_write(f, "a/b/keep", "k");
	snprintf(path, sizeof(path), "%s/a/b/evil", f->out);
	assert_int_equal(symlink(f->outside, path), 0);
	assert_int_equal(outdir_create(f->dirfd, "a/b/evil/x", f->err,
	    sizeof(f->err)), -1);
	assert_string_equal(f->err, "artifact a/b/evil/x: a/b/evil is a "
	    "symlink");
	assert_int_equal(outdir_create(f->dirfd, "a/b/evil/new/x", f->err,
	    sizeof(f->err)), -1);
	assert_int_equal(count_entries(f->outside), 0);
}

static void
test_create_refuses_dangling_symlink(void **state)
{
	struct fixture *f = *state;
	char link[256], target[256];

	snprintf(target, sizeof(target), "%s/target", f->outside);
	snprintf(link, sizeof(link), "%s/dangle", f->out);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(outdir_create(f->dirfd, "dangle", f->err,
	    sizeof(f->err)), -1);
	assert_string_equal(f->err, "artifact dangle: already exists");
	/* As a directory: mkdirat must not create through it either. */
	assert_int_equal(outdir_create(f->dirfd, "dangle/x", f->err,
	    sizeof(f->err)), -1);
	assert_string_equal(f->err, "artifact dangle/x: dangle is a symlink");
	assert_int_equal(count_entries(f->outside), 0);
}

static void
test_create_refuses_bad_name(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(outdir_create(f->dirfd, "../outside/x", f->err,
	    sizeof(f->err)), -1);
	assert_string_equal(f->err, "artifact name \"../outside/x\" has a "
	    "\".\" or \"..\" segment");
	/* The refused name is shown, with its unprintable bytes masked. */
	assert_int_equal(outdir_create(f->dirfd, "x\x1b[2J\\y", f->err,
	    sizeof(f->err)), -1);
	assert_string_equal(f->err, "artifact name \"x?[2J?y\" contains a "
	    "control character");
	assert_int_equal(count_entries(f->out), 0);
	assert_int_equal(count_entries(f->outside), 0);
}

static void
test_create_does_not_leak_fds(void **state)
{
	struct fixture *f = *state;
	char path[256];
	int before, fd;

	snprintf(path, sizeof(path), "%s/s", f->out);
	assert_int_equal(symlink(f->outside, path), 0);
	before = count_open_fds();
	fd = outdir_create(f->dirfd, "p/q/r/s/t", f->err, sizeof(f->err));
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(outdir_create(f->dirfd, "p/q/r/s/t", f->err,
	    sizeof(f->err)), -1);
	assert_int_equal(outdir_create(f->dirfd, "p/q/r/s/t/u", f->err,
	    sizeof(f->err)), -1);
	assert_int_equal(outdir_create(f->dirfd, "s/x/y", f->err,
	    sizeof(f->err)), -1);
	assert_int_equal(outdir_create(f->dirfd, "p//x", f->err,
	    sizeof(f->err)), -1);
	assert_int_equal(count_open_fds(), before);
}

/* Deterministic bytes that repeat with no short period. */
static void
fill_pattern(unsigned char *p, size_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

static void
sha256sum_of(const char *path, char hex[65])
{
	char cmd[256], line[128];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "sha256sum < '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	memcpy(hex, line, 64);
	hex[64] = '\0';
}

/* Copy n bytes of data through copy_and_hash, check the copy, the
 * digest against sha256sum, and that src's offset did not move. */
static void
copy_and_check(struct fixture *f, const unsigned char *data, size_t n,
    const char *want_hex)
{
	struct copy_result r;
	char src_path[160], expect[65], bin_hex[65];
	unsigned char *back;
	size_t i;
	int src, dst;

	snprintf(src_path, sizeof(src_path), "%s/src", f->outside);
	src = open(src_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(src >= 0);
	assert_int_equal(write(src, data, n), (ssize_t)n);
	close(src);
	src = open(src_path, O_RDONLY | O_CLOEXEC);
	assert_true(src >= 0);
	assert_int_equal(lseek(src, 7, SEEK_SET), 7);

	assert_int_equal(unlinkat(f->dirfd, "dst", 0) == 0 || errno == ENOENT,
	    1);
	dst = outdir_create(f->dirfd, "dst", f->err, sizeof(f->err));
	assert_true(dst >= 0);
	if (copy_and_hash(src, dst, &r, f->err, sizeof(f->err)) != 0)
		fail_msg("copy_and_hash: %s", f->err);
	close(dst);
	assert_int_equal(lseek(src, 0, SEEK_CUR), 7);
	close(src);

	assert_int_equal(r.bytes, n);
	sha256sum_of(src_path, expect);
	assert_string_equal(r.sha256_hex, expect);
	if (want_hex != NULL)
		assert_string_equal(r.sha256_hex, want_hex);
	for (i = 0; i < sizeof(r.sha256); i++)
		snprintf(bin_hex + 2 * i, 3, "%02x", r.sha256[i]);
	assert_string_equal(bin_hex, expect);

	back = malloc(n + 1);
	assert_non_null(back);
	dst = openat(f->dirfd, "dst", O_RDONLY | O_CLOEXEC);
	assert_true(dst >= 0);
	assert_int_equal(read_all(dst, back, n + 1), (ssize_t)n);
	close(dst);
	assert_memory_equal(back, data, n);
	free(back);
}

static void
test_copy_and_hash_known_vectors(void **state)
{
	struct fixture *f = *state;

	copy_and_check(f, (const unsigned char *)"", 0, SHA256_EMPTY);
	copy_and_check(f, (const unsigned char *)"abc", 3, SHA256_ABC);
}

static void
test_copy_and_hash_multi_mib(void **state)
{
	static const size_t sizes[] = {
		1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1,
		3 * 1024 * 1024 + 12345,
	};
	struct fixture *f = *state;
	size_t i, max = sizes[nitems(sizes) - 1];
	unsigned char *data = malloc(max);

	assert_non_null(data);
	fill_pattern(data, max);
	for (i = 0; i < nitems(sizes); i++)
		copy_and_check(f, data, sizes[i], NULL);
	free(data);
}

static void
test_copy_and_hash_errors(void **state)
{
	struct fixture *f = *state;
	struct copy_result r;
	char path[160];
	int p[2], src, dst;

	/* A pipe cannot be read at an offset: refused, not read.  (Its
	 * write end is closed first, so read() would see EOF, not block.) */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], "abc", 3), 3);
	close(p[1]);
	dst = outdir_create(f->dirfd, "dst", f->err, sizeof(f->err));
	assert_true(dst >= 0);
	assert_int_equal(copy_and_hash(p[0], dst, &r, f->err,
	    sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "reading the artifact at byte 0"));
	assert_int_equal(r.bytes, 0);
	close(p[0]);
	close(dst);

	snprintf(path, sizeof(path), "%s/src", f->outside);
	write_file(path, "abc");
	src = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(src >= 0);
	dst = openat(f->dirfd, "dst", O_RDONLY | O_CLOEXEC);
	assert_true(dst >= 0);
	assert_int_equal(copy_and_hash(src, dst, &r, f->err,
	    sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "writing the output file at byte 0"));
	close(src);
	close(dst);
}

/* At most max_bytes are copied, even of a file that has more (one that
 * grew after it was handed up), and the hash is of what was copied. */
static void
test_copy_bounded_by_size(void **state)
{
	const struct copy_bounds b = { 3, UINT64_MAX };
	struct fixture *f = *state;
	struct copy_result r;
	char path[160];
	int src, dst;

	snprintf(path, sizeof(path), "%s/src", f->outside);
	write_file(path, "abcdef");
	src = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(src >= 0);
	dst = outdir_create(f->dirfd, "dst", f->err, sizeof(f->err));
	assert_true(dst >= 0);
	assert_int_equal(copy_and_hash_bounded(src, dst, &b, &r, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(r.bytes, 3);
	assert_string_equal(r.sha256_hex, SHA256_ABC);
	assert_int_equal(lseek(dst, 0, SEEK_END), 3);
	close(src);
	close(dst);
}

/* Past the deadline nothing more is copied, and the failure says so. */
static void
test_copy_bounded_by_time(void **state)
{
	const struct copy_bounds b = { UINT64_MAX, 1 };
	struct fixture *f = *state;
	struct copy_result r;
	char path[160];
	int src, dst;

	snprintf(path, sizeof(path), "%s/src", f->outside);
	write_file(path, "abc");
	src = open(path, O_RDONLY | O_CLOEXEC);
	dst = outdir_create(f->dirfd, "dst", f->err, sizeof(f->err));
	assert_true(src >= 0 && dst >= 0);
	assert_int_equal(copy_and_hash_bounded(src, dst, &b, &r, f->err,
	    sizeof(f->err)), -1);
	assert_int_equal(r.failure, COPY_LATE);
	assert_non_null(strstr(f->err, "ran out"));
	assert_int_equal(lseek(dst, 0, SEEK_END), 0);
	close(src);
	close(dst);
}

/* A second name is the same inode, made beneath DIR with its missing
 * directories; an existing name is never replaced. */
static void
test_link_makes_second_name(void **state)
{
	struct fixture *f = *state;
	struct stat a, b;

	create_and_write(f, "public/a", "x");
	assert_int_equal(outdir_link(f->dirfd, "public/a", "public/d/b",
	    f->err, sizeof(f->err)), 0);
	assert_int_equal(fstatat(f->dirfd, "public/a", &a, 0), 0);
	assert_int_equal(fstatat(f->dirfd, "public/d/b", &b, 0), 0);
	assert_true(a.st_ino == b.st_ino && a.st_nlink == 2);
	assert_int_equal(outdir_link(f->dirfd, "public/a", "public/d/b",
	    f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "already exists"));
	assert_int_equal(outdir_link(f->dirfd, "public/a", "../x",
	    f->err, sizeof(f->err)), -1);
	outdir_remove(f->dirfd, "public/d/b");
	assert_int_equal(fstatat(f->dirfd, "public/d/b", &b, 0), -1);
	assert_int_equal(fstatat(f->dirfd, "public/a", &a, 0), 0);
}

/* Through a kept parent: files in one directory, then another, then
 * the first again, each where its name says. */
static void
test_create_in_keeps_parent(void **state)
{
	static const char *const names[] = { "p/d/1", "p/d/2", "p/e/1", "top",
	    "p/d/3" };
	struct fixture *f = *state;
	struct outdir_parent p;
	struct stat st;
	size_t i;
	int fd;

	outdir_parent_init(&p);
	for (i = 0; i < nitems(names); i++) {
		fd = outdir_create_in(&p, f->dirfd, names[i], f->err,
		    sizeof(f->err));
		if (fd < 0)
			fail_msg("%s: %s", names[i], f->err);
		close(fd);
		assert_int_equal(fstatat(f->dirfd, names[i], &st,
		    AT_SYMLINK_NOFOLLOW), 0);
		assert_true(S_ISREG(st.st_mode));
	}
	assert_int_equal(outdir_create_in(&p, f->dirfd, "p/d/1", f->err,
	    sizeof(f->err)), -1);
	outdir_parent_free(&p);
}

int
main(void)
{
#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TO(fn)	cmocka_unit_test_setup_teardown(fn, setup_open, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_missing_dir),
		T(test_open_accepts_empty_dir),
		T(test_open_refuses_non_empty_dir),
		T(test_open_refuses_file),
		T(test_open_refuses_symlink_to_dir),
		T(test_open_refuses_missing_parent),
		cmocka_unit_test(test_name_rules),
		cmocka_unit_test(test_name_length_limit),
		cmocka_unit_test(test_name_utf8),
		cmocka_unit_test(test_reserved_names),
		TO(test_create_writes_nested_files),
		TO(test_create_refuses_existing_file),
		TO(test_create_refuses_file_as_directory),
		TO(test_create_refuses_symlinked_directory),
		TO(test_create_refuses_dangling_symlink),
		TO(test_create_refuses_bad_name),
		TO(test_create_does_not_leak_fds),
		TO(test_copy_and_hash_known_vectors),
		TO(test_copy_and_hash_multi_mib),
		TO(test_copy_and_hash_errors),
		TO(test_copy_bounded_by_size),
		TO(test_copy_bounded_by_time),
		TO(test_link_makes_second_name),
		TO(test_create_in_keeps_parent),
	};

	/* The mode checks expect the usual umask. */
	umask(022);
	return cmocka_run_group_tests_name("outdir", tests, NULL, NULL);
}
