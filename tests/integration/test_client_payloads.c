/* test_client_payloads.c: the client library moves payloads unchanged, of
 * every size, and keeps every task apart however many are pending.
 *
 * The client keeps each payload as a libzmq message and sends it shared,
 * not copied, and it indexes pending tasks in a table of its own: these
 * tests show that a payload survives being sent twice (a broker restart),
 * that a result of several frames is joined, that every result's data ends
 * in a NUL, and that thousands of tasks, finished and cancelled in any
 * order, each get their own result. */
#include "harness.h"
#include "zfarm.h"
#include "zf_proto.h"
#include "zf_util.h"
#include "zf_wire.h"

#include <czmq.h>
#include <inttypes.h>
#include <signal.h>

#define WAIT_MS 20000           /* bound on anything that should be quick */

/* size bytes that differ from task to task (seed) and along the payload. */
static char *
s_payload (size_t size, unsigned seed)
{
    char *data = malloc (size? size: 1);
    ASSERT (data);
    for (size_t i = 0; i < size; i++)
        data [i] = (char) ((i * 31 + seed * 7) % 251);
    return data;
}

/* Checks that result carries exactly the expected bytes, then a NUL. */
static void
s_check_data (zfarm_result_t *result, const char *expected, size_t size)
{
    if (zfarm_result_status (result) != 0)
        fprintf (stderr, "task %" PRIu64 ": %s\n",
                 zfarm_result_task_id (result), zfarm_result_error (result));
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t got;
    const char *data = zfarm_result_data (result, &got);
    ASSERT_EQ (got, size);
    ASSERT_MEM_EQ (data, expected, size);
    ASSERT_EQ (data [size], 0);
}

/* Sizes around libzmq's limits: 33 bytes fit inside a message (larger ones
 * are shared by reference count), 8 KB is its receive batch. */
static const size_t s_sizes [] = {
    0, 1, 32, 33, 34, 100, 8191, 8192, 8193, 65536, 1048576 + 7
};
#define SIZES (sizeof s_sizes / sizeof s_sizes [0])

static void
test_sizes (const char *endpoint)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    for (size_t i = 0; i < SIZES; i++) {
        char *payload = s_payload (s_sizes [i], (unsigned) i);
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_call (client, "echo", payload, s_sizes [i],
                                      WAIT_MS, &result), 0);
        s_check_data (result, payload, s_sizes [i]);
        zfarm_result_destroy (&result);
        free (payload);
    }
    /* The caller's buffer is its own again as soon as submit returns. */
    char *payload = s_payload (4096, 1);
    char *expected = s_payload (4096, 1);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "echo", payload, 4096, WAIT_MS,
                                    &id), 0);
    memset (payload, 0, 4096);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    ASSERT_EQ (zfarm_result_task_id (result), id);
    s_check_data (result, expected, 4096);
    zfarm_result_destroy (&result);
    free (payload);
    free (expected);
    zfarm_client_destroy (&client);
}

/* More tasks than the pending table's first size, a third of them cancelled
 * in a scattered order while in flight: each of the others gets its own
 * payload back once, and the cancelled ones are gone. */
static void
test_many_pending (const char *endpoint)
{
    enum { TASKS = 3000, SIZE = 40 };
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    uint64_t *ids = zf_malloc (TASKS * sizeof *ids);
    bool *seen = zf_malloc (TASKS * sizeof *seen);
    for (unsigned i = 0; i < TASKS; i++) {
        char *payload = s_payload (SIZE, i);
        ASSERT_EQ (zfarm_client_submit (client, "echo", payload, SIZE,
                                        60000, &ids [i]), 0);
        ASSERT_EQ (ids [i], i + 1);     /* ids count from 1 */
        free (payload);
    }
    ASSERT_EQ (zfarm_client_pending (client), TASKS);
    size_t cancelled = 0;
    for (unsigned k = 0; k < TASKS; k++) {
        unsigned i = (k * 1237) % TASKS;    /* 1237 is prime to TASKS */
        if (i % 3)
            continue;
        ASSERT_EQ (zfarm_client_cancel (client, ids [i]), 0);
        ASSERT_EQ (zfarm_client_cancel (client, ids [i]), ZFARM_ENOT_FOUND);
        cancelled++;
    }
    ASSERT_EQ (cancelled, TASKS / 3);
    ASSERT_EQ (zfarm_client_pending (client), TASKS);
    for (size_t count = 0; count < TASKS; count++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 60000, &result), 0);
        uint64_t id = zfarm_result_task_id (result);
        ASSERT (id >= 1 && id <= TASKS);
        unsigned index = (unsigned) (id - 1);
        ASSERT (!seen [index]);
        seen [index] = true;
        if (index % 3 == 0)
            ASSERT_EQ (zfarm_result_status (result), ZFARM_ECANCELLED);
        else {
            char *expected = s_payload (SIZE, index);
            s_check_data (result, expected, SIZE);
            free (expected);
        }
        zfarm_result_destroy (&result);
    }
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 0, &result), ZFARM_ENOT_FOUND);
    ASSERT_EQ (zfarm_client_pending (client), 0);
    ASSERT_EQ (zfarm_client_cancel (client, ids [1]), ZFARM_ENOT_FOUND);
    /* The table, shrunk back, still takes tasks. */
    ASSERT_EQ (zfarm_client_call (client, "echo", "again", 5, WAIT_MS,
                                  &result), 0);
    s_check_data (result, "again", 5);
    zfarm_result_destroy (&result);
    free (ids);
    free (seen);
    zfarm_client_destroy (&client);
}

