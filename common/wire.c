/* wire.c: whole zfarm messages over czmq sockets (client and worker side). */
#include "zf_wire.h"
#include "zf_log.h"
#include "zf_util.h"
#include "zfarm_codes.h"

int
zf_wire_send (zsock_t *sock, const zf_header_t *header, zmsg_t **payload_p)
{
    zf_buf_t buf;
    if (zf_header_encode (header, &buf) != 0) {
        zf_error ("cannot encode a %s header", zf_command_name (header->command));
        if (payload_p)
            zmsg_destroy (payload_p);
        return -1;
    }
    zmsg_t *msg = payload_p && *payload_p? *payload_p: zmsg_new ();
    if (payload_p)
        *payload_p = NULL;
    zmsg_pushmem (msg, buf.data, buf.size);
    int rc = zmsg_send (&msg, sock);
    zmsg_destroy (&msg);        /* czmq 4.2 keeps it when the send fails */
    return rc;
}

int
zf_wire_send_data (zsock_t *sock, const zf_header_t *header,
                   const void *data, size_t size)
{
    zmsg_t *payload = zmsg_new ();
    zmsg_addmem (payload, data, size);
    return zf_wire_send (sock, header, &payload);
}

int
zf_wire_recv (zsock_t *sock, zf_decoder_t *decoder, zf_header_t *header,
              zmsg_t **payload_p)
{
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg)
        return -1;
    zframe_t *frame = zmsg_pop (msg);
    int rc;
    if (!frame) {
        zf_header_init (header, 0);
        zf_header_set_text (header, "empty message");
        rc = ZFARM_EBAD_REQUEST;
    }
    else
        rc = zf_header_decode (decoder, header,
                               zframe_data (frame), zframe_size (frame));
    zframe_destroy (&frame);
    if (rc == 0)
        *payload_p = msg;
    else
        zmsg_destroy (&msg);
    return rc;
}

void
zf_random_routing_id (uint8_t id [ZF_ROUTING_ID_SIZE])
{
    zuuid_t *uuid = zuuid_new ();
    if (!uuid)
        zf_die_nomem ();
    memcpy (id, zuuid_data (uuid), ZF_ROUTING_ID_SIZE);
    zuuid_destroy (&uuid);
    id [0] |= 0x80;
}

char *
zf_wire_join (zmsg_t *payload, size_t *size_p)
{
    size_t size = zmsg_content_size (payload);
    char *data = zf_malloc (size + 1);
    size_t at = 0;
    for (zframe_t *frame = zmsg_first (payload); frame;
         frame = zmsg_next (payload)) {
        memcpy (data + at, zframe_data (frame), zframe_size (frame));
        at += zframe_size (frame);
    }
    data [size] = 0;
    *size_p = size;
    return data;
}

/* ---- libzmq messages --------------------------------------------------- */

int
zf_wire_send_shared (zsock_t *sock, const zf_header_t *header,
                     zmq_msg_t *payload)
{
    zf_buf_t buf;
    if (zf_header_encode (header, &buf) != 0) {
        zf_error ("cannot encode a %s header", zf_command_name (header->command));
        return -1;
    }
    void *handle = zsock_resolve (sock);
    if (zmq_send (handle, buf.data, buf.size, payload? ZMQ_SNDMORE: 0) == -1)
        return -1;
    if (!payload)
        return 0;
    zmq_msg_t clone;
    zmq_msg_init (&clone);
    zmq_msg_copy (&clone, payload);     /* fails only on a closed payload */
    if (zmq_msg_send (&clone, handle, 0) == -1) {
        zmq_msg_close (&clone);
        return -1;
    }
    return 0;
}

