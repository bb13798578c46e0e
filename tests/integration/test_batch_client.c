/* test_batch_client.c: the client library's batches (zfarm_client_set_batch)
 * against a broker played by hand, a ROUTER socket in the test: plain
 * SUBMITs until the broker's PONG says BATCH, then BATCH messages of many
 * items, each task exactly once; zfarm_client_flush sends a partial batch;
 * a CANCEL comes after its SUBMIT; a BATCH of RESULTs gives each task its
 * own result, once; a client that did not ask never sends a BATCH; a
 * restarted broker is sent every pending task again, in batches or not as
 * its new PONG says. */
#include "harness.h"
#include "zf_batch.h"
#include "zfarm.h"

#include <czmq.h>

#define WAIT_MS 10000 /* bound on anything that should be quick */
#define TASKS   100
#define LARGE   (ZFARM_BATCH_PAYLOAD_MAX + 1) /* a payload sent alone */

typedef struct {
    zsock_t *sock; /* ROUTER the client connects to */
    zf_decoder_t *decoder;
    zframe_t *client;     /* the client's routing id, once heard */
    uint64_t epoch;       /* for its PONGs */
    uint32_t pong_flags;  /* ... and their flags */
    int seen [TASKS + 8]; /* SUBMITs seen, by task id */
    size_t batches;       /* BATCH messages seen */
    size_t batch_items;   /* SUBMITs in them */
    size_t plain;         /* SUBMITs seen alone */
    size_t largest;       /* items in the largest BATCH */
} broker_t;

static void
s_broker_init (broker_t *self, const char *endpoint)
{
    *self = (broker_t){ .sock = zsock_new (ZMQ_ROUTER),
                        .decoder = zf_decoder_new (),
                        .epoch = 1 };
    ASSERT (zsock_bind (self->sock, "%s", endpoint) == 0);
}

static void
s_broker_destroy (broker_t *self)
{
    zframe_destroy (&self->client);
    zsock_destroy (&self->sock);
    zf_decoder_destroy (&self->decoder);
}

/* A SUBMIT, alone or an item: its payload is "task N" for task N, or
 * LARGE bytes 'x'. */
static void
s_broker_take_submit (broker_t *self, const zf_header_t *header,
                      const void *payload, size_t size)
{
    ASSERT_EQ (header->command, ZF_SUBMIT);
    ASSERT (header->task_id >= 1 && header->task_id < TASKS + 8);
    ASSERT_STR_EQ (header->service, "svc");
    ASSERT (header->flags & ZF_FLAG_NUL);
    self->seen [header->task_id]++;
    if (size == LARGE + 1) {
        const char *bytes = payload;
        ASSERT (bytes [0] == 'x' && bytes [LARGE - 1] == 'x'
                && bytes [LARGE] == 0);
        return;
    }
    char expected [32];
    snprintf (expected, sizeof expected, "task %" PRIu64, header->task_id);
    ASSERT (payload && size == strlen (expected) + 1);
    ASSERT_MEM_EQ (payload, expected, size); /* with its NUL */
}

/* Receives one message within timeout_ms and takes it: a PING is answered
 * with a PONG, SUBMITs counted. Returns its command (BATCH for a batch),
 * or 0 if none came. *last_id_p, if set, gets the last task id in it. */
static int
s_broker_recv (broker_t *self, int timeout_ms, uint64_t *last_id_p);

/* The next message, which must be a command of task_id alone. */
static void
s_broker_expect (broker_t *self, int command, uint64_t task_id)
{
    uint64_t last = 0;
    ASSERT_EQ (s_broker_recv (self, WAIT_MS, &last), command);
    ASSERT (last == task_id);
}

