/* test_batch_broker.c: the broker's side of BATCH, against hand-played
 * peers (common/PROTOCOL.md, Batches).
 *
 * A client's batch of SUBMITs and a worker's batch of DONEs are taken item
 * by item; TASKs go in batches to a worker whose READY said BATCH, RESULTs
 * to a client that sent one, and never to any other peer; a bad item is
 * refused alone, bad framing drops the rest of its batch; a CANCEL that
 * asks back a task sent in a batch comes after that batch. */
#include "harness.h"
#include "zf_batch.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm_codes.h"
#include <czmq.h>
#include <sys/wait.h>

#define QUEUE_MAX 256

static zf_decoder_t *s_decoder;
static const char *s_endpoint;

/* A message as a peer got it, alone or as an item of a BATCH. */
typedef struct {
    zf_header_t header;
    char *payload; /* NULL: none (caller frees) */
    bool batched;  /* came in a BATCH */
} msg_t;

/* A hand-played peer: its socket, and the items of the last BATCH it
 * received that the test has not read yet. */
typedef struct {
    zsock_t *sock;
    msg_t queue [QUEUE_MAX];
    size_t head, tail;
    int batches;              /* BATCH messages received */
    uint32_t largest;         /* items in the largest */
    uint32_t heartbeat_flags; /* of the last HEARTBEAT */
    int heartbeats;
} peer_t;

static peer_t *
s_peer_new (void)
{
    peer_t *self = calloc (1, sizeof *self);
    ASSERT (self);
    self->sock = zsock_new_dealer (s_endpoint);
    ASSERT (self->sock);
    zsock_set_rcvtimeo (self->sock, 5000);
    return self;
}

static void
s_peer_destroy (peer_t **self_p)
{
    peer_t *self = *self_p;
    for (size_t i = self->head; i < self->tail; i++)
        free (self->queue [i].payload);
    zsock_destroy (&self->sock);
    free (self);
    *self_p = NULL;
}

static void
s_send (peer_t *peer, const zf_header_t *header, const char *payload)
{
    zmsg_t *msg = NULL;
    if (payload) {
        msg = zmsg_new ();
        zmsg_addstr (msg, payload);
    }
    ASSERT_EQ (zf_wire_send (peer->sock, header, &msg), 0);
}

/* Sends a BATCH header saying count items, then frame (NULL: no frame). */
static void
s_send_raw_batch (peer_t *peer, uint32_t count, const void *frame, size_t size)
{
    zf_header_t header;
    zf_header_init (&header, ZF_BATCH);
    header.count = count;
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    void *handle = zsock_resolve (peer->sock);
    ASSERT (zmq_send (handle, buf.data, buf.size, frame ? ZMQ_SNDMORE : 0)
            != -1);
    if (frame)
        ASSERT (zmq_send (handle, frame, size, 0) != -1);
}

static void
s_ready (peer_t *worker, const char *service, uint32_t capacity, uint32_t flags)
{
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = 1;
    strcpy (header.services [0], service);
    header.capacity = capacity;
    header.prefetch = 4;
    header.pid = 1;
    header.flags = flags;
    strcpy (header.host, "test");
    s_send (worker, &header, NULL);
}

static void
s_submit_header (zf_header_t *header, uint64_t task_id, const char *service)
{
    zf_header_init (header, ZF_SUBMIT);
    header->task_id = task_id;
    zf_header_set_service (header, service);
    header->timeout_ms = 20000;
}

static void
s_done_header (zf_header_t *header, uint64_t task_id, int status)
{
    zf_header_init (header, ZF_DONE);
    header->task_id = task_id;
    header->status = status;
}

static void
s_batch_add (zf_batch_t *batch, const zf_header_t *header, const char *payload)
{
    ASSERT_EQ (zf_batch_add (batch, header, payload,
                             payload ? strlen (payload) : 0),
               0);
}

static void
s_batch_send (peer_t *peer, zf_batch_t *batch)
{
    ASSERT_EQ (zf_batch_send (batch, zsock_resolve (peer->sock)), 0);
}

