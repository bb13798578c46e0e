/* test_outcomes.c: rows of README's failure table not shown elsewhere:
 * a client that dies with a task in flight, a service whose workers all
 * left, and a task too large for the broker. */
#include "harness.h"
#include "zfarm.h"
#include <czmq.h>
#include <signal.h>

/* The client process dies mid-task: the task still runs, its result is
 * counted as undeliverable, and the farm serves on. */
static void
test_client_death (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    const char *args [] = { "--service", "slow", "--exec", "sleep 0.3; cat", NULL };
    th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    const char *argv [] = { th_bin ("zfarm"), "call", "--broker", endpoint,
                            "slow", "orphan", NULL };
    pid_t client = th_spawn ("client", argv);
    for (int i = 0; i < 1000 && th_status_counter (endpoint, "submitted") < 1; i++)
        zclock_sleep (5);
    th_kill (client, SIGKILL);
    th_reap (client, 5000);
    for (int i = 0; i < 1000
         && th_status_counter (endpoint, "results_undeliverable") < 1; i++)
        zclock_sleep (5);
    ASSERT_EQ (th_status_counter (endpoint, "results_undeliverable"), 1);
    char *text;
    ASSERT_EQ (th_call (endpoint, "slow", "next", 10000, &text), 0);
    ASSERT_STR_EQ (text, "next");
    free (text);
    free ((char *) endpoint);
}

/* Every worker of the service left: a task for it ends NO_WORKERS. */
static void
test_no_workers_left (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    const char *args [] = { "--service", "gone", "--exec", "cat", NULL };
    pid_t worker = th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    th_kill (worker, SIGTERM);
    th_reap (worker, 10000);
    ASSERT (th_wait_workers (endpoint, 0, 20000));
    char *text;
    ASSERT_EQ (th_call (endpoint, "gone", "x", 300, &text), ZFARM_ENO_WORKERS);
    free (text);
    free ((char *) endpoint);
}

/* A task over --max-msg-size never reaches the broker (libzmq drops the
 * connection): the client's answer is TIMEOUT at its deadline, since the
 * broker still answers its PINGs on the connection libzmq opens again
 * (common/PROTOCOL.md: BROKER_DOWN is for a broker not heard within the
 * liveness window, 1.5 s; the timeout leaves time for several PINGs), and
 * the broker serves the next client. */
static void
test_too_large (void)
{
    const char *extra [] = { "--max-msg-size", "65536", NULL };
    const char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    const char *args [] = { "--service", "echo", "--exec", "cat", NULL };
    th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    size_t size = 256 * 1024;
    char *big = calloc (1, size + 1);
    memset (big, 'x', size);
    char *text;
    ASSERT_EQ (th_call (endpoint, "echo", big, 2000, &text), ZFARM_ETIMEOUT);
    free (text);
    free (big);
    ASSERT_EQ (th_status_counter (endpoint, "submitted"), 0);
    ASSERT_EQ (th_call (endpoint, "echo", "small", 10000, &text), 0);
    free (text);
    free ((char *) endpoint);
}

int
main (void)
{
    test_client_death ();
    test_no_workers_left ();
    test_too_large ();
    TEST_PASS ("test_outcomes");
    return 0;
}
