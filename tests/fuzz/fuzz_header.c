/* fuzz_header.c: libFuzzer target for the header decoder.
 *
 * Whatever the bytes, decoding must return a code without crashing, and a
 * header that decodes must encode again and decode to the same fields. */
#include "zf_proto.h"
#include "zfarm_codes.h"

#include <stdlib.h>
#include <string.h>

static void
s_check_same (const zf_header_t *a, const zf_header_t *b)
{
    if (a->command != b->command || a->task_id != b->task_id
    ||  a->status != b->status || a->timeout_ms != b->timeout_ms
    ||  a->retries != b->retries || a->attempt != b->attempt
    ||  a->capacity != b->capacity || a->pid != b->pid
    ||  a->epoch != b->epoch || a->service_count != b->service_count
    ||  a->done != b->done || a->total != b->total
    ||  strcmp (a->service, b->service) || strcmp (a->host, b->host)
    ||  strcmp (a->text, b->text))
        abort ();
    for (uint32_t i = 0; i < a->service_count; i++)
        if (strcmp (a->services [i], b->services [i]))
            abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static zf_decoder_t *decoder;
    if (!decoder)
        decoder = zf_decoder_new ();
    static zf_header_t header, again;
    int rc = zf_header_decode (decoder, &header, data, size);
    if (rc != 0 && rc != ZFARM_EBAD_REQUEST && rc != ZFARM_EBAD_VERSION)
        abort ();
    if (rc != 0)
        return 0;
    zf_buf_t buf;
    /* Text fields are truncated on decode, so a decoded header fits. */
    if (zf_header_encode (&header, &buf) != 0)
        abort ();
    if (zf_header_decode (decoder, &again, buf.data, buf.size) != 0)
        abort ();
    s_check_same (&header, &again);
    return 0;
}
