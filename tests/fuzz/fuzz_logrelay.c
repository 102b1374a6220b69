/*
 * What a compromised child can write to its log pipe: line splitting,
 * level parsing and escaping on arbitrary bytes.  Every line handed on
 * must fit the buffer, and every escaped line must be free of control
 * characters and valid UTF-8, so it can neither forge a line nor drive
 * a terminal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "supervisor/logrelay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_utf8_and_controls(const char *s, size_t n, int json)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++) {
		unsigned c = p[i];
		size_t len = 0;

		if (c < 0x20 || c == 0x7f)
			abort();
		if (json && c == '"' && (i == 0 || p[i - 1] != '\\'))
			abort();
		if (c < 0x80)
			continue;
		len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
		if (len == 0 || i + len > n)
			abort();
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				abort();
		i += len - 1;
	}
}

static void
emit(void *arg, const char *line, size_t len)
{
	char out[LOG_RECORD_MAX * 4 + 1];
	const char *msg;
	size_t msglen, n;

	(void)arg;
	if (len > LOG_RECORD_MAX + 1)
		abort();
	(void)logrelay_parse(line, len, &msg, &msglen);
	if (msg < line || msg + msglen > line + len)
		abort();
	for (int json = 0; json <= 1; json++) {
		n = log_escape(out, sizeof(out), msg, msglen, json);
		if (n != strlen(out))
			abort();
		check_utf8_and_controls(out, n, json);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linebuf lb = { .len = 0 };
	size_t cut = size ? data[0] : 0;

	/* Feed in two pieces, as reads from a pipe may split anywhere. */
	if (cut > size)
		cut = size;
	linebuf_feed(&lb, (const char *)data, cut, emit, NULL);
	linebuf_feed(&lb, (const char *)data + cut, size - cut, emit, NULL);
	linebuf_flush(&lb, emit, NULL);
	return 0;
}
