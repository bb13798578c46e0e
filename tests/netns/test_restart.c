/* test_restart.c: the broker host's broker is killed (SIGKILL) with tasks
 * running on two worker hosts, and started again on the same address. The
 * workers register again by themselves, and the clients' pending tasks
 * complete: one client on this machine, one (the zfarm tool) on a worker
 * host, across the cluster's links. */
#include "cluster.h"

static int
s_busy_count (const cluster_t *cluster)
{
    char *json = th_status (cluster->ipc);
    int busy = th_count (json, "\"state\":\"busy\"");
    free (json);
    return busy;
}

/* Waits at most 20 s until the broker's workers are these two. */
static void
s_expect_workers (const cluster_t *cluster, const pid_t workers [2])
{
    for (int tries = 0; tries < 1000; tries++) {
        int pids [4];
        if (th_status_pids (cluster->ipc, pids, 4) == 2
        && ((pids [0] == workers [0] && pids [1] == workers [1])
         || (pids [0] == workers [1] && pids [1] == workers [0])))
            return;
        zclock_sleep (20);
    }
    TEST_FAIL ("workers %d and %d are not the broker's two workers",
               (int) workers [0], (int) workers [1]);
}

static void
test_broker_restart (cluster_t *cluster)
{
    const char *broker [] = { "--heartbeat", "100", NULL };
    cluster_broker_start (cluster, broker);
    const char *sleep [] = { "--service", "sleep", "--module",
                             th_module ("primes.so"), "--function",
                             "zfarm_sleep", "--heartbeat", "100", NULL };
    pid_t workers [2] = { cluster_worker_start (cluster, "w1", sleep),
                          cluster_worker_start (cluster, "w2", sleep) };
    s_expect_workers (cluster, workers);

    zfarm_client_t *client = zfarm_client_new (cluster->ipc);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "sleep", "1200", 4, 60000, &id), 0);
    const char *call [] = { th_bin ("zfarm"), "call", "--broker", cluster->tcp,
                            "--timeout", "60000", "sleep", "1300", NULL };
    pid_t tool = cluster_spawn (cluster, "w2", "tool", call);
    /* Both tasks run, one on each host; the client has heard the broker
     * (its first PING's answer brings the epoch that tells a restart). */
    for (int i = 0; i < 1000 && s_busy_count (cluster) < 2; i++)
        zclock_sleep (10);
    ASSERT_EQ (s_busy_count (cluster), 2);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 600, &result), ZFARM_ETIMEOUT);

    cluster_broker_restart (cluster);
    s_expect_workers (cluster, workers);

    ASSERT_EQ (zfarm_client_wait (client, 60000, &result), 0);
    ASSERT_EQ (zfarm_result_task_id (result), id);
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t size;
    ASSERT_STR_EQ (zfarm_result_data (result, &size), "slept 1200");
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_wait (client, 300, &result), ZFARM_ENOT_FOUND);
    zfarm_client_destroy (&client);

    int status = th_reap (tool, 60000);
    ASSERT (status != -1 && WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
    char path [600];
    snprintf (path, sizeof path, "%s/tool.out", th_tmpdir ());
    char *out = th_read_file (path, NULL);
    ASSERT (out);
    const char *last = strrchr (out, '\n');
    ASSERT_STR_EQ (last? last + 1: out, "slept 1300");
    /* `zfarm call` writes the result bytes exactly, and nothing else, to
     * stdout (README.md); its log lines belong on stderr. */
    if (strcmp (out, "slept 1300") != 0)
        TEST_FAIL ("zfarm call wrote more than its result to stdout: \"%s\"",
                   out);
    free (out);

    /* The new broker ran both tasks; the workers joined it themselves (at
     * least once each: with 100 ms heartbeats on a busy machine, one may
     * miss a window and join again). */
    ASSERT_EQ (th_status_counter (cluster->ipc, "completed"), 2);
    ASSERT_INT (th_status_counter (cluster->ipc, "workers_joined"), >=, 2);
    ASSERT_EQ (th_status_counter (cluster->ipc, "failed"), 0);
}

int
main (void)
{
    cluster_t *cluster = cluster_up ("test_restart", 2, 110);
    test_broker_restart (cluster);
    free (cluster);
    TEST_PASS ("test_restart");
    return 0;
}
