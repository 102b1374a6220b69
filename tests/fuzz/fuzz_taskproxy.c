/*
 * A task proxy's listener, fed arbitrary bytes: the real event loop
 * (proxyd/server.c), its upstream side (forward.c, libcurl's multi-socket
 * interface), head.c, route.c and limits.c, with what taskproxy.c would
 * give them stood in for here.  Upstream is 127.0.0.1 on a port bound and
 * never listened on, so every forwarded request is refused at once, and
 * with --retry-seconds 0 it is tried once.
 *
 * Once, in LLVMFuzzerInitialize: a network namespace of our own when we
 * may make one (then nothing listens on 127.0.0.1:443, which
 * /127.0.0.1/... goes to), a 127.0.0.1 listener, server_start() on it.
 * Per input: connect, write the bytes (reading answers meanwhile; in up
 * to three pieces, the proxy idle before each next one, so that heads and
 * bodies cross reads), read until the proxy closes or goes idle, then
 * hang up (SHUT_WR) and read until the proxy closes.  With
 * FUZZ_TASKPROXY_HANGUP=1 the last piece goes with the hang-up instead
 * (its FIN right behind it, before the proxy reads), and the proxy must
 * close within HANGUP_CLOSE_MS; what that piece asks for counts as asked
 * after the hang-up (it may be abandoned unanswered).  "Idle" needs no
 * quiet period: epoll_wait is renamed for this target
 * (-Depoll_wait=fuzz_epoll_wait), and the proxy is idle when its thread
 * sits in epoll_wait with a timeout other than 0 and its epoll fd has
 * nothing ready, twice over with the same entry, once its end of our
 * connection (accept4 is renamed too) has taken every byte we sent and
 * every request signed has been answered (both come in softirqs, which a
 * loaded machine may run late).
 *
 * The stand-in for taskproxy_authorization() records each signature
 * (method, URL); taskproxy_bewit() signs with fixed credentials and
 * records the URL it made.  What must hold (each failure aborts, saying
 * which):
 *  (a) no crash, no sanitizer report (fuzzer, address, undefined);
 *  (b) if head_check() (head.h) refuses the input's first head, or the
 *      input holds no complete first head, nothing is signed (neither a
 *      request nor a /bewit URL); a refused first head is answered with
 *      head_check's status (or 408, had a head timeout come first) and
 *      nothing else, and an incomplete one with nothing but a 408;
 *  (c) every signature is for a method that is an RFC 9110 token, found
 *      in the input, and for a URL route_target() could make for this
 *      root URL: <root>/api/... or https://127.0.0.1/... (the one allowed
 *      host), printable ASCII, its path taken from the input; there are
 *      no more signatures and /bewit URLs together than complete heads
 *      in the input (CRLF CRLF, counted overlapping), and no more final
 *      answers than complete heads plus one (a refusal);
 *  (d) what the proxy sends is a sequence of HTTP/1.1 responses with
 *      Content-Length (100 Continue interim ones aside; an answer to
 *      HEAD may leave its body out), nothing after one that says
 *      Connection: close;
 *  (e) each request signed before we hung up got exactly one answer that
 *      names it: X-Taskcluster-Endpoint equal to the signed URL, status
 *      500, body "Failed during proxy request: ...", in signing order.
 *      The reasons a signed request may go without it, which the oracle
 *      can tell: we hung up before the answer (signed after our
 *      SHUT_WR: the proxy abandons it, as server.c's after_eof says);
 *      its body turned out malformed after it was signed (the last
 *      answer is then a 400 or 431 about the body, and the connection
 *      closes: only the last signature may go that way); the proxy
 *      reset the connection (closing it with bytes of ours unread), in
 *      which case answers in flight may be lost.  Each /bewit URL made
 *      is answered 303 with it as Location, in order.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/tcp.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/log.h"
#include "common/util.h"
#include "proxyd/head.h"
#include "proxyd/route.h"
#include "proxyd/taskproxy.h"
#include "proxyd/url.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int fuzz_epoll_wait(int epfd, struct epoll_event *events, int maxevents,
    int timeout);
int fuzz_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/* The limits: small enough that the fuzzer reaches each. */
#define HEAD_BYTES	4096u
#define HEADERS		16u
#define RETRY_BODY	64u
/* The longest we wait for the proxy to do what it must (ms): a head
 * timeout (1 s) and the drain (2 s) fit in it. */
#define DEADLINE_MS	5000u
/* FUZZ_TASKPROXY_HANGUP=1: how soon the proxy must close once the task
 * sent its last bytes and hung up together (its timeouts are 1 s). */
#define HANGUP_CLOSE_MS	500u
/* How long the proxy may look idle with bytes of ours unread (ms). */
#define STALL_MS	50u
#define RECORDS		512