/* A worker made by hand, whose DONE carries three frames (one empty): the
 * client joins them into one result. */
/* ZF_FLAG_NUL: the client sends each payload with a NUL after it, and says
 * so; a DONE that says so has its last byte taken off, whether it came in
 * one frame (kept in place) or several; one that says so falsely, with no
 * NUL at the end, has all its bytes kept. */
static void
test_nul_flag (zfarm_client_t *client, zsock_t *worker, zf_decoder_t *decoder)
{
    struct { const char *frames [2]; size_t sizes [2]; const char *expected; }
        dones [] = {
        { { "abc\0" }, { 4 }, "abc" },
        { { "ab", "c\0" }, { 2, 2 }, "abc" },
        { { "abc" }, { 3 }, "abc" },
        { { "\0" }, { 1 }, "" },
    };
    for (size_t i = 0; i < sizeof dones / sizeof dones [0]; i++) {
        uint64_t id;
        ASSERT_EQ (zfarm_client_submit (client, "frames", "xy", 2, WAIT_MS,
                                        &id), 0);
        zf_header_t header;
        zmsg_t *payload = NULL;
        do {
            zmsg_destroy (&payload);
            ASSERT_EQ (zf_wire_recv (worker, decoder, &header, &payload), 0);
        } while (header.command != ZF_TASK);
        ASSERT_EQ (header.flags, ZF_FLAG_NUL);
        ASSERT_EQ (zmsg_size (payload), 1);
        zframe_t *frame = zmsg_first (payload);
        ASSERT_EQ (zframe_size (frame), 3);
        ASSERT_MEM_EQ (zframe_data (frame), "xy", 3);
        uint64_t task_id = header.task_id;
        zmsg_destroy (&payload);

        payload = zmsg_new ();
        for (size_t f = 0; f < 2 && dones [i].frames [f]; f++)
            zmsg_addmem (payload, dones [i].frames [f], dones [i].sizes [f]);
        zf_header_init (&header, ZF_DONE);
        header.task_id = task_id;
        header.flags = ZF_FLAG_NUL;
        ASSERT_EQ (zf_wire_send (worker, &header, &payload), 0);
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
        ASSERT_EQ (zfarm_result_task_id (result), id);
        s_check_data (result, dones [i].expected, strlen (dones [i].expected));
        zfarm_result_destroy (&result);
    }
}

/* The worker here is this test's own socket, which never heartbeats: its
 * broker is one of its own whose heartbeat outlasts every wait of the test,
 * so that a test starved of CPU does not see it expire (at the default
 * 500 ms it did, under load). */
