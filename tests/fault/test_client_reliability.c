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

/* count echo tasks through client, window at a time; each must come back
 * as sent. */
static void
s_echo_tasks (zfarm_client_t *client, int count, int window)
{
    int submitted = 0, received = 0;
    int64_t deadline = zclock_mono () + 60000;
    while (received < count && zclock_mono () < deadline) {
        while (submitted < count && submitted - received < window) {
            ASSERT_EQ (zfarm_client_submit (client, "echo", "same", 4, 30000,
                                            NULL),
                       0);
            submitted++;
        }
        zfarm_result_t *result = NULL;
        if (zfarm_client_wait (client, 1000, &result) != 0)
            continue;
        ASSERT_EQ (zfarm_result_status (result), 0);
        ASSERT_STR_EQ (zfarm_result_data (result, NULL), "same");
        zfarm_result_destroy (&result);
        received++;
    }
    ASSERT_EQ (received, count);
}

/* Workers of "echo" (cat) and of "gated" (cat once the file gate exists),
 * each serving list. */
static void
s_start_gated_workers (const char *list, const char *gate)
{
    char command [1024];
    snprintf (command, sizeof command,
              "for i in $(seq 3000); do [ -e '%s' ] && break; sleep 0.01; "
              "done; cat", gate);
    const char *echo [] = { "--service", "echo", "--exec", "cat", NULL };
    const char *gated [] = { "--service", "gated", "--exec", command, NULL };
    th_worker_start (list, echo);
    th_worker_start (list, gated);
}

static void
s_open_gate (const char *gate)
{
    FILE *file = fopen (gate, "w");
    ASSERT (file);
    fclose (file);
}

/* Two brokers of one pool (the gated workers serve both) and a client
 * given both that has heard both PONGs; submitted: each broker's counter
 * of that name, as of the last look (s_took). */
typedef struct {
    th_broker_t brokers [2];
    char gate [512];
    zfarm_client_t *client;
    long submitted [2];
} pool_farm_t;

static void
s_pool_farm_start (pool_farm_t *self, const char *const extra [],
                   const char *gate_name)
{
    for (int b = 0; b < 2; b++)
        self->brokers [b] = th_broker_start ("ipc", extra);
    char both [1100];
    snprintf (both, sizeof both, "%s,%s", self->brokers [0].endpoint,
              self->brokers [1].endpoint);
    snprintf (self->gate, sizeof self->gate, "%s/%s", th_tmpdir (),
              gate_name);
    s_start_gated_workers (both, self->gate);
    for (int b = 0; b < 2; b++)
        ASSERT (th_wait_workers (self->brokers [b].endpoint, 2, 20000));
    self->client = zfarm_client_new (both);
    ASSERT (self->client);
    s_echo_tasks (self->client, 40, 2);     /* both PONGs heard: one pool */
    for (int b = 0; b < 2; b++)
        self->submitted [b] = th_status_counter (self->brokers [b].endpoint,
                                                 "submitted");
}

/* took [b]: the tasks broker b took since the last look. */
static void
s_took (pool_farm_t *self, long took [2])
{
    for (int b = 0; b < 2; b++) {
        long now = th_status_counter (self->brokers [b].endpoint,
                                      "submitted");
        took [b] = now - self->submitted [b];
        self->submitted [b] = now;
    }
}

/* A broker that drops a client's connection (a message over its
 * --max-msg-size) but lives takes the connection libzmq opens again: it
 * is not taken for dead. The client, given two brokers of one pool, keeps
 * there the task it held (held at its worker behind a gate until after
 * the drop), which ends there, and its next tasks: the other broker takes
 * none. */
static void
test_dropped_connection (void)
{
    const char *extra [] = { "--max-msg-size", "65536", NULL };
    pool_farm_t farm;
    s_pool_farm_start (&farm, extra, "dropped-gate");
    long took [2];
    s_echo_tasks (farm.client, 20, 2);
    s_took (&farm, took);
    ASSERT (took [0] == 20 || took [1] == 20);
    int kept = took [1] == 20;

    uint64_t held;
    ASSERT_EQ (zfarm_client_submit (farm.client, "gated", "held", 4, 30000,
                                    &held),
               0);
    size_t size = 256 * 1024;
    char *big = calloc (1, size);
    memset (big, 'x', size);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_call (farm.client, "echo", big, size, 1000,
                                  &result),
               ZFARM_ETIMEOUT);
    zfarm_result_destroy (&result);
    free (big);
    s_open_gate (farm.gate);
    ASSERT_EQ (zfarm_client_wait (farm.client, 20000, &result), 0);
    ASSERT (zfarm_result_task_id (result) == held);
    ASSERT_STR_EQ (zfarm_result_data (result, NULL), "held");
    zfarm_result_destroy (&result);
    s_echo_tasks (farm.client, 20, 2);
    s_took (&farm, took);
    printf ("after broker %d dropped the connection: broker 0 took %ld "
            "tasks, broker 1 %ld\n", kept, took [0], took [1]);
    ASSERT_EQ (took [kept], 21);        /* the held one, then 20 */
    ASSERT_EQ (took [!kept], 0);
    zfarm_client_destroy (&farm.client);
}

/* The broker a client of one pool keeps to is SIGKILLed while it holds a
 * task: the client hears the connection close and the next connect fail,
 * and moves the task to the other broker long before that broker's
 * liveness (here a minute: a heartbeat of 20 s) would have told it, so
 * the task's result comes in its 30 s. */
static void
test_killed_broker_found_soon (void)
{
    const char *extra [] = { "--heartbeat", "20000", NULL };
    pool_farm_t farm;
    s_pool_farm_start (&farm, extra, "killed-gate");
    long took [2];
    ASSERT_EQ (zfarm_client_submit (farm.client, "gated", "held", 4, 30000,
                                    NULL),
               0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (farm.client, 300, &result), ZFARM_ETIMEOUT);
    s_took (&farm, took);
    int kept = took [1] > 0;
    long completed = th_status_counter (farm.brokers [!kept].endpoint,
                                        "completed");
    th_kill (farm.brokers [kept].pid, SIGKILL);
    ASSERT (th_reap (farm.brokers [kept].pid, 5000) != -1);
    s_open_gate (farm.gate);
    ASSERT_EQ (zfarm_client_wait (farm.client, 20000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    ASSERT_STR_EQ (zfarm_result_data (result, NULL), "held");
    zfarm_result_destroy (&result);
    ASSERT_INT (th_status_counter (farm.brokers [!kept].endpoint, "completed"),
                >, completed);
    zfarm_client_destroy (&farm.client);
}

int
main (void)
{
    test_broker_restart ();
    test_failover ();
    test_drain_failover ();
    test_dropped_connection ();
    test_killed_broker_found_soon ();
    TEST_PASS ("test_client_reliability");
    return 0;
}
