/* test_priority.c: priorities and delays (PROTOCOL.md, Clients): a
 * service's waiting tasks run highest priority first, in order within a
 * priority, every Nth the oldest (--oldest-every); a delayed task does not
 * start before its time, counts toward --max-queue, can be cancelled, and
 * its timeout starts when it is due.
 *
 * The worker runs echo.so's zfarm_record, which appends each payload and
 * its CLOCK_MONOTONIC start time (ms) to $ZFARM_RECORD: the order and the
 * times the handler saw. */
#include "harness.h"
#include "zfarm.h"

#include <czmq.h>
#include <time.h>

#define MANY 10000

static int64_t
s_mono_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* A worker of service "rec" recording into a file of its own (path). */
static void
s_record_worker (const char *endpoint, const char *path)
{
    setenv ("ZFARM_RECORD", path, 1);
    const char *args [] = { "--service", "rec", "--module",
                            th_module ("echo.so"), "--function",
                            "zfarm_record", NULL };
    th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
}

/* A service's member of the status document, or -1. */
static long
s_service_field (const char *endpoint, const char *service, const char *name)
{
    json_t *doc = th_status_doc (endpoint);
    long value = -1;
    const json_t *services = doc? json_member (doc, "services"): NULL;
    for (const json_t *s = services? json_first (services): NULL; s;
         s = json_next (s))
        if (strcmp (json_string (json_member (s, "name"), ""), service) == 0)
            value = (long) json_number (json_member (s, name), -1);
    json_destroy (&doc);
    return value;
}

/* Waits (bounded) until the broker holds count tasks of service as name
 * ("queued", "delayed"). */
static void
s_wait_held (const char *endpoint, const char *service, const char *name,
             long count)
{
    int64_t until = s_mono_ms () + 30000;
    while (s_service_field (endpoint, service, name) != count
       &&  s_mono_ms () < until)
        zclock_sleep (20);
    ASSERT_EQ (s_service_field (endpoint, service, name), count);
}

