/* test_client_pick.c: which of two brokers a client sends its tasks to
 * (zf_client_pick), against two brokers played by hand, ROUTER sockets in
 * the test. Brokers whose PONGs say the same pool of workers, neither busy,
 * get all the client's tasks at one of them; brokers of different pools,
 * one that says it is busy, or older brokers whose PONGs say no pool, each
 * get a real share; and when the broker the client keeps to goes silent,
 * its tasks move to the other, each task getting exactly one result. */
#include "harness.h"
#include "zfarm.h"

#include <czmq.h>

#define WAIT_MS 20000 /* bound on a wave of tasks */
#define WARMUP  40    /* the first wave: both PONGs are heard by its end */
#define TASKS   400   /* the second wave, whose spread is measured */
#define WINDOW  40    /* tasks in flight at once */
#define FEW     (TASKS / 50)         /* "all but a few" */
#define MAX_ID  (WARMUP + 2 * TASKS) /* a case may run two waves */
#define POOL    0x5eedf00dcafe1234ULL

typedef struct {
    zsock_t *sock; /* ROUTER the client connects to */
    char endpoint [64];
    zf_decoder_t *decoder;
    uint64_t epoch;            /* its PONGs', fixed and non-zero */
    uint64_t pool;             /* what they say of its workers (0: not said) */
    uint32_t busy;             /* and of its loop, per mille (0: not said) */
    uint32_t free_slots;       /* its PONG's free slots */
    uint32_t heartbeat_ms;     /* the heartbeat they ask the client for */
    uint32_t liveness;         /* ... and the intervals of silence it allows */
    bool ponged;               /* it sent a PONG: RESULTs go at once */
    bool silent;               /* it reads, counts, and answers nothing */
    zlist_t *held;             /* RESULTs (zmsg_t) held for its first PONG */
    size_t wave;               /* SUBMITs seen in the current wave */
    int seen [MAX_ID + 1];     /* SUBMITs seen, by task id */
    bool dropped [MAX_ID + 1]; /* those of them it never answered */
} fake_t;

typedef struct {
    const char *name; /* the case, for its line of output */
    fake_t fakes [2];
    zfarm_client_t *client;
    uint64_t last_id;     /* the last task submitted */
    int got [MAX_ID + 1]; /* results, by task id */
} farm_t;

static void
s_fake_init (fake_t *self, uint64_t epoch)
{
    *self = (fake_t){ .sock = zsock_new (ZMQ_ROUTER),
                      .decoder = zf_decoder_new (),
                      .epoch = epoch,
                      .pool = POOL,
                      .heartbeat_ms = 100,
                      .liveness = 20,
                      .held = zlist_new () };
    /* A port of its own on this test's own loopback address (harness.h
     * says why not 127.0.0.1). */
    int port = zsock_bind (self->sock, "tcp://%s:*", th_loopback ());
    ASSERT (port > 0);
    snprintf (self->endpoint, sizeof self->endpoint, "tcp://%s:%d",
              th_loopback (), port);
    zsock_set_rcvtimeo (self->sock, 0);
}

static void
s_fake_destroy (fake_t *self)
{
    zmsg_t *msg;
    while ((msg = zlist_pop (self->held)))
        zmsg_destroy (&msg);
    zlist_destroy (&self->held);
    zsock_destroy (&self->sock);
    zf_decoder_destroy (&self->decoder);
}

/* A PONG that says the fake's pool and busy (left out when 0, as an older
 * broker's), no tasks queued, and its free slots (none unless the case
 * says), so that the load the client counts is its own tasks alone. The RESULTs held follow it. */
static void
s_fake_pong (fake_t *self, zframe_t *to)
{
    zf_header_t pong;
    zf_header_init (&pong, ZF_PONG);
    pong.epoch = self->epoch;
    pong.heartbeat_ms = self->heartbeat_ms;
    pong.liveness = self->liveness;
    pong.pool = self->pool;
    pong.busy = self->busy;
    pong.free_slots = self->free_slots;
    th_send_header (self->sock, to, &pong, NULL);
    self->ponged = true;
    zmsg_t *held;
    while ((held = zlist_pop (self->held)))
        ASSERT_EQ (zmsg_send (&held, self->sock), 0);
}

