/* zf_batch.h: many small messages in one (BATCH, common/PROTOCOL.md).
 *
 * A BATCH is [header: "zf", 1, BATCH, count, [flags]] and one frame, the
 * items: for each, a msgpack bin holding an encoded header, then a bin
 * holding its one payload frame or nil for none. An item means what
 * [header][payload] would mean alone; batching only saves the messages. */
#ifndef ZF_BATCH_H
#define ZF_BATCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>
#include "zf_proto.h"

/* A batch being built. */
typedef struct {
    uint8_t *data; /* the items frame's bytes */
    size_t size;
    size_t capacity;
    uint32_t count; /* items in it */
} zf_batch_t;

/* Empty, owning no memory. */
void
zf_batch_init (zf_batch_t *self);

/* Frees what it holds; self is then as after zf_batch_init. */
void
zf_batch_free (zf_batch_t *self);

/* Appends an item: the header, encoded here, and the payload's bytes
 * (payload NULL: the item has no payload frame). Returns 0, or -1 if the
 * header does not encode (a bug of the caller) or the batch is full. */
int
zf_batch_add (zf_batch_t *self, const zf_header_t *header, const void *payload,
              size_t size);

/* The same with the header already encoded (header_size bytes, as
 * zf_header_encode wrote them): for a sender that holds a message as it
 * is until a second comes, and so need not encode it twice. */
int
zf_batch_add_encoded (zf_batch_t *self, const void *header, size_t header_size,
                      const void *payload, size_t size);

/* The same with the payload as one frame (NULL: none), which is copied. */
int
zf_batch_add_frame (zf_batch_t *self, const zf_header_t *header,
                    zmq_msg_t *frame);

/* True when no item should be added: count or bytes at their bound. */
bool
zf_batch_full (const zf_batch_t *self);

/* Sends [BATCH header][items] on socket with ZMQ_DONTWAIT (a ROUTER's
 * caller sends the routing id first, with ZMQ_SNDMORE). The items move
 * into the frame, not copied; self is left empty either way. Returns 0,
 * or -1 (zmq_errno says why). */
int
zf_batch_send (zf_batch_t *self, void *socket);

/* One item as read: its header's bytes and its payload's. */
typedef struct {
    const uint8_t *header;
    size_t header_size;
    const uint8_t *payload; /* NULL: no payload frame */
    size_t payload_size;
} zf_batch_item_t;

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t at;
    uint32_t left; /* items not read yet */
    bool failed;   /* the frame lied: every read after fails */
} zf_batch_reader_t;

/* Reads the items frame of a BATCH whose header said count items. */
void
zf_batch_reader_init (zf_batch_reader_t *self, const void *data, size_t size,
                      uint32_t count);

/* The next item. Returns 1 (item set), 0 at a clean end (count items
 * read, no byte left), or -1 if the frame does not hold what its count
 * says: the rest cannot be read, and every call after returns -1. */
int
zf_batch_next (zf_batch_reader_t *self, zf_batch_item_t *item);

/* Copies an item's payload into a new frame (item->payload not NULL). */
void
zf_batch_item_frame (const zf_batch_item_t *item, zmq_msg_t *frame);

#endif
