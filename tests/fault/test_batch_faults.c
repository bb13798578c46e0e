/* test_batch_faults.c: batches of tiny tasks end to end, with real
 * brokers, workers and clients, and a worker killed while it holds a
 * batch: each task it held is retried alone and gets one result. */
#include "harness.h"
#include "testlib.h"
#include "zfarm.h"

#include <czmq.h>
#include <signal.h>

#define TASKS       300
#define POISON_A    100 /* the items that kill their worker */
#define POISON_B    200
#define RESULT_WAIT 60000

static const char *
s_module (void)
{
    static char path [1024];
    snprintf (path, sizeof path, "%s/echo.so", getenv ("ZFARM_MODULE_DIR"));
    return path;
}

/* The sum of the broker's counter name, or fails the test. */
static long
s_counter (const char *endpoint, const char *name)
{
    long value = th_status_counter (endpoint, name);
    if (value < 0)
        TEST_FAIL ("no counter %s in the status", name);
    return value;
}

/* A pool of two processes on zfarm_poison, under a supervisor that
 * replaces each that dies. Capacity 1 each, so each holds its running
 * task and those sent ahead. Two items kill the process that runs them,
 * on every attempt; every other task is held by one of those processes
 * at some point, as the broker sends ahead in batches. Each task must
 * end once: the poisons WORKER_LOST once their one retry is spent, every
 * other with its own payload, however many deaths it saw. */
static void
test_worker_killed_holding_a_batch (void)
{
    th_broker_t broker = th_broker_start ("ipc", NULL);
    pid_t supervisor = th_worker_start (broker.endpoint,
                                        (const char *[]){
                                            "--service", "poison", "--module",
                                            s_module (), "--function",
                                            "zfarm_poison", "--processes", "2",
                                            NULL });
    ASSERT (th_wait_workers (broker.endpoint, 2, 20000));

    zfarm_client_t *client = zfarm_client_new (broker.endpoint);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_set_batch (client, 64), 0);
    /* The first PONG says whether the broker takes batches: a call makes
     * the client ping and hear it. */
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_call (client, "poison", "warm", 4, RESULT_WAIT,
                                  &result),
               0);
    zfarm_result_destroy (&result);

    uint64_t ids [TASKS];
    char payload [32];
    for (int i = 0; i < TASKS; i++) {
        bool poison = i == POISON_A || i == POISON_B;
        zfarm_client_set_retries (client, poison ? 1 : 20);
        int size = poison ? snprintf (payload, sizeof payload, "die")
                          : snprintf (payload, sizeof payload, "item-%d", i);
        ASSERT_EQ (zfarm_client_submit (client, "poison", payload,
                                        (size_t) size, 0, &ids [i]),
                   0);
    }
    bool seen [TASKS] = { false };
    for (int done = 0; done < TASKS; done++) {
        int rc = zfarm_client_wait (client, RESULT_WAIT, &result);
        if (rc != 0)
            TEST_FAIL ("result %d of %d: wait returned %d", done + 1, TASKS,
                       rc);
        int i = 0;
        while (i < TASKS && ids [i] != zfarm_result_task_id (result))
            i++;
        ASSERT (i < TASKS);
        ASSERT (!seen [i]);
        seen [i] = true;
        if (i == POISON_A || i == POISON_B) {
            ASSERT_EQ (zfarm_result_status (result), ZFARM_EWORKER_LOST);
            ASSERT (strstr (zfarm_result_error (result), "2 attempts"));
        }
        else {
            if (zfarm_result_status (result) != 0)
                TEST_FAIL ("item %d: %s", i, zfarm_result_error (result));
            snprintf (payload, sizeof payload, "item-%d", i);
            size_t size;
            const char *data = zfarm_result_data (result, &size);
            ASSERT_EQ (size, strlen (payload));
            ASSERT_MEM_EQ (data, payload, size);
        }
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (zfarm_client_wait (client, 0, &result), ZFARM_ENOT_FOUND);

    /* The tasks went in batches both ways, the poisons killed workers,
     * and tasks other than the poisons were taken from the dead: each
     * poison is retried once, so more retries than two are bystanders'.
     * Two deaths at least, not four: a worker may die holding both
     * poisons (one running, one sent ahead in the same batch), and that
     * death spends an attempt of each, as the one waiting might have
     * started. */
    ASSERT_INT (s_counter (broker.endpoint, "batches_in"), >, 0);
    ASSERT_INT (s_counter (broker.endpoint, "batch_items_in"), >,
                s_counter (broker.endpoint, "batches_in"));
    ASSERT_INT (s_counter (broker.endpoint, "batch_items_out"), >,
                s_counter (broker.endpoint, "batches_out"));
    ASSERT_INT (s_counter (broker.endpoint, "workers_lost"), >=, 2);
    ASSERT_INT (s_counter (broker.endpoint, "retried"), >, 2);
    zfarm_client_destroy (&client);
    th_kill (supervisor, SIGTERM);
    ASSERT (th_reap (supervisor, 20000) != -1);
    th_kill (broker.pid, SIGTERM);
    ASSERT (th_reap (broker.pid, 20000) != -1);
    TEST_PASS ("worker killed holding a batch");
}

/* zfarm map with batches over a real broker and two module workers: every
 * line's result in order, and the broker saw batches both ways. */
static void
test_map_in_batches (void)
{
    enum { LINES = 20000 };
    th_broker_t broker = th_broker_start ("ipc", NULL);
    pid_t workers [2];
    for (int i = 0; i < 2; i++)
        workers [i] = th_worker_start (broker.endpoint,
                                       (const char *[]){ "--service", "echo",
                                                         "--module",
                                                         s_module (), NULL });
    ASSERT (th_wait_workers (broker.endpoint, 2, 20000));
    size_t in_size = (size_t) LINES * 11;
    char *in = malloc (in_size + 1);
    for (int i = 0; i < LINES; i++)
        snprintf (in + (size_t) i * 11, 12, "line%06d\n", i);
    char zfarm [1024];
    snprintf (zfarm, sizeof zfarm, "%s/zfarm", getenv ("ZFARM_BIN_DIR"));
    char *out = NULL, *err = NULL;
    size_t out_size = 0;
    int status = th_run ((const char *[]){ zfarm, "map", "-q", "--batch", "64",
                                           "--window", "1000", "-b",
                                           broker.endpoint, "echo", NULL },
                         in, in_size, &out, &out_size, &err, 120000);
    if (status != 0)
        TEST_FAIL ("zfarm map: status %d: %s", status, err);
    ASSERT_EQ (out_size, in_size);
    ASSERT_MEM_EQ (out, in, in_size);
    ASSERT_INT (s_counter (broker.endpoint, "batch_items_in"), >,
                s_counter (broker.endpoint, "batches_in"));
    ASSERT_INT (s_counter (broker.endpoint, "batch_items_out"), >,
                s_counter (broker.endpoint, "batches_out"));
    free (in);
    free (out);
    free (err);
    for (int i = 0; i < 2; i++) {
        th_kill (workers [i], SIGTERM);
        ASSERT (th_reap (workers [i], 20000) != -1);
    }
    th_kill (broker.pid, SIGTERM);
    ASSERT (th_reap (broker.pid, 20000) != -1);
    TEST_PASS ("map in batches");
}

int
main (void)
{
    test_map_in_batches ();
    test_worker_killed_holding_a_batch ();
    return 0;
}
