/* test_worker_elastic.c: zfarm-worker --processes N..M, an elastic pool
 * that a supervisor grows by its brokers' backlog (PING naming its
 * services, PONG with their waiting tasks) and that shrinks as its spare
 * processes leave, idle past --idle-timeout. The broker here has no pool
 * of its own: every worker it counts is the supervisor's. Counts only,
 * never times. */
#include "harness.h"
#include "zfarm.h"
#include <czmq.h>
#include <sys/wait.h>

/* 20 s of work for one process: enough for the pool to reach its maximum
 * (one more each 200 ms at most) well before the queue empties. */
#define TASKS 400

/* Silence of 20 heartbeats before a worker is lost: a worker starved of
 * CPU on a busy machine must not be lost mid-task (test_worker_pool.c). */
static const char *const s_patient [] = { "--liveness", "20", NULL };

static pid_t
s_supervisor_start (const char *log, const char *endpoint, const char *range,
                    const char *idle_timeout, const char *idle_exit)
{
    const char *argv [] = { th_bin ("zfarm-worker"), "--broker", endpoint,
                            "--service", "nap", "--exec", "sleep 0.05; cat",
                            "--processes", range, "--idle-timeout",
                            idle_timeout, idle_exit? "--idle-exit": NULL,
                            idle_exit, NULL };
    return th_spawn (log, argv);
}

static int
s_workers (const char *endpoint)
{
    int pids [64];
    return th_status_pids (endpoint, pids, 64);
}

/* Waits at most 60 s until the broker counts exactly count workers. */
static int
s_wait_count (const char *endpoint, int count)
{
    int seen = -1;
    for (int tries = 0; tries < 600; tries++) {
        if ((seen = s_workers (endpoint)) == count)
            break;
        zclock_sleep (100);
    }
    return seen;
}

static char *
s_log (const char *log)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.err", th_tmpdir (), log);
    char *text = th_read_file (path, NULL);
    return text? text: strdup ("");
}

/* Waits at most 30 s until the supervisor's log holds needle count times
 * (a process leaves the broker before it exits and is reaped); returns
 * the count seen. */
static int
s_wait_log (const char *log, const char *needle, int count)
{
    int seen = -1;
    for (int tries = 0; tries < 300; tries++) {
        char *text = s_log (log);
        seen = th_count (text, needle);
        free (text);
        if (seen >= count)
            break;
        zclock_sleep (100);
    }
    return seen;
}

static void
test_grow_and_shrink (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", s_patient).endpoint);
    pid_t supervisor = s_supervisor_start ("grow", endpoint, "1..8", "2000",
                                           NULL);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    for (int i = 0; i < TASKS; i++)
        ASSERT_EQ (zfarm_client_submit (client, "nap", "x", 1, 120000, NULL),
                   0);
    int ok = 0, most = 0;
    for (int i = 0; i < TASKS; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 120000, &result), 0);
        ok += zfarm_result_status (result) == 0;
        zfarm_result_destroy (&result);
        if (i % 10 == 0) {
            int workers = s_workers (endpoint);
            most = workers > most? workers: most;
        }
    }
    zfarm_client_destroy (&client);
    ASSERT_EQ (ok, TASKS);
    fprintf (stderr, "test_worker_elastic: at most %d worker processes\n",
             most);
    ASSERT_EQ (most, 8);
    /* Back to its minimum once idle: 2 s of idleness, each spare leaving
     * by itself. */
    ASSERT_EQ (s_wait_count (endpoint, 1), 1);
    ASSERT_EQ (s_wait_log ("grow", " left, idle; ", 7), 7);
    char *log = s_log ("grow");
    ASSERT_EQ (th_count (log, "tasks waiting, the oldest"), 7);
    ASSERT_EQ (th_count (log, "restarting"), 0);
    free (log);
    /* The spares said goodbye: none was lost with a task. */
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    ASSERT_EQ (th_status_counter (endpoint, "failed"), 0);
    ASSERT_EQ (th_status_counter (endpoint, "retried"), 0);
    /* And it grows again with the next burst. */
    client = zfarm_client_new (endpoint);
    ASSERT (client);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ (zfarm_client_submit (client, "nap", "x", 1, 120000, NULL),
                   0);
    for (int i = 0; i < 100; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 120000, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        zfarm_result_destroy (&result);
    }
    zfarm_client_destroy (&client);
    log = s_log ("grow");
    ASSERT_INT (th_count (log, "tasks waiting, the oldest"), >, 7);
    free (log);
    th_kill (supervisor, SIGTERM);
    int status = th_reap (supervisor, 20000);
    ASSERT (status != -1 && WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
    free ((char *) endpoint);
}

/* A minimum of 0: no process until a task waits; none again once idle;
 * with --idle-exit, the supervisor itself leaves after that long with
 * neither process nor task, as a scheduler's allocation should. */
static void
test_from_zero (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", s_patient).endpoint);
    pid_t supervisor = s_supervisor_start ("zero", endpoint, "0..2", "500",
                                           "3");
    zclock_sleep (500);
    ASSERT_EQ (s_workers (endpoint), 0);
    char *text = NULL;
    ASSERT_EQ (th_call (endpoint, "nap", "hello", 60000, &text), 0);
    ASSERT_STR_EQ (text, "hello");
    free (text);
    /* One task, one process: one that started and has not registered yet
     * is not grown past. */
    char *log = s_log ("zero");
    ASSERT_EQ (th_count (log, "tasks waiting, the oldest"), 1);
    free (log);
    int status = th_reap (supervisor, 60000);
    ASSERT (status != -1 && WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
    ASSERT_EQ (s_wait_log ("zero", " left, idle; 0 running now", 1), 1);
    log = s_log ("zero");
    ASSERT (strstr (log, "no worker process and no task for 3000 ms"));
    free (log);
    ASSERT_EQ (s_wait_count (endpoint, 0), 0);
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    free ((char *) endpoint);
}

static void
s_usage_case (const char *needle, const char *const args [])
{
    const char *argv [16] = { th_bin ("zfarm-worker"), "--service", "s",
                              "--exec", "cat" };
    int argc = 5;
    for (int i = 0; args [i] && argc < 15; i++)
        argv [argc++] = args [i];
    char *out = NULL, *err = NULL;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 20000);
    ASSERT (status != -1 && WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 2);
    if (!strstr (err, needle))
        TEST_FAIL ("wanted '%s', got '%s'", needle, err);
    free (out);
    free (err);
}

static void
test_usage (void)
{
#define CASE(needle, ...) \
    s_usage_case (needle, (const char *const []) { __VA_ARGS__, NULL })
    CASE ("--processes: expected N or N..M", "--processes", "3..2");
    CASE ("--processes: expected N or N..M", "--processes", "0..0");
    CASE ("--processes: expected N or N..M", "--processes", "1..");
    CASE ("--processes: expected N or N..M", "--processes", "..4");
    CASE ("--processes: expected N or N..M", "--processes", "1..1025");
    CASE ("--idle-timeout goes with --processes N..M", "--processes", "2",
          "--idle-timeout", "100");
    CASE ("--idle-timeout: expected a number", "--processes", "1..2",
          "--idle-timeout", "0");
#undef CASE
}

int
main (void)
{
    test_usage ();
    test_from_zero ();
    test_grow_and_shrink ();
    TEST_PASS ("test_worker_elastic");
    return 0;
}
