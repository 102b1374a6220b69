#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"
#include "util.h"

void
ipc_conn_init(struct ipc_conn *c, int sock, const struct ipc_channel *ch,
    enum ipc_dir rx_dir)
{
	c->sock = sock;
	c->chan = ch;
	c->rx_dir = rx_dir;
	c->buf = xmalloc(ch->max_msg);
	c->next_id = 1;
}

void
ipc_conn_free(struct ipc_conn *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	free(c->buf);
	c->buf = NULL;
}

const struct ipc_msgspec *
ipc_spec(const struct ipc_channel *ch, uint32_t type)
{
	for (size_t i = 0; i < ch->nmsgs; i++)
		if (ch->msgs[i].type == type)
			return &ch->msgs[i];
	return NULL;
}

int
ipc_decode(const struct ipc_channel *ch, enum ipc_dir rx_dir,
    const uint8_t *buf, size_t n, bool has_fd, struct ipc_msg *out,
    char *err, size_t errlen)
{
	const struct ipc_msgspec *spec;
	struct ipc_hdr h;
	size_t payload;

	if (n < IPC_HDR_SIZE) {
		snprintf(err, errlen, "%s: short message (%zu bytes)",
		    ch->name, n);
		return -1;
	}
	if (n > ch->max_msg) {
		snprintf(err, errlen, "%s: message of %zu bytes exceeds the "
		    "channel limit of %u", ch->name, n, ch->max_msg);
		return -1;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.len != n) {
		snprintf(err, errlen, "%s: header says %u bytes, received %zu",
		    ch->name, h.len, n);
		return -1;
	}
	if ((h.flags & ~IPC_F_FD) != 0) {
		snprintf(err, errlen, "%s: unknown flags 0x%x", ch->name,
		    h.flags);
		return -1;
	}
	if (((h.flags & IPC_F_FD) != 0) != has_fd) {
		snprintf(err, errlen, "%s: fd flag does not match the %s",
		    ch->name, has_fd ? "fd received" : "absence of an fd");
		return -1;
	}
	spec = ipc_spec(ch, h.type);
	if (spec == NULL || spec->dir != rx_dir) {
		snprintf(err, errlen, "%s: unknown message type %u", ch->name,
		    h.type);
		return -1;
	}
	payload = n - IPC_HDR_SIZE;
	if (payload < spec->min_payload || payload > spec->max_payload) {
		snprintf(err, errlen, "%s: %s with %zu payload bytes, expected "
		    "%u..%u", ch->name, spec->name, payload, spec->min_payload,
		    spec->max_payload);
		return -1;
	}
	if (spec->fd != has_fd) {
		snprintf(err, errlen, "%s: %s %s", ch->name, spec->name,
		    spec->fd ? "arrived without its fd" : "carries an fd");
		return -1;
	}
	out->hdr = h;
	out->spec = spec;
	out->payload = buf + IPC_HDR_SIZE;
	out->payload_len = payload;
	out->fd = -1;
	return 0;
}

/* Close every fd in a control buffer; return how many there were. */
static size_t
close_passed_fds(struct msghdr *mh)
{
	size_t count = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
	    cm = CMSG_NXTHDR(mh, cm)) {
		size_t nfd;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
			count++;
		}
	}
	return count;
}

/* The single SCM_RIGHTS fd of a message, -1 if none, -2 if malformed. */
static int
take_passed_fd(struct msghdr *mh)
{
	struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
	int fd;

	if (cm == NULL)
		return -1;
	if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)) ||
	    CMSG_NXTHDR(mh, cm) != NULL)
		return -2;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

int
ipc_recv(struct ipc_conn *c, struct ipc_msg *m, char *err, size_t errlen)
{
	union {
		struct cmsghdr	align;
		/* Room for one fd, plus slack so a second one is visible
		 * (and closed) instead of silently dropped. */
		char		buf[CMSG_SPACE(sizeof(int) * 2)];
	} cbuf;
	struct iovec iov = { .iov_base = c->buf, .iov_len = c->chan->max_msg };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf.buf),
	};
	ssize_t n;
	int fd;

	do {
		n = recvmsg(c->sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -2;
	if (n < 0) {
		snprintf(err, errlen, "%s: recvmsg: %s", c->chan->name,
		    strerror(errno));
		return -1;
	}
	if (n == 0 && mh.msg_controllen == 0)
		return 0;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_passed_fds(&mh);
		snprintf(err, errlen, "%s: %s", c->chan->name,
		    (mh.msg_flags & MSG_TRUNC) ? "message larger than the "
		    "channel limit" : "too many fds passed");
		return -1;
	}
	fd = take_passed_fd(&mh);
	if (fd == -2) {
		size_t count = close_passed_fds(&mh);

		snprintf(err, errlen, "%s: malformed control data (%zu fds)",
		    c->chan->name, count);
		return -1;
	}
	if (ipc_decode(c->chan, c->rx_dir, c->buf, (size_t)n, fd >= 0, m, err,
	    errlen) == -1) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	m->fd = fd;
	return 1;
}

