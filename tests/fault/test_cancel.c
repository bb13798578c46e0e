/* test_cancel.c: a running task that its client cancels is stopped.
 *
 * `zfarm call` interrupted (SIGINT, as Ctrl-C sends) exits with
 * CANCELLED (130) at once; an --exec command is killed and its worker
 * takes the next task; a --module handler that never looks is ended with
 * its process (a pool's, which is replaced, the pool's other tasks
 * untouched); one that polls zfarm_task_cancelled keeps its process. The
 * same through the C API: zfarm_client_cancel of a running task. */
#include "pool_common.h"

/* Bounds, generous for ASan on a loaded machine; none is asserted as a
 * timing, only as "it did happen". */
#define WAIT_MS       20000     /* a worker to register, a task to start */
#define GONE_MS       5000      /* a killed command or process to be gone */
#define CALL_MS       30000     /* a task's timeout: far below the 61 s
                                   that "hang" and "60000" take, so that a
                                   result in time proves the work stopped */

/* Starts `zfarm call` of service with payload; its output goes to
 * <tmpdir>/<log>.out and .err. */
static pid_t
s_cli_call (const char *log, const char *endpoint, const char *service,
            const char *payload)
{
    const char *argv [] = { th_bin ("zfarm"), "call", "--broker", endpoint,
                            "--timeout", "120000", service, payload, NULL };
    return th_spawn (log, argv);
}

/* Ctrl-C to a `zfarm call`: it exits 130 and says CANCELLED. */
static void
s_cli_interrupt (const char *log, pid_t call)
{
    th_kill (call, SIGINT);
    int status = th_reap (call, GONE_MS);
    ASSERT (status != -1);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 130);
    char path [512];
    snprintf (path, sizeof path, "%s/%s.err", th_tmpdir (), log);
    char *err = th_read_file (path, NULL);
    ASSERT (err && strstr (err, "zfarm: CANCELLED"));
    free (err);
}

/* Starts zfarm-worker --processes N --broker endpoint with args
 * (NULL-terminated); its log, and its workers', is <tmpdir>/<log>.err. */
static pid_t
s_supervisor_start (const char *log, const char *endpoint, int processes,
                    const char *const args [])
{
    static char count [16];
    snprintf (count, sizeof count, "%d", processes);
    const char *argv [32] = { th_bin ("zfarm-worker"), "--broker", endpoint,
                              "--processes", count };
    int argc = 5;
    for (int i = 0; args [i] && argc < 31; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    pid_t pid = th_spawn (log, argv);
    if (!th_wait_workers (endpoint, processes, WAIT_MS))
        TEST_FAIL ("%d worker processes did not register", processes);
    return pid;
}

static char *
s_log (const char *log)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.err", th_tmpdir (), log);
    char *text = th_read_file (path, NULL);
    return text? text: strdup ("");
}

/* Waits until this test's "hang" sleeps number (0 or 1). */
static bool
s_wait_hanging (int number)
{
    for (int tries = 0; tries < GONE_MS / 10; tries++) {
        if (pool_hanging () == number)
            return true;
        zclock_sleep (10);
    }
    return pool_hanging () == number;
}

/* Waits until the broker reports count busy workers. */
static void
s_wait_busy (const char *endpoint, int count)
{
    for (int tries = 0; tries < WAIT_MS / 20; tries++) {
        char *json = th_status (endpoint);
        int busy = json? th_count (json, "\"state\":\"busy\""): 0;
        free (json);
        if (busy == count)
            return;
        zclock_sleep (20);
    }
    TEST_FAIL ("the broker never had %d busy workers", count);
}

/* The result of one task submitted earlier: its status and text. */
static int
s_wait_result (zfarm_client_t *client, char **text_p)
{
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, CALL_MS + 5000, &result), 0);
    int status = zfarm_result_status (result);
    size_t size;
    *text_p = strdup (status? zfarm_result_error (result)
                            : (const char *) zfarm_result_data (result, &size));
    zfarm_result_destroy (&result);
    return status;
}

/* ---- --exec ------------------------------------------------------------- */

/* The command is killed at once and the next task, queued behind it,
 * runs on the same worker. */
static void
test_exec (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    const char *args [] = { "--service", "job", "--exec", pool_job_script (),
                            NULL };
    th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));
    int worker;
    ASSERT_EQ (th_status_pids (endpoint, &worker, 1), 1);

    pid_t call = s_cli_call ("exec", endpoint, "job", "hang");
    ASSERT (s_wait_hanging (1));
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "job", "pid", 3, CALL_MS, NULL),
               0);
    s_cli_interrupt ("exec", call);
    ASSERT (s_wait_hanging (0));

    char *text = NULL;
    ASSERT_EQ (s_wait_result (client, &text), 0);
    ASSERT_EQ (atoi (text), worker);
    free (text);
    zfarm_client_destroy (&client);
    ASSERT_EQ (th_status_counter (endpoint, "cancelled"), 1);
    free ((char *) endpoint);
}

/* ---- --module ----------------------------------------------------------- */

/* A handler that never looks: its process ends after the grace (76) and
 * is replaced; the pool's other process finishes its task. */
