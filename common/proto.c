/* zf_proto.c: the msgpack header codec. The only file that speaks msgpack.
 *
 * Both directions are driven by one table that lists, per command, the
 * fields that follow [ "zf", version, command ]. Decoding checks every type
 * and bound before it copies anything; extra trailing fields are ignored so
 * that a minor revision can add fields without breaking older peers, and
 * the last fields of a command may be optional, so that a peer of an
 * earlier revision, which does not send them, is understood too. */
#include "zf_proto.h"
#include "zfarm_codes.h"
#include "zf_util.h"

#include <msgpack.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    F_TASK_ID, F_SERVICE, F_TIMEOUT, F_RETRIES, F_ATTEMPT, F_STATUS,
    F_TEXT, F_SERVICES, F_CAPACITY, F_PID, F_HOST, F_VERSION, F_EPOCH,
    F_FLAGS, F_PREFETCH, F_HEARTBEAT, F_LIVENESS, F_BROKERS, F_FREE, F_QUEUED,
    F_INSTANCE, F_DONE, F_TOTAL, F_NOTE, F_PRIORITY, F_DELAY, F_RETRY_ON,
    F_BACKOFF_MIN, F_BACKOFF_MAX, F_WAITING, F_WAITED, F_RSS, F_COUNT, F_POOL,
    F_BUSY, F_END
} field_t;

#define FIELDS_MAX 12

typedef struct {
    const char *name;
    field_t fields [FIELDS_MAX];    /* F_END-terminated */
    uint32_t optional;              /* the last this many may be absent */
} command_spec_t;

static const command_spec_t s_specs [ZF_COMMAND_LIMIT] = {
    [ZF_READY]      = { "READY",
                        { F_SERVICES, F_CAPACITY, F_PID, F_HOST, F_VERSION,
                          F_PREFETCH, F_HEARTBEAT, F_LIVENESS, F_BROKERS,
                          F_INSTANCE, F_FLAGS, F_END }, 6 },
    [ZF_SUBMIT]     = { "SUBMIT",
                        { F_TASK_ID, F_SERVICE, F_TIMEOUT, F_RETRIES, F_FLAGS,
                          F_PRIORITY, F_DELAY, F_RETRY_ON, F_BACKOFF_MIN,
                          F_BACKOFF_MAX, F_END }, 6 },
    [ZF_TASK]       = { "TASK",
                        { F_TASK_ID, F_SERVICE, F_ATTEMPT, F_TIMEOUT, F_FLAGS,
                          F_STATUS, F_TEXT, F_END }, 3 },
    [ZF_DONE]       = { "DONE",
                        { F_TASK_ID, F_STATUS, F_TEXT, F_FLAGS, F_END }, 1 },
    [ZF_RESULT]     = { "RESULT",
                        { F_TASK_ID, F_STATUS, F_TEXT, F_FLAGS, F_END }, 1 },
    [ZF_CANCEL]     = { "CANCEL", { F_TASK_ID, F_FLAGS, F_END }, 1 },
    [ZF_HEARTBEAT]  = { "HEARTBEAT", { F_HEARTBEAT, F_LIVENESS, F_FLAGS,
                                        F_RSS, F_END }, 4 },
    [ZF_DISCONNECT] = { "DISCONNECT", { F_TEXT, F_INSTANCE, F_END }, 1 },
    [ZF_ERROR]      = { "ERROR",  { F_STATUS, F_TEXT, F_END }, 0 },
    [ZF_STATUS]     = { "STATUS", { F_END }, 0 },
    [ZF_PING]       = { "PING",   { F_SERVICES, F_END }, 1 },
    [ZF_PONG]       = { "PONG",   { F_EPOCH, F_HEARTBEAT, F_LIVENESS, F_QUEUED,
                                    F_FREE, F_WAITING, F_WAITED, F_FLAGS,
                                    F_POOL, F_BUSY, F_END }, 9 },
    [ZF_SLOTS]      = { "SLOTS",  { F_FREE, F_TASK_ID, F_END }, 1 },
    [ZF_PROGRESS]   = { "PROGRESS",
                        { F_TASK_ID, F_DONE, F_TOTAL, F_NOTE, F_END }, 0 },
    [ZF_STORED]     = { "STORED", { F_TASK_ID, F_END }, 0 },
    [ZF_FETCH]      = { "FETCH",  { F_TASK_ID, F_TIMEOUT, F_FLAGS, F_END }, 1 },
    [ZF_QUERY]      = { "QUERY",  { F_STATUS, F_TEXT, F_END }, 0 },
    [ZF_BATCH]      = { "BATCH",  { F_COUNT, F_FLAGS, F_END }, 1 },
};

