/*
 * Message framing between the supervisor and its children.
 *
 * Every channel is a SOCK_SEQPACKET socketpair: one recvmsg is one message,
 * truncation is visible and a passed fd travels with the message it belongs
 * to.  A message is a 16-byte header in host byte order followed by a
 * payload:
 *
 *	u32 type	what the message is, from the channel's table
 *	u32 len		header + payload, must equal the bytes received
 *	u32 id		request id, echoed in the answer
 *	u32 flags	IPC_F_FD when exactly one fd rides along
 *
 * Each channel is described by a table (one header per channel in common/,
 * chan_*.h) saying which messages exist, who may send them, their payload
 * size bounds and whether they carry an fd.  A receiver adds its own
 * dispatch table saying in which of its states each message is allowed.
 * Anything else is a protocol violation, and a child that commits one is
 * treated as compromised.
 */
#ifndef SEPWORKER_IPC_H
#define SEPWORKER_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_HDR_SIZE	16u
#define IPC_F_FD	0x1u

/* Who sends a message. */
enum ipc_dir {
	IPC_TO_CHILD = 1,	/* supervisor -> child */
	IPC_TO_SUPERVISOR = 2,	/* child -> supervisor */
};

struct ipc_hdr {
	uint32_t	type;
	uint32_t	len;
	uint32_t	id;
	uint32_t	flags;
};

struct ipc_msgspec {
	uint32_t	 type;
	const char	*name;
	enum ipc_dir	 dir;
	uint32_t	 min_payload;
	uint32_t	 max_payload;
	bool		 fd;		/* an fd must ride along */
};

struct ipc_channel {
	const char			*name;
	uint32_t			 max_msg;	/* header included */
	const struct ipc_msgspec	*msgs;
	size_t				 nmsgs;
};

struct ipc_msg {
	struct ipc_hdr			 hdr;
	const struct ipc_msgspec	*spec;
	const uint8_t			*payload;
	size_t				 payload_len;
	int				 fd;	/* -1 when none */
};

/* One end of a channel. */
struct ipc_conn {
	int			 sock;
	const struct ipc_channel *chan;
	enum ipc_dir		 rx_dir;	/* direction of what we receive */
	uint8_t			*buf;		/* chan->max_msg bytes */
	uint32_t		 next_id;
};

#define IPC_ERR_MAX	160

/* Receiver state bits: a handler lists the states it is allowed in. */
struct ipc_handler {
	uint32_t	  type;
	uint32_t	  states;
	int		(*fn)(void *ctx, struct ipc_msg *msg);
};

void	ipc_conn_init(struct ipc_conn *c, int sock, const struct ipc_channel *ch,
	    enum ipc_dir rx_dir);
void	ipc_conn_free(struct ipc_conn *c);

/*
 * Check a received message against the channel table.  Pure: no syscalls,
 * so it is what the fuzzer drives.  has_fd says whether an fd arrived.
 * Returns 0 and fills *out, or -1 with err set.
 */
int	ipc_decode(const struct ipc_channel *ch, enum ipc_dir rx_dir,
	    const uint8_t *buf, size_t n, bool has_fd, struct ipc_msg *out,
	    char *err, size_t errlen);

/*
 * Receive one message.  Returns 1 with *m filled (m->fd owned by the
 * caller, close-on-exec), 0 at end of file, -1 on a protocol violation or
 * error with err set; any fd that came with a bad message is closed.
 * With a nonblocking socket, returns -2 when nothing is waiting.
 */
int	ipc_recv(struct ipc_conn *c, struct ipc_msg *m, char *err,
	    size_t errlen);

/*
 * Send one message, with fd (or -1).  The message must be valid for the
 * channel in the sending direction.  Returns 0, or -1 with errno set
 * (EAGAIN on a full nonblocking socket: the peer is not reading).
 */
int	ipc_send(struct ipc_conn *c, uint32_t type, uint32_t id,
	    const void *payload, size_t len, int fd);

/* Find msg's handler, check state; -1 with err set if not allowed. */
const struct ipc_handler *ipc_lookup(const struct ipc_handler *tbl, size_t n,
	    uint32_t state, const struct ipc_msg *msg, char *err,
	    size_t errlen);

const struct ipc_msgspec *ipc_spec(const struct ipc_channel *ch,
	    uint32_t type);

/*
 * Payload cursor: typed getters that fail (and stay failed) on short
 * input; ipc_get_end() is true only if nothing failed and nothing is left.
 */
struct ipc_reader {
	const uint8_t	*p;
	size_t		 left;
	bool		 bad;
};

void	ipc_reader_init(struct ipc_reader *r, const struct ipc_msg *m);
uint32_t ipc_get_u32(struct ipc_reader *r);
uint64_t ipc_get_u64(struct ipc_reader *r);
/* u32 length + bytes, at most max bytes, no NUL inside. Not terminated. */
const char *ipc_get_str(struct ipc_reader *r, size_t max, size_t *len);
const uint8_t *ipc_get_bytes(struct ipc_reader *r, size_t n);
/* The same string, malloc'd and NUL-terminated; NULL on short input. */
char	*ipc_get_strdup(struct ipc_reader *r, size_t max);
bool	ipc_get_end(struct ipc_reader *r);

struct ipc_writer {
	uint8_t		*buf;
	size_t		 cap;
	size_t		 len;
	bool		 overflow;
};

void	ipc_writer_init(struct ipc_writer *w, void *buf, size_t cap);
void	ipc_put_u32(struct ipc_writer *w, uint32_t v);
void	ipc_put_u64(struct ipc_writer *w, uint64_t v);
void	ipc_put_str(struct ipc_writer *w, const char *s, size_t len);
void	ipc_put_bytes(struct ipc_writer *w, const void *p, size_t n);

#endif
