/* raw_zmtp.c: ZMTP 3.0 and CurveZMQ by hand, over a plain TCP socket.
 *
 * A frame is a flags byte (1 MORE, 2 LONG, 4 COMMAND), its size (one byte,
 * or eight big-endian ones with LONG) and its body. Under CURVE, every
 * frame after the handshake is sent as libzmq sends it: a plain frame
 * whose body is a MESSAGE command, "\x07MESSAGE", a short nonce, and a box
 * of one flags byte (1 MORE, 2 COMMAND) and the data. Our short nonces
 * count from 1 (HELLO) and never repeat, as the server requires. */
#include "raw_zmtp.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLAG_MORE          1
#define FLAG_LONG          2
#define FLAG_COMMAND       4
#define BOX_MORE           1    /* in a CURVE MESSAGE's flags byte */
#define BOX_COMMAND        2
#define GREETING_SIZE      64
#define METADATA_MAX       512  /* our two properties, the id at most 255 */
#define FRAME_PATIENCE_MS  5000 /* for the rest of a frame once it began */

struct _raw_peer_t {
    int fd;
    bool curve;                 /* frames after the handshake are boxed */
    uint8_t precomputed [crypto_box_BEFORENMBYTES];     /* S' and c' */
    uint64_t nonce;             /* our next short nonce */
};

static void
s_error (char *error, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (error, size, format, args);
    va_end (args);
}

static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void
s_put_u64 (uint8_t *at, uint64_t value)
{
    for (int i = 7; i >= 0; i--, value >>= 8)
        at [i] = (uint8_t) value;
}

static uint64_t
s_get_u64 (const uint8_t *at)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | at [i];
    return value;
}

/* ---- bytes and frames ---------------------------------------------------- */

static int
s_write (int fd, const void *data, size_t size)
{
    const uint8_t *at = data;
    while (size) {
        ssize_t rc = send (fd, at, size, MSG_NOSIGNAL);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        at += rc;
        size -= (size_t) rc;
    }
    return 0;
}

/* Reads exactly size bytes by deadline. Returns 0, or -1 on a timeout, an
 * error or the end of the stream. */
static int
s_read (int fd, void *buffer, size_t size, int64_t deadline)
{
    uint8_t *at = buffer;
    while (size) {
        int64_t left = deadline - s_now_ms ();
        struct pollfd item = { fd, POLLIN, 0 };
        int rc = left > 0? poll (&item, 1, (int) left): 0;
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        ssize_t got = read (fd, at, size);
        if (got <= 0)
            return -1;
        at += got;
        size -= (size_t) got;
    }
    return 0;
}

static int
s_send_frame (raw_peer_t *self, uint8_t flags, const void *body, size_t size)
{
    uint8_t head [9];
    size_t head_size = 2;
    if (size > 255) {
        head [0] = flags | FLAG_LONG;
        s_put_u64 (head + 1, size);
        head_size = 9;
    }
    else {
        head [0] = flags;
        head [1] = (uint8_t) size;
    }
    return s_write (self->fd, head, head_size) || s_write (self->fd, body, size)?
           -1: 0;
}

/* Reads one frame: its flags, and its body (caller frees). */
static int
s_read_frame (raw_peer_t *self, uint8_t *flags, uint8_t **body_p,
              size_t *size_p, int64_t deadline)
{
    uint8_t head [8];
    if (s_read (self->fd, flags, 1, deadline))
        return -1;
    size_t size_size = (*flags & FLAG_LONG)? 8: 1;
    if (s_read (self->fd, head, size_size, deadline))
        return -1;
    uint64_t size = size_size == 8? s_get_u64 (head): head [0];
    if (size > RAW_FRAME_MAX)
        return -1;
    uint8_t *body = malloc (size? size: 1);
    if (!body || s_read (self->fd, body, size, deadline)) {
        free (body);
        return -1;
    }
    *body_p = body;
    *size_p = size;
    return 0;
}

/* ---- CURVE boxes after the handshake ------------------------------------- */

