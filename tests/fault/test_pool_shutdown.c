/* test_pool_shutdown.c: local workers never outlive their broker, whether
 * it stops cleanly (SIGTERM) or is killed (SIGKILL). */
#include "pool_common.h"

static void
s_check (int sig)
{
    pid_t broker;
    const char *endpoint = strdup (pool_broker_start (3, NULL, &broker));
    int pids [3];
    ASSERT_EQ (th_status_pids (endpoint, pids, 3), 3);
    th_kill (broker, sig);
    int status = th_reap (broker, 20000);
    ASSERT (status != -1);
    if (sig == SIGTERM) {
        ASSERT (WIFEXITED (status));
        ASSERT_EQ (WEXITSTATUS (status), 0);
    }
    ASSERT (th_wait_gone (pids, 3, 10000));
    free ((char *) endpoint);
}

int
main (void)
{
    s_check (SIGTERM);
    s_check (SIGKILL);
    TEST_PASS ("test_pool_shutdown");
    return 0;
}