static int
s_broker_recv (broker_t *self, int timeout_ms, uint64_t *last_id_p)
{
    if (last_id_p)
        *last_id_p = 0;
    zmq_pollitem_t item = { zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return 0;
    zmsg_t *msg = zmsg_recv (self->sock);
    ASSERT (msg && zmsg_size (msg) >= 2);
    zframe_t *from = zmsg_pop (msg);
    if (!self->client)
        self->client = zframe_dup (from);
    zframe_t *head = zmsg_pop (msg);
    zf_header_t header;
    ASSERT_EQ (zf_header_decode (self->decoder, &header, zframe_data (head),
                                 zframe_size (head)),
               0);
    zframe_destroy (&head);
    zframe_t *body = zmsg_pop (msg);
    ASSERT_EQ (zmsg_size (msg), 0);
    if (header.command == ZF_CANCEL && last_id_p)
        *last_id_p = header.task_id;
    if (header.command == ZF_PING) {
        zf_header_t pong;
        zf_header_init (&pong, ZF_PONG);
        pong.epoch = self->epoch;
        pong.flags = self->pong_flags;
        th_send_header (self->sock, from, &pong, NULL);
    }
    else if (header.command == ZF_SUBMIT) {
        s_broker_take_submit (self, &header, zframe_data (body),
                              zframe_size (body));
        self->plain++;
        if (last_id_p)
            *last_id_p = header.task_id;
    }
    else if (header.command == ZF_BATCH) {
        ASSERT (body);
        zf_batch_reader_t reader;
        zf_batch_reader_init (&reader, zframe_data (body), zframe_size (body),
                              header.count);
        zf_batch_item_t batch_item;
        uint32_t count = 0;
        int rc;
        while ((rc = zf_batch_next (&reader, &batch_item)) == 1) {
            zf_header_t item_header;
            ASSERT_EQ (zf_header_decode (self->decoder, &item_header,
                                         batch_item.header,
                                         batch_item.header_size),
                       0);
            s_broker_take_submit (self, &item_header, batch_item.payload,
                                  batch_item.payload_size);
            if (last_id_p)
                *last_id_p = item_header.task_id;
            count++;
        }
        ASSERT_EQ (rc, 0);
        ASSERT_EQ (count, header.count);
        self->batches++;
        self->batch_items += count;
        if (count > self->largest)
            self->largest = count;
    }
    zframe_destroy (&body);
    zframe_destroy (&from);
    zmsg_destroy (&msg);
    return header.command;
}

/* Takes what comes until SUBMITs (alone or in batches) have brought count
 * task ids in all, letting the client dispatch meanwhile (which flushes
 * its batches). */
static void
s_broker_expect_submits (broker_t *self, zfarm_client_t *client, size_t count)
{
    int64_t until = zclock_mono () + WAIT_MS;
    while (self->plain + self->batch_items < count && zclock_mono () < until) {
        zfarm_client_dispatch (client);
        s_broker_recv (self, 20, NULL);
    }
    ASSERT_EQ (self->plain + self->batch_items, count);
}

/* Takes what comes until the client's next PING, answered with a PONG. */
static void
s_broker_ping_pong (broker_t *self, zfarm_client_t *client)
{
    int64_t until = zclock_mono () + WAIT_MS;
    int command = 0;
    while (command != ZF_PING && zclock_mono () < until) {
        zfarm_client_dispatch (client);
        command = s_broker_recv (self, 20, NULL);
    }
    ASSERT_EQ (command, ZF_PING);
}

static void
s_result_header (zf_header_t *header, uint64_t task_id, int status)
{
    zf_header_init (header, ZF_RESULT);
    header->task_id = task_id;
    header->status = status;
    header->flags = status ? 0 : ZF_FLAG_NUL;
    if (status)
        zf_header_set_text (header, "it failed");
}

/* Sends a RESULT alone: "result N", or the status with a text. */
static void
s_send_result (broker_t *self, uint64_t task_id, int status)
{
    zf_header_t header;
    s_result_header (&header, task_id, status);
    char payload [32];
    snprintf (payload, sizeof payload, "result %" PRIu64, task_id);
    /* th_send_header sends the string without its NUL: the flag off. */
    header.flags = 0;
    th_send_header (self->sock, self->client, &header, status ? NULL : payload);
}

/* Adds task_id's RESULT to batch: "result N" with its NUL, or a failure. */
static void
s_batch_add_result (zf_batch_t *batch, uint64_t task_id, int status)
{
    zf_header_t header;
    s_result_header (&header, task_id, status);
    char payload [32];
    snprintf (payload, sizeof payload, "result %" PRIu64, task_id);
    ASSERT_EQ (zf_batch_add (batch, &header, status ? NULL : payload,
                             strlen (payload) + 1),
               0);
}

/* Sends batch to the client as a BATCH whose header says count items
 * (its own count, unless the test lies), and empties it. */
static void
s_send_batch (broker_t *self, zf_batch_t *batch, uint32_t count)
{
    zf_header_t header;
    zf_header_init (&header, ZF_BATCH);
    header.count = count;
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    zmsg_t *msg = zmsg_new ();
    zframe_t *to = zframe_dup (self->client);
    zmsg_append (msg, &to);
    zmsg_addmem (msg, buf.data, buf.size);
    zmsg_addmem (msg, batch->data, batch->size);
    ASSERT_EQ (zmsg_send (&msg, self->sock), 0);
    zf_batch_free (batch);
}

/* Waits for count results, each of a task not seen before, and checks
 * each one's outcome; got [id] counts them. */
static void
s_collect (zfarm_client_t *client, int *got, size_t count, uint64_t failed)
{
    for (size_t i = 0; i < count; i++) {
        zfarm_result_t *result;
        ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
        uint64_t id = zfarm_result_task_id (result);
        ASSERT (id >= 1 && id <= TASKS + 1);
        ASSERT_EQ (got [id]++, 0);
        if (id == failed) {
            ASSERT_EQ (zfarm_result_status (result), ZFARM_EHANDLER_ERROR);
            ASSERT_STR_EQ (zfarm_result_error (result), "it failed");
        }
        else {
            char expected [32];
            snprintf (expected, sizeof expected, "result %" PRIu64, id);
            size_t size;
            const char *data = zfarm_result_data (result, &size);
            ASSERT_EQ (zfarm_result_status (result), 0);
            ASSERT_EQ (size, strlen (expected));
            ASSERT_STR_EQ (data, expected);
        }
        zfarm_result_destroy (&result);
    }
}

static void
s_submit (zfarm_client_t *client, uint64_t expected_id)
{
    char payload [32];
    snprintf (payload, sizeof payload, "task %" PRIu64, expected_id);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "svc", payload, strlen (payload), 0,
                                    &id),
               0);
    ASSERT (id == expected_id);
}

