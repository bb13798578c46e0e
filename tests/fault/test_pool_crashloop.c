/* test_pool_crashloop.c: a worker command that dies at start is restarted
 * with growing delays, and the broker keeps answering meanwhile. */
#include "pool_common.h"

int
main (void)
{
    const char *extra [] = { "--spawn", "1", "--worker-cmd", "exit 3", NULL };
    const char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    char log [512];
    snprintf (log, sizeof log, "%s/broker1.err", th_tmpdir ());

    /* Until three quick deaths in a row have had growing delays (each
     * restart checked against the back-off; at most 60 s: a slow machine
     * makes some deaths slower than quick). */
    int streak = 0;
    for (int tries = 0; tries < 3000 && streak < 3; tries++) {
        streak = pool_check_backoff (log);
        if (streak < 3)
            zclock_sleep (20);
    }
    ASSERT_INT (streak, >=, 3);
    /* Still responsive, and no worker ever registered. */
    ASSERT_EQ (th_status_worker_count (endpoint), 0);
    free ((char *) endpoint);
    TEST_PASS ("test_pool_crashloop");
    return 0;
}
