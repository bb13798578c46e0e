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

#endif
