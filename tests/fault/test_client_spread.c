/* test_client_spread.c: a client given two brokers uses both where that
 * helps, and keeps to one where it does not.
 *
 * Two brokers on tcp://127.0.0.1, three zfarm-worker processes (capacity
 * 1, primes.so) each serving both. Through the C API: every task gets its
 * right result, and once the client has heard from both brokers that they
 * have the same workers, one of them runs nearly all of its tasks (their
 * own counters say so). Two more brokers with a worker each of their own:
 * each runs a real share of a client's tasks. Then the real `zfarm map
 * --broker a,b` over 10,000 items, and the broker map keeps to is killed
 * (SIGKILL) once about half the results are out: every output line is
 * its item's result, in input order, map exits 0, and the other broker
 * still lists the three workers. */
#include "harness.h"
#include "cli_json.h"
#include "zfarm.h"

#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>

#define WORKERS     3
#define API_TASKS   600
#define FIRST_WAVE  60       /* brings both brokers' PONGs */
#define MAP_ITEMS   10000
#define N_BASE      200000      /* item i asks for the primes <= N_BASE + */
#define N_STEP      37          /* i * N_STEP: a sieve of a few tenths of
                                   a ms, and a different answer per item */
#define N_MAX       (N_BASE + MAP_ITEMS * N_STEP)
#define WAIT_MS     60000

/* primes_upto [n]: the number of primes <= n, what primes.so answers. */
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

