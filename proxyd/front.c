/*
 * The task's connections from accept until libmicrohttpd takes them, in
 * one thread polling them all.
 *
 * libmicrohttpd cannot be made to refuse a malformed head (head.h says
 * what it lets through), and what it hands the request handler no longer
 * shows some faults at all: a folded line is already joined, a value cut
 * at its NUL, a bare LF a line end.  So each connection's head is looked
 * at here first, with MSG_PEEK, and only a well-formed one is handed on;
 * libmicrohttpd then reads those same bytes from the socket, which the
 * task can no longer change.  A connection carries one request (every
 * response says "Connection: close"): a second head would reach
 * libmicrohttpd with nobody looking at it first.
 *
 * While a head is incomplete, SO_RCVLOWAT keeps poll() asleep until at
 * least one more byte has come, since peeked bytes stay readable.  A
 * refused connection is answered here and then drained for a moment
 * before it is closed: closing a socket with unread bytes resets it, and
 * the reset could reach the task before the answer does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "proxyd/front.h"
#include "proxyd/head.h"

/* Seconds a refused connection is read and discarded after its answer. */
#define DRAIN_S		2

enum door_state {
	DOOR_HEAD,	/* its head not complete yet */
	DOOR_DRAIN,	/* answered, closing */
};

struct door {
	int			 fd;
	struct sockaddr_in	 addr;
	enum door_state		 state;
	uint64_t		 deadline;	/* now_ms() */
};

static struct {
	struct taskproxy	*tp;
	struct MHD_Daemon	*d;
	int			 listen_fd;
	int			 stop[2];	/* front_stop() wakes the loop */
	pthread_t		 thread;
	struct door		 doors[FRONT_CONNECTION_LIMIT];
	size_t			 ndoors;
	char			 buf[FRONT_HEAD_MAX];
} front;

/* Only the task's uid may talk to its proxy (host networking). */
static bool
from_task(const struct sockaddr_in *sin)
{
	struct taskproxy *tp = front.tp;
	char ip[INET_ADDRSTRLEN] = "?";
	uint32_t uid;

	if (!tp->check_peer)
		return true;
	inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
	if (peer_uid(tp->diag_fd, sin, &tp->listen_addr, &uid) == -1) {
		log_warn("refused a connection from %s:%u: its owner cannot be "
		    "found", ip, ntohs(sin->sin_port));
		return false;
	}
	if (uid != tp->allowed_uid) {
		log_warnx("refused a connection from %s:%u: uid %u is not the "
		    "task's (%u)", ip, ntohs(sin->sin_port), uid,
		    tp->allowed_uid);
		return false;
	}
	return true;
}

/* Connections libmicrohttpd is serving now. */
static size_t
served(void)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(front.d,
	    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return i != NULL ? i->num_connections : 0;
}

static void
forget(size_t i)
{
	front.doors[i] = front.doors[--front.ndoors];
}

static void
shut(size_t i)
{
	close(front.doors[i].fd);
	forget(i);
}

/* Wake poll() only once fd holds at least want bytes (or ends). */
static bool
wake_at(int fd, size_t want)
{
	int lowat = (int)want;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat,
	    sizeof(lowat)) == -1) {
		log_warn("SO_RCVLOWAT");
		return false;
	}
	return true;
}