static int
s_send_boxed (raw_peer_t *self, uint8_t flags, const void *data, size_t size)
{
    size_t plain_size = 1 + size;
    size_t body_size = 16 + crypto_box_MACBYTES + plain_size;
    uint8_t *plain = malloc (plain_size), *body = malloc (body_size);
    if (!plain || !body) {
        free (plain);
        free (body);
        return -1;
    }
    plain [0] = flags;
    if (size)
        memcpy (plain + 1, data, size);
    uint8_t nonce [crypto_box_NONCEBYTES];
    memcpy (nonce, "CurveZMQMESSAGEC", 16);
    s_put_u64 (nonce + 16, self->nonce++);
    memcpy (body, "\x07MESSAGE", 8);
    memcpy (body + 8, nonce + 16, 8);
    int rc = crypto_box_easy_afternm (body + 16, plain, plain_size, nonce,
                                      self->precomputed)
          || s_send_frame (self, 0, body, body_size)? -1: 0;
    free (plain);
    free (body);
    return rc;
}

/* Opens a MESSAGE from the server into its flags and data (caller frees). */
static int
s_unbox (raw_peer_t *self, const uint8_t *body, size_t size, uint8_t *flags,
         uint8_t **data_p, size_t *size_p)
{
    if (size < 16 + crypto_box_MACBYTES + 1
    ||  memcmp (body, "\x07MESSAGE", 8) != 0)
        return -1;
    uint8_t nonce [crypto_box_NONCEBYTES];
    memcpy (nonce, "CurveZMQMESSAGES", 16);
    memcpy (nonce + 16, body + 8, 8);
    size_t plain_size = size - 16 - crypto_box_MACBYTES;
    uint8_t *plain = malloc (plain_size);
    if (!plain || crypto_box_open_easy_afternm (plain, body + 16, size - 16,
                                                nonce, self->precomputed)) {
        free (plain);
        return -1;
    }
    *flags = plain [0];
    memmove (plain, plain + 1, plain_size - 1);
    *data_p = plain;
    *size_p = plain_size - 1;
    return 0;
}

/* Sends one frame of a message, or a command, boxed under CURVE. */
static int
s_send (raw_peer_t *self, bool command, bool more, const void *data,
        size_t size)
{
    if (self->curve)
        return s_send_boxed (self, (uint8_t) ((more? BOX_MORE: 0)
                                   | (command? BOX_COMMAND: 0)), data, size);
    return s_send_frame (self, (uint8_t) ((more? FLAG_MORE: 0)
                               | (command? FLAG_COMMAND: 0)), data, size);
}

/* Receives one frame, unboxed under CURVE (data: caller frees). */
static int
s_recv (raw_peer_t *self, bool *command, bool *more, uint8_t **data_p,
        size_t *size_p, int64_t deadline)
{
    uint8_t flags, *body;
    size_t size;
    if (s_read_frame (self, &flags, &body, &size, deadline))
        return -1;
    if (!self->curve) {
        *command = flags & FLAG_COMMAND;
        *more = flags & FLAG_MORE;
        *data_p = body;
        *size_p = size;
        return 0;
    }
    uint8_t box_flags = 0;
    int rc = s_unbox (self, body, size, &box_flags, data_p, size_p);
    free (body);
    *command = box_flags & BOX_COMMAND;
    *more = box_flags & BOX_MORE;
    return rc;
}

/* A ZMTP command after the handshake: a PING gets its PONG (with the
 * PING's context), the rest needs no answer. */
static int
s_on_command (raw_peer_t *self, const uint8_t *data, size_t size)
{
    if (size < 7 || memcmp (data, "\x04PING", 5) != 0)
        return 0;
    uint8_t pong [5 + 16];
    size_t context = size - 7 > 16? 16: size - 7;
    memcpy (pong, "\x04PONG", 5);
    memcpy (pong + 5, data + 7, context);
    return s_send (self, true, false, pong, 5 + context);
}

/* ---- the handshake -------------------------------------------------------- */

/* Appends a ZMTP property at at (name size, name, 4-byte value size,
 * value); returns where it ends. */
static uint8_t *
s_property (uint8_t *at, const char *name, const void *value, size_t size)
{
    size_t name_size = strlen (name);
    *at++ = (uint8_t) name_size;
    memcpy (at, name, name_size);
    at += name_size;
    uint32_t big_endian = htonl ((uint32_t) size);
    memcpy (at, &big_endian, 4);
    at += 4;
    if (size)
        memcpy (at, value, size);
    return at + size;
}

/* Our metadata, as libzmq's DEALER sends it: Socket-Type, and Identity,
 * the routing id we claim (empty: none). Returns its size. */
