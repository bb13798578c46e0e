/* test_restart.c: the broker host's broker is killed (SIGKILL) with tasks
 * running on two worker hosts, and started again on the same address. The
 * workers register again by themselves, and the clients' pending tasks
 * complete: one client on this machine, one (the zfarm tool) on a worker
 * host, across the cluster's links.
 *
 * The tasks wait at a gate, a file the test creates once the new broker
 * has its workers, so they are still running when the broker dies however
 * slow the machine is: the test assumes no timing. */
#include "cluster.h"

/* The first bytes of a PONG's header, ["zf", 1, 12, epoch] in msgpack
 * (common/PROTOCOL.md): the tool has heard the broker's epoch once it has
 * received them. */
#define PONG_HEADER "\xa2zf\x01\x0c"

static char s_gate [512];

/* The command of the "gate" workers (--exec): a task answers "ran PAYLOAD"
 * once the gate file exists, which it waits for at most 60 s. */
static const char *
s_gate_command (void)
{
    static char command [1024];
    snprintf (s_gate, sizeof s_gate, "%s/gate", th_tmpdir ());
    snprintf (command, sizeof command,
              "read -r x; i=0; while [ ! -e '%s' ] && [ $i -lt 6000 ]; do "
              "sleep 0.01; i=$((i + 1)); done; printf 'ran %%s' \"$x\"",
              s_gate);
    return command;
}

static void
s_gate_open (void)
{
    FILE *file = fopen (s_gate, "w");
    ASSERT (file);
    fclose (file);
}

/* Waits at most 20 s for a file to exist. */
static void
s_wait_file (const char *path)
{
    for (int tries = 0; tries < 1000 && access (path, F_OK) != 0; tries++)
        zclock_sleep (20);
    if (access (path, F_OK) != 0)
        TEST_FAIL ("no %s after 20 s", path);
}

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
    const char *gate [] = { "--service", "gate", "--exec", s_gate_command (),
                            "--heartbeat", "100", NULL };
    pid_t workers [2] = { cluster_worker_start (cluster, "w1", gate),
                          cluster_worker_start (cluster, "w2", gate) };
    s_expect_workers (cluster, workers);

    zfarm_client_t *client = zfarm_client_new (cluster->ipc);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "gate", "client", 6, 60000, &id),
               0);
    char heard [600], touch [620];
    snprintf (heard, sizeof heard, "%s/tool.heard", th_tmpdir ());
    snprintf (touch, sizeof touch, "touch:%s", heard);
    const char *call [] = { th_bin ("zfarm"), "call", "--broker", cluster->tcp,
                            "--timeout", "60000", "gate", "tool", NULL };
    pid_t tool = cluster_spawn (cluster, "w2", "tool",
                                th_seam_argv (PONG_HEADER, touch, call));
    /* Both tasks run, one on each host, held at the gate. */
    for (int i = 0; i < 1000 && s_busy_count (cluster) < 2; i++)
        zclock_sleep (10);
    ASSERT_EQ (s_busy_count (cluster), 2);
    /* Both clients have heard this broker's epoch, which tells them of the
     * restart: the tool has received a PONG (the seam says so), and so has
     * this client. */
    s_wait_file (heard);
    th_client_hear_epoch (client);
    zfarm_result_t *result = NULL;

    cluster_broker_restart (cluster);
    s_expect_workers (cluster, workers);
    s_gate_open ();

    ASSERT_EQ (zfarm_client_wait (client, 60000, &result), 0);
    ASSERT_EQ (zfarm_result_task_id (result), id);
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t size;
    ASSERT_STR_EQ (zfarm_result_data (result, &size), "ran client");
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
    /* `zfarm call` writes the result bytes exactly, and nothing else, to
     * stdout (README.md); its log lines belong on stderr. */
    ASSERT_STR_EQ (out, "ran tool");
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
