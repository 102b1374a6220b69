/*
 * The chain-of-trust document, composed by the supervisor as generic-
 * worker's Go struct marshals it: its field order, two-space indentation,
 * no trailing newline, Go's HTML-safe string escapes.  The task's
 * definition is the taskrunner's re-encoding, spliced in as it is: the
 * supervisor parses none of it, and checked before (taskrun_on_valid)
 * with a validating scan that it is exactly one JSON object, so nothing
 * can be spliced in beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan_keyholder.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "supervisor/cot.h"

struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			fatalx("out of memory composing the chain-of-trust "
			    "document");
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* A JSON string as Go's encoding/json writes one. */
static void
put_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[7] = "\\u00";

		if (*p == '"' || *p == '\\') {
			put(b, "\\", 1);
			put(b, (const char *)p, 1);
		} else if (*p == '\n')
			put(b, "\\n", 2);
		else if (*p == '\r')
			put(b, "\\r", 2);
		else if (*p == '\t')
			put(b, "\\t", 2);
		else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') {
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			put(b, esc, 6);
		} else if (*p < 0x80)
			put(b, (const char *)p, 1);
		else {
			unsigned cp;
			size_t n = utf8_sequence(p, strlen((const char *)p), &cp);

			/* Go's encoder: U+2028 and U+2029 escaped for
			 * JavaScript, ill-formed bytes as U+FFFD. */
			if (n == 0)
				puts_(b, "\\ufffd");
			else if (cp == 0x2028 || cp == 0x2029)
				puts_(b, cp == 0x2028 ? "\\u2028" : "\\u2029");
			else
				put(b, (const char *)p, n);
			p += n ? n - 1 : 0;
		}
	}
	put(b, "\"", 1);
}

static int
cmp_artifacts(const void *x, const void *y)
{
	/* Go sorts map keys by their bytes. */
	return strcmp(((const struct cot_artifact *)x)->name,
	    ((const struct cot_artifact *)y)->name);
}

/* The definition, one level deeper: two spaces after each newline.  A
 * JSON string holds no raw newline, so every one is whitespace. */
static void
put_task(struct buf *b, const char *task, size_t len)
{
	while (len > 0 && (task[len - 1] == '\n' || task[len - 1] == ' '))
		len--;
	while (len > 0 && (*task == '\n' || *task == ' ')) {
		task++;
		len--;
	}
	for (size_t i = 0; i < len; i++) {
		put(b, task + i, 1);
		if (task[i] == '\n')
			put(b, "  ", 2);
	}
}

static void
put_field(struct buf *b, const char *key, const char *value, bool last)
{
	puts_(b, "    ");
	put_string(b, key);
	puts_(b, ": ");
	put_string(b, value);
	puts_(b, last ? "\n" : ",\n");
}

char *
cot_build(struct cot_artifact *arts, size_t n, const char *task,
    size_t task_len, const struct cot_facts *f, size_t *len)
{
	struct buf b = { 0 };
	char num[16];

	if (n > 1)
		qsort(arts, n, sizeof(*arts), cmp_artifacts);
	puts_(&b, COT_PREFIX);
	for (size_t i = 0; i < n; i++) {
		puts_(&b, i ? ",\n    " : "\n    ");
		put_string(&b, arts[i].name);
		puts_(&b, ": {\n      \"sha256\": ");
		put_string(&b, arts[i].sha256);
		puts_(&b, "\n    }");
	}
	puts_(&b, n ? "\n  },\n  \"task\": " : "},\n  \"task\": ");
	put_task(&b, task, task_len);
	puts_(&b, ",\n  \"taskId\": ");
	put_string(&b, f->task_id);
	snprintf(num, sizeof(num), "%u", f->run_id);
	puts_(&b, ",\n  \"runId\": ");
	puts_(&b, num);
	puts_(&b, ",\n  \"workerGroup\": ");
	put_string(&b, f->worker_group);
	puts_(&b, ",\n  \"workerId\": ");
	put_string(&b, f->worker_id);
	puts_(&b, ",\n  \"environment\": {\n");
	/* publicIpAddress is omitted when unset, as generic-worker's
	 * omitempty does; the rest are always there. */
	if (*f->public_ip)
		put_field(&b, "publicIpAddress", f->public_ip, false);
	put_field(&b, "privateIpAddress", f->private_ip, false);
	put_field(&b, "instanceId", f->instance_id, false);
	put_field(&b, "instanceType", f->instance_type, false);
	put_field(&b, "region", f->region, true);
	puts_(&b, "  }\n}");
	*len = b.len;
	return b.p;
}
