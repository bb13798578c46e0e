/* fuzz_record.c: libFuzzer target for the journal's record decoder.
 *
 * The input is a record's body: sealed with its checksum it reaches the
 * msgpack decoder, whatever the bytes; unsealed, the checksum must refuse
 * it. A record that decodes must encode again to one that decodes to the
 * same fields. */
#include "zf_record.h"

#include <stdlib.h>
#include <string.h>

static void
s_check_same (const zf_job_t *a, const zf_job_t *b)
{
    if (a->id != b->id || a->seq != b->seq || a->state != b->state
    ||  strcmp (a->service, b->service) || strcmp (a->owner, b->owner)
    ||  a->flags != b->flags || a->result_flags != b->result_flags
    ||  a->priority != b->priority || a->timeout_ms != b->timeout_ms
    ||  a->retries != b->retries || a->retry_on != b->retry_on
    ||  a->backoff_min_ms != b->backoff_min_ms
    ||  a->backoff_max_ms != b->backoff_max_ms || a->attempts != b->attempts
    ||  a->submitted_at != b->submitted_at || a->due_at != b->due_at
    ||  a->finished_at != b->finished_at || a->status != b->status
    ||  a->text_size != b->text_size || a->history_size != b->history_size
    ||  a->payload_size != b->payload_size
    ||  a->result_size != b->result_size
    ||  memcmp (a->text, b->text, a->text_size)
    ||  memcmp (a->history, b->history, a->history_size)
    ||  memcmp (a->payload, b->payload, a->payload_size)
    ||  memcmp (a->result, b->result, a->result_size))
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zf_job_t job, again;
    char why [128];
    char *record = malloc (ZF_RECORD_SUM_SIZE + size + 1);
    memcpy (record + ZF_RECORD_SUM_SIZE, data, size);
    memset (record, 0, ZF_RECORD_SUM_SIZE);
    /* A zero checksum matches no body (BLAKE2b is never all zeros in
     * practice): refused, whatever follows. */
    if (size && zf_record_decode (&job, record, ZF_RECORD_SUM_SIZE + size,
                                  why, sizeof why) == 0)
        abort ();
    zf_record_seal (record, ZF_RECORD_SUM_SIZE + size);
    if (zf_record_decode (&job, record, ZF_RECORD_SUM_SIZE + size, why,
                          sizeof why) == 0) {
        size_t encoded_size;
        char *encoded = zf_record_encode (&job, &encoded_size);
        if (zf_record_decode (&again, encoded, encoded_size, why,
                              sizeof why) != 0)
            abort ();
        s_check_same (&job, &again);
        free (encoded);
    }
    free (record);
    return 0;
}