struct _zf_decoder_t {
    msgpack_zone zone;          /* reused for every decode */
};

zf_decoder_t *
zf_decoder_new (void)
{
    zf_decoder_t *self = zf_malloc (sizeof *self);
    if (!msgpack_zone_init (&self->zone, 2048))
        zf_die_nomem ();
    return self;
}

void
zf_decoder_destroy (zf_decoder_t **self_p)
{
    if (!*self_p)
        return;
    msgpack_zone_destroy (&(*self_p)->zone);
    free (*self_p);
    *self_p = NULL;
}

const char *
zf_command_name (int command)
{
    if (command > 0 && command < ZF_COMMAND_LIMIT)
        return s_specs [command].name;
    return "UNKNOWN";
}

bool
zf_service_name_is_valid (const char *name, size_t size)
{
    if (size == 0 || size > ZF_SERVICE_MAX)
        return false;
    for (size_t i = 0; i < size; i++)
        if (name [i] <= ' ' || name [i] > '~')
            return false;
    return !(size >= 6 && memcmp (name, "zfarm.", 6) == 0);
}

void
zf_header_init (zf_header_t *header, int command)
{
    header->command = command;
    header->task_id = 0;
    header->epoch = 0;
    header->status = 0;
    header->timeout_ms = 0;
    header->retries = -1;
    header->priority = ZF_PRIORITY_DEFAULT;
    header->delay_ms = 0;
    header->attempt = 0;
    header->capacity = 1;
    header->pid = 0;
    header->service_count = 0;
    header->service [0] = 0;
    header->host [0] = 0;
    header->text [0] = 0;
    header->flags = 0;
    header->prefetch = 1;
    header->heartbeat_ms = 0;
    header->liveness = 0;
    header->brokers = 1;
    header->instance [0] = 0;
    header->free_slots = 0;
    header->queued = 0;
    header->waiting = 0;
    header->waited_ms = 0;
    header->pool = 0;
    header->busy = 0;
    header->rss_kb = 0;
    header->done = 0;
    header->total = 0;
    header->retry_on = 0;
    header->backoff_min_ms = 0;
    header->backoff_max_ms = 0;
    header->count = 0;
}

static void
s_copy (char *dest, size_t dest_size, const char *src, size_t src_size)
{
    size_t n = src_size < dest_size - 1? src_size: dest_size - 1;
    memcpy (dest, src, n);
    dest [n] = 0;
}

void
zf_header_set_text (zf_header_t *header, const char *text)
{
    s_copy (header->text, sizeof header->text, text, strlen (text));
}

void
zf_header_set_service (zf_header_t *header, const char *service)
{
    s_copy (header->service, sizeof header->service, service, strlen (service));
}

/* ---- decoding ---------------------------------------------------------- */

/* Reads a big-endian length of width bytes at *at, if there are that many. */
static bool
s_read_length (const uint8_t *data, size_t size, size_t *at, int width,
               uint64_t *length)
{
    if ((size_t) width > size - *at)
        return false;
    *length = 0;
    for (int i = 0; i < width; i++)
        *length = (*length << 8) | data [(*at)++];
    return true;
}

