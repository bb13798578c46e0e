/* test_worker_host.c: zfarm-worker as users run it, against a real broker.
 *
 * --exec with cat, with failing and hanging commands, and with a barrier
 * that only capacity 4 can pass; the example modules; --max-tasks; a clean
 * stop on SIGTERM with a task in hand; registering again after the broker
 * restarts; the one-line errors for bad usage; and the C API itself, with
 * a worker running in this process. */
#include "harness.h"
#include "zf_defaults.h"
#include "zf_exit.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm.h"

#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000           /* bound on every wait for an event */

/* Runs one task through the client API. Returns its status; *text_p gets
 * the result data on success, the error text otherwise (caller frees). */
static int
s_call (const char *endpoint, const char *service, const void *data,
        size_t size, int timeout_ms, char **text_p)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    zfarm_result_t *result = NULL;
    int rc = zfarm_client_call (client, service, data, size, timeout_ms,
                                &result);
    ASSERT (result);
    const char *text = rc == 0? zfarm_result_data (result, NULL)
                              : zfarm_result_error (result);
    *text_p = strdup (text);
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    return rc;
}

/* Asserts that a call with a text payload succeeds with expected. */
static void
s_expect (const char *endpoint, const char *service, const char *payload,
          const char *expected)
{
    char *text;
    int rc = s_call (endpoint, service, payload, strlen (payload), WAIT_MS,
                     &text);
    if (rc != 0)
        TEST_FAIL ("%s '%s': %s: %s", service, payload, zfarm_err_name (rc),
                   text);
    ASSERT_STR_EQ (text, expected);
    free (text);
}

/* Asserts that a call fails with HANDLER_ERROR and a text holding needle. */
static void
s_expect_failure (const char *endpoint, const char *service,
                  const char *payload, const char *needle)
{
    char *text;
    int rc = s_call (endpoint, service, payload, strlen (payload), WAIT_MS,
                     &text);
    ASSERT_EQ (rc, ZFARM_EHANDLER_ERROR);
    if (!strstr (text, needle))
        TEST_FAIL ("%s: error '%s' lacks '%s'", service, text, needle);
    free (text);
}

/* Starts a worker with args (NULL-terminated) and waits until the broker
 * counts `workers` in all. */
static pid_t
s_worker (const char *endpoint, int workers, const char *const args [])
{
    pid_t pid = th_worker_start (endpoint, args);
    if (!th_wait_workers (endpoint, workers, WAIT_MS))
        TEST_FAIL ("worker %s did not register (see %s)", args [1],
                   th_tmpdir ());
    return pid;
}

/* SIGTERMs a worker and checks that it stops cleanly, leaving `workers`
 * registered with the broker. */
static void
s_stop (const char *endpoint, pid_t pid, int workers)
{
    th_kill (pid, SIGTERM);
    int status = th_reap (pid, WAIT_MS);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
    ASSERT (th_wait_workers (endpoint, workers, WAIT_MS));
}

static bool
s_file_appears (const char *path)
{
    for (int tries = 0; tries < WAIT_MS / 10; tries++) {
        if (access (path, F_OK) == 0)
            return true;
        zclock_sleep (10);
    }
    return false;
}

/* ---- usage ---------------------------------------------------------------- */

/* Runs zfarm-worker with args; checks its exit code and that stderr (or
 * stdout, for exit 0) holds needle. */
static void
s_usage_case (int expected_exit, const char *needle,
              const char *const args [])
{
    const char *argv [16] = { th_bin ("zfarm-worker") };
    for (int i = 0; args [i]; i++)
        argv [i + 1] = args [i];
    char *out, *err;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, WAIT_MS);
    ASSERT (WIFEXITED (status));
    if (WEXITSTATUS (status) != expected_exit
    ||  !strstr (expected_exit? err: out, needle))
        TEST_FAIL ("%s ...: exit %d, stdout '%s', stderr '%s'; wanted exit "
                   "%d and '%s'", args [0], WEXITSTATUS (status), out, err,
                   expected_exit, needle);
    if (expected_exit)
        ASSERT_EQ (th_count (err, "\n"), 1);    /* one line */
    free (out);
    free (err);
}

