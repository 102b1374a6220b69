/*
 * worker-runner's protocol, the worker's side (reference/worker-mode.md
 * §6.1): framing, the handshake, the runner's messages, ours.
 *
 * What the runner sends may hold credentials (new-credentials), so its
 * lines are read with read(2) into one buffer of our own, in locked
 * memory, wiped as each line is done with; never through stdio.  A line
 * that is not a protocol message is logged by its length alone, never
 * its contents (it could be a credential that lost its framing).  The
 * type of a message is found by a scan that copies nothing; only
 * messages that hold no secret are parsed (json-c): new-credentials is
 * passed to proxyd as it came.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/chan_proxyd.h"
#include "common/json.h"
#include "common/jsonscan.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/utf8.h"
#include "common/util.h"
#include "common/version.h"
#include "supervisor/exitcodes.h"
#include "supervisor/wrproto.h"

/* The longest line taken from the runner: a new-credentials with its
 * certificate is a few KiB. */
#define WR_LINE_MAX	(PX_NEW_CREDS_MAX + 16)
/* The last error logged, for error-report. */
#define WR_LAST_ERROR	1024

static const struct {
	const char	*name;
	unsigned	 bit;
} caps[] = {	/* sorted, as Go marshals the hello */
	{ "error-report", WR_CAP_ERROR_REPORT },
	{ "graceful-termination", WR_CAP_GRACEFUL },
	{ "log", WR_CAP_LOG },
	{ "new-credentials", WR_CAP_NEW_CREDENTIALS },
	{ "shutdown", WR_CAP_SHUTDOWN },
};

static struct {
	bool			 active;
	bool			 welcomed;
	unsigned		 caps;		/* both sides' */
	int			 in;		/* the runner's lines */
	int			 out;		/* ours */
	char			*buf;		/* WR_LINE_MAX bytes */
	size_t			 len;
	bool			 overlong;	/* skipping to a '\n' */
	bool			 reported;	/* error-report sent */
	struct supervisor	*s;		/* attached */
	char			 last_error[WR_LAST_ERROR];
} wr = { .in = -1, .out = -1 };

bool
wrproto_active(void)
{
	return wr.active;
}

bool
wrproto_capable(unsigned cap)
{
	return wr.active && (wr.caps & cap) == cap;
}

/* --- writing --- */