static void
admit(void)
{
	struct door *dr = &front.doors[front.ndoors];
	socklen_t len = sizeof(dr->addr);
	int fd;

	fd = accept4(front.listen_fd, (struct sockaddr *)&dr->addr, &len,
	    SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if (len != sizeof(dr->addr) || dr->addr.sin_family != AF_INET) {
		log_warnx("refused a connection that is not IPv4");
		close(fd);
		return;
	}
	if (!from_task(&dr->addr)) {
		close(fd);
		return;
	}
	dr->fd = fd;
	dr->state = DOOR_HEAD;
	dr->deadline = now_ms() + FRONT_HEAD_TIMEOUT_S * 1000ull;
	front.ndoors++;
}

static void
add_line(void *arg, const char *name, const char *value)
{
	struct strbuf *b = arg;

	strbuf_puts(b, name);
	strbuf_puts(b, ": ");
	strbuf_puts(b, value);
	strbuf_puts(b, "\r\n");
}

static const char *
reason(unsigned status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Error";
}

/* Answer door i with status and a text body, then drain it. */
static void
refuse(size_t i, unsigned status, const char *why)
{
	struct door *dr = &front.doors[i];
	struct strbuf b = { 0 };
	char *text, line[64];
	size_t len;

	log_warnx("refused a request: %s", why);
	snprintf(line, sizeof(line), "HTTP/1.1 %u %s\r\n", status,
	    reason(status));
	strbuf_puts(&b, line);
	add_line(&b, "Content-Type", "text/plain; charset=utf-8");
	snprintf(line, sizeof(line), "%zu", strlen(why));
	add_line(&b, "Content-Length", line);
	add_line(&b, "Connection", "close");
	server_common_headers(front.tp, add_line, &b);
	strbuf_puts(&b, "\r\n");
	strbuf_puts(&b, why);
	text = strbuf_take(&b, &len);
	/* A fresh socket's send buffer holds an answer this size: one
	 * non-blocking send, and a task that reads nothing loses it. */
	if (send(dr->fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)len || shutdown(dr->fd, SHUT_WR) == -1 ||
	    !wake_at(dr->fd, 1))
		shut(i);
	else {
		dr->state = DOOR_DRAIN;
		dr->deadline = now_ms() + DRAIN_S * 1000ull;
	}
	free(text);
}

static void
drain(size_t i)
{
	ssize_t n = recv(front.doors[i].fd, front.buf, sizeof(front.buf),
	    MSG_DONTWAIT);

	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		shut(i);
}

static void
hand_over(size_t i)
{
	struct door *dr = &front.doors[i];

	if (!wake_at(dr->fd, 1)) {
		shut(i);
		return;
	}
	/* It closes the socket if it cannot take it. */
	if (MHD_add_connection(front.d, dr->fd, (struct sockaddr *)&dr->addr,
	    sizeof(dr->addr)) == MHD_NO)
		log_warn("libmicrohttpd did not take a connection");
	forget(i);
}

/* Door i is readable, or has ended. */
static void
examine(size_t i, short revents)
{
	struct door *dr = &front.doors[i];
	struct head h;
	ssize_t n;

	if (dr->state == DOOR_DRAIN) {
		drain(i);
		return;
	}
	n = recv(dr->fd, front.buf, sizeof(front.buf), MSG_PEEK |
	    MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		shut(i);	/* gone before its head ended */
		return;
	}
	switch (head_check(front.buf, (size_t)n, sizeof(front.buf), &h)) {
	case HEAD_INCOMPLETE:
		if ((revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0 ||
		    !wake_at(dr->fd, (size_t)n + 1))
			shut(i);	/* it will send no more */
		break;
	case HEAD_REFUSED:
		refuse(i, h.status, h.why);
		break;
	case HEAD_OK:
		hand_over(i);
		break;
	}
}

static void
expire(size_t i)
{
	char why[80];

	if (front.doors[i].state == DOOR_DRAIN) {
		shut(i);
		return;
	}
	snprintf(why, sizeof(why), "no complete request head within %u s",
	    FRONT_HEAD_TIMEOUT_S);
	refuse(i, 408, why);
}

/* The doors at p[2 + i]. */
#define DOORS	2

static void *
front_loop(void *arg)
{
	struct pollfd p[DOORS + FRONT_CONNECTION_LIMIT];

	(void)arg;
	for (;;) {
		uint64_t now = now_ms(), next = now + 1000;
		bool full = front.ndoors + served() >= FRONT_CONNECTION_LIMIT;

		/* (when full, a second's sleep at most: served() drops as
		 * libmicrohttpd's connections end, unseen here) */
		p[0].fd = full ? -1 : front.listen_fd;
		p[0].events = POLLIN;
		p[1].fd = front.stop[0];
		p[1].events = POLLIN;
		for (size_t i = 0; i < front.ndoors; i++) {
			p[i + DOORS].fd = front.doors[i].fd;
			p[i + DOORS].events = POLLIN | POLLRDHUP;
			p[i + DOORS].revents = 0;
			if (front.doors[i].deadline < next)
				next = front.doors[i].deadline;
		}
		if (poll(p, front.ndoors + DOORS, next > now ?
		    (int)(next - now) : 0) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (p[1].revents != 0)
			break;
		/* From the last: forgetting door i moves the last one to i. */
		now = now_ms();
		for (size_t i = front.ndoors; i-- > 0;) {
			if (p[i + DOORS].revents != 0)
				examine(i, p[i + DOORS].revents);
			else if (front.doors[i].deadline <= now)
				expire(i);
		}
		if (p[0].revents & POLLIN)
			admit();
	}
	while (front.ndoors > 0)
		shut(front.ndoors - 1);
	close(front.listen_fd);
	return NULL;
}

void
front_stop(void)
{
	char c = 0;
	int rc;

	if (write(front.stop[1], &c, 1) != 1)
		fatal("waking the accepting thread");
	if ((rc = pthread_join(front.thread, NULL)) != 0)
		fatalx("pthread_join: %s", strerror(rc));
	close(front.stop[0]);
	close(front.stop[1]);
}

int
front_start(struct taskproxy *tp, int listen_fd, struct MHD_Daemon *d,
    char *err, size_t errlen)
{
	int flags, rc;

	front.tp = tp;
	front.d = d;
	front.listen_fd = listen_fd;
	if ((flags = fcntl(listen_fd, F_GETFL)) == -1 ||
	    fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "the listener: %s", strerror(errno));
		return -1;
	}
	if (pipe2(front.stop, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "a pipe: %s", strerror(errno));
		return -1;
	}
	if ((rc = pthread_create(&front.thread, NULL, front_loop,
	    NULL)) != 0) {
		snprintf(err, errlen, "starting the accepting thread: %s",
		    strerror(rc));
		return -1;
	}
	return 0;
}