/* The whole path with batches asked for. */
static void
test_batches (void)
{
    char endpoint [600];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/batches.ipc", th_tmpdir ());
    broker_t broker;
    s_broker_init (&broker, endpoint);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_set_batch (client, -1), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_set_batch (client, ZFARM_BATCH_ITEMS_MAX + 1),
               ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_set_batch (client, ZFARM_BATCH_ITEMS_MAX), 0);
    ASSERT_EQ (zfarm_client_set_batch (client, 64), 0);
    ASSERT_EQ (zfarm_client_flush (client), 0); /* nothing held */

    /* Before the broker said it takes batches: SUBMITs one by one. */
    enum { EARLY = 30 };
    for (uint64_t id = 1; id <= EARLY; id++)
        s_submit (client, id);
    s_broker_expect_submits (&broker, client, EARLY);
    ASSERT_EQ (broker.batches, 0);

    /* Its PONG says it; the RESULT sent after it is taken after it. */
    broker.pong_flags = ZF_FLAG_BATCH;
    s_broker_ping_pong (&broker, client);
    s_send_result (&broker, 1, 0);
    int got [TASKS + 2] = { 0 };
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    ASSERT_EQ (zfarm_result_task_id (result), 1);
    ASSERT_STR_EQ (zfarm_result_data (result, NULL), "result 1");
    zfarm_result_destroy (&result);
    got [1] = 1;

    /* Then 64 go in one BATCH as the 64th is submitted, without a flush;
     * the rest wait for one. */
    for (uint64_t id = EARLY + 1; id <= TASKS; id++)
        s_submit (client, id);
    ASSERT_EQ (zfarm_client_next_timeout (client), 0); /* some are held */
    uint64_t last = 0;
    int64_t until = zclock_mono () + WAIT_MS;
    while (broker.batches == 0 && zclock_mono () < until)
        s_broker_recv (&broker, 20, &last);
    ASSERT_EQ (broker.batches, 1);
    ASSERT_EQ (broker.batch_items, 64);
    ASSERT_EQ (last, EARLY + 64);
    ASSERT_EQ (s_broker_recv (&broker, 200, NULL), 0); /* the rest held */
    ASSERT_EQ (zfarm_client_flush (client), 0);
    ASSERT_EQ (s_broker_recv (&broker, WAIT_MS, &last), ZF_BATCH);
    ASSERT_EQ (broker.batch_items, TASKS - EARLY);
    ASSERT_EQ (last, TASKS);
    for (int id = 1; id <= TASKS; id++)
        ASSERT_EQ (broker.seen [id], 1);

    /* The results in BATCHes: each task gets its own, once; a second
     * RESULT of a task, in the same batch, is dropped. */
    zf_batch_t batch;
    zf_batch_init (&batch);
    for (uint64_t id = 2; id <= TASKS; id++) {
        s_batch_add_result (&batch, id, id == 50 ? ZFARM_EHANDLER_ERROR : 0);
        if (id == 10)
            s_batch_add_result (&batch, 3, ZFARM_EHANDLER_ERROR);
        if (batch.count == 60 || id == TASKS)
            s_send_batch (&broker, &batch, batch.count);
    }
    s_collect (client, got, TASKS - 1, 50);
    ASSERT_EQ (zfarm_client_pending (client), 0);
    ASSERT_EQ (zfarm_client_wait (client, 0, &result), ZFARM_ENOT_FOUND);

    /* A CANCEL of a held task comes after its SUBMIT. */
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "svc", "task 101", 8, 0, &id), 0);
    ASSERT (id == TASKS + 1);
    ASSERT_EQ (zfarm_client_cancel (client, id), 0);
    s_broker_expect (&broker, ZF_BATCH, id);
    ASSERT_EQ (broker.seen [id], 1);
    s_broker_expect (&broker, ZF_CANCEL, id);
    ASSERT_EQ (zfarm_client_wait (client, 0, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), ZFARM_ECANCELLED);
    zfarm_result_destroy (&result);

    /* A payload too large for a batch goes alone, after those held. */
    s_submit (client, TASKS + 2);
    char *large = malloc (LARGE);
    memset (large, 'x', LARGE);
    ASSERT_EQ (zfarm_client_submit (client, "svc", large, LARGE, 0, &id), 0);
    free (large);
    s_broker_expect (&broker, ZF_BATCH, TASKS + 2);
    s_broker_expect (&broker, ZF_SUBMIT, id);

    zfarm_client_destroy (&client);
    s_broker_destroy (&broker);
}