static void
test_usage (void)
{
#define CASE(exit, needle, ...) \
    s_usage_case (exit, needle, (const char *const []) { __VA_ARGS__, NULL })
    CASE (0, "Usage: zfarm-worker", "--help");
    CASE (0, "zfarm-worker " ZFARM_VERSION "\n", "--version");
    CASE (2, "zfarm-worker: --capacity: expected a number from 1 to 1024, "
             "got 'x'", "--service", "s", "--exec", "cat", "--capacity", "x");
    CASE (2, "got '0'", "--service", "s", "--exec", "cat", "--capacity", "0");
    CASE (2, "got '1025'", "--service", "s", "--exec", "cat",
          "--capacity", "1025");
    CASE (2, "--heartbeat: expected", "--service", "s", "--exec", "cat",
          "--heartbeat", "5");
    CASE (2, "--max-tasks: expected", "--service", "s", "--exec", "cat",
          "--max-tasks", "-1");
    CASE (2, "--service is required", "--exec", "cat");
    CASE (2, "--module or --exec is required", "--service", "s");
    CASE (2, "not both", "--service", "s", "--exec", "cat",
          "--module", "x.so");
    CASE (2, "--function goes with --module", "--service", "s",
          "--exec", "cat", "--function", "f");
    CASE (2, "'two words' is not a service name", "--service", "two words");
    CASE (2, "'zfarm.x' is not a service name", "--service", "zfarm.x");
    CASE (2, "'s' given twice", "--service", "s", "--service", "s");
    CASE (2, "unknown option '--bogus'", "--bogus");
    CASE (2, "missing value for '--exec'", "--service", "s", "--exec");
    CASE (2, "unexpected argument 'extra'", "--service", "s",
          "--exec", "cat", "extra");
    CASE (2, "--broker: invalid endpoint 'nowhere'", "--broker", "nowhere",
          "--service", "s", "--exec", "cat");
    setenv ("ZFARM_BROKER", "elsewhere", 1);
    CASE (2, "ZFARM_BROKER: invalid endpoint 'elsewhere'", "--service", "s",
          "--exec", "cat");
    unsetenv ("ZFARM_BROKER");
    CASE (1, "--module: ", "--service", "s", "--module", "/nonexistent.so");
    CASE (1, "has no function 'nope'", "--service", "s",
          "--module", th_module ("echo.so"), "--function", "nope");
#undef CASE
}

/* ---- --exec --------------------------------------------------------------- */

/* cat returns its payload: through the API, and 10 MB through zfarm call,
 * which must not deadlock on pipes that hold 64 KB. */
static void
test_exec_cat (const char *endpoint)
{
    pid_t worker = s_worker (endpoint, 1, (const char *const []) {
        "--service", "cat", "--exec", "cat", NULL });
    s_expect (endpoint, "cat", "hello", "hello");
    s_expect (endpoint, "cat", "", "");

    size_t size = 10 << 20;
    char *payload = malloc (size);
    for (size_t i = 0; i < size; i++)
        payload [i] = (char) (i * 7919 >> 3);
    const char *argv [] = { th_bin ("zfarm"), "call", "--broker", endpoint,
                            "--timeout", "30000", "cat", NULL };
    char *out, *err;
    size_t out_size;
    int status = th_run (argv, payload, size, &out, &out_size, &err, 60000);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        TEST_FAIL ("zfarm call cat: status %d: %s", status, err);
    ASSERT_EQ (out_size, size);
    ASSERT_MEM_EQ (out, payload, size);
    free (payload);
    free (out);
    free (err);
    s_stop (endpoint, worker, 0);
}

/* A failing command's exit status and stderr come back as the error; so
 * does a signal; a hung command dies at the task's timeout, which frees
 * its slot for the next task. */
