/* test_broker_protocol.c: the broker as a raw ZeroMQ peer sees it.
 *
 * Hand-made clients and workers speak the wire protocol directly, so that
 * the broker is checked against common/PROTOCOL.md, including what a
 * broken or hostile peer sends: garbage, other versions, misplaced
 * commands, late and stolen DONEs, oversized messages. */
#include "harness.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm_codes.h"
#include <czmq.h>
#include <sys/wait.h>

static zf_decoder_t *s_decoder;
static const char *s_endpoint;

static zsock_t *
s_dealer (void)
{
    zsock_t *sock = zsock_new_dealer (s_endpoint);
    ASSERT (sock);
    zsock_set_rcvtimeo (sock, 5000);
    return sock;
}

static void
s_send (zsock_t *sock, zf_header_t *header, const char *payload)
{
    zmsg_t *msg = NULL;
    if (payload) {
        msg = zmsg_new ();
        zmsg_addstr (msg, payload);
    }
    ASSERT_EQ (zf_wire_send (sock, header, &msg), 0);
}

static void
s_ready (zsock_t *worker, const char *service, uint32_t capacity)
{
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = 1;
    strcpy (header.services [0], service);
    header.capacity = capacity;
    header.pid = 1;
    strcpy (header.host, "test");
    s_send (worker, &header, NULL);
}

static void
s_submit (zsock_t *client, uint64_t task_id, const char *service,
          const char *payload)
{
    zf_header_t header;
    zf_header_init (&header, ZF_SUBMIT);
    header.task_id = task_id;
    zf_header_set_service (&header, service);
    header.timeout_ms = 10000;
    s_send (client, &header, payload);
}

static void
s_done (zsock_t *worker, uint64_t task_id, const char *payload)
{
    zf_header_t header;
    zf_header_init (&header, ZF_DONE);
    header.task_id = task_id;
    s_send (worker, &header, payload);
}

/* Receives the next message that is not a HEARTBEAT; its payload as a
 * string goes to *payload_p if asked (caller frees). */
static void
s_recv (zsock_t *sock, zf_header_t *header, char **payload_p)
{
    for (int i = 0; i < 100; i++) {
        zmsg_t *payload = NULL;
        int rc = zf_wire_recv (sock, s_decoder, header, &payload);
        if (rc == -1)
            TEST_FAIL ("no message within 5 s");
        ASSERT_EQ (rc, 0);
        if (header->command == ZF_HEARTBEAT) {
            zmsg_destroy (&payload);
            continue;
        }
        if (payload_p) {
            size_t size;
            *payload_p = zf_wire_join (payload, &size);
        }
        zmsg_destroy (&payload);
        return;
    }
    TEST_FAIL ("only heartbeats");
}

static char *
s_status (void)
{
    zsock_t *sock = s_dealer ();
    zf_header_t header;
    zf_header_init (&header, ZF_STATUS);
    s_send (sock, &header, NULL);
    char *json;
    s_recv (sock, &header, &json);
    ASSERT_EQ (header.command, ZF_STATUS);
    zsock_destroy (&sock);
    return json;
}

static long
s_counter (const char *name)
{
    char *json = s_status ();
    json_t *doc = json_parse (json, strlen (json));
    char path [64];
    snprintf (path, sizeof path, "counters.%s", name);
    const json_t *counter = th_json_path (doc, path);
    ASSERT (json_type (counter) == JSON_NUMBER);
    long value = (long) json_number (counter, -1);
    json_destroy (&doc);
    free (json);
    return value;
}

static void
test_round_trip (zsock_t *client, zsock_t *worker)
{
    s_submit (client, 1, "echo", "hello");
    zf_header_t header;
    char *payload;
    s_recv (worker, &header, &payload);
    ASSERT_EQ (header.command, ZF_TASK);
    ASSERT_STR_EQ (header.service, "echo");
    ASSERT_EQ (header.attempt, 1);
    ASSERT_STR_EQ (payload, "hello");
    free (payload);
    uint64_t dispatch_id = header.task_id;
    s_done (worker, dispatch_id, "HELLO");
    s_recv (client, &header, &payload);
    ASSERT_EQ (header.command, ZF_RESULT);
    ASSERT_EQ (header.task_id, 1);
    ASSERT_EQ (header.status, 0);
    ASSERT_STR_EQ (payload, "HELLO");
    free (payload);

    /* The same DONE again is late: dropped and counted, never delivered. */
    long late = s_counter ("late_results_dropped");
    s_done (worker, dispatch_id, "AGAIN");
    ASSERT_EQ (s_counter ("late_results_dropped"), late + 1);
}