/* Collects count results, all of them OK, within a bounded time. */
static void
s_collect (zfarm_client_t *client, int count)
{
    int64_t until = s_mono_ms () + 100000;
    for (int i = 0; i < count; i++) {
        zfarm_result_t *result = NULL;
        int left = (int) (until - s_mono_ms ());
        ASSERT_EQ (zfarm_client_wait (client, left > 0? left: 0, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        zfarm_result_destroy (&result);
    }
}

/* The record, as the payloads' leading numbers, in the order run. */
static int
s_read_record (const char *path, long *first, long *second, int max)
{
    char *text = th_read_file (path, NULL);
    ASSERT (text);
    int count = 0;
    for (char *line = strtok (text, "\n"); line && count < max;
         line = strtok (NULL, "\n"), count++)
        ASSERT_EQ (sscanf (line, "%ld:%ld", &first [count], &second [count]),
                   2);
    free (text);
    return count;
}

/* 10,000 tasks of mixed priorities queued before any worker: the one
 * worker (capacity 1, prefetch on) runs them highest priority first, in
 * submission order within each. */
static void
test_priority_order (void)
{
    const char *extra [] = { "--oldest-every", "0", "--prefetch-below",
                             "1000", NULL };
    char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    srand (13);
    for (int i = 0; i < MANY; i++) {
        int priority = rand () % 10;
        char payload [32];
        snprintf (payload, sizeof payload, "%d:%d", priority, i);
        ASSERT_EQ (zfarm_client_set_priority (client, priority), 0);
        ASSERT_EQ (zfarm_client_submit (client, "rec", payload,
                                        strlen (payload), 0, NULL), 0);
    }
    s_wait_held (endpoint, "rec", "queued", MANY);
    char path [512];
    snprintf (path, sizeof path, "%s/order.rec", th_tmpdir ());
    s_record_worker (endpoint, path);
    s_collect (client, MANY);

    static long priority [MANY], seq [MANY];
    ASSERT_EQ (s_read_record (path, priority, seq, MANY), MANY);
    for (int i = 1; i < MANY; i++) {
        ASSERT_INT (priority [i], <=, priority [i - 1]);
        if (priority [i] == priority [i - 1])
            ASSERT_INT (seq [i], >, seq [i - 1]);
    }
    ASSERT_INT (th_status_counter (endpoint, "prefetched"), >, 0);
    zfarm_client_destroy (&client);
    free (endpoint);
}

/* With --oldest-every 4, 50 tasks of priority 0 then 200 of priority 9:
 * the i-th low one (i from 0, so i tasks older than it) runs within
 * 4 x (i + 1) dispatches; strict priority would run it after the 200. */
static void
test_starvation_bound (void)
{
    const char *extra [] = { "--oldest-every", "4", NULL };
    char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    for (int i = 0; i < 250; i++) {
        int priority = i < 50? 0: 9;
        char payload [32];
        snprintf (payload, sizeof payload, "%d:%d", priority, i);
        zfarm_client_set_priority (client, priority);
        ASSERT_EQ (zfarm_client_submit (client, "rec", payload,
                                        strlen (payload), 0, NULL), 0);
    }
    s_wait_held (endpoint, "rec", "queued", 250);
    char path [512];
    snprintf (path, sizeof path, "%s/starve.rec", th_tmpdir ());
    s_record_worker (endpoint, path);
    s_collect (client, 250);
    long priority [250], seq [250];
    ASSERT_EQ (s_read_record (path, priority, seq, 250), 250);
    for (int position = 0; position < 250; position++)
        if (priority [position] == 0)
            ASSERT_INT (position + 1, <=, 4 * (seq [position] + 1));
    zfarm_client_destroy (&client);
    free (endpoint);
}

/* Submits one task to "rec" with delay and timeout; returns its id. */
static uint64_t
s_submit (zfarm_client_t *client, const char *payload, long delay_ms,
          int timeout_ms)
{
    uint64_t id;
    ASSERT_EQ (zfarm_client_set_delay (client, delay_ms), 0);
    ASSERT_EQ (zfarm_client_submit (client, "rec", payload, strlen (payload),
                                    timeout_ms, &id), 0);
    return id;
}

/* A delayed task starts no sooner than its delay after it was submitted
 * (a lower bound only), after a task submitted later without one; the
 * status shows it delayed meanwhile. A delayed task cancelled never runs:
 * it was due before another delayed task that did run. */
static void
test_delay_and_cancel (void)
{
    char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    char path [512];
    snprintf (path, sizeof path, "%s/delay.rec", th_tmpdir ());
    s_record_worker (endpoint, path);
    zfarm_client_t *client = zfarm_client_new (endpoint);

    int64_t submitted = s_mono_ms ();
    uint64_t late = s_submit (client, "1:1", 1500, 30000);
    s_wait_held (endpoint, "rec", "delayed", 1);
    s_submit (client, "2:2", 0, 30000);
    uint64_t cancelled = s_submit (client, "3:3", 200, 30000);
    ASSERT_EQ (zfarm_client_cancel (client, cancelled), 0);
    int64_t started_late = -1;
    for (int i = 0; i < 3; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
        if (zfarm_result_task_id (result) == late) {
            ASSERT_EQ (zfarm_result_status (result), 0);
            size_t size;
            started_late = atoll (zfarm_result_data (result, &size));
        }
        else
        if (zfarm_result_task_id (result) == cancelled)
            ASSERT_EQ (zfarm_result_status (result), ZFARM_ECANCELLED);
        zfarm_result_destroy (&result);
    }
    ASSERT_INT (started_late - submitted, >=, 1500);
    long first [4], second [4];
    ASSERT_EQ (s_read_record (path, first, second, 4), 2);
    ASSERT_EQ (first [0], 2);   /* undelayed first, the cancelled never */
    ASSERT_EQ (first [1], 1);
    ASSERT_EQ (s_service_field (endpoint, "rec", "delayed"), 0);
    ASSERT_EQ (th_status_counter (endpoint, "cancelled"), 1);
    zfarm_client_destroy (&client);
    free (endpoint);
}

/* Delayed tasks count toward --max-queue: with 3 delayed, a fourth task,
 * undelayed, is QUEUE_FULL. */
static void
test_max_queue_counts_delayed (void)
{
    const char *extra [] = { "--max-queue", "3", NULL };
    char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    for (int i = 0; i < 3; i++)
        s_submit (client, "1:1", 60000, 0);
    s_wait_held (endpoint, "rec", "delayed", 3);
    zfarm_client_set_delay (client, 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_call (client, "rec", "x", 1, 10000, &result),
               ZFARM_EQUEUE_FULL);
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    free (endpoint);
}

/* A delayed task's timeout starts when it is due: with a delay longer
 * than its timeout it still runs; with no worker it fails no sooner than
 * delay + timeout after it was submitted. */
static void
test_timeout_starts_when_due (void)
{
    char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    char path [512];
    snprintf (path, sizeof path, "%s/due.rec", th_tmpdir ());
    s_record_worker (endpoint, path);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    zfarm_client_set_delay (client, 1500);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_call (client, "rec", "1:1", 3, 1000, &result), 0);
    zfarm_result_destroy (&result);

    int64_t submitted = s_mono_ms ();
    zfarm_client_set_delay (client, 1000);
    ASSERT_EQ (zfarm_client_call (client, "nosuch", "x", 1, 500, &result),
               ZFARM_ENO_SUCH_SERVICE);
    ASSERT_INT (s_mono_ms () - submitted, >=, 1500);
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    free (endpoint);
}

/* The API refuses values out of range. */
static void
test_api_bounds (void)
{
    zfarm_client_t *client = zfarm_client_new ("ipc:///nonexistent");
    ASSERT_EQ (zfarm_client_set_priority (client, 10), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_set_priority (client, -1), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_set_delay (client, -1), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_set_delay (client, 4294967296LL), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_set_delay (client, 4294967295LL), 0);
    zfarm_client_destroy (&client);
}

int
main (void)
{
    test_api_bounds ();
    test_priority_order ();
    test_starvation_bound ();
    test_delay_and_cancel ();
    test_max_queue_counts_delayed ();
    test_timeout_starts_when_due ();
    printf ("test_priority: pass\n");
    return 0;
}
