/* test_worker_pool.c: zfarm-worker --processes, a host-side pool: workers
 * replaced when they die, with back-off when they die young, stopped with
 * their supervisor, and never outliving it; and the worker-farm limits that
 * the worker host enforces itself (--max-call-time, --max-calls-per-worker).
 *
 * The brokers here have no pool of their own: every worker comes from a
 * zfarm-worker supervisor that the test started. */
#include "pool_common.h"

/* The brokers here find a worker gone by its end (a closed connection),
 * not by silence: 20 heartbeats (10 s) of it, so that a worker starved of
 * CPU is not lost while it runs a task, which it would run a second time
 * when it is back, counting one call too many (an ASan run of
 * test_max_calls saw its worker retired a task early). */
static const char *const s_patient [] = { "--liveness", "20", NULL };

/* "gate" says it has started (a file), then waits for the gate file (at
 * most 20 s), so the test decides when it ends; "hang" sleeps long, with a
 * marker to find it by; anything else answers with the worker's pid (the
 * shell's parent). */
static char s_gate [512];
static char s_started [512];
static char s_script [2048];

static const char *
s_job_script (void)
{
    snprintf (s_gate, sizeof s_gate, "%s/gate", th_tmpdir ());
    snprintf (s_started, sizeof s_started, "%s/started", th_tmpdir ());
    snprintf (s_script, sizeof s_script,
              "read x; case $x in "
              "gate) echo $PPID > '%s'; for i in $(seq 2000); do "
              "[ -e '%s' ] && break; sleep 0.01; done; echo $PPID;; "
              "hang) sleep %s; echo woke;; "
              "*) echo $PPID;; esac", s_started, s_gate, pool_hang_marker ());
    return s_script;
}

/* Waits until a "gate" task runs; returns the pid of its worker. */
static int
s_gate_wait (void)
{
    for (int tries = 0; tries < 2000; tries++) {
        char *text = th_read_file (s_started, NULL);
        int pid = text? atoi (text): 0;
        free (text);
        if (pid > 0)
            return pid;
        zclock_sleep (10);
    }
    TEST_FAIL ("the gate task did not start");
    return 0;
}

static void
s_gate_open (void)
{
    FILE *file = fopen (s_gate, "w");
    ASSERT (file);
    fclose (file);
}

static void
s_gate_reset (void)
{
    remove (s_gate);
    remove (s_started);
}

/* Starts zfarm-worker --processes N --broker endpoint, more arguments in
 * args (NULL-terminated). Its log is <tmpdir>/<log>.err. */
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
    return th_spawn (log, argv);
}

/* A supervisor of `processes` exec workers serving "job", once they are
 * all registered. */
static pid_t
s_job_pool_start (const char *log, const char *endpoint, int processes,
                  const char *limit, const char *value)
{
    const char *args [] = { "--service", "job", "--exec", s_job_script (),
                            limit, value, NULL };
    pid_t supervisor = s_supervisor_start (log, endpoint, processes, args);
    if (!th_wait_workers (endpoint, processes, 20000))
        TEST_FAIL ("%d worker processes did not register", processes);
    return supervisor;
}

static char *
s_log (const char *log)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.err", th_tmpdir (), log);
    char *text = th_read_file (path, NULL);
    return text? text: strdup ("");
}

/* The pid a call of "job" answers with. */
static int
s_job_pid (const char *endpoint)
{
    char *text = NULL;
    int rc = th_call (endpoint, "job", "pid", 30000, &text);
    if (rc != 0)
        TEST_FAIL ("a pid call ended %d: %s", rc, text);
    int pid = atoi (text);
    free (text);
    ASSERT (pid > 0);
    return pid;
}

/* Waits until the broker reports exactly one worker, other than old. */
static int
s_wait_replacement (const char *endpoint, int old)
{
    for (int tries = 0; tries < 1000; tries++) {
        int pids [4];
        int count = th_status_pids (endpoint, pids, 4);
        if (count == 1 && pids [0] != old)
            return pids [0];
        zclock_sleep (20);
    }
    TEST_FAIL ("worker %d was not replaced", old);
    return 0;
}

/* Every worker process runs the supervisor's command line, less
 * --processes N. */
static void
s_check_command_line (int pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/cmdline", pid);
    size_t size;
    char *cmdline = th_read_file (path, &size);
    ASSERT (cmdline);
    bool has_service = false, has_processes = false;
    for (size_t at = 0; at < size; at += strlen (cmdline + at) + 1) {
        has_service |= strcmp (cmdline + at, "--service") == 0;
        has_processes |= strcmp (cmdline + at, "--processes") == 0;
    }
    ASSERT (has_service);
    ASSERT (!has_processes);
    free (cmdline);
}

/* ---- replacement ------------------------------------------------------- */

/* A worker killed mid-task: the task completes on another, once, and a
 * replacement registers. */
