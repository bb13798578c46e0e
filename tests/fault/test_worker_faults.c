/* test_worker_faults.c: workers that die or freeze mid-task, with no pool:
 * the broker finds out by itself (a closed connection, or the heartbeat
 * window), requeues the task, and the client gets exactly one result. */
#include "harness.h"
#include "zfarm.h"
#include <czmq.h>
#include <signal.h>

/* "slow" waits for a file to exist (at most 20 s), then answers with the
 * worker's pid, so a test decides when a task may end. */
static char s_gate [512];

/* The brokers' heartbeats: fast, with a window (2 s) that a healthy worker
 * starved of CPU still beats; 100 ms x 3 was not (a stress run saw the
 * survivor of test_sigkill lost too, silent for 319 ms). */
#define BROKER_HEARTBEAT "--heartbeat", "100", "--liveness", "20"

static pid_t
s_worker (const char *endpoint)
{
    static char command [1024];
    snprintf (command, sizeof command,
              "for i in $(seq 2000); do [ -e '%s' ] && break; sleep 0.01; done;"
              " echo $PPID", s_gate);
    const char *args [] = { "--service", "slow", "--service", "fast",
                            "--exec", command, NULL };
    return th_worker_start (endpoint, args);
}

/* The pid of the busy worker among a and b, asked of the broker. */
static pid_t
s_busy (const char *endpoint, pid_t a, pid_t b)
{
    for (int i = 0; i < 1000; i++) {
        json_t *doc = th_status_doc (endpoint);
        int pid = (int) json_number (th_json_path (doc,
                                         "workers[state=busy].pid"), 0);
        json_destroy (&doc);
        if (pid == a || pid == b)
            return pid;
        zclock_sleep (10);
    }
    TEST_FAIL ("no worker took the task");
    return 0;
}

static void
s_check_one_result (zfarm_client_t *client, pid_t survivor)
{
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t size;
    ASSERT_EQ (atoi (zfarm_result_data (result, &size)), survivor);
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_pending (client), 0);
    ASSERT_EQ (zfarm_client_wait (client, 200, &result), ZFARM_ENOT_FOUND);
}

static void
test_sigkill (void)
{
    const char *extra [] = { BROKER_HEARTBEAT, NULL };
    const char *endpoint = strdup (th_broker_start ("tcp", extra).endpoint);
    snprintf (s_gate, sizeof s_gate, "%s/gate-kill", th_tmpdir ());
    pid_t a = s_worker (endpoint), b = s_worker (endpoint);
    ASSERT (th_wait_workers (endpoint, 2, 20000));

    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "slow", "x", 1, 30000, NULL), 0);
    pid_t victim = s_busy (endpoint, a, b);
    th_kill (victim, SIGKILL);
    th_reap (victim, 5000);
    FILE *gate = fopen (s_gate, "w");
    fclose (gate);
    s_check_one_result (client, victim == a? b: a);
    zfarm_client_destroy (&client);
    ASSERT_EQ (th_status_counter (endpoint, "retried"), 1);
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 1);
    free ((char *) endpoint);
}

static void
test_sigstop (void)
{
    const char *extra [] = { BROKER_HEARTBEAT, NULL };
    const char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    snprintf (s_gate, sizeof s_gate, "%s/gate-stop", th_tmpdir ());
    pid_t a = s_worker (endpoint), b = s_worker (endpoint);
    ASSERT (th_wait_workers (endpoint, 2, 20000));

    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "slow", "x", 1, 30000, NULL), 0);
    pid_t frozen = s_busy (endpoint, a, b);
    th_kill (frozen, SIGSTOP);
    /* Silent past the window (20 x 100 ms): declared dead, task requeued. */
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    FILE *gate = fopen (s_gate, "w");
    fclose (gate);
    s_check_one_result (client, frozen == a? b: a);

    /* Thawed, it registers again and finishes the old task, whose result
     * nobody receives a second time. */
    th_kill (frozen, SIGCONT);
    ASSERT (th_wait_workers (endpoint, 2, 20000));
    char *json = NULL;
    for (int i = 0; i < 500; i++) {
        free (json);
        json = th_status (endpoint);
        if (json && th_count (json, "\"state\":\"ready\"") == 2)
            break;
        zclock_sleep (10);
    }
    ASSERT_EQ (th_count (json, "\"state\":\"ready\""), 2);
    free (json);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 200, &result), ZFARM_ENOT_FOUND);
    zfarm_client_destroy (&client);
    free ((char *) endpoint);
}

static void
test_many_services (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    char names [8][16];
    for (int i = 0; i < 8; i++) {
        snprintf (names [i], sizeof names [i], "svc%d", i);
        char command [64];
        snprintf (command, sizeof command, "printf %d", i);
        const char *args [] = { "--service", names [i], "--exec",
                                strdup (command), NULL };
        th_worker_start (endpoint, args);
        free ((char *) args [3]);
    }
    ASSERT (th_wait_workers (endpoint, 8, 20000));
    zfarm_client_t *client = zfarm_client_new (endpoint);
    uint64_t ids [64];
    for (int i = 0; i < 64; i++)
        ASSERT_EQ (zfarm_client_submit (client, names [i % 8], "", 0, 30000,
                                        &ids [i]), 0);
    for (int n = 0; n < 64; n++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
        int i = 0;
        while (ids [i] != zfarm_result_task_id (result))
            i++;
        size_t size;
        ASSERT_EQ (atoi (zfarm_result_data (result, &size)), i % 8);
        zfarm_result_destroy (&result);
    }
    zfarm_client_destroy (&client);
    free ((char *) endpoint);
}

int
main (void)
{
    test_sigkill ();
    test_sigstop ();
    test_many_services ();
    TEST_PASS ("test_worker_faults");
    return 0;
}
