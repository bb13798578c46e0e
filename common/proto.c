/* zf_proto.c: the msgpack header codec. The only file that speaks msgpack.
 *
 * Both directions are driven by one table that lists, per command, the
 * fields that follow [ "zf", version, command ]. Decoding checks every type
 * and bound before it copies anything; extra trailing fields are ignored so
 * that a minor revision can add fields without breaking older peers.
 *
 * The header is a flat array of a few small values, so both directions
 * work on the bytes directly, with no msgpack-c object tree and no
 * allocation: one walk checks that the whole encoding is well formed and
 * that every size it declares fits, then a cursor reads the fields. What
 * is accepted is what msgpack_unpack accepted (nesting limit included), and
 * the encoder writes each value in msgpack-c's shortest form. */
#include "zf_proto.h"
#include "zfarm_codes.h"
#include "zf_util.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    F_TASK_ID, F_SERVICE, F_TIMEOUT, F_RETRIES, F_ATTEMPT, F_STATUS,
    F_TEXT, F_SERVICES, F_CAPACITY, F_PID, F_HOST, F_EPOCH, F_FLAGS,
    F_PREFETCH, F_END
} field_t;

#define FIELDS_MAX 7

typedef struct {
    const char *name;
    field_t fields [FIELDS_MAX];    /* F_END-terminated */
    uint32_t optional;              /* the last this many may be absent */
} command_spec_t;

static const command_spec_t s_specs [ZF_COMMAND_LIMIT] = {
    [ZF_READY]      = { "READY",
                        { F_SERVICES, F_CAPACITY, F_PID, F_HOST, F_TEXT,
                          F_PREFETCH, F_END }, 1 },
    [ZF_SUBMIT]     = { "SUBMIT",
                        { F_TASK_ID, F_SERVICE, F_TIMEOUT, F_RETRIES, F_FLAGS,
                          F_END }, 1 },
    [ZF_TASK]       = { "TASK",
                        { F_TASK_ID, F_SERVICE, F_ATTEMPT, F_TIMEOUT, F_FLAGS,
                          F_END }, 1 },
    [ZF_DONE]       = { "DONE",
                        { F_TASK_ID, F_STATUS, F_TEXT, F_FLAGS, F_END }, 1 },
    [ZF_RESULT]     = { "RESULT",
                        { F_TASK_ID, F_STATUS, F_TEXT, F_FLAGS, F_END }, 1 },
    [ZF_CANCEL]     = { "CANCEL", { F_TASK_ID, F_END }, 0 },
    [ZF_HEARTBEAT]  = { "HEARTBEAT", { F_END }, 0 },
    [ZF_DISCONNECT] = { "DISCONNECT", { F_TEXT, F_END }, 0 },
    [ZF_ERROR]      = { "ERROR",  { F_STATUS, F_TEXT, F_END }, 0 },
    [ZF_STATUS]     = { "STATUS", { F_END }, 0 },
    [ZF_PING]       = { "PING",   { F_END }, 0 },
    [ZF_PONG]       = { "PONG",   { F_EPOCH, F_END }, 0 },
};

/* The cursor needs no memory of its own; the decoder object stays so that
 * callers keep one API, and a later decoder may keep state in it. */
struct _zf_decoder_t {
    uint64_t decoded;           /* headers decoded, for a debugger */
};

zf_decoder_t *
zf_decoder_new (void)
{
    return zf_malloc (sizeof (zf_decoder_t));
}

void
zf_decoder_destroy (zf_decoder_t **self_p)
{
    if (!*self_p)
        return;
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
    header->attempt = 0;
    header->capacity = 1;
    header->pid = 0;
    header->service_count = 0;
    header->service [0] = 0;
    header->host [0] = 0;
    header->text [0] = 0;
    header->flags = 0;
    header->prefetch = 1;
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

/* A cursor reads the header in place: no object tree, no allocation. It
 * checks the bounds of every value it reads; s_walk checks what it does
 * not read (the fields a later revision may append). */
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t at;
} cursor_t;