static bool
send_line(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(wr.out, line, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		line += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * s[0..len) as the body of a JSON string, into out (6 * len + 1 bytes):
 * any bytes at all come out as one line of valid JSON.  Control
 * characters, '"', '\\' and the line separators U+2028/U+2029 are
 * escaped; bytes that are not UTF-8 become U+FFFD.
 */
static size_t
json_escape(char *out, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i = 0, n;
	unsigned cp;

	while (i < len) {
		unsigned c = s[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 0xf];
			o += 6;
			i++;
		} else if (c < 0x80) {
			out[o++] = (char)c;
			i++;
		} else if ((n = utf8_sequence(s + i, len - i, &cp)) == 0) {
			memcpy(out + o, "\\ufffd", 6);
			o += 6;
			i++;
		} else if (cp == 0x2028 || cp == 0x2029) {
			memcpy(out + o, cp == 0x2028 ? "\\u2028" : "\\u2029",
			    6);
			o += 6;
			i += n;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
	}
	out[o] = '\0';
	return o;
}

/* Every log line, when the runner takes them: ~{"body":{"textPayload":
 * "<line>"},"type":"log"}. */
static bool
log_to_runner(enum log_level level, const char *line, size_t len)
{
	static const char head[] = "~{\"body\":{\"textPayload\":\"";
	static const char tail[] = "\"},\"type\":\"log\"}\n";
	char *msg;
	size_t o;
	bool sent;

	/* error-report's description: the message, without its '\n'. */
	if (level == LOG_LVL_ERROR)
		snprintf(wr.last_error, sizeof(wr.last_error), "%.*s",
		    (int)(len > 0 && line[len - 1] == '\n' ? len - 1 : len),
		    line);
	if (!wrproto_capable(WR_CAP_LOG))
		return false;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	msg = malloc(sizeof(head) + 6 * len + sizeof(tail));
	if (msg == NULL)
		return false;
	memcpy(msg, head, sizeof(head) - 1);
	o = sizeof(head) - 1;
	o += json_escape(msg + o, line, len);
	memcpy(msg + o, tail, sizeof(tail) - 1);
	o += sizeof(tail) - 1;
	sent = send_line(msg, o);
	free(msg);
	return sent;
}

static void
send_hello(void)
{
	char line[256] = "~{\"capabilities\":[";
	size_t n;

	for (size_t i = 0; i < nitems(caps); i++) {
		n = strlen(line);
		snprintf(line + n, sizeof(line) - n, "%s\"%s\"", i ? "," : "",
		    caps[i].name);
	}
	n = strlen(line);
	snprintf(line + n, sizeof(line) - n, "],\"type\":\"hello\"}\n");
	(void)send_line(line, strlen(line));
}

bool
wrproto_shutdown(void)
{
	static const char line[] = "~{\"type\":\"shutdown\"}\n";

	if (!wrproto_capable(WR_CAP_SHUTDOWN))
		return false;
	return send_line(line, sizeof(line) - 1);
}

/*
 * {"description", "extra": {strings}, "kind": "worker-error", "title",
 * "type": "error-report"}: worker-runner wants all four with those types
 * (errorreport.go).  Keys sorted.
 */
void
wrproto_error_report(int exit_code)
{
	struct json_object *o, *extra;
	char desc[WR_LAST_ERROR + 64], code[16], *line;
	const char *text;
	size_t len;

	/* Not an error: the ways a worker is meant to stop. */
	if (exit_code == EXIT_OK || exit_code == EXIT_IDLE_TIMEOUT ||
	    exit_code == EXIT_WM_SHUTDOWN || exit_code == EXIT_WORKER_STOPPED ||
	    exit_code == EXIT_WORKER_SHUTDOWN)
		return;
	if (!wrproto_capable(WR_CAP_ERROR_REPORT) || wr.reported)
		return;
	wr.reported = true;
	snprintf(desc, sizeof(desc), "%s, exit code: %d", wr.last_error[0] ?
	    wr.last_error : "sepworker stopped", exit_code);
	snprintf(code, sizeof(code), "%d", exit_code);
	o = json_object_new_object();
	extra = json_object_new_object();
	json_object_object_add(extra, "exitCode", json_object_new_string(code));
	json_object_object_add(extra, "version",
	    json_object_new_string(SEPWORKER_VERSION));
	json_object_object_add(o, "description", json_object_new_string(desc));
	json_object_object_add(o, "extra", extra);
	json_object_object_add(o, "kind",
	    json_object_new_string("worker-error"));
	json_object_object_add(o, "title",
	    json_object_new_string("sepworker error"));
	json_object_object_add(o, "type",
	    json_object_new_string("error-report"));
	/* json-c escapes control characters and '/' is left alone: one
	 * line, whatever the description holds. */
	text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	line = xasprintf("~%s\n", text);
	(void)send_line(line, len + 2);
	free(line);
	json_object_put(o);
}

/* --- reading --- */

static size_t
skip_ws(const char *p, size_t i, size_t len)
{
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' ||
	    p[i] == '\r'))
		i++;
	return i;
}

/* Past the string starting at p[i] ('"'). */
static size_t
skip_string(const char *p, size_t i, size_t len)
{
	for (i++; i < len && p[i] != '"'; i++)
		if (p[i] == '\\')
			i++;
	return i + 1;
}

/* Past the value starting at p[i]; p is valid JSON (jsonscan). */
static size_t
skip_value(const char *p, size_t i, size_t len)
{
	int depth = 0;

	do {
		if (p[i] == '"') {
			i = skip_string(p, i, len);
			continue;
		}
		if (p[i] == '{' || p[i] == '[')
			depth++;
		else if (p[i] == '}' || p[i] == ']')
			depth--;
		else if (depth == 0) {
			/* a number or a literal */
			while (i < len && p[i] != '\0' &&
			    strchr(",}] \t\r\n", p[i]) == NULL)
				i++;
			return i;
		}
		i++;
	} while (depth > 0 && i < len);
	return i;
}

/*
 * The "type" of the message p[0..len) into type (at most size - 1
 * bytes, no escapes), copying nothing else: the other members are
 * skipped unread.  false if p is not a JSON object with a plain string
 * "type".
 */
