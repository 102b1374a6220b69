/*
 * memscan PID HEX...: how often each pattern (given as hex bytes) occurs
 * in the memory of process PID.  Every mapping listed in /proc/PID/maps is
 * read through /proc/PID/mem, including those the process itself may not
 * read (---p: a guarded libsodium allocation between signatures): as
 * root, with CAP_SYS_PTRACE, pread on /proc/PID/mem reads them.  [vsyscall]
 * is skipped, and so is any page pread refuses (counted, and shown).
 * So is a mapping larger than MAX_MAPPING, named on stderr: none of our
 * processes has one, but a sanitizer's shadow memory or an allocator's
 * reservation in a `make san` build spans terabytes that were never
 * written (reading them would fault in every page).
 *
 * Prints one line per pattern, in order: the number of hits.  On stderr,
 * one line per hit ("hit K ADDRESS PERMS", K counting patterns from 1,
 * PERMS the mapping's as /proc/PID/maps shows them), then a summary
 * (mappings, bytes read, pages refused).  Exit 0; 2 on a bad argument or
 * when the process's maps or memory cannot be opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK		(1u << 20)
#define PAGE		4096u
#define MAX_PATTERNS	16
#define MAX_MAPPING	(1ull << 30)

struct pattern {
	unsigned char	*bytes;
	size_t		 len;
	size_t		 hits;
};

static struct pattern	pats[MAX_PATTERNS];
static size_t		npats, maxlen;
/* The mapping being read: its permissions, and the address of buf[0]. */
static char		perms[8];
static uint64_t		base;

static int
unhex(const char *s, struct pattern *p)
{
	size_t n = strlen(s);

	if (n == 0 || n % 2 != 0)
		return -1;
	p->len = n / 2;
	if ((p->bytes = malloc(p->len)) == NULL)
		return -1;
	for (size_t i = 0; i < p->len; i++) {
		unsigned int b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1 ||
		    strchr("0123456789abcdefABCDEF", s[2 * i]) == NULL ||
		    strchr("0123456789abcdefABCDEF", s[2 * i + 1]) == NULL)
			return -1;
		p->bytes[i] = (unsigned char)b;
	}
	return 0;
}

/* Count the matches that start in buf[0..starts): buf holds len bytes. */
static void
count(const unsigned char *buf, size_t len, size_t starts)
{
	for (size_t k = 0; k < npats; k++) {
		const struct pattern *p = &pats[k];

		for (size_t i = 0; i < starts && i + p->len <= len; i++) {
			const unsigned char *at = memchr(buf + i, p->bytes[0],
			    starts - i);

			if (at == NULL)
				break;
			i = (size_t)(at - buf);
			if (i + p->len <= len && memcmp(at, p->bytes,
			    p->len) == 0) {
				pats[k].hits++;
				fprintf(stderr, "hit %zu %" PRIx64 " %s\n", k + 1,
				    base + i, perms);
			}
		}
	}
}

/* Read [off, off + len) into buf, page by page where a whole read fails;
 * refused pages read as zeros (no pattern here is all zeros). */
static size_t
read_range(int mem, unsigned char *buf, uint64_t off, size_t len,
    size_t *skipped)
{
	ssize_t n = pread(mem, buf, len, (off_t)off);
	size_t got = 0;

	if (n == (ssize_t)len)
		return len;
	for (size_t at = 0; at < len; at += PAGE) {
		size_t want = len - at < PAGE ? len - at : PAGE;

		n = pread(mem, buf + at, want, (off_t)(off + at));
		if (n == (ssize_t)want)
			got += want;
		else {
			memset(buf + at, 0, want);
			(*skipped)++;
		}
	}
	return got;
}

int
main(int argc, char **argv)
{
	char path[64], *line = NULL;
	size_t linecap = 0;
	unsigned char *buf;
	uint64_t total = 0;
	size_t maps = 0, skipped = 0, big = 0;
	FILE *f;
	int mem;

	if (argc < 3 || argc - 2 > MAX_PATTERNS) {
		fprintf(stderr, "usage: memscan PID HEX...\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (unhex(argv[i], &pats[npats]) == -1) {
			fprintf(stderr, "memscan: not hex: %s\n", argv[i]);
			return 2;
		}
		if (pats[npats].len > maxlen)
			maxlen = pats[npats].len;
		npats++;
	}
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "memscan: %s: %s\n", path, strerror(errno));
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	if ((mem = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "memscan: %s: %s\n", path, strerror(errno));
		return 2;
	}
	if ((buf = malloc(CHUNK + maxlen)) == NULL)
		return 2;
	while (getline(&line, &linecap, f) != -1) {
		uint64_t start, end, at;
		size_t carry = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s", &start, &end,
		    perms) != 3 || end <= start)
			continue;
		if (strstr(line, "[vsyscall]") != NULL)
			continue;
		if (end - start > MAX_MAPPING) {
			fprintf(stderr, "skipped %" PRIx64 "-%" PRIx64 " %s: %"
			    PRIu64 " MiB\n", start, end, perms,
			    (end - start) >> 20);
			big++;
			continue;
		}
		maps++;
		/* Chunks overlapping by maxlen - 1 bytes: a match across a
		 * chunk boundary is seen once, in the chunk it starts in. */
		for (at = start; at < end;) {
			size_t n = end - at > CHUNK ? CHUNK : (size_t)(end - at);
			size_t have, keep;

			base = at - carry;
			total += read_range(mem, buf + carry, at, n, &skipped);
			have = carry + n;
			at += n;
			if (at >= end) {
				count(buf, have, have);
				break;
			}
			keep = maxlen - 1 < have ? maxlen - 1 : have;
			count(buf, have, have - keep);
			memmove(buf, buf + have - keep, keep);
			carry = keep;
		}
	}
	free(line);
	free(buf);
	fclose(f);
	close(mem);
	for (size_t k = 0; k < npats; k++) {
		printf("%zu\n", pats[k].hits);
		free(pats[k].bytes);
	}
	fprintf(stderr, "memscan: pid %s: %zu mappings, %" PRIu64 " bytes "
	    "read, %zu pages refused, %zu mappings too large\n", argv[1], maps,
	    total, skipped, big);
	return 0;
}
