/* keystore.h: the public keys let in by --authorized-keys, each with the
 * role and services its certificate gives it, read from a directory of
 * czmq certificates and read again when the directory changes.
 *
 * Used by one thread, the ZAP handler's. Unlike czmq's zcertstore, which
 * reads the whole directory on every lookup, it compares the listing at
 * most every KEYSTORE_CHECK_MS (and the directory's mtime on a miss), so a
 * flood of handshakes costs hash lookups and a stat each. */
#ifndef KEYSTORE_H
#define KEYSTORE_H

#include <stddef.h>

#define KEYSTORE_CHECK_MS 250   /* a file changed in place is seen this soon */

typedef struct _keystore_t keystore_t;

typedef struct {
    int roles;                  /* ZF_ROLE_CLIENT | ZF_ROLE_WORKER */
    char *services;             /* what a worker may offer: "a,b" or "*" */
    char *file;                 /* the certificate's file name, for logs */
} key_entry_t;

/* Reads the certificates in dir. Files that are not public certificates
 * with a valid role are logged and skipped. Returns NULL if dir cannot be
 * read (logged). */
keystore_t *
    keystore_new (const char *dir);

void
    keystore_destroy (keystore_t **self_p);

/* The entry for a public key in Z85, or NULL if it is not allowed in.
 * Reads the directory again first if it has changed (see above). */
const key_entry_t *
    keystore_lookup (keystore_t *self, const char *key);

/* Reads dir now (SIGHUP; dir may be a new one). Returns 0, or -1 if dir
 * cannot be read, keeping the keys it had. */
int
    keystore_reload (keystore_t *self, const char *dir);

/* Keys allowed in. */
size_t
    keystore_size (keystore_t *self);

#endif