static void	fail(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	dump(void);

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_taskproxy: ORACLE: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	dump();
	abort();
}

/* --- the proxy, and what taskproxy.c would give it --- */

static struct taskproxy	tp;
static int		listen_port, up_port;
static char		root_url[64];
static char		api_prefix[80];
static const char	allowed_host[] = "127.0.0.1";
static char		https_prefix[64];
/* FUZZ_TASKPROXY_HANGUP: the last piece goes with the task's hang-up. */
static bool		hangup_mode;

struct sig {
	char	*method, *url;
};
struct bew {
	char	*url;		/* NULL: refused */
};
static pthread_mutex_t	rec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sig	sigs[RECORDS];
static size_t		nsigs;
static struct bew	bews[RECORDS];
static size_t		nbews;

static const char fake_auth[] = "Hawk id=\"fuzz-client\", mac=\"AAAA\", "
    "ts=\"1\", nonce=\"fuzz\"";

char *
taskproxy_authorization(struct taskproxy *p, const char *method,
    const char *url, char *err, size_t errlen)
{
	(void)p;
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&rec_lock);
	if (nsigs < RECORDS) {
		sigs[nsigs].method = xstrdup(method);
		sigs[nsigs].url = xstrdup(url);
	}
	nsigs++;
	pthread_mutex_unlock(&rec_lock);
	return xstrdup(fake_auth);
}

char *
taskproxy_bewit(struct taskproxy *p, const char *body, size_t len,
    char *err, size_t errlen)
{
	static const unsigned char key[] = "fuzz-access-token";
	char *url;

	(void)p;
	url = bewit_url(body, len, "fuzz-client", key, sizeof(key) - 1, "",
	    (uint64_t)time(NULL), TP_BEWIT_TTL_S, err, errlen);
	pthread_mutex_lock(&rec_lock);
	if (nbews < RECORDS)
		bews[nbews].url = url != NULL ? xstrdup(url) : NULL;
	nbews++;
	pthread_mutex_unlock(&rec_lock);
	return url;
}

const char *
taskproxy_worker_artifact(const struct taskproxy *p, const char *method,
    const char *url)
{
	(void)p;
	if (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
		return NULL;
	return strstr(url, "/artifacts/public/logs/live.log") != NULL ?
	    "Live Log" : NULL;
}

bool
taskproxy_host_allowed(const struct taskproxy *p, const char *host)
{
	(void)p;
	return strcmp(host, allowed_host) == 0;
}

void
taskproxy_identity_headers(struct taskproxy *p,
    void (*add)(void *arg, const char *name, const char *value), void *arg)
{
	(void)p;
	add(arg, "X-Taskcluster-Proxy-Perm-ClientId", "fuzz-client");
}

int
peer_uid(int diag_fd, const struct sockaddr_in *client,
    const struct sockaddr_in *server, uint32_t *uid)
{
	(void)diag_fd;
	(void)client;
	(void)server;
	(void)uid;
	errno = ENOSYS;
	return -1;
}

/* --- the proxy's thread, watched in epoll_wait --- */

static _Atomic int	 loop_fd = -1;
static _Atomic unsigned	 loop_entry;	/* odd: inside epoll_wait */
static _Atomic int	 loop_timeout;

int
fuzz_epoll_wait(int epfd, struct epoll_event *events, int maxevents,
    int timeout)
{
	int n;

	atomic_store(&loop_fd, epfd);
	atomic_store(&loop_timeout, timeout);
	atomic_fetch_add(&loop_entry, 1);
	n = epoll_pwait(epfd, events, maxevents, timeout, NULL);
	atomic_fetch_add(&loop_entry, 1);
	return n;
}

/* The proxy's accept4 (renamed for this target), to know its end of
 * our connection. */
static _Atomic int	 accepted_fd = -1;

int
fuzz_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int r = (int)syscall(SYS_accept4, fd, addr, len, flags);

	if (r != -1)
		atomic_store(&accepted_fd, r);
	return r;
}

/* The proxy's thread waits for an event, and none is ready: the entry
 * it waits in, or 0. */
static unsigned
idle_entry(void)
{
	unsigned e = atomic_load(&loop_entry);
	struct pollfd p = { .fd = atomic_load(&loop_fd), .events = POLLIN };

	if ((e & 1) == 0 || atomic_load(&loop_timeout) == 0)
		return 0;
	if (poll(&p, 1, 0) != 0)
		return 0;
	return atomic_load(&loop_entry) == e ? e : 0;
}

/* How inputs went (FUZZ_TASKPROXY_STATS=1 prints them at exit). */
static struct {
	unsigned long	inputs, proxy_closed, idle, resets, signatures,
			answered, abandoned, body_errors, bewits;
} st;

