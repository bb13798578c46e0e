/* test_codec.c: the wire header codec (common/zf_proto.h): every command
 * survives a round trip, and every malformed header becomes an error code,
 * never a crash. Malformed headers are packed here with msgpack directly. */
#include "testlib.h"
#include "zf_proto.h"
#include "zfarm_codes.h"

#include <msgpack.h>
#include <stdbool.h>

static zf_decoder_t *s_decoder;

/* ---- packing headers by hand ------------------------------------------- */

typedef struct {
    msgpack_sbuffer buffer;
    msgpack_packer pk;
} packer_t;

static void
p_init (packer_t *p)
{
    msgpack_sbuffer_init (&p->buffer);
    msgpack_packer_init (&p->pk, &p->buffer, msgpack_sbuffer_write);
}

static void
p_str (packer_t *p, const char *s)
{
    msgpack_pack_str (&p->pk, strlen (s));
    msgpack_pack_str_body (&p->pk, s, strlen (s));
}

/* Starts [ "zf", 1, command, ...] with fields more elements to come. */
static void
p_head (packer_t *p, uint32_t fields, uint64_t command)
{
    p_init (p);
    msgpack_pack_array (&p->pk, 3 + fields);
    p_str (p, ZF_PROTOCOL_ID);
    msgpack_pack_uint32 (&p->pk, ZF_PROTOCOL_VERSION);
    msgpack_pack_uint64 (&p->pk, command);
}

/* Decodes what was packed, and frees it. */
static int
p_decode (packer_t *p, zf_header_t *header)
{
    int rc = zf_header_decode (s_decoder, header, p->buffer.data,
                               p->buffer.size);
    msgpack_sbuffer_destroy (&p->buffer);
    return rc;
}

/* A SUBMIT with these fields, decoded. */
static int
s_decode_submit (uint64_t task_id, const char *service, int64_t timeout,
                 int64_t retries)
{
    packer_t p;
    p_head (&p, 4, ZF_SUBMIT);
    msgpack_pack_uint64 (&p.pk, task_id);
    p_str (&p, service);
    msgpack_pack_int64 (&p.pk, timeout);
    msgpack_pack_int64 (&p.pk, retries);
    zf_header_t header;
    return p_decode (&p, &header);
}

/* ---- round trips ------------------------------------------------------- */

static void
s_round_trip (const zf_header_t *in, zf_header_t *out)
{
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (in, &buf), 0);
    ASSERT (!buf.overflow);
    ASSERT_INT (buf.size, <=, ZF_HEADER_MAX);
    ASSERT_EQ (zf_header_decode (s_decoder, out, buf.data, buf.size), 0);
    ASSERT_EQ (out->command, in->command);
}

/* One header of every command, with every field set to a value that is
 * not the default, so that a field lost on the way shows. */
static void
s_example (zf_header_t *header, int command)
{
    zf_header_init (header, command);
    header->task_id = UINT64_MAX - command;
    header->epoch = 0x0123456789ABCDEFULL;
    header->status = ZFARM_EHANDLER_ERROR;
    header->timeout_ms = UINT32_MAX;
    header->retries = 7;
    header->attempt = 3;
    header->capacity = ZF_CAPACITY_MAX;
    header->pid = 4242;
    header->service_count = ZF_SERVICES_MAX;
    for (int i = 0; i < ZF_SERVICES_MAX; i++)
        snprintf (header->services [i], sizeof header->services [i], "svc%d", i);
    zf_header_set_service (header, "echo.v2");
    snprintf (header->host, sizeof header->host, "host-%d", command);
    zf_header_set_text (header, "a text \"with\" quotes");
    header->heartbeat_ms = 250;
    header->liveness = 5;
    header->brokers = 3;
    snprintf (header->instance, sizeof header->instance, "i-%d", command);
    header->free_slots = 7;
    header->queued = 1ULL << 40;
    header->waiting = 1ULL << 33;
    header->waited_ms = UINT32_MAX;
    header->pool = UINT64_MAX - 5;
    header->busy = ZF_BUSY_MAX;
    header->done = UINT64_MAX - 1;
    header->total = UINT64_MAX;
    header->priority = ZF_PRIORITY_MAX;
    header->delay_ms = UINT32_MAX;
    header->count = ZF_BATCH_ITEMS_MAX;
}

static void
test_round_trip_every_command (void)
{
    for (int command = 1; command < ZF_COMMAND_LIMIT; command++) {
        zf_header_t in, out;
        s_example (&in, command);
        s_round_trip (&in, &out);
        ASSERT_STR_EQ (zf_command_name (command), zf_command_name (out.command));
        if (command == ZF_SUBMIT || command == ZF_TASK || command == ZF_DONE
        ||  command == ZF_RESULT || command == ZF_CANCEL)
            ASSERT (out.task_id == in.task_id);
        if (command == ZF_SUBMIT || command == ZF_TASK) {
            ASSERT_STR_EQ (out.service, in.service);
            ASSERT (out.timeout_ms == in.timeout_ms);
        }
        if (command == ZF_SUBMIT) {
            ASSERT_EQ (out.retries, in.retries);
            ASSERT_EQ (out.priority, ZF_PRIORITY_MAX);
            ASSERT (out.delay_ms == UINT32_MAX);
        }
        if (command == ZF_TASK)
            ASSERT_EQ (out.attempt, in.attempt);
        if (command == ZF_DONE || command == ZF_RESULT || command == ZF_ERROR)
            ASSERT_EQ (out.status, in.status);
        if (command == ZF_DONE || command == ZF_RESULT || command == ZF_ERROR
        ||  command == ZF_DISCONNECT || command == ZF_READY)
            ASSERT_STR_EQ (out.text, in.text);
        if (command == ZF_PONG)
            ASSERT (out.epoch == in.epoch);
        if (command == ZF_READY || command == ZF_HEARTBEAT
        ||  command == ZF_PONG) {
            ASSERT_EQ (out.heartbeat_ms, 250);
            ASSERT_EQ (out.liveness, 5);
        }
        if (command == ZF_READY) {
            ASSERT_EQ (out.brokers, 3);
            ASSERT_STR_EQ (out.instance, in.instance);
        }
        if (command == ZF_SLOTS || command == ZF_PONG)
            ASSERT_EQ (out.free_slots, 7);
        if (command == ZF_PONG) {
            ASSERT (out.queued == 1ULL << 40);
            ASSERT (out.waiting == 1ULL << 33);
            ASSERT (out.waited_ms == UINT32_MAX);
            ASSERT (out.pool == UINT64_MAX - 5);
            ASSERT_EQ (out.busy, ZF_BUSY_MAX);
        }
        if (command == ZF_PING) {
            ASSERT_EQ (out.service_count, ZF_SERVICES_MAX);
            ASSERT_STR_EQ (out.services [ZF_SERVICES_MAX - 1],
                           in.services [ZF_SERVICES_MAX - 1]);
        }
        if (command == ZF_SLOTS)
            ASSERT (out.task_id == in.task_id);
        if (command == ZF_BATCH)
            ASSERT_EQ (out.count, ZF_BATCH_ITEMS_MAX);
        if (command == ZF_PROGRESS) {
            ASSERT (out.task_id == in.task_id);
            ASSERT (out.done == UINT64_MAX - 1 && out.total == UINT64_MAX);
            ASSERT_STR_EQ (out.text, in.text);
        }
    }
}