static void
test_result_frames (void)
{
    const char *extra [] = { "--heartbeat", "60000", NULL };
    char endpoint [512];
    pid_t broker;
    th_broker_t started = th_broker_start ("tcp", extra);
    broker = started.pid;
    snprintf (endpoint, sizeof endpoint, "%s", started.endpoint);
    zsock_t *worker = zsock_new (ZMQ_DEALER);
    ASSERT (worker);
    zsock_set_rcvtimeo (worker, WAIT_MS);
    ASSERT_EQ (zsock_connect (worker, "%s", endpoint), 0);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    zf_header_set_service (&header, "frames");
    memcpy (header.services [0], header.service, sizeof header.services [0]);
    header.service_count = 1;
    header.capacity = 1;
    header.pid = (uint32_t) getpid ();
    snprintf (header.host, sizeof header.host, "test");
    zf_header_set_text (&header, ZFARM_VERSION);
    ASSERT_EQ (zf_wire_send (worker, &header, NULL), 0);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));

    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "frames", "x", 1, WAIT_MS, &id),
               0);
    zf_decoder_t *decoder = zf_decoder_new ();
    zmsg_t *payload = NULL;
    do {
        zmsg_destroy (&payload);
        ASSERT_EQ (zf_wire_recv (worker, decoder, &header, &payload), 0);
    } while (header.command != ZF_TASK);
    uint64_t task_id = header.task_id;
    zmsg_destroy (&payload);

    char *big = s_payload (50000, 3);
    payload = zmsg_new ();
    zmsg_addmem (payload, "ab", 2);
    zmsg_addmem (payload, NULL, 0);
    zmsg_addmem (payload, big, 50000);
    zf_header_init (&header, ZF_DONE);
    header.task_id = task_id;
    ASSERT_EQ (zf_wire_send (worker, &header, &payload), 0);

    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    ASSERT_EQ (zfarm_result_task_id (result), id);
    char *expected = zf_malloc (50002);
    memcpy (expected, "ab", 2);
    memcpy (expected + 2, big, 50000);
    s_check_data (result, expected, 50002);
    zfarm_result_destroy (&result);
    free (expected);
    free (big);
    test_nul_flag (client, worker, decoder);
    zfarm_client_destroy (&client);
    zf_decoder_destroy (&decoder);
    zsock_set_linger (worker, 0);
    zsock_destroy (&worker);
    th_kill (broker, SIGTERM);
    th_reap (broker, WAIT_MS);
}

/* Tasks queued at a broker that is then killed are submitted again to its
 * successor, each time from the payload the client kept: the payloads
 * arrive intact after two sends of one shared buffer. */
static void
test_resubmitted_payloads (void)
{
    char bind [512];
    snprintf (bind, sizeof bind, "ipc://%s/payloads.ipc", th_tmpdir ());
    const char *extra [] = { "--bind", bind, NULL };
    pid_t broker;
    broker = th_broker_start ("ipc", extra).pid;

    zfarm_client_t *client = zfarm_client_new (bind);
    ASSERT (client);
    char *payloads [SIZES];
    uint64_t ids [SIZES];
    for (size_t i = 0; i < SIZES; i++) {
        payloads [i] = s_payload (s_sizes [i], (unsigned) i + 100);
        ASSERT_EQ (zfarm_client_submit (client, "echo", payloads [i],
                                        s_sizes [i], 60000, &ids [i]), 0);
    }
    /* No worker yet: the tasks wait at the broker. Once the client knows
     * its epoch, replace it. */
    th_client_hear_epoch (client);
    zfarm_result_t *result = NULL;
    th_kill (broker, SIGKILL);
    th_reap (broker, 5000);
    broker = th_broker_start ("ipc", extra).pid;
    const char *args [] = { "--service", "echo", "--module",
                            th_module ("echo.so"), NULL };
    th_worker_start (bind, args);
    ASSERT (th_wait_workers (bind, 1, WAIT_MS));

    for (size_t count = 0; count < SIZES; count++) {
        ASSERT_EQ (zfarm_client_wait (client, 60000, &result), 0);
        size_t i = 0;
        while (i < SIZES && ids [i] != zfarm_result_task_id (result))
            i++;
        ASSERT (i < SIZES);
        s_check_data (result, payloads [i], s_sizes [i]);
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (zfarm_client_pending (client), 0);
    for (size_t i = 0; i < SIZES; i++)
        free (payloads [i]);
    zfarm_client_destroy (&client);
}

int
main (void)
{
    char endpoint [512];
    snprintf (endpoint, sizeof endpoint, "%s",
              th_broker_start ("tcp", NULL).endpoint);
    const char *args [] = { "--service", "echo", "--module",
                            th_module ("echo.so"), NULL };
    th_worker_start (endpoint, args);
    th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 2, WAIT_MS));
    test_sizes (endpoint);
    test_many_pending (endpoint);
    test_result_frames ();
    test_resubmitted_payloads ();
    printf ("test_client_payloads: OK\n");
    return 0;
}