static void
print_stats(void)
{
	fprintf(stderr, "fuzz_taskproxy: %lu inputs: the proxy closed %lu, "
	    "went idle %lu, reset %lu; %lu requests signed, %lu answered "
	    "naming them, %lu abandoned after the task hung up, %lu "
	    "answered about their body; %lu /bewit URLs\n", st.inputs,
	    st.proxy_closed, st.idle, st.resets, st.signatures, st.answered,
	    st.abandoned, st.body_errors, st.bewits);
}

/* --- set-up --- */

static void
own_network(void)
{
	struct ifreq ifr;
	int s;

	if (unshare(CLONE_NEWNET) == -1)
		return;		/* not root: the host's loopback, then */
	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		fail("socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		fail("SIOCGIFFLAGS lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		fail("SIOCSIFFLAGS lo: %s", strerror(errno));
	close(s);
}

/* A TCP socket bound to 127.0.0.1 on a port of the kernel's choice. */
static int
bound_socket(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		fail("binding 127.0.0.1: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	return fd;
}

static bool
refused(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool r;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno == ECONNREFUSED;
	close(fd);
	return r;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const proxy_env[] = { "http_proxy", "HTTP_PROXY",
	    "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
	    "no_proxy", "NO_PROXY" };
	char err[512];
	int lfd;

	(void)argc;
	(void)argv;
	for (size_t i = 0; i < sizeof(proxy_env) / sizeof(*proxy_env); i++)
		unsetenv(proxy_env[i]);
	/* The proxy's log is noise at thousands of requests a second:
	 * FUZZ_TASKPROXY_LOG=1 keeps it (records on stderr). */
	if (getenv("FUZZ_TASKPROXY_LOG") == NULL) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null == -1)
			fail("/dev/null: %s", strerror(errno));
		log_init_child(null, 0);
	} else
		log_init_child(2, 1);
	own_network();
	/* Upstream: bound, never listening (refused at once); kept open so
	 * that nothing else takes the port. */
	(void)bound_socket(&up_port);
	if (!refused(443))
		fail("something listens on 127.0.0.1:443; run as root (a "
		    "network namespace of its own) or where nothing does");
	lfd = bound_socket(&listen_port);
	if (listen(lfd, 64) == -1)
		fail("listen: %s", strerror(errno));
	snprintf(root_url, sizeof(root_url), "http://127.0.0.1:%d", up_port);
	snprintf(api_prefix, sizeof(api_prefix), "%s/api/", root_url);
	snprintf(https_prefix, sizeof(https_prefix), "https://%s/",
	    allowed_host);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tp.root_url = root_url;
	tp.task_id = xstrdup("fuzzTaskIdAAAAAAAAAAAA");
	tp.retry_seconds = 0;
	tp.diag_fd = -1;
	tp.spool_fd = -1;
	tp.scopes_json = xstrdup("[]");
	tp.limits = tp_default_limits;
	if (limits_parse("head-bytes=4096,headers=16,retry-body=64,"
	    "head-timeout=1,idle-timeout=1,body-timeout=1,send-timeout=1,"
	    "upstream-timeout=1,connections=8", &tp.limits, err,
	    sizeof(err)) == -1)
		fail("%s", err);
	if (tp.limits.head_bytes != HEAD_BYTES ||
	    tp.limits.headers != HEADERS ||
	    tp.limits.retry_body != RETRY_BODY)
		fail("limits_parse did not set the limits asked for");
	pthread_rwlock_init(&tp.lock, NULL);
	hangup_mode = getenv("FUZZ_TASKPROXY_HANGUP") != NULL;
	if (getenv("FUZZ_TASKPROXY_STATS") != NULL)
		atexit(print_stats);
	if (server_start(&tp, lfd, err, sizeof(err)) == -1)
		fail("server_start: %s", err);
	return 0;
}

/* --- one input --- */

static void *
grow(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		fail("out of memory");
	return p;
}

struct conv {
	char	*out;		/* what the proxy sent */
	size_t	 len, cap;
	bool	 eof;		/* the proxy closed (or shut) its side */
	bool	 reset;		/* ... with a reset */
};

static const struct conv *last_conv;

