/* test_scaling_metrics.c: the metrics an autoscaler reads (deploy/README.md,
 * "KEDA"), scraped from a real broker's /metrics while real workers take
 * and lose tasks:
 *
 * - zfarm_queue_depth and zfarm_tasks_running count every task once, in
 *   the queue or at a worker, whatever happens to workers;
 * - zfarm_queue_oldest_wait_seconds is the wait of the oldest task in the
 *   queue (0 when none), also when tasks put back at the head of the queue
 *   (their workers died) are younger than one behind them;
 * - zfarm_slots{service,state} and zfarm_worker_slots{state} count free
 *   and busy slots as workers take tasks, a worker of two services once in
 *   zfarm_worker_slots;
 * - a worker that serves two brokers: each broker's slots show the task of
 *   the other (busy), and only the task's own broker counts it running, so
 *   queued + running summed over brokers counts it once.
 *
 * Waits and ages are bounded below and above by what the test saw, on the
 * same monotonic clock as the broker's: never a guess at how long
 * something takes. */
#include "harness.h"
#include "zfarm.h"

#include <czmq.h>
#include <math.h>
#include <signal.h>

#define WAIT_MS     20000
#define SLEEP_MS    "60000"     /* a task that outlasts the test */

typedef struct {
    const char *endpoint;
    char host [64];
    int port;
} broker_t;

static void
s_broker_start (broker_t *broker)
{
    const char *extra [] = { "--http", "127.0.0.1:0", "--max-retries", "5",
                             NULL };
    broker->endpoint = strdup (th_broker_start ("tcp", extra).endpoint);
    th_status_http (broker->endpoint, broker->host, sizeof broker->host,
                    &broker->port);
}

static char *
s_scrape (const broker_t *broker)
{
    char *text = th_http_get (broker->host, broker->port, "/metrics");
    ASSERT (text && strstr (text, "HTTP/1.1 200"));
    return text;
}

/* The value of the metric line "name value" (name with its labels). */
static double
s_value (const char *text, const char *name)
{
    char key [256];
    snprintf (key, sizeof key, "\n%s ", name);
    const char *at = strstr (text, key);
    if (!at)
        TEST_FAIL ("no metric %s", name);
    return atof (at + strlen (key));
}

static double
s_metric (const broker_t *broker, const char *name)
{
    char *text = s_scrape (broker);
    double value = s_value (text, name);
    free (text);
    return value;
}

/* Waits until the metric has the value, or fails. */
static void
s_wait_metric (const broker_t *broker, const char *name, double value)
{
    double seen = NAN;
    for (int i = 0; i < WAIT_MS / 20; i++) {
        char *text = s_scrape (broker);
        seen = strstr (text, name)? s_value (text, name): NAN;
        free (text);
        if (seen == value)
            return;
        zclock_sleep (20);
    }
    TEST_FAIL ("%s is %g, not %g, after %d ms", name, seen, value, WAIT_MS);
}

static void
s_expect (const broker_t *broker, const char *name, double value)
{
    double seen = s_metric (broker, name);
    if (seen != value)
        TEST_FAIL ("%s is %g, not %g", name, seen, value);
}

/* Waits until one scrape shows service with queued tasks waiting and
 * running at workers, or fails. */
static void
s_wait_tasks (const broker_t *broker, const char *service, int queued,
              int running)
{
    char queue_name [128], running_name [128];
    snprintf (queue_name, sizeof queue_name,
              "zfarm_queue_depth{service=\"%s\"}", service);
    snprintf (running_name, sizeof running_name,
              "zfarm_tasks_running{service=\"%s\"}", service);
    double seen_queued = NAN, seen_running = NAN;
    for (int i = 0; i < WAIT_MS / 20; i++) {
        char *text = s_scrape (broker);
        if (strstr (text, queue_name)) {
            seen_queued = s_value (text, queue_name);
            seen_running = s_value (text, running_name);
        }
        free (text);
        if (seen_queued == queued && seen_running == running)
            return;
        zclock_sleep (20);
    }
    TEST_FAIL ("%s: %g queued and %g running, not %d and %d, after %d ms",
               service, seen_queued, seen_running, queued, running, WAIT_MS);
}

static void
s_expect_slots (const broker_t *broker, const char *service, int free_slots,
                int busy_slots)
{
    char name [128];
    snprintf (name, sizeof name, "zfarm_slots{service=\"%s\",state=\"free\"}",
              service);
    s_expect (broker, name, free_slots);
    snprintf (name, sizeof name, "zfarm_slots{service=\"%s\",state=\"busy\"}",
              service);
    s_expect (broker, name, busy_slots);
}

/* The oldest wait of service; *scraped_by is when the scrape had returned
 * (ms, monotonic). */
static double
s_oldest_wait (const broker_t *broker, const char *service,
               int64_t *scraped_by)
{
    char name [128];
    snprintf (name, sizeof name,
              "zfarm_queue_oldest_wait_seconds{service=\"%s\"}", service);
    char *text = s_scrape (broker);
    *scraped_by = zclock_mono ();
    double value = s_value (text, name);
    free (text);
    return value;
}

static void
s_submit (zfarm_client_t *client, const char *service)
{
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, service, SLEEP_MS,
                                    strlen (SLEEP_MS), 0, &id), 0);
}

static pid_t
s_sleeper (const char *endpoint, const char *capacity, const char *service,
           const char *other_service)
{
    const char *args [] = { "--module", th_module ("primes.so"), "--function",
                            "zfarm_sleep", "--capacity", capacity,
                            "--service", service,
                            other_service? "--service": NULL, other_service,
                            NULL };
    return th_worker_start (endpoint, args);
}

