/* zap.h: the broker's ZAP handler (RFC 27), a czmq actor bound at
 * inproc://zeromq.zap.01, which libzmq asks about every CURVE handshake
 * on the broker's network endpoints.
 *
 * It lets in a key found in the keystore, answering 200 with User-Id =
 * the key in Z85 and the certificate's role and services as metadata; it
 * refuses any other key (400), and anything but CURVE. Refusals are
 * logged with the peer's address and key, at most one line a second with
 * a count of the rest and the address most of them came from, so that a
 * flood of bad handshakes costs a hash lookup each. */
#ifndef ZAP_H
#define ZAP_H

#include <czmq.h>

#define ZAP_DOMAIN      "zfarm"     /* set on the broker's secure endpoints */
#define ZAP_LOG_MS      1000        /* at most one refusal line this often */
#define ZAP_ADDRESSES   1024        /* addresses counted per log interval */

/* Starts the handler with the certificates in dir. Returns once it is
 * bound and has read dir, or NULL if either failed (logged). Bind the
 * secure endpoints only after this: libzmq lets every key in when no
 * handler is bound. */
zactor_t *
    zap_new (const char *dir);

/* Reads the certificates again, from dir (SIGHUP). Returns 0, or -1 if
 * dir cannot be read; the handler then keeps the keys it had. */
int
    zap_reload (zactor_t *self, const char *dir);

#endif
