/* test_crash_report.c: a task whose worker died says how it died.
 *
 * A handler (echo.so's zfarm_segv, zfarm_exit) writes a line to stderr,
 * then its process dies of SIGSEGV, or exits 3. In a local pool, the
 * broker's own --spawn or a zfarm-worker --processes supervisor, the
 * caller's WORKER_LOST text names the signal (or exit status), says that
 * no core was dumped (the test sets RLIMIT_CORE to 0, which every process
 * it starts inherits), and holds that stderr line; the broker's log has
 * one line per lost attempt that says the same. */
#include "pool_common.h"

#include <sys/resource.h>

#define WAIT_MS 20000           /* a worker to register */
#define CALL_MS 30000           /* a call's timeout */

static int s_brokers;           /* brokers started: th_broker_start's count */

/* Starts a broker with extra arguments; returns its endpoint (caller
 * frees) and the path of its log in log_path. */
static char *
s_broker_start (const char *const extra [], char *log_path, size_t size)
{
    char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    snprintf (log_path, size, "%s/broker%d.err", th_tmpdir (), ++s_brokers);
    return endpoint;
}

/* The lines of log that contain every one of the needles (NULL-terminated),
 * counted. */
static int
s_count_lines (const char *log, const char *const needles [])
{
    char *text = th_read_file (log, NULL);
    int count = 0;
    for (char *line = text; line && *line; ) {
        char *end = strchr (line, '\n');
        if (end)
            *end = 0;
        bool all = true;
        for (int i = 0; needles [i] && all; i++)
            all = strstr (line, needles [i]) != NULL;
        count += all;
        line = end? end + 1: NULL;
    }
    free (text);
    return count;
}

/* Calls service with payload; asserts WORKER_LOST after attempts, and
 * that its text holds each of the needles. */
static void
s_expect_lost (const char *endpoint, const char *service, const char *payload,
               int attempts, const char *const needles [])
{
    char *text = NULL;
    ASSERT_EQ (th_call (endpoint, service, payload, CALL_MS, &text),
               ZFARM_EWORKER_LOST);
    char each [64];
    snprintf (each, sizeof each, "worker lost on each of %d attempt%s",
              attempts, attempts > 1? "s": "");
    if (!strstr (text, each))
        TEST_FAIL ("'%s' not in: %s", each, text);
    for (int i = 0; needles [i]; i++)
        if (!strstr (text, needles [i]))
            TEST_FAIL ("'%s' not in: %s", needles [i], text);
    free (text);
}

/* Waits until the log has count lines with all the needles (the broker
 * writes them before the result, but the file is read from outside). */
static void
s_expect_log_lines (const char *log, int count, const char *const needles [])
{
    int found = 0;
    for (int tries = 0; tries < 250 && found < count; tries++) {
        found = s_count_lines (log, needles);
        if (found < count)
            zclock_sleep (20);
    }
    if (found != count)
        TEST_FAIL ("%d lines with '%s'... in %s, not %d", found, needles [0],
                   log, count);
}

/* A worker of the broker's --spawn pool dies of SIGSEGV on each of its 2
 * attempts. */
static void
test_spawn_segv (void)
{
    char command [1024];
    snprintf (command, sizeof command, "%s --service crash --module %s"
              " --function zfarm_segv", th_bin ("zfarm-worker"),
              th_module ("echo.so"));
    const char *extra [] = { "--spawn", "2", "--worker-cmd", command,
                             "--max-retries", "1", "--heartbeat", "100",
                             "--liveness", "20", NULL };
    char log [512];
    char *endpoint = s_broker_start (extra, log, sizeof log);
    ASSERT (th_wait_workers (endpoint, 2, WAIT_MS));
    const char *needles [] = { "killed by signal 11 (SIGSEGV, no core dump)",
                               "peak RSS ", "; the last ran ",
                               "stderr: ", "echo.so: segfault on purpose:"
                               " spawn-segv", NULL };
    s_expect_lost (endpoint, "crash", "spawn-segv", 2, needles);
    for (int attempt = 1; attempt <= 2; attempt++) {
        char which [64];
        snprintf (which, sizeof which, " attempt %d lost after ", attempt);
        const char *line [] = { "task crash/", which, "(SIGSEGV, no core dump)",
                                "peak RSS ", "echo.so: segfault on purpose:"
                                " spawn-segv", NULL };
        s_expect_log_lines (log, 1, line);
    }
    free (endpoint);
}

