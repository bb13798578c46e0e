/* test_pool_replace.c: a local worker killed mid-task costs nothing: the
 * task completes on another worker, once, and the pool is whole again. */
#include "pool_common.h"

int
main (void)
{
    const char *endpoint = strdup (pool_broker_start (2, NULL).endpoint);
    int before [2];
    ASSERT_EQ (th_status_pids (endpoint, before, 2), 2);

    zfarm_client_t *client = zfarm_client_new (endpoint);
    uint64_t task_id;
    ASSERT_EQ (zfarm_client_submit (client, "job", "slow", 4, 30000, &task_id), 0);
    int victim = 0;
    for (int i = 0; i < 500 && !victim; i++) {
        victim = pool_busy_pid (endpoint);
        if (!victim)
            zclock_sleep (10);
    }
    ASSERT (victim);
    /* A worker of the broker this test started, found in its status. */
    ASSERT_EQ (kill (victim, SIGKILL), 0);

    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    size_t size;
    ASSERT_STR_EQ (zfarm_result_data (result, &size), "done\n");
    zfarm_result_destroy (&result);
    /* Exactly one result: nothing else is pending or arrives. */
    ASSERT_EQ (zfarm_client_pending (client), 0);
    ASSERT_EQ (zfarm_client_wait (client, 300, &result), ZFARM_ENOT_FOUND);
    zfarm_client_destroy (&client);

    ASSERT (th_wait_workers (endpoint, 2, 20000));
    /* One worker died, with one task: one replacement, one retry. */
    ASSERT_EQ (th_status_counter (endpoint, "workers_replaced"), 1);
    ASSERT_EQ (th_status_counter (endpoint, "retried"), 1);
    int after [2];
    ASSERT_EQ (th_status_pids (endpoint, after, 2), 2);
    ASSERT (after [0] != victim && after [1] != victim);
    free ((char *) endpoint);
    TEST_PASS ("test_pool_replace");
    return 0;
}
