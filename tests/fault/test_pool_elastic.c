/* test_pool_elastic.c: the broker's elastic pool (--spawn-min,
 * --spawn-max, --idle-timeout): it grows while tasks wait, never past its
 * maximum, shrinks back to its minimum once idle, and with a minimum of 0
 * starts a process for the first task. Counts only, never times. */
#include "harness.h"
#include "cli_json.h"
#include "zfarm.h"
#include <czmq.h>

/* 20 s of work for one process: enough for the pool to reach its maximum
 * (one more each 200 ms at most) well before the queue empties. */
#define TASKS 400

/* status.pool.<name>, or -1. */
static long
s_pool (const char *endpoint, const char *name)
{
    json_t *doc = th_status_doc (endpoint);
    if (!doc)
        return -1;
    long value = (long) json_number (json_member (json_member (doc, "pool"),
                                                  name), -1);
    json_destroy (&doc);
    return value;
}

static th_broker_t
s_broker_start (const char *min, const char *max)
{
    static char command [1024];
    /* A 50 ms task. */
    snprintf (command, sizeof command, "%s --service nap --exec 'sleep 0.05;"
              " cat'", th_bin ("zfarm-worker"));
    const char *extra [] = { "--spawn-min", min, "--spawn-max", max,
                             "--idle-timeout", "2000", "--worker-cmd",
                             command, "--liveness", "20", NULL };
    return th_broker_start ("ipc", extra);
}

static void
test_grow_and_shrink (void)
{
    const char *endpoint = strdup (s_broker_start ("1", "8").endpoint);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    ASSERT_EQ (s_pool (endpoint, "min"), 1);
    ASSERT_EQ (s_pool (endpoint, "max"), 8);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    for (int i = 0; i < TASKS; i++)
        ASSERT_EQ (zfarm_client_submit (client, "nap", "x", 1, 120000, NULL),
                   0);
    int ok = 0;
    long most = 0;
    for (int i = 0; i < TASKS; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 120000, &result), 0);
        ok += zfarm_result_status (result) == 0;
        zfarm_result_destroy (&result);
        if (i % 10 == 0) {
            long running = s_pool (endpoint, "running");
            most = running > most? running: most;
        }
    }
    zfarm_client_destroy (&client);
    fprintf (stderr, "test_pool_elastic: at most %ld processes seen, %ld"
             " grown\n", most, s_pool (endpoint, "grown"));
    ASSERT_EQ (ok, TASKS);
    ASSERT_EQ (most, 8);
    ASSERT_INT (s_pool (endpoint, "grown"), >=, 1);
    ASSERT_INT (s_pool (endpoint, "grown"), <=, 7 + s_pool (endpoint,
                                                           "shrunk"));
    /* Back to its minimum once idle: 2 s of idleness and a heartbeat,
     * waited for at most 60 s. */
    ASSERT (th_wait_workers (endpoint, 1, 60000));
    long running = -1;
    for (int tries = 0; tries < 600; tries++) {
        if ((running = s_pool (endpoint, "running")) == 1)
            break;
        zclock_sleep (100);
    }
    ASSERT_EQ (running, 1);
    ASSERT_INT (s_pool (endpoint, "shrunk"), >=, 1);
    ASSERT_EQ (th_status_counter (endpoint, "failed"), 0);
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    free ((char *) endpoint);
}

static void
test_from_zero (void)
{
    const char *endpoint = strdup (s_broker_start ("0", "2").endpoint);
    ASSERT_EQ (s_pool (endpoint, "running"), 0);
    char *text;
    ASSERT_EQ (th_call (endpoint, "nap", "hello", 60000, &text), 0);
    ASSERT_STR_EQ (text, "hello");
    free (text);
    ASSERT_INT (s_pool (endpoint, "grown"), >=, 1);
    /* And back to none. */
    long running = -1;
    for (int tries = 0; tries < 600; tries++) {
        if ((running = s_pool (endpoint, "running")) == 0)
            break;
        zclock_sleep (100);
    }
    ASSERT_EQ (running, 0);
    free ((char *) endpoint);
}

int
main (void)
{
    test_grow_and_shrink ();
    test_from_zero ();
    TEST_PASS ("test_pool_elastic");
    return 0;
}