static size_t
s_metadata (uint8_t buffer [METADATA_MAX], const void *id, size_t id_size)
{
    uint8_t *at = s_property (buffer, "Socket-Type", "DEALER", 6);
    return (size_t) (s_property (at, "Identity", id, id_size) - buffer);
}

static int
s_greet (raw_peer_t *self, const char *mechanism, int64_t deadline,
         char *error, size_t error_size)
{
    /* Signature, version 3.0, mechanism, as-server 0, filler. */
    uint8_t ours [GREETING_SIZE] = { 0xFF, [9] = 0x7F, [10] = 3, [11] = 0 };
    memcpy (ours + 12, mechanism, strlen (mechanism));
    uint8_t theirs [GREETING_SIZE];
    if (s_write (self->fd, ours, sizeof ours)
    ||  s_read (self->fd, theirs, sizeof theirs, deadline)) {
        s_error (error, error_size, "no greeting from the server");
        return -1;
    }
    if (theirs [0] != 0xFF || theirs [9] != 0x7F || theirs [10] < 3) {
        s_error (error, error_size, "the server's greeting is not ZMTP 3");
        return -1;
    }
    if (memcmp (theirs + 12, ours + 12, 20) != 0) {
        s_error (error, error_size, "the server's mechanism is %.20s, not %s",
                 (const char *) theirs + 12, mechanism);
        return -1;
    }
    return 0;
}

/* Reads the handshake command name (body: caller frees). An ERROR
 * command's reason goes into error. */
static int
s_read_command (raw_peer_t *self, const char *name, uint8_t **body_p,
                size_t *size_p, int64_t deadline, char *error,
                size_t error_size)
{
    uint8_t flags, *body;
    size_t size, name_size = strlen (name);
    if (s_read_frame (self, &flags, &body, &size, deadline)) {
        s_error (error, error_size, "no %s: the connection closed or was"
                 " silent", name);
        return -1;
    }
    bool is_command = flags & FLAG_COMMAND;
    if (is_command && size >= 7 && memcmp (body, "\x05" "ERROR", 6) == 0) {
        int reason = body [6] < size - 7? body [6]: (int) (size - 7);
        s_error (error, error_size, "ERROR instead of %s: %.*s", name, reason,
                 (const char *) body + 7);
        free (body);
        return -1;
    }
    if (!is_command || size < name_size + 1 || body [0] != name_size
    ||  memcmp (body + 1, name, name_size) != 0) {
        s_error (error, error_size, "%s expected, another frame came", name);
        free (body);
        return -1;
    }
    *body_p = body;
    *size_p = size;
    return 0;
}

static int
s_null_handshake (raw_peer_t *self, const void *id, size_t id_size,
                  int64_t deadline, char *error, size_t error_size)
{
    uint8_t ready [6 + METADATA_MAX];
    memcpy (ready, "\x05READY", 6);
    size_t size = 6 + s_metadata (ready + 6, id, id_size);
    uint8_t *body;
    if (s_send_frame (self, FLAG_COMMAND, ready, size)) {
        s_error (error, error_size, "could not send READY");
        return -1;
    }
    if (s_read_command (self, "READY", &body, &size, deadline, error,
                        error_size))
        return -1;
    free (body);
    return 0;
}

/* HELLO: our short-term key C', and a box of 64 zero bytes from C' to S
 * that only the server can open. */
static int
s_curve_hello (raw_peer_t *self, const raw_curve_t *keys,
               const uint8_t *short_public, const uint8_t *short_secret)
{
    uint8_t hello [200] = { 0 }, zeros [64] = { 0 };
    uint8_t nonce [crypto_box_NONCEBYTES];
    memcpy (hello, "\x05HELLO\x01\x00", 8);      /* and 72 bytes of padding */
    memcpy (hello + 80, short_public, 32);
    memcpy (nonce, "CurveZMQHELLO---", 16);
    s_put_u64 (nonce + 16, self->nonce++);
    memcpy (hello + 112, nonce + 16, 8);
    if (crypto_box_easy (hello + 120, zeros, sizeof zeros, nonce,
                         keys->server_public, short_secret))
        return -1;
    return s_send_frame (self, FLAG_COMMAND, hello, sizeof hello);
}

/* WELCOME: the server's short-term key S' and a cookie, boxed from S to
 * C'; into welcome (32 + 96 bytes). */
