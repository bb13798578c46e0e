/* test_pool_limits.c: the worker-farm limits: max calls per worker, max
 * call time, and a poison task that kills every worker it reaches. */
#include "pool_common.h"

static void
test_max_calls (void)
{
    const char *extra [] = { "--max-calls-per-worker", "3", NULL };
    const char *endpoint = strdup (pool_broker_start (1, extra).endpoint);
    int pids [6];
    for (int i = 0; i < 6; i++) {
        char *text;
        ASSERT_EQ (th_call (endpoint, "job", "pid", 30000, &text), 0);
        pids [i] = atoi (text);
        free (text);
    }
    ASSERT_EQ (pids [0], pids [1]);
    ASSERT_EQ (pids [1], pids [2]);
    ASSERT_NE (pids [2], pids [3]);
    ASSERT_EQ (pids [3], pids [4]);
    ASSERT_EQ (pids [4], pids [5]);
    free ((char *) endpoint);
}

static void
test_max_call_time (void)
{
    /* Long enough for a "pid" task's shell to start under ASan on a machine
     * with a load of 20 (300 ms was not: stress run 6 saw it overrun), and
     * far below the 61 s a "hang" sleeps. */
    const char *extra [] = { "--max-call-time", "5000", NULL };
    const char *endpoint = strdup (pool_broker_start (1, extra).endpoint);
    char *text;
    ASSERT_EQ (th_call (endpoint, "job", "pid", 30000, &text), 0);
    int first = atoi (text);
    free (text);
    ASSERT_EQ (th_call (endpoint, "job", "hang", 30000, &text), ZFARM_ETIMEOUT);
    ASSERT (strstr (text, "max-call-time"));
    free (text);
    /* Its process was killed, and with it the command it was running. */
    for (int i = 0; i < 500 && pool_hanging (); i++)
        zclock_sleep (10);
    ASSERT_EQ (pool_hanging (), 0);
    /* Its process was killed and replaced. */
    ASSERT_EQ (th_call (endpoint, "job", "pid", 30000, &text), 0);
    ASSERT_NE (atoi (text), first);
    free (text);
    ASSERT_EQ (th_status_counter (endpoint, "workers_replaced"), 1);
    free ((char *) endpoint);
}

static void
test_poison (void)
{
    const char *extra [] = { "--max-retries", "2", NULL };
    const char *endpoint = strdup (pool_broker_start (2, extra).endpoint);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    uint64_t poison;
    ASSERT_EQ (zfarm_client_submit (client, "job", "poison", 6, 60000, &poison), 0);
    for (int i = 0; i < 20; i++)
        ASSERT_EQ (zfarm_client_submit (client, "job", "pid", 3, 60000, NULL), 0);
    int ok = 0, lost = 0;
    for (int i = 0; i < 21; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 60000, &result), 0);
        if (zfarm_result_task_id (result) == poison) {
            ASSERT_EQ (zfarm_result_status (result), ZFARM_EWORKER_LOST);
            ASSERT (strstr (zfarm_result_error (result), "3 attempts"));
            lost++;
        }
        else {
            ASSERT_EQ (zfarm_result_status (result), 0);
            ok++;
        }
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (ok, 20);
    ASSERT_EQ (lost, 1);
    zfarm_client_destroy (&client);
    /* And the farm serves on. */
    ASSERT (th_wait_workers (endpoint, 2, 20000));
    char *text;
    ASSERT_EQ (th_call (endpoint, "job", "pid", 30000, &text), 0);
    free (text);
    free ((char *) endpoint);
}

int
main (void)
{
    test_max_calls ();
    test_max_call_time ();
    test_poison ();
    TEST_PASS ("test_pool_limits");
    return 0;
}
