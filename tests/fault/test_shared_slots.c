/* test_shared_slots.c: a task that finds its worker's slot taken by
 * another broker's task goes to a worker of ours that is free.
 *
 * Two fake workers (DEALERs speaking the protocol from this test),
 * capacity 1 each, on one broker. The broker sends a task to one of them
 * for its free slot; that one answers as a worker shared with another
 * broker does when the other broker's task took the slot meanwhile: SLOTS
 * with free 0 and the task's id (common/PROTOCOL.md, Workers on several
 * brokers). The other fake is idle, so the broker must ask the task back
 * (CANCEL) at once and run it there: the client's result comes from the
 * idle fake. Without that, the task would wait at the busy fake while the
 * other sat idle. */
#include "harness.h"
#include "zfarm.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm_codes.h"

#include <czmq.h>

#define WAIT_MS     20000       /* bound on every wait */
#define TASK_MS     (3 * WAIT_MS)   /* the task's timeout: past every wait,
                                   so that its CANCEL is never the one the
                                   test waits for */

typedef struct {
    char name [16];             /* also its routing id and host */
    zsock_t *sock;
    uint64_t held;              /* the TASK it holds, or 0 */
    char payload [64];
    int cancels;
} fake_t;

static zf_decoder_t *s_decoder;

static void
s_send (fake_t *fake, zf_header_t *header, const char *payload)
{
    zmsg_t *msg = NULL;
    if (payload) {
        msg = zmsg_new ();
        zmsg_addstr (msg, payload);
    }
    ASSERT_EQ (zf_wire_send (fake->sock, header, &msg), 0);
}

static void
s_join (fake_t *fake, const char *endpoint, const char *name, uint32_t pid)
{
    *fake = (fake_t) { .held = 0 };
    snprintf (fake->name, sizeof fake->name, "%s", name);
    fake->sock = zsock_new (ZMQ_DEALER);
    ASSERT (fake->sock);
    zsock_set_identity (fake->sock, name);
    ASSERT_EQ (zsock_connect (fake->sock, "%s", endpoint), 0);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = 1;
    strcpy (header.services [0], "s");
    header.capacity = 1;
    header.prefetch = 1;
    header.pid = pid;
    snprintf (header.host, sizeof header.host, "%s", name);
    s_send (fake, &header, NULL);
}

/* Reads what the broker sent the fake, if anything, within ms. */
static void
s_read (fake_t *fake, int ms)
{
    zmq_pollitem_t item = { zsock_resolve (fake->sock), 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, ms) <= 0)
        return;
    zf_header_t header;
    zmsg_t *payload = NULL;
    if (zf_wire_recv (fake->sock, s_decoder, &header, &payload) != 0)
        return;
    size_t size;
    char *data = zf_wire_join (payload, &size);
    zmsg_destroy (&payload);
    if (header.command == ZF_TASK) {
        ASSERT_EQ (fake->held, 0);
        fake->held = header.task_id;
        snprintf (fake->payload, sizeof fake->payload, "%s", data);
    }
    else
    if (header.command == ZF_CANCEL) {
        ASSERT_EQ (header.task_id, fake->held);
        fake->cancels++;
    }
    free (data);
}

/* Both fakes registered: the broker's status lists two workers. */
static void
s_wait_joined (const char *endpoint)
{
    for (int tries = 0; tries < 1000; tries++) {
        char *text = th_status (endpoint);
        int count = text? th_count (text, "\"host\":\"fake-"): 0;
        free (text);
        if (count == 2)
            return;
        zclock_sleep (10);
    }
    TEST_FAIL ("the fakes did not register");
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    /* Heartbeats far apart: the fakes need not beat during the test. */
    const char *args [] = { "--heartbeat", "10000", "--liveness", "10",
                            NULL };
    char *endpoint = strdup (th_broker_start ("ipc", args).endpoint);
    fake_t fakes [2];
    s_join (&fakes [0], endpoint, "fake-a", 1001);
    s_join (&fakes [1], endpoint, "fake-b", 1002);
    s_wait_joined (endpoint);

    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_submit (client, "s", "job", 3, TASK_MS, NULL), 0);
    fake_t *racer = NULL, *idle = NULL;
    int64_t until = zclock_mono () + WAIT_MS;
    while (!racer && zclock_mono () < until)
        for (int i = 0; i < 2 && !racer; i++) {
            s_read (&fakes [i], 5);
            if (fakes [i].held) {
                racer = &fakes [i];
                idle = &fakes [1 - i];
            }
        }
    ASSERT (racer);
    ASSERT_STR_EQ (racer->payload, "job");

    /* Another broker's task took the slot first: ours waits. */
    zf_header_t header;
    zf_header_init (&header, ZF_SLOTS);
    header.free_slots = 0;
    header.task_id = racer->held;
    s_send (racer, &header, NULL);
    until = zclock_mono () + WAIT_MS;
    while (!racer->cancels && zclock_mono () < until)
        s_read (racer, 5);
    ASSERT_EQ (racer->cancels, 1);

    /* Returned unstarted, it runs at the idle fake. */
    zf_header_init (&header, ZF_DONE);
    header.task_id = racer->held;
    header.status = ZFARM_ECANCELLED;
    zf_header_set_text (&header, "cancelled before it started");
    s_send (racer, &header, NULL);
    racer->held = 0;
    until = zclock_mono () + WAIT_MS;
    while (!idle->held && zclock_mono () < until)
        s_read (idle, 5);
    ASSERT (idle->held);
    ASSERT_STR_EQ (idle->payload, "job");
    zf_header_init (&header, ZF_DONE);
    header.task_id = idle->held;
    s_send (idle, &header, idle->name);

    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    ASSERT_STR_EQ (zfarm_result_data (result, NULL), idle->name);
    zfarm_result_destroy (&result);
    s_read (racer, 100);
    ASSERT_EQ (racer->held, 0);     /* nothing more came its way */
    ASSERT_EQ (th_status_counter (endpoint, "stolen"), 1);

    zfarm_client_destroy (&client);
    for (int i = 0; i < 2; i++)
        zsock_destroy (&fakes [i].sock);
    zf_decoder_destroy (&s_decoder);
    free (endpoint);
    TEST_PASS ("test_shared_slots");
    return 0;
}