/* The frame that receives the next payload frame, growing rest as needed. */
static zmq_msg_t *
s_frames_next (zf_frames_t *frames)
{
    if (frames->count == 0)
        return &frames->first;
    size_t index = frames->count - 1;
    if (index == frames->rest_capacity) {
        size_t capacity = frames->rest_capacity? frames->rest_capacity * 2: 4;
        zmq_msg_t *rest = realloc (frames->rest, capacity * sizeof *rest);
        if (!rest)
            zf_die_nomem ();
        frames->rest = rest;
        frames->rest_capacity = capacity;
    }
    return &frames->rest [index];
}

int
zf_wire_recv_frames (zsock_t *sock, zf_decoder_t *decoder,
                     zf_header_t *header, zf_frames_t *frames)
{
    frames->count = 0;
    frames->rest = NULL;
    frames->rest_capacity = 0;
    void *handle = zsock_resolve (sock);
    zmq_msg_t head;
    zmq_msg_init (&head);
    if (zmq_msg_recv (&head, handle, 0) == -1) {
        zmq_msg_close (&head);
        return -1;
    }
    /* The frames of a message arrive together: once its first frame is
     * here, the rest are, so these receives do not wait. */
    bool more = zmq_msg_more (&head);
    while (more) {
        zmq_msg_t *frame = s_frames_next (frames);
        zmq_msg_init (frame);
        if (zmq_msg_recv (frame, handle, 0) == -1) {
            zmq_msg_close (frame);
            break;              /* only when the context is terminated */
        }
        frames->count++;
        more = zmq_msg_more (frame);
    }
    int rc = more? -1: zf_header_decode (decoder, header, zmq_msg_data (&head),
                                         zmq_msg_size (&head));
    zmq_msg_close (&head);
    if (rc != 0)
        zf_frames_close (frames);
    return rc;
}

zmq_msg_t *
zf_frames_at (zf_frames_t *frames, size_t index)
{
    assert (index < frames->count);
    return index == 0? &frames->first: &frames->rest [index - 1];
}

size_t
zf_frames_size (zf_frames_t *frames)
{
    size_t size = 0;
    for (size_t index = 0; index < frames->count; index++)
        size += zmq_msg_size (zf_frames_at (frames, index));
    return size;
}

void
zf_frames_copy (zf_frames_t *frames, void *dest)
{
    char *at = dest;
    for (size_t index = 0; index < frames->count; index++) {
        zmq_msg_t *frame = zf_frames_at (frames, index);
        size_t size = zmq_msg_size (frame);
        if (size)
            memcpy (at, zmq_msg_data (frame), size);
        at += size;
    }
}

bool
zf_frames_terminated (zf_frames_t *frames, uint32_t flags)
{
    if (!(flags & ZF_FLAG_NUL) || frames->count == 0)
        return false;
    zmq_msg_t *last = zf_frames_at (frames, frames->count - 1);
    size_t size = zmq_msg_size (last);
    return size > 0 && ((const char *) zmq_msg_data (last)) [size - 1] == 0;
}

void
zf_msg_init_terminated (zmq_msg_t *msg, const void *data, size_t size)
{
    if (zmq_msg_init_size (msg, size + 1) != 0)
        zf_die_nomem ();
    if (size > 0)
        memcpy (zmq_msg_data (msg), data, size);
    ((char *) zmq_msg_data (msg)) [size] = 0;
}

void
zf_frames_move (zf_frames_t *dest, zf_frames_t *src)
{
    /* zmq_msg_t may not be copied as a struct: the first frame moves. */
    zmq_msg_init (&dest->first);
    if (src->count > 0)
        zmq_msg_move (&dest->first, &src->first);
    dest->count = src->count;
    dest->rest = src->rest;
    dest->rest_capacity = src->rest_capacity;
    src->count = 0;
    src->rest = NULL;
    src->rest_capacity = 0;
}

void
zf_frames_close (zf_frames_t *frames)
{
    for (size_t index = 0; index < frames->count; index++)
        zmq_msg_close (zf_frames_at (frames, index));
    free (frames->rest);
    frames->count = 0;
    frames->rest = NULL;
    frames->rest_capacity = 0;
}