/* Splits a received BATCH into the peer's queue. */
static void
s_take_batch (peer_t *peer, const zf_header_t *header, zmsg_t *payload)
{
    ASSERT_EQ (zmsg_size (payload), 1);
    zframe_t *frame = zmsg_first (payload);
    zf_batch_reader_t reader;
    zf_batch_reader_init (&reader, zframe_data (frame), zframe_size (frame),
                          header->count);
    ASSERT_EQ (peer->head, peer->tail);
    peer->head = peer->tail = 0;
    zf_batch_item_t item;
    int rc;
    while ((rc = zf_batch_next (&reader, &item)) == 1) {
        msg_t *msg = &peer->queue [peer->tail++];
        ASSERT_EQ (zf_header_decode (s_decoder, &msg->header, item.header,
                                     item.header_size),
                   0);
        msg->payload = NULL;
        if (item.payload) {
            msg->payload = malloc (item.payload_size + 1);
            memcpy (msg->payload, item.payload, item.payload_size);
            msg->payload [item.payload_size] = 0;
        }
        msg->batched = true;
    }
    ASSERT_EQ (rc, 0);
    ASSERT_EQ (peer->tail, header->count);
    peer->batches++;
    if (header->count > peer->largest)
        peer->largest = header->count;
}

/* The next message that is not a HEARTBEAT, alone or from a batch. */
static void
s_recv (peer_t *peer, msg_t *msg)
{
    for (int i = 0; i < 100 && peer->head == peer->tail; i++) {
        zf_header_t header;
        zmsg_t *payload = NULL;
        int rc = zf_wire_recv (peer->sock, s_decoder, &header, &payload);
        if (rc == -1)
            TEST_FAIL ("no message within 5 s");
        ASSERT_EQ (rc, 0);
        if (header.command == ZF_HEARTBEAT) {
            peer->heartbeat_flags = header.flags;
            peer->heartbeats++;
        }
        else if (header.command == ZF_BATCH)
            s_take_batch (peer, &header, payload);
        else {
            peer->head = 0;
            peer->tail = 1;
            msg_t *alone = &peer->queue [0];
            alone->header = header;
            alone->batched = false;
            alone->payload = NULL;
            if (zmsg_size (payload)) {
                size_t size;
                alone->payload = zf_wire_join (payload, &size);
            }
        }
        zmsg_destroy (&payload);
    }
    if (peer->head == peer->tail)
        TEST_FAIL ("only heartbeats");
    *msg = peer->queue [peer->head++];
}

static char *
s_status (void)
{
    peer_t *peer = s_peer_new ();
    zf_header_t header;
    zf_header_init (&header, ZF_STATUS);
    s_send (peer, &header, NULL);
    msg_t msg;
    s_recv (peer, &msg);
    ASSERT_EQ (msg.header.command, ZF_STATUS);
    s_peer_destroy (&peer);
    return msg.payload;
}

static long
s_counter (const char *name)
{
    char *json = s_status ();
    json_t *doc = json_parse (json, strlen (json));
    char path [64];
    snprintf (path, sizeof path, "counters.%s", name);
    const json_t *counter = th_json_path (doc, path);
    ASSERT (json_type (counter) == JSON_NUMBER);
    long value = (long) json_number (counter, -1);
    json_destroy (&doc);
    free (json);
    return value;
}

/* A worker that said READY (with flags) and heard its first HEARTBEAT,
 * which says the broker reads DONE batches. */
static peer_t *
s_worker (const char *service, uint32_t capacity, uint32_t flags)
{
    peer_t *worker = s_peer_new ();
    s_ready (worker, service, capacity, flags);
    zf_header_t header;
    zmsg_t *payload = NULL;
    ASSERT_EQ (zf_wire_recv (worker->sock, s_decoder, &header, &payload), 0);
    zmsg_destroy (&payload);
    ASSERT_EQ (header.command, ZF_HEARTBEAT);
    ASSERT (header.flags & ZF_FLAG_BATCH);
    return worker;
}

