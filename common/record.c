/* record.c: the journal's record codec (zf_record.h). With proto.c, the
 * only file that speaks msgpack. Records come back from a disk that may
 * have been cut short or flipped: the checksum is checked first, then
 * every field's type and bound, as for a header from the network. */
#include "zf_record.h"
#include "zf_proto.h"
#include "zf_util.h"
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Fields after the version, in order. */
enum {
    R_ID, R_SEQ, R_STATE, R_SERVICE, R_FLAGS, R_RESULT_FLAGS, R_PRIORITY,
    R_TIMEOUT, R_RETRIES, R_RETRY_ON, R_BACKOFF_MIN, R_BACKOFF_MAX,
    R_ATTEMPTS, R_SUBMITTED, R_DUE, R_FINISHED, R_STATUS, R_OWNER, R_TEXT,
    R_HISTORY, R_PAYLOAD, R_RESULT, R_COUNT
};

static void
s_sum (const void *data, size_t size, unsigned char *sum)
{
    static bool ready;
    if (!ready && sodium_init () < 0)
        zf_die_nomem ();        /* it fails only for want of resources */
    ready = true;
    crypto_generichash (sum, ZF_RECORD_SUM_SIZE, data, size, NULL, 0);
}

typedef struct {
    char *data;
    size_t size;
    size_t capacity;
} grow_buf_t;

static int
s_write (void *arg, const char *bytes, size_t size)
{
    grow_buf_t *buf = arg;
    if (size == 0)
        return 0;               /* an empty field's bytes may be NULL */
    if (size > buf->capacity - buf->size) {
        while (size > buf->capacity - buf->size)
            buf->capacity *= 2;
        buf->data = realloc (buf->data, buf->capacity);
        if (!buf->data)
            zf_die_nomem ();
    }
    memcpy (buf->data + buf->size, bytes, size);
    buf->size += size;
    return 0;
}

static void
s_pack_bytes (msgpack_packer *pk, const void *data, size_t size, bool text)
{
    if (text) {
        msgpack_pack_str (pk, size);
        msgpack_pack_str_body (pk, data, size);
    }
    else {
        msgpack_pack_bin (pk, size);
        msgpack_pack_bin_body (pk, data, size);
    }
}

void *
zf_record_encode (const zf_job_t *job, size_t *size_p)
{
    grow_buf_t buf = { NULL, ZF_RECORD_SUM_SIZE, 256 + job->payload_size
                                                 + job->result_size };
    buf.data = zf_malloc (buf.capacity);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, s_write);
    msgpack_pack_array (&pk, 1 + R_COUNT);
    msgpack_pack_uint32 (&pk, ZF_RECORD_VERSION);
    msgpack_pack_uint64 (&pk, job->id);
    msgpack_pack_uint64 (&pk, job->seq);
    msgpack_pack_uint32 (&pk, (uint32_t) job->state);
    s_pack_bytes (&pk, job->service, strlen (job->service), true);
    msgpack_pack_uint32 (&pk, job->flags);
    msgpack_pack_uint32 (&pk, job->result_flags);
    msgpack_pack_uint32 (&pk, job->priority);
    msgpack_pack_uint32 (&pk, job->timeout_ms);
    msgpack_pack_int32 (&pk, job->retries);
    msgpack_pack_uint32 (&pk, job->retry_on);
    msgpack_pack_uint32 (&pk, job->backoff_min_ms);
    msgpack_pack_uint32 (&pk, job->backoff_max_ms);
    msgpack_pack_uint32 (&pk, job->attempts);
    msgpack_pack_int64 (&pk, job->submitted_at);
    msgpack_pack_int64 (&pk, job->due_at);
    msgpack_pack_int64 (&pk, job->finished_at);
    msgpack_pack_int (&pk, -job->status);
    s_pack_bytes (&pk, job->owner, strlen (job->owner), true);
    s_pack_bytes (&pk, job->text, job->text_size, true);
    s_pack_bytes (&pk, job->history, job->history_size, true);
    s_pack_bytes (&pk, job->payload, job->payload_size, false);
    s_pack_bytes (&pk, job->result, job->result_size, false);
    s_sum (buf.data + ZF_RECORD_SUM_SIZE, buf.size - ZF_RECORD_SUM_SIZE,
           (unsigned char *) buf.data);
    *size_p = buf.size;
    return buf.data;
}

static int
s_reject (char *why, size_t why_size, const char *text, int field)
{
    if (field >= 0)
        snprintf (why, why_size, "%s (field %d)", text, field);
    else
        snprintf (why, why_size, "%s", text);
    return -1;
}

static bool
s_uint (const msgpack_object *o, uint64_t max, uint64_t *value)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return false;
    *value = o->via.u64;
    return true;
}

static bool
s_int (const msgpack_object *o, int64_t min, int64_t max, int64_t *value)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t) max)
        *value = (int64_t) o->via.u64;
    else
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= min)
        *value = o->via.i64;
    else
        return false;
    return true;
}

static bool
s_bytes (const msgpack_object *o, bool text, size_t max, const char **data,
         size_t *size)
{
    if (text && o->type == MSGPACK_OBJECT_STR && o->via.str.size <= max) {
        *data = o->via.str.ptr;
        *size = o->via.str.size;
        return true;
    }
    if (!text && o->type == MSGPACK_OBJECT_BIN && o->via.bin.size <= max) {
        *data = o->via.bin.ptr;
        *size = o->via.bin.size;
        return true;
    }
    return false;
}

/* Copies a name (service, owner): printable ASCII, no space, 1..max (the
 * owner may be empty). */