static void
test_garbage (zsock_t *client)
{
    zf_header_t header;
    zstr_send (client, "\x93\xa2zf\xff garbage");
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.command, ZF_ERROR);
    ASSERT_EQ (header.status, ZFARM_EBAD_REQUEST);

    zsock_send (client, "b", "", (size_t) 0);
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.command, ZF_ERROR);

    /* ["zf", 99, 2]: a protocol version from the future. */
    zsock_send (client, "b", "\x93\xa2zf\x63\x02", (size_t) 6);
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.command, ZF_ERROR);
    ASSERT_EQ (header.status, ZFARM_EBAD_VERSION);

    /* A SUBMIT with a bad service name: refused by task id. */
    zf_header_init (&header, ZF_SUBMIT);
    header.task_id = 77;
    strcpy (header.service, "has space");
    s_send (client, &header, "x");
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.command, ZF_RESULT);
    ASSERT_EQ (header.task_id, 77);
    ASSERT_EQ (header.status, ZFARM_EBAD_REQUEST);

    /* A command that only the broker sends. */
    zf_header_init (&header, ZF_TASK);
    header.task_id = 5;
    header.attempt = 1;
    strcpy (header.service, "echo");
    s_send (client, &header, NULL);
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.command, ZF_ERROR);
}

static void
test_stolen_done (zsock_t *client, zsock_t *worker)
{
    zsock_t *thief = s_dealer ();
    s_ready (thief, "other", 1);
    s_submit (client, 2, "echo", "mine");
    zf_header_t header;
    s_recv (worker, &header, NULL);
    ASSERT_EQ (header.command, ZF_TASK);
    long late = s_counter ("late_results_dropped");
    s_done (thief, header.task_id, "stolen");
    ASSERT_EQ (s_counter ("late_results_dropped"), late + 1);
    s_done (worker, header.task_id, "real");
    char *payload;
    s_recv (client, &header, &payload);
    ASSERT_EQ (header.task_id, 2);
    ASSERT_STR_EQ (payload, "real");
    free (payload);

    /* A second READY is a protocol error: the broker disconnects it. */
    s_ready (thief, "other", 1);
    s_recv (thief, &header, NULL);
    ASSERT_EQ (header.command, ZF_DISCONNECT);
    zsock_destroy (&thief);
}

static void
test_unknown_worker (void)
{
    zsock_t *stranger = s_dealer ();
    zf_header_t header;
    zf_header_init (&header, ZF_HEARTBEAT);
    s_send (stranger, &header, NULL);
    s_recv (stranger, &header, NULL);
    ASSERT_EQ (header.command, ZF_DISCONNECT);
    zsock_destroy (&stranger);
}

static void
test_oversized (zsock_t *client)
{
    zsock_t *big = s_dealer ();
    size_t size = 256 * 1024;
    char *data = calloc (1, size);
    zsock_send (big, "b", data, size);
    free (data);
    zsock_destroy (&big);
    /* The broker dropped that connection and serves on. */
    zf_header_t header;
    zf_header_init (&header, ZF_PING);
    s_send (client, &header, NULL);
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.command, ZF_PONG);
    ASSERT (header.epoch != 0);
}

/* Floods of READY, HEARTBEAT and garbage neither stall nor corrupt the
 * broker: the well-behaved client and worker are served throughout. */
