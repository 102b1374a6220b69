/*
 * The IPC message decoder and payload reader on arbitrary bytes, for
 * every channel and direction: anything either decodes to a message that
 * satisfies its table, or is refused with a message.  Never a crash.
 *
 * Input: byte 0 picks channel, direction and whether an fd "arrived";
 * the rest is the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan_keyholder.h"
#include "common/chan_proxyd.h"
#include "common/chan_taskrunner.h"
#include "common/ipc.h"

static const struct ipc_channel *const channels[] = {
	&keyholder_channel, &proxyd_channel, &taskrunner_channel,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ipc_channel *ch;
	enum ipc_dir dir;
	struct ipc_msg m;
	struct ipc_reader r;
	char err[IPC_ERR_MAX];
	bool has_fd;
	size_t len;

	if (size < 1)
		return 0;
	ch = channels[data[0] % 3];
	dir = (data[0] & 0x4) ? IPC_TO_CHILD : IPC_TO_SUPERVISOR;
	has_fd = (data[0] & 0x8) != 0;
	if (ipc_decode(ch, dir, data + 1, size - 1, has_fd, &m, err,
	    sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();	/* a refusal must say why */
		return 0;
	}
	/* What was accepted must satisfy the table. */
	if (m.spec == NULL || m.spec->dir != dir || m.spec->fd != has_fd ||
	    m.payload_len < m.spec->min_payload ||
	    m.payload_len > m.spec->max_payload ||
	    m.hdr.len != size - 1 || m.payload + m.payload_len !=
	    data + size)
		abort();
	/* Walk the payload with the typed getters, as handlers do. */
	ipc_reader_init(&r, &m);
	while (!r.bad && r.left > 0) {
		switch (r.left % 3) {
		case 0:
			(void)ipc_get_u32(&r);
			break;
		case 1:
			(void)ipc_get_u64(&r);
			break;
		default:
			if (ipc_get_str(&r, 4096, &len) != NULL &&
			    memchr(r.p - len, '\0', len) != NULL)
				abort();
			break;
		}
	}
	(void)ipc_get_end(&r);
	return 0;
}
