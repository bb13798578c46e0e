/* test_client_reliability.c: the client holds its tasks until their
 * results: through a broker killed and restarted, and across brokers. */
#include "harness.h"
#include "zfarm.h"
#include <czmq.h>
#include <signal.h>

static void
test_broker_restart (void)
{
    char bind [512], gate [512], command [1024];
    snprintf (bind, sizeof bind, "ipc://%s/restart.ipc", th_tmpdir ());
    snprintf (gate, sizeof gate, "%s/gate", th_tmpdir ());
    const char *extra [] = { "--bind", bind, NULL };
    pid_t broker;
    /* th_broker_start binds its own endpoint too; ours is the fixed one. */
    broker = th_broker_start ("ipc", extra).pid;
    snprintf (command, sizeof command,
              "for i in $(seq 2000); do [ -e '%s' ] && break; sleep 0.01; done;"
              " cat", gate);
    const char *args [] = { "--service", "slow", "--exec", command, NULL };
    th_worker_start (bind, args);
    th_worker_start (bind, args);
    ASSERT (th_wait_workers (bind, 2, 20000));

    zfarm_client_t *client = zfarm_client_new (bind);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "slow", "survivor", 8, 60000, &id), 0);
    /* Once the client knows the broker's epoch, kill the broker. */
    th_client_hear_epoch (client);
    zfarm_result_t *result = NULL;
    th_kill (broker, SIGKILL);
    th_reap (broker, 5000);
    broker = th_broker_start ("ipc", extra).pid;
    ASSERT (th_wait_workers (bind, 2, 20000));
    FILE *file = fopen (gate, "w");
    fclose (file);

    ASSERT_EQ (zfarm_client_wait (client, 60000, &result), 0);
    ASSERT_EQ (zfarm_result_task_id (result), id);
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t size;
    ASSERT_STR_EQ (zfarm_result_data (result, &size), "survivor");
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_wait (client, 300, &result), ZFARM_ENOT_FOUND);
    zfarm_client_destroy (&client);
}

static void
test_failover (void)
{
    th_broker_t first_broker = th_broker_start ("ipc", NULL);
    th_broker_t second_broker = th_broker_start ("ipc", NULL);
    pid_t first = first_broker.pid;
    const char *a = first_broker.endpoint, *b = second_broker.endpoint;
    char both [1100];
    snprintf (both, sizeof both, "%s,%s", a, b);
    const char *args [] = { "--service", "echo", "--exec", "cat", NULL };
    th_worker_start (b, args);
    ASSERT (th_wait_workers (b, 1, 20000));

    /* The first broker has no worker for echo; it dies holding the task. */
    zfarm_client_t *client = zfarm_client_new (both);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_submit (client, "echo", "moved", 5, 60000, NULL), 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 300, &result), ZFARM_ETIMEOUT);
    th_kill (first, SIGKILL);
    th_reap (first, 5000);
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t size;
    ASSERT_STR_EQ (zfarm_result_data (result, &size), "moved");
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
}

/* A broker that stops (SIGTERM) hands its waiting tasks to the client's
 * failover instead of failing them with SHUTDOWN. */
static void
test_drain_failover (void)
{
    th_broker_t first_broker = th_broker_start ("ipc", NULL);
    th_broker_t second_broker = th_broker_start ("ipc", NULL);
    pid_t first = first_broker.pid;
    const char *a = first_broker.endpoint, *b = second_broker.endpoint;
    char both [1100];
    snprintf (both, sizeof both, "%s,%s", a, b);
    const char *args [] = { "--service", "echo", "--exec", "cat", NULL };
    th_worker_start (b, args);
    ASSERT (th_wait_workers (b, 1, 20000));

    zfarm_client_t *client = zfarm_client_new (both);
    ASSERT_EQ (zfarm_client_submit (client, "echo", "drained", 7, 60000, NULL), 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 300, &result), ZFARM_ETIMEOUT);
    th_kill (first, SIGTERM);
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t size;
    ASSERT_STR_EQ (zfarm_result_data (result, &size), "drained");
    zfarm_result_destroy (&result);
    ASSERT_EQ (th_reap (first, 10000), 0);
    zfarm_client_destroy (&client);
}

int
main (void)
{
    test_broker_restart ();
    test_failover ();
    test_drain_failover ();
    TEST_PASS ("test_client_reliability");
    return 0;
}
