/* zf_wire.h: sending and receiving whole zfarm messages on czmq sockets.
 *
 * Used by the client and worker libraries. The broker, which must forward
 * payload frames without copying them, uses libzmq messages directly. */
#ifndef ZF_WIRE_H
#define ZF_WIRE_H

#include <czmq.h>
#include "zf_proto.h"

/* Sends [header][payload frames...]. Takes ownership of *payload_p, which
 * may be NULL (no payload frames). Returns 0 or -1. */
int
    zf_wire_send (zsock_t *sock, const zf_header_t *header, zmsg_t **payload_p);

/* Sends [header][one frame of size bytes] (copies data). Returns 0 or -1. */
int
    zf_wire_send_data (zsock_t *sock, const zf_header_t *header,
                       const void *data, size_t size);

/* Receives one message. Returns 0, a ZFARM_E* code if the header is
 * malformed (header->text says why), or -1 if interrupted. On 0 the payload
 * frames are in *payload_p (caller destroys, never NULL). */
int
    zf_wire_recv (zsock_t *sock, zf_decoder_t *decoder, zf_header_t *header,
                  zmsg_t **payload_p);

#define ZF_ROUTING_ID_SIZE 16

/* Fills id with a random routing id (ZeroMQ reserves a leading 0 byte).
 * Clients and workers set their own, rather than take the ROUTER's
 * generated ones: those are predictable, and libzmq 4.3 aborts when a peer
 * has claimed one that it later generates. */
void
    zf_random_routing_id (uint8_t id [ZF_ROUTING_ID_SIZE]);

/* Joins the payload frames into one malloc'd buffer (NUL-terminated for
 * convenience; the NUL is not counted in *size_p). Caller frees. */
char *
    zf_wire_join (zmsg_t *payload, size_t *size_p);

/* ---- libzmq messages, without czmq's allocations per frame ----------- */

/* Sends [header][payload] without copying payload: the frame sent is a
 * zmq_msg_copy of it, which shares the buffer of a message over 33 bytes by
 * reference count. payload stays the caller's, unchanged, and can be sent
 * again; NULL sends the header alone. Returns 0 or -1. */
int
    zf_wire_send_shared (zsock_t *sock, const zf_header_t *header,
                         zmq_msg_t *payload);

/* The payload frames of a received message: the first in place, any others
 * in a heap array, so that the usual message of one payload frame costs no
 * allocation. Open (after zf_wire_recv_frames) until zf_frames_close. */
typedef struct {
    size_t count;               /* frames received */
    zmq_msg_t first;            /* frame 0, if count > 0 */
    zmq_msg_t *rest;            /* frames 1 .. count - 1, or NULL */
    size_t rest_capacity;       /* entries allocated in rest */
} zf_frames_t;

/* Receives one message as zf_wire_recv does, with the header decoded from
 * a libzmq message and the payload frames left in *frames, which this
 * overwrites (close what it held first). Returns 0, a ZFARM_E* code if the
 * header is malformed (header->text says why), or -1 if nothing has arrived
 * or the call was interrupted. Whatever it returns, the caller closes
 * *frames with zf_frames_close (it is empty unless 0 was returned). */
int
    zf_wire_recv_frames (zsock_t *sock, zf_decoder_t *decoder,
                         zf_header_t *header, zf_frames_t *frames);

/* Frame index of frames (0 .. frames->count - 1). */
zmq_msg_t *
    zf_frames_at (zf_frames_t *frames, size_t index);

/* Bytes in all the frames. */
size_t
    zf_frames_size (zf_frames_t *frames);

/* Copies all the frames' bytes, in order, to dest, which has room for
 * zf_frames_size bytes. */
void
    zf_frames_copy (zf_frames_t *frames, void *dest);

/* Moves the frames of src into dest, which need not be initialised; src
 * is left empty. */
void
    zf_frames_move (zf_frames_t *dest, zf_frames_t *src);

/* True if flags (a header's) say ZF_FLAG_NUL and the last frame does end
 * with a NUL: then that byte is not the payload's. A peer that claims it
 * and lies is treated as one that did not claim it. */
bool
    zf_frames_terminated (zf_frames_t *frames, uint32_t flags);

/* Makes msg a copy of size bytes of data followed by a NUL, to be sent
 * with ZF_FLAG_NUL. Aborts if out of memory. */
void
    zf_msg_init_terminated (zmq_msg_t *msg, const void *data, size_t size);

/* Closes the frames and frees what they hold; frames is then empty. Safe
 * to call twice. */
void
    zf_frames_close (zf_frames_t *frames);

#endif