/* Read what is there; false once the proxy's side has ended. */
static bool
take(int fd, struct conv *cv)
{
	for (;;) {
		ssize_t n;

		if (cv->cap - cv->len < 4096) {
			cv->cap = cv->cap ? cv->cap * 2 : 16384;
			cv->out = grow(cv->out, cv->cap);
		}
		n = recv(fd, cv->out + cv->len, cv->cap - cv->len,
		    MSG_DONTWAIT);
		if (n > 0) {
			cv->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			cv->eof = true;
			return false;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return true;
		cv->eof = cv->reset = true;
		return false;
	}
}

/*
 * Has the proxy's end of our connection taken all we sent?  Until it
 * has, its epoll fd may not be ready yet (loopback delivers in a softirq,
 * which a loaded machine runs late), and the proxy may look idle while
 * our bytes are on their way.  (Our own unacknowledged count would not
 * do: the proxy's ACK may be delayed 40 ms.)  The proxy's end is the
 * last fd its accept4 gave, if it is still the peer of ours.
 */
/* Bytes of ours the proxy has not read: its end's receive queue. */
static int
unread(int fd)
{
	struct sockaddr_in mine, peer;
	socklen_t len = sizeof(mine), plen = sizeof(peer);
	int pfd = atomic_load(&accepted_fd), n = 0;

	if (pfd == -1 ||
	    getsockname(fd, (struct sockaddr *)&mine, &len) == -1 ||
	    getpeername(pfd, (struct sockaddr *)&peer, &plen) == -1 ||
	    peer.sin_port != mine.sin_port || ioctl(pfd, FIONREAD, &n) == -1)
		return 0;
	return n;
}

static bool
delivered(int fd, size_t written)
{
	struct sockaddr_in mine, peer;
	socklen_t len = sizeof(mine), plen = sizeof(peer);
	int pfd = atomic_load(&accepted_fd);
	struct tcp_info ti;
	socklen_t tlen = sizeof(ti);

	if (pfd == -1)
		return true;	/* not accepted: the listener is ready */
	if (getsockname(fd, (struct sockaddr *)&mine, &len) == -1 ||
	    getpeername(pfd, (struct sockaddr *)&peer, &plen) == -1 ||
	    peer.sin_port != mine.sin_port)
		return true;	/* closed: nothing more to take */
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(pfd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == -1)
		fail("TCP_INFO: %s", strerror(errno));
	return ti.tcpi_bytes_received >= written;
}

/*
 * Has every request signed so far had its answer?  Upstream refuses at
 * once, but the refusal too comes in a softirq: until then the proxy may
 * look idle with a transfer in flight.  (A request whose body turned out
 * malformed after it was signed is answered without naming it, and the
 * connection closes: that ends the wait too.)
 */
static bool
answered_all(const struct conv *cv)
{
	static const char name[] = "\r\nX-Taskcluster-Endpoint: ";
	size_t n = 0, signed_now;
	const char *p = cv->out, *end = cv->out + cv->len;

	while (p != NULL && p < end &&
	    (p = memmem(p, (size_t)(end - p), name, sizeof(name) - 1)) !=
	    NULL) {
		n++;
		p += sizeof(name) - 1;
	}
	pthread_mutex_lock(&rec_lock);
	signed_now = nsigs;
	pthread_mutex_unlock(&rec_lock);
	return n >= signed_now;
}

/*
 * Send the input, reading meanwhile, until the proxy closes or idles;
 * then hang up and read to the proxy's close.  *at_hangup: signatures
 * made before we hung up.
 */
static void
converse(const uint8_t *data, size_t size, struct conv *cv,
    size_t *at_hangup)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)listen_port) };
	uint64_t deadline = now_ms() + DEADLINE_MS;
	size_t written = 0, cut[3], ncut = 0, limit;
	bool write_over = false, recorded = false, hung = false;
	uint64_t stalled_since = 0;
	uint32_t hash = 2166136261u;
	int fd;

	/* The bytes go in up to three pieces, each read by the proxy
	 * before the next is sent (it goes idle in between): heads and
	 * bodies across reads.  Where is the input's (FNV-1a) to say. */
	for (size_t i = 0; i < size; i++)
		hash = (hash ^ data[i]) * 16777619u;
	if (size > 1)
		for (unsigned i = 0; i < hash % 3; i++) {
			size_t at = 1 + (hash >> (8 + 8 * i)) % (size - 1);

			if (ncut == 0 || at > cut[ncut - 1])
				cut[ncut++] = at;
		}
	cut[ncut++] = size;
	limit = cut[0];

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		fail("connecting to the proxy: %s", strerror(errno));
	for (;;) {
		bool blocked = false;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		unsigned e;

		if (hangup_mode && limit == size && !recorded) {
			/* The last piece goes with the hang-up: what it asks
			 * for is asked by a task that has hung up. */
			pthread_mutex_lock(&rec_lock);
			*at_hangup = nsigs;
			pthread_mutex_unlock(&rec_lock);
			recorded = true;
		}
		while (written < limit && !write_over) {
			ssize_t n = send(fd, data + written, limit - written,
			    MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n > 0)
				written += (size_t)n;
			else if (n == -1 && errno == EINTR)
				continue;
			else if (n == -1 && errno == EAGAIN) {
				blocked = true;
				break;
			} else
				write_over = true;	/* the proxy closed */
		}
		if (hangup_mode && written == size && !write_over) {
			(void)shutdown(fd, SHUT_WR);
			hung = true;
			break;
		}
		if (!take(fd, cv)) {
			st.proxy_closed++;
			break;
		}
		if ((written == limit || write_over || blocked) &&
		    delivered(fd, written) && answered_all(cv) &&
		    (e = idle_entry()) != 0) {
			/* Idle: sure of it after a moment, with nothing
			 * more for us. */
			struct timespec ts = { 0, 100 * 1000 };
			size_t had = cv->len;

			nanosleep(&ts, NULL);
			if (!take(fd, cv)) {
				st.proxy_closed++;
				break;
			}
			if (cv->len == had && idle_entry() == e &&
			    unread(fd) > 0) {
				/*
				 * Idle with bytes of ours unread: the wake-up
				 * may be a moment behind the bytes (a softirq
				 * preempted between the two); for longer, the
				 * proxy has lost it.  (It stops reading only
				 * for a full buffer, which inputs this small
				 * never fill, or with a request upstream, and
				 * every one has been answered.)
				 */
				if (stalled_since == 0)
					stalled_since = now_ms();
				else if (now_ms() - stalled_since > STALL_MS)
					fail("the proxy sits idle with %d bytes "
					    "of ours unread for %u ms (%zu of %zu "
					    "written)", unread(fd), STALL_MS,
					    written, size);
			} else if (cv->len == had && idle_entry() == e) {
				if (written == limit && limit < size &&
				    !write_over) {
					/* the next piece */
					for (size_t i = 0; i < ncut; i++)
						if (cut[i] > limit) {
							limit = cut[i];
							break;
						}
					continue;
				}
				st.idle++;
				break;
			}
		}
		if (stalled_since != 0 && unread(fd) == 0)
			stalled_since = 0;
		if (now_ms() > deadline)
			fail("the proxy neither closed the connection nor went "
			    "idle within %u ms (%zu of %zu bytes written, %zu "
			    "read)", DEADLINE_MS, written, size, cv->len);
		if (written < limit && !write_over)
			p.events |= POLLOUT;
		/* (short: the proxy going idle is no event of ours) */
		(void)ppoll(&p, 1, &(struct timespec){ 0, 100 * 1000 }, NULL);
	}
	if (!recorded) {
		pthread_mutex_lock(&rec_lock);
		*at_hangup = nsigs;
		pthread_mutex_unlock(&rec_lock);
	}
	if (!hung)
		(void)shutdown(fd, SHUT_WR);
	deadline = now_ms() + (hung ? HANGUP_CLOSE_MS : DEADLINE_MS);
	while (take(fd, cv)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (now_ms() > deadline && hung)
			fail("the task sent its last bytes and hung up at once "
			    "(its FIN with them), and the proxy still held the "
			    "connection %u ms later: it has not seen the FIN, "
			    "and waits for a timeout", HANGUP_CLOSE_MS);
		if (now_ms() > deadline)
			fail("the proxy kept the connection open %u ms after "
			    "the task hung up", DEADLINE_MS);
		(void)poll(&p, 1, 5);
	}
	close(fd);
}