/* A SUBMIT of "task N" is answered with a RESULT that echoes its payload
 * frame (with the NUL the client sends after it). Before the fake's first
 * PONG the RESULT is held: a client that has its results has then heard
 * that PONG, since one connection keeps its messages in order. */
static void
s_fake_submit (fake_t *self, zframe_t **from_p, const zf_header_t *header,
               zmsg_t *msg)
{
    uint64_t id = header->task_id;
    ASSERT (id >= 1 && id <= MAX_ID);
    ASSERT_STR_EQ (header->service, "svc");
    ASSERT (header->flags & ZF_FLAG_NUL);
    zframe_t *body = zmsg_pop (msg);
    ASSERT (body && zmsg_size (msg) == 0);
    char expected [32];
    snprintf (expected, sizeof expected, "task %" PRIu64, id);
    ASSERT_EQ (zframe_size (body), strlen (expected) + 1);
    ASSERT_MEM_EQ (zframe_data (body), expected, zframe_size (body));
    self->seen [id]++;
    self->wave++;
    if (self->silent) {
        self->dropped [id] = true;
        zframe_destroy (&body);
        return;
    }
    zf_header_t result;
    zf_header_init (&result, ZF_RESULT);
    result.task_id = id;
    result.flags = ZF_FLAG_NUL;
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (&result, &buf), 0);
    zmsg_t *reply = zmsg_new ();
    zmsg_append (reply, from_p);
    zmsg_addmem (reply, buf.data, buf.size);
    zmsg_append (reply, &body);
    if (self->ponged)
        ASSERT_EQ (zmsg_send (&reply, self->sock), 0);
    else
        zlist_append (self->held, reply);
}

/* Takes every message waiting at the fake. */
static void
s_fake_serve (fake_t *self)
{
    zmsg_t *msg;
    while ((msg = zmsg_recv (self->sock))) {
        zframe_t *from = zmsg_pop (msg);
        zframe_t *head = zmsg_pop (msg);
        ASSERT (from && head);
        zf_header_t header;
        ASSERT_EQ (zf_header_decode (self->decoder, &header, zframe_data (head),
                                     zframe_size (head)),
                   0);
        zframe_destroy (&head);
        if (header.command == ZF_SUBMIT)
            s_fake_submit (self, &from, &header, msg);
        else if (header.command == ZF_PING) {
            if (!self->silent)
                s_fake_pong (self, from);
        }
        else
            ASSERT_EQ (header.command, ZF_CANCEL); /* of a task moved away */
        zframe_destroy (&from);
        zmsg_destroy (&msg);
    }
}

/* Two fakes as the cases start from: the same pool, neither busy. */
static void
s_farm_init (farm_t *self, const char *name)
{
    memset (self, 0, sizeof *self);
    self->name = name;
    s_fake_init (&self->fakes [0], 0x1111);
    s_fake_init (&self->fakes [1], 0x2222);
}

static void
s_farm_destroy (farm_t *self)
{
    zfarm_client_destroy (&self->client);
    s_fake_destroy (&self->fakes [0]);
    s_fake_destroy (&self->fakes [1]);
}

/* Waits at most a ms for a message at either fake, then serves both. */
static void
s_farm_serve (farm_t *self)
{
    zmq_pollitem_t items [2] = {
        { zsock_resolve (self->fakes [0].sock), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->fakes [1].sock), 0, ZMQ_POLLIN, 0 },
    };
    zmq_poll (items, 2, 1);
    s_fake_serve (&self->fakes [0]);
    s_fake_serve (&self->fakes [1]);
}

static void
s_farm_submit (farm_t *self)
{
    char payload [32];
    snprintf (payload, sizeof payload, "task %" PRIu64, ++self->last_id);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (self->client, "svc", payload,
                                    strlen (payload), 0, &id),
               0);
    ASSERT (id == self->last_id && id <= MAX_ID);
}

/* Takes the results the client has now, each its task's echo, once.
 * Returns how many. */