/* Receives count TASKs of service at worker; their dispatch ids go to
 * ids, their payloads (caller frees) to payloads, in order. */
static void
s_tasks (peer_t *worker, int count, uint64_t *ids, char **payloads)
{
    for (int i = 0; i < count; i++) {
        msg_t msg;
        s_recv (worker, &msg);
        ASSERT_EQ (msg.header.command, ZF_TASK);
        ids [i] = msg.header.task_id;
        payloads [i] = msg.payload;
    }
}

/* Receives count RESULTs at client, and checks each: the task ids from
 * first on, once each, status 0 and payload "r" + the SUBMIT's payload. */
static void
s_results (peer_t *client, int count, uint64_t first)
{
    bool seen [1024] = { false };
    ASSERT (count <= 1024);
    for (int i = 0; i < count; i++) {
        msg_t msg;
        s_recv (client, &msg);
        ASSERT_EQ (msg.header.command, ZF_RESULT);
        ASSERT_EQ (msg.header.status, 0);
        uint64_t index = msg.header.task_id - first;
        ASSERT (index < (uint64_t) count && !seen [index]);
        seen [index] = true;
        char expected [32];
        snprintf (expected, sizeof expected, "rp%" PRIu64, msg.header.task_id);
        ASSERT_STR_EQ (msg.payload, expected);
        free (msg.payload);
    }
}

/* Submits count tasks (ids from first, payload "p<id>"), in one BATCH if
 * batch, else one SUBMIT each. */
static void
s_submit_many (peer_t *client, const char *service, int count, uint64_t first,
               bool batch)
{
    zf_batch_t items;
    zf_batch_init (&items);
    for (int i = 0; i < count; i++) {
        zf_header_t header;
        s_submit_header (&header, first + i, service);
        char payload [32];
        snprintf (payload, sizeof payload, "p%" PRIu64, first + i);
        if (batch)
            s_batch_add (&items, &header, payload);
        else
            s_send (client, &header, payload);
    }
    if (batch)
        s_batch_send (client, &items);
}

/* Answers count tasks, "r" + their payload, in one BATCH if batch. */
static void
s_answer (peer_t *worker, int count, const uint64_t *ids, char **payloads,
          bool batch)
{
    zf_batch_t items;
    zf_batch_init (&items);
    for (int i = 0; i < count; i++) {
        zf_header_t header;
        s_done_header (&header, ids [i], 0);
        char payload [40];
        snprintf (payload, sizeof payload, "r%s", payloads [i]);
        if (batch)
            s_batch_add (&items, &header, payload);
        else
            s_send (worker, &header, payload);
        free (payloads [i]);
    }
    if (batch)
        s_batch_send (worker, &items);
}

/* Every task of a client's BATCH runs once, at a worker that reads
 * batches and gets its TASKs in them, and each RESULT comes back, in
 * batches. */
static void
test_both_ways (peer_t *client, peer_t *worker)
{
    /* The PONG says the broker reads SUBMIT batches. */
    zf_header_t header;
    zf_header_init (&header, ZF_PING);
    s_send (client, &header, NULL);
    msg_t pong;
    s_recv (client, &pong);
    ASSERT_EQ (pong.header.command, ZF_PONG);
    ASSERT (pong.header.flags & ZF_FLAG_BATCH);

    long batches_in = s_counter ("batches_in");
    enum { COUNT = 40 };
    uint64_t ids [COUNT];
    char *payloads [COUNT];
    s_submit_many (client, "bq", COUNT, 1, true);
    s_tasks (worker, COUNT, ids, payloads);
    for (int i = 0; i < COUNT; i++) {
        char expected [32];
        snprintf (expected, sizeof expected, "p%d", i + 1);
        ASSERT_STR_EQ (payloads [i], expected);
    }
    /* All queued in one turn, for a worker with room for them all. */
    ASSERT_INT (worker->largest, >, 1);
    s_answer (worker, COUNT, ids, payloads, true);
    s_results (client, COUNT, 1);
    ASSERT_INT (client->batches, >, 0);

    ASSERT_EQ (s_counter ("batches_in"), batches_in + 2);
    ASSERT_INT (s_counter ("batch_items_in"), >=, 2 * COUNT);
    ASSERT_INT (s_counter ("batches_out"), >=, 2);
    ASSERT_INT (s_counter ("batch_items_out"), >, 2);
}

