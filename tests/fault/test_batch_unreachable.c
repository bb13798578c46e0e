/* test_batch_unreachable.c: TASKs held for a worker that reads batches,
 * when the worker proves gone.
 *
 * 1. The flush at the end of the broker's turn finds the worker's
 *    connection gone (EHOSTUNREACH): the worker is deleted there and then,
 *    as a TASK whose send fails deletes it, and its tasks go, unspent, to
 *    the next worker; the heartbeat pass, a minute away, has no part in
 *    it.
 * 2. With ZFARM_TEST_HOOKS (broker/faults.h), a TASK send made to fail
 *    while others wait in the worker's outbox: those are dropped with the
 *    worker, never sent, and run elsewhere. */
#include "harness.h"
#include "zf_batch.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include <czmq.h>
#include <sys/wait.h>

#define COUNT 5

static zf_decoder_t *s_decoder;

static zsock_t *
s_dealer (const char *endpoint)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    ASSERT (sock);
    zsock_set_rcvtimeo (sock, 10000);
    return sock;
}

static zsock_t *
s_worker (const char *endpoint, const char *host)
{
    zsock_t *worker = s_dealer (endpoint);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = 1;
    strcpy (header.services [0], "s");
    header.capacity = COUNT;
    header.pid = 1;
    header.flags = ZF_FLAG_BATCH;
    strcpy (header.host, host);
    zmsg_t *none = NULL;
    ASSERT_EQ (zf_wire_send (worker, &header, &none), 0);
    return worker;
}

/* A client's BATCH of COUNT SUBMITs, payloads "0".."4". */
static zsock_t *
s_submit (const char *endpoint)
{
    zsock_t *client = s_dealer (endpoint);
    zf_batch_t items;
    zf_batch_init (&items);
    for (int i = 0; i < COUNT; i++) {
        zf_header_t header;
        zf_header_init (&header, ZF_SUBMIT);
        header.task_id = (uint64_t) i + 1;
        zf_header_set_service (&header, "s");
        header.timeout_ms = 60000;
        char payload [2] = { (char) ('0' + i), 0 };
        ASSERT_EQ (zf_batch_add (&items, &header, payload, 1), 0);
    }
    ASSERT_EQ (zf_batch_send (&items, zsock_resolve (client)), 0);
    return client;
}

/* Waits at most 10 s until the broker lists count workers. */
static void
s_wait_workers (const char *endpoint, int count)
{
    for (int tries = 0; tries < 500; tries++) {
        if (th_status_worker_count (endpoint) == count)
            return;
        zclock_sleep (20);
    }
    TEST_FAIL ("the broker does not list %d workers", count);
}

/* Reads one message at worker, into seen (items of a BATCH too): TASKs,
 * each a first attempt, each of the batch's payloads once. Returns how
 * many TASKs it held. */
static int
s_take_tasks (zsock_t *worker, bool *seen, uint64_t *ids)
{
    zf_header_t header;
    zmsg_t *payload = NULL;
    ASSERT_EQ (zf_wire_recv (worker, s_decoder, &header, &payload), 0);
    int tasks = 0;
    if (header.command == ZF_TASK) {
        size_t size;
        char *data = zf_wire_join (payload, &size);
        int index = data [0] - '0';
        ASSERT (index >= 0 && index < COUNT && !seen [index]);
        ASSERT_EQ (header.attempt, 1);
        seen [index] = true;
        ids [index] = header.task_id;
        free (data);
        tasks = 1;
    }
    else if (header.command == ZF_BATCH) {
        zframe_t *frame = zmsg_first (payload);
        zf_batch_reader_t reader;
        zf_batch_reader_init (&reader, zframe_data (frame), zframe_size (frame),
                              header.count);
        zf_batch_item_t item;
        while (zf_batch_next (&reader, &item) == 1) {
            zf_header_t task;
            ASSERT_EQ (zf_header_decode (s_decoder, &task, item.header,
                                         item.header_size),
                       0);
            ASSERT_EQ (task.command, ZF_TASK);
            ASSERT_EQ (task.attempt, 1);
            int index = item.payload [0] - '0';
            ASSERT (index >= 0 && index < COUNT && !seen [index]);
            seen [index] = true;
            ids [index] = task.task_id;
            tasks++;
        }
    }
    else
        ASSERT_EQ (header.command, ZF_HEARTBEAT);
    zmsg_destroy (&payload);
    return tasks;
}

/* Worker runs every task of the batch, and the client gets each RESULT:
 * the tasks held for the worker that was lost all ran, once. */
