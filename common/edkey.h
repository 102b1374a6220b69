/*
 * generic-worker's ed25519 key file: standard padded base64 of the
 * 32-byte seed (44 characters; a trailing newline is tolerated, as Go's
 * decoder skips it).  Public keys are printed the same way.
 */
#ifndef SEPWORKER_EDKEY_H
#define SEPWORKER_EDKEY_H

#include <stddef.h>

#define EDKEY_SEED_BYTES	32
#define EDKEY_PUBLIC_BYTES	32
#define EDKEY_SECRET_BYTES	64	/* seed || public key, libsodium's */
#define EDKEY_B64_LEN		44	/* without the NUL */
/* A key file holds at most this much (base64, CR/LF, nothing else). */
#define EDKEY_FILE_MAX		64

/*
 * Decode a key file's contents into seed.  -1 with err saying what is
 * wrong (never echoing the contents): not base64, or not 32 bytes.
 */
int	edkey_decode(const char *text, size_t len,
	    unsigned char seed[EDKEY_SEED_BYTES], char *err, size_t errlen);
/* Standard padded base64 of 32 bytes into out (EDKEY_B64_LEN + 1). */
void	edkey_encode(const unsigned char key[32], char out[EDKEY_B64_LEN + 1]);
/* Decode a base64 public key (as printed); -1 if it is not one. */
int	edkey_public_decode(const char *text, size_t len,
	    unsigned char pk[EDKEY_PUBLIC_BYTES]);

#endif