static void
test_module_stuck (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    const char *args [] = { "--service", "sleep",
                            "--module", th_module ("primes.so"),
                            "--function", "zfarm_sleep",
                            "--cancel-grace", "500", NULL };
    s_supervisor_start ("stuck", endpoint, 2, args);
    int before [2];
    ASSERT_EQ (th_status_pids (endpoint, before, 2), 2);

    pid_t call = s_cli_call ("stuck_call", endpoint, "sleep", "60000");
    s_wait_busy (endpoint, 1);
    int victim = pool_busy_pid (endpoint);
    ASSERT (victim == before [0] || victim == before [1]);
    int other = victim == before [0]? before [1]: before [0];
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "sleep", "3000", 4, CALL_MS,
                                    NULL), 0);
    s_wait_busy (endpoint, 2);

    s_cli_interrupt ("stuck_call", call);
    ASSERT (th_wait_gone (&victim, 1, GONE_MS));
    char *text = NULL;
    ASSERT_EQ (s_wait_result (client, &text), 0);
    ASSERT_STR_EQ (text, "slept 3000");
    free (text);
    zfarm_client_destroy (&client);
    ASSERT (th_pid_exists (other));

    ASSERT (th_wait_workers (endpoint, 2, WAIT_MS));
    int after [2];
    ASSERT_EQ (th_status_pids (endpoint, after, 2), 2);
    ASSERT (after [0] == other || after [1] == other);
    ASSERT (after [0] != victim && after [1] != victim);
    ASSERT_EQ (th_call (endpoint, "sleep", "10", CALL_MS, &text), 0);
    ASSERT_STR_EQ (text, "slept 10");
    free (text);
    char *log = s_log ("stuck");
    ASSERT (strstr (log, "ms after it was cancelled; ending the process"));
    ASSERT_EQ (th_count (log, "exited with status 76"), 1);
    free (log);
    free ((char *) endpoint);
}

/* A handler that polls zfarm_task_cancelled returns: its process stays,
 * and takes the next task. */
static void
test_module_polls (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    const char *args [] = { "--service", "nap",
                            "--module", th_module ("primes.so"),
                            "--function", "zfarm_nap",
                            "--cancel-grace", "10000", NULL };
    s_supervisor_start ("polls", endpoint, 1, args);
    int worker;
    ASSERT_EQ (th_status_pids (endpoint, &worker, 1), 1);

    pid_t call = s_cli_call ("polls_call", endpoint, "nap", "60000");
    s_wait_busy (endpoint, 1);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "nap", "10", 2, CALL_MS, NULL),
               0);
    s_cli_interrupt ("polls_call", call);

    char *text = NULL;
    ASSERT_EQ (s_wait_result (client, &text), 0);
    ASSERT_STR_EQ (text, "slept 10");
    free (text);
    zfarm_client_destroy (&client);
    int after [2];
    ASSERT_EQ (th_status_pids (endpoint, after, 2), 1);
    ASSERT_EQ (after [0], worker);
    ASSERT (th_pid_exists (worker));
    char *log = s_log ("polls");
    ASSERT (!strstr (log, "exited with status"));
    free (log);
    free ((char *) endpoint);
}

/* No supervisor: a handler that never looks keeps its slot until it
 * returns, and the process lives on (nobody would start it again). */
static void
test_module_alone (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    const char *args [] = { "--service", "sleep",
                            "--module", th_module ("primes.so"),
                            "--function", "zfarm_sleep",
                            "--cancel-grace", "0", NULL };
    pid_t worker = th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));

    zfarm_client_t *client = zfarm_client_new (endpoint);
    uint64_t long_task;
    ASSERT_EQ (zfarm_client_submit (client, "sleep", "2000", 4, CALL_MS,
                                    &long_task), 0);
    s_wait_busy (endpoint, 1);
    ASSERT_EQ (zfarm_client_submit (client, "sleep", "10", 2, CALL_MS, NULL),
               0);
    ASSERT_EQ (zfarm_client_cancel (client, long_task), 0);
    char *text = NULL;
    ASSERT_EQ (s_wait_result (client, &text), ZFARM_ECANCELLED);
    free (text);
    ASSERT_EQ (s_wait_result (client, &text), 0);
    ASSERT_STR_EQ (text, "slept 10");
    free (text);
    zfarm_client_destroy (&client);
    ASSERT (th_alive (worker));
    int pid;
    ASSERT_EQ (th_status_pids (endpoint, &pid, 1), 1);
    ASSERT_EQ (pid, worker);
    free ((char *) endpoint);
}

/* ---- the C API ---------------------------------------------------------- */

/* zfarm_client_cancel of a running task: ZFARM_ECANCELLED, the command
 * is killed, and the next task takes the slot. */
static void
test_api_cancel (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    const char *args [] = { "--service", "job", "--exec", pool_job_script (),
                            NULL };
    th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));
    int worker;
    ASSERT_EQ (th_status_pids (endpoint, &worker, 1), 1);

    zfarm_client_t *client = zfarm_client_new (endpoint);
    uint64_t hang;
    ASSERT_EQ (zfarm_client_submit (client, "job", "hang", 4, CALL_MS,
                                    &hang), 0);
    ASSERT (s_wait_hanging (1));
    ASSERT_EQ (zfarm_client_submit (client, "job", "pid", 3, CALL_MS, NULL),
               0);
    ASSERT_EQ (zfarm_client_cancel (client, hang), 0);
    ASSERT_EQ (zfarm_client_cancel (client, hang), ZFARM_ENOT_FOUND);
    char *text = NULL;
    ASSERT_EQ (s_wait_result (client, &text), ZFARM_ECANCELLED);
    free (text);
    ASSERT_EQ (s_wait_result (client, &text), 0);
    ASSERT_EQ (atoi (text), worker);
    free (text);
    ASSERT (s_wait_hanging (0));
    zfarm_client_destroy (&client);
    free ((char *) endpoint);
}

int
main (void)
{
    test_exec ();
    test_api_cancel ();
    test_module_polls ();
    test_module_alone ();
    test_module_stuck ();
    TEST_PASS ("test_cancel");
    return 0;
}