static bool
message_type(const char *p, size_t len, char *type, size_t size)
{
	static const struct jsonscan_opts opts = { .max_depth = 8,
	    .require_object = true, .reject_duplicate_keys = true,
	    .reject_nul_in_keys = true };
	char err[128];
	size_t i, k, kend;

	if (jsonscan_validate(p, len, &opts, err, sizeof(err)) == -1)
		return false;
	i = skip_ws(p, 0, len) + 1;		/* past '{' */
	for (;;) {
		i = skip_ws(p, i, len);
		if (i >= len || p[i] != '"')
			return false;		/* '}': no type */
		k = i;
		kend = skip_string(p, i, len);
		i = skip_ws(p, kend, len);
		if (i >= len || p[i] != ':')
			return false;
		i = skip_ws(p, i + 1, len);
		if (kend - k == 6 && memcmp(p + k, "\"type\"", 6) == 0) {
			size_t end;

			if (p[i] != '"')
				return false;
			end = skip_string(p, i, len) - 1;
			if (end - i - 1 >= size ||
			    memchr(p + i + 1, '\\', end - i - 1) != NULL)
				return false;
			memcpy(type, p + i + 1, end - i - 1);
			type[end - i - 1] = '\0';
			return true;
		}
		i = skip_ws(p, skip_value(p, i, len), len);
		if (i >= len || p[i] != ',')
			return false;
		i++;
	}
}

/* welcome: {"capabilities": [names]}; ours that it lists are usable. */
static void
on_welcome(struct json_object *o)
{
	struct json_object *list, *v;

	if (wr.welcomed) {
		log_warnx("worker-runner: a second welcome, ignored");
		return;
	}
	wr.welcomed = true;
	if (json_object_object_get_ex(o, "capabilities", &list) &&
	    json_object_is_type(list, json_type_array))
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			v = json_object_array_get_idx(list, i);
			if (!json_object_is_type(v, json_type_string))
				continue;
			for (size_t j = 0; j < nitems(caps); j++)
				if (strcmp(json_object_get_string(v),
				    caps[j].name) == 0)
					wr.caps |= caps[j].bit;
		}
	send_hello();
}

static void
on_graceful(struct json_object *o)
{
	struct json_object *v;
	bool finish;

	if (!wrproto_capable(WR_CAP_GRACEFUL)) {
		log_warnx("worker-runner: graceful-termination without the "
		    "capability, ignored");
		return;
	}
	if (!json_object_object_get_ex(o, "finish-tasks", &v) ||
	    !json_object_is_type(v, json_type_boolean)) {
		log_warnx("worker-runner: graceful-termination without a "
		    "boolean finish-tasks, ignored");
		return;
	}
	finish = json_object_get_boolean(v);
	supervisor_terminate(wr.s, !finish, EXIT_WORKER_SHUTDOWN, finish ?
	    "worker-runner asked for graceful termination, finishing tasks" :
	    "worker-runner asked for graceful termination, without time to "
	    "finish tasks");
}

/* Passed to proxyd as it came; the caller wipes the line. */
static void
on_new_credentials(const char *json, size_t len)
{
	if (!wrproto_capable(WR_CAP_NEW_CREDENTIALS)) {
		log_warnx("worker-runner: new-credentials without the "
		    "capability, ignored");
		return;
	}
	if (len > PX_NEW_CREDS_MAX) {
		log_errorx("worker-runner: new-credentials of %zu bytes, more "
		    "than the %u proxyd takes; the worker keeps its "
		    "credentials", len, PX_NEW_CREDS_MAX);
		return;
	}
	if (supervisor_proxyd_post(wr.s, PX_NEW_CREDENTIALS, json, len,
	    "worker-runner's new credentials") == 0)
		log_info("worker-runner sent new credentials: passed to proxyd "
		    "and wiped here");
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One line from the runner, without its '\n'. */
static void
take_line(char *line, size_t len)
{
	struct json_object *o;
	char type[64], err[128];
	const char *p = line;

	while (len > 0 && is_blank(p[len - 1]))
		len--;
	while (len > 0 && is_blank(*p)) {
		p++;
		len--;
	}
	if (len < 3 || p[0] != '~' || p[1] != '{' || p[len - 1] != '}' ||
	    !message_type(p + 1, len - 1, type, sizeof(type))) {
		log_warnx("worker-runner sent a line of %zu bytes that is not "
		    "a protocol message; ignored (its contents are not "
		    "logged: it could hold a credential)", len);
		return;
	}
	if (strcmp(type, "new-credentials") == 0) {
		if (wr.s != NULL)
			on_new_credentials(p + 1, len - 1);
		return;
	}
	if (strcmp(type, "welcome") != 0 &&
	    strcmp(type, "graceful-termination") != 0) {
		log_info("worker-runner sent a %s message, which sepworker "
		    "does not take; ignored", type);
		return;
	}
	if ((o = json_parse_strict(p + 1, len - 1, WR_LINE_MAX, 8, err,
	    sizeof(err))) == NULL)
		return;
	if (strcmp(type, "welcome") == 0)
		on_welcome(o);
	else if (wr.s != NULL)
		on_graceful(o);
	json_object_put(o);
}

/*
 * Complete lines in the buffer, each wiped once handled; the rest moved
 * to the front.  Stops after a welcome while none is attached (the
 * handshake), so later lines wait for the supervisor.
 */
static void
take_lines(void)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(wr.buf + start, '\n', wr.len - start)) != NULL) {
		size_t n = (size_t)(nl - (wr.buf + start));

		if (wr.overlong)
			wr.overlong = false;
		else
			take_line(wr.buf + start, n);
		sodium_memzero(wr.buf + start, n + 1);
		start += n + 1;
		if (wr.s == NULL && wr.welcomed)
			break;
	}
	if (start > 0) {
		memmove(wr.buf, wr.buf + start, wr.len - start);
		sodium_memzero(wr.buf + wr.len - start, start);
		wr.len -= start;
	}
	if (wr.len == WR_LINE_MAX) {
		if (!wr.overlong)
			log_warnx("worker-runner sent a line longer than %u "
			    "bytes; ignored", WR_LINE_MAX);
		wr.overlong = true;
		sodium_memzero(wr.buf, wr.len);
		wr.len = 0;
	}
}