/* A BATCH that does not hold what its count says: the items before the
 * break stand, the rest is dropped, and the client goes on. */
static void
test_broken_batch (void)
{
    char endpoint [600];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/broken.ipc", th_tmpdir ());
    broker_t broker;
    s_broker_init (&broker, endpoint);
    broker.pong_flags = ZF_FLAG_BATCH;
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_set_batch (client, 4), 0);
    for (uint64_t id = 1; id <= 4; id++)
        s_submit (client, id);
    s_broker_expect_submits (&broker, client, 4);

    /* Items for tasks 1 and 2, said to be 3; then bytes that are no item. */
    zf_batch_t batch;
    zf_batch_init (&batch);
    s_batch_add_result (&batch, 1, 0);
    s_batch_add_result (&batch, 2, 0);
    s_send_batch (&broker, &batch, 3);
    zf_batch_init (&batch);
    s_batch_add_result (&batch, 3, 0);
    batch.data [0] = 0xc3; /* msgpack true: neither bin nor nil */
    s_send_batch (&broker, &batch, 1);
    int got [TASKS + 2] = { 0 };
    s_collect (client, got, 2, 0);
    ASSERT_EQ (got [1] + got [2], 2);

    /* Tasks 3 and 4 are still pending, and their results still count. */
    ASSERT_EQ (zfarm_client_pending (client), 2);
    zf_batch_init (&batch);
    s_batch_add_result (&batch, 4, 0);
    s_batch_add_result (&batch, 3, 0);
    s_send_batch (&broker, &batch, 2);
    s_collect (client, got, 2, 0);
    ASSERT_EQ (got [3] + got [4], 2);
    zfarm_client_destroy (&client);
    s_broker_destroy (&broker);
}