/* PROGRESS (14): task_id, done, total, note. The note is free text of at
 * most ZF_NOTE_MAX bytes: a longer one is cut there, both ways, as an error
 * text is to its bound; any bytes pass (they are escaped where shown). A
 * decoder of an earlier revision knows no command 14 and refuses it as an
 * unknown command (test_unknown_command shows the same for 15). */
static void
test_progress (void)
{
    zf_header_t in, out;
    zf_header_init (&in, ZF_PROGRESS);
    in.task_id = 5;
    in.done = 0;
    in.total = 0;
    s_round_trip (&in, &out);
    ASSERT (out.task_id == 5 && out.done == 0 && out.total == 0);
    ASSERT_STR_EQ (out.text, "");
    ASSERT_STR_EQ (zf_command_name (ZF_PROGRESS), "PROGRESS");
    ASSERT_EQ (ZF_PROGRESS, 14);

    char note [ZF_NOTE_MAX + 100];
    memset (note, 'n', sizeof note - 1);
    note [sizeof note - 1] = 0;
    note [3] = '\n';
    note [4] = 0x1b;
    zf_header_set_text (&in, note);
    s_round_trip (&in, &out);
    ASSERT_EQ (strlen (out.text), ZF_NOTE_MAX);
    ASSERT_MEM_EQ (out.text, note, ZF_NOTE_MAX);

    packer_t p;
    p_head (&p, 4, ZF_PROGRESS);
    msgpack_pack_uint64 (&p.pk, 9);
    msgpack_pack_uint64 (&p.pk, 3);
    msgpack_pack_uint64 (&p.pk, 7);
    p_str (&p, note);
    ASSERT_EQ (p_decode (&p, &out), 0);
    ASSERT (out.done == 3 && out.total == 7);
    ASSERT_EQ (strlen (out.text), ZF_NOTE_MAX);

    /* Every field is needed; a task id of 0, a negative or non-integer
     * count, a note that is not a str are refused. */
    p_head (&p, 3, ZF_PROGRESS);
    msgpack_pack_uint64 (&p.pk, 9);
    msgpack_pack_uint64 (&p.pk, 3);
    msgpack_pack_uint64 (&p.pk, 7);
    ASSERT_EQ (p_decode (&p, &out), ZFARM_EBAD_REQUEST);
    p_head (&p, 4, ZF_PROGRESS);
    msgpack_pack_uint64 (&p.pk, 0);
    msgpack_pack_uint64 (&p.pk, 3);
    msgpack_pack_uint64 (&p.pk, 7);
    p_str (&p, "");
    ASSERT_EQ (p_decode (&p, &out), ZFARM_EBAD_REQUEST);
    p_head (&p, 4, ZF_PROGRESS);
    msgpack_pack_uint64 (&p.pk, 1);
    msgpack_pack_int64 (&p.pk, -3);
    msgpack_pack_uint64 (&p.pk, 7);
    p_str (&p, "");
    ASSERT_EQ (p_decode (&p, &out), ZFARM_EBAD_REQUEST);
    p_head (&p, 4, ZF_PROGRESS);
    msgpack_pack_uint64 (&p.pk, 1);
    msgpack_pack_uint64 (&p.pk, 3);
    msgpack_pack_uint64 (&p.pk, 7);
    msgpack_pack_uint64 (&p.pk, 7);
    ASSERT_EQ (p_decode (&p, &out), ZFARM_EBAD_REQUEST);

    /* The flag bit travels in SUBMIT and TASK like any other. */
    zf_header_init (&in, ZF_TASK);
    in.task_id = 1;
    in.attempt = 1;
    zf_header_set_service (&in, "s");
    in.flags = ZF_FLAG_PROGRESS | ZF_FLAG_NUL;
    s_round_trip (&in, &out);
    ASSERT_EQ (out.flags, ZF_FLAG_PROGRESS | ZF_FLAG_NUL);
}

/* The heartbeat settings (READY, HEARTBEAT, PONG) are optional: absent,
 * or sent as 0 (when a later field follows), they are 0, "not said"; at the
 * end they cost nothing on the wire (a worker's HEARTBEAT is the 3-element
 * array it always was); said, they are within the bounds every flag has. */
