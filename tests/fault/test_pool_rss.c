/* test_pool_rss.c: recycling by memory (--max-rss, --max-rss-hard) in
 * both local pools: the broker's --spawn and zfarm-worker --processes. A
 * handler that leaks 10 MB per task (echo.so's zfarm_leak) runs under
 * --max-rss 100: its process is recycled every few tasks, and no task
 * fails. */
#include "harness.h"
#include "cli_json.h"
#include "zfarm.h"
#include <czmq.h>

#define TASKS 60

/* "leak" served by echo.so's zfarm_leak, as a --worker-cmd. */
static const char *
s_leak_command (void)
{
    static char command [1024];
    snprintf (command, sizeof command, "%s --service leak --module %s"
              " --function zfarm_leak", th_bin ("zfarm-worker"),
              th_module ("echo.so"));
    return command;
}

/* Submits count tasks of payload to "leak" at once; returns how many
 * succeeded. */
static int
s_run_tasks (const char *endpoint, int count, const char *payload)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    for (int i = 0; i < count; i++)
        ASSERT_EQ (zfarm_client_submit (client, "leak", payload,
                                        strlen (payload), 60000, NULL), 0);
    int ok = 0;
    for (int i = 0; i < count; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 90000, &result), 0);
        if (zfarm_result_status (result) == 0)
            ok++;
        else
            fprintf (stderr, "task failed: %s\n",
                     zfarm_result_error (result));
        zfarm_result_destroy (&result);
    }
    zfarm_client_destroy (&client);
    return ok;
}

/* status.pool.recycled.<reason>, or -1. */
static long
s_recycled (const char *endpoint, const char *reason)
{
    json_t *doc = th_status_doc (endpoint);
    ASSERT (doc);
    const json_t *pool = json_member (doc, "pool");
    long count = (long) json_number (json_member (json_member (pool,
                                     "recycled"), reason), -1);
    json_destroy (&doc);
    return count;
}

/* How many registered local workers show their RSS (read at each
 * heartbeat and task end), of all registered. */
static int
s_workers_with_rss (const char *endpoint, int *all)
{
    json_t *doc = th_status_doc (endpoint);
    ASSERT (doc);
    int shown = 0;
    *all = 0;
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker; worker = json_next (worker)) {
        shown += json_number (json_member (worker, "rss_kb"), 0) > 0;
        (*all)++;
    }
    json_destroy (&doc);
    return shown;
}

static void
s_check_worker_rss (const char *endpoint)
{
    int shown = 0, all = 0;
    for (int tries = 0; tries < 200; tries++) {
        shown = s_workers_with_rss (endpoint, &all);
        if (all > 0 && shown == all)
            break;
        zclock_sleep (50);
    }
    ASSERT_INT (all, >, 0);
    ASSERT_EQ (shown, all);
}

static void
test_broker_max_rss (void)
{
    const char *extra [] = { "--spawn", "1", "--worker-cmd",
                             s_leak_command (), "--max-rss", "100", NULL };
    const char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    ASSERT_EQ (s_run_tasks (endpoint, TASKS, "x"), TASKS);
    /* 10 MB a task past a baseline under 100 MB: a process every 10
     * tasks or fewer, and at least 3 each (a baseline of 70 MB, as an
     * ASan build may have). */
    long rss = s_recycled (endpoint, "rss");
    ASSERT_INT (rss, >=, TASKS / 10 - 1);
    ASSERT_INT (rss, <=, TASKS / 3);
    ASSERT_EQ (s_recycled (endpoint, "tasks"), 0);
    ASSERT_EQ (s_recycled (endpoint, "rss_hard"), 0);
    ASSERT_EQ (th_status_counter (endpoint, "failed"), 0);
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    s_check_worker_rss (endpoint);
    free ((char *) endpoint);
}

static void
test_broker_max_rss_hard (void)
{
    const char *extra [] = { "--spawn", "1", "--worker-cmd",
                             s_leak_command (), "--max-rss-hard", "250",
                             NULL };
    const char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    char *text;
    ASSERT_EQ (th_call (endpoint, "leak", "300:hold", 60000, &text),
               ZFARM_ETIMEOUT);
    ASSERT (strstr (text, "max-rss-hard"));
    free (text);
    ASSERT_EQ (s_recycled (endpoint, "rss_hard"), 1);
    /* Replaced: the farm serves on. */
    ASSERT_EQ (th_call (endpoint, "leak", "x", 60000, &text), 0);
    free (text);
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    free ((char *) endpoint);
}

/* Lines of the supervisor's log that hold needle. */
static int
s_log_count (const char *log, const char *needle)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.err", th_tmpdir (), log);
    char *text = th_read_file (path, NULL);
    int count = text? th_count (text, needle): 0;
    free (text);
    return count;
}

static void
test_processes_max_rss (void)
{
    const char *extra [] = { "--liveness", "20", NULL };
    const char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    const char *argv [] = { th_bin ("zfarm-worker"), "--broker", endpoint,
                            "--processes", "1", "--service", "leak",
                            "--module", th_module ("echo.so"), "--function",
                            "zfarm_leak", "--max-rss", "100", NULL };
    pid_t supervisor = th_spawn ("supervisor", argv);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    /* Not the broker's child: its memory comes in its heartbeats. */
    s_check_worker_rss (endpoint);
    ASSERT_EQ (s_run_tasks (endpoint, TASKS, "x"), TASKS);
    /* Each recycled worker drained and exited ZF_EXIT_RSS: the
     * supervisor replaced it at once, as a recycle, not a crash. */
    long joined = th_status_counter (endpoint, "workers_joined");
    ASSERT_INT (joined, >=, TASKS / 10);
    ASSERT_INT (joined, <=, TASKS / 3 + 1);
    ASSERT_EQ (th_status_counter (endpoint, "failed"), 0);
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    if (s_log_count ("supervisor", "quick deaths")) {
        char path [512];
        snprintf (path, sizeof path, "%s/supervisor.err", th_tmpdir ());
        char *text = th_read_file (path, NULL);
        fprintf (stderr, "%s\n", text? text: "");
        free (text);
    }
    ASSERT_EQ (s_log_count ("supervisor", "quick deaths"), 0);
    ASSERT_INT (s_log_count ("supervisor", "past --max-rss 100 MB"), >=,
                TASKS / 10 - 1);
    th_kill (supervisor, SIGTERM);
    ASSERT_EQ (th_reap (supervisor, 20000), 0);
    free ((char *) endpoint);
}

int
main (void)
{
    test_broker_max_rss ();
    test_broker_max_rss_hard ();
    test_processes_max_rss ();
    TEST_PASS ("test_pool_rss");
    return 0;
}