static void
test_replace (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", s_patient).endpoint);
    s_job_pool_start ("replace", endpoint, 3, NULL, NULL);
    int before [3];
    ASSERT_EQ (th_status_pids (endpoint, before, 3), 3);
    for (int i = 0; i < 3; i++)
        s_check_command_line (before [i]);

    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "job", "gate", 4, 30000, NULL), 0);
    int victim = s_gate_wait ();
    ASSERT (victim == before [0] || victim == before [1]
            || victim == before [2]);
    /* A worker that the broker this test started reports as its own. */
    ASSERT_EQ (kill (victim, SIGKILL), 0);
    s_gate_open ();

    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t size;
    int answered = atoi (zfarm_result_data (result, &size));
    ASSERT (answered > 0 && answered != victim);
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_pending (client), 0);
    ASSERT_EQ (zfarm_client_wait (client, 300, &result), ZFARM_ENOT_FOUND);
    zfarm_client_destroy (&client);

    ASSERT (th_wait_workers (endpoint, 3, 20000));
    int after [3];
    ASSERT_EQ (th_status_pids (endpoint, after, 3), 3);
    for (int i = 0; i < 3; i++)
        ASSERT_NE (after [i], victim);
    ASSERT_EQ (th_status_counter (endpoint, "retried"), 1);
    char *log = s_log ("replace");
    ASSERT (strstr (log, "killed by signal 9"));
    free (log);
    s_gate_reset ();
    free ((char *) endpoint);
}

/* A worker that dies at start is restarted with growing delays, and the
 * supervisor carries on. */
