/* test_client_spread_faults.c: a client spread over two brokers loses no
 * task and delivers no result twice when one of them restarts, or is
 * paused past its liveness and then goes on.
 *
 * Two brokers on ipc endpoints (so that one can come back on the same
 * address), three zfarm-worker processes serving both. A client given both
 * keeps a window of tasks in flight; once a third of the results are in,
 * the broker that took most of them (the one the client keeps to, as the
 * brokers share their workers) is killed and started again (a new
 * epoch), or stopped (SIGSTOP) and, after the run, continued. Each task's
 * id must come back exactly once, with its item's right result. After the
 * pause, a second run on the same client gets exactly its own results,
 * whatever the paused broker still had to say about the first, and it
 * takes tasks again once the other is stopped in turn. Last, a client
 * whose two brokers are both down at first: once one of them starts, all
 * its tasks end there, also those that waited for the one that never
 * comes. */
#include "harness.h"
#include "cli_json.h"
#include "zfarm.h"

#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>

#define WORKERS     3
#define TASKS       900
#define WINDOW      24
#define N_BASE      100000      /* item i asks for the primes <= N_BASE + */
#define N_STEP      7           /* i * N_STEP */
#define N_MAX       (N_BASE + TASKS * N_STEP)
#define WAIT_MS     60000

typedef struct {
    const char *name;
    char endpoint [256];
    pid_t pid;
} broker_t;

static int *primes_upto;

static void
s_count_primes (void)
{
    char *composite = calloc (N_MAX + 1, 1);
    primes_upto = calloc (N_MAX + 1, sizeof *primes_upto);
    ASSERT (composite && primes_upto);
    int count = 0;
    for (long n = 2; n <= N_MAX; n++) {
        if (!composite [n]) {
            count++;
            for (long m = n * n; m <= N_MAX; m += n)
                composite [m] = 1;
        }
        primes_upto [n] = count;
    }
    free (composite);
}

/* Starts (or starts again, on the same address) a broker on an ipc
 * endpoint of its own name. */
static void
s_broker_start (broker_t *broker, const char *name)
{
    broker->name = name;
    snprintf (broker->endpoint, sizeof broker->endpoint, "ipc://%s/%s.ipc",
              th_tmpdir (), name);
    char file [300];
    snprintf (file, sizeof file, "%s/%s.endpoints", th_tmpdir (), name);
    unlink (file);
    const char *argv [] = { th_bin ("zfarm-broker"), "--bind",
                            broker->endpoint, "--endpoint-file", file,
                            "--heartbeat", "250", NULL };
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

static long
s_counter (const char *endpoint, const char *name)
{
    json_t *doc = th_status_doc (endpoint);
    ASSERT (doc);
    long value = (long) json_number (json_member (json_member (doc,
                                                               "counters"),
                                                  name), -1);
    json_destroy (&doc);
    return value;
}

typedef void (fault_fn) (broker_t *broker);

static void
s_restart (broker_t *broker)
{
    th_kill (broker->pid, SIGKILL);
    ASSERT (th_reap (broker->pid, WAIT_MS) != -1);
    s_broker_start (broker, broker->name);
}

static void
s_pause (broker_t *broker)
{
    th_kill (broker->pid, SIGSTOP);
}

/* TASKS tasks, WINDOW at a time; fault (NULL: none) strikes, once a
 * third of the results are in, the broker that took most of the run's
 * tasks so far. Every task id must get exactly one result, its item's.
 * Returns the broker struck. */
static broker_t *
s_run (zfarm_client_t *client, broker_t brokers [2], fault_fn *fault)
{
    long took [2];
    for (int b = 0; b < 2 && fault; b++)
        took [b] = -s_counter (brokers [b].endpoint, "submitted");
    broker_t *struck_one = NULL;
    long *item_of = calloc (TASKS * 4, sizeof *item_of);
    ASSERT (item_of);
    uint64_t first_id = 0;
    int submitted = 0, received = 0;
    bool struck = false;
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (received < TASKS && zclock_mono () < deadline) {
        while (submitted < TASKS && submitted - received < WINDOW) {
            long item = N_BASE + (long) submitted * N_STEP;
            char payload [32];
            snprintf (payload, sizeof payload, "%ld", item);
            uint64_t id;
            ASSERT_EQ (zfarm_client_submit (client, "primes", payload,
                                            strlen (payload), WAIT_MS, &id),
                       0);
            if (!first_id)
                first_id = id;
            ASSERT (id - first_id < TASKS);
            item_of [id - first_id] = item;
            submitted++;
        }
        zfarm_result_t *result;
        if (zfarm_client_wait (client, 1000, &result) != 0)
            continue;
        if (zfarm_result_status (result) != 0)
            TEST_FAIL ("%s: %s", zfarm_err_name (zfarm_result_status (result)),
                       zfarm_result_error (result));
        uint64_t index = zfarm_result_task_id (result) - first_id;
        if (index >= TASKS || !item_of [index])
            TEST_FAIL ("a result for task %" PRIu64 ", which is not one of "
                       "this run's, or came twice",
                       zfarm_result_task_id (result));
        ASSERT_EQ (atoi (zfarm_result_data (result, NULL)),
                   primes_upto [item_of [index]]);
        item_of [index] = 0;
        received++;
        zfarm_result_destroy (&result);
        if (fault && !struck && received >= TASKS / 3) {
            for (int b = 0; b < 2; b++)
                took [b] += s_counter (brokers [b].endpoint, "submitted");
            struck_one = &brokers [took [1] > took [0]];
            printf ("broker %s took %ld tasks, %s %ld: %s is struck\n",
                    brokers [0].name, took [0], brokers [1].name, took [1],
                    struck_one->name);
            fault (struck_one);
            struck = true;
        }
    }
    ASSERT_EQ (received, TASKS);
    ASSERT (!fault || struck);
    zfarm_result_t *extra = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 0, &extra), ZFARM_ENOT_FOUND);
    ASSERT_EQ ((long) zfarm_client_pending (client), 0L);
    free (item_of);
    return struck_one;
}

