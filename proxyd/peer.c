/*
 * Who connected: the kernel's socket table, asked over NETLINK_SOCK_DIAG
 * for the one TCP socket whose source is the client's address and port
 * and whose destination is our listener.  Its owner uid is the uid that
 * created the client's socket, mapped into our user namespace (a task's
 * uid is the same inside and outside its namespace).
 *
 * taskcluster-proxy reads /proc/net/tcp for the same fact; an exact
 * lookup needs no file and no parsing of a table every process shares.
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxyd/taskproxy.h"

int
peer_diag_socket(void)
{
	return socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
}

int
peer_uid(int fd, const struct sockaddr_in *client,
    const struct sockaddr_in *server, uint32_t *uid)
{
	static atomic_uint seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct {
		struct nlmsghdr		nlh;
		struct inet_diag_req_v2	req;
	} q;
	union {
		struct nlmsghdr	nlh;
		char		buf[8192];
	} a;
	struct nlmsghdr *h;
	ssize_t n;
	uint32_t want;

	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.nlh.nlmsg_seq = want = atomic_fetch_add(&seq, 1) + 1;
	q.req.sdiag_family = AF_INET;
	q.req.sdiag_protocol = IPPROTO_TCP;
	q.req.idiag_states = ~0u;
	q.req.id.idiag_sport = client->sin_port;
	q.req.id.idiag_dport = server->sin_port;
	q.req.id.idiag_src[0] = client->sin_addr.s_addr;
	q.req.id.idiag_dst[0] = server->sin_addr.s_addr;
	q.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	q.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (sendto(fd, &q, sizeof(q), 0, (struct sockaddr *)&kernel,
	    sizeof(kernel)) != (ssize_t)sizeof(q))
		return -1;
	for (;;) {
		n = recv(fd, &a, sizeof(a), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		for (h = &a.nlh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *d = NLMSG_DATA(h);

			/* An answer to an earlier, abandoned question. */
			if (h->nlmsg_seq != want)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				errno = e->error < 0 ? -e->error : EPROTO;
				return -1;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)) ||
			    d->id.idiag_sport != client->sin_port ||
			    d->id.idiag_src[0] != client->sin_addr.s_addr ||
			    d->id.idiag_dport != server->sin_port) {
				errno = EPROTO;
				return -1;
			}
			*uid = d->idiag_uid;
			return 0;
		}
	}
}