/* A client that did not ask for batches sends none, whatever the broker
 * says it takes. */
static void
test_not_asked (void)
{
    char endpoint [600];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/plain.ipc", th_tmpdir ());
    broker_t broker;
    s_broker_init (&broker, endpoint);
    broker.pong_flags = ZF_FLAG_BATCH;
    zfarm_client_t *client = zfarm_client_new (endpoint);
    s_submit (client, 1);
    s_broker_ping_pong (&broker, client);
    s_broker_expect_submits (&broker, client, 1);
    s_send_result (&broker, 1, 0);
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    zfarm_result_destroy (&result);
    for (uint64_t id = 2; id <= TASKS; id++)
        s_submit (client, id);
    s_broker_expect_submits (&broker, client, TASKS);
    ASSERT_EQ (broker.batches, 0);
    ASSERT_EQ (broker.plain, TASKS);
    zfarm_client_destroy (&client);
    s_broker_destroy (&broker);
}

/* A broker that restarts (a new epoch in its PONG) is sent every pending
 * task again, each once, in batches since its PONG still says BATCH. */
static void
test_restart (void)
{
    char endpoint [600];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/restart.ipc", th_tmpdir ());
    broker_t broker;
    s_broker_init (&broker, endpoint);
    broker.pong_flags = ZF_FLAG_BATCH;
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_set_batch (client, 16), 0);
    s_submit (client, 1);
    s_broker_ping_pong (&broker, client);
    s_broker_expect_submits (&broker, client, 1);
    s_send_result (&broker, 1, 0);
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    zfarm_result_destroy (&result);
    for (uint64_t id = 2; id <= 40; id++)
        s_submit (client, id);
    s_broker_expect_submits (&broker, client, 40);
    ASSERT (broker.batches >= 2);

    /* The next PING is answered by "another" broker. */
    memset (broker.seen, 0, sizeof broker.seen);
    broker.plain = broker.batch_items = 0;
    broker.epoch = 2;
    s_broker_ping_pong (&broker, client);
    s_broker_expect_submits (&broker, client, 39);
    for (int id = 2; id <= 40; id++)
        ASSERT_EQ (broker.seen [id], 1);
    ASSERT_EQ (broker.plain, 0);

    /* A broker of a third epoch that does not say BATCH (an older
     * release) gets them one by one. */
    memset (broker.seen, 0, sizeof broker.seen);
    broker.plain = broker.batch_items = broker.batches = 0;
    broker.epoch = 3;
    broker.pong_flags = 0;
    s_broker_ping_pong (&broker, client);
    s_broker_expect_submits (&broker, client, 39);
    for (int id = 2; id <= 40; id++)
        ASSERT_EQ (broker.seen [id], 1);
    ASSERT_EQ (broker.batches, 0);
    zfarm_client_destroy (&client);
    s_broker_destroy (&broker);
}

int
main (void)
{
    test_batches ();
    test_broken_batch ();
    test_not_asked ();
    test_restart ();
    TEST_PASS ("test_batch_client");
    return 0;
}