static int
s_curve_welcome (raw_peer_t *self, const raw_curve_t *keys,
                 const uint8_t *short_secret, uint8_t welcome [128],
                 int64_t deadline, char *error, size_t error_size)
{
    uint8_t *body, nonce [crypto_box_NONCEBYTES];
    size_t size;
    if (s_read_command (self, "WELCOME", &body, &size, deadline, error,
                        error_size))
        return -1;
    memcpy (nonce, "WELCOME-", 8);
    bool opened = size == 168;
    if (opened) {
        memcpy (nonce + 8, body + 8, 16);
        opened = crypto_box_open_easy (welcome, body + 24, 144, nonce,
                                       keys->server_public, short_secret) == 0;
    }
    free (body);
    if (!opened)
        s_error (error, error_size, "WELCOME does not open with the server's key");
    return opened? 0: -1;
}

/* INITIATE: the cookie back, then our long-term key C, the vouch (C' and
 * S, boxed from C to S': we hold C's secret) and our metadata, all boxed
 * from C' to S'. */
static int
s_curve_initiate (raw_peer_t *self, const raw_curve_t *keys,
                  const uint8_t *short_public, const uint8_t *short_secret,
                  const uint8_t welcome [128], const void *id, size_t id_size)
{
    const uint8_t *server_short = welcome, *cookie = welcome + 32;
    uint8_t vouch [64], vouch_nonce [crypto_box_NONCEBYTES];
    memcpy (vouch, short_public, 32);
    memcpy (vouch + 32, keys->server_public, 32);
    memcpy (vouch_nonce, "VOUCH---", 8);
    randombytes_buf (vouch_nonce + 8, 16);
    uint8_t inner [128 + METADATA_MAX];
    memcpy (inner, keys->public, 32);
    memcpy (inner + 32, vouch_nonce + 8, 16);
    if (crypto_box_easy (inner + 48, vouch, sizeof vouch, vouch_nonce,
                         server_short, keys->secret))
        return -1;
    size_t inner_size = 128 + s_metadata (inner + 128, id, id_size);

    uint8_t initiate [113 + crypto_box_MACBYTES + sizeof inner];
    uint8_t nonce [crypto_box_NONCEBYTES];
    memcpy (initiate, "\x08INITIATE", 9);
    memcpy (initiate + 9, cookie, 96);
    memcpy (nonce, "CurveZMQINITIATE", 16);
    s_put_u64 (nonce + 16, self->nonce++);
    memcpy (initiate + 105, nonce + 16, 8);
    if (crypto_box_easy (initiate + 113, inner, inner_size, nonce,
                         server_short, short_secret))
        return -1;
    return s_send_frame (self, FLAG_COMMAND, initiate,
                         113 + crypto_box_MACBYTES + inner_size);
}

/* READY: the server's metadata, boxed from S' to C' (or ERROR, if the
 * server's ZAP handler refused our key). */
static int
s_curve_ready (raw_peer_t *self, int64_t deadline, char *error,
               size_t error_size)
{
    uint8_t *body, nonce [crypto_box_NONCEBYTES];
    size_t size;
    if (s_read_command (self, "READY", &body, &size, deadline, error,
                        error_size))
        return -1;
    bool opened = size >= 14 + crypto_box_MACBYTES;
    if (opened) {
        memcpy (nonce, "CurveZMQREADY---", 16);
        memcpy (nonce + 16, body + 6, 8);
        opened = crypto_box_open_easy_afternm (body + 14, body + 14, size - 14,
                                               nonce, self->precomputed) == 0;
    }
    free (body);
    if (!opened)
        s_error (error, error_size, "READY does not open");
    return opened? 0: -1;
}

static int
s_curve_handshake (raw_peer_t *self, const raw_curve_t *keys, const void *id,
                   size_t id_size, int64_t deadline, char *error,
                   size_t error_size)
{
    uint8_t short_public [crypto_box_PUBLICKEYBYTES];
    uint8_t short_secret [crypto_box_SECRETKEYBYTES];
    uint8_t welcome [128];
    crypto_box_keypair (short_public, short_secret);
    int rc = -1;
    if (s_curve_hello (self, keys, short_public, short_secret)) {
        s_error (error, error_size, "could not send HELLO");
        goto done;
    }
    if (s_curve_welcome (self, keys, short_secret, welcome, deadline, error,
                         error_size))
        goto done;
    if (crypto_box_beforenm (self->precomputed, welcome, short_secret)) {
        s_error (error, error_size, "the server's short-term key is unusable");
        goto done;
    }
    if (s_curve_initiate (self, keys, short_public, short_secret, welcome,
                          id, id_size)) {
        s_error (error, error_size, "could not send INITIATE");
        goto done;
    }
    rc = s_curve_ready (self, deadline, error, error_size);
done:
    sodium_memzero (short_secret, sizeof short_secret);
    return rc;
}

