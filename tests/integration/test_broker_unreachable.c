/* test_broker_unreachable.c: two workers whose connections are both gone
 * by the broker's next heartbeat, one of them with a task.
 *
 * The heartbeat's send to the worker with the task fails: the broker
 * deletes it and puts the task back, and the task goes at once to the
 * other worker, whose send fails too, so that one is deleted as well, in
 * the middle of the heartbeat pass that had already stepped to it. The
 * broker must come out of that with no worker and serve on (DESIGN.md:
 * nothing is freed while a caller up the stack may hold a pointer to it).
 * At 71929ad it uses the second worker after freeing it (ASan:
 * heap-use-after-free in s_heartbeat, broker.c; without ASan "double
 * free or corruption" and SIGABRT), as test_restart hit under load. */
#include "harness.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include <czmq.h>
#include <signal.h>

static zsock_t *
s_worker (const char *endpoint, uint32_t pid)
{
    zsock_t *worker = zsock_new_dealer (endpoint);
    ASSERT (worker);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = 1;
    strcpy (header.services [0], "s");
    header.capacity = 1;
    header.pid = pid;
    strcpy (header.host, "test");
    zf_header_set_text (&header, ZFARM_VERSION);
    zmsg_t *none = NULL;
    ASSERT_EQ (zf_wire_send (worker, &header, &none), 0);
    return worker;
}

/* Waits at most 10 s until the broker reports one busy worker. */
static void
s_wait_busy (const char *endpoint)
{
    for (int tries = 0; tries < 500; tries++) {
        char *json = th_status (endpoint);
        int busy = th_count (json, "\"state\":\"busy\"");
        free (json);
        if (busy == 1)
            return;
        zclock_sleep (20);
    }
    TEST_FAIL ("no worker took the task");
}

int
main (void)
{
    /* A long silence window: the workers are found gone by the failed
     * heartbeat sends, not by their silence. */
    const char *extra [] = { "--heartbeat", "200", "--liveness", "50", NULL };
    pid_t broker;
    th_broker_t started = th_broker_start ("ipc", extra);
    broker = started.pid;
    const char *endpoint = strdup (started.endpoint);
    zsock_t *workers [2] = { s_worker (endpoint, 1), s_worker (endpoint, 2) };
    ASSERT (th_wait_workers (endpoint, 2, 10000));

    zsock_t *client = zsock_new_dealer (endpoint);
    ASSERT (client);
    zf_header_t header;
    zf_header_init (&header, ZF_SUBMIT);
    header.task_id = 1;
    zf_header_set_service (&header, "s");
    header.timeout_ms = 60000;
    header.retries = -1;
    zmsg_t *payload = zmsg_new ();
    zmsg_addstr (payload, "x");
    ASSERT_EQ (zf_wire_send (client, &header, &payload), 0);
    s_wait_busy (endpoint);

    for (int i = 0; i < 2; i++) {
        zsock_set_linger (workers [i], 0);
        zsock_destroy (&workers [i]);
    }
    /* The next heartbeat finds both gone; the broker lives on. */
    ASSERT (th_wait_workers (endpoint, 0, 10000));
    ASSERT (th_alive (broker));
    char *json = th_status (endpoint);
    ASSERT (json);
    free (json);
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 10000), 0);

    zsock_destroy (&client);
    free ((char *) endpoint);
    TEST_PASS ("test_broker_unreachable");
    return 0;
}
