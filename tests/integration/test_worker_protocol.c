/* test_worker_protocol.c: zfarm-worker as a broker sees it.
 *
 * The test is the broker: a ROUTER socket that speaks the wire protocol by
 * hand, so that what the worker sends (READY, HEARTBEAT, DONE, DISCONNECT)
 * and how it answers the broker's TASK, CANCEL, DISCONNECT and silence are
 * checked against common/PROTOCOL.md, message by message. */
#include "harness.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm_codes.h"

#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>

#define WAIT_MS      10000      /* bound on every wait */
#define HEARTBEAT_MS 100        /* the worker's */
/* Silent intervals before the worker gives up on us: 1.5 s, the suite's
 * usual window. With 300 ms a loaded machine (two busy loops) kept our
 * heartbeats from the worker now and then, and it registered again in the
 * middle of a test (READY where a DONE was due). */
#define LIVENESS     "15"

typedef struct {
    zsock_t *router;            /* the fake broker */
    zframe_t *identity;         /* the worker's latest connection */
    zf_decoder_t *decoder;
    bool heartbeat;             /* keep the worker's liveness up */
    size_t payload_size;        /* bytes in the last payload taken */
} fake_t;

static void
s_send (fake_t *self, zf_header_t *header, const char *payload)
{
    th_send_header (self->router, self->identity, header, payload);
}

static void
s_send_command (fake_t *self, int command)
{
    zf_header_t header;
    zf_header_init (&header, command);
    s_send (self, &header, NULL);
}

static void
s_send_task (fake_t *self, uint64_t task_id, const char *service,
             const char *payload)
{
    zf_header_t header;
    zf_header_init (&header, ZF_TASK);
    header.task_id = task_id;
    zf_header_set_service (&header, service);
    header.attempt = 1;
    s_send (self, &header, payload);
}

/* Decodes one message from the worker. Returns false for a HEARTBEAT. */
static bool
s_take (fake_t *self, zmsg_t *msg, zf_header_t *header, char **payload_p)
{
    zframe_t *identity = zmsg_pop (msg);
    zframe_t *head = zmsg_pop (msg);
    ASSERT (identity && head);
    ASSERT_EQ (zf_header_decode (self->decoder, header, zframe_data (head),
                                 zframe_size (head)), 0);
    zframe_destroy (&head);
    if (header->command == ZF_HEARTBEAT) {
        zframe_destroy (&identity);
        return false;
    }
    zframe_destroy (&self->identity);
    self->identity = identity;
    *payload_p = zf_wire_join (msg, &self->payload_size);
    return true;
}

/* The next message from the worker that is not a HEARTBEAT; its payload
 * goes to *payload_p (caller frees). Heartbeats the worker meanwhile if
 * self->heartbeat. */
static void
s_recv (fake_t *self, zf_header_t *header, char **payload_p)
{
    int64_t deadline = zclock_mono () + WAIT_MS, beat_at = 0;
    while (zclock_mono () < deadline) {
        if (self->heartbeat && self->identity && zclock_mono () >= beat_at) {
            s_send_command (self, ZF_HEARTBEAT);
            beat_at = zclock_mono () + HEARTBEAT_MS / 2;
        }
        zmq_pollitem_t item = { zsock_resolve (self->router), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, HEARTBEAT_MS / 2) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv (self->router);
        bool taken = s_take (self, msg, header, payload_p);
        zmsg_destroy (&msg);
        if (taken)
            return;
    }
    TEST_FAIL ("nothing but heartbeats from the worker for %d ms", WAIT_MS);
}

/* Expects a READY, from a connection other than `before` if given. */
static void
s_expect_ready (fake_t *self, pid_t worker, zframe_t *before)
{
    zf_header_t header;
    char *payload;
    s_recv (self, &header, &payload);
    ASSERT_EQ (header.command, ZF_READY);
    ASSERT_EQ (header.service_count, 2);
    ASSERT_STR_EQ (header.services [0], "sleep");
    ASSERT_STR_EQ (header.services [1], "other");
    ASSERT_EQ (header.capacity, 1);
    ASSERT_EQ (header.pid, worker);
    ASSERT (*header.host);
    ASSERT_STR_EQ (header.text, ZFARM_VERSION);
    ASSERT_STR_EQ (payload, "");
    free (payload);
    ASSERT (!before || !zframe_eq (before, self->identity));
}