static void
test_heartbeat_fields (void)
{
    zf_header_t in, out;
    zf_header_init (&in, ZF_HEARTBEAT);
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x93);     /* fixarray of 3 */
    s_round_trip (&in, &out);
    ASSERT_EQ (out.heartbeat_ms, 0);
    ASSERT_EQ (out.liveness, 0);
    zf_header_init (&in, ZF_PONG);
    in.epoch = 9;
    s_round_trip (&in, &out);
    ASSERT (out.epoch == 9 && out.heartbeat_ms == 0 && out.liveness == 0);
    /* A PONG of the first revision: the epoch alone. */
    packer_t p;
    p_head (&p, 1, ZF_PONG);
    msgpack_pack_uint64 (&p.pk, 9);
    ASSERT_EQ (p_decode (&p, &out), 0);
    ASSERT (out.epoch == 9 && out.queued == 0 && out.free_slots == 0);
    ASSERT (out.waiting == 0 && out.waited_ms == 0);

    /* A PING names services only when asked to (a supervisor's), and a
     * PONG tells their backlog only when there is one: a client's PING
     * and PONG stay as short as before. */
    zf_header_init (&in, ZF_PING);
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x93);
    s_round_trip (&in, &out);
    ASSERT_EQ (out.service_count, 0);
    in.service_count = 1;
    strcpy (in.services [0], "nap");
    s_round_trip (&in, &out);
    ASSERT_EQ (out.service_count, 1);
    ASSERT_STR_EQ (out.services [0], "nap");
    zf_header_init (&in, ZF_PONG);
    in.epoch = 9;
    in.queued = 3;
    in.free_slots = 1;
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x98);     /* 3 + 5 fields */
    in.waiting = 3;
    in.waited_ms = 250;
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x9A);     /* 3 + 7 fields */
    s_round_trip (&in, &out);
    ASSERT (out.waiting == 3 && out.waited_ms == 250);
    ASSERT (out.pool == 0 && out.busy == 0);

    /* The pool and how busy the broker is follow the flags (sent as 0),
     * after the backlog (sent as 0 when none waits); busy is per mille. */
    zf_header_init (&in, ZF_PONG);
    in.epoch = 9;
    in.pool = 0xFEEDULL << 40;
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x9C);     /* 3 + 9 fields */
    s_round_trip (&in, &out);
    ASSERT (out.pool == 0xFEEDULL << 40 && out.busy == 0 && out.flags == 0);
    ASSERT (out.waiting == 0 && out.queued == 0);
    in.busy = 700;
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x9D);     /* 3 + 10 fields */
    s_round_trip (&in, &out);
    ASSERT (out.pool == 0xFEEDULL << 40 && out.busy == 700);
    packer_t p2;
    p_head (&p2, 10, ZF_PONG);
    for (int i = 0; i < 9; i++)
        msgpack_pack_uint32 (&p2.pk, i == 0? 9: 0);
    msgpack_pack_uint32 (&p2.pk, ZF_BUSY_MAX + 1);      /* busy over 1000: */
    ASSERT_EQ (p_decode (&p2, &out), 0);                /* advisory, so */
    ASSERT (out.epoch == 9 && out.busy == ZF_BUSY_MAX); /* taken as all */

    /* A worker's HEARTBEAT tells its memory: settings and flags as 0. */
    zf_header_init (&in, ZF_HEARTBEAT);
    in.rss_kb = 123456;
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x97);     /* 3 + 4 fields */
    s_round_trip (&in, &out);
    ASSERT (out.rss_kb == 123456 && out.flags == 0 && out.heartbeat_ms == 0);

    /* A draining worker's HEARTBEAT: settings not said (0), then flags. */
    zf_header_init (&in, ZF_HEARTBEAT);
    in.flags = ZF_FLAG_DRAIN;
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x96);     /* 3 + 3 fields */
    s_round_trip (&in, &out);
    ASSERT (out.flags == ZF_FLAG_DRAIN && out.heartbeat_ms == 0
            && out.liveness == 0);

    /* READY says how many brokers only when more than one; SLOTS names a
     * waiting task only when there is one. */
    zf_header_init (&in, ZF_SLOTS);
    in.free_slots = 0;
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x94);     /* 3 + free */
    s_round_trip (&in, &out);
    ASSERT (out.task_id == 0 && out.free_slots == 0);
    zf_header_init (&in, ZF_READY);
    in.service_count = 1;
    strcpy (in.services [0], "s");
    s_round_trip (&in, &out);
    ASSERT_EQ (out.brokers, 1);

    struct { long interval, liveness; int rc; } cases [] = {
        { ZF_HEARTBEAT_MIN_MS, 1, 0 },
        { ZF_HEARTBEAT_MAX_MS, ZF_LIVENESS_MAX, 0 },
        { ZF_HEARTBEAT_MIN_MS - 1, 3, ZFARM_EBAD_REQUEST },
        { ZF_HEARTBEAT_MAX_MS + 1, 3, ZFARM_EBAD_REQUEST },
        { 0, 0, 0 },                    /* not said */
        { 500, ZF_LIVENESS_MAX + 1, ZFARM_EBAD_REQUEST },
        { 500, -1, ZFARM_EBAD_REQUEST },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        p_head (&p, 2, ZF_HEARTBEAT);
        msgpack_pack_int64 (&p.pk, cases [i].interval);
        msgpack_pack_int64 (&p.pk, cases [i].liveness);
        ASSERT_EQ (p_decode (&p, &out), cases [i].rc);
        if (cases [i].rc == 0) {
            ASSERT_EQ (out.heartbeat_ms, cases [i].interval);
            ASSERT_EQ (out.liveness, cases [i].liveness);
        }
    }
}

static void
test_round_trip_ready (void)
{
    zf_header_t in, out;
    s_example (&in, ZF_READY);
    s_round_trip (&in, &out);
    ASSERT_EQ (out.service_count, ZF_SERVICES_MAX);
    for (int i = 0; i < ZF_SERVICES_MAX; i++)
        ASSERT_STR_EQ (out.services [i], in.services [i]);
    ASSERT_EQ (out.capacity, ZF_CAPACITY_MAX);
    ASSERT_EQ (out.pid, 4242);
    ASSERT_STR_EQ (out.host, in.host);
}

/* The sign convention is the codec's alone: a ZFARM_E* code in the
 * header, its positive number on the wire, both ways. */