static void
test_crash_loop (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", s_patient).endpoint);
    const char *args [] = { "--service", "job", "--module",
                            "/nonexistent/zfarm-test.so", NULL };
    pid_t supervisor = s_supervisor_start ("crash", endpoint, 1, args);
    /* Until three quick deaths in a row have had growing delays, or five
     * deaths, each restart checked against the back-off. Quick is within
     * ZF_POOL_YOUNG_MS of the start, and an ASan worker on a machine
     * starved of CPU can take seconds to fail (a stress run saw 0.6 to
     * 4.9 s, never three quick in a row, until ctest's timeout). */
    char path [600];
    snprintf (path, sizeof path, "%s/crash.err", th_tmpdir ());
    int streak = 0, deaths = 0;
    int64_t deadline = zclock_mono () + 60000;
    while (streak < 3 && deaths < 5 && zclock_mono () < deadline) {
        zclock_sleep (20);
        streak = pool_check_backoff (path);
        char *log = s_log ("crash");
        deaths = th_count (log, "; restarting");
        free (log);
    }
    if (streak < 3 && deaths < 5)
        TEST_FAIL ("%d restarts in 60 s, %d quick in a row", deaths, streak);
    char *log = s_log ("crash");
    ASSERT (strstr (log, "exited with status 1 after"));
    free (log);
    ASSERT (th_alive (supervisor));
    th_kill (supervisor, SIGTERM);
    int status = th_reap (supervisor, 20000);
    ASSERT (status != -1 && WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
    free ((char *) endpoint);
}

/* ---- stopping ---------------------------------------------------------- */

/* SIGTERM: a task in hand finishes, then every worker is gone and the
 * supervisor exits 0. SIGKILL: every worker is gone too. */
static void
test_stop (int sig)
{
    const char *endpoint = strdup (th_broker_start ("ipc", s_patient).endpoint);
    pid_t supervisor = s_job_pool_start (sig == SIGTERM? "term": "kill",
                                         endpoint, 3, NULL, NULL);
    int pids [3];
    ASSERT_EQ (th_status_pids (endpoint, pids, 3), 3);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    if (sig == SIGTERM) {
        ASSERT_EQ (zfarm_client_submit (client, "job", "gate", 4, 30000,
                                        NULL), 0);
        s_gate_wait ();
    }
    th_kill (supervisor, sig);
    if (sig == SIGTERM) {
        s_gate_open ();
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
        if (zfarm_result_status (result) != 0)
            TEST_FAIL ("the task in hand failed: %s",
                       zfarm_result_error (result));
        zfarm_result_destroy (&result);
        s_gate_reset ();
    }
    zfarm_client_destroy (&client);
    int status = th_reap (supervisor, 20000);
    ASSERT (status != -1);
    if (sig == SIGTERM) {
        ASSERT (WIFEXITED (status));
        ASSERT_EQ (WEXITSTATUS (status), 0);
    }
    ASSERT (th_wait_gone (pids, 3, 10000));
    free ((char *) endpoint);
}

/* A worker that is the supervisor's grandchild (the shell forks it, as
 * with "CMD; true") has no PR_SET_PDEATHSIG of its own: it stops because it
 * watches ZFARM_SUPERVISOR_PID. */
static void
test_orphan_guard (void)
{
    static char command [1024];
    snprintf (command, sizeof command, "%s --service job --exec cat "
              "2>>%s/orphan.err; true", th_bin ("zfarm-worker"), th_tmpdir ());
    const char *extra [] = { "--spawn", "2", "--worker-cmd", command, NULL };
    pid_t broker;
    th_broker_t started = th_broker_start ("ipc", extra);
    broker = started.pid;
    const char *endpoint = strdup (started.endpoint);
    ASSERT (th_wait_workers (endpoint, 2, 20000));
    int pids [2];
    ASSERT_EQ (th_status_pids (endpoint, pids, 2), 2);
    th_kill (broker, SIGKILL);
    ASSERT (th_reap (broker, 20000) != -1);
    if (!th_wait_gone (pids, 2, 10000)) {
        /* Its own broker's workers: leave nothing behind, even failing. */
        kill (pids [0], SIGKILL);
        kill (pids [1], SIGKILL);
        TEST_FAIL ("workers %d and %d outlived their supervisor", pids [0],
                   pids [1]);
    }
    char *log = s_log ("orphan");
    ASSERT_EQ (th_count (log, "is gone; exiting with status 77"), 2);
    free (log);
    free ((char *) endpoint);
}

/* A supervisor that is itself a pool's grandchild stops its workers when
 * that pool's owner dies, and leaves with it. */
static void
test_orphan_guard_supervisor (void)
{
    static char command [1024];
    snprintf (command, sizeof command, "%s --processes 2 --service job "
              "--exec cat 2>>%s/nested.err; true", th_bin ("zfarm-worker"),
              th_tmpdir ());
    const char *extra [] = { "--spawn", "1", "--worker-cmd", command, NULL };
    pid_t broker;
    th_broker_t started = th_broker_start ("ipc", extra);
    broker = started.pid;
    const char *endpoint = strdup (started.endpoint);
    ASSERT (th_wait_workers (endpoint, 2, 20000));
    int pids [2];
    ASSERT_EQ (th_status_pids (endpoint, pids, 2), 2);
    th_kill (broker, SIGKILL);
    ASSERT (th_reap (broker, 20000) != -1);
    if (!th_wait_gone (pids, 2, 10000)) {
        kill (pids [0], SIGKILL);
        kill (pids [1], SIGKILL);
        TEST_FAIL ("workers %d and %d outlived their supervisors", pids [0],
                   pids [1]);
    }
    char *log = s_log ("nested");
    ASSERT (strstr (log, "is gone; stopping the workers now"));
    free (log);
    free ((char *) endpoint);
}

/* ---- limits ------------------------------------------------------------- */

/* Long enough for a quick task (a shell's start, a 10 ms sleep) under ASan
 * on a machine with a load of 20 (300 ms was not: CI saw a "pid" call
 * overrun it), and far below the 61 s that "hang" and "sleep 60000" take. */
#define MAX_CALL_TIME "5000"

/* A --module handler cannot be interrupted: the client gets TIMEOUT when
 * the time is up, and the process ends (76) to be replaced. */
static void
test_max_call_time_module (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", s_patient).endpoint);
    const char *args [] = { "--service", "sleep",
                            "--module", th_module ("primes.so"),
                            "--function", "zfarm_sleep",
                            "--max-call-time", MAX_CALL_TIME, NULL };
    s_supervisor_start ("overrun", endpoint, 1, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    int first;
    ASSERT_EQ (th_status_pids (endpoint, &first, 1), 1);

    char *text = NULL;
    ASSERT_EQ (th_call (endpoint, "sleep", "60000", 30000, &text),
               ZFARM_ETIMEOUT);
    ASSERT_STR_EQ (text,
                   "ran longer than --max-call-time " MAX_CALL_TIME " ms");
    free (text);
    s_wait_replacement (endpoint, first);
    ASSERT (th_wait_gone (&first, 1, 10000));
    ASSERT_EQ (th_call (endpoint, "sleep", "10", 30000, &text), 0);
    ASSERT_STR_EQ (text, "slept 10");
    free (text);
    char *log = s_log ("overrun");
    ASSERT (strstr (log, "exited with status 76"));
    free (log);
    free ((char *) endpoint);
}

/* An --exec command is killed at --max-call-time; its worker lives on. */
static void
test_max_call_time_exec (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", s_patient).endpoint);
    const char *args [] = { "--service", "job", "--exec", s_job_script (),
                            "--max-call-time", MAX_CALL_TIME, NULL };
    th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    int pid = s_job_pid (endpoint);
    char *text = NULL;
    ASSERT_EQ (th_call (endpoint, "job", "hang", 30000, &text),
               ZFARM_ETIMEOUT);
    ASSERT_STR_EQ (text,
                   "ran longer than --max-call-time " MAX_CALL_TIME " ms");
    free (text);
    for (int i = 0; i < 1000 && pool_hanging (); i++)
        zclock_sleep (10);
    ASSERT_EQ (pool_hanging (), 0);
    ASSERT_EQ (s_job_pid (endpoint), pid);
    free ((char *) endpoint);
}

/* A worker stopped (SIGSTOP: as a process starved of CPU) across its
 * task's --max-call-time and the grace after it wakes with both past: its
 * handler still has the grace, from when the overrun is taken, to return,
 * and the worker lives on. The grace counted from the call's end gave it
 * none: the watcher took the overrun and the end of the grace in one
 * look, and the process ended (76) while the handler was about to return;
 * a lone worker's next call then found no worker (the likely end of a CI
 * run of test_max_call_time_exec, under ASan at a load of 15). Whether the
 * watcher or the handler wakes first is the scheduler's choice: without
 * the fix this failed 3 runs in 3. */
static void
test_max_call_time_exec_stopped (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", s_patient).endpoint);
    const char *args [] = { "--service", "job", "--exec", s_job_script (),
                            "--max-call-time", MAX_CALL_TIME, NULL };
    pid_t worker = th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    int pid = s_job_pid (endpoint);
    ASSERT_EQ (pid, worker);

    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "job", "hang", 4, 30000, NULL), 0);
    for (int i = 0; i < 2000 && !pool_hanging (); i++)
        zclock_sleep (10);
    ASSERT_EQ (pool_hanging (), 1);
    /* The handler started before its command did: its call ends within
     * MAX_CALL_TIME of now, and its grace (1 s) within 1.5 s after. The
     * broker (--liveness 20) waits 10 s before it takes silence for
     * death. */
    ASSERT_EQ (kill (worker, SIGSTOP), 0);
    zclock_sleep (atoi (MAX_CALL_TIME) + 1500);
    ASSERT_EQ (kill (worker, SIGCONT), 0);

    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), ZFARM_ETIMEOUT);
    ASSERT_STR_EQ (zfarm_result_error (result),
                   "ran longer than --max-call-time " MAX_CALL_TIME " ms");
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    for (int i = 0; i < 1000 && pool_hanging (); i++)
        zclock_sleep (10);
    ASSERT_EQ (pool_hanging (), 0);
    /* Its command killed, the handler returns within the grace. */
    zclock_sleep (1500);
    if (!th_alive (worker))
        TEST_FAIL ("the worker ended (its log: %s/worker*.err)", th_tmpdir ());
    ASSERT_EQ (s_job_pid (endpoint), pid);
    free ((char *) endpoint);
}