/* ---- the peer ------------------------------------------------------------- */

static int
s_connect (const char *endpoint, char *error, size_t error_size)
{
    char host [64];
    int port;
    struct sockaddr_in address = { .sin_family = AF_INET };
    if (sscanf (endpoint, "tcp://%63[0-9.]:%d", host, &port) != 2
    ||  port <= 0 || port > 65535
    ||  inet_pton (AF_INET, host, &address.sin_addr) != 1) {
        s_error (error, error_size, "%s is not tcp://IPV4:PORT", endpoint);
        return -1;
    }
    address.sin_port = htons ((uint16_t) port);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0
    ||  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0
    ||  connect (fd, (struct sockaddr *) &address, sizeof address) != 0) {
        s_error (error, error_size, "connect %s: %s", endpoint,
                 strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

raw_peer_t *
raw_peer_new (const char *endpoint, const raw_curve_t *curve, const void *id,
              size_t id_size, int timeout_ms, char *error, size_t error_size)
{
    if (id_size > 255) {
        s_error (error, error_size, "a routing id has at most 255 bytes");
        return NULL;
    }
    if (sodium_init () < 0) {
        s_error (error, error_size, "libsodium did not initialise");
        return NULL;
    }
    int64_t deadline = s_now_ms () + timeout_ms;
    int fd = s_connect (endpoint, error, error_size);
    if (fd < 0)
        return NULL;
    raw_peer_t *self = calloc (1, sizeof *self);
    if (!self) {
        close (fd);
        s_error (error, error_size, "out of memory");
        return NULL;
    }
    *self = (raw_peer_t) { .fd = fd, .curve = curve != NULL, .nonce = 1 };
    if (s_greet (self, curve? "CURVE": "NULL", deadline, error, error_size)
    ||  (curve? s_curve_handshake (self, curve, id, id_size, deadline, error,
                                   error_size)
              : s_null_handshake (self, id, id_size, deadline, error,
                                  error_size)))
        raw_peer_destroy (&self);
    return self;
}

void
raw_peer_destroy (raw_peer_t **self_p)
{
    raw_peer_t *self = *self_p;
    if (!self)
        return;
    close (self->fd);
    sodium_memzero (self->precomputed, sizeof self->precomputed);
    free (self);
    *self_p = NULL;
}

int
raw_peer_send (raw_peer_t *self, const void *const data [],
               const size_t size [], size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (s_send (self, false, i + 1 < count, data [i], size [i]))
            return -1;
    return 0;
}

int
raw_peer_recv (raw_peer_t *self, raw_message_t *message, int timeout_ms)
{
    *message = (raw_message_t) { 0 };
    int64_t deadline = s_now_ms () + timeout_ms;
    while (true) {
        /* A message must begin within the caller's time; once it has,
         * its frames get FRAME_PATIENCE_MS, since a frame cut in the
         * middle would leave the stream unreadable. */
        if (message->count == 0) {
            int64_t left = deadline - s_now_ms ();
            struct pollfd item = { self->fd, POLLIN, 0 };
            int rc = poll (&item, 1, left > 0? (int) left: 0);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc == 0)
                return 0;
            if (rc < 0)
                return -1;
        }
        bool command, more;
        uint8_t *data;
        size_t size;
        if (s_recv (self, &command, &more, &data, &size,
                    s_now_ms () + FRAME_PATIENCE_MS)) {
            raw_message_free (message);
            return -1;
        }
        if (command) {
            int rc = s_on_command (self, data, size);
            free (data);
            if (rc) {
                raw_message_free (message);
                return -1;
            }
            continue;
        }
        if (message->count == RAW_FRAMES_MAX) {
            free (data);
            raw_message_free (message);
            return -1;
        }
        message->data [message->count] = data;
        message->size [message->count++] = size;
        if (!more)
            return 1;
    }
}

void
raw_message_free (raw_message_t *message)
{
    for (size_t i = 0; i < message->count; i++)
        free (message->data [i]);
    *message = (raw_message_t) { 0 };
}