/* A worker of the broker's --spawn pool exits 3; no retry. */
static void
test_spawn_exit (void)
{
    char command [1024];
    snprintf (command, sizeof command, "%s --service quit --module %s"
              " --function zfarm_exit", th_bin ("zfarm-worker"),
              th_module ("echo.so"));
    const char *extra [] = { "--spawn", "1", "--worker-cmd", command,
                             "--max-retries", "0", "--heartbeat", "100",
                             "--liveness", "20", NULL };
    char log [512];
    char *endpoint = s_broker_start (extra, log, sizeof log);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));
    const char *needles [] = { "process exited with status 3",
                               "echo.so: exit on purpose: 3", NULL };
    s_expect_lost (endpoint, "quit", "3", 1, needles);
    const char *line [] = { "task quit/", " attempt 1 lost after ",
                            "exited with status 3",
                            "echo.so: exit on purpose: 3", NULL };
    s_expect_log_lines (log, 1, line);
    free (endpoint);
}

/* A worker of a zfarm-worker --processes pool dies of SIGSEGV on each of
 * its 2 attempts. The broker sees only a connection close; the report
 * comes from the supervisor (DISCONNECT naming the worker's instance),
 * and the broker holds a supervised worker a heartbeat for it. Liveness
 * 20 with 100 ms heartbeats: silence alone would take 2 s. */
static void
test_supervisor_segv (void)
{
    const char *extra [] = { "--max-retries", "1", "--heartbeat", "100",
                             "--liveness", "20", NULL };
    char log [512];
    char *endpoint = s_broker_start (extra, log, sizeof log);
    const char *argv [] = { th_bin ("zfarm-worker"), "--broker", endpoint,
                            "--service", "crash", "--module",
                            th_module ("echo.so"), "--function", "zfarm_segv",
                            "--processes", "2", NULL };
    pid_t supervisor = th_spawn ("segv-pool", argv);
    ASSERT (th_wait_workers (endpoint, 2, WAIT_MS));
    const char *needles [] = { "process killed by signal 11 (SIGSEGV, no "
                               "core dump)", "peak RSS ", "; the last ran ",
                               "stderr: ", "echo.so: segfault on purpose:"
                               " pool-segv", NULL };
    s_expect_lost (endpoint, "crash", "pool-segv", 2, needles);
    for (int attempt = 1; attempt <= 2; attempt++) {
        char which [64];
        snprintf (which, sizeof which, " attempt %d lost after ", attempt);
        const char *line [] = { "task crash/", which, "(SIGSEGV, no core dump)",
                                "echo.so: segfault on purpose: pool-segv",
                                NULL };
        s_expect_log_lines (log, 1, line);
    }
    /* Replaced, and they serve on. */
    ASSERT (th_wait_workers (endpoint, 2, WAIT_MS));
    th_kill (supervisor, SIGTERM);
    ASSERT (th_reap (supervisor, 20000) != -1);
    free (endpoint);
}

int
main (void)
{
    /* No core files: the report must say so, and none litter the disk. */
    struct rlimit none = { 0, 0 };
    ASSERT_EQ (setrlimit (RLIMIT_CORE, &none), 0);
    test_spawn_segv ();
    test_spawn_exit ();
    test_supervisor_segv ();
    TEST_PASS ("test_crash_report");
    return 0;
}
