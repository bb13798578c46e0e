/* fuzz_batch.c: libFuzzer target for BATCH's items frame.
 *
 * The first byte is the count the BATCH header would say; the rest is the
 * frame. Whatever the bytes, the reader must stop without reading past
 * them, and every item that decodes must write into a new batch and read
 * back with the same payload. */
#include "zf_batch.h"
#include "zfarm_codes.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static zf_decoder_t *decoder;
    if (!decoder)
        decoder = zf_decoder_new ();
    if (size < 1)
        return 0;
    uint32_t count = data [0];
    zf_batch_reader_t reader;
    zf_batch_reader_init (&reader, data + 1, size - 1, count);
    zf_batch_t again;
    zf_batch_init (&again);
    static zf_header_t header;
    zf_batch_item_t item;
    int rc;
    uint32_t read = 0;
    while ((rc = zf_batch_next (&reader, &item)) == 1) {
        read++;
        if (item.header + item.header_size > data + size
            || (item.payload && item.payload + item.payload_size > data + size))
            abort ();
        zmq_msg_t frame;
        if (item.payload) {
            zf_batch_item_frame (&item, &frame);
            if (zmq_msg_size (&frame) != item.payload_size)
                abort ();
            zmq_msg_close (&frame);
        }
        if (zf_header_decode (decoder, &header, item.header, item.header_size)
                == 0
            && zf_batch_add (&again, &header, item.payload, item.payload_size)
                   != 0)
            abort ();
    }
    if (read > count || (rc == 0 && read != count))
        abort ();
    zf_batch_reader_init (&reader, again.data, again.size, again.count);
    for (uint32_t i = 0; i < again.count; i++)
        if (zf_batch_next (&reader, &item) != 1)
            abort ();
    if (zf_batch_next (&reader, &item) != 0)
        abort ();
    zf_batch_free (&again);
    return 0;
}