/* A batch at its limit of items goes at once, and the next one begins:
 * 300 tasks come to the worker as 256 and 44, and go back so. */
static void
test_full_batch (peer_t *client)
{
    peer_t *worker = s_worker ("big", 512, ZF_FLAG_BATCH);
    enum { COUNT = 300, FIRST = 1001 };
    uint64_t ids [COUNT];
    char *payloads [COUNT];
    s_submit_many (client, "big", ZF_BATCH_ITEMS_MAX, FIRST, true);
    s_submit_many (client, "big", COUNT - ZF_BATCH_ITEMS_MAX,
                   FIRST + ZF_BATCH_ITEMS_MAX, true);
    s_tasks (worker, COUNT, ids, payloads);
    ASSERT_EQ (worker->largest, ZF_BATCH_ITEMS_MAX);
    ASSERT_EQ (worker->batches, 2);
    s_answer (worker, ZF_BATCH_ITEMS_MAX, ids, payloads, true);
    s_answer (worker, COUNT - ZF_BATCH_ITEMS_MAX, ids + ZF_BATCH_ITEMS_MAX,
              payloads + ZF_BATCH_ITEMS_MAX, true);
    s_results (client, COUNT, FIRST);
    s_peer_destroy (&worker);
}

/* Items that are wrong alone are refused alone: the others run. */
static void
test_bad_item (peer_t *client, peer_t *worker)
{
    zf_batch_t items;
    zf_batch_init (&items);
    zf_header_t header;
    s_submit_header (&header, 101, "bq");
    s_batch_add (&items, &header, "p101");
    s_submit_header (&header, 102, "has space"); /* does not decode */
    s_batch_add (&items, &header, "p102");
    zf_header_init (&header, ZF_STATUS); /* no place in a batch */
    s_batch_add (&items, &header, NULL);
    s_submit_header (&header, 103, "bq");
    s_batch_add (&items, &header, "p103");
    s_batch_send (client, &items);

    uint64_t ids [2];
    char *payloads [2];
    s_tasks (worker, 2, ids, payloads);
    ASSERT_STR_EQ (payloads [0], "p101");
    ASSERT_STR_EQ (payloads [1], "p103");
    s_answer (worker, 2, ids, payloads, false);

    bool refused = false, error = false, ok101 = false, ok103 = false;
    for (int i = 0; i < 4; i++) {
        msg_t msg;
        s_recv (client, &msg);
        if (msg.header.command == ZF_ERROR)
            error = true;
        else {
            ASSERT_EQ (msg.header.command, ZF_RESULT);
            if (msg.header.task_id == 102) {
                ASSERT_EQ (msg.header.status, ZFARM_EBAD_REQUEST);
                refused = true;
            }
            else {
                ASSERT_EQ (msg.header.status, 0);
                ok101 |= msg.header.task_id == 101;
                ok103 |= msg.header.task_id == 103;
            }
        }
        free (msg.payload);
    }
    ASSERT (refused && error && ok101 && ok103);
}

/* The next message at client is ERROR BAD_REQUEST "bad batch". */
static void
s_expect_bad_batch (peer_t *client)
{
    msg_t msg;
    s_recv (client, &msg);
    ASSERT_EQ (msg.header.command, ZF_ERROR);
    ASSERT_EQ (msg.header.status, ZFARM_EBAD_REQUEST);
    ASSERT_STR_EQ (msg.header.text, "bad batch");
    free (msg.payload);
}

/* A frame that does not hold what its count says: the items before the
 * fault stand, the sender hears ERROR, the broker lives on. */