static void
test_exec_failures (const char *endpoint)
{
    const char *command =
        "case $ZFARM_SERVICE in "
        "fail) echo oops >&2; exit 3;; "
        "signal) kill -9 $$;; "
        "hang) sleep 60;; "
        "*) echo \"$ZFARM_SERVICE $ZFARM_ATTEMPT\";; esac";
    pid_t worker = s_worker (endpoint, 1, (const char *const []) {
        "--service", "fail", "--service", "signal", "--service", "hang",
        "--service", "env", "--exec", command, NULL });
    s_expect_failure (endpoint, "fail", "", "exit status 3: oops");
    s_expect_failure (endpoint, "signal", "", "killed by signal 9");

    char *text;
    ASSERT_EQ (s_call (endpoint, "hang", "", 0, 300, &text), ZFARM_ETIMEOUT);
    free (text);
    s_expect (endpoint, "env", "", "env 1\n");

    /* The CLI reports the handler's error and fails. */
    const char *argv [] = { th_bin ("zfarm"), "call", "--broker", endpoint,
                            "fail", "x", NULL };
    char *out, *err;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, WAIT_MS);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) != 0);
    ASSERT (strstr (err, "exit status 3: oops"));
    free (out);
    free (err);
    s_stop (endpoint, worker, 0);
}

/* Four tasks wait for each other at a barrier of files: they pass it only
 * if all four run at once. Each gives up after 10 s, so the test fails,
 * rather than hangs, if capacity is not honoured. */
static void
test_exec_capacity (const char *endpoint)
{
    char barrier [400], command [1200];
    snprintf (barrier, sizeof barrier, "%s/barrier", th_tmpdir ());
    ASSERT_EQ (mkdir (barrier, 0700), 0);
    snprintf (command, sizeof command,
        "touch %s/$$; i=0; "
        "while [ $(ls %s | wc -l) -lt 4 ]; do "
        "  i=$((i+1)); [ $i -gt 200 ] && { echo alone >&2; exit 1; }; "
        "  sleep 0.05; "
        "done; echo ok", barrier, barrier);
    pid_t worker = s_worker (endpoint, 1, (const char *const []) {
        "--service", "barrier", "--capacity", "4", "--exec", command, NULL });

    zfarm_client_t *client = zfarm_client_new (endpoint);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ (zfarm_client_submit (client, "barrier", "", 0, 30000,
                                        NULL), 0);
    for (int i = 0; i < 4; i++) {
        zfarm_result_t *result;
        ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
        if (zfarm_result_status (result) != 0)
            TEST_FAIL ("barrier: %s", zfarm_result_error (result));
        ASSERT_STR_EQ (zfarm_result_data (result, NULL), "ok\n");
        zfarm_result_destroy (&result);
    }
    zfarm_client_destroy (&client);
    s_stop (endpoint, worker, 0);
}

/* ---- --module ------------------------------------------------------------- */

static void
test_modules (const char *endpoint)
{
    const char *echo = th_module ("echo.so");
    const char *primes = th_module ("primes.so");
    pid_t workers [] = {
        s_worker (endpoint, 1, (const char *const []) {
            "--service", "echo", "--module", echo, NULL }),
        s_worker (endpoint, 2, (const char *const []) {
            "--service", "fail", "--module", echo,
            "--function", "zfarm_fail", NULL }),
        s_worker (endpoint, 3, (const char *const []) {
            "--service", "primes", "--module", primes, "--capacity", "2",
            NULL }),
        s_worker (endpoint, 4, (const char *const []) {
            "--service", "sleep", "--module", primes,
            "--function", "zfarm_sleep", NULL }) };

    s_expect (endpoint, "echo", "hello, world", "hello, world");
    s_expect (endpoint, "echo", "", "");
    s_expect_failure (endpoint, "fail", "x", "failed on purpose");
    s_expect (endpoint, "primes", "0", "0");
    s_expect (endpoint, "primes", "2", "1");
    s_expect (endpoint, "primes", "100", "25");
    s_expect (endpoint, "primes", "1000000\n", "78498");
    s_expect_failure (endpoint, "primes", "ten", "expected a whole number");
    s_expect_failure (endpoint, "primes", "100000001", "expected a whole");
    s_expect (endpoint, "sleep", "20", "slept 20");
    for (int i = 0; i < 4; i++)
        s_stop (endpoint, workers [i], 3 - i);
}