/* --- what came back --- */

struct resp {
	unsigned	 status;
	const char	*endpoint, *location, *body;
	size_t		 endpoint_len, location_len, body_len;
	bool		 close;
	bool		 body_left_out;	/* an answer to HEAD */
	bool		 has_scopes;
};

static bool
tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static bool
starts(const char *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(p, prefix, n) == 0;
}

/* The proxy's bytes as responses; the final ones in r[], their count
 * returned.  A response cut short is allowed only after a reset. */
static size_t
parse(const struct conv *cv, struct resp **rp)
{
	const char *out = cv->out;
	size_t pos = 0, n = 0, cap = 0;
	struct resp *r = NULL;
	bool closed = false;

	while (pos < cv->len) {
		const char *head = out + pos, *end, *line;
		size_t avail = cv->len - pos, cl = 0, rest;
		bool have_cl = false;
		struct resp x = { 0 };

		if (closed)
			fail("the proxy sent more after a response with "
			    "Connection: close: %.40s", head);
		end = memmem(head, avail, "\r\n\r\n", 4);
		if (end == NULL) {
			if (cv->reset && starts(head, avail, "HTTP/1.1 "))
				break;
			fail("the proxy sent a response head cut short, or "
			    "not a response, at byte %zu: %.60s", pos, head);
		}
		if (!starts(head, avail, "HTTP/1.1 ") || avail < 13 ||
		    head[9] < '1' || head[9] > '5' || head[10] < '0' ||
		    head[10] > '9' || head[11] < '0' || head[11] > '9' ||
		    head[12] != ' ')
			fail("not an HTTP/1.1 status line at byte %zu: %.60s",
			    pos, head);
		x.status = (unsigned)((head[9] - '0') * 100 +
		    (head[10] - '0') * 10 + (head[11] - '0'));
		if (x.status == 100) {
			if (!starts(head, avail,
			    "HTTP/1.1 100 Continue\r\n\r\n"))
				fail("a 100 Continue with more than its status "
				    "line: %.60s", head);
			pos += 25;
			continue;
		}
		line = memmem(head, (size_t)(end - head) + 2, "\r\n", 2) + 2;
		while (line < end + 2) {
			const char *eol = memmem(line,
			    (size_t)(end + 2 - line), "\r\n", 2);
			const char *colon = memchr(line, ':',
			    (size_t)(eol - line));
			const char *v;
			size_t nlen, vlen;

			if (colon == NULL || colon == line)
				fail("a response header line that is not "
				    "name: value: %.*s", (int)(eol - line),
				    line);
			nlen = (size_t)(colon - line);
			for (v = colon + 1; v < eol && *v == ' '; v++)
				;
			vlen = (size_t)(eol - v);
			for (const char *q = line; q < colon; q++)
				if (!tchar((unsigned char)*q))
					fail("a response header name that is "
					    "not a token: %.*s", (int)nlen,
					    line);
			for (const char *q = v; q < eol; q++)
				if ((unsigned char)*q < 0x20 &&
				    *q != '\t')
					fail("a control character in the "
					    "response header %.*s", (int)nlen,
					    line);
#define IS(name) (nlen == strlen(name) && strncasecmp(line, name, nlen) == 0)
			if (IS("Content-Length")) {
				if (have_cl)
					fail("two Content-Lengths in a "
					    "response");
				have_cl = true;
				cl = (size_t)strtoull(v, NULL, 10);
			} else if (IS("X-Taskcluster-Endpoint")) {
				x.endpoint = v;
				x.endpoint_len = vlen;
			} else if (IS("Location")) {
				x.location = v;
				x.location_len = vlen;
			} else if (IS("Connection"))
				x.close = vlen == 5 &&
				    strncasecmp(v, "close", 5) == 0;
			else if (IS("X-Taskcluster-Authorized-Scopes"))
				x.has_scopes = vlen == 2 &&
				    memcmp(v, "[]", 2) == 0;
#undef IS
			line = eol + 2;
		}
		if (!have_cl)
			fail("an answer without Content-Length (status %u)",
			    x.status);
		if (!x.has_scopes)
			fail("an answer (status %u) without the "
			    "X-Taskcluster-Authorized-Scopes header",
			    x.status);
		pos = (size_t)(end - out) + 4;
		rest = cv->len - pos;
		if (cl > 0 && (rest == 0 ||
		    starts(out + pos, rest, "HTTP/1.1 ")))
			x.body_left_out = true;	/* HEAD's */
		else if (rest < cl) {
			if (cv->reset)
				break;
			fail("a body cut short: %zu of %zu bytes", rest, cl);
		} else {
			x.body = out + pos;
			x.body_len = cl;
			pos += cl;
		}
		closed = x.close;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			r = grow(r, cap * sizeof(*r));
		}
		r[n++] = x;
	}
	*rp = r;
	return n;
}

