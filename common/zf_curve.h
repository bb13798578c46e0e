/* zf_curve.h: CURVE keys as clients and workers hold them: the broker's
 * public key and the peer's own keypair, read from czmq certificate files
 * (zcert format) or Z85 text, and applied to a socket before it connects;
 * and the roles a certificate's metadata gives its key.
 *
 * Invariant: a zf_curve_t that is enabled holds three valid Z85 keys, and
 * its secret key matches its public key. */
#ifndef ZF_CURVE_H
#define ZF_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include "zfarm_limits.h"

#define ZF_CURVE_KEY_TEXT 41    /* a Z85 key: 40 characters and a NUL */

/* Where the tools and the C API find keys when not told otherwise. */
#define ZF_CURVE_SERVER_KEY_ENV ZFARM_CURVE_SERVER_KEY_ENV
#define ZF_CURVE_CERT_ENV       ZFARM_CURVE_CERT_ENV

typedef struct {
    bool enabled;               /* false: plain (NULL mechanism) sockets */
    char server_key [ZF_CURVE_KEY_TEXT];    /* the broker's public key */
    char public_key [ZF_CURVE_KEY_TEXT];    /* ours */
    char secret_key [ZF_CURVE_KEY_TEXT];    /* ours; never logged */
} zf_curve_t;

/* True if text is a CURVE key in Z85: 40 characters that decode. */
bool
    zf_curve_key_is_valid (const char *text);

/* Reads a public key into z85 (ZF_CURVE_KEY_TEXT bytes) from key_or_path:
 * the path of a certificate file (public or secret: only its public key is
 * read), or else the key itself in Z85. Returns 0, or -1 with the reason
 * in error. */
int
    zf_curve_public_read (const char *key_or_path, char *z85,
                          char *error, size_t error_size);

/* Reads a keypair from the secret certificate at path ("NAME_secret", as
 * zcert_save_secret writes it; "NAME" also works when NAME_secret is beside
 * it). Checks that the secret key is there and matches the public key, and
 * warns (zsys) if the file is readable by group or others. Returns 0, or -1
 * with the reason in error. */
int
    zf_curve_keypair_read (const char *path, char *public_z85,
                           char *secret_z85, char *error, size_t error_size);

/* Fills self from the broker's key (a file or Z85, as zf_curve_public_read)
 * and the path of our secret certificate; both are needed. Returns 0 (self
 * enabled), or -1 with the reason in error (self untouched). */
int
    zf_curve_setup (zf_curve_t *self, const char *server_key,
                    const char *cert_path, char *error, size_t error_size);

/* As zf_curve_setup, from $ZFARM_CURVE_SERVER_KEY and $ZFARM_CURVE_CERT.
 * Returns 0 with self disabled if neither is set (or both are empty), 0
 * with self enabled, or -1 with the reason in error if one is missing or
 * either is bad. */
int
    zf_curve_setup_from_env (zf_curve_t *self, char *error,
                             size_t error_size);

/* Makes sock (a libzmq socket handle) a CURVE client with self's keys, if
 * self is enabled. Call before connecting: libzmq takes the options of a
 * connection when it is made. Returns 0, or -1 if libzmq refused a key. */
int
    zf_curve_apply (const zf_curve_t *self, void *sock);

/* Zeroes self, secret key included. */
void
    zf_curve_clear (zf_curve_t *self);

/* ---- roles: what a certificate's metadata lets its key do ---------------- */

#define ZF_ROLE_CLIENT 1        /* may SUBMIT, CANCEL, ask STATUS */
#define ZF_ROLE_WORKER 2        /* may send READY */
#define ZF_ROLE_BOTH   (ZF_ROLE_CLIENT | ZF_ROLE_WORKER)
#define ZF_ANY_SERVICE "*"      /* the services of an unlimited worker */

/* Roles from a role text ("client", "worker", "both"), or 0 if it is none
 * of them. */
int
    zf_roles_parse (const char *text);

/* "client", "worker", "both", or "none". */
const char *
    zf_roles_name (int roles);

/* True if text is a services list a certificate may carry: service names
 * separated by commas (so a name with a comma cannot be listed), or "*"
 * for any. */
bool
    zf_services_are_valid (const char *text);

/* True if services ("a,b", or "*") lets a worker offer service. NULL
 * allows nothing. */
bool
    zf_services_allow (const char *services, const char *service);

#endif
