/* test_many_brokers.c: workers that serve two brokers at once.
 *
 * Three zfarm-worker processes, capacity 1, each registered with both
 * brokers, while a client per broker keeps both queues full: every task
 * gets its right result, no worker ever runs two tasks at once (each task
 * holds a lock directory named after its worker process for its run, and
 * reports OVERLAP if it finds it taken), and each broker lists the three
 * workers as serving two brokers. Then one broker is killed (SIGKILL)
 * halfway: the workers serve the other without a pause, a client given
 * both moves its tasks there, and the workers register with the killed one
 * by themselves when it is back on the same address. */
#include "harness.h"
#include "cli_json.h"
#include "zfarm.h"

#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>

#define WORKERS     3
#define TASKS       100         /* per broker */
#define WINDOW      8           /* per client: more than the workers' slots */
#define WAIT_MS     30000

typedef struct {
    char endpoint [256];
    pid_t pid;
} broker_t;

static json_t *
s_status (const char *endpoint)
{
    char *text = th_status (endpoint);
    if (!text)
        return NULL;
    json_t *doc = json_parse (text, strlen (text));
    free (text);
    return doc;
}

/* Workers the broker lists that say they serve `brokers` brokers. */
static int
s_workers_serving (const char *endpoint, int brokers)
{
    json_t *doc = s_status (endpoint);
    int count = 0;
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker; worker = json_next (worker))
        count += json_number (json_member (worker, "brokers"), 0) == brokers;
    json_destroy (&doc);
    return count;
}

static bool
s_wait_serving (const char *endpoint, int count)
{
    for (int i = 0; i < 1000; i++) {
        if (s_workers_serving (endpoint, 2) == count)
            return true;
        zclock_sleep (20);
    }
    return false;
}

/* Starts (or starts again, on the same address) a broker on an ipc
 * endpoint of its own name. A liveness of 20 heartbeats (5 s): at 3 a
 * stress run under ASan on a starved machine saw every process silent for
 * 0.8 to 1.1 s at once, and a task lost with three workers in turn failed
 * WORKER_LOST. The killed broker is still found out by its silence. */
static void
s_broker_start (broker_t *broker, const char *name)
{
    snprintf (broker->endpoint, sizeof broker->endpoint, "ipc://%s/%s.ipc",
              th_tmpdir (), name);
    char file [300];
    snprintf (file, sizeof file, "%s/%s.endpoints", th_tmpdir (), name);
    unlink (file);
    const char *argv [] = { th_bin ("zfarm-broker"), "--bind",
                            broker->endpoint, "--endpoint-file", file,
                            "--heartbeat", "250", "--liveness", "20",
                            NULL };
    broker->pid = th_spawn (name, argv);
    for (int i = 0; i < 1000; i++) {
        char *text = th_read_file (file, NULL);
        free (text);
        if (text)
            return;
        ASSERT (th_alive (broker->pid));
        zclock_sleep (10);
    }
    TEST_FAIL ("broker %s did not start", name);
}

/* Keeps WINDOW tasks in flight on each client until each has TASKS
 * results, checking every one; kill_at (a count of results, 0: never)
 * SIGKILLs broker 0 once the total reaches it. */