/* Walks the encoding without building it: true if every declared string
 * length and item count fits in the bytes that are left. msgpack-c would
 * otherwise allocate what a 5-byte header claims (an array of 4 billion
 * items) before finding out it is not there. */
bool
zf_msgpack_fits (const uint8_t *data, size_t size)
{
    size_t at = 0;
    uint64_t pending = 1;       /* items still to read; never above size */
    while (pending--) {
        if (at >= size)
            return false;
        uint8_t byte = data [at++];
        uint64_t skip = 0, items = 0;
        if (byte <= 0x7f || byte >= 0xe0)
            continue;                           /* fixint */
        if ((byte & 0xf0) == 0x80)
            items = 2 * (uint64_t) (byte & 0x0f);   /* fixmap */
        else
        if ((byte & 0xf0) == 0x90)
            items = byte & 0x0f;                /* fixarray */
        else
        if ((byte & 0xe0) == 0xa0)
            skip = byte & 0x1f;                 /* fixstr */
        else
        if (byte >= 0xc4 && byte <= 0xc9) {     /* bin, ext */
            int width = 1 << ((byte - 0xc4) % 3);
            if (!s_read_length (data, size, &at, width, &skip))
                return false;
            skip += byte >= 0xc7;               /* ext type byte */
        }
        else
        if (byte >= 0xd9 && byte <= 0xdb) {     /* str 8/16/32 */
            if (!s_read_length (data, size, &at, 1 << (byte - 0xd9), &skip))
                return false;
        }
        else
        if (byte >= 0xdc && byte <= 0xdf) {     /* array, map 16/32 */
            int width = byte & 1? 4: 2;
            if (!s_read_length (data, size, &at, width, &items))
                return false;
            items *= byte >= 0xde? 2: 1;
        }
        else
        if (byte >= 0xca && byte <= 0xd3)       /* float, int, uint */
            skip = (uint64_t [] ) { 4, 8, 1, 2, 4, 8, 1, 2, 4, 8 } [byte - 0xca];
        else
        if (byte >= 0xd4 && byte <= 0xd8)       /* fixext */
            skip = 1 + (1u << (byte - 0xd4));
        else
        if (byte == 0xc1)
            return false;                       /* never used */
        if (skip > size - at || items > size - at)
            return false;   /* every item takes at least one byte */
        at += skip;
        pending += items;
    }
    return true;
}

static int
s_reject (zf_header_t *header, const char *why)
{
    s_copy (header->text, sizeof header->text, why, strlen (why));
    return ZFARM_EBAD_REQUEST;
}

static bool
s_get_uint (const msgpack_object *o, uint64_t max, uint64_t *value)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return false;
    *value = o->via.u64;
    return true;
}

static bool
s_get_int (const msgpack_object *o, int64_t min, int64_t max, int64_t *value)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t) max)
            return false;
        *value = (int64_t) o->via.u64;
    }
    else
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < min)
            return false;
        *value = o->via.i64;
    }
    else
        return false;
    return true;
}

static bool
s_get_service (const msgpack_object *o, char *dest)
{
    if (o->type != MSGPACK_OBJECT_STR
    ||  !zf_service_name_is_valid (o->via.str.ptr, o->via.str.size))
        return false;
    s_copy (dest, ZF_SERVICE_MAX + 1, o->via.str.ptr, o->via.str.size);
    return true;
}

static bool
s_get_str (const msgpack_object *o, char *dest, size_t dest_size)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return false;
    s_copy (dest, dest_size, o->via.str.ptr, o->via.str.size);
    return true;
}

/* A READY's host, version or instance: a name that the broker shows
 * (status, page, logs) and others read, never free text. At most max
 * bytes of printable ASCII, a space among them only if space; anything
 * else is refused, not cut or cleaned, so that what is shown is what the
 * worker said. */
static bool
s_get_name (const msgpack_object *o, char *dest, size_t max, bool space)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max)
        return false;
    const unsigned char *name = (const unsigned char *) o->via.str.ptr;
    for (uint32_t i = 0; i < o->via.str.size; i++)
        if (name [i] < (space? ' ': '!') || name [i] > '~')
            return false;
    s_copy (dest, max + 1, o->via.str.ptr, o->via.str.size);
    return true;
}

