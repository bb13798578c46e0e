/* test_worker_vanishes.c: a worker that sends its DONE and is gone before
 * the broker reads it.
 *
 * The broker reads the DONE, frees the worker's slot, and refills it with
 * the next queued task; the send fails (the peer is gone), which deletes
 * the worker in the middle of the refill. The broker must not touch the
 * worker after that (ASan caught it doing so once), must requeue the task,
 * and must serve on: a real worker that comes later runs every task. */
#include "harness.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm.h"

#include <czmq.h>
#include <signal.h>

#define ROUNDS  10
#define WAIT_MS 10000

/* A hand-made worker of capacity 1 for service "vanish". */
static zsock_t *
s_worker_new (const char *endpoint)
{
    zsock_t *worker = zsock_new (ZMQ_DEALER);
    ASSERT (worker);
    zsock_set_rcvtimeo (worker, WAIT_MS);
    ASSERT_EQ (zsock_connect (worker, "%s", endpoint), 0);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    snprintf (header.services [0], sizeof header.services [0], "vanish");
    header.service_count = 1;
    header.capacity = 1;
    header.pid = 1;
    snprintf (header.host, sizeof header.host, "test");
    zf_header_set_text (&header, ZFARM_VERSION);
    ASSERT_EQ (zf_wire_send (worker, &header, NULL), 0);
    return worker;
}

/* Takes one TASK, and while the broker is stopped sends its DONE and
 * closes the socket, so that the broker finds both at once. */
static void
s_done_and_vanish (zsock_t **worker_p, zf_decoder_t *decoder, pid_t broker)
{
    zsock_t *worker = *worker_p;
    zf_header_t header;
    zmsg_t *payload = NULL;
    do {
        zmsg_destroy (&payload);
        ASSERT_EQ (zf_wire_recv (worker, decoder, &header, &payload), 0);
    } while (header.command != ZF_TASK);
    zmsg_destroy (&payload);
    uint64_t task_id = header.task_id;

    ASSERT_EQ (kill (broker, SIGSTOP), 0);
    zf_header_init (&header, ZF_DONE);
    header.task_id = task_id;
    ASSERT_EQ (zf_wire_send_data (worker, &header, "y", 1), 0);
    zsock_set_linger (worker, 1000);    /* the DONE leaves, then the socket */
    zsock_destroy (worker_p);
    zclock_sleep (50);
    ASSERT_EQ (kill (broker, SIGCONT), 0);
}

int
main (void)
{
    th_broker_t started = th_broker_start ("ipc", NULL);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    zf_decoder_t *decoder = zf_decoder_new ();
    int submitted = 0;
    for (int round = 0; round < ROUNDS; round++) {
        zsock_t *worker = s_worker_new (endpoint);
        ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));
        /* Two tasks: one to finish, one queued to refill the slot with. */
        for (int i = 0; i < 2; i++, submitted++)
            ASSERT_EQ (zfarm_client_submit (client, "vanish", "x", 1,
                                            60000, NULL), 0);
        s_done_and_vanish (&worker, decoder, broker);
        ASSERT (th_wait_workers (endpoint, 0, WAIT_MS));
    }
    /* Every task still gets its one result: from the vanished workers, or
     * from a real one (echo) for the tasks they left queued. */
    const char *args [] = { "--service", "vanish", "--module",
                            th_module ("echo.so"), "--function",
                            "zfarm_handler", NULL };
    th_worker_start (endpoint, args);
    for (int i = 0; i < submitted; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        zfarm_result_destroy (&result);
    }
    ASSERT (th_pid_exists (broker));
    zf_decoder_destroy (&decoder);
    zfarm_client_destroy (&client);
    TEST_PASS ("test_worker_vanishes");
    return 0;
}