/* Tasks queued with no free worker, then taken, lost and taken again. */
static void
test_one_broker (const broker_t *a)
{
    zfarm_client_t *client = zfarm_client_new (a->endpoint);
    ASSERT (client);

    /* D waits: no worker at all. Its wait grows from when the broker had
     * it, at the latest when a scrape showed it queued (seen_d). */
    int64_t submit_d = zclock_mono ();
    s_submit (client, "slow");
    s_wait_tasks (a, "slow", 1, 0);
    int64_t seen_d = zclock_mono ();
    s_expect_slots (a, "slow", 0, 0);
    zclock_sleep (300);
    int64_t scraped;
    int64_t scrape_start = zclock_mono ();
    double wait = s_oldest_wait (a, "slow", &scraped);
    if (wait < (scrape_start - seen_d - 2) / 1000.0
    ||  wait > (scraped - submit_d + 2) / 1000.0)
        TEST_FAIL ("oldest wait %.3f s, outside [%.3f, %.3f]", wait,
                   (scrape_start - seen_d) / 1000.0,
                   (scraped - submit_d) / 1000.0);

    /* W1 (one slot) takes D: nothing waits, one slot busy. */
    pid_t w1 = s_sleeper (a->endpoint, "1", "slow", NULL);
    s_wait_tasks (a, "slow", 0, 1);
    ASSERT_EQ (s_oldest_wait (a, "slow", &scraped), 0);
    s_expect_slots (a, "slow", 0, 1);
    s_expect (a, "zfarm_worker_slots{state=\"busy\"}", 1);

    /* N waits, then W2 takes it; M waits, and is now the oldest queued. */
    s_submit (client, "slow");
    s_wait_tasks (a, "slow", 1, 1);
    pid_t w2 = s_sleeper (a->endpoint, "1", "slow", NULL);
    s_wait_tasks (a, "slow", 0, 2);
    s_expect_slots (a, "slow", 0, 2);
    int64_t submit_m = zclock_mono ();
    s_submit (client, "slow");
    s_wait_tasks (a, "slow", 1, 2);
    wait = s_oldest_wait (a, "slow", &scraped);
    if (wait > (scraped - submit_m + 2) / 1000.0)
        TEST_FAIL ("oldest wait %.3f s: older than M, the one task queued",
                   wait);

    /* W1 dies: D goes back to the head of the queue (D, M). W2 dies: N
     * goes before it (N, D, M). D, second in line, is the oldest. */
    th_kill (w1, SIGKILL);
    s_wait_tasks (a, "slow", 2, 1);
    th_kill (w2, SIGKILL);
    s_wait_tasks (a, "slow", 3, 0);
    th_reap (w1, WAIT_MS);
    th_reap (w2, WAIT_MS);
    s_wait_metric (a, "zfarm_worker_slots{state=\"busy\"}", 0);
    s_expect_slots (a, "slow", 0, 0);
    scrape_start = zclock_mono ();
    wait = s_oldest_wait (a, "slow", &scraped);
    if (wait < (scrape_start - seen_d - 2) / 1000.0)
        TEST_FAIL ("oldest wait %.3f s: younger than D's, at least %.3f s",
                   wait, (scrape_start - seen_d) / 1000.0);

    /* W3 and W4, two slots each, offer "slow" and "other": they take the
     * three tasks, and one slot stays free. Each service counts both
     * workers' slots; zfarm_worker_slots counts each worker once. */
    s_sleeper (a->endpoint, "2", "slow", "other");
    s_wait_tasks (a, "slow", 1, 2);
    s_expect_slots (a, "slow", 0, 2);
    s_expect_slots (a, "other", 0, 2);
    s_sleeper (a->endpoint, "2", "slow", "other");
    s_wait_tasks (a, "slow", 0, 3);
    ASSERT_EQ (s_oldest_wait (a, "slow", &scraped), 0);
    s_expect_slots (a, "slow", 1, 3);
    s_expect_slots (a, "other", 1, 3);
    s_expect (a, "zfarm_worker_slots{state=\"free\"}", 1);
    s_expect (a, "zfarm_worker_slots{state=\"busy\"}", 3);
    s_expect (a, "zfarm_service_workers{service=\"slow\"}", 2);
    /* The tasks still pending at the client: a destroy cancels them. */
    zfarm_client_destroy (&client);
}

/* A worker of two brokers: each sees the other's task in its slots. */
static void
test_two_brokers (const broker_t *a, const broker_t *b)
{
    char both [600];
    snprintf (both, sizeof both, "%s,%s", a->endpoint, b->endpoint);
    s_sleeper (both, "2", "shared", NULL);
    s_wait_metric (a, "zfarm_slots{service=\"shared\",state=\"free\"}", 2);
    s_wait_metric (b, "zfarm_slots{service=\"shared\",state=\"free\"}", 2);

    zfarm_client_t *client = zfarm_client_new (b->endpoint);
    ASSERT (client);
    s_submit (client, "shared");
    s_wait_tasks (b, "shared", 0, 1);
    s_expect_slots (b, "shared", 1, 1);
    /* A learns of B's task from the worker (SLOTS), and does not count it
     * as its own: queued + running over both brokers is one task. */
    s_wait_metric (a, "zfarm_slots{service=\"shared\",state=\"busy\"}", 1);
    s_expect_slots (a, "shared", 1, 1);
    s_expect (a, "zfarm_tasks_running{service=\"shared\"}", 0);
    s_expect (a, "zfarm_queue_depth{service=\"shared\"}", 0);
    zfarm_client_destroy (&client);
}

int
main (void)
{
    broker_t a, b;
    s_broker_start (&a);
    s_broker_start (&b);
    test_one_broker (&a);
    test_two_brokers (&a, &b);
    free ((char *) a.endpoint);
    free ((char *) b.endpoint);
    TEST_PASS ("test_scaling_metrics");
    return 0;
}