static bool
s_get_services (const msgpack_object *o, zf_header_t *header)
{
    if (o->type != MSGPACK_OBJECT_ARRAY
    ||  o->via.array.size == 0 || o->via.array.size > ZF_SERVICES_MAX)
        return false;
    for (uint32_t i = 0; i < o->via.array.size; i++)
        if (!s_get_service (&o->via.array.ptr [i], header->services [i]))
            return false;
    header->service_count = o->via.array.size;
    return true;
}

/* Decodes one field; false if its type or value is out of bounds. */
static bool
s_decode_field (field_t field, const msgpack_object *o, zf_header_t *header)
{
    uint64_t u;
    int64_t i;
    switch (field) {
        case F_TASK_ID:
            return s_get_uint (o, UINT64_MAX, &header->task_id)
                && header->task_id != 0;
        case F_EPOCH:    return s_get_uint (o, UINT64_MAX, &header->epoch);
        case F_SERVICE:  return s_get_service (o, header->service);
        case F_SERVICES: return s_get_services (o, header);
        case F_TEXT:     return s_get_str (o, header->text, sizeof header->text);
        case F_HOST:
            return s_get_name (o, header->host, ZF_HOST_MAX, false);
        case F_VERSION:
            return s_get_name (o, header->text, ZF_VERSION_MAX, true);
        case F_TIMEOUT:
            if (!s_get_uint (o, UINT32_MAX, &u)) return false;
            header->timeout_ms = (uint32_t) u;
            return true;
        case F_ATTEMPT:
            if (!s_get_uint (o, UINT32_MAX, &u) || u == 0) return false;
            header->attempt = (uint32_t) u;
            return true;
        case F_CAPACITY:
            if (!s_get_uint (o, ZF_CAPACITY_MAX, &u) || u == 0) return false;
            header->capacity = (uint32_t) u;
            return true;
        case F_PID:
            if (!s_get_uint (o, UINT32_MAX, &u)) return false;
            header->pid = (uint32_t) u;
            return true;
        case F_RETRIES:
            if (!s_get_int (o, -1, ZF_RETRIES_MAX, &i)) return false;
            header->retries = (int32_t) i;
            return true;
        case F_STATUS:
            /* Positive on the wire, a ZFARM_E* code in the header. */
            if (!s_get_int (o, 0, 0xFFFF, &i)) return false;
            header->status = -(int) i;
            return true;
        case F_PREFETCH:
            if (!s_get_uint (o, ZF_PREFETCH_MAX, &u) || u == 0) return false;
            header->prefetch = (uint32_t) u;
            return true;
        case F_FLAGS:
            /* Bits this revision does not know are a later one's: kept,
             * and ignored by whoever does not know them either. */
            if (!s_get_uint (o, UINT32_MAX, &u)) return false;
            header->flags = (uint32_t) u;
            return true;
        case F_HEARTBEAT:       /* 0: not said */
            if (!s_get_uint (o, ZF_HEARTBEAT_MAX_MS, &u)
            ||  (u && u < ZF_HEARTBEAT_MIN_MS)) return false;
            header->heartbeat_ms = (uint32_t) u;
            return true;
        case F_LIVENESS:        /* 0: not said */
            if (!s_get_uint (o, ZF_LIVENESS_MAX, &u)) return false;
            header->liveness = (uint32_t) u;
            return true;
        case F_BROKERS:
            if (!s_get_uint (o, ZF_BROKERS_MAX, &u) || u == 0) return false;
            header->brokers = (uint32_t) u;
            return true;
        case F_INSTANCE:
            return s_get_name (o, header->instance, ZF_INSTANCE_MAX, false);
        case F_FREE:
            if (!s_get_uint (o, UINT32_MAX, &u)) return false;
            header->free_slots = (uint32_t) u;
            return true;
        case F_QUEUED:
            return s_get_uint (o, UINT64_MAX, &header->queued);
        case F_WAITING:
            return s_get_uint (o, UINT64_MAX, &header->waiting);
        case F_RSS:
            return s_get_uint (o, UINT64_MAX, &header->rss_kb);
        case F_WAITED:
            if (!s_get_uint (o, UINT32_MAX, &u)) return false;
            header->waited_ms = (uint32_t) u;
            return true;
        case F_POOL:     return s_get_uint (o, UINT64_MAX, &header->pool);
        case F_BUSY:            /* advisory: more than all is all */
            if (!s_get_uint (o, UINT32_MAX, &u)) return false;
            header->busy = u > ZF_BUSY_MAX? ZF_BUSY_MAX: (uint32_t) u;
            return true;
        case F_DONE:     return s_get_uint (o, UINT64_MAX, &header->done);
        case F_TOTAL:    return s_get_uint (o, UINT64_MAX, &header->total);
        case F_NOTE:
            /* Free text, cut to its bound as error texts are to theirs. */
            return s_get_str (o, header->text, ZF_NOTE_MAX + 1);
        case F_PRIORITY:
            if (!s_get_uint (o, ZF_PRIORITY_MAX, &u)) return false;
            header->priority = (uint32_t) u;
            return true;
        case F_DELAY:
            if (!s_get_uint (o, UINT32_MAX, &u)) return false;
            header->delay_ms = (uint32_t) u;
            return true;
        case F_RETRY_ON:
            if (!s_get_uint (o, UINT32_MAX, &u)) return false;
            header->retry_on = (uint32_t) u;
            return true;
        case F_BACKOFF_MIN:
            if (!s_get_uint (o, ZF_BACKOFF_MAX_MS, &u)) return false;
            header->backoff_min_ms = (uint32_t) u;
            return true;
        case F_BACKOFF_MAX:
            if (!s_get_uint (o, ZF_BACKOFF_MAX_MS, &u)) return false;
            header->backoff_max_ms = (uint32_t) u;
            return true;
        case F_COUNT:
            if (!s_get_uint (o, ZF_BATCH_ITEMS_MAX, &u) || u == 0) return false;
            header->count = (uint32_t) u;
            return true;
        case F_END:
            break;
    }
    return false;
}