/* --- the oracle --- */

static bool
body_error_answer(const struct resp *x)
{
	static const char *const texts[] = {
		"a chunk-size line longer than",
		"trailers larger than",
		"a chunked body's line must end in CRLF",
		"chunk data longer than its size",
		"a chunk size that is not a hexadecimal number",
	};

	if (x->status != 400 && x->status != 431)
		return false;
	if (x->body_left_out)
		return true;
	for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++)
		if (starts(x->body, x->body_len, texts[i]))
			return true;
	return false;
}

static bool
span_is(const char *p, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(p, s, len) == 0;
}

/* Is url one route_target() could make for the root URL, from what the
 * input holds? */
static void
check_url(const char *method, const char *url, const uint8_t *data,
    size_t size)
{
	const char *tail;

	if (method[0] == '\0')
		fail("a signature for an empty method");
	for (const char *q = method; *q != '\0'; q++)
		if (!tchar((unsigned char)*q))
			fail("a signature for a method that is not a token: "
			    "%s", method);
	if (memmem(data, size, method, strlen(method)) == NULL)
		fail("a signature for a method the task never sent: %s",
		    method);
	for (const char *q = url; *q != '\0'; q++)
		if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e)
			fail("a signed URL with a byte outside 0x21-0x7e: %s",
			    url);
	if (strncmp(url, https_prefix, strlen(https_prefix)) == 0) {
		tail = url + strlen(https_prefix);
		if (*tail != '\0' && memmem(data, size, tail,
		    strlen(tail)) == NULL)
			fail("a signed URL whose path is not the task's: %s",
			    url);
	} else if (strncmp(url, api_prefix, strlen(api_prefix)) == 0) {
		const char *svc = url + strlen(api_prefix);
		const char *s1 = strchr(svc, '/');
		const char *s2 = s1 != NULL ? strchr(s1 + 1, '/') : NULL;

		if (s2 == NULL)
			fail("a signed API URL without <service>/<version>/: "
			    "%s", url);
		tail = s2 + 1;
		if (memmem(data, size, svc, (size_t)(tail - svc)) == NULL ||
		    (*tail != '\0' && memmem(data, size, tail,
		    strlen(tail)) == NULL))
			fail("a signed URL whose path is not the task's: %s",
			    url);
	} else
		fail("a signed URL that is neither %s... nor %s...: %s",
		    api_prefix, https_prefix, url);
}

