/* generic-worker's ed25519 key file format, pinned to vectors.json. */
#include <sodium.h>
#include <string.h>

#include "tests/testutil.h"

#include "common/edkey.h"

/* vectors.json, "ed25519_key_file" */
#define VECTOR_FILE	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define VECTOR_PUBLIC	"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="

static void
public_of(const unsigned char seed[32], char out[EDKEY_B64_LEN + 1])
{
	unsigned char pk[32], sk[64];

	crypto_sign_seed_keypair(pk, sk, seed);
	edkey_encode(pk, out);
}

static void
test_vector(void **state)
{
	unsigned char seed[32], want[32];
	char err[256], pub[EDKEY_B64_LEN + 1], again[EDKEY_B64_LEN + 1];

	(void)state;
	for (int i = 0; i < 32; i++)
		want[i] = (unsigned char)i;
	assert_int_equal(edkey_decode(VECTOR_FILE, strlen(VECTOR_FILE), seed,
	    err, sizeof(err)), 0);
	assert_memory_equal(seed, want, 32);
	public_of(seed, pub);
	assert_string_equal(pub, VECTOR_PUBLIC);
	edkey_encode(seed, again);
	assert_string_equal(again, VECTOR_FILE);
}

static void
test_trailing_newlines_tolerated(void **state)
{
	unsigned char seed[32];
	char err[256];

	(void)state;
	/* Go's decoder skips CR and LF: keys written by editors still load. */
	assert_int_equal(edkey_decode(VECTOR_FILE "\n", 45, seed, err,
	    sizeof(err)), 0);
	assert_int_equal(edkey_decode(VECTOR_FILE "\r\n", 46, seed, err,
	    sizeof(err)), 0);
}

static void
test_malformed_refused_without_echo(void **state)
{
	static const char *const bad[] = {
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",	/* no pad */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=A",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==", /* 34 */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",	/* short */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8-",	/* url */
		"not a key at all, no",
		"",
	};
	unsigned char seed[32];
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(seed, 0xaa, sizeof(seed));
		assert_int_equal(edkey_decode(bad[i], strlen(bad[i]), seed, err,
		    sizeof(err)), -1);
		/* The message says what is wrong, never what was there. */
		if (*bad[i])
			assert_null(strstr(err, bad[i]));
		assert_non_null(strstr(err, "32-byte"));
		for (int k = 0; k < 32; k++)
			assert_true(seed[k] == 0 || seed[k] == 0xaa);
	}
}

static void
test_oversized_refused(void **state)
{
	char big[EDKEY_FILE_MAX + 2];
	unsigned char seed[32];
	char err[256];

	(void)state;
	memset(big, 'A', sizeof(big));
	assert_int_equal(edkey_decode(big, sizeof(big), seed, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "holds 66 bytes"));
}

static void
test_public_key_decode(void **state)
{
	unsigned char pk[32], seed[32], sk[64], want[32];
	char err[64];

	(void)state;
	assert_int_equal(edkey_decode(VECTOR_FILE, 44, seed, err,
	    sizeof(err)), 0);
	crypto_sign_seed_keypair(want, sk, seed);
	assert_int_equal(edkey_public_decode(VECTOR_PUBLIC "\n", 45, pk), 0);
	assert_memory_equal(pk, want, 32);
	assert_int_equal(edkey_public_decode("A6EHv", 5, pk), -1);
}

static int
setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_trailing_newlines_tolerated),
		cmocka_unit_test(test_malformed_refused_without_echo),
		cmocka_unit_test(test_oversized_refused),
		cmocka_unit_test(test_public_key_decode),
	};

	return cmocka_run_group_tests_name("edkey", tests, setup, NULL);
}