/* A handler that aborts takes its worker process down, and only it. */
static void
test_module_crash (const char *endpoint)
{
    pid_t worker = s_worker (endpoint, 1, (const char *const []) {
        "--service", "crash", "--module", th_module ("echo.so"),
        "--function", "zfarm_crash", NULL });
    zfarm_client_t *client = zfarm_client_new (endpoint);
    zfarm_client_set_retries (client, 0);
    ASSERT_EQ (zfarm_client_call (client, "crash", "", 0, WAIT_MS, NULL),
               ZFARM_EWORKER_LOST);
    zfarm_client_destroy (&client);
    int status = th_reap (worker, WAIT_MS);
    ASSERT (WIFSIGNALED (status));
    ASSERT_EQ (WTERMSIG (status), SIGABRT);
    ASSERT (th_wait_workers (endpoint, 0, WAIT_MS));
}

/* ---- the C API, in this process ------------------------------------------ */

/* Replies with what the handler sees of its task. */
static int
s_describe (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const char *data = zfarm_task_data (task, &size);
    unsigned timeout = zfarm_task_timeout (task);
    char text [256];
    int length = snprintf (text, sizeof text, "%s attempt %u, %s, %zu: %s",
                           zfarm_task_service (task),
                           zfarm_task_attempt (task),
                           timeout > 0 && timeout <= WAIT_MS? "timeout set"
                                                            : "no timeout",
                           size, data);
    return zfarm_task_reply (task, text, (size_t) length);
}

static int
s_reply_twice (zfarm_task_t *task, void *arg)
{
    (void) arg;
    zfarm_task_reply (task, "first", 5);
    return zfarm_task_reply (task, "second", 6);
}

static int
s_return_seven (zfarm_task_t *task, void *arg)
{
    (void) arg;
    zfarm_task_reply (task, "not sent", 8);
    return 7;
}

static int
s_stop_worker (zfarm_task_t *task, void *arg)
{
    zfarm_worker_stop ((zfarm_worker_t *) arg);
    return zfarm_task_reply (task, "stopping", 8);
}

typedef struct {
    zfarm_worker_t *worker;
    pthread_t thread;
    int rc;                     /* what run() returned */
} runner_t;

static void *
s_runner (void *arg)
{
    runner_t *self = arg;
    self->rc = zfarm_worker_run (self->worker);
    return NULL;
}

static void
s_runner_start (runner_t *self, zfarm_worker_t *worker)
{
    self->worker = worker;
    self->rc = -1;
    ASSERT_EQ (pthread_create (&self->thread, NULL, s_runner, self), 0);
}

/* Waits (bounded) for run() to return; asserts it returned 0. */
static void
s_runner_join (runner_t *self)
{
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_MS / 1000;
    if (pthread_timedjoin_np (self->thread, NULL, &deadline) != 0)
        TEST_FAIL ("zfarm_worker_run did not return");
    ASSERT_EQ (self->rc, 0);
}

static void
test_api_arguments (void)
{
    ASSERT (zfarm_worker_new ("nowhere") == NULL);
    zfarm_worker_t *worker = zfarm_worker_new ("ipc:///nonexistent/zfarm");
    ASSERT (worker);
    ASSERT_EQ (zfarm_worker_run (worker), ZFARM_EINVALID);   /* no service */
    ASSERT_EQ (zfarm_worker_register (worker, "a b", s_describe, NULL),
               ZFARM_EINVALID);
    ASSERT_EQ (zfarm_worker_register (worker, "zfarm.x", s_describe, NULL),
               ZFARM_EINVALID);
    ASSERT_EQ (zfarm_worker_register (worker, "ok", NULL, NULL),
               ZFARM_EINVALID);
    for (int i = 0; i < 16; i++) {
        char name [8];
        snprintf (name, sizeof name, "s%d", i);
        ASSERT_EQ (zfarm_worker_register (worker, name, s_describe, NULL), 0);
    }
    ASSERT_EQ (zfarm_worker_register (worker, "s16", s_describe, NULL),
               ZFARM_EINVALID);
    ASSERT_EQ (zfarm_worker_set_capacity (worker, 0), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_worker_set_capacity (worker, 1025), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_worker_set_heartbeat (worker, 5, 3), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_worker_set_heartbeat (worker, 500, 0), ZFARM_EINVALID);
    /* A stop before run makes run return at once, without a broker. */
    zfarm_worker_stop (worker);
    ASSERT_EQ (zfarm_worker_run (worker), 0);
    zfarm_worker_destroy (&worker);
    zfarm_worker_destroy (&worker);     /* harmless */
}