/*
 * Where in the input, after byte from, a well-formed head starts that
 * asks for method url: head_check() passes it (as the proxy reads it: at
 * most HEAD_BYTES + 1 bytes), it has no more than HEADERS fields, and
 * route_target() takes its target to url, by the root URL or to an
 * allowed host.  Its offset, or -1.  Heads are taken from the stream in
 * order, each once: the caller looks for the next signature's after
 * this one's.
 */
static long
head_for(const uint8_t *data, size_t size, size_t from, const char *method,
    const char *url)
{
	size_t mlen = strlen(method);

	for (size_t p = from; p + mlen < size; p++) {
		const char *at = (const char *)data + p, *q, *end;
		size_t avail = size - p, fields = 0;
		struct route r;
		struct head h;
		char *target;
		bool same;

		if (memcmp(at, method, mlen) != 0 || at[mlen] != ' ')
			continue;
		if (head_check(at, avail > HEAD_BYTES + 1 ? HEAD_BYTES + 1 :
		    avail, HEAD_BYTES, &h) != HEAD_OK)
			continue;
		end = at + h.len - 2;
		for (q = memmem(at, h.len, "\r\n", 2) + 2; q < end;
		    q = memmem(q, (size_t)(end + 2 - q), "\r\n", 2) + 2)
			fields++;
		if (fields > HEADERS)
			continue;
		target = xasprintf("%.*s", (int)h.target_len,
		    at + h.target_off);
		same = route_target(root_url, target, &r) == 0 &&
		    r.kind == ROUTE_FORWARD && strcmp(r.url, url) == 0 &&
		    (r.host == NULL || strcmp(r.host, allowed_host) == 0);
		route_free(&r);
		free(target);
		if (same)
			return (long)p;
	}
	return -1;
}

static size_t
complete_heads(const uint8_t *data, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i + 4 <= size; i++)
		if (memcmp(data + i, "\r\n\r\n", 4) == 0)
			n++;
	return n;
}