/* The process is retired after exactly N tasks, and replaced. */
static void
test_max_calls (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", s_patient).endpoint);
    s_job_pool_start ("recycle", endpoint, 1, "--max-calls-per-worker", "3");
    int pids [7];
    for (int i = 0; i < 7; i++)
        pids [i] = s_job_pid (endpoint);
    ASSERT_EQ (pids [0], pids [1]);
    ASSERT_EQ (pids [1], pids [2]);
    ASSERT_NE (pids [2], pids [3]);
    ASSERT_EQ (pids [3], pids [4]);
    ASSERT_EQ (pids [4], pids [5]);
    ASSERT_NE (pids [5], pids [6]);
    char *log = s_log ("recycle");
    ASSERT (strstr (log, "retired (exited with status 75"));
    free (log);
    free ((char *) endpoint);
}

/* ---- usage -------------------------------------------------------------- */

static void
s_usage_case (const char *needle, const char *const args [])
{
    const char *argv [16] = { th_bin ("zfarm-worker") };
    int argc = 1;
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
    CASE ("--processes: expected a number from 1 to 1024, got '0'",
          "--service", "s", "--exec", "cat", "--processes", "0");
    CASE ("--drain-timeout goes with --processes",
          "--service", "s", "--exec", "cat", "--drain-timeout", "10");
    CASE ("--max-call-time: expected", "--service", "s", "--exec", "cat",
          "--max-call-time", "-5");
    CASE ("--max-calls-per-worker: expected", "--service", "s", "--exec",
          "cat", "--max-calls-per-worker", "x");
    /* The supervisor checks what it can before it starts a process. */
    CASE ("--broker: invalid endpoint 'nowhere'", "--broker", "nowhere",
          "--service", "s", "--exec", "cat", "--processes", "2");
#undef CASE
}

int
main (void)
{
    test_usage ();
    test_replace ();
    test_crash_loop ();
    test_stop (SIGTERM);
    test_stop (SIGKILL);
    test_orphan_guard ();
    test_orphan_guard_supervisor ();
    test_max_call_time_module ();
    test_max_call_time_exec ();
    test_max_call_time_exec_stopped ();
    test_max_calls ();
    TEST_PASS ("test_worker_pool");
    return 0;
}