static void
test_status_sign (void)
{
    packer_t p;
    p_head (&p, 3, ZF_RESULT);
    msgpack_pack_uint64 (&p.pk, 7);
    msgpack_pack_int (&p.pk, 1);            /* TIMEOUT's number */
    p_str (&p, "late");
    zf_header_t header;
    ASSERT_EQ (p_decode (&p, &header), 0);
    ASSERT_EQ (header.status, ZFARM_ETIMEOUT);

    zf_buf_t buf;
    zf_header_init (&header, ZF_RESULT);
    header.task_id = 7;
    header.status = ZFARM_EWORKER_LOST;
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    ASSERT_EQ (msgpack_unpack_next (&unpacked, buf.data, buf.size, NULL),
               MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *array = &unpacked.data;
    ASSERT_EQ (array->type, MSGPACK_OBJECT_ARRAY);
    ASSERT_INT (array->via.array.size, >=, 5);
    const msgpack_object *status = &array->via.array.ptr [4];
    ASSERT_EQ (status->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    ASSERT_EQ (status->via.u64, 2);         /* WORKER_LOST's number */
    msgpack_unpacked_destroy (&unpacked);
}

static void
test_round_trip_limits (void)
{
    zf_header_t in, out;
    zf_header_init (&in, ZF_SUBMIT);
    in.task_id = 1;
    memset (in.service, 'x', ZF_SERVICE_MAX);
    in.service [ZF_SERVICE_MAX] = 0;
    in.timeout_ms = 0;
    in.retries = -1;
    s_round_trip (&in, &out);
    ASSERT_EQ (strlen (out.service), ZF_SERVICE_MAX);
    ASSERT_EQ (out.timeout_ms, 0);
    ASSERT_EQ (out.retries, -1);

    zf_header_init (&in, ZF_RESULT);
    in.task_id = 1;
    in.status = -0xFFFF;
    char long_text [ZF_TEXT_MAX * 2];
    memset (long_text, 't', sizeof long_text - 1);
    long_text [sizeof long_text - 1] = 0;
    zf_header_set_text (&in, long_text);
    ASSERT_EQ (strlen (in.text), ZF_TEXT_MAX);
    s_round_trip (&in, &out);
    ASSERT_EQ (out.status, -0xFFFF);
    ASSERT_STR_EQ (out.text, in.text);
}

static void
test_encode_refuses (void)
{
    zf_header_t header;
    zf_buf_t buf;
    zf_header_init (&header, 0);
    ASSERT_EQ (zf_header_encode (&header, &buf), -1);
    zf_header_init (&header, ZF_COMMAND_LIMIT);
    ASSERT_EQ (zf_header_encode (&header, &buf), -1);
    /* Sixteen services of 255 bytes do not fit in 2048 bytes. */
    s_example (&header, ZF_READY);
    for (int i = 0; i < ZF_SERVICES_MAX; i++) {
        memset (header.services [i], 's', ZF_SERVICE_MAX);
        header.services [i][ZF_SERVICE_MAX] = 0;
    }
    ASSERT_EQ (zf_header_encode (&header, &buf), -1);
    ASSERT (buf.overflow);
}

/* ---- malformed input --------------------------------------------------- */

static void
test_empty_and_oversized (void)
{
    zf_header_t header;
    ASSERT_EQ (zf_header_decode (s_decoder, &header, "", 0),
               ZFARM_EBAD_REQUEST);
    ASSERT (*header.text);
    static char big [ZF_HEADER_MAX + 1];
    ASSERT_EQ (zf_header_decode (s_decoder, &header, big, sizeof big),
               ZFARM_EBAD_REQUEST);
}

/* Every proper prefix of a valid header is an incomplete msgpack value. */
static void
test_truncated_at_every_byte (void)
{
    for (int command = 1; command < ZF_COMMAND_LIMIT; command++) {
        zf_header_t in, out;
        zf_buf_t buf;
        s_example (&in, command);
        ASSERT_EQ (zf_header_encode (&in, &buf), 0);
        for (size_t size = 0; size < buf.size; size++)
            ASSERT_EQ (zf_header_decode (s_decoder, &out, buf.data, size),
                       ZFARM_EBAD_REQUEST);
        /* A byte too many is not one value either. */
        ASSERT_INT (buf.size, <, sizeof buf.data);
        buf.data [buf.size] = 0;
        ASSERT_EQ (zf_header_decode (s_decoder, &out, buf.data, buf.size + 1),
                   ZFARM_EBAD_REQUEST);
    }
}

static void
test_wrong_protocol_and_version (void)
{
    zf_header_t header;
    packer_t p;
    const char *ids [] = { "zz", "z", "zfx", "" };
    for (size_t i = 0; i < sizeof ids / sizeof ids [0]; i++) {
        p_init (&p);
        msgpack_pack_array (&p.pk, 3);
        p_str (&p, ids [i]);
        msgpack_pack_uint32 (&p.pk, 1);
        msgpack_pack_uint32 (&p.pk, ZF_PING);
        ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    }
    p_init (&p);                /* the id as binary, not str */
    msgpack_pack_array (&p.pk, 3);
    msgpack_pack_bin (&p.pk, 2);
    msgpack_pack_bin_body (&p.pk, "zf", 2);
    msgpack_pack_uint32 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, ZF_PING);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);

    const uint64_t versions [] = { 0, 2, 255, UINT32_MAX };
    for (size_t i = 0; i < sizeof versions / sizeof versions [0]; i++) {
        p_init (&p);
        msgpack_pack_array (&p.pk, 3);
        p_str (&p, "zf");
        msgpack_pack_uint64 (&p.pk, versions [i]);
        msgpack_pack_uint32 (&p.pk, ZF_PING);
        ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_VERSION);
        ASSERT_EQ (header.command, 0);
        ASSERT (strstr (header.text, "version"));
    }
    p_init (&p);                /* a version that is not a number */
    msgpack_pack_array (&p.pk, 3);
    p_str (&p, "zf");
    p_str (&p, "1");
    msgpack_pack_uint32 (&p.pk, ZF_PING);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
}