static void
s_run_load (zfarm_client_t *clients [2], broker_t *brokers, int kill_at)
{
    int submitted [2] = { 0, 0 }, received [2] = { 0, 0 };
    int64_t deadline = zclock_mono () + 120000;
    bool killed = false;
    while ((received [0] < TASKS || received [1] < TASKS)
       &&  zclock_mono () < deadline) {
        for (int c = 0; c < 2; c++)
            while (submitted [c] < TASKS
               &&  submitted [c] - received [c] < WINDOW) {
                char payload [32];
                snprintf (payload, sizeof payload, "%d-%d", c, submitted [c]);
                ASSERT_EQ (zfarm_client_submit (clients [c], "job", payload,
                                                strlen (payload), WAIT_MS,
                                                NULL), 0);
                submitted [c]++;
            }
        for (int c = 0; c < 2; c++) {
            zfarm_result_t *result;
            while (zfarm_client_wait (clients [c], c? 0: 5, &result) == 0) {
                size_t size;
                const char *data = zfarm_result_data (result, &size);
                if (zfarm_result_status (result) != 0)
                    TEST_FAIL ("client %d: %s: %s", c,
                               zfarm_err_name (zfarm_result_status (result)),
                               zfarm_result_error (result));
                if (strstr (data, "OVERLAP"))
                    TEST_FAIL ("a worker ran two tasks at once: %s", data);
                ASSERT (strncmp (data, c? "1-": "0-", 2) == 0);
                received [c]++;
                zfarm_result_destroy (&result);
            }
        }
        if (kill_at && !killed && received [0] + received [1] >= kill_at) {
            th_kill (brokers [0].pid, SIGKILL);
            th_reap (brokers [0].pid, WAIT_MS);
            killed = true;
        }
    }
    ASSERT_EQ (received [0], TASKS);
    ASSERT_EQ (received [1], TASKS);
}

int
main (void)
{
    broker_t brokers [2];
    s_broker_start (&brokers [0], "a");
    s_broker_start (&brokers [1], "b");
    char list [600];
    snprintf (list, sizeof list, "%s,%s", brokers [0].endpoint,
              brokers [1].endpoint);
    char command [600];
    snprintf (command, sizeof command,
              "mkdir %s/lock.$PPID 2>/dev/null || echo OVERLAP;"
              " sleep 0.01; cat; rmdir %s/lock.$PPID", th_tmpdir (),
              th_tmpdir ());
    pid_t workers [WORKERS];
    for (int i = 0; i < WORKERS; i++)
        workers [i] = th_worker_start (list, (const char *const []) {
            "--service", "job", "--capacity", "1",
            "--exec", command, NULL });
    ASSERT (s_wait_serving (brokers [0].endpoint, WORKERS));
    ASSERT (s_wait_serving (brokers [1].endpoint, WORKERS));

    /* Both queues full: the one slot of each worker is shared. */
    zfarm_client_t *clients [2] = { zfarm_client_new (brokers [0].endpoint),
                                    zfarm_client_new (brokers [1].endpoint) };
    ASSERT (clients [0] && clients [1]);
    s_run_load (clients, brokers, 0);
    printf ("two brokers, one slot per worker, both queues full: pass\n");

    /* Broker a dies while both are loaded: its client, given both
     * brokers, submits its pending tasks to b; every task still ends with
     * its one right result, and b's workers never paused. */
    zfarm_client_destroy (&clients [0]);
    zfarm_client_t *survivor [2] = { zfarm_client_new (list), clients [1] };
    ASSERT (survivor [0]);
    s_run_load (survivor, brokers, TASKS / 2);
    ASSERT (!th_alive (brokers [0].pid));
    ASSERT_EQ (s_workers_serving (brokers [1].endpoint, 2), WORKERS);
    printf ("one broker killed, the other serves on: pass\n");

    /* a comes back on the same address: the workers register there by
     * themselves, and it serves again. */
    s_broker_start (&brokers [0], "a");
    ASSERT (s_wait_serving (brokers [0].endpoint, WORKERS));
    char *text = NULL;
    ASSERT_EQ (th_call (brokers [0].endpoint, "job", "again", WAIT_MS, &text),
               0);
    ASSERT_STR_EQ (text, "again");
    free (text);
    printf ("the killed broker is back and served: pass\n");

    for (int c = 0; c < 2; c++)
        zfarm_client_destroy (&survivor [c]);
    for (int i = 0; i < WORKERS; i++) {
        th_kill (workers [i], SIGTERM);
        int status = th_reap (workers [i], WAIT_MS);
        ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    for (int i = 0; i < 2; i++) {
        th_kill (brokers [i].pid, SIGTERM);
        ASSERT_EQ (th_reap (brokers [i].pid, WAIT_MS), 0);
    }
    TEST_PASS ("test_many_brokers");
    return 0;
}
