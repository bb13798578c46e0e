/* test_partition.c: a worker host whose link is cut mid-task. The broker
 * declares its worker dead after the heartbeat window (3 x 100 ms) and the
 * task completes on the other host, once; when the link comes back, the
 * cut-off worker registers again, and its late result never reaches the
 * client. So also with a cut one way only (the worker hears the broker,
 * the broker not the worker).
 *
 * With 100 ms heartbeats on a busy machine, a worker that is not cut may
 * miss a window too, be declared dead and register again: that adds to the
 * broker's loss, retry and join counters (hence "at least"), never to the
 * results, which are counted exactly. */
#include "cluster.h"

/* Each host runs one worker of "sleep", with its own silence window of
 * liveness x 100 ms. A task waits until the file gate exists, then
 * replies "slept PAYLOAD": so the cut always comes mid-task, however
 * slow the machine is to make it (a task that merely slept could end
 * before a loaded machine had cut its link, and test nothing). */
static void
s_start_farm (cluster_t *cluster, const char *liveness, const char *gate,
              pid_t workers [2])
{
    const char *broker [] = { "--heartbeat", "100", NULL };
    cluster_broker_start (cluster, broker);
    char command [1024];
    snprintf (command, sizeof command,
              "for i in $(seq 6000); do [ -e '%s' ] && break; sleep 0.01;"
              " done; printf 'slept %%s' \"$(cat)\"", gate);
    const char *sleep [] = { "--service", "sleep", "--exec", command,
                             "--heartbeat", "100", "--liveness", liveness,
                             NULL };
    workers [0] = cluster_worker_start (cluster, "w1", sleep);
    workers [1] = cluster_worker_start (cluster, "w2", sleep);
    ASSERT (th_wait_workers (cluster->ipc, 2, 20000));
}

/* Submits a task (payload ms) and cuts the link of the host that
 * runs it (one way only, with mute). Returns that worker's pid; its host
 * goes into host. */
static int
s_cut_busy_host (cluster_t *cluster, zfarm_client_t *client, const char *ms,
                 char *host, size_t size, bool mute)
{
    ASSERT_EQ (zfarm_client_submit (client, "sleep", ms, strlen (ms), 30000,
                                    NULL), 0);
    int pid = 0;
    for (int i = 0; i < 1000 && !pid; i++) {
        pid = cluster_busy_worker (cluster, host, size);
        if (!pid)
            zclock_sleep (10);
    }
    ASSERT (pid);
    if (mute)
        cluster_mute (cluster, host, true);
    else
        cluster_link (cluster, host, false);
    return pid;
}

static void
s_expect_one_result (zfarm_client_t *client, const char *data)
{
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t size;
    ASSERT_STR_EQ (zfarm_result_data (result, &size), data);
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_pending (client), 0);
}

static bool
s_registered (cluster_t *cluster, int pid)
{
    int pids [8];
    int count = th_status_pids (cluster->ipc, pids, 8);
    for (int i = 0; i < count; i++)
        if (pids [i] == pid)
            return true;
    return false;
}

/* Waits at most 20 s for the worker pid to be registered. */
static void
s_wait_registered (cluster_t *cluster, int pid)
{
    for (int tries = 0; tries < 1000 && !s_registered (cluster, pid); tries++)
        zclock_sleep (20);
    if (!s_registered (cluster, pid))
        TEST_FAIL ("worker %d did not register again", pid);
}

/* A one-way cut: the worker hears the broker, the broker not the worker.
 * The broker declares it dead after its window and requeues the task;
 * the worker, which uses the broker's heartbeat settings, hears nothing
 * more once it is forgotten, gives up on that connection after the same
 * window, and drops the result of the task it was running (it belongs to
 * a connection the broker no longer knows). When it may speak again it
 * registers anew; the client has its one result, from the other host.
 * (Before the broker told workers its settings, a worker with a longer
 * window of its own held on, and its late result reached the broker, which
 * dropped and counted it: test_broker_protocol still checks that.) */
/* Opens the gate that the farm's tasks wait for. */
static void
s_open_gate (const char *gate)
{
    FILE *file = fopen (gate, "w");
    ASSERT (file);
    fclose (file);
}

static void
test_one_way_cut (cluster_t *cluster)
{
    pid_t workers [2];
    char gate [512];
    snprintf (gate, sizeof gate, "%s/gate-one-way", th_tmpdir ());
    s_start_farm (cluster, "3", gate, workers);
    zfarm_client_t *client = zfarm_client_new (cluster->ipc);
    char host [32];
    int victim = s_cut_busy_host (cluster, client, "1500", host, sizeof host,
                                  true);
    ASSERT (victim == workers [0] || victim == workers [1]);

    /* Declared dead after the broker's window; the task runs again on the
     * other host and its one result arrives. */
    ASSERT (th_wait_workers (cluster->ipc, 1, 10000));
    ASSERT (!s_registered (cluster, victim));
    s_open_gate (gate);
    s_expect_one_result (client, "slept 1500");
    ASSERT_INT (th_status_counter (cluster->ipc, "workers_lost"), >=, 1);
    ASSERT_INT (th_status_counter (cluster->ipc, "retried"), >=, 1);

    cluster_mute (cluster, host, false);
    ASSERT (th_wait_workers (cluster->ipc, 2, 20000));
    s_wait_registered (cluster, victim);
    ASSERT_INT (th_status_counter (cluster->ipc, "workers_joined"), >=, 3);
    ASSERT_EQ (th_status_counter (cluster->ipc, "completed"), 1);

    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 500, &result), ZFARM_ENOT_FOUND);
    zfarm_client_destroy (&client);
    cluster_reset (cluster);
}

/* With the broker's window (3 x 100 ms), the worker gives up on the
 * connection itself during the cut, and keeps trying with back-off; once
 * the link is back it registers again. The result of the task it was
 * running is dropped by the worker, on the stale connection's behalf. */
static void
test_rejoin_after_cut (cluster_t *cluster)
{
    pid_t workers [2];
    char gate [512];
    snprintf (gate, sizeof gate, "%s/gate-rejoin", th_tmpdir ());
    s_start_farm (cluster, "3", gate, workers);
    zfarm_client_t *client = zfarm_client_new (cluster->ipc);
    char host [32];
    int victim = s_cut_busy_host (cluster, client, "1000", host, sizeof host,
                                  false);

    ASSERT (th_wait_workers (cluster->ipc, 1, 10000));
    s_open_gate (gate);
    s_expect_one_result (client, "slept 1000");
    /* Let the cut-off worker's task end while it is cut off. */
    zclock_sleep (500);
    cluster_link (cluster, host, true);
    ASSERT (th_wait_workers (cluster->ipc, 2, 30000));
    s_wait_registered (cluster, victim);
    ASSERT_INT (th_status_counter (cluster->ipc, "workers_lost"), >=, 1);
    ASSERT_EQ (th_status_counter (cluster->ipc, "completed"), 1);

    /* And the farm serves on, with both workers. */
    char *text = NULL;
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ (th_call (cluster->ipc, "sleep", "1", 20000, &text), 0);
        ASSERT_STR_EQ (text, "slept 1");
        free (text);
    }
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 300, &result), ZFARM_ENOT_FOUND);
    zfarm_client_destroy (&client);
    cluster_reset (cluster);
}

int
main (void)
{
    cluster_t *cluster = cluster_up ("test_partition", 2, 110);
    test_one_way_cut (cluster);
    test_rejoin_after_cut (cluster);
    free (cluster);
    TEST_PASS ("test_partition");
    return 0;
}