static void
s_expect_done (fake_t *self, uint64_t task_id, int status,
               const char *expected)
{
    zf_header_t header;
    char *payload;
    s_recv (self, &header, &payload);
    ASSERT_EQ (header.command, ZF_DONE);
    ASSERT_EQ (header.task_id, task_id);
    ASSERT_EQ (header.status, status);
    if (!strstr (status? header.text: payload, expected))
        TEST_FAIL ("DONE %" PRIu64 ": '%s' / '%s' lacks '%s'", task_id,
                   header.text, payload, expected);
    free (payload);
}

/* zfarm-worker on the fake broker, for th_spawn: services "sleep" and
 * "other", both zfarm_sleep (payload MS: sleeps, replies "slept MS"). */
static const char *const *
s_worker_argv (const char *endpoint)
{
    static char heartbeat [16];
    static const char *argv [16];
    snprintf (heartbeat, sizeof heartbeat, "%d", HEARTBEAT_MS);
    const char *const args [] = {
        th_bin ("zfarm-worker"), "--broker", endpoint,
        "--service", "sleep", "--service", "other",
        "--module", th_module ("primes.so"), "--function", "zfarm_sleep",
        "--heartbeat", heartbeat, "--liveness", LIVENESS, NULL };
    memcpy (argv, args, sizeof args);
    return argv;
}

/* ---- the tests ------------------------------------------------------------ */

/* ZF_FLAG_NUL: a TASK's payload that ends with a NUL the broker says is not
 * the payload's reaches the handler without it (zfarm_sleep refuses any
 * byte after its number); a TASK that claims it falsely, or does not claim
 * it, reaches the handler whole. The DONE always claims it, truly. */
static void
test_nul_flag (fake_t *self)
{
    struct { const char *bytes; size_t size; uint32_t flags; } tasks [] = {
        { "5\0", 2, ZF_FLAG_NUL },
        { "6", 1, ZF_FLAG_NUL },
        { "7", 1, 0 },
    };
    for (size_t i = 0; i < sizeof tasks / sizeof tasks [0]; i++) {
        zf_header_t header;
        zf_header_init (&header, ZF_TASK);
        header.task_id = 50 + i;
        zf_header_set_service (&header, "sleep");
        header.attempt = 1;
        header.flags = tasks [i].flags;
        zf_buf_t buf;
        ASSERT_EQ (zf_header_encode (&header, &buf), 0);
        zmsg_t *msg = zmsg_new ();
        zframe_t *identity = zframe_dup (self->identity);
        zmsg_append (msg, &identity);
        zmsg_addmem (msg, buf.data, buf.size);
        zmsg_addmem (msg, tasks [i].bytes, tasks [i].size);
        ASSERT_EQ (zmsg_send (&msg, self->router), 0);

        char *payload, expected [16];
        s_recv (self, &header, &payload);
        ASSERT_EQ (header.command, ZF_DONE);
        ASSERT_EQ (header.task_id, 50 + i);
        ASSERT_EQ (header.status, 0);
        snprintf (expected, sizeof expected, "slept %c", tasks [i].bytes [0]);
        ASSERT_STR_EQ (payload, expected);
        ASSERT_EQ (header.flags & ZF_FLAG_NUL, ZF_FLAG_NUL);
        ASSERT_EQ (self->payload_size, strlen (expected) + 1);
        free (payload);
    }
}

/* ZF_FLAG_IDLE: a DONE says so when no task waits for the slot it frees,
 * and not while one does (capacity 1: the second task waits). */
static void
test_idle_flag (fake_t *self)
{
    s_send_task (self, 60, "sleep", "100");
    s_send_task (self, 61, "sleep", "1");
    zf_header_t header;
    char *payload;
    s_recv (self, &header, &payload);
    ASSERT_EQ (header.task_id, 60);
    ASSERT_STR_EQ (payload, "slept 100");
    ASSERT_EQ (header.flags & ZF_FLAG_IDLE, 0);
    free (payload);
    s_recv (self, &header, &payload);
    ASSERT_EQ (header.task_id, 61);
    ASSERT_EQ (header.flags & ZF_FLAG_IDLE, ZF_FLAG_IDLE);
    free (payload);
}