static void
test_floods (zsock_t *client, zsock_t *worker)
{
    long before = s_counter ("bad_messages");
    zsock_t *flooder = s_dealer ();
    zf_header_t header;
    for (int i = 0; i < 2000; i++) {
        zf_header_init (&header, i % 2? ZF_HEARTBEAT: ZF_READY);
        header.service_count = 1;
        strcpy (header.services [0], "echo");
        s_send (flooder, &header, NULL);
        zstr_send (flooder, "\xff\xfe not a header");
    }
    zsock_t *stranger = s_dealer ();
    for (int i = 0; i < 2000; i++) {
        zf_header_init (&header, ZF_HEARTBEAT);
        s_send (stranger, &header, NULL);
    }
    /* Every garbage frame is refused and counted (and the sockets stay
     * open until then: closing them would drop what is still queued). */
    long after = before;
    for (int i = 0; i < 1000 && after < before + 2000; i++) {
        zclock_sleep (10);
        after = s_counter ("bad_messages");
    }
    ASSERT_INT (after, >=, before + 2000);
    zsock_destroy (&flooder);
    zsock_destroy (&stranger);
    /* The flooder's last READY left a worker record that only a send can
     * find dead (at the next heartbeat); wait for it to go. */
    int workers = 0;
    for (int i = 0; i < 1000; i++) {
        char *json = s_status ();
        json_t *doc = json_parse (json, strlen (json));
        workers = 0;
        for (const json_t *at = json_first (json_member (doc, "workers"));
             at; at = json_next (at))
            workers++;
        json_destroy (&doc);
        free (json);
        if (workers == 1)
            break;
        zclock_sleep (10);
    }
    ASSERT_EQ (workers, 1);
    /* The flooder's READYs came and went; the real worker, least recently
     * used, serves what comes next. */
    for (uint64_t id = 100; id < 103; id++) {
        s_submit (client, id, "echo", "after the flood");
        char *payload;
        s_recv (worker, &header, &payload);
        ASSERT_EQ (header.command, ZF_TASK);
        ASSERT_STR_EQ (payload, "after the flood");
        free (payload);
        s_done (worker, header.task_id, "served");
        s_recv (client, &header, &payload);
        ASSERT_EQ (header.task_id, id);
        ASSERT_STR_EQ (payload, "served");
        free (payload);
    }
}

/* A READY of a worker that a pool supervisor runs (flag SUPERVISED),
 * with an instance. */
static void
s_ready_supervised (zsock_t *worker, const char *service,
                    const char *instance, bool supervised)
{
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = 1;
    strcpy (header.services [0], service);
    header.pid = 2;
    strcpy (header.host, "test");
    strcpy (header.instance, instance);
    header.flags = supervised? ZF_FLAG_SUPERVISED: 0;
    s_send (worker, &header, NULL);
}

static void
s_report_death (const char *instance, const char *how)
{
    zsock_t *supervisor = s_dealer ();
    zf_header_t header;
    zf_header_init (&header, ZF_DISCONNECT);
    zf_header_set_text (&header, how);
    strcpy (header.instance, instance);
    s_send (supervisor, &header, NULL);
    /* Nothing comes back; a PING after it is answered after it. */
    zf_header_init (&header, ZF_PING);
    s_send (supervisor, &header, NULL);
    s_recv (supervisor, &header, NULL);
    ASSERT_EQ (header.command, ZF_PONG);
    zsock_destroy (&supervisor);
}

/* A supervisor's report of a worker's death (DISCONNECT naming its
 * instance) ends the worker's task with the report's words, and counts a
 * lost worker; a report about a worker that did not say it is supervised
 * is ignored, as one naming no worker. */
static void
test_death_report (zsock_t *client)
{
    long lost = s_counter ("workers_lost");
    zsock_t *plain = s_dealer ();
    s_ready_supervised (plain, "reported", "0123456789abcdef0123456789abcdef",
                        false);
    s_report_death ("0123456789abcdef0123456789abcdef", "forged");
    s_report_death ("ffffffffffffffffffffffffffffffff", "nobody");
    s_submit (client, 31, "reported", "x");
    zf_header_t header;
    s_recv (plain, &header, NULL);
    ASSERT_EQ (header.command, ZF_TASK);
    s_done (plain, header.task_id, "fine");
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.task_id, 31);
    ASSERT_EQ (header.status, 0);
    ASSERT_EQ (s_counter ("workers_lost"), lost);
    zf_header_init (&header, ZF_DISCONNECT);
    s_send (plain, &header, NULL);
    zsock_destroy (&plain);

    zsock_t *pooled = s_dealer ();
    s_ready_supervised (pooled, "reported", "00000000000000000000000000000042",
                        true);
    zf_header_init (&header, ZF_SUBMIT);
    header.task_id = 32;
    strcpy (header.service, "reported");
    header.timeout_ms = 10000;
    header.retries = 0;
    s_send (client, &header, "x");
    s_recv (pooled, &header, NULL);
    ASSERT_EQ (header.command, ZF_TASK);
    s_report_death ("00000000000000000000000000000042",
                    "killed by signal 11 (SIGSEGV)\nforged: line");
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.task_id, 32);
    ASSERT_EQ (header.status, ZFARM_EWORKER_LOST);
    ASSERT (strstr (header.text, "process killed by signal 11 (SIGSEGV)"));
    ASSERT_EQ (s_counter ("workers_lost"), lost + 1);
    zsock_destroy (&pooled);
}