static size_t
s_farm_take_results (farm_t *self)
{
    size_t count = 0;
    zfarm_result_t *result;
    while (zfarm_client_wait (self->client, 0, &result) == 0) {
        uint64_t id = zfarm_result_task_id (result);
        ASSERT (id >= 1 && id <= self->last_id);
        ASSERT_EQ (self->got [id]++, 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        char expected [32];
        snprintf (expected, sizeof expected, "task %" PRIu64, id);
        size_t size;
        const char *data = zfarm_result_data (result, &size);
        ASSERT_EQ (size, strlen (expected));
        ASSERT_STR_EQ (data, expected);
        zfarm_result_destroy (&result);
        count++;
    }
    return count;
}

/* Submits count tasks, WINDOW in flight, and takes all their results.
 * With silence_at, the fake that has taken more of this wave goes silent
 * once that many results are in. */
static void
s_farm_wave (farm_t *self, size_t count, size_t silence_at)
{
    self->fakes [0].wave = self->fakes [1].wave = 0;
    size_t sent = 0, done = 0;
    int64_t until = zclock_mono () + WAIT_MS;
    while (done < count && zclock_mono () < until) {
        for (; sent < count && sent - done < WINDOW; sent++)
            s_farm_submit (self);
        if (silence_at && done >= silence_at) {
            fake_t *fakes = self->fakes;
            fakes [fakes [1].wave > fakes [0].wave].silent = true;
            silence_at = 0;
        }
        s_farm_serve (self);
        done += s_farm_take_results (self);
    }
    ASSERT_EQ (done, count);
    ASSERT_EQ (zfarm_client_pending (self->client), 0);
}

/* A client given both fakes, and a first wave after which it has heard
 * both PONGs: before them it spreads its tasks (nothing says a pool), so
 * each fake answered some of them after its PONG. */
static void
s_farm_start (farm_t *self)
{
    char endpoints [160];
    snprintf (endpoints, sizeof endpoints, "%s,%s", self->fakes [0].endpoint,
              self->fakes [1].endpoint);
    self->client = zfarm_client_new (endpoints);
    ASSERT (self->client);
    s_farm_wave (self, WARMUP, 0);
    for (int i = 0; i < 2; i++) {
        ASSERT (self->fakes [i].ponged);
        ASSERT (self->fakes [i].wave > 0);
    }
}

/* Every task of the last wave of count went to a fake exactly once. The
 * split is printed first, so that a failure says which case it is. */
static void
s_assert_each_once (const farm_t *self, size_t count)
{
    printf ("test_client_pick: %s: %zu and %zu of %zu\n", self->name,
            self->fakes [0].wave, self->fakes [1].wave, count);
    ASSERT_EQ (self->fakes [0].wave + self->fakes [1].wave, count);
    for (uint64_t id = self->last_id - count + 1; id <= self->last_id; id++)
        ASSERT_EQ (self->fakes [0].seen [id] + self->fakes [1].seen [id], 1);
}

/* A second wave over two fakes set up as a case wants: each must get at
 * least a quarter of it. */
static void
s_assert_shared (farm_t *self)
{
    s_farm_start (self);
    s_farm_wave (self, TASKS, 0);
    s_assert_each_once (self, TASKS);
    ASSERT_INT (self->fakes [0].wave, >=, TASKS / 4);
    ASSERT_INT (self->fakes [1].wave, >=, TASKS / 4);
    s_farm_destroy (self);
}

/* The larger share of the last wave, by one fake. */
static size_t
s_most (const farm_t *self)
{
    return self->fakes [0].wave > self->fakes [1].wave ? self->fakes [0].wave
                                                       : self->fakes [1].wave;
}

/* A second wave over two fakes set up as a case wants: one of them must
 * get all of it but a few. */
static void
s_assert_kept (farm_t *self)
{
    s_farm_start (self);
    s_farm_wave (self, TASKS, 0);
    s_assert_each_once (self, TASKS);
    ASSERT_INT (s_most (self), >=, TASKS - FEW);
    s_farm_destroy (self);
}

/* 1. The same pool, neither busy: the second wave goes to one of them. */
static void
test_pooled (void)
{
    farm_t farm;
    s_farm_init (&farm, "same pool");
    s_assert_kept (&farm);
}

/* 1b. The same pool with free slots at both: they are the same slots,
 * so those the client's tasks take at one must not draw it to the other. */
static void
test_pooled_free_slots (void)
{
    farm_t farm;
    s_farm_init (&farm, "same pool, free slots");
    farm.fakes [0].free_slots = farm.fakes [1].free_slots = 16;
    s_assert_kept (&farm);
}

/* 2. Different pools: other workers, so both are worth using. */
static void
test_other_pools (void)
{
    farm_t farm;
    s_farm_init (&farm, "other pools");
    farm.fakes [1].pool = POOL + 1;
    s_assert_shared (&farm);
}

/* 3. The same pool, but one broker's loop is busy: the client spills. */
static void
test_busy (void)
{
    farm_t farm;
    s_farm_init (&farm, "one busy");
    farm.fakes [1].busy = 800;
    s_assert_shared (&farm);
}

/* 3b. One broker busy, then neither: once both have said so, the client
 * keeps to one of them again. Each fake holds its RESULTs until its next
 * PONG, which says busy 0, so that all but the first window or two of
 * the wave are placed after both PONGs. */
static void
test_busy_settles (void)
{
    farm_t farm;
    s_farm_init (&farm, "busy, then settled");
    farm.fakes [1].busy = 800;
    s_farm_start (&farm);
    s_farm_wave (&farm, TASKS, 0);
    ASSERT_INT (farm.fakes [0].wave, >=, TASKS / 4);
    ASSERT_INT (farm.fakes [1].wave, >=, TASKS / 4);
    for (int i = 0; i < 2; i++) {
        farm.fakes [i].busy = 0;
        farm.fakes [i].ponged = false;
    }
    s_farm_wave (&farm, TASKS, 0);
    s_assert_each_once (&farm, TASKS);
    ASSERT_INT (s_most (&farm), >=, TASKS - 2 * WINDOW - FEW);
    s_farm_destroy (&farm);
}

/* 4. Older brokers, whose PONGs say no pool: both of them, so that "no
 * pool" at each is no common pool; then one beside a broker that says a
 * pool. */
static void
test_older_brokers (void)
{
    farm_t farm;
    s_farm_init (&farm, "no pool said");
    farm.fakes [0].pool = farm.fakes [1].pool = 0;
    s_assert_shared (&farm);
    s_farm_init (&farm, "one says no pool");
    farm.fakes [0].pool = 0;
    s_assert_shared (&farm);
}

/* 5. The same pool, neither busy, with a short heartbeat: the fake the
 * client keeps to goes silent a quarter into the second wave. The tasks
 * it held move to the other, and every task gets exactly one result
 * (s_farm_wave fails on one missing, s_farm_take_results on a second). */
static void
test_kept_goes_silent (void)
{
    farm_t farm;
    s_farm_init (&farm, "kept goes silent");
    farm.fakes [0].liveness = farm.fakes [1].liveness = 3;
    s_farm_start (&farm);
    s_farm_wave (&farm, TASKS, TASKS / 4);
    fake_t *silent = farm.fakes [0].silent ? &farm.fakes [0] : &farm.fakes [1];
    fake_t *other = silent == &farm.fakes [0] ? &farm.fakes [1]
                                              : &farm.fakes [0];
    ASSERT (silent->silent && !other->silent);
    size_t moved = 0;
    for (uint64_t id = 1; id <= farm.last_id; id++)
        if (silent->dropped [id]) {
            ASSERT_EQ (other->seen [id], 1);
            moved++;
        }
    printf ("test_client_pick: %s: %zu tasks moved\n", farm.name, moved);
    ASSERT (moved > 0);
    s_farm_destroy (&farm);
}

int
main (void)
{
    test_pooled ();
    test_pooled_free_slots ();
    test_other_pools ();
    test_busy ();
    test_busy_settles ();
    test_older_brokers ();
    test_kept_goes_silent ();
    TEST_PASS ("test_client_pick");
    return 0;
}