static int
s_decode_object (const msgpack_object *root, zf_header_t *header)
{
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 3)
        return s_reject (header, "header is not an array of 3 or more");
    const msgpack_object *item = root->via.array.ptr;
    if (item [0].type != MSGPACK_OBJECT_STR
    ||  item [0].via.str.size != strlen (ZF_PROTOCOL_ID)
    ||  memcmp (item [0].via.str.ptr, ZF_PROTOCOL_ID, 2) != 0)
        return s_reject (header, "not a zfarm header");
    uint64_t version, command;
    if (!s_get_uint (&item [1], UINT32_MAX, &version))
        return s_reject (header, "bad protocol version field");
    if (version != ZF_PROTOCOL_VERSION) {
        header->command = 0;
        snprintf (header->text, sizeof header->text,
                  "protocol version %u not supported (this is %d)",
                  (unsigned) version, ZF_PROTOCOL_VERSION);
        return ZFARM_EBAD_VERSION;
    }
    if (!s_get_uint (&item [2], ZF_COMMAND_LIMIT - 1, &command) || command == 0)
        return s_reject (header, "unknown command");
    zf_header_init (header, (int) command);

    const command_spec_t *spec = &s_specs [command];
    const field_t *fields = spec->fields;
    uint32_t index = 3, required = 3;
    while (fields [required - 3] != F_END)
        required++;
    required -= spec->optional;
    for (; *fields != F_END; fields++, index++) {
        if (index >= root->via.array.size && index >= required)
            break;              /* an optional field, absent */
        if (index >= root->via.array.size)
            return s_reject (header, "missing field");
        if (!s_decode_field (*fields, &item [index], header)) {
            char why [64];
            snprintf (why, sizeof why, "bad field %u of %s",
                      (unsigned) index, s_specs [command].name);
            return s_reject (header, why);
        }
    }
    return 0;
}