/* A task that waits for a slot can be cancelled; one for a service the
 * worker does not offer is refused; DONEs carry results and errors. */
static void
test_tasks (fake_t *self)
{
    s_send_task (self, 1, "sleep", "200");
    s_send_task (self, 2, "sleep", "1");       /* capacity 1: it waits */
    zf_header_t cancel;
    zf_header_init (&cancel, ZF_CANCEL);
    cancel.task_id = 2;
    s_send (self, &cancel, NULL);
    s_expect_done (self, 2, ZFARM_ECANCELLED, "cancelled before it started");
    s_expect_done (self, 1, 0, "slept 200");

    s_send_task (self, 3, "nope", "");
    s_expect_done (self, 3, ZFARM_EHANDLER_ERROR, "service 'nope' is not offered");
    s_send_task (self, 4, "other", "x");
    s_expect_done (self, 4, ZFARM_EHANDLER_ERROR, "expected a whole number");
}

/* DISCONNECT from the broker, or its silence, makes the worker open a new
 * connection and send READY again. */
static void
test_register_again (fake_t *self, pid_t worker)
{
    zframe_t *before = zframe_dup (self->identity);
    zf_header_t header;
    zf_header_init (&header, ZF_DISCONNECT);
    zf_header_set_text (&header, "unknown worker");
    s_send (self, &header, NULL);
    s_expect_ready (self, worker, before);

    zframe_destroy (&before);
    before = zframe_dup (self->identity);
    self->heartbeat = false;
    s_expect_ready (self, worker, before);
    self->heartbeat = true;
    zframe_destroy (&before);
}

/* SIGTERM with a task in hand: its DONE, then DISCONNECT, then exit 0. */
static void
test_stop (fake_t *self, pid_t worker)
{
    s_send_task (self, 5, "sleep", "300");
    /* The worker reads its connection in order: once the refusal of task 6
     * is back, task 5 is in hand. */
    s_send_task (self, 6, "nope", "");
    s_expect_done (self, 6, ZFARM_EHANDLER_ERROR, "not offered");
    th_kill (worker, SIGTERM);
    s_expect_done (self, 5, 0, "slept 300");
    zf_header_t header;
    char *payload;
    s_recv (self, &header, &payload);
    ASSERT_EQ (header.command, ZF_DISCONNECT);
    free (payload);
    int status = th_reap (worker, WAIT_MS);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
}

/* A stop that comes after a TASK was read lets that task finish, even
 * when it comes before a slot was handed the task. The worker raises
 * SIGTERM on itself as it reads task 7, the only TASK for "other" it gets
 * (th_seam_argv): a signal from outside, as in test_stop, falls into that
 * gap only now and then. */
static void
test_stop_as_read (fake_t *self, const char *endpoint)
{
    pid_t worker = th_spawn ("seamed_worker", th_seam_argv ("other",
                             "sigterm", s_worker_argv (endpoint)));
    zframe_t *before = zframe_dup (self->identity);
    s_expect_ready (self, worker, before);
    zframe_destroy (&before);
    s_send_task (self, 7, "other", "100");
    s_expect_done (self, 7, 0, "slept 100");
    zf_header_t header;
    char *payload;
    s_recv (self, &header, &payload);
    ASSERT_EQ (header.command, ZF_DISCONNECT);
    free (payload);
    int status = th_reap (worker, WAIT_MS);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
}

int
main (void)
{
    char endpoint [512];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/fake.ipc", th_tmpdir ());
    fake_t fake = { .router = zsock_new_router (endpoint),
                    .decoder = zf_decoder_new (), .heartbeat = true };
    ASSERT (fake.router);
    pid_t worker = th_spawn ("worker", s_worker_argv (endpoint));
    s_expect_ready (&fake, worker, NULL);

    test_tasks (&fake);
    test_nul_flag (&fake);
    test_idle_flag (&fake);
    test_register_again (&fake, worker);
    test_stop (&fake, worker);
    test_stop_as_read (&fake, endpoint);

    zframe_destroy (&fake.identity);
    zf_decoder_destroy (&fake.decoder);
    zsock_destroy (&fake.router);
    TEST_PASS ("test_worker_protocol");
    return 0;
}
