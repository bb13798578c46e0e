/* test_hosts.c: workers on other hosts serve tasks over TCP. A broker host
 * and two worker hosts (network namespaces, deploy/netns-cluster.sh); the
 * "where" service answers with the name of the host that ran it. */
#include "cluster.h"

static void
s_start_farm (cluster_t *cluster)
{
    const char *broker [] = { "--heartbeat", "100", NULL };
    cluster_broker_start (cluster, broker);
    /* Slow enough that two tasks submitted together overlap. */
    const char *where [] = { "--service", "where", "--heartbeat", "100",
                             "--exec", "cat >/dev/null; sleep 0.3; hostname",
                             NULL };
    cluster_worker_start (cluster, "w1", where);
    cluster_worker_start (cluster, "w2", where);
    ASSERT (th_wait_workers (cluster->ipc, 2, 20000));
}

/* The broker knows its workers as remote ones, each on its own host. */
static void
test_status_names_hosts (cluster_t *cluster)
{
    char *json = th_status (cluster->ipc);
    ASSERT (json);
    ASSERT_EQ (th_count (json, "\"host\":\"w1\""), 1);
    ASSERT_EQ (th_count (json, "\"host\":\"w2\""), 1);
    ASSERT_EQ (th_count (json, "\"local\":false"), 2);
    ASSERT (strstr (json, cluster->tcp));
    free (json);
}

/* Two tasks at once go to the two idle workers, one on each host. */
static void
test_both_hosts_serve (cluster_t *cluster)
{
    zfarm_client_t *client = zfarm_client_new (cluster->ipc);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_submit (client, "where", "a", 1, 20000, NULL), 0);
    ASSERT_EQ (zfarm_client_submit (client, "where", "b", 1, 20000, NULL), 0);
    int seen [3] = { 0, 0, 0 };
    for (int i = 0; i < 2; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 20000, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        size_t size;
        const char *host = zfarm_result_data (result, &size);
        if (strcmp (host, "w1\n") == 0)
            seen [1]++;
        else
        if (strcmp (host, "w2\n") == 0)
            seen [2]++;
        else
            TEST_FAIL ("a task ran on host '%s'", host);
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (seen [1], 1);
    ASSERT_EQ (seen [2], 1);
    zfarm_client_destroy (&client);
}

/* The zfarm tool on the broker host and on a worker host reaches the
 * broker over the cluster's links. */
static void
test_tcp_clients (cluster_t *cluster)
{
    const char *hosts [] = { "broker", "w2" };
    for (int i = 0; i < 2; i++) {
        const char *call [] = { "exec", hosts [i], th_bin ("zfarm"), "call",
                                "--broker", cluster->tcp, "--timeout", "20000",
                                "where", "x", NULL };
        char *out = NULL;
        ASSERT_EQ (cluster_script (cluster, call, &out), 0);
        ASSERT (strcmp (out, "w1\n") == 0 || strcmp (out, "w2\n") == 0);
        free (out);
    }
}

int
main (void)
{
    cluster_t *cluster = cluster_up ("test_hosts", 2, 110);
    s_start_farm (cluster);
    test_status_names_hosts (cluster);
    test_both_hosts_serve (cluster);
    test_tcp_clients (cluster);
    ASSERT_EQ (th_status_counter (cluster->ipc, "completed"), 4);
    ASSERT_EQ (th_status_counter (cluster->ipc, "failed"), 0);
    free (cluster);
    TEST_PASS ("test_hosts");
    return 0;
}