static void
test_unknown_command (void)
{
    zf_header_t header;
    packer_t p;
    const uint64_t commands [] = { 0, ZF_COMMAND_LIMIT, 15, 99, UINT64_MAX };
    for (size_t i = 0; i < sizeof commands / sizeof commands [0]; i++) {
        p_head (&p, 0, commands [i]);
        ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    }
    p_init (&p);                /* a negative command */
    msgpack_pack_array (&p.pk, 3);
    p_str (&p, "zf");
    msgpack_pack_uint32 (&p.pk, 1);
    msgpack_pack_int32 (&p.pk, -1);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    ASSERT_STR_EQ (zf_command_name (0), "UNKNOWN");
    ASSERT_STR_EQ (zf_command_name (ZF_COMMAND_LIMIT), "UNKNOWN");
    ASSERT_STR_EQ (zf_command_name (ZF_SUBMIT), "SUBMIT");
}

static void
test_not_a_header (void)
{
    zf_header_t header;
    packer_t p;
    p_init (&p);
    msgpack_pack_map (&p.pk, 0);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    p_init (&p);
    msgpack_pack_array (&p.pk, 2);
    p_str (&p, "zf");
    msgpack_pack_uint32 (&p.pk, 1);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    p_init (&p);
    p_str (&p, "zf");
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
}

static void
test_missing_fields (void)
{
    zf_header_t header;
    packer_t p;
    p_head (&p, 1, ZF_SUBMIT);
    msgpack_pack_uint64 (&p.pk, 1);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    ASSERT (strstr (header.text, "missing"));
    p_head (&p, 0, ZF_RESULT);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    p_head (&p, 0, ZF_PONG);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    p_head (&p, 4, ZF_READY);
    msgpack_pack_array (&p.pk, 1);
    p_str (&p, "echo");
    msgpack_pack_uint32 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, 1);
    p_str (&p, "host");
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
}

/* A minor revision may append fields: they are ignored. */
static void
test_extra_fields_are_ignored (void)
{
    zf_header_t header;
    packer_t p;
    p_head (&p, 4, ZF_CANCEL);
    msgpack_pack_uint64 (&p.pk, 5);
    msgpack_pack_uint32 (&p.pk, ZF_FLAG_STOP);
    p_str (&p, "future");
    msgpack_pack_map (&p.pk, 0);
    ASSERT_EQ (p_decode (&p, &header), 0);
    ASSERT_EQ (header.command, ZF_CANCEL);
    ASSERT_EQ (header.task_id, 5);
    ASSERT_EQ (header.flags, ZF_FLAG_STOP);
}

/* flags, the optional last field of SUBMIT, TASK, DONE, RESULT and
 * CANCEL: kept when there, 0 when absent (a peer of the first revision),
 * and like any field refused when of the wrong type. */
static void
test_optional_flags (void)
{
    int commands [] = { ZF_SUBMIT, ZF_TASK, ZF_DONE, ZF_RESULT, ZF_CANCEL };
    for (size_t i = 0; i < sizeof commands / sizeof commands [0]; i++) {
        zf_header_t in, out;
        s_example (&in, commands [i]);
        in.flags = ZF_FLAG_NUL | 0x80000000u;   /* a later revision's bit */
        s_round_trip (&in, &out);
        ASSERT (out.flags == in.flags);
    }
    zf_header_t header;
    packer_t p;
    p_head (&p, 3, ZF_DONE);                /* without flags */
    msgpack_pack_uint64 (&p.pk, 9);
    msgpack_pack_uint32 (&p.pk, 0);
    p_str (&p, "");
    ASSERT_EQ (p_decode (&p, &header), 0);
    ASSERT_EQ (header.task_id, 9);
    ASSERT_EQ (header.flags, 0);

    p_head (&p, 1, ZF_CANCEL);              /* an earlier revision's */
    msgpack_pack_uint64 (&p.pk, 7);
    ASSERT_EQ (p_decode (&p, &header), 0);
    ASSERT_EQ (header.task_id, 7);
    ASSERT_EQ (header.flags, 0);

    p_head (&p, 5, ZF_SUBMIT);              /* with flags */
    msgpack_pack_uint64 (&p.pk, 1);
    p_str (&p, "echo");
    msgpack_pack_uint32 (&p.pk, 0);
    msgpack_pack_int32 (&p.pk, -1);
    msgpack_pack_uint32 (&p.pk, ZF_FLAG_NUL);
    ASSERT_EQ (p_decode (&p, &header), 0);
    ASSERT_EQ (header.flags, ZF_FLAG_NUL);

    p_head (&p, 4, ZF_RESULT);              /* flags as a string */
    msgpack_pack_uint64 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, 0);
    p_str (&p, "");
    p_str (&p, "1");
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);

    p_head (&p, 4, ZF_RESULT);              /* flags negative */
    msgpack_pack_uint64 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, 0);
    p_str (&p, "");
    msgpack_pack_int32 (&p.pk, -1);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);

    p_head (&p, 2, ZF_DONE);                /* a required field missing */
    msgpack_pack_uint64 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, 0);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
}

/* priority and delay_ms, the optional last fields of SUBMIT: absent, they
 * are the default priority and no delay, and a SUBMIT that says neither is
 * as short as before; priority is bounded, delay_ms a uint32. */
