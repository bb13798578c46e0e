/* wire.c: whole zfarm messages over czmq sockets (client and worker side). */
#include "zf_wire.h"
#include "zf_util.h"
#include "zfarm_codes.h"

int
zf_wire_send (zsock_t *sock, const zf_header_t *header, zmsg_t **payload_p)
{
    zf_buf_t buf;
    if (zf_header_encode (header, &buf) != 0) {
        zsys_error ("cannot encode a %s header", zf_command_name (header->command));
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
