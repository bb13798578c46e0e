/* test_batch_worker.c: the worker library and BATCH (common/PROTOCOL.md),
 * as a broker sees it.
 *
 * The test is the broker: a ROUTER that speaks the wire by hand, and
 * builds its batches byte by byte, so that a malformed item or broken
 * framing can be sent. The worker is the library, run in this process on
 * a thread of its own, so that its handler can count the tasks that run
 * at once. Checked: READY says BATCH; a BATCH of TASKs runs each task once,
 * one at a time at capacity 1, and each echoes back in a DONE, some of
 * them in BATCHes of several, to a broker whose HEARTBEAT said BATCH, and
 * none to a broker that did not; a bad item is dropped and the others
 * run; broken framing loses the rest of its batch, not the worker; a
 * CANCEL of a batched task that waits comes back CANCELLED. */
#include "harness.h"
#include "zf_batch.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm_codes.h"
#include "zfarm_worker.h"

#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define WAIT_MS        10000 /* bound on every wait */
#define BEAT_MS        200   /* how often we send HEARTBEAT */
/* The heartbeat we set for the worker: its own HEARTBEAT, which sends
 * what it holds first, must not be what brings a held DONE. */
#define WORKER_BEAT_MS 60000
#define LIVENESS       1
#define TASKS          50 /* in the big batch */
#define ROUNDS_MAX     20 /* of it, to see DONEs batched */

/* ---- the worker, in this process ----------------------------------- */

static atomic_int s_running; /* handlers running now */
static atomic_int s_most;    /* the most that ever ran at once */
static atomic_int s_blocked; /* "block" has started */
static atomic_int s_open;    /* "block" may return */

static int
s_echo (zfarm_task_t *task, void *arg)
{
    (void) arg;
    int running = atomic_fetch_add (&s_running, 1) + 1;
    int most = atomic_load (&s_most);
    while (running > most
           && !atomic_compare_exchange_weak (&s_most, &most, running)) {
    }
    size_t size;
    const void *data = zfarm_task_data (task, &size);
    int rc = zfarm_task_reply (task, data, size);
    atomic_fetch_sub (&s_running, 1);
    return rc;
}

/* Waits until the test opens the gate: longer than the test waits for
 * anything, so that a DONE held behind it fails the test. */
static int
s_block (zfarm_task_t *task, void *arg)
{
    (void) arg;
    atomic_store (&s_blocked, 1);
    for (int i = 0; i < 2 * WAIT_MS && !atomic_load (&s_open); i++)
        zclock_sleep (1);
    return zfarm_task_reply (task, "opened", 6);
}

typedef struct {
    zfarm_worker_t *worker;
    pthread_t thread;
    int rc;
} runner_t;

static void *
s_run (void *arg)
{
    runner_t *self = arg;
    self->rc = zfarm_worker_run (self->worker);
    return NULL;
}

static void
s_worker_start (runner_t *self, const char *endpoint, int capacity)
{
    self->worker = zfarm_worker_new (endpoint);
    ASSERT (self->worker);
    ASSERT_EQ (zfarm_worker_register (self->worker, "echo", s_echo, NULL), 0);
    ASSERT_EQ (zfarm_worker_register (self->worker, "block", s_block, NULL), 0);
    ASSERT_EQ (zfarm_worker_set_capacity (self->worker, capacity), 0);
    self->rc = -1;
    ASSERT_EQ (pthread_create (&self->thread, NULL, s_run, self), 0);
}

static void
s_worker_stop (runner_t *self)
{
    zfarm_worker_stop (self->worker);
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_MS / 1000;
    if (pthread_timedjoin_np (self->thread, NULL, &deadline) != 0)
        TEST_FAIL ("zfarm_worker_run did not return");
    ASSERT_EQ (self->rc, 0);
    zfarm_worker_destroy (&self->worker);
}

/* ---- the broker: batches by hand ----------------------------------- */

typedef struct {
    uint8_t data [256 * 1024];
    size_t size;
    uint32_t count;
} items_t;