static void
test_bad_framing (peer_t *worker)
{
    peer_t *client = s_peer_new ();
    long bad = s_counter ("bad_messages");

    /* Count 3, two items. */
    zf_batch_t items;
    zf_batch_init (&items);
    zf_header_t header;
    for (uint64_t id = 201; id <= 202; id++) {
        char payload [16];
        snprintf (payload, sizeof payload, "p%" PRIu64, id);
        s_submit_header (&header, id, "bq");
        s_batch_add (&items, &header, payload);
    }
    s_send_raw_batch (client, 3, items.data, items.size);
    s_expect_bad_batch (client);
    uint64_t ids [2];
    char *payloads [2];
    s_tasks (worker, 2, ids, payloads);
    s_answer (worker, 2, ids, payloads, false);
    s_results (client, 2, 201);

    /* One item and bytes left over: the item runs. */
    s_send_raw_batch (client, 1, items.data, items.size);
    s_expect_bad_batch (client);
    s_tasks (worker, 1, ids, payloads);
    s_answer (worker, 1, ids, payloads, false);
    msg_t msg;
    s_recv (client, &msg);
    ASSERT_EQ (msg.header.command, ZF_RESULT);
    ASSERT_EQ (msg.header.task_id, 201);
    free (msg.payload);
    zf_batch_free (&items);

    s_send_raw_batch (client, 2, "garbage!", 8);
    s_expect_bad_batch (client);
    s_send_raw_batch (client, 1, "", 0);
    s_expect_bad_batch (client);
    s_send_raw_batch (client, 1, NULL, 0);
    s_expect_bad_batch (client);
    ASSERT_EQ (s_counter ("bad_messages"), bad + 5);
    s_peer_destroy (&client);
}

/* A worker whose READY did not say BATCH gets its TASKs one by one, even
 * for a client's batch, and its plain DONEs still come back in batches
 * to that client. */
static void
test_plain_worker (peer_t *client)
{
    peer_t *worker = s_worker ("plain", 64, 0);
    enum { COUNT = 20 };
    uint64_t ids [COUNT];
    char *payloads [COUNT];
    s_submit_many (client, "plain", COUNT, 301, true);
    s_tasks (worker, COUNT, ids, payloads);
    ASSERT_EQ (worker->batches, 0);
    s_answer (worker, COUNT, ids, payloads, false);
    s_results (client, COUNT, 301);
    s_peer_destroy (&worker);
}

/* A client that never sent a BATCH gets its RESULTs one by one, even from
 * a worker's batch of DONEs. */
static void
test_plain_client (peer_t *worker)
{
    peer_t *client = s_peer_new ();
    enum { COUNT = 20 };
    uint64_t ids [COUNT];
    char *payloads [COUNT];
    s_submit_many (client, "bq", COUNT, 401, false);
    s_tasks (worker, COUNT, ids, payloads);
    s_answer (worker, COUNT, ids, payloads, true);
    s_results (client, COUNT, 401);
    ASSERT_EQ (client->batches, 0);
    s_peer_destroy (&client);
}

/* Runs tasks of service "st" through worker one at a time, so that the
 * broker measures it short and sends its tasks in advance (prefetch). */
static void
s_warm_up (peer_t *client, peer_t *worker)
{
    for (uint64_t id = 501; id < 511; id++) {
        s_submit_many (client, "st", 1, id, false);
        uint64_t dispatch_id;
        char *payload;
        s_tasks (worker, 1, &dispatch_id, &payload);
        s_answer (worker, 1, &dispatch_id, &payload, false);
        s_results (client, 1, id);
    }
}

/* Worker A holds X1 and X2 in advance, sent in one BATCH in the same turn
 * as worker B, freed, asks X1 back: the CANCEL comes after the batch. One
 * message makes that turn: B's BATCH of SUBMIT X1, SUBMIT X2 (as a client)
 * and DONEs of both its tasks. */
