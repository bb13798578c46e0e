/* test_heartbeats.c: heartbeat settings that disagree never make a healthy
 * peer look dead.
 *
 * The broker says its interval and liveness to every worker that joins
 * (HEARTBEAT) and every client that pings (PONG), and they use them:
 * a worker started with --heartbeat 5000 against a broker at 100 ms (dead
 * after 2 s of silence) is never declared lost, the broker says once
 * that it overrode the worker's setting, and a client whose broker
 * heartbeats slowly does not give it up for its own shorter patience. A
 * worker of an older revision (READY without the settings) still works. */
#include "harness.h"
#include "cli_json.h"
#include "zfarm.h"
#include "zf_proto.h"
#include "zf_wire.h"

#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>

#define WAIT_MS 20000

static long
s_counter (const char *endpoint, const char *name)
{
    char *text = th_status (endpoint);
    ASSERT (text);
    json_t *doc = json_parse (text, strlen (text));
    free (text);
    long value = (long) json_number (json_member (json_member (doc,
                                     "counters"), name), -1);
    json_destroy (&doc);
    return value;
}

static char *
s_log (const char *name)
{
    char path [600];
    snprintf (path, sizeof path, "%s/%s.err", th_tmpdir (), name);
    char *text = th_read_file (path, NULL);
    ASSERT (text);
    return text;
}

/* A worker at 5000 ms and one at 50 ms join a broker at 100 ms: both take
 * the broker's settings at once, and neither is ever lost, idle or busy
 * with a task longer than the broker's window. The window is 20 intervals,
 * 2 s, which a healthy worker starved of CPU still beats (300 ms was not,
 * under a stress run's load); the slow worker's own 5 s is past it. */
static void
test_workers_take_the_broker_settings (void)
{
    th_broker_t started = th_broker_start ("ipc", (const char *const []) {
        "--heartbeat", "100", "--liveness", "20", NULL });
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    pid_t slow = th_worker_start (endpoint, (const char *const []) {
        "--service", "sleep", "--module", th_module ("primes.so"),
        "--function", "zfarm_sleep", "--heartbeat", "5000", NULL });
    pid_t fast = th_worker_start (endpoint, (const char *const []) {
        "--service", "sleep", "--module", th_module ("primes.so"),
        "--function", "zfarm_sleep", "--heartbeat", "50", "--liveness", "2",
        NULL });
    ASSERT (th_wait_workers (endpoint, 2, WAIT_MS));

    /* Longer than the broker's window, with both workers idle, then busy
     * for longer than it. */
    zclock_sleep (3000);
    for (int round = 0; round < 2; round++) {
        char *text = NULL;
        ASSERT_EQ (th_call (endpoint, "sleep", "2500", WAIT_MS, &text), 0);
        ASSERT_STR_EQ (text, "slept 2500");
        free (text);
    }
    ASSERT_EQ (s_counter (endpoint, "workers_lost"), 0);
    ASSERT_EQ (s_counter (endpoint, "workers_joined"), 2);
    ASSERT_EQ (s_counter (endpoint, "heartbeat_overrides"), 2);

    th_kill (slow, SIGTERM);
    th_kill (fast, SIGTERM);
    ASSERT (WIFEXITED (th_reap (slow, WAIT_MS)));
    ASSERT (WIFEXITED (th_reap (fast, WAIT_MS)));
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, WAIT_MS), 0);

    /* The broker said it once; each worker said what it now uses. */
    char *log = s_log ("broker1");
    ASSERT_EQ (th_count (log, "told to use the broker's 100 ms, liveness 20"),
               1);
    ASSERT_EQ (th_count (log, " lost "), 0);
    free (log);
}

/* A worker of the first revision sends READY and HEARTBEAT without the
 * settings: it is served as before, and what the broker tells it comes in
 * the HEARTBEAT's optional fields, which such a worker ignores. */