int
ipc_send(struct ipc_conn *c, uint32_t type, uint32_t id, const void *payload,
    size_t len, int fd)
{
	const struct ipc_msgspec *spec = ipc_spec(c->chan, type);
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct ipc_hdr h;
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	/* Sending something the peer must reject is our own bug. */
	if (spec == NULL || spec->dir == c->rx_dir || len < spec->min_payload ||
	    len > spec->max_payload || spec->fd != (fd >= 0) ||
	    len + IPC_HDR_SIZE > c->chan->max_msg) {
		errno = EINVAL;
		return -1;
	}
	h.type = type;
	h.len = (uint32_t)(IPC_HDR_SIZE + len);
	h.id = id;
	h.flags = fd >= 0 ? IPC_F_FD : 0;
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do {
		n = sendmsg(c->sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != IPC_HDR_SIZE + len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

const struct ipc_handler *
ipc_lookup(const struct ipc_handler *tbl, size_t n, uint32_t state,
    const struct ipc_msg *msg, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (tbl[i].type != msg->hdr.type)
			continue;
		if ((tbl[i].states & state) == 0) {
			snprintf(err, errlen, "%s not allowed in state 0x%x",
			    msg->spec->name, state);
			return NULL;
		}
		return &tbl[i];
	}
	snprintf(err, errlen, "%s has no handler here", msg->spec->name);
	return NULL;
}

void
ipc_reader_init(struct ipc_reader *r, const struct ipc_msg *m)
{
	r->p = m->payload;
	r->left = m->payload_len;
	r->bad = false;
}

char *
ipc_get_strdup(struct ipc_reader *r, size_t max)
{
	size_t len;
	const char *s = ipc_get_str(r, max, &len);
	char *p;

	if (s == NULL)
		return NULL;
	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

const uint8_t *
ipc_get_bytes(struct ipc_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

uint32_t
ipc_get_u32(struct ipc_reader *r)
{
	const uint8_t *p = ipc_get_bytes(r, sizeof(uint32_t));
	uint32_t v = 0;

	if (p != NULL)
		memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t
ipc_get_u64(struct ipc_reader *r)
{
	const uint8_t *p = ipc_get_bytes(r, sizeof(uint64_t));
	uint64_t v = 0;

	if (p != NULL)
		memcpy(&v, p, sizeof(v));
	return v;
}

const char *
ipc_get_str(struct ipc_reader *r, size_t max, size_t *len)
{
	uint32_t n = ipc_get_u32(r);
	const uint8_t *p;

	if (r->bad || n > max) {
		r->bad = true;
		return NULL;
	}
	p = ipc_get_bytes(r, n);
	if (p == NULL || memchr(p, '\0', n) != NULL) {
		r->bad = true;
		return NULL;
	}
	*len = n;
	return (const char *)p;
}

bool
ipc_get_end(struct ipc_reader *r)
{
	return !r->bad && r->left == 0;
}

void
ipc_writer_init(struct ipc_writer *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = false;
}

void
ipc_put_bytes(struct ipc_writer *w, const void *p, size_t n)
{
	if (w->overflow || w->cap - w->len < n) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void
ipc_put_u32(struct ipc_writer *w, uint32_t v)
{
	ipc_put_bytes(w, &v, sizeof(v));
}

void
ipc_put_u64(struct ipc_writer *w, uint64_t v)
{
	ipc_put_bytes(w, &v, sizeof(v));
}

void
ipc_put_str(struct ipc_writer *w, const char *s, size_t len)
{
	if (len > UINT32_MAX) {
		w->overflow = true;
		return;
	}
	ipc_put_u32(w, (uint32_t)len);
	ipc_put_bytes(w, s, len);
}
