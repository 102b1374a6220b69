/*
 * keyholder: holds the ed25519 signing key and does nothing but sign.
 *
 * It is started by the supervisor, reads its key, locks itself down
 * (common/sandbox.h) and then serves its channel
 * (common/chan_keyholder.h): the public key, and one signature per task
 * the supervisor announces, over a chain-of-trust document in a sealed
 * memfd.  Anything else is refused.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chan_keyholder.h"
#include "common/child.h"
#include "common/log.h"
#include "common/memfd.h"
#include "common/util.h"
#include "keyholder/key.h"
#include "keyholder/keyholder.h"
#include "keyholder/sign.h"

static struct ipc_conn	conn;
static uint32_t		state = CHILD_ST_SERVING;
static const char	*key_path;

/* The one task a signature may be made for, and whether it was. */
static char		announced_id[KH_TASK_ID_MAX + 1];
static uint32_t		announced_run;
static bool		announced, signed_once;

/*
 * The runs signed so far, most recent last: announcing a run again does
 * not buy a second signature for it.  A worker signs one document per
 * run, so a few hundred remembered runs outlast any plausible replay.
 */
#define SIGNED_HISTORY	256
static struct {
	char		id[KH_TASK_ID_MAX + 1];
	uint32_t	run;
} signed_runs[SIGNED_HISTORY];
static size_t		signed_next, signed_count;

static bool
was_signed(const char *id, uint32_t run)
{
	for (size_t i = 0; i < signed_count; i++)
		if (signed_runs[i].run == run &&
		    strcmp(signed_runs[i].id, id) == 0)
			return true;
	return false;
}

static void
remember_signed(const char *id, uint32_t run)
{
	/* id is announced_id, which on_announce bounded. */
	memcpy(signed_runs[signed_next].id, id, strlen(id) + 1);
	signed_runs[signed_next].run = run;
	signed_next = (signed_next + 1) % SIGNED_HISTORY;
	if (signed_count < SIGNED_HISTORY)
		signed_count++;
}

static int
refuse(uint32_t id, const char *why)
{
	uint8_t buf[4 + KH_REASON_MAX];
	struct ipc_writer w;

	log_warnx("refused: %s", why);
	ipc_writer_init(&w, buf, sizeof(buf));
	ipc_put_str(&w, why, strnlen(why, KH_REASON_MAX));
	if (ipc_send(&conn, KH_REFUSED, id, w.buf, w.len, -1) == -1)
		fatal("sending REFUSED");
	return 0;
}

static int
on_pubkey_req(void *ctx, struct ipc_msg *m)
{
	(void)ctx;
	if (!key_loaded())
		return refuse(m->hdr.id, "no signing key is configured");
	if (ipc_send(&conn, KH_PUBKEY, m->hdr.id, key_public(), 32, -1) == -1)
		fatal("sending PUBKEY");
	return 0;
}

static int
on_announce(void *ctx, struct ipc_msg *m)
{
	struct ipc_reader r;
	const char *id;
	size_t len;

	(void)ctx;
	ipc_reader_init(&r, m);
	announced_run = ipc_get_u32(&r);
	id = ipc_get_str(&r, KH_TASK_ID_MAX, &len);
	if (!ipc_get_end(&r) || len == 0)
		return -1;
	memcpy(announced_id, id, len);
	announced_id[len] = '\0';
	announced = true;
	signed_once = was_signed(announced_id, announced_run);
	return 0;
}

static int
on_sign_req(void *ctx, struct ipc_msg *m)
{
	unsigned char out[64 + 32], *doc;
	char err[160], hex[65];
	const char *why;
	size_t size;

	(void)ctx;
	if (!key_loaded())
		return refuse(m->hdr.id, "no signing key is configured");
	if (!announced)
		return refuse(m->hdr.id, "no task was announced");
	if (signed_once)
		return refuse(m->hdr.id, "this task's document was already "
		    "signed");
	if (memfd_check_sealed(m->fd, KH_DOCUMENT_MAX, &size, err,
	    sizeof(err)) == -1)
		return refuse(m->hdr.id, err);
	doc = xmalloc(size);
	if (memfd_read(m->fd, doc, size) == -1) {
		free(doc);
		return refuse(m->hdr.id, "the document could not be read");
	}
	if ((why = cot_document_problem((const char *)doc, size, announced_id,
	    announced_run)) != NULL) {
		free(doc);
		snprintf(err, sizeof(err), "not a chain-of-trust document: %s",
		    why);
		return refuse(m->hdr.id, err);
	}
	key_sign(out, doc, size);
	crypto_hash_sha256(out + 64, doc, size);
	free(doc);
	signed_once = true;
	remember_signed(announced_id, announced_run);
	sodium_bin2hex(hex, sizeof(hex), out + 64, 32);
	log_info("signed the chain-of-trust document of task %s run %u: "
	    "%zu bytes, sha256 %s", announced_id, announced_run, size, hex);
	if (ipc_send(&conn, KH_SIGNATURE, m->hdr.id, out, sizeof(out), -1) ==
	    -1)
		fatal("sending SIGNATURE");
	return 0;
}

static const struct ipc_handler handlers[] = {
	{ KH_PUBKEY_REQ, CHILD_ST_SERVING, on_pubkey_req },
	{ KH_ANNOUNCE, CHILD_ST_SERVING, on_announce },
	{ KH_SIGN_REQ, CHILD_ST_SERVING, on_sign_req },
};

static int
role_opt(const char *opt, const char *val, void *arg)
{
	(void)arg;
	if (strcmp(opt, "--key-file") != 0 || *val != '/')
		return -1;
	key_path = val;
	return 0;
}

int
main(int argc, char **argv)
{
	struct child_args args;

	sandbox_early(true);
	child_start(argc, argv, "keyholder", role_opt, NULL, &args);
	/* libsodium reads its state and CPU features once: before the
	 * sandbox, while that is still allowed. */
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	/* The key, as root (it may be root's alone), before anything else
	 * can happen, and before the uid drop. */
	if (key_path != NULL)
		key_load(key_path);
	child_lockdown(&keyholder_policy, &args);
	ipc_conn_init(&conn, CHILD_CONTROL_FD, &keyholder_channel,
	    IPC_TO_CHILD);
	child_serve(&conn, handlers, nitems(handlers), &state, NULL);
}