static long
s_item (int i)
{
    return N_BASE + (long) i * N_STEP;
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

/* count tasks, window at a time, through client: each result is checked
 * against its task's item. */
static void
s_run_api (zfarm_client_t *client, int count, int window)
{
    long *item_of = calloc ((size_t) count, sizeof *item_of);
    ASSERT (item_of);
    uint64_t first_id = 0;
    int submitted = 0, received = 0;
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (received < count && zclock_mono () < deadline) {
        while (submitted < count && submitted - received < window) {
            char payload [32];
            snprintf (payload, sizeof payload, "%ld", s_item (submitted));
            uint64_t id;
            ASSERT_EQ (zfarm_client_submit (client, "primes", payload,
                                            strlen (payload), WAIT_MS, &id),
                       0);
            if (!first_id)
                first_id = id;
            ASSERT (id - first_id < (uint64_t) count);
            item_of [id - first_id] = s_item (submitted++);
        }
        zfarm_result_t *result;
        if (zfarm_client_wait (client, 1000, &result) != 0)
            continue;
        if (zfarm_result_status (result) != 0)
            TEST_FAIL ("%s: %s", zfarm_err_name (zfarm_result_status (result)),
                       zfarm_result_error (result));
        uint64_t index = zfarm_result_task_id (result) - first_id;
        ASSERT (index < (uint64_t) count && item_of [index]);
        ASSERT_EQ (atoi (zfarm_result_data (result, NULL)),
                   primes_upto [item_of [index]]);
        item_of [index] = 0;        /* a second result would fail above */
        received++;
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (received, count);
    free (item_of);
}

/* Each broker's share of the tasks completed since done [], which it
 * updates; the shares must add up to count. */
static void
s_shares (char endpoints [2][256], long done [2], int count, long share [2],
          const char *what)
{
    for (int b = 0; b < 2; b++) {
        long completed = s_counter (endpoints [b], "completed");
        share [b] = completed - done [b];
        done [b] = completed;
        printf ("%s: broker %d completed %ld of %d tasks\n", what, b,
                share [b], count);
    }
    ASSERT_EQ (share [0] + share [1], count);
}

/* Two brokers, each with one worker of its own (capacity 1): a client
 * given both spreads its tasks over them, submitted at once or a window
 * at a time. */
static void
s_run_own_workers (void)
{
    char endpoints [2][256];
    pid_t brokers [2], workers [2];
    for (int b = 0; b < 2; b++) {
        th_broker_t started = th_broker_start ("tcp", NULL);
        brokers [b] = started.pid;
        snprintf (endpoints [b], sizeof endpoints [b], "%s", started.endpoint);
        workers [b] = th_worker_start (endpoints [b], (const char *const []) {
            "--service", "primes", "--capacity", "1",
            "--module", th_module ("primes.so"), NULL });
    }
    for (int b = 0; b < 2; b++)
        ASSERT (th_wait_workers (endpoints [b], 1, WAIT_MS));
    char list [600];
    snprintf (list, sizeof list, "%s,%s", endpoints [0], endpoints [1]);
    long done [2] = { 0, 0 }, share [2];
    const int windows [2] = { API_TASKS, 2 };
    for (int w = 0; w < 2; w++) {
        zfarm_client_t *client = zfarm_client_new (list);
        ASSERT (client);
        s_run_api (client, API_TASKS, windows [w]);
        zfarm_client_destroy (&client);
        char what [64];
        snprintf (what, sizeof what, "own workers, window %d", windows [w]);
        s_shares (endpoints, done, API_TASKS, share, what);
        for (int b = 0; b < 2; b++)
            ASSERT (share [b] >= API_TASKS / 4);
    }
    for (int b = 0; b < 2; b++) {
        th_kill (workers [b], SIGTERM);
        ASSERT (th_reap (workers [b], WAIT_MS) != -1);
        th_kill (brokers [b], SIGTERM);
        ASSERT_EQ (th_reap (brokers [b], WAIT_MS), 0);
    }
}

/* Lines of map's output so far. */
static int
s_lines_out (const char *path)
{
    char *text = th_read_file (path, NULL);
    int lines = text? th_count (text, "\n"): 0;
    free (text);
    return lines;
}

static void
s_check_map_output (const char *path)
{
    size_t size;
    char *text = th_read_file (path, &size);
    ASSERT (text);
    char *line = text, *end = text + size;
    for (int i = 0; i < MAP_ITEMS; i++) {
        char *newline = memchr (line, '\n', (size_t) (end - line));
        if (!newline)
            TEST_FAIL ("map wrote %d lines of %d", i, MAP_ITEMS);
        *newline = 0;
        char expected [32];
        snprintf (expected, sizeof expected, "%d", primes_upto [s_item (i)]);
        if (strcmp (line, expected) != 0)
            TEST_FAIL ("line %d: '%s', expected '%s'", i + 1, line, expected);
        line = newline + 1;
    }
    ASSERT_EQ ((long) (end - line), 0L);
    free (text);
}

/* zfarm map over MAP_ITEMS lines given both brokers; the one that ran
 * more of its tasks is killed once half the results are written. Returns
 * the index of the one that lives on. */
static int
s_run_map (const char *list, char endpoints [2][256], pid_t pids [2])
{
    long done [2];
    for (int b = 0; b < 2; b++)
        done [b] = s_counter (endpoints [b], "completed");
    char input [400], output [400], command [1600];
    snprintf (input, sizeof input, "%s/items", th_tmpdir ());
    snprintf (output, sizeof output, "%s/map.out", th_tmpdir ());
    FILE *file = fopen (input, "w");
    ASSERT (file);
    for (int i = 0; i < MAP_ITEMS; i++)
        fprintf (file, "%ld\n", s_item (i));
    ASSERT_EQ (fclose (file), 0);
    snprintf (command, sizeof command, "exec %s map --quiet --broker %s "
              "primes < %s", th_bin ("zfarm"), list, input);
    pid_t map = th_spawn ("map", (const char *const []) {
                              "/bin/sh", "-c", command, NULL });

    int at_kill = 0;
    for (int i = 0; i < WAIT_MS / 2 && !at_kill; i++) {
        int lines = s_lines_out (output);
        if (lines >= MAP_ITEMS / 2)
            at_kill = lines;
        else {
            ASSERT (th_alive (map));
            zclock_sleep (2);
        }
    }
    ASSERT (at_kill);
    ASSERT (at_kill < MAP_ITEMS);   /* map was still running */
    for (int b = 0; b < 2; b++)
        done [b] = s_counter (endpoints [b], "completed") - done [b];
    int killed = done [1] > done [0], survivor = !killed;
    th_kill (pids [killed], SIGKILL);
    ASSERT (th_reap (pids [killed], WAIT_MS) != -1);
    printf ("broker %d (which ran %ld tasks, the other %ld) killed after %d "
            "of %d results\n", killed, done [killed], done [survivor],
            at_kill, MAP_ITEMS);

    int status = th_reap (map, WAIT_MS * 2);
    ASSERT (status != -1);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
    s_check_map_output (output);
    ASSERT_EQ (th_status_worker_count (endpoints [survivor]), WORKERS);
    return survivor;
}

int
main (void)
{
    s_count_primes ();
    pid_t pids [2];
    char endpoints [2][256];
    for (int b = 0; b < 2; b++) {
        th_broker_t started = th_broker_start ("tcp", NULL);
        pids [b] = started.pid;
        snprintf (endpoints [b], sizeof endpoints [b], "%s", started.endpoint);
    }
    char list [600];
    snprintf (list, sizeof list, "%s,%s", endpoints [0], endpoints [1]);
    pid_t workers [WORKERS];
    for (int i = 0; i < WORKERS; i++)
        workers [i] = th_worker_start (list, (const char *const []) {
            "--service", "primes", "--capacity", "1",
            "--module", th_module ("primes.so"), NULL });
    for (int b = 0; b < 2; b++)
        ASSERT (th_wait_workers (endpoints [b], WORKERS, WAIT_MS));

    /* Brokers with the same workers are one queue: once the client has
     * heard both say so (their PONGs, which the first wave brings), it
     * keeps to one of them, where spreading would cost every process a
     * wakeup per task and start no task sooner. */
    zfarm_client_t *client = zfarm_client_new (list);
    ASSERT (client);
    long done [2] = { 0, 0 }, share [2];
    s_run_api (client, FIRST_WAVE, WORKERS);
    s_shares (endpoints, done, FIRST_WAVE, share, "shared workers, first");
    s_run_api (client, API_TASKS, 4 * WORKERS);
    s_shares (endpoints, done, API_TASKS, share, "shared workers, then");
    zfarm_client_destroy (&client);
    ASSERT (share [0] >= API_TASKS * 9 / 10 || share [1] >= API_TASKS * 9 / 10);
    printf ("one client, two brokers with the same workers: kept to one: "
            "pass\n");

    s_run_own_workers ();
    printf ("one client, two brokers with their own workers: both used: "
            "pass\n");

    /* zfarm map over both; one broker dies halfway. */
    int survivor = s_run_map (list, endpoints, pids);
    printf ("zfarm map over two brokers, one killed halfway: pass\n");

    for (int i = 0; i < WORKERS; i++) {
        th_kill (workers [i], SIGTERM);
        int status = th_reap (workers [i], WAIT_MS);
        ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    th_kill (pids [survivor], SIGTERM);
    ASSERT_EQ (th_reap (pids [survivor], WAIT_MS), 0);
    free (primes_upto);
    TEST_PASS ("test_client_spread");
    return 0;
}