/* Sends a SUBMIT whose payload is two frames, as a raw peer may. */
static void
s_expect_two_frames (const char *endpoint)
{
    zsock_t *client = zsock_new_dealer (endpoint);
    zsock_set_rcvtimeo (client, WAIT_MS);
    zf_header_t header;
    zf_header_init (&header, ZF_SUBMIT);
    header.task_id = 1;
    zf_header_set_service (&header, "describe");
    header.timeout_ms = WAIT_MS;
    zmsg_t *payload = zmsg_new ();
    zmsg_addstr (payload, "ab");
    zmsg_addstr (payload, "cd");
    ASSERT_EQ (zf_wire_send (client, &header, &payload), 0);
    zf_decoder_t *decoder = zf_decoder_new ();
    ASSERT_EQ (zf_wire_recv (client, decoder, &header, &payload), 0);
    ASSERT_EQ (header.command, ZF_RESULT);
    ASSERT_EQ (header.status, 0);
    size_t size;
    char *result = zf_wire_join (payload, &size);
    ASSERT_STR_EQ (result, "describe attempt 1, timeout set, 4: abcd");
    free (result);
    zmsg_destroy (&payload);
    zf_decoder_destroy (&decoder);
    zsock_destroy (&client);
}

/* A worker in this process: what handlers see and send, a stop from a
 * handler, then run() again until max_tasks. */
static void
test_api_worker (const char *endpoint)
{
    zfarm_worker_t *worker = zfarm_worker_new (endpoint);
    ASSERT_EQ (zfarm_worker_register (worker, "describe", s_describe, NULL), 0);
    ASSERT_EQ (zfarm_worker_register (worker, "twice", s_reply_twice, NULL), 0);
    ASSERT_EQ (zfarm_worker_register (worker, "seven", s_return_seven, NULL),
               0);
    ASSERT_EQ (zfarm_worker_register (worker, "stop", s_stop_worker, worker),
               0);
    ASSERT_EQ (zfarm_worker_set_capacity (worker, 3), 0);
    runner_t runner;
    s_runner_start (&runner, worker);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));

    s_expect (endpoint, "describe", "xyz",
              "describe attempt 1, timeout set, 3: xyz");
    s_expect_two_frames (endpoint);
    s_expect (endpoint, "twice", "", "second");
    s_expect_failure (endpoint, "seven", "", "handler returned 7");
    s_expect (endpoint, "stop", "", "stopping");
    s_runner_join (&runner);
    ASSERT (th_wait_workers (endpoint, 0, WAIT_MS));

    zfarm_worker_set_max_tasks (worker, 2);
    s_runner_start (&runner, worker);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));
    s_expect (endpoint, "describe", "1", "describe attempt 1, timeout set, "
              "1: 1");
    s_expect (endpoint, "twice", "", "second");
    s_runner_join (&runner);
    ASSERT (th_wait_workers (endpoint, 0, WAIT_MS));
    zfarm_worker_destroy (&worker);
}

/* ---- life cycle ----------------------------------------------------------- */

/* After --max-tasks the worker leaves, with the exit code that tells a
 * supervisor the exit was planned. */
static void
test_max_tasks (const char *endpoint)
{
    pid_t worker = s_worker (endpoint, 1, (const char *const []) {
        "--service", "cat", "--exec", "cat", "--max-tasks", "2", NULL });
    s_expect (endpoint, "cat", "one", "one");
    s_expect (endpoint, "cat", "two", "two");
    int status = th_reap (worker, WAIT_MS);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), ZF_EXIT_RECYCLED);
    ASSERT (th_wait_workers (endpoint, 0, WAIT_MS));
}