static void
test_priority_and_delay (void)
{
    zf_header_t in, out;
    zf_header_init (&in, ZF_SUBMIT);
    in.task_id = 1;
    zf_header_set_service (&in, "echo");
    zf_buf_t plain;
    ASSERT_EQ (zf_header_encode (&in, &plain), 0);
    ASSERT_EQ (zf_header_decode (s_decoder, &out, plain.data, plain.size), 0);
    ASSERT_EQ (out.priority, ZF_PRIORITY_DEFAULT);
    ASSERT_EQ (out.delay_ms, 0);

    in.delay_ms = 10;           /* a delay alone sends the priority too */
    zf_buf_t delayed;
    ASSERT_EQ (zf_header_encode (&in, &delayed), 0);
    ASSERT_INT (delayed.size, >, plain.size);
    ASSERT_EQ (zf_header_decode (s_decoder, &out, delayed.data,
                                 delayed.size), 0);
    ASSERT_EQ (out.priority, ZF_PRIORITY_DEFAULT);
    ASSERT_EQ (out.delay_ms, 10);

    const int64_t priorities [] = { 0, ZF_PRIORITY_MAX, ZF_PRIORITY_MAX + 1,
                                    -1 };
    for (size_t i = 0; i < 4; i++) {
        packer_t p;
        p_head (&p, 7, ZF_SUBMIT);
        msgpack_pack_uint64 (&p.pk, 1);
        p_str (&p, "echo");
        msgpack_pack_uint32 (&p.pk, 0);
        msgpack_pack_int32 (&p.pk, -1);
        msgpack_pack_uint32 (&p.pk, 0);
        msgpack_pack_int64 (&p.pk, priorities [i]);
        msgpack_pack_uint32 (&p.pk, 5);
        int rc = p_decode (&p, &out);
        if (i < 2) {
            ASSERT_EQ (rc, 0);
            ASSERT_EQ (out.priority, priorities [i]);
            ASSERT_EQ (out.delay_ms, 5);
        }
        else {
            ASSERT_EQ (rc, ZFARM_EBAD_REQUEST);
            ASSERT (strstr (out.text, "bad field 8 of SUBMIT"));
        }
    }
    packer_t p;                 /* a delay past uint32 */
    p_head (&p, 7, ZF_SUBMIT);
    msgpack_pack_uint64 (&p.pk, 1);
    p_str (&p, "echo");
    msgpack_pack_uint32 (&p.pk, 0);
    msgpack_pack_int32 (&p.pk, -1);
    msgpack_pack_uint32 (&p.pk, 0);
    msgpack_pack_uint32 (&p.pk, 1);
    msgpack_pack_uint64 (&p.pk, (uint64_t) UINT32_MAX + 1);
    ASSERT_EQ (p_decode (&p, &out), ZFARM_EBAD_REQUEST);
    ASSERT (strstr (out.text, "bad field 9 of SUBMIT"));
}

static void
test_wrong_field_types (void)
{
    zf_header_t header;
    packer_t p;
    p_head (&p, 4, ZF_SUBMIT);              /* task id as a string */
    p_str (&p, "1");
    p_str (&p, "echo");
    msgpack_pack_uint32 (&p.pk, 0);
    msgpack_pack_int32 (&p.pk, -1);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    ASSERT (strstr (header.text, "SUBMIT"));

    p_head (&p, 4, ZF_SUBMIT);              /* service as a number */
    msgpack_pack_uint64 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, 7);
    msgpack_pack_uint32 (&p.pk, 0);
    msgpack_pack_int32 (&p.pk, -1);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);

    p_head (&p, 3, ZF_RESULT);              /* status as a float */
    msgpack_pack_uint64 (&p.pk, 1);
    msgpack_pack_double (&p.pk, 1.0);
    p_str (&p, "");
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);

    p_head (&p, 3, ZF_DONE);                /* text as nil */
    msgpack_pack_uint64 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, 0);
    msgpack_pack_nil (&p.pk);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);

    p_head (&p, 1, ZF_PONG);                /* epoch negative */
    msgpack_pack_int64 (&p.pk, -5);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
}

static void
test_field_bounds (void)
{
    ASSERT_EQ (s_decode_submit (1, "echo", 0, -1), 0);
    ASSERT_EQ (s_decode_submit (UINT64_MAX, "echo", UINT32_MAX,
                                ZF_RETRIES_MAX), 0);
    ASSERT_EQ (s_decode_submit (0, "echo", 0, -1), ZFARM_EBAD_REQUEST);
    ASSERT_EQ (s_decode_submit (1, "echo", -1, -1), ZFARM_EBAD_REQUEST);
    ASSERT_EQ (s_decode_submit (1, "echo", (int64_t) UINT32_MAX + 1, -1),
               ZFARM_EBAD_REQUEST);
    ASSERT_EQ (s_decode_submit (1, "echo", 0, -2), ZFARM_EBAD_REQUEST);
    ASSERT_EQ (s_decode_submit (1, "echo", 0, ZF_RETRIES_MAX + 1),
               ZFARM_EBAD_REQUEST);

    zf_header_t header;
    packer_t p;
    const int64_t statuses [] = { -1, 0x10000 };
    for (size_t i = 0; i < 2; i++) {
        p_head (&p, 3, ZF_RESULT);
        msgpack_pack_uint64 (&p.pk, 1);
        msgpack_pack_int64 (&p.pk, statuses [i]);
        p_str (&p, "");
        ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
    }
    p_head (&p, 4, ZF_TASK);                /* attempt 0 */
    msgpack_pack_uint64 (&p.pk, 1);
    p_str (&p, "echo");
    msgpack_pack_uint32 (&p.pk, 0);
    msgpack_pack_uint32 (&p.pk, 0);
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);
}

static void
test_service_names (void)
{
    char longest [ZF_SERVICE_MAX + 2];
    memset (longest, 'a', sizeof longest - 1);
    longest [ZF_SERVICE_MAX] = 0;
    ASSERT_EQ (s_decode_submit (1, longest, 0, -1), 0);
    longest [ZF_SERVICE_MAX] = 'a';
    longest [ZF_SERVICE_MAX + 1] = 0;
    ASSERT_EQ (s_decode_submit (1, longest, 0, -1), ZFARM_EBAD_REQUEST);
    ASSERT (!zf_service_name_is_valid (longest, strlen (longest)));

    const char *bad [] = { "", "a b", "tab\there", "zfarm.", "zfarm.status",
                           "caf\xc3\xa9", "new\nline", "\x7f" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        ASSERT (!zf_service_name_is_valid (bad [i], strlen (bad [i])));
        ASSERT_EQ (s_decode_submit (1, bad [i], 0, -1), ZFARM_EBAD_REQUEST);
    }
    ASSERT (!zf_service_name_is_valid ("nul\0byte", 8));
    const char *good [] = { "echo", "a", "zfarm", "zfarmx.y", "x.zfarm.y",
                            "~!@#$%^&*()_+{}|:<>?" };
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++) {
        ASSERT (zf_service_name_is_valid (good [i], strlen (good [i])));
        ASSERT_EQ (s_decode_submit (1, good [i], 0, -1), 0);
    }
}

/* A READY with count services and this capacity, decoded. */
static zf_header_t s_decoded;       /* s_decode_ready's last header */