/* Appends a msgpack bin (data NULL: nil). */
static void
s_bin (items_t *self, const void *data, size_t size)
{
    ASSERT (self->size + 5 + size <= sizeof self->data);
    uint8_t *at = self->data + self->size;
    if (!data)
        *at++ = 0xc0;
    else if (size < 256) {
        *at++ = 0xc4;
        *at++ = (uint8_t) size;
    }
    else {
        *at++ = 0xc6;
        for (int shift = 24; shift >= 0; shift -= 8)
            *at++ = (uint8_t) (size >> shift);
    }
    if (data)
        memcpy (at, data, size);
    self->size = (size_t) (at - self->data) + (data ? size : 0);
}

static void
s_add (items_t *self, const zf_header_t *header, const char *payload)
{
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (header, &buf), 0);
    s_bin (self, buf.data, buf.size);
    s_bin (self, payload, payload ? strlen (payload) : 0);
    self->count++;
}

static void
s_add_task (items_t *self, uint64_t task_id, const char *service,
            uint32_t flags, const char *payload)
{
    zf_header_t header;
    zf_header_init (&header, ZF_TASK);
    header.task_id = task_id;
    zf_header_set_service (&header, service);
    header.attempt = 1;
    header.flags = flags;
    s_add (self, &header, payload);
}

typedef struct {
    zsock_t *router;
    zframe_t *identity; /* the worker's connection */
    zf_decoder_t *decoder;
    bool batches;      /* our HEARTBEATs say BATCH */
    uint32_t capacity; /* the READY's */
    uint32_t prefetch;
    int64_t beat_at;       /* our next HEARTBEAT */
    uint32_t batches_in;   /* BATCHes of DONEs received */
    uint32_t batched_most; /* most DONEs in one of them */
    uint32_t alone_in;     /* DONEs received alone */
} fake_t;

/* Sends a BATCH of items, whose header says count (items->count unless
 * the test lies). */
static void
s_send_items (fake_t *self, const items_t *items, uint32_t count)
{
    zf_header_t header;
    zf_header_init (&header, ZF_BATCH);
    header.count = count;
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (&header, &buf), 0);
    zmsg_t *msg = zmsg_new ();
    zframe_t *identity = zframe_dup (self->identity);
    zmsg_append (msg, &identity);
    zmsg_addmem (msg, buf.data, buf.size);
    zmsg_addmem (msg, items->data, items->size);
    ASSERT_EQ (zmsg_send (&msg, self->router), 0);
}

static void
s_send_header (fake_t *self, const zf_header_t *header, const char *payload)
{
    th_send_header (self->router, self->identity, header, payload);
}

static void
s_beat (fake_t *self)
{
    if (!self->identity || zclock_mono () < self->beat_at)
        return;
    zf_header_t header;
    zf_header_init (&header, ZF_HEARTBEAT);
    header.heartbeat_ms = WORKER_BEAT_MS;
    header.liveness = LIVENESS;
    header.flags = self->batches ? ZF_FLAG_BATCH : 0;
    s_send_header (self, &header, NULL);
    self->beat_at = zclock_mono () + BEAT_MS / 2;
}

/* The next message from the worker that is not a HEARTBEAT: its header
 * and its one frame after it, if any (caller destroys). */
