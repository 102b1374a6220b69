#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "edkey.h"

static int
decode32(const char *text, size_t len, unsigned char out[32])
{
	size_t n = 0;
	const char *end = NULL;

	/* Go's base64 decoder skips CR and LF anywhere; so do we. */
	if (sodium_base642bin(out, 32, text, len, "\r\n", &n, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != text + len ||
	    n != 32)
		return -1;
	return 0;
}

int
edkey_decode(const char *text, size_t len, unsigned char seed[32], char *err,
    size_t errlen)
{
	if (len > EDKEY_FILE_MAX) {
		snprintf(err, errlen, "holds %zu bytes; an ed25519 key file "
		    "holds the 44 base64 characters of a 32-byte seed", len);
		return -1;
	}
	if (decode32(text, len, seed) == -1) {
		sodium_memzero(seed, 32);
		snprintf(err, errlen, "is not standard base64 of a 32-byte "
		    "ed25519 seed (as `sepworker new-ed25519-keypair` and "
		    "generic-worker write)");
		return -1;
	}
	return 0;
}

void
edkey_encode(const unsigned char key[32], char out[EDKEY_B64_LEN + 1])
{
	sodium_bin2base64(out, EDKEY_B64_LEN + 1, key, 32,
	    sodium_base64_VARIANT_ORIGINAL);
}

int
edkey_public_decode(const char *text, size_t len, unsigned char pk[32])
{
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
	    text[len - 1] == ' '))
		len--;
	return decode32(text, len, pk);
}