int
zf_header_decode (zf_decoder_t *self, zf_header_t *header,
                  const void *data, size_t size)
{
    zf_header_init (header, 0);
    if (size == 0 || size > ZF_HEADER_MAX)
        return s_reject (header, "header empty or too long");
    if (!zf_msgpack_fits ((const uint8_t *) data, size))
        return s_reject (header, "header declares more than it holds");
    msgpack_object root;
    size_t offset = 0;
    msgpack_unpack_return rc = msgpack_unpack (
        (const char *) data, size, &offset, &self->zone, &root);
    int result;
    if (rc != MSGPACK_UNPACK_SUCCESS || offset != size)
        result = s_reject (header, "header is not one msgpack value");
    else
        result = s_decode_object (&root, header);
    msgpack_zone_clear (&self->zone);
    return result;
}

/* ---- encoding ---------------------------------------------------------- */

static int
s_buf_write (void *data, const char *bytes, size_t size)
{
    zf_buf_t *buf = data;
    if (buf->overflow || size > sizeof buf->data - buf->size) {
        buf->overflow = true;
        return -1;
    }
    memcpy (buf->data + buf->size, bytes, size);
    buf->size += size;
    return 0;
}

static void
s_pack_str (msgpack_packer *pk, const char *s)
{
    size_t size = strlen (s);
    msgpack_pack_str (pk, size);
    msgpack_pack_str_body (pk, s, size);
}

static void
s_encode_field (field_t field, const zf_header_t *header, msgpack_packer *pk)
{
    switch (field) {
        case F_TASK_ID:  msgpack_pack_uint64 (pk, header->task_id); break;
        case F_EPOCH:    msgpack_pack_uint64 (pk, header->epoch); break;
        case F_SERVICE:  s_pack_str (pk, header->service); break;
        case F_TEXT:     s_pack_str (pk, header->text); break;
        case F_HOST:     s_pack_str (pk, header->host); break;
        case F_VERSION:  s_pack_str (pk, header->text); break;
        case F_TIMEOUT:  msgpack_pack_uint32 (pk, header->timeout_ms); break;
        case F_ATTEMPT:  msgpack_pack_uint32 (pk, header->attempt); break;
        case F_CAPACITY: msgpack_pack_uint32 (pk, header->capacity); break;
        case F_PID:      msgpack_pack_uint32 (pk, header->pid); break;
        case F_RETRIES:  msgpack_pack_int32 (pk, header->retries); break;
        case F_STATUS:   msgpack_pack_int (pk, -header->status); break;
        case F_FLAGS:    msgpack_pack_uint32 (pk, header->flags); break;
        case F_PREFETCH: msgpack_pack_uint32 (pk, header->prefetch); break;
        case F_HEARTBEAT: msgpack_pack_uint32 (pk, header->heartbeat_ms); break;
        case F_LIVENESS: msgpack_pack_uint32 (pk, header->liveness); break;
        case F_BROKERS:  msgpack_pack_uint32 (pk, header->brokers); break;
        case F_FREE:     msgpack_pack_uint32 (pk, header->free_slots); break;
        case F_QUEUED:   msgpack_pack_uint64 (pk, header->queued); break;
        case F_WAITING:  msgpack_pack_uint64 (pk, header->waiting); break;
        case F_RSS:      msgpack_pack_uint64 (pk, header->rss_kb); break;
        case F_WAITED:   msgpack_pack_uint32 (pk, header->waited_ms); break;
        case F_POOL:     msgpack_pack_uint64 (pk, header->pool); break;
        case F_BUSY:     msgpack_pack_uint32 (pk, header->busy); break;
        case F_INSTANCE: s_pack_str (pk, header->instance); break;
        case F_DONE:     msgpack_pack_uint64 (pk, header->done); break;
        case F_TOTAL:    msgpack_pack_uint64 (pk, header->total); break;
        case F_NOTE: {
            size_t size = strnlen (header->text, ZF_NOTE_MAX);
            msgpack_pack_str (pk, size);
            msgpack_pack_str_body (pk, header->text, size);
            break;
        }
        case F_PRIORITY: msgpack_pack_uint32 (pk, header->priority); break;
        case F_DELAY:    msgpack_pack_uint32 (pk, header->delay_ms); break;
        case F_RETRY_ON: msgpack_pack_uint32 (pk, header->retry_on); break;
        case F_BACKOFF_MIN: msgpack_pack_uint32 (pk, header->backoff_min_ms); break;
        case F_BACKOFF_MAX: msgpack_pack_uint32 (pk, header->backoff_max_ms); break;
        case F_COUNT:    msgpack_pack_uint32 (pk, header->count); break;
        case F_SERVICES:
            msgpack_pack_array (pk, header->service_count);
            for (uint32_t i = 0; i < header->service_count; i++)
                s_pack_str (pk, header->services [i]);
            break;
        case F_END:
            break;
    }
}