static void
check(const uint8_t *data, size_t size, const struct conv *cv,
    size_t at_hangup)
{
	struct resp *r = NULL;
	size_t nr = parse(cv, &r), heads = complete_heads(data, size);
	size_t ns, nb, nend = 0, nloc = 0, signed_ok;
	struct head h;
	enum head_verdict v = head_check((const char *)data, size,
	    HEAD_BYTES, &h);

	pthread_mutex_lock(&rec_lock);
	ns = nsigs;
	nb = nbews;
	pthread_mutex_unlock(&rec_lock);
	/* (b) */
	if (v != HEAD_OK && (ns > 0 || nb > 0))
		fail("%zu requests and %zu /bewit URLs signed, but the first "
		    "head is %s", ns, nb, v == HEAD_REFUSED ? h.why :
		    "incomplete");
	if (v == HEAD_REFUSED && !(nr == 0 && cv->reset) && (nr != 1 ||
	    (r[0].status != h.status && r[0].status != 408)))
		fail("a first head refused with %u (%s) was answered with %zu "
		    "responses, the first %u", h.status, h.why, nr,
		    nr > 0 ? r[0].status : 0);
	if (v == HEAD_INCOMPLETE && (nr > 1 || (nr == 1 &&
	    r[0].status != 408)))
		fail("an incomplete first head was answered with %zu "
		    "responses, the first %u", nr, r[0].status);
	/* (c) */
	if (ns + nb > heads)
		fail("%zu requests and %zu /bewit URLs signed for an input "
		    "with %zu complete heads", ns, nb, heads);
	if (nr > heads + 1)
		fail("%zu answers for an input with %zu complete heads", nr,
		    heads);
	if (ns > RECORDS || nb > RECORDS)
		fail("more than %u signatures", RECORDS);
	for (size_t i = 0, from = 0; i < ns; i++) {
		long at;

		check_url(sigs[i].method, sigs[i].url, data, size);
		if ((at = head_for(data, size, from, sigs[i].method,
		    sigs[i].url)) == -1)
			fail("signed %s %s (signature %zu), which no "
			    "well-formed head in the input asks for%s",
			    sigs[i].method, sigs[i].url, i, from > 0 ?
			    " after the one the signature before was for" :
			    "");
		from = (size_t)at + 1;
	}
	/* (e) the answers that name a signed request, in order */
	for (size_t i = 0; i < nr; i++) {
		const struct resp *x = &r[i];

		if (x->endpoint != NULL) {
			if (nend >= ns)
				fail("an answer names %.*s, which was never "
				    "signed", (int)x->endpoint_len,
				    x->endpoint);
			if (!span_is(x->endpoint, x->endpoint_len,
			    sigs[nend].url))
				fail("answer %zu names %.*s; signature %zu was "
				    "for %s", i, (int)x->endpoint_len,
				    x->endpoint, nend, sigs[nend].url);
			if (x->status != 500 || (!x->body_left_out &&
			    !starts(x->body, x->body_len,
			    "Failed during proxy request: ")))
				fail("the answer for %s %s, refused upstream, "
				    "is %u %.*s", sigs[nend].method,
				    sigs[nend].url, x->status,
				    (int)x->body_len, x->body);
			if (x->body_left_out &&
			    strcmp(sigs[nend].method, "HEAD") != 0)
				fail("the answer for %s %s has no body",
				    sigs[nend].method, sigs[nend].url);
			nend++;
		}
		if (x->status == 303) {
			/* the next /bewit that made a URL */
			while (nloc < nb && bews[nloc].url == NULL)
				nloc++;
			if (nloc >= nb || !span_is(x->location,
			    x->location_len, bews[nloc].url))
				fail("a 303 to %.*s that no /bewit made",
				    (int)x->location_len, x->location);
			nloc++;
		}
	}
	signed_ok = nend;
	st.inputs++;
	st.resets += cv->reset;
	st.signatures += ns;
	st.answered += nend;
	st.bewits += nb;
	st.abandoned += ns > at_hangup && nend < ns ? ns -
	    (nend > at_hangup ? nend : at_hangup) : 0;
	if (signed_ok < at_hangup && !cv->reset) {
		/* Only the last may have lost its answer to its body. */
		if (signed_ok + 1 == at_hangup && at_hangup == ns && nr > 0 &&
		    body_error_answer(&r[nr - 1])) {
			signed_ok++;
			st.body_errors++;
		} else
			fail("%s %s was signed before the task hung up, and "
			    "no answer named it (%zu signed, %zu before the "
			    "hang-up, %zu answers naming one)",
			    sigs[signed_ok].method, sigs[signed_ok].url, ns,
			    at_hangup, nend);
	}
	for (size_t i = nloc; i < nb && !cv->reset; i++)
		if (bews[i].url != NULL)
			fail("/bewit made %s, and no 303 gave it",
			    bews[i].url);
	free(r);
}

/* On a failure: what was signed, and what the proxy sent. */
static void
dump(void)
{
	if (last_conv == NULL)
		return;
	for (size_t i = 0; i < nsigs && i < RECORDS; i++)
		fprintf(stderr, "  signed %s %s\n", sigs[i].method,
		    sigs[i].url);
	for (size_t i = 0; i < nbews && i < RECORDS; i++)
		fprintf(stderr, "  /bewit made %s\n", bews[i].url != NULL ?
		    bews[i].url : "(nothing: refused)");
	fprintf(stderr, "  the proxy sent %zu bytes%s%s:\n%.*s\n",
	    last_conv->len, last_conv->eof ? ", then closed" : "",
	    last_conv->reset ? " (reset)" : "",
	    last_conv->len > 4000 ? 4000 : (int)last_conv->len,
	    last_conv->out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conv cv = { 0 };
	size_t at_hangup;

	pthread_mutex_lock(&rec_lock);
	nsigs = nbews = 0;
	pthread_mutex_unlock(&rec_lock);
	last_conv = &cv;
	converse(data, size, &cv, &at_hangup);
	check(data, size, &cv, at_hangup);
	pthread_mutex_lock(&rec_lock);
	for (size_t i = 0; i < nsigs && i < RECORDS; i++) {
		free(sigs[i].method);
		free(sigs[i].url);
	}
	for (size_t i = 0; i < nbews && i < RECORDS; i++)
		free(bews[i].url);
	nsigs = nbews = 0;
	pthread_mutex_unlock(&rec_lock);
	free(cv.out);
	last_conv = NULL;
	return 0;
}