/* One read: 1 bytes came, 0 end of input, -1 nothing yet. */
static int
read_some(void)
{
	ssize_t n = read(wr.in, wr.buf + wr.len, WR_LINE_MAX - wr.len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0)
		return 0;
	wr.len += (size_t)n;
	return 1;
}

static void
on_input(struct supervisor *s)
{
	if (read_some() == 0) {
		s->input_fd = -1;
		if (!s->term_requested || !s->term_abort)
			supervisor_terminate(s, true, EXIT_WORKER_SHUTDOWN,
			    "worker-runner closed the worker's stdin (it is "
			    "gone)");
	}
	take_lines();
}

void
wrproto_attach(struct supervisor *s)
{
	if (!wr.active)
		return;
	wr.s = s;
	s->input_fd = wr.in;
	s->on_input = on_input;
	take_lines();
}

void
wrproto_detach(struct supervisor *s)
{
	if (wr.s == s) {
		wr.s = NULL;
		s->input_fd = -1;
	}
}

/* A private copy of fd, and fd itself on /dev/null. */
static int
take_fd(int fd, int flags)
{
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3), null;

	if (copy == -1)
		return -1;
	if ((null = open("/dev/null", flags)) == -1 || dup2(null, fd) == -1) {
		close(copy);
		return -1;
	}
	close(null);
	return copy;
}

int
wrproto_start(unsigned timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = now_ms() + timeout_ms;
	int rc;

	/* The runner gone must not kill us mid-write. */
	signal(SIGPIPE, SIG_IGN);
	if ((wr.in = take_fd(0, O_RDONLY)) == -1 ||
	    (wr.out = take_fd(1, O_WRONLY)) == -1) {
		snprintf(err, errlen, "stdin and stdout: %s", strerror(errno));
		return -1;
	}
	fcntl(wr.in, F_SETFL, O_NONBLOCK);
	wr.buf = secmem_alloc(WR_LINE_MAX);
	wr.active = true;
	log_set_sink(log_to_runner);
	while (!wr.welcomed) {
		struct pollfd pfd = { .fd = wr.in, .events = POLLIN };
		uint64_t now = now_ms();

		if (now >= deadline) {
			snprintf(err, errlen, "worker-runner sent no welcome "
			    "within %u ms", timeout_ms);
			return -1;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		if ((rc = read_some()) == 0) {
			snprintf(err, errlen, "worker-runner closed stdin "
			    "before its welcome");
			return -1;
		}
		take_lines();
	}
	log_info("worker-runner protocol: capabilities in use:%s%s%s%s%s",
	    wr.caps & WR_CAP_ERROR_REPORT ? " error-report" : "",
	    wr.caps & WR_CAP_GRACEFUL ? " graceful-termination" : "",
	    wr.caps & WR_CAP_LOG ? " log" : "",
	    wr.caps & WR_CAP_NEW_CREDENTIALS ? " new-credentials" : "",
	    wr.caps & WR_CAP_SHUTDOWN ? " shutdown" : "");
	return 0;
}