static int
s_decode_ready (uint32_t count, uint64_t capacity)
{
    packer_t p;
    p_head (&p, 5, ZF_READY);
    msgpack_pack_array (&p.pk, count);
    for (uint32_t i = 0; i < count; i++) {
        char name [16];
        snprintf (name, sizeof name, "s%u", i);
        p_str (&p, name);
    }
    msgpack_pack_uint64 (&p.pk, capacity);
    msgpack_pack_uint32 (&p.pk, 1);
    p_str (&p, "host");
    p_str (&p, "0.1.0");
    return p_decode (&p, &s_decoded);
}

static void
test_ready_bounds (void)
{
    ASSERT_EQ (s_decode_ready (1, 1), 0);
    ASSERT_EQ (s_decode_ready (ZF_SERVICES_MAX, ZF_CAPACITY_MAX), 0);
    ASSERT_EQ (s_decode_ready (0, 1), ZFARM_EBAD_REQUEST);
    ASSERT_EQ (s_decode_ready (ZF_SERVICES_MAX + 1, 1), ZFARM_EBAD_REQUEST);
    ASSERT_EQ (s_decode_ready (1, 0), ZFARM_EBAD_REQUEST);
    ASSERT_EQ (s_decode_ready (1, ZF_CAPACITY_MAX + 1), ZFARM_EBAD_REQUEST);

    packer_t p;                             /* a service that is no str */
    p_head (&p, 5, ZF_READY);
    msgpack_pack_array (&p.pk, 1);
    msgpack_pack_true (&p.pk);
    msgpack_pack_uint32 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, 1);
    p_str (&p, "host");
    p_str (&p, "0.1.0");
    zf_header_t header;
    ASSERT_EQ (p_decode (&p, &header), ZFARM_EBAD_REQUEST);

    /* prefetch, optional: 1 when absent, 1..ZF_PREFETCH_MAX when there */
    ASSERT_EQ (s_decode_ready (1, 1), 0);
    ASSERT_EQ (s_decoded.prefetch, 1);
    long prefetches [] = { 1, ZF_PREFETCH_MAX, 0, ZF_PREFETCH_MAX + 1, -1 };
    for (size_t i = 0; i < sizeof prefetches / sizeof prefetches [0]; i++) {
        p_head (&p, 6, ZF_READY);
        msgpack_pack_array (&p.pk, 1);
        p_str (&p, "echo");
        msgpack_pack_uint32 (&p.pk, 1);
        msgpack_pack_uint32 (&p.pk, 1);
        p_str (&p, "host");
        p_str (&p, "0.1.0");
        msgpack_pack_int64 (&p.pk, prefetches [i]);
        bool valid = prefetches [i] >= 1 && prefetches [i] <= ZF_PREFETCH_MAX;
        ASSERT_EQ (p_decode (&p, &header), valid? 0: ZFARM_EBAD_REQUEST);
        if (valid)
            ASSERT_EQ (header.prefetch, (uint32_t) prefetches [i]);
    }
}

/* A READY with this host and version (sizes in bytes), decoded into
 * s_decoded. */
static int
s_decode_names (const char *host, size_t host_size, const char *version,
                size_t version_size)
{
    packer_t p;
    p_head (&p, 5, ZF_READY);
    msgpack_pack_array (&p.pk, 1);
    p_str (&p, "echo");
    msgpack_pack_uint32 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, 1);
    msgpack_pack_str (&p.pk, host_size);
    msgpack_pack_str_body (&p.pk, host, host_size);
    msgpack_pack_str (&p.pk, version_size);
    msgpack_pack_str_body (&p.pk, version, version_size);
    return p_decode (&p, &s_decoded);
}

#define NAME(text) text, sizeof text - 1

/* A READY's host and version are names that the broker shows and others
 * read: printable ASCII within their bounds, refused otherwise, never cut
 * or cleaned. */
static void
test_ready_names (void)
{
    ASSERT_EQ (s_decode_names (NAME ("node-1.example.org"), NAME ("0.1.0")), 0);
    ASSERT_STR_EQ (s_decoded.host, "node-1.example.org");
    ASSERT_STR_EQ (s_decoded.text, "0.1.0");
    ASSERT_EQ (s_decode_names (NAME (""), NAME ("")), 0);
    ASSERT_EQ (s_decode_names (NAME ("<b>x</b>"), NAME ("1.0 (beta)")), 0);

    static const struct { const char *name; size_t size; } refused [] = {
        { NAME ("evil\nW: forged line\x1b[31m") }, { NAME ("tab\there") },
        { NAME ("del\x7f") }, { NAME ("caf\xc3\xa9") },
        { NAME ("\xc2\x9b" "31m") }, { NAME ("nul\0" "byte") },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++) {
        ASSERT_EQ (s_decode_names (refused [i].name, refused [i].size,
                                   NAME ("0.1.0")), ZFARM_EBAD_REQUEST);
        ASSERT (strstr (s_decoded.text, "bad field 6 of READY"));
        ASSERT_EQ (s_decode_names (NAME ("h"), refused [i].name,
                                   refused [i].size), ZFARM_EBAD_REQUEST);
        ASSERT (strstr (s_decoded.text, "bad field 7 of READY"));
    }
    /* A space: in a version, not in a host name. */
    ASSERT_EQ (s_decode_names (NAME ("two words"), NAME ("0.1.0")),
               ZFARM_EBAD_REQUEST);
    ASSERT_EQ (s_decode_names (NAME ("h"), NAME ("two words")), 0);

    char name [ZF_HOST_MAX + 1];
    memset (name, 'h', sizeof name);
    ASSERT_EQ (s_decode_names (name, ZF_HOST_MAX, NAME ("0.1.0")), 0);
    ASSERT_EQ (strlen (s_decoded.host), ZF_HOST_MAX);
    ASSERT_EQ (s_decode_names (name, ZF_HOST_MAX + 1, NAME ("0.1.0")),
               ZFARM_EBAD_REQUEST);
    ASSERT_EQ (s_decode_names (NAME ("h"), name, ZF_VERSION_MAX), 0);
    ASSERT_EQ (strlen (s_decoded.text), ZF_VERSION_MAX);
    ASSERT_EQ (s_decode_names (NAME ("h"), name, ZF_VERSION_MAX + 1),
               ZFARM_EBAD_REQUEST);
}

