/*
 * The key, in one place.  It is read with open/read straight into locked
 * memory (no stdio buffer ever holds it), decoded, expanded, and every
 * intermediate buffer wiped.  The expanded secret key lives in a guarded
 * sodium allocation that is PROT_NONE except while a signature is made.
 */
#include <sodium.h>
#include <stdlib.h>

#include "common/chan_keyholder.h"
#include "common/edkey.h"
#include "common/log.h"
#include "common/secmem.h"
#include "keyholder/key.h"

static unsigned char	*secret;		/* EDKEY_SECRET_BYTES, guarded */
static unsigned char	 public[EDKEY_PUBLIC_BYTES];

void
key_load(const char *path)
{
	unsigned char *seed = secmem_alloc(EDKEY_SEED_BYTES);
	char err[256], *text;
	size_t len;

	text = secmem_read_file(path, EDKEY_FILE_MAX, &len, err, sizeof(err));
	if (text == NULL) {
		log_errorx("ed25519 signing key %s", err);
		exit(KEYHOLDER_EXIT_KEY);
	}
	if (edkey_decode(text, len, seed, err, sizeof(err)) == -1) {
		secmem_free(text);
		log_errorx("ed25519 signing key %s %s", path, err);
		exit(KEYHOLDER_EXIT_KEY);
	}
	secmem_free(text);
	secret = secmem_alloc(EDKEY_SECRET_BYTES);
	crypto_sign_seed_keypair(public, secret, seed);
	secmem_free(seed);
	if (sodium_mprotect_noaccess(secret) != 0)
		fatal("sodium_mprotect_noaccess");
}

bool
key_loaded(void)
{
	return secret != NULL;
}

const unsigned char *
key_public(void)
{
	return public;
}

void
key_sign(unsigned char sig[64], const unsigned char *msg, size_t len)
{
	/* crypto_sign_detached over the whole buffer: pure Ed25519, what
	 * every verifier checks (crypto_sign_init/update/final would make
	 * Ed25519ph, which no chain-of-trust verifier accepts). */
	if (sodium_mprotect_readonly(secret) != 0)
		fatal("sodium_mprotect_readonly");
	crypto_sign_detached(sig, NULL, msg, len, secret);
	if (sodium_mprotect_noaccess(secret) != 0)
		fatal("sodium_mprotect_noaccess");
}