/* True for a field that has a value meaning "not said", and has it. */
static bool
s_field_is_absent (field_t field, const zf_header_t *header)
{
    return (field == F_HEARTBEAT && header->heartbeat_ms == 0)
        || (field == F_LIVENESS && header->liveness == 0)
        || (field == F_BROKERS && header->brokers == 1)
        || (field == F_INSTANCE && header->instance [0] == 0)
        || (field == F_PRIORITY && header->priority == ZF_PRIORITY_DEFAULT)
        || (field == F_DELAY && header->delay_ms == 0)
        || (field == F_RETRY_ON && header->retry_on == 0)
        || ((field == F_BACKOFF_MIN || field == F_BACKOFF_MAX)
            && header->backoff_max_ms == 0)
        || (field == F_STATUS && header->command == ZF_TASK
            && header->status == 0)
        || (field == F_TEXT && header->command == ZF_TASK
            && header->text [0] == 0)
        || (field == F_TASK_ID && header->command == ZF_SLOTS
            && header->task_id == 0)
        || (field == F_FLAGS && (header->command == ZF_HEARTBEAT
                                 || header->command == ZF_READY
                                 || header->command == ZF_PONG
                                 || header->command == ZF_BATCH)
            && header->flags == 0)
        || (field == F_RSS && header->rss_kb == 0)
        || (field == F_POOL && header->pool == 0)
        || (field == F_BUSY && header->busy == 0)
        || (field == F_SERVICES && header->command == ZF_PING
            && header->service_count == 0)
        || ((field == F_WAITING || field == F_WAITED)
            && header->command == ZF_PONG && header->waiting == 0);
}

int
zf_header_encode (const zf_header_t *header, zf_buf_t *buf)
{
    buf->size = 0;
    buf->overflow = false;
    if (header->command <= 0 || header->command >= ZF_COMMAND_LIMIT)
        return -1;
    const command_spec_t *spec = &s_specs [header->command];
    const field_t *fields = spec->fields;
    size_t count = 0;
    while (fields [count] != F_END)
        count++;
    /* Optional fields at the end that say nothing are left out, so that a
     * HEARTBEAT from a worker stays as short as ever. */
    size_t required = count - spec->optional;
    while (count > required && s_field_is_absent (fields [count - 1], header))
        count--;

    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, s_buf_write);
    msgpack_pack_array (&pk, 3 + count);
    s_pack_str (&pk, ZF_PROTOCOL_ID);
    msgpack_pack_uint32 (&pk, ZF_PROTOCOL_VERSION);
    msgpack_pack_uint32 (&pk, (uint32_t) header->command);
    for (size_t i = 0; i < count; i++)
        s_encode_field (fields [i], header, &pk);
    return buf->overflow? -1: 0;
}
