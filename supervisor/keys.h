#ifndef SEPWORKER_KEYS_H
#define SEPWORKER_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "supervisor/config.h"

/* `new-ed25519-keypair --file PATH`: a fresh seed to PATH (0600, never
 * over an existing file), the public key on stdout.  Exit status. */
int	keys_new_keypair(const char *path);
/* `show-public-key --file PATH`.  Exit status (82 if unreadable). */
int	keys_show_public(const char *path);

/*
 * Where a secret file (the signing key, a config with credentials) must
 * not be: NULL if path is fine, else a message saying what is wrong and
 * how to fix it.  A regular file owned by root or owner_ok, no group or
 * other bits, outside every tree tasks may read, and below directories
 * only root can write.
 */
const char *secret_file_problem(const struct sw_config *cfg, const char *path,
	    uint32_t owner_ok, char *buf, size_t len);

#endif