/* A READY with this instance (size bytes; NULL: none) after the other
 * optional fields, decoded into s_decoded. */
static int
s_decode_instance (const char *instance, size_t size)
{
    packer_t p;
    p_head (&p, instance? 10: 9, ZF_READY);
    msgpack_pack_array (&p.pk, 1);
    p_str (&p, "echo");
    msgpack_pack_uint32 (&p.pk, 1);
    msgpack_pack_uint32 (&p.pk, 1);
    p_str (&p, "host");
    p_str (&p, "0.1.0");
    msgpack_pack_uint32 (&p.pk, 1);         /* prefetch */
    msgpack_pack_uint32 (&p.pk, 0);         /* heartbeat: not said */
    msgpack_pack_uint32 (&p.pk, 0);         /* liveness: not said */
    msgpack_pack_uint32 (&p.pk, 2);         /* brokers */
    if (instance) {
        msgpack_pack_str (&p.pk, size);
        msgpack_pack_str_body (&p.pk, instance, size);
    }
    return p_decode (&p, &s_decoded);
}

/* READY's instance, optional: "" when absent, sent only when said (after
 * a brokers of 1 too), a name like the host otherwise. */
static void
test_ready_instance (void)
{
    ASSERT_EQ (s_decode_instance (NULL, 0), 0);
    ASSERT_STR_EQ (s_decoded.instance, "");
    ASSERT_EQ (s_decoded.brokers, 2);
    ASSERT_EQ (s_decode_instance (NAME ("0123456789abcdef0123456789abcdef")),
               0);
    ASSERT_STR_EQ (s_decoded.instance, "0123456789abcdef0123456789abcdef");

    zf_header_t in, out;
    zf_header_init (&in, ZF_READY);
    in.service_count = 1;
    strcpy (in.services [0], "s");
    strcpy (in.instance, "abc");
    s_round_trip (&in, &out);
    ASSERT_STR_EQ (out.instance, "abc");
    ASSERT_EQ (out.brokers, 1);
    in.instance [0] = 0;                    /* unsaid: not sent at all */
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (&in, &buf), 0);
    ASSERT_EQ ((unsigned char) buf.data [0], 0x99);     /* 3 + 6 fields */

    char name [ZF_INSTANCE_MAX + 1];
    memset (name, 'a', sizeof name);
    ASSERT_EQ (s_decode_instance (name, ZF_INSTANCE_MAX), 0);
    ASSERT_EQ (strlen (s_decoded.instance), ZF_INSTANCE_MAX);
    const struct { const char *name; size_t size; } refused [] = {
        { NAME ("two words") }, { NAME ("evil\n\x1b[31m") },
        { NAME ("caf\xc3\xa9") }, { NAME ("nul\0" "byte") },
        { name, ZF_INSTANCE_MAX + 1 },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++) {
        ASSERT_EQ (s_decode_instance (refused [i].name, refused [i].size),
                   ZFARM_EBAD_REQUEST);
        ASSERT (strstr (s_decoded.text, "bad field 12 of READY"));
    }
}

/* A few bytes that declare an array or map of billions of elements: the
 * decoder must refuse them without trying to allocate for them. */
static void
test_huge_declared_sizes (void)
{
    static const unsigned char inputs [][12] = {
        { 0xdd, 0xff, 0xff, 0xff, 0xff },               /* array32 */
        { 0xdf, 0xff, 0xff, 0xff, 0xff },               /* map32 */
        { 0x94, 0xa2, 'z', 'f', 0x01, 0x02,             /* inside a SUBMIT */
          0xdd, 0x7f, 0xff, 0xff, 0xff },
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs [0]; i++) {
        zf_header_t header;
        ASSERT_EQ (zf_header_decode (s_decoder, &header, inputs [i],
                                     sizeof inputs [i]), ZFARM_EBAD_REQUEST);
    }
}

/* Random bytes, and valid headers with random bytes flipped: whatever the
 * decoder returns must be one of its three answers, and a header it accepts
 * must encode again. The generator is seeded, so a failure repeats. */
static void
test_garbage (void)
{
    uint64_t state = 0x9E3779B97F4A7C15ULL;
    char data [ZF_HEADER_MAX];
    for (int round = 0; round < 200000; round++) {
        size_t size;
        if (round % 2) {
            zf_header_t example;
            zf_buf_t buf;
            s_example (&example, 1 + round / 2 % (ZF_COMMAND_LIMIT - 1));
            zf_header_encode (&example, &buf);
            memcpy (data, buf.data, buf.size);
            size = buf.size;
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            data [(state >> 33) % size] ^= (char) (state >> 8);
        }
        else {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            size = (state >> 33) % 64;
            for (size_t i = 0; i < size; i++) {
                state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                data [i] = (char) (state >> 40);
            }
        }
        zf_header_t header;
        int rc = zf_header_decode (s_decoder, &header, data, size);
        ASSERT (rc == 0 || rc == ZFARM_EBAD_REQUEST || rc == ZFARM_EBAD_VERSION);
        if (rc == 0) {
            zf_buf_t buf;
            ASSERT_EQ (zf_header_encode (&header, &buf), 0);
        }
    }
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    test_round_trip_every_command ();
    test_heartbeat_fields ();
    test_progress ();
    test_round_trip_ready ();
    test_round_trip_limits ();
    test_status_sign ();
    test_encode_refuses ();
    test_empty_and_oversized ();
    test_truncated_at_every_byte ();
    test_wrong_protocol_and_version ();
    test_unknown_command ();
    test_not_a_header ();
    test_missing_fields ();
    test_extra_fields_are_ignored ();
    test_optional_flags ();
    test_priority_and_delay ();
    test_wrong_field_types ();
    test_field_bounds ();
    test_service_names ();
    test_ready_bounds ();
    test_ready_names ();
    test_ready_instance ();
    test_huge_declared_sizes ();
    test_garbage ();
    zf_decoder_destroy (&s_decoder);
    zf_decoder_destroy (&s_decoder);
    TEST_PASS ("test_codec");
    return 0;
}
