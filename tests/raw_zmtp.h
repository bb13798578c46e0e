/* raw_zmtp.h: a ZMTP 3.0 DEALER written by hand, for tests that must send
 * what libzmq's own sockets would not, or must not rely on the library
 * under test to speak for them.
 *
 * It speaks the greeting, then the NULL mechanism's READY, or CurveZMQ's
 * HELLO, WELCOME, INITIATE (with the vouch) and READY (RFC 23, 25 and 26;
 * the boxes are libsodium's crypto_box), then frames; it answers the
 * peer's ZMTP PINGs. One blocking TCP connection per peer; every wait ends
 * by the caller's timeout. */
#ifndef RAW_ZMTP_H
#define RAW_ZMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAW_KEY_SIZE    32      /* a CURVE key, binary */
#define RAW_FRAMES_MAX  8       /* frames in one received message */
#define RAW_FRAME_MAX   (1 << 20)   /* bytes in one received frame */

/* The keys of a CURVE client: the server's public key, our keypair. */
typedef struct {
    uint8_t server_public [RAW_KEY_SIZE];
    uint8_t public [RAW_KEY_SIZE];
    uint8_t secret [RAW_KEY_SIZE];
} raw_curve_t;

/* One received message; raw_message_free frees its frames. */
typedef struct {
    size_t count;
    uint8_t *data [RAW_FRAMES_MAX];
    size_t size [RAW_FRAMES_MAX];
} raw_message_t;

typedef struct _raw_peer_t raw_peer_t;

/* Connects to endpoint (tcp://IPV4:PORT) as a DEALER that claims the
 * routing id of id_size bytes (0: claims none), over the NULL mechanism,
 * or over CURVE with curve's keys, and completes the handshake. Returns
 * the peer, or NULL with the reason in error if the connection or the
 * handshake failed or took more than timeout_ms. */
raw_peer_t *
    raw_peer_new (const char *endpoint, const raw_curve_t *curve,
                  const void *id, size_t id_size, int timeout_ms,
                  char *error, size_t error_size);

/* Closes the connection and frees the peer; accepts NULL. */
void
    raw_peer_destroy (raw_peer_t **self_p);

/* Sends one message of count frames. Returns 0, or -1 if the connection
 * broke. */
int
    raw_peer_send (raw_peer_t *self, const void *const data [],
                   const size_t size [], size_t count);

/* Receives one message into message (free it with raw_message_free),
 * answering ZMTP PINGs on the way. Returns 1, 0 if none began within
 * timeout_ms, or -1 if the connection closed or broke the protocol. */
int
    raw_peer_recv (raw_peer_t *self, raw_message_t *message, int timeout_ms);

void
    raw_message_free (raw_message_t *message);

#endif
