/* test_pool_digest.c: what a broker's PONG says of its workers and of its
 * loop, which a client given several brokers chooses by.
 *
 * Two real brokers and two zfarm-worker processes that serve both: each
 * broker's PONG says the same pool, the sum of the FNV-1a hashes of its
 * workers' instances as its status document lists them. A third worker
 * that serves only broker a makes a's pool differ from b's; once it has
 * stopped, they are the same again. Every PONG's busy is a per mille. */
#include "harness.h"
#include "cli_json.h"
#include "zf_proto.h"
#include "zf_util.h"

#include <czmq.h>
#include <signal.h>

#define WAIT_MS    20000
#define RECOUNT_MS 60 /* past the broker's LOAD_RECOUNT_MS */

static zf_decoder_t *s_decoder;

/* A PING to endpoint, from a connection of its own; returns the PONG. */
static zf_header_t
s_pong (const char *endpoint)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    ASSERT (sock);
    zsock_set_rcvtimeo (sock, WAIT_MS);
    zf_header_t header;
    zf_header_init (&header, ZF_PING);
    th_send_header (sock, NULL, &header, NULL);
    zmsg_t *msg = zmsg_recv (sock);
    ASSERT (msg);
    zframe_t *frame = zmsg_first (msg);
    ASSERT_EQ (zf_header_decode (s_decoder, &header, zframe_data (frame),
                                 zframe_size (frame)),
               0);
    ASSERT_EQ (header.command, ZF_PONG);
    ASSERT_INT (header.busy, <=, ZF_BUSY_MAX);
    zmsg_destroy (&msg);
    zsock_destroy (&sock);
    return header;
}

/* The pool a broker should say: its workers' instances, from its status
 * document, hashed and summed (PROTOCOL.md, PONG). */
static uint64_t
s_expected_pool (const char *endpoint, int *workers_p)
{
    json_t *doc = th_status_doc (endpoint);
    ASSERT (doc);
    uint64_t pool = 0;
    int workers = 0;
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker; worker = json_next (worker)) {
        const char *instance = json_string (json_member (worker, "instance"),
                                            NULL);
        ASSERT (instance && *instance);
        pool += zf_fnv1a (ZF_FNV_OFFSET, instance, strlen (instance));
        workers++;
    }
    json_destroy (&doc);
    *workers_p = workers;
    return pool;
}

/* Waits until both brokers' PONGs say the pool their workers make (the
 * broker counts it at most every LOAD_RECOUNT_MS), a has a_workers and b
 * has b_workers; returns whether the two pools are the same. */
static bool
s_pools_settle (const char *a, const char *b, int a_workers, int b_workers)
{
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (zclock_mono () < deadline) {
        int a_count, b_count;
        uint64_t a_pool = s_expected_pool (a, &a_count);
        uint64_t b_pool = s_expected_pool (b, &b_count);
        zclock_sleep (RECOUNT_MS);
        if (a_count == a_workers && b_count == b_workers
            && s_pong (a).pool == a_pool && s_pong (b).pool == b_pool) {
            ASSERT (a_pool && b_pool);
            return a_pool == b_pool;
        }
    }
    TEST_FAIL ("the brokers' PONGs never said the pools of their workers");
    return false;
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    th_broker_t a = th_broker_start ("tcp", NULL);
    th_broker_t b = th_broker_start ("tcp", NULL);
    char both [600];
    snprintf (both, sizeof both, "%s,%s", a.endpoint, b.endpoint);
    const char *const args [] = { "--service", "echo", "--module",
                                  th_module ("echo.so"), NULL };
    pid_t shared [2];
    for (int i = 0; i < 2; i++)
        shared [i] = th_worker_start (both, args);

    ASSERT (s_pools_settle (a.endpoint, b.endpoint, 2, 2));
    printf ("two brokers, the same workers: the same pool: pass\n");

    pid_t only_a = th_worker_start (a.endpoint, args);
    ASSERT (!s_pools_settle (a.endpoint, b.endpoint, 3, 2));
    printf ("a worker of a's own: the pools differ: pass\n");

    th_kill (only_a, SIGTERM);
    ASSERT (th_reap (only_a, WAIT_MS) != -1);
    ASSERT (s_pools_settle (a.endpoint, b.endpoint, 2, 2));
    printf ("that worker gone: the same pool again: pass\n");

    for (int i = 0; i < 2; i++) {
        th_kill (shared [i], SIGTERM);
        ASSERT (th_reap (shared [i], WAIT_MS) != -1);
    }
    th_kill (a.pid, SIGTERM);
    th_kill (b.pid, SIGTERM);
    ASSERT_EQ (th_reap (a.pid, WAIT_MS), 0);
    ASSERT_EQ (th_reap (b.pid, WAIT_MS), 0);
    zf_decoder_destroy (&s_decoder);
    TEST_PASS ("test_pool_digest");
    return 0;
}