/* SIGTERM while a task runs: the task still finishes and its result
 * arrives, then the worker leaves and exits 0. */
static void
test_sigterm_finishes_task (const char *endpoint)
{
    char started [512], go [512], command [1200];
    snprintf (started, sizeof started, "%s/started", th_tmpdir ());
    snprintf (go, sizeof go, "%s/go", th_tmpdir ());
    snprintf (command, sizeof command,
        "touch %s; i=0; "
        "while [ ! -e %s ] && [ $i -lt 1000 ]; do i=$((i+1)); sleep 0.01; "
        "done; echo finished", started, go);
    pid_t worker = s_worker (endpoint, 1, (const char *const []) {
        "--service", "slow", "--exec", command, NULL });

    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "slow", "", 0, 30000, NULL), 0);
    ASSERT (s_file_appears (started));
    th_kill (worker, SIGTERM);
    fclose (fopen (go, "w"));

    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    ASSERT_STR_EQ (zfarm_result_data (result, NULL), "finished\n");
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    int status = th_reap (worker, WAIT_MS);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);
    ASSERT (th_wait_workers (endpoint, 0, WAIT_MS));
}

/* Waits until the file at path holds needle. */
static bool
s_log_shows (const char *path, const char *needle)
{
    for (int tries = 0; tries < WAIT_MS / 10; tries++) {
        char *text = th_read_file (path, NULL);
        bool found = text && strstr (text, needle);
        free (text);
        if (found)
            return true;
        zclock_sleep (10);
    }
    return false;
}

/* Starts a broker on endpoint (again), with a fast heartbeat. */
static pid_t
s_broker_again (const char *endpoint)
{
    const char *argv [] = { th_bin ("zfarm-broker"), "--bind", endpoint,
                            "--heartbeat", "100", "--liveness", "3", NULL };
    return th_spawn ("broker-again", argv);
}

/* The broker dies: the worker notices the silence, and registers with the
 * next broker on that endpoint. A broker that restarts at once does not
 * know the worker, says DISCONNECT, and the worker registers again. */
static void
test_reconnect (void)
{
    const char *fast [] = { "--heartbeat", "100", "--liveness", "3", NULL };
    pid_t broker;
    char endpoint [512], log [512];
    th_broker_t started = th_broker_start ("ipc", fast);
    broker = started.pid;
    snprintf (endpoint, sizeof endpoint, "%s", started.endpoint);
    const char *argv [] = { th_bin ("zfarm-worker"), "--broker", endpoint,
                            "--service", "cat", "--exec", "cat",
                            "--heartbeat", "100", "--liveness", "3", NULL };
    pid_t worker = th_spawn ("reconnecting-worker", argv);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));
    s_expect (endpoint, "cat", "before", "before");

    th_kill (broker, SIGKILL);
    th_reap (broker, WAIT_MS);
    snprintf (log, sizeof log, "%s/reconnecting-worker.err", th_tmpdir ());
    ASSERT (s_log_shows (log, "no word from broker"));
    broker = s_broker_again (endpoint);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));
    s_expect (endpoint, "cat", "after silence", "after silence");

    th_kill (broker, SIGKILL);
    th_reap (broker, WAIT_MS);
    s_broker_again (endpoint);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));
    s_expect (endpoint, "cat", "after restart", "after restart");
    s_stop (endpoint, worker, 0);
}

int
main (void)
{
    test_usage ();
    char endpoint [512];
    snprintf (endpoint, sizeof endpoint, "%s",
              th_broker_start ("tcp", NULL).endpoint);
    test_exec_cat (endpoint);
    test_exec_failures (endpoint);
    test_exec_capacity (endpoint);
    test_modules (endpoint);
    test_module_crash (endpoint);
    test_max_tasks (endpoint);
    test_api_arguments ();
    test_api_worker (endpoint);
    test_sigterm_finishes_task (endpoint);
    test_reconnect ();
    TEST_PASS ("test_worker_host");
    return 0;
}