static bool
s_name (const msgpack_object *o, char *dest, size_t max, bool empty_ok)
{
    const char *data;
    size_t size;
    if (!s_bytes (o, true, max, &data, &size) || (size == 0 && !empty_ok))
        return false;
    for (size_t i = 0; i < size; i++)
        if (data [i] <= ' ' || data [i] > '~')
            return false;
    memcpy (dest, data, size);
    dest [size] = 0;
    return true;
}

static bool
s_field (zf_job_t *job, int field, const msgpack_object *o)
{
    uint64_t u = 0;
    int64_t i = 0;
    const char *data;
    size_t size;
    switch (field) {
        case R_ID:       return s_uint (o, UINT64_MAX, &job->id) && job->id;
        case R_SEQ:      return s_uint (o, UINT64_MAX, &job->seq);
        case R_STATE:
            if (!s_uint (o, ZF_JOB_FINISHED, &u) || u == 0) return false;
            job->state = (int) u;
            return true;
        case R_SERVICE:
            return s_name (o, job->service, ZF_SERVICE_MAX, false);
        case R_FLAGS:
        case R_RESULT_FLAGS:
        case R_TIMEOUT:
        case R_RETRY_ON:
        case R_ATTEMPTS:
            if (!s_uint (o, UINT32_MAX, &u)) return false;
            *(field == R_FLAGS? &job->flags:
              field == R_RESULT_FLAGS? &job->result_flags:
              field == R_TIMEOUT? &job->timeout_ms:
              field == R_RETRY_ON? &job->retry_on: &job->attempts)
                = (uint32_t) u;
            return true;
        case R_PRIORITY:
            if (!s_uint (o, ZF_PRIORITY_MAX, &u)) return false;
            job->priority = (uint32_t) u;
            return true;
        case R_RETRIES:
            if (!s_int (o, -1, ZF_RETRIES_MAX, &i)) return false;
            job->retries = (int32_t) i;
            return true;
        case R_BACKOFF_MIN:
        case R_BACKOFF_MAX:
            if (!s_uint (o, ZF_BACKOFF_MAX_MS, &u)) return false;
            *(field == R_BACKOFF_MIN? &job->backoff_min_ms
                                    : &job->backoff_max_ms) = (uint32_t) u;
            return true;
        case R_SUBMITTED:
        case R_DUE:
        case R_FINISHED:
            if (!s_int (o, 0, INT64_MAX, &i)) return false;
            *(field == R_SUBMITTED? &job->submitted_at:
              field == R_DUE? &job->due_at: &job->finished_at) = i;
            return true;
        case R_STATUS:
            if (!s_int (o, 0, 0xFFFF, &i)) return false;
            job->status = -(int) i;
            return true;
        case R_OWNER:
            return s_name (o, job->owner, ZF_OWNER_MAX, true);
        case R_TEXT:
            if (!s_bytes (o, true, ZF_TEXT_MAX, &data, &size)) return false;
            job->text = data;
            job->text_size = size;
            return true;
        case R_HISTORY:
            if (!s_bytes (o, true, ZF_HISTORY_MAX, &data, &size)) return false;
            job->history = data;
            job->history_size = size;
            return true;
        case R_PAYLOAD:
            if (!s_bytes (o, false, SIZE_MAX, &data, &size)) return false;
            job->payload = data;
            job->payload_size = size;
            return true;
        case R_RESULT:
            if (!s_bytes (o, false, SIZE_MAX, &data, &size)) return false;
            job->result = data;
            job->result_size = size;
            return true;
    }
    return false;
}

void
zf_record_seal (void *record, size_t size)
{
    if (size >= ZF_RECORD_SUM_SIZE)
        s_sum ((char *) record + ZF_RECORD_SUM_SIZE, size - ZF_RECORD_SUM_SIZE,
               record);
}

int
zf_record_decode (zf_job_t *job, const void *data, size_t size, char *why,
                  size_t why_size)
{
    memset (job, 0, sizeof *job);
    if (size <= ZF_RECORD_SUM_SIZE)
        return s_reject (why, why_size, "record too short", -1);
    unsigned char sum [ZF_RECORD_SUM_SIZE];
    const char *body = (const char *) data + ZF_RECORD_SUM_SIZE;
    size_t body_size = size - ZF_RECORD_SUM_SIZE;
    s_sum (body, body_size, sum);
    if (sodium_memcmp (sum, data, ZF_RECORD_SUM_SIZE) != 0)
        return s_reject (why, why_size, "checksum does not match", -1);

    /* The checksum matched, so these bytes are what zf_record_encode
     * wrote: the checks below guard against a record of another
     * version, a bug, or bytes sealed by someone else (the fuzzer). */
    if (!zf_msgpack_fits ((const uint8_t *) body, body_size))
        return s_reject (why, why_size, "declares more than it holds", -1);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    int rc = -1;
    if (msgpack_unpack_next (&unpacked, body, body_size, &offset)
            != MSGPACK_UNPACK_SUCCESS || offset != body_size)
        s_reject (why, why_size, "not one msgpack value", -1);
    else {
        const msgpack_object *root = &unpacked.data;
        uint64_t version;
        if (root->type != MSGPACK_OBJECT_ARRAY
        ||  root->via.array.size < 1 + R_COUNT
        ||  !s_uint (&root->via.array.ptr [0], UINT32_MAX, &version)
        ||  version != ZF_RECORD_VERSION)
            s_reject (why, why_size, "not a version 1 record", -1);
        else {
            int field = 0;
            while (field < R_COUNT
               &&  s_field (job, field, &root->via.array.ptr [1 + field]))
                field++;
            if (field == R_COUNT)
                rc = 0;
            else
                s_reject (why, why_size, "bad field", field);
        }
    }
    /* Byte fields point into body (msgpack-c references str and bin in
     * the buffer it unpacks), not into the zone freed here. */
    msgpack_unpacked_destroy (&unpacked);
    return rc;
}