/* What the cursor found: the kinds of msgpack value a header may hold, as
 * msgpack-c classifies them (a signed encoding of a value >= 0 is UINT),
 * and OTHER for the rest (nil, bool, float, bin, map, ext). */
typedef enum { ITEM_UINT, ITEM_NINT, ITEM_STR, ITEM_ARRAY, ITEM_OTHER } item_kind_t;

typedef struct {
    item_kind_t kind;
    uint64_t u;                 /* UINT: value; ARRAY: item count */
    int64_t i;                  /* NINT: value */
    const char *str;            /* STR: bytes, in the header */
    size_t size;                /* STR: length */
} item_t;

#define DEPTH_MAX 32            /* msgpack-c's nesting limit (its embedded
                                   stack), kept so that this decoder accepts
                                   exactly what msgpack_unpack did */

typedef enum { WALK_OK, WALK_SIZES, WALK_NOT_ONE } walk_t;

/* Reads a big-endian number of width bytes (1, 2, 4 or 8) at *at, if
 * there are that many. */
static bool
s_read_length (const uint8_t *data, size_t size, size_t *at, int width,
               uint64_t *length)
{
    if ((size_t) width > size - *at)
        return false;
    const uint8_t *bytes = data + *at;
    *at += (size_t) width;
    if (width == 1)
        *length = bytes [0];
    else
    if (width == 2)
        *length = (uint64_t) bytes [0] << 8 | bytes [1];
    else
    if (width == 4) {
        uint32_t word;
        memcpy (&word, bytes, sizeof word);
        *length = __builtin_bswap32 (word);
    }
    else {
        uint64_t word;
        memcpy (&word, bytes, sizeof word);
        *length = __builtin_bswap64 (word);
    }
    return true;
}

/* Tracks nesting as msgpack-c does: a container that is not empty stays
 * open until its last item ends; a container header met while DEPTH_MAX
 * are open is refused. open [] holds the items each open container still
 * expects. */
typedef struct {
    uint64_t open [DEPTH_MAX];
    int depth;
    bool too_deep;
} nesting_t;

static void
s_nesting_item (nesting_t *self, bool container, uint64_t items)
{
    if (self->too_deep)
        return;
    if (self->depth)
        self->open [self->depth - 1]--;
    if (container && self->depth == DEPTH_MAX)
        self->too_deep = true;
    else
    if (container && items)
        self->open [self->depth++] = items;
    else
        while (self->depth && self->open [self->depth - 1] == 0)
            self->depth--;
}

/* Walks the encoding without building it, from at, where pending items
 * remain of the root array (or, at 0, the root itself): WALK_SIZES unless
 * every declared string length and item count fits in the bytes that are
 * left (a 5-byte header may claim an array of 4 billion items),
 * WALK_NOT_ONE unless the bytes end with the root, nested at most
 * DEPTH_MAX deep. */
static walk_t
s_walk (const uint8_t *data, size_t size, size_t at, uint64_t pending)
{
    nesting_t nesting;
    nesting.depth = 0;
    nesting.too_deep = false;
    if (at > 0 && pending > 0)
        nesting.open [nesting.depth++] = pending;   /* the root is open */
    while (pending--) {
        if (at >= size)
            return WALK_SIZES;
        uint8_t byte = data [at++];
        uint64_t skip = 0, items = 0;
        bool container = false;
        if (byte <= 0x7f || byte >= 0xe0)
            ;                                   /* fixint */
        else
        if ((byte & 0xe0) == 0x80) {            /* fixmap, fixarray */
            container = true;
            items = (byte & 0x0f) * (byte < 0x90? 2u: 1u);
        }
        else
        if ((byte & 0xe0) == 0xa0)
            skip = byte & 0x1f;                 /* fixstr */
        else
        if (byte >= 0xc4 && byte <= 0xc9) {     /* bin, ext */
            int width = 1 << ((byte - 0xc4) % 3);
            if (!s_read_length (data, size, &at, width, &skip))
                return WALK_SIZES;
            skip += byte >= 0xc7;               /* ext type byte */
        }
        else
        if (byte >= 0xd9 && byte <= 0xdb) {     /* str 8/16/32 */
            if (!s_read_length (data, size, &at, 1 << (byte - 0xd9), &skip))
                return WALK_SIZES;
        }
        else
        if (byte >= 0xdc && byte <= 0xdf) {     /* array, map 16/32 */
            int width = byte & 1? 4: 2;
            if (!s_read_length (data, size, &at, width, &items))
                return WALK_SIZES;
            items *= byte >= 0xde? 2: 1;
            container = true;
        }
        else
        if (byte >= 0xca && byte <= 0xd3)       /* float, int, uint */
            skip = (uint64_t [] ) { 4, 8, 1, 2, 4, 8, 1, 2, 4, 8 } [byte - 0xca];
        else
        if (byte >= 0xd4 && byte <= 0xd8)       /* fixext */
            skip = 1 + (1u << (byte - 0xd4));
        else
        if (byte == 0xc1)
            return WALK_SIZES;                  /* never used */
        if (skip > size - at || items > size - at)
            return WALK_SIZES;  /* every item takes at least one byte */
        at += skip;
        pending += items;
        s_nesting_item (&nesting, container, items);
    }
    return nesting.too_deep || at != size? WALK_NOT_ONE: WALK_OK;
}

