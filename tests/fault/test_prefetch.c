/* test_prefetch.c: the broker gives busy workers short tasks in advance,
 * without Celery's flaw: a short task that waits behind a long one at a
 * busy worker is taken back and run by a worker that became free. */
#include "harness.h"
#include "zfarm.h"
#include <czmq.h>

/* zfarm_sleep: the payload is milliseconds to sleep. */
static const char *
s_start (int workers)
{
    /* A loaded test machine can make even empty tasks take milliseconds:
     * count anything under a second as short. */
    const char *extra [] = { "--prefetch-below", "1000", NULL };
    const char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    const char *args [] = { "--service", "job", "--module",
                            th_module ("primes.so"), "--function",
                            "zfarm_sleep", NULL };
    for (int i = 0; i < workers; i++)
        th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, workers, 20000));
    return endpoint;
}

static void
s_warm_up (zfarm_client_t *client)
{
    for (int i = 0; i < 20; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_call (client, "job", "0", 1, 10000, &result), 0);
        zfarm_result_destroy (&result);
    }
}

/* The largest prefetch_depth of a worker in the status document. */
static long
s_deepest (const char *endpoint)
{
    json_t *doc = th_status_doc (endpoint);
    long deepest = -1;
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker; worker = json_next (worker)) {
        long depth = (long) json_number (json_member (worker,
                                                      "prefetch_depth"), -1);
        if (depth > deepest)
            deepest = depth;
    }
    json_destroy (&doc);
    return deepest;
}

/* Many short tasks, more than the workers' slots: some go in advance. */
static void
test_prefetch (void)
{
    const char *endpoint = s_start (2);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    s_warm_up (client);
    for (int i = 0; i < 200; i++)
        ASSERT_EQ (zfarm_client_submit (client, "job", "0", 1, 30000, NULL), 0);
    for (int i = 0; i < 200; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        zfarm_result_destroy (&result);
    }
    ASSERT_INT (th_status_counter (endpoint, "prefetched"), >, 0);
    /* Empty tasks end long before the next can cross from the broker:
     * a worker that ran dry while tasks waited was sent more in advance. */
    ASSERT_INT (s_deepest (endpoint), >, 1);
    zfarm_client_destroy (&client);
    free ((char *) endpoint);
}

/* L (long) goes to worker A, M (medium) to B, S (short) waits at A behind
 * L, sent in advance. When B finishes M it takes S back from A: S ends
 * before L, where without the theft it would end after it. */
static void
test_short_not_stuck (void)
{
    const char *endpoint = s_start (2);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    s_warm_up (client);
    uint64_t long_id, medium_id, short_id;
    ASSERT_EQ (zfarm_client_submit (client, "job", "2000", 4, 30000, &long_id), 0);
    ASSERT_EQ (zfarm_client_submit (client, "job", "300", 3, 30000, &medium_id), 0);
    ASSERT_EQ (zfarm_client_submit (client, "job", "1", 1, 30000, &short_id), 0);
    uint64_t order [3];
    for (int i = 0; i < 3; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        order [i] = zfarm_result_task_id (result);
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (order [0], medium_id);
    ASSERT_EQ (order [1], short_id);
    ASSERT_EQ (order [2], long_id);
    ASSERT_EQ (th_status_counter (endpoint, "stolen"), 1);
    zfarm_client_destroy (&client);
    free ((char *) endpoint);
}

/* Tasks over 64 KiB are never sent in advance: moving one costs more than
 * the round trip saved, and a stolen one would cross twice. Short tasks
 * of 70 KB ("0" padded with blanks), more than the slots: none goes in
 * advance, every one is done. */
static void
test_large_not_prefetched (void)
{
    const char *endpoint = s_start (2);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    s_warm_up (client);
    long before = th_status_counter (endpoint, "prefetched");
    size_t size = 70000;
    char *payload = malloc (size);
    ASSERT (payload);
    memset (payload, ' ', size);
    payload [0] = '0';
    for (int i = 0; i < 60; i++)
        ASSERT_EQ (zfarm_client_submit (client, "job", payload, size, 30000,
                                        NULL), 0);
    for (int i = 0; i < 60; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (th_status_counter (endpoint, "prefetched"), before);
    free (payload);
    zfarm_client_destroy (&client);
    free ((char *) endpoint);
}

/* A task sent in advance runs from when its worker starts it, not from
 * when it was sent: B waits behind A at a worker of one slot, then runs
 * for less than --max-call-time, and must not end with TIMEOUT for the
 * time it waited (1,500 ms each, a limit of 2,500 ms: B's clock from its
 * sending would end it 1,000 ms into its run). */
static void
test_call_time_from_start (void)
{
    const char *extra [] = { "--prefetch-below", "1000", "--max-call-time",
                             "2500", NULL };
    th_broker_t broker = th_broker_start ("ipc", extra);
    const char *endpoint = broker.endpoint;
    const char *args [] = { "--service", "job", "--module",
                            th_module ("primes.so"), "--function",
                            "zfarm_sleep", NULL };
    th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    zfarm_client_t *client = zfarm_client_new (endpoint);
    s_warm_up (client);
    long before = th_status_counter (endpoint, "prefetched");
    for (int i = 0; i < 2; i++)
        ASSERT_EQ (zfarm_client_submit (client, "job", "1500", 4, 30000,
                                        NULL), 0);
    for (int i = 0; i < 2; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        zfarm_result_destroy (&result);
    }
    /* B did go in advance: the case this test is for. */
    ASSERT_INT (th_status_counter (endpoint, "prefetched"), >, before);
    zfarm_client_destroy (&client);
}

int
main (void)
{
    test_prefetch ();
    test_short_not_stuck ();
    test_large_not_prefetched ();
    test_call_time_from_start ();
    TEST_PASS ("test_prefetch");
    return 0;
}
