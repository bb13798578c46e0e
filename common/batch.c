/* batch.c: BATCH's items frame, written and read (zf_batch.h).
 *
 * The frame is a run of msgpack bins (and nils), read here by hand rather
 * than through msgpack-c: a bin is a tag and a length, and reading one
 * that way costs no allocation and no copy, which is the point of a
 * batch. Each item's header is then decoded by zf_header_decode, with
 * every check a header alone gets. */
#include "zf_batch.h"
#include "zf_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_INITIAL_BYTES 4096
#define BIN8                0xc4
#define BIN16               0xc5
#define BIN32               0xc6
#define NIL                 0xc0

void
zf_batch_init (zf_batch_t *self)
{
    *self = (zf_batch_t){ 0 };
}

void
zf_batch_free (zf_batch_t *self)
{
    free (self->data);
    zf_batch_init (self);
}

bool
zf_batch_full (const zf_batch_t *self)
{
    return self->count >= ZF_BATCH_ITEMS_MAX
        || self->size >= ZF_BATCH_BYTES_MAX;
}

static void
s_reserve (zf_batch_t *self, size_t more)
{
    if (more <= self->capacity - self->size)
        return;
    size_t capacity = self->capacity ? self->capacity : BATCH_INITIAL_BYTES;
    while (capacity - self->size < more)
        capacity *= 2;
    self->data = zf_realloc (self->data, capacity);
    self->capacity = capacity;
}

/* Writes a bin's tag and length; the caller then writes its bytes. */
static void
s_put_bin_tag (zf_batch_t *self, size_t size)
{
    uint8_t *at = self->data + self->size;
    if (size <= UINT8_MAX) {
        at [0] = BIN8;
        at [1] = (uint8_t) size;
        self->size += 2;
    }
    else if (size <= UINT16_MAX) {
        at [0] = BIN16;
        at [1] = (uint8_t) (size >> 8);
        at [2] = (uint8_t) size;
        self->size += 3;
    }
    else {
        at [0] = BIN32;
        for (int i = 0; i < 4; i++)
            at [1 + i] = (uint8_t) (size >> (24 - 8 * i));
        self->size += 5;
    }
}

int
zf_batch_add_encoded (zf_batch_t *self, const void *header, size_t header_size,
                      const void *payload, size_t size)
{
    if (zf_batch_full (self) || size > UINT32_MAX || header_size == 0
        || header_size > ZF_HEADER_MAX)
        return -1;
    s_reserve (self, 5 + header_size + 5 + size);
    s_put_bin_tag (self, header_size);
    memcpy (self->data + self->size, header, header_size);
    self->size += header_size;
    if (payload) {
        s_put_bin_tag (self, size);
        if (size)
            memcpy (self->data + self->size, payload, size);
        self->size += size;
    }
    else
        self->data [self->size++] = NIL;
    self->count++;
    return 0;
}

int
zf_batch_add (zf_batch_t *self, const zf_header_t *header, const void *payload,
              size_t size)
{
    zf_buf_t buf;
    if (zf_header_encode (header, &buf) != 0)
        return -1;
    return zf_batch_add_encoded (self, buf.data, buf.size, payload, size);
}

int
zf_batch_add_frame (zf_batch_t *self, const zf_header_t *header,
                    zmq_msg_t *frame)
{
    if (!frame)
        return zf_batch_add (self, header, NULL, 0);
    return zf_batch_add (self, header, zmq_msg_data (frame),
                         zmq_msg_size (frame));
}

static void
s_free_items (void *data, void *hint)
{
    (void) hint;
    free (data);
}

int
zf_batch_send (zf_batch_t *self, void *socket)
{
    if (self->count == 0)
        return 0;
    zf_header_t header;
    zf_header_init (&header, ZF_BATCH);
    header.count = self->count;
    zf_buf_t buf;
    zmq_msg_t items;
    int rc = -1;
    if (zf_header_encode (&header, &buf) == 0
        && zmq_send (socket, buf.data, buf.size, ZMQ_SNDMORE | ZMQ_DONTWAIT)
               != -1
        && zmq_msg_init_data (&items, self->data, self->size, s_free_items,
                              NULL)
               == 0) {
        self->data = NULL; /* the frame owns it now */
        rc = zmq_msg_send (&items, socket, ZMQ_DONTWAIT) == -1 ? -1 : 0;
        if (rc == -1)
            zmq_msg_close (&items);
    }
    zf_batch_free (self);
    return rc;
}

void
zf_batch_reader_init (zf_batch_reader_t *self, const void *data, size_t size,
                      uint32_t count)
{
    *self = (zf_batch_reader_t){ .data = data, .size = size, .left = count };
}

/* Reads a bin (or, if nil_ok, a nil: *bytes NULL) at the reader. */
static bool
s_get_bin (zf_batch_reader_t *self, bool nil_ok, const uint8_t **bytes,
           size_t *size)
{
    size_t left = self->size - self->at;
    if (left == 0)
        return false;
    uint8_t tag = self->data [self->at];
    if (tag == NIL && nil_ok) {
        self->at++;
        *bytes = NULL;
        *size = 0;
        return true;
    }
    if (tag < BIN8 || tag > BIN32)
        return false;
    size_t width = (size_t) 1 << (tag - BIN8);
    if (left < 1 + width)
        return false;
    size_t length = 0;
    for (size_t i = 0; i < width; i++)
        length = (length << 8) | self->data [self->at + 1 + i];
    if (length > left - 1 - width)
        return false;
    *bytes = self->data + self->at + 1 + width;
    *size = length;
    self->at += 1 + width + length;
    return true;
}

int
zf_batch_next (zf_batch_reader_t *self, zf_batch_item_t *item)
{
    if (self->failed)
        return -1;
    if (self->left == 0) {
        if (self->at == self->size)
            return 0;
        self->failed = true; /* bytes past the count */
        return -1;
    }
    if (!s_get_bin (self, false, &item->header, &item->header_size)
        || !s_get_bin (self, true, &item->payload, &item->payload_size)) {
        self->failed = true;
        return -1;
    }
    self->left--;
    return 1;
}

void
zf_batch_item_frame (const zf_batch_item_t *item, zmq_msg_t *frame)
{
    zmq_msg_init_size (frame, item->payload_size);
    if (item->payload_size)
        memcpy (zmq_msg_data (frame), item->payload, item->payload_size);
}