/* Reads the next value's head into item: the whole value for a number or
 * a string, the count for an array (its items follow), the kind only for
 * anything else. False if the bytes end first. */
static bool
s_next (cursor_t *self, item_t *item)
{
    if (self->at >= self->size)
        return false;
    uint8_t byte = self->data [self->at++];
    uint64_t value = 0;
    if (byte <= 0x7f) {                         /* the most common */
        item->kind = ITEM_UINT;
        item->u = byte;
        return true;
    }
    *item = (item_t) { .kind = ITEM_OTHER };
    if (byte >= 0xe0) {
        item->kind = ITEM_NINT;
        item->i = (int8_t) byte;
    }
    else
    if (byte >= 0xcc && byte <= 0xcf) {         /* uint 8..64 */
        if (!s_read_length (self->data, self->size, &self->at,
                            1 << (byte - 0xcc), &value))
            return false;
        item->kind = ITEM_UINT;
        item->u = value;
    }
    else
    if (byte >= 0xd0 && byte <= 0xd3) {         /* int 8..64 */
        int width = 1 << (byte - 0xd0);
        if (!s_read_length (self->data, self->size, &self->at, width, &value))
            return false;
        int shift = 64 - 8 * width;             /* sign-extend */
        int64_t signed_value = (int64_t) (value << shift) >> shift;
        item->kind = signed_value < 0? ITEM_NINT: ITEM_UINT;
        item->i = signed_value;
        item->u = (uint64_t) signed_value;
    }
    else
    if ((byte & 0xe0) == 0xa0 || (byte >= 0xd9 && byte <= 0xdb)) {
        if (byte >= 0xd9
        &&  !s_read_length (self->data, self->size, &self->at,
                            1 << (byte - 0xd9), &value))
            return false;
        if (byte < 0xd9)
            value = byte & 0x1f;
        if (value > self->size - self->at)
            return false;
        item->kind = ITEM_STR;
        item->str = (const char *) self->data + self->at;
        item->size = (size_t) value;
        self->at += (size_t) value;
    }
    else
    if ((byte & 0xf0) == 0x90 || byte == 0xdc || byte == 0xdd) {
        if (byte >= 0xdc
        &&  !s_read_length (self->data, self->size, &self->at,
                            byte == 0xdc? 2: 4, &value))
            return false;
        item->kind = ITEM_ARRAY;
        item->u = byte >= 0xdc? value: (uint64_t) (byte & 0x0f);
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
s_get_uint (const item_t *item, uint64_t max, uint64_t *value)
{
    if (item->kind != ITEM_UINT || item->u > max)
        return false;
    *value = item->u;
    return true;
}

static bool
s_get_int (const item_t *item, int64_t min, int64_t max, int64_t *value)
{
    if (item->kind == ITEM_UINT && item->u <= (uint64_t) max)
        *value = (int64_t) item->u;
    else
    if (item->kind == ITEM_NINT && item->i >= min)
        *value = item->i;
    else
        return false;
    return true;
}

static bool
s_get_service (const item_t *item, char *dest)
{
    if (item->kind != ITEM_STR
    ||  !zf_service_name_is_valid (item->str, item->size))
        return false;
    s_copy (dest, ZF_SERVICE_MAX + 1, item->str, item->size);
    return true;
}

static bool
s_get_str (const item_t *item, char *dest, size_t dest_size)
{
    if (item->kind != ITEM_STR)
        return false;
    s_copy (dest, dest_size, item->str, item->size);
    return true;
}

static bool
s_get_services (cursor_t *cursor, const item_t *item, zf_header_t *header)
{
    if (item->kind != ITEM_ARRAY
    ||  item->u == 0 || item->u > ZF_SERVICES_MAX)
        return false;
    for (uint32_t i = 0; i < item->u; i++) {
        item_t service;
        if (!s_next (cursor, &service)
        ||  !s_get_service (&service, header->services [i]))
            return false;
    }
    header->service_count = (uint32_t) item->u;
    return true;
}

/* Decodes one field; false if its type or value is out of bounds. */
static bool
s_decode_field (field_t field, cursor_t *cursor, zf_header_t *header)
{
    item_t item;
    uint64_t u;
    int64_t i;
    if (!s_next (cursor, &item))
        return false;
    switch (field) {
        case F_TASK_ID:
            return s_get_uint (&item, UINT64_MAX, &header->task_id)
                && header->task_id != 0;
        case F_EPOCH:    return s_get_uint (&item, UINT64_MAX, &header->epoch);
        case F_SERVICE:  return s_get_service (&item, header->service);
        case F_SERVICES: return s_get_services (cursor, &item, header);
        case F_TEXT:     return s_get_str (&item, header->text, sizeof header->text);
        case F_HOST:     return s_get_str (&item, header->host, sizeof header->host);
        case F_TIMEOUT:
            if (!s_get_uint (&item, UINT32_MAX, &u)) return false;
            header->timeout_ms = (uint32_t) u;
            return true;
        case F_ATTEMPT:
            if (!s_get_uint (&item, UINT32_MAX, &u) || u == 0) return false;
            header->attempt = (uint32_t) u;
            return true;
        case F_CAPACITY:
            if (!s_get_uint (&item, ZF_CAPACITY_MAX, &u) || u == 0) return false;
            header->capacity = (uint32_t) u;
            return true;
        case F_PID:
            if (!s_get_uint (&item, UINT32_MAX, &u)) return false;
            header->pid = (uint32_t) u;
            return true;
        case F_RETRIES:
            if (!s_get_int (&item, -1, ZF_RETRIES_MAX, &i)) return false;
            header->retries = (int32_t) i;
            return true;
        case F_STATUS:
            if (!s_get_int (&item, 0, 0xFFFF, &i)) return false;
            header->status = (int) i;
            return true;
        case F_PREFETCH:
            if (!s_get_uint (&item, ZF_PREFETCH_MAX, &u) || u == 0) return false;
            header->prefetch = (uint32_t) u;
            return true;
        case F_FLAGS:
            /* Bits this revision does not know are a later one's: kept,
             * and ignored by whoever does not know them either. */
            if (!s_get_uint (&item, UINT32_MAX, &u)) return false;
            header->flags = (uint32_t) u;
            return true;
        case F_END:
            break;
    }
    return false;
}

/* The fields after [ "zf", version, command ], in the command's order;
 * count is the root array's length. */
static int
s_decode_fields (cursor_t *cursor, uint64_t count, zf_header_t *header,
                 uint64_t *rest)
{
    const command_spec_t *spec = &s_specs [header->command];
    const field_t *fields = spec->fields;
    uint32_t index = 3, required = 3;
    while (fields [required - 3] != F_END)
        required++;
    required -= spec->optional;
    for (; *fields != F_END; fields++, index++) {
        if (index >= count && index >= required)
            break;              /* an optional field, absent */
        if (index >= count)
            return s_reject (header, "missing field");
        if (!s_decode_field (*fields, cursor, header)) {
            char why [64];
            snprintf (why, sizeof why, "bad field %u of %s",
                      (unsigned) index, s_specs [header->command].name);
            return s_reject (header, why);
        }
    }
    *rest = count > index? count - index: 0;    /* a later revision's */
    return 0;
}

/* Decodes the header at the cursor; on success, rest is the count of root
 * items after the fields read. */
static int
s_decode_items (cursor_t *cursor, zf_header_t *header, uint64_t *rest)
{
    item_t root, id, item;
    if (!s_next (cursor, &root) || root.kind != ITEM_ARRAY || root.u < 3)
        return s_reject (header, "header is not an array of 3 or more");
    if (!s_next (cursor, &id) || id.kind != ITEM_STR
    ||  id.size != strlen (ZF_PROTOCOL_ID)
    ||  memcmp (id.str, ZF_PROTOCOL_ID, 2) != 0)
        return s_reject (header, "not a zfarm header");
    uint64_t version, command;
    if (!s_next (cursor, &item) || !s_get_uint (&item, UINT32_MAX, &version))
        return s_reject (header, "bad protocol version field");
    if (version != ZF_PROTOCOL_VERSION) {
        header->command = 0;
        snprintf (header->text, sizeof header->text,
                  "protocol version %u not supported (this is %d)",
                  (unsigned) version, ZF_PROTOCOL_VERSION);
        return ZFARM_EBAD_VERSION;
    }
    if (!s_next (cursor, &item)
    ||  !s_get_uint (&item, ZF_COMMAND_LIMIT - 1, &command) || command == 0)
        return s_reject (header, "unknown command");
    zf_header_init (header, (int) command);
    return s_decode_fields (cursor, root.u, header, rest);
}

int
zf_header_decode (zf_decoder_t *self, zf_header_t *header,
                  const void *data, size_t size)
{
    assert (self);
    self->decoded++;
    zf_header_init (header, 0);
    if (size == 0 || size > ZF_HEADER_MAX)
        return s_reject (header, "header empty or too long");
    /* A malformed encoding is reported as such before any field, as
     * msgpack-c reported it: a header that decodes is walked past its
     * fields, one that does not is walked whole. */
    cursor_t cursor = { .data = data, .size = size, .at = 0 };
    uint64_t rest = 0;
    int rc = s_decode_items (&cursor, header, &rest);
    walk_t walk = rc == 0? s_walk (data, size, cursor.at, rest)
                         : s_walk (data, size, 0, 1);
    if (walk == WALK_OK)
        return rc;
    zf_header_init (header, 0);
    return s_reject (header, walk == WALK_SIZES
                             ? "header declares more than it holds"
                             : "header is not one msgpack value");
}

/* ---- encoding ---------------------------------------------------------- */

/* Each value in its shortest msgpack form, as msgpack-c's packer writes it. */

static void
s_put (zf_buf_t *buf, const void *bytes, size_t size)
{
    if (buf->overflow || size > sizeof buf->data - buf->size) {
        buf->overflow = true;
        return;
    }
    memcpy (buf->data + buf->size, bytes, size);
    buf->size += size;
}

/* Writes tag, then value as width big-endian bytes, in place. */
static void
s_put_tagged (zf_buf_t *buf, uint8_t tag, uint64_t value, int width)
{
    if (buf->overflow || (size_t) width + 1 > sizeof buf->data - buf->size) {
        buf->overflow = true;
        return;
    }
    uint8_t *bytes = (uint8_t *) buf->data + buf->size;
    bytes [0] = tag;
    for (int i = width; i > 0; i--, value >>= 8)
        bytes [i] = (uint8_t) value;
    buf->size += 1 + (size_t) width;
}

static void
s_pack_uint (zf_buf_t *buf, uint64_t value)
{
    if (value < 0x80)
        s_put_tagged (buf, (uint8_t) value, 0, 0);
    else
    if (value <= UINT8_MAX)
        s_put_tagged (buf, 0xcc, value, 1);
    else
    if (value <= UINT16_MAX)
        s_put_tagged (buf, 0xcd, value, 2);
    else
    if (value <= UINT32_MAX)
        s_put_tagged (buf, 0xce, value, 4);
    else
        s_put_tagged (buf, 0xcf, value, 8);
}

static void
s_pack_int (zf_buf_t *buf, int64_t value)
{
    if (value >= 0)
        s_pack_uint (buf, (uint64_t) value);
    else
    if (value >= -32)
        s_put_tagged (buf, (uint8_t) value, 0, 0);
    else
    if (value >= INT8_MIN)
        s_put_tagged (buf, 0xd0, (uint64_t) value, 1);
    else
    if (value >= INT16_MIN)
        s_put_tagged (buf, 0xd1, (uint64_t) value, 2);
    else
    if (value >= INT32_MIN)
        s_put_tagged (buf, 0xd2, (uint64_t) value, 4);
    else
        s_put_tagged (buf, 0xd3, (uint64_t) value, 8);
}

static void
s_pack_str (zf_buf_t *buf, const char *s)
{
    size_t size = strlen (s);
    if (size < 32)
        s_put_tagged (buf, (uint8_t) (0xa0 | size), 0, 0);
    else
    if (size <= UINT8_MAX)
        s_put_tagged (buf, 0xd9, size, 1);
    else
    if (size <= UINT16_MAX)
        s_put_tagged (buf, 0xda, size, 2);
    else
        s_put_tagged (buf, 0xdb, size, 4);
    s_put (buf, s, size);
}

static void
s_pack_array (zf_buf_t *buf, size_t count)
{
    if (count < 16)
        s_put_tagged (buf, (uint8_t) (0x90 | count), 0, 0);
    else
    if (count <= UINT16_MAX)
        s_put_tagged (buf, 0xdc, count, 2);
    else
        s_put_tagged (buf, 0xdd, count, 4);
}

static void
s_encode_field (field_t field, const zf_header_t *header, zf_buf_t *buf)
{
    switch (field) {
        case F_TASK_ID:  s_pack_uint (buf, header->task_id); break;
        case F_EPOCH:    s_pack_uint (buf, header->epoch); break;
        case F_SERVICE:  s_pack_str (buf, header->service); break;
        case F_TEXT:     s_pack_str (buf, header->text); break;
        case F_HOST:     s_pack_str (buf, header->host); break;
        case F_TIMEOUT:  s_pack_uint (buf, header->timeout_ms); break;
        case F_ATTEMPT:  s_pack_uint (buf, header->attempt); break;
        case F_CAPACITY: s_pack_uint (buf, header->capacity); break;
        case F_PID:      s_pack_uint (buf, header->pid); break;
        case F_RETRIES:  s_pack_int (buf, header->retries); break;
        case F_STATUS:   s_pack_int (buf, header->status); break;
        case F_FLAGS:    s_pack_uint (buf, header->flags); break;
        case F_PREFETCH: s_pack_uint (buf, header->prefetch); break;
        case F_SERVICES:
            s_pack_array (buf, header->service_count);
            for (uint32_t i = 0; i < header->service_count; i++)
                s_pack_str (buf, header->services [i]);
            break;
        case F_END:
            break;
    }
}

int
zf_header_encode (const zf_header_t *header, zf_buf_t *buf)
{
    buf->size = 0;
    buf->overflow = false;
    if (header->command <= 0 || header->command >= ZF_COMMAND_LIMIT)
        return -1;
    const field_t *fields = s_specs [header->command].fields;
    size_t count = 0;
    while (fields [count] != F_END)
        count++;
    s_pack_array (buf, 3 + count);
    s_pack_str (buf, ZF_PROTOCOL_ID);
    s_pack_uint (buf, ZF_PROTOCOL_VERSION);
    s_pack_uint (buf, (uint64_t) header->command);
    for (size_t i = 0; i < count; i++)
        s_encode_field (fields [i], header, buf);
    return buf->overflow? -1: 0;
}