static zframe_t *
s_recv (fake_t *self, zf_header_t *header)
{
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (zclock_mono () < deadline) {
        s_beat (self);
        zmq_pollitem_t item = { zsock_resolve (self->router), 0, ZMQ_POLLIN,
                                0 };
        if (zmq_poll (&item, 1, BEAT_MS / 4) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv (self->router);
        ASSERT (msg && zmsg_size (msg) >= 2 && zmsg_size (msg) <= 3);
        zframe_t *identity = zmsg_pop (msg);
        zframe_t *head = zmsg_pop (msg);
        ASSERT_EQ (zf_header_decode (self->decoder, header, zframe_data (head),
                                     zframe_size (head)),
                   0);
        zframe_destroy (&head);
        zframe_t *body = zmsg_pop (msg);
        zmsg_destroy (&msg);
        if (header->command == ZF_HEARTBEAT) {
            zframe_destroy (&identity);
            zframe_destroy (&body);
            continue;
        }
        zframe_destroy (&self->identity);
        self->identity = identity;
        return body;
    }
    TEST_FAIL ("nothing but heartbeats from the worker for %d ms", WAIT_MS);
}

/* Takes the worker's READY, and checks it says BATCH. */
static void
s_expect_ready (fake_t *self)
{
    zf_header_t header;
    zframe_t *body = s_recv (self, &header);
    ASSERT_EQ (header.command, ZF_READY);
    ASSERT (header.flags & ZF_FLAG_BATCH);
    ASSERT (!body);
    self->capacity = header.capacity;
    self->prefetch = header.prefetch;
    self->beat_at = 0;
    s_beat (self);
}

typedef struct {
    uint64_t task_id;
    int status;
    char result [64];
} done_t;

static void
s_done (done_t *done, const zf_header_t *header, const void *data, size_t size)
{
    ASSERT_EQ (header->command, ZF_DONE);
    done->task_id = header->task_id;
    done->status = header->status;
    if (header->flags & ZF_FLAG_NUL) {
        ASSERT (size > 0 && ((const char *) data) [size - 1] == 0);
        size--;
    }
    ASSERT (size < sizeof done->result);
    if (size)
        memcpy (done->result, data, size);
    done->result [size] = 0;
}

/* The next DONEs, alone or in a BATCH, into dones (room for
 * ZF_BATCH_ITEMS_MAX); returns how many. */
static uint32_t
s_recv_dones (fake_t *self, done_t *dones)
{
    zf_header_t header;
    zframe_t *body = s_recv (self, &header);
    if (header.command == ZF_DONE) {
        s_done (&dones [0], &header, body ? zframe_data (body) : NULL,
                body ? zframe_size (body) : 0);
        zframe_destroy (&body);
        self->alone_in++;
        return 1;
    }
    ASSERT_EQ (header.command, ZF_BATCH);
    ASSERT (self->batches); /* only to a broker that said BATCH */
    ASSERT (body);
    zf_batch_reader_t reader;
    zf_batch_reader_init (&reader, zframe_data (body), zframe_size (body),
                          header.count);
    zf_batch_item_t item;
    uint32_t count = 0;
    int rc;
    while ((rc = zf_batch_next (&reader, &item)) == 1) {
        ASSERT (count < ZF_BATCH_ITEMS_MAX);
        zf_header_t done;
        ASSERT_EQ (zf_header_decode (self->decoder, &done, item.header,
                                     item.header_size),
                   0);
        s_done (&dones [count++], &done, item.payload, item.payload_size);
    }
    ASSERT_EQ (rc, 0);
    ASSERT_EQ (count, header.count);
    zframe_destroy (&body);
    self->batches_in++;
    if (count > self->batched_most)
        self->batched_most = count;
    return count;
}

/* Expects exactly the DONE of task_id next, with this status and result. */
static void
s_expect_done (fake_t *self, uint64_t task_id, int status, const char *result)
{
    done_t dones [ZF_BATCH_ITEMS_MAX];
    ASSERT_EQ (s_recv_dones (self, dones), 1);
    ASSERT_EQ (dones [0].task_id, task_id);
    ASSERT_EQ (dones [0].status, status);
    if (result)
        ASSERT_STR_EQ (dones [0].result, result);
}

/* ---- the tests ------------------------------------------------------- */

/* TASKS echo tasks, ids from first, in BATCHes as a broker sends them: as
 * many as READY lets it hold here (capacity, then prefetch per slot
 * AHEAD), topped up as DONEs come back. Each comes back once, echoed. */
static void
s_run_tasks (fake_t *self, uint64_t first)
{
    uint32_t holds = self->capacity * (1 + self->prefetch);
    bool returned [TASKS] = { false };
    uint32_t sent = 0, back = 0;
    while (back < TASKS) {
        items_t *items = zmalloc (sizeof *items);
        while (sent < TASKS && sent - back < holds) {
            char payload [32];
            snprintf (payload, sizeof payload, "payload %" PRIu32, sent);
            uint32_t flags = sent - back < self->capacity ? 0 : ZF_FLAG_AHEAD;
            s_add_task (items, first + sent++, "echo", flags, payload);
        }
        if (items->count)
            s_send_items (self, items, items->count);
        free (items);
        done_t dones [ZF_BATCH_ITEMS_MAX];
        uint32_t count = s_recv_dones (self, dones);
        for (uint32_t i = 0; i < count; i++) {
            uint64_t index = dones [i].task_id - first;
            ASSERT (index < sent && !returned [index]);
            returned [index] = true;
            ASSERT_EQ (dones [i].status, 0);
            char expected [32];
            snprintf (expected, sizeof expected, "payload %" PRIu64, index);
            ASSERT_STR_EQ (dones [i].result, expected);
        }
        back += count;
    }
}

/* A broker whose HEARTBEATs say BATCH gets DONEs in batches: how many per
 * batch depends on how fast the tasks run (a DONE waits at most 1 ms for
 * the next), so rounds go on until one held several (a bounded number:
 * a DONE never batched fails). Never two tasks at once at capacity 1. */
static void
test_batched_dones (fake_t *self)
{
    ASSERT_EQ (self->capacity, 1);
    ASSERT (self->prefetch >= 1);
    self->batches = true;
    self->beat_at = 0;
    s_beat (self);
    for (int round = 0; round < ROUNDS_MAX && self->batched_most < 2; round++)
        s_run_tasks (self, 1000 + (uint64_t) round * TASKS);
    ASSERT (self->batched_most >= 2);
    ASSERT_EQ (atomic_load (&s_most), 1);
    printf ("batched: %" PRIu32 " BATCHes of DONEs, %" PRIu32 " at most, "
            "%" PRIu32 " DONEs alone\n",
            self->batches_in, self->batched_most, self->alone_in);
}

/* A batch of more tasks than READY lets a broker send: those past the
 * bound are refused (HANDLER_ERROR), the others run, as TASKs alone. */
static void
test_refused_beyond (fake_t *self)
{
    uint32_t holds = self->capacity * (1 + self->prefetch);
    ASSERT (holds < TASKS);
    items_t *items = zmalloc (sizeof *items);
    for (uint32_t i = 0; i < TASKS; i++)
        s_add_task (items, 100 + i, "echo",
                    i < self->capacity ? 0 : ZF_FLAG_AHEAD, "beyond");
    s_send_items (self, items, items->count);
    free (items);
    uint32_t ran = 0, refused = 0;
    while (ran + refused < TASKS) {
        done_t dones [ZF_BATCH_ITEMS_MAX];
        uint32_t count = s_recv_dones (self, dones);
        for (uint32_t i = 0; i < count; i++) {
            uint64_t index = dones [i].task_id - 100;
            if (dones [i].status == 0) {
                ASSERT (index < holds);
                ASSERT_STR_EQ (dones [i].result, "beyond");
                ran++;
            }
            else {
                ASSERT_EQ (dones [i].status, ZFARM_EHANDLER_ERROR);
                ASSERT (index >= holds && index < TASKS);
                refused++;
            }
        }
    }
    ASSERT_EQ (ran, holds);
    ASSERT_EQ (refused, TASKS - holds);
}

/* A bad item is dropped, as that message alone would be; the rest run. */
static void
test_bad_item (fake_t *self)
{
    items_t *items = zmalloc (sizeof *items);
    s_add_task (items, 1, "echo", 0, "one");
    s_bin (items, "\x93\xa2zf", 4); /* a header that does not decode */
    s_bin (items, "lost", 4);
    items->count++;
    zf_header_t cancel; /* no command a batch may hold */
    zf_header_init (&cancel, ZF_CANCEL);
    cancel.task_id = 1;
    s_add (items, &cancel, NULL);
    s_add_task (items, 3, "echo", ZF_FLAG_AHEAD, "three");
    s_add_task (items, 4, "echo", ZF_FLAG_AHEAD, NULL);
    s_send_items (self, items, items->count);
    free (items);
    done_t dones [4 * ZF_BATCH_ITEMS_MAX];
    uint32_t count = 0;
    while (count < 3)
        count += s_recv_dones (self, dones + count);
    ASSERT_EQ (count, 3);
    ASSERT_EQ (dones [0].task_id, 1);
    ASSERT_STR_EQ (dones [0].result, "one");
    ASSERT_EQ (dones [1].task_id, 3);
    ASSERT_STR_EQ (dones [1].result, "three");
    ASSERT_EQ (dones [2].task_id, 4);
    ASSERT_STR_EQ (dones [2].result, "");
}

/* Framing that does not parse: the items before it stand, the rest are
 * lost, and the worker serves on. */
static void
test_bad_framing (fake_t *self)
{
    items_t *items = zmalloc (sizeof *items);
    s_add_task (items, 10, "echo", 0, "ten");
    /* The count says one more item than there is. */
    s_send_items (self, items, 2);
    s_expect_done (self, 10, 0, "ten");
    /* A bin whose length runs past the end. */
    items->size = 0;
    items->count = 0;
    s_add_task (items, 11, "echo", 0, "eleven");
    memcpy (items->data + items->size, "\xc4\x40zf", 4);
    items->size += 4;
    s_send_items (self, items, 2);
    s_expect_done (self, 11, 0, "eleven");
    /* Bytes left over after the items the count says. */
    s_send_items (self, items, 1);
    s_expect_done (self, 11, 0, "eleven");
    /* Not bin or nil. */
    items->size = 0;
    items->count = 0;
    s_bin (items, "x", 1);
    items->data [0] = 0xa1; /* a str, not a bin */
    s_send_items (self, items, 1);
    free (items);
    zf_header_t task;
    zf_header_init (&task, ZF_TASK);
    task.task_id = 12;
    zf_header_set_service (&task, "echo");
    task.attempt = 1;
    s_send_header (self, &task, "twelve");
    s_expect_done (self, 12, 0, "twelve");
}

/* Sends items, and returns once "block" runs (it was closed). */
static void
s_send_blocking (fake_t *self, const items_t *items)
{
    atomic_store (&s_blocked, 0);
    atomic_store (&s_open, 0);
    s_send_items (self, items, items->count);
    for (int i = 0; i < WAIT_MS && !atomic_load (&s_blocked); i++) {
        s_beat (self);
        zclock_sleep (1);
    }
    ASSERT (atomic_load (&s_blocked));
}

/* A DONE held while another task waits goes within its millisecond even
 * when the task after it runs long: the broker has it before "block"
 * returns. */
static void
test_held_done_goes (fake_t *self)
{
    items_t *items = zmalloc (sizeof *items);
    s_add_task (items, 30, "echo", 0, "thirty");
    s_add_task (items, 31, "block", ZF_FLAG_AHEAD, "");
    s_add_task (items, 32, "echo", ZF_FLAG_AHEAD, "thirty-two");
    s_send_blocking (self, items);
    free (items);
    s_expect_done (self, 30, 0, "thirty");
    atomic_store (&s_open, 1);
    done_t dones [2 * ZF_BATCH_ITEMS_MAX];
    uint32_t count = 0;
    while (count < 2)
        count += s_recv_dones (self, dones + count);
    ASSERT_EQ (count, 2);
    ASSERT_EQ (dones [0].task_id, 31);
    ASSERT_STR_EQ (dones [0].result, "opened");
    ASSERT_EQ (dones [1].task_id, 32);
    ASSERT_STR_EQ (dones [1].result, "thirty-two");
}

/* A CANCEL (no STOP) of a task that came in a batch and waits for the
 * slot: it comes back CANCELLED, never run; the one that runs finishes. */
static void
test_cancel_waiting (fake_t *self)
{
    items_t *items = zmalloc (sizeof *items);
    s_add_task (items, 20, "block", 0, "");
    s_add_task (items, 21, "echo", ZF_FLAG_AHEAD, "twenty-one");
    s_send_blocking (self, items);
    free (items);
    zf_header_t cancel;
    zf_header_init (&cancel, ZF_CANCEL);
    cancel.task_id = 21;
    s_send_header (self, &cancel, NULL);
    s_expect_done (self, 21, ZFARM_ECANCELLED, NULL);
    atomic_store (&s_open, 1);
    s_expect_done (self, 20, 0, "opened");
}

/* A new connection forgets that the broker took batches: until its
 * HEARTBEAT says so again, each DONE goes alone. */
static void
test_reconnect_forgets (fake_t *self)
{
    zf_header_t header;
    zf_header_init (&header, ZF_DISCONNECT);
    zf_header_set_text (&header, "come again");
    s_send_header (self, &header, NULL);
    self->batches = false;
    s_expect_ready (self);
    uint32_t batches_before = self->batches_in;
    s_run_tasks (self, 9000);
    ASSERT_EQ (self->batches_in, batches_before);
}

/* A broker that never says BATCH gets each DONE alone. */
static void
test_plain_dones (fake_t *self)
{
    ASSERT (!self->batches);
    s_run_tasks (self, 5000);
    ASSERT_EQ (self->batches_in, 0);
    ASSERT (self->alone_in >= TASKS);
}

/* Three slots, whose threads all hold DONEs in one batch for the broker:
 * each task still comes back once, and at most three run at once. */
static void
test_batched_slots (fake_t *self)
{
    ASSERT_EQ (self->capacity, 3);
    atomic_store (&s_most, 0);
    self->batches = true;
    self->beat_at = 0;
    s_beat (self);
    for (int round = 0; round < ROUNDS_MAX && self->batched_most < 2; round++)
        s_run_tasks (self, 3000 + (uint64_t) round * TASKS);
    ASSERT (self->batched_most >= 2);
    ASSERT (atomic_load (&s_most) <= 3);
}

/* zfarm-worker --module echo.so, which serves with the library: its DONEs
 * come in batches too. */
static void
test_host (fake_t *self, const char *endpoint)
{
    const char *const argv [] = { th_bin ("zfarm-worker"),
                                  "--broker",
                                  endpoint,
                                  "--service",
                                  "echo",
                                  "--module",
                                  th_module ("echo.so"),
                                  NULL };
    pid_t worker = th_spawn ("host", argv);
    s_expect_ready (self);
    self->batches = true;
    self->beat_at = 0;
    s_beat (self);
    for (int round = 0; round < ROUNDS_MAX && self->batched_most < 2; round++)
        s_run_tasks (self, 7000 + (uint64_t) round * TASKS);
    ASSERT (self->batched_most >= 2);
    th_kill (worker, SIGTERM);
    ASSERT (th_reap (worker, WAIT_MS) != -1);
}

static void
s_fake_init (fake_t *self, const char *endpoint)
{
    *self = (fake_t){ .router = zsock_new_router (endpoint),
                      .decoder = zf_decoder_new () };
    ASSERT (self->router);
}

static void
s_fake_destroy (fake_t *self)
{
    zframe_destroy (&self->identity);
    zf_decoder_destroy (&self->decoder);
    zsock_destroy (&self->router);
}

int
main (void)
{
    char endpoint [512];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/batch.ipc", th_tmpdir ());
    fake_t fake;
    s_fake_init (&fake, endpoint);
    runner_t runner;
    s_worker_start (&runner, endpoint, 1);
    s_expect_ready (&fake);
    test_batched_dones (&fake);
    test_refused_beyond (&fake);
    test_bad_item (&fake);
    test_bad_framing (&fake);
    test_held_done_goes (&fake);
    test_cancel_waiting (&fake);
    test_reconnect_forgets (&fake);
    s_worker_stop (&runner);
    s_fake_destroy (&fake);

    snprintf (endpoint, sizeof endpoint, "ipc://%s/plain.ipc", th_tmpdir ());
    s_fake_init (&fake, endpoint);
    s_worker_start (&runner, endpoint, 1);
    s_expect_ready (&fake);
    test_plain_dones (&fake);
    s_worker_stop (&runner);
    s_fake_destroy (&fake);

    snprintf (endpoint, sizeof endpoint, "ipc://%s/slots.ipc", th_tmpdir ());
    s_fake_init (&fake, endpoint);
    s_worker_start (&runner, endpoint, 3);
    s_expect_ready (&fake);
    test_batched_slots (&fake);
    s_worker_stop (&runner);
    s_fake_destroy (&fake);

    snprintf (endpoint, sizeof endpoint, "ipc://%s/host.ipc", th_tmpdir ());
    s_fake_init (&fake, endpoint);
    test_host (&fake, endpoint);
    s_fake_destroy (&fake);
    TEST_PASS ("test_batch_worker");
    return 0;
}
