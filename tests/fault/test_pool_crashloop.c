/* test_pool_crashloop.c: a worker command that dies at start is restarted
 * with growing delays, and the broker keeps answering meanwhile. */
#include "harness.h"
#include <czmq.h>

/* Reads the restart delays the broker logged, in order. */
static int
s_delays (const char *log, long *delays, int max)
{
    char *text = th_read_file (log, NULL);
    int count = 0;
    for (const char *at = text; at && count < max; ) {
        at = strstr (at, "restarting in ");
        if (!at)
            break;
        at += strlen ("restarting in ");
        delays [count++] = atol (at);
    }
    free (text);
    return count;
}

int
main (void)
{
    const char *extra [] = { "--spawn", "1", "--worker-cmd", "exit 3", NULL };
    const char *endpoint = strdup (th_broker_start ("ipc", extra, NULL));
    char log [512];
    snprintf (log, sizeof log, "%s/broker1.err", th_tmpdir ());

    long delays [8];
    int count = 0;
    for (int i = 0; i < 1500 && count < 5; i++) {
        count = s_delays (log, delays, 5);
        zclock_sleep (10);
    }
    ASSERT_EQ (count, 5);
    for (int i = 1; i < count; i++)
        ASSERT_INT (delays [i], >, delays [i - 1]);
    /* Still responsive, and no worker ever registered. */
    char *json = th_status (endpoint);
    ASSERT (json);
    ASSERT_EQ (th_count (json, "\"pid\":"), 0);
    free (json);
    free ((char *) endpoint);
    TEST_PASS ("test_pool_crashloop");
    return 0;
}
