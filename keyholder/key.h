#ifndef SEPWORKER_KEYHOLDER_KEY_H
#define SEPWORKER_KEYHOLDER_KEY_H

#include <stdbool.h>
#include <stddef.h>

/* Load the key at path into guarded memory, or exit with
 * KEYHOLDER_EXIT_KEY after logging why.  Before the sandbox. */
void	key_load(const char *path);
bool	key_loaded(void);
const unsigned char *key_public(void);
/* Sign msg (pure Ed25519, over the whole buffer) into sig[64]. */
void	key_sign(unsigned char sig[64], const unsigned char *msg, size_t len);

#endif