static void
s_serve (zsock_t *worker, zsock_t *client)
{
    bool seen [COUNT] = { false };
    uint64_t ids [COUNT];
    int tasks = 0;
    for (int i = 0; i < 20 && tasks < COUNT; i++)
        tasks += s_take_tasks (worker, seen, ids);
    ASSERT_EQ (tasks, COUNT);
    for (int i = 0; i < COUNT; i++) {
        zf_header_t header;
        zf_header_init (&header, ZF_DONE);
        header.task_id = ids [i];
        ASSERT_EQ (zf_wire_send_data (worker, &header, "ok", 2), 0);
    }
    int results = 0;
    for (int i = 0; i < 20 && results < COUNT; i++) {
        zf_header_t header;
        zmsg_t *payload = NULL;
        ASSERT_EQ (zf_wire_recv (client, s_decoder, &header, &payload), 0);
        zmsg_destroy (&payload);
        if (header.command == ZF_BATCH)
            results += (int) header.count; /* it sent one: it may get one */
        else {
            ASSERT_EQ (header.command, ZF_RESULT);
            ASSERT_EQ (header.status, 0);
            results++;
        }
    }
    ASSERT_EQ (results, COUNT);
}

static void
s_stop (pid_t broker)
{
    th_kill (broker, SIGTERM);
    int status = th_reap (broker, 10000);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
}

static void
test_flush_finds_worker_gone (void)
{
    /* A heartbeat a minute away: only the failed flush can find the
     * worker gone within the test's 10 s. */
    const char *extra [] = { "--heartbeat", "60000", NULL };
    th_broker_t broker = th_broker_start ("ipc", extra);
    zsock_t *lost = s_worker (broker.endpoint, "lost");
    s_wait_workers (broker.endpoint, 1);
    zsock_set_linger (lost, 0);
    zsock_destroy (&lost);
    /* Time for the broker's I/O thread to see the connection close: a
     * send to it then fails at once (mandatory routing). */
    zclock_sleep (300);
    long lost_before = th_status_counter (broker.endpoint, "workers_lost");
    long retried_before = th_status_counter (broker.endpoint, "retried");
    zsock_t *client = s_submit (broker.endpoint);
    s_wait_workers (broker.endpoint, 0);
    /* Unreachable, as a failed TASK send: the worker is lost, and the
     * TASKs held for it, which never left, spend no retry. */
    ASSERT_EQ (th_status_counter (broker.endpoint, "workers_lost"),
               lost_before + 1);
    ASSERT_EQ (th_status_counter (broker.endpoint, "retried"), retried_before);
    zsock_t *next = s_worker (broker.endpoint, "next");
    s_serve (next, client);
    zsock_destroy (&next);
    zsock_destroy (&client);
    s_stop (broker.pid);
    printf ("a flush that finds the worker gone deletes it: pass\n");
}

/* The third TASK to host "bad" fails: the two before it, held in its
 * outbox, never leave; all five run at the next worker. */
static void
test_injected_failure (void)
{
    const char *extra [] = { "--heartbeat", "60000", NULL };
    setenv ("ZFARM_TEST_UNREACHABLE", "TASK@bad#3", 1);
    th_broker_t broker = th_broker_start ("ipc", extra);
    unsetenv ("ZFARM_TEST_UNREACHABLE");
    zsock_t *bad = s_worker (broker.endpoint, "bad");
    s_wait_workers (broker.endpoint, 1);
    zsock_t *client = s_submit (broker.endpoint);
    s_wait_workers (broker.endpoint, 0);
    zsock_t *next = s_worker (broker.endpoint, "next");
    s_serve (next, client);
    /* The deleted worker got its first HEARTBEAT, then nothing. */
    zsock_set_rcvtimeo (bad, 200);
    for (int i = 0; i < 10; i++) {
        zf_header_t header;
        zmsg_t *payload = NULL;
        if (zf_wire_recv (bad, s_decoder, &header, &payload) != 0)
            break;
        zmsg_destroy (&payload);
        ASSERT_EQ (header.command, ZF_HEARTBEAT);
    }
    zsock_destroy (&bad);
    zsock_destroy (&next);
    zsock_destroy (&client);
    s_stop (broker.pid);
    printf ("an injected TASK failure drops what its worker held: pass\n");
}

/* Whether the broker was built with the test hooks (faults.c). */
static bool
s_broker_has_hooks (void)
{
    size_t size;
    char *binary = th_read_file (th_bin ("zfarm-broker"), &size);
    ASSERT (binary);
    const char *name = "ZFARM_TEST_UNREACHABLE";
    bool found = memmem (binary, size, name, strlen (name)) != NULL;
    free (binary);
    return found;
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    test_flush_finds_worker_gone ();
    if (s_broker_has_hooks ())
        test_injected_failure ();
    else
        printf ("injected failures: skipped: the broker was built without"
                " ZFARM_TEST_HOOKS (tests/run.sh builds with it)\n");
    zf_decoder_destroy (&s_decoder);
    TEST_PASS ("test_batch_unreachable");
    return 0;
}