/* Tasks (without a timeout) given to two brokers that are both down, so
 * that both are silent to the client; then d starts, with a worker, and c
 * never does. */
static void
s_run_late_broker (void)
{
    char list [600];
    snprintf (list, sizeof list, "ipc://%s/c.ipc,ipc://%s/d.ipc",
              th_tmpdir (), th_tmpdir ());
    zfarm_client_t *client = zfarm_client_new (list);
    ASSERT (client);
    enum { LATE_TASKS = 20 };
    for (int i = 0; i < LATE_TASKS; i++)
        ASSERT_EQ (zfarm_client_submit (client, "primes", "100", 3, 0, NULL),
                   0);
    zfarm_result_t *result = NULL;
    /* Past the default liveness (3 x 500 ms): both are silent now. */
    ASSERT_EQ (zfarm_client_wait (client, 2500, &result), ZFARM_ETIMEOUT);
    broker_t d;
    s_broker_start (&d, "d");
    pid_t worker = th_worker_start (d.endpoint, (const char *const []) {
        "--service", "primes", "--module", th_module ("primes.so"), NULL });
    int received = 0;
    int64_t deadline = zclock_mono () + WAIT_MS / 2;
    while (received < LATE_TASKS && zclock_mono () < deadline)
        if (zfarm_client_wait (client, 1000, &result) == 0) {
            ASSERT_EQ (zfarm_result_status (result), 0);
            ASSERT_STR_EQ ((const char *) zfarm_result_data (result, NULL),
                           "25");
            received++;
            zfarm_result_destroy (&result);
        }
    ASSERT_EQ (received, LATE_TASKS);
    zfarm_client_destroy (&client);
    th_kill (worker, SIGTERM);
    ASSERT (th_reap (worker, WAIT_MS) != -1);
    th_kill (d.pid, SIGTERM);
    ASSERT_EQ (th_reap (d.pid, WAIT_MS), 0);
}

int
main (void)
{
    s_count_primes ();
    broker_t brokers [2];
    s_broker_start (&brokers [0], "a");
    s_broker_start (&brokers [1], "b");
    char list [600];
    snprintf (list, sizeof list, "%s,%s", brokers [0].endpoint,
              brokers [1].endpoint);
    pid_t workers [WORKERS];
    for (int i = 0; i < WORKERS; i++)
        workers [i] = th_worker_start (list, (const char *const []) {
            "--service", "primes", "--capacity", "1",
            "--module", th_module ("primes.so"), NULL });
    for (int b = 0; b < 2; b++)
        ASSERT (th_wait_workers (brokers [b].endpoint, WORKERS, WAIT_MS));

    /* The broker restarts on the same address: the client hears it close
     * the connection, a silence or a new epoch, and submits its tasks
     * again. */
    zfarm_client_t *client = zfarm_client_new (list);
    ASSERT (client);
    broker_t *struck = s_run (client, brokers, s_restart);
    zfarm_client_destroy (&client);
    printf ("a broker restarts mid-run: no task lost, none twice: pass\n");

    /* The broker is paused past its liveness: its tasks move. */
    ASSERT (th_wait_workers (struck->endpoint, WORKERS, WAIT_MS));
    client = zfarm_client_new (list);
    ASSERT (client);
    broker_t *paused = s_run (client, brokers, s_pause);
    broker_t *other = &brokers [paused == &brokers [0]];
    printf ("a broker paused mid-run: no task lost, none twice: pass\n");

    /* It goes on, with what it held of the first run (CANCELs from the
     * client are waiting for it): a second run on the same client gets
     * exactly its own results; and with the other broker stopped in turn,
     * the one that was paused takes tasks again. */
    th_kill (paused->pid, SIGCONT);
    ASSERT (th_wait_workers (paused->endpoint, WORKERS, WAIT_MS));
    long before = s_counter (paused->endpoint, "submitted");
    th_kill (other->pid, SIGSTOP);
    s_run (client, brokers, NULL);
    th_kill (other->pid, SIGCONT);
    long after = s_counter (paused->endpoint, "submitted");
    printf ("broker %s took %ld tasks of the run after its pause\n",
            paused->name, after - before);
    ASSERT (after > before);
    zfarm_client_destroy (&client);
    printf ("the paused broker goes on: no stale result, used again: pass\n");

    s_run_late_broker ();
    printf ("both brokers down, then one up: every task ends there: pass\n");

    for (int i = 0; i < WORKERS; i++) {
        th_kill (workers [i], SIGTERM);
        int status = th_reap (workers [i], WAIT_MS);
        ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    for (int b = 0; b < 2; b++) {
        th_kill (brokers [b].pid, SIGTERM);
        ASSERT_EQ (th_reap (brokers [b].pid, WAIT_MS), 0);
    }
    free (primes_upto);
    TEST_PASS ("test_client_spread_faults");
    return 0;
}