static void
test_no_workers (zsock_t *client)
{
    zf_header_t header;
    zf_header_init (&header, ZF_SUBMIT);
    header.task_id = 9;
    strcpy (header.service, "nobody");
    header.timeout_ms = 200;
    s_send (client, &header, "x");
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.task_id, 9);
    ASSERT_EQ (header.status, ZFARM_ENO_SUCH_SERVICE);
}

static void
test_queue_full (zsock_t *client)
{
    /* --max-queue 2 and no worker for "full": the third waits in vain. */
    s_submit (client, 21, "full", "a");
    s_submit (client, 22, "full", "b");
    s_submit (client, 23, "full", "c");
    zf_header_t header;
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.task_id, 23);
    ASSERT_EQ (header.status, ZFARM_EQUEUE_FULL);
    /* A PING that names services (an elastic pool's supervisor) hears
     * their backlog: two tasks of "full", waiting at least as long as
     * this test slept; one that names none, or names services with none
     * waiting, hears no backlog. */
    zclock_sleep (50);
    zf_header_init (&header, ZF_PING);
    header.service_count = 3;
    strcpy (header.services [0], "echo");
    strcpy (header.services [1], "full");
    strcpy (header.services [2], "ghost");
    s_send (client, &header, NULL);
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.command, ZF_PONG);
    ASSERT (header.waiting == 2);
    ASSERT_INT (header.waited_ms, >=, 50);
    zf_header_init (&header, ZF_PING);
    header.service_count = 1;
    strcpy (header.services [0], "ghost");
    s_send (client, &header, NULL);
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.command, ZF_PONG);
    ASSERT (header.waiting == 0 && header.waited_ms == 0);
    ASSERT (header.queued >= 2);
    zf_header_init (&header, ZF_PING);
    s_send (client, &header, NULL);
    s_recv (client, &header, NULL);
    ASSERT_EQ (header.command, ZF_PONG);
    ASSERT (header.waiting == 0 && header.waited_ms == 0);
    zf_header_init (&header, ZF_CANCEL);
    header.task_id = 21;
    s_send (client, &header, NULL);
    header.task_id = 22;
    s_send (client, &header, NULL);
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    const char *extra [] = { "--max-msg-size", "65536", "--max-queue", "2",
                            "--heartbeat", "2000", NULL };
    pid_t broker;
    th_broker_t started = th_broker_start ("ipc", extra);
    broker = started.pid;
    s_endpoint = strdup (started.endpoint);
    zsock_t *client = s_dealer ();
    zsock_t *worker = s_dealer ();
    s_ready (worker, "echo", 1);

    test_round_trip (client, worker);
    test_garbage (client);
    test_stolen_done (client, worker);
    test_unknown_worker ();
    test_oversized (client);
    test_floods (client, worker);
    test_no_workers (client);
    test_death_report (client);
    test_queue_full (client);
    test_round_trip (client, worker);   /* still serving */

    /* SIGTERM: a clean stop, exit 0 (and, under ASan, no leak). */
    th_kill (broker, SIGTERM);
    int status = th_reap (broker, 10000);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 0);

    zsock_destroy (&client);
    zsock_destroy (&worker);
    zf_decoder_destroy (&s_decoder);
    free ((char *) s_endpoint);
    TEST_PASS ("test_broker_protocol");
    return 0;
}