static void
test_steal_order (void)
{
    peer_t *client = s_peer_new ();
    peer_t *b = s_worker ("st", 1, ZF_FLAG_BATCH);
    s_warm_up (client, b);
    /* B runs Tb and holds Tb2 in advance: full, it takes nothing more. */
    s_submit_many (client, "st", 2, 601, false);
    uint64_t b_ids [2];
    char *b_payloads [2];
    s_tasks (b, 2, b_ids, b_payloads);
    /* A, two slots, runs Ta1 and Ta2, and may hold more in advance. */
    peer_t *a = s_worker ("st", 2, ZF_FLAG_BATCH);
    s_submit_many (client, "st", 2, 603, false);
    uint64_t a_ids [2];
    char *a_payloads [2];
    s_tasks (a, 2, a_ids, a_payloads);

    long steals = s_counter ("steals");
    zf_batch_t items;
    zf_batch_init (&items);
    zf_header_t header;
    s_submit_header (&header, 1, "st");
    s_batch_add (&items, &header, "x1");
    s_submit_header (&header, 2, "st");
    s_batch_add (&items, &header, "x2");
    for (int i = 0; i < 2; i++) {
        char payload [40];
        snprintf (payload, sizeof payload, "r%s", b_payloads [i]);
        s_done_header (&header, b_ids [i], 0);
        s_batch_add (&items, &header, payload);
        free (b_payloads [i]);
    }
    s_batch_send (b, &items);

    msg_t x1, x2, cancel;
    s_recv (a, &x1);
    s_recv (a, &x2);
    s_recv (a, &cancel);
    ASSERT_EQ (x1.header.command, ZF_TASK);
    ASSERT_STR_EQ (x1.payload, "x1");
    ASSERT (x1.batched && (x1.header.flags & ZF_FLAG_AHEAD));
    ASSERT_EQ (x2.header.command, ZF_TASK);
    ASSERT_STR_EQ (x2.payload, "x2");
    ASSERT_EQ (cancel.header.command, ZF_CANCEL);
    ASSERT_EQ (cancel.header.task_id, x1.header.task_id);
    ASSERT_EQ (s_counter ("steals"), steals + 1);

    /* A gives X1 back unstarted; B runs it. Every task ends. */
    s_done_header (&header, x1.header.task_id, ZFARM_ECANCELLED);
    s_send (a, &header, NULL);
    s_answer (a, 2, a_ids, a_payloads, true);
    s_answer (a, 1, &x2.header.task_id, &x2.payload, false);
    msg_t again;
    s_recv (b, &again);
    ASSERT_EQ (again.header.command, ZF_TASK);
    ASSERT_STR_EQ (again.payload, "x1");
    s_answer (b, 1, &again.header.task_id, &again.payload, false);
    s_results (client, 2, 601);
    s_results (client, 2, 603);
    for (int i = 0; i < 2; i++) {
        msg_t msg;
        s_recv (b, &msg);
        ASSERT_EQ (msg.header.command, ZF_RESULT);
        ASSERT_STR_EQ (msg.payload, msg.header.task_id == 1 ? "rx1" : "rx2");
        free (msg.payload);
    }
    free (x1.payload);
    s_peer_destroy (&a);
    s_peer_destroy (&b);
    s_peer_destroy (&client);
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    /* Long heartbeats: the hand-played workers send none. Any task under a
     * second counts as short, for prefetch. */
    const char *extra [] = { "--heartbeat", "5000", "--prefetch-below", "1000",
                             NULL };
    th_broker_t started = th_broker_start ("ipc", extra);
    s_endpoint = strdup (started.endpoint);

    peer_t *client = s_peer_new ();
    peer_t *worker = s_worker ("bq", 64, ZF_FLAG_BATCH);
    test_both_ways (client, worker);
    test_full_batch (client);
    test_bad_item (client, worker);
    test_bad_framing (worker);
    test_plain_worker (client);
    test_plain_client (worker);
    test_steal_order ();
    test_both_ways (client, worker); /* still serving */

    th_kill (started.pid, SIGTERM);
    int status = th_reap (started.pid, 10000);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);

    s_peer_destroy (&client);
    s_peer_destroy (&worker);
    zf_decoder_destroy (&s_decoder);
    free ((char *) s_endpoint);
    TEST_PASS ("test_batch_broker");
    return 0;
}