static void
test_older_worker (void)
{
    th_broker_t started = th_broker_start ("ipc", (const char *const []) {
        "--heartbeat", "100", NULL });
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    zsock_t *worker = zsock_new_dealer (endpoint);
    ASSERT (worker);
    zsock_set_rcvtimeo (worker, 100);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = 1;
    strcpy (header.services [0], "old");
    header.pid = 1;
    strcpy (header.host, "old-host");
    zmsg_t *none = NULL;
    ASSERT_EQ (zf_wire_send (worker, &header, &none), 0);

    zf_decoder_t *decoder = zf_decoder_new ();
    bool told = false;
    for (int i = 0; i < 50 && !told; i++) {
        zmsg_t *payload = NULL;
        zf_header_init (&header, ZF_HEARTBEAT);
        ASSERT_EQ (zf_wire_send (worker, &header, &none), 0);
        if (zf_wire_recv (worker, decoder, &header, &payload) == 0
        &&  header.command == ZF_HEARTBEAT) {
            ASSERT_EQ (header.heartbeat_ms, 100);
            ASSERT_EQ (header.liveness, 3);
            told = true;
        }
        zmsg_destroy (&payload);
    }
    ASSERT (told);
    ASSERT_EQ (s_counter (endpoint, "heartbeat_overrides"), 0);
    ASSERT_EQ (s_counter (endpoint, "workers_joined"), 1);
    zf_decoder_destroy (&decoder);
    zsock_destroy (&worker);
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, WAIT_MS), 0);
}

/* A client given two brokers learns from the first one's PONG that it
 * heartbeats every 3 s (down after 9 s of silence). Paused for 2.5 s, it
 * is not given up for the default 1.5 s: the task stays there, the second
 * broker never sees it, and the result comes once the first resumes. */
static void
test_client_takes_the_broker_settings (void)
{
    th_broker_t slow_broker = th_broker_start ("ipc", (const char *const []) {
        "--heartbeat", "3000", NULL });
    th_broker_t other_broker = th_broker_start ("ipc", NULL);
    pid_t slow = slow_broker.pid, other = other_broker.pid;
    const char *first = slow_broker.endpoint;
    char endpoints [1100];
    snprintf (endpoints, sizeof endpoints, "%s,%s", first,
              other_broker.endpoint);
    pid_t worker = th_worker_start (first, (const char *const []) {
        "--service", "sleep", "--module", th_module ("primes.so"),
        "--function", "zfarm_sleep", NULL });
    ASSERT (th_wait_workers (first, 1, WAIT_MS));

    zfarm_client_t *client = zfarm_client_new (endpoints);
    ASSERT (client);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "sleep", "4000", 4, WAIT_MS,
                                    &id), 0);
    /* Wait for the PONG that brings the settings: the first ping goes out
     * after one default interval. */
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 1200, &result), ZFARM_ETIMEOUT);
    th_kill (slow, SIGSTOP);
    ASSERT_EQ (zfarm_client_wait (client, 2500, &result), ZFARM_ETIMEOUT);
    th_kill (slow, SIGCONT);
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    ASSERT_EQ (zfarm_result_task_id (result), id);
    zfarm_result_destroy (&result);
    ASSERT_EQ (s_counter (other_broker.endpoint, "submitted"), 0);
    zfarm_client_destroy (&client);

    th_kill (worker, SIGTERM);
    ASSERT (WIFEXITED (th_reap (worker, WAIT_MS)));
    th_kill (slow, SIGTERM);
    th_kill (other, SIGTERM);
    ASSERT_EQ (th_reap (slow, WAIT_MS), 0);
    ASSERT_EQ (th_reap (other, WAIT_MS), 0);
}

int
main (void)
{
    test_workers_take_the_broker_settings ();
    test_older_worker ();
    test_client_takes_the_broker_settings ();
    TEST_PASS ("test_heartbeats");
    return 0;
}
