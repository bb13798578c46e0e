/* test_worker_removal.c: every path by which the broker deletes a worker,
 * each while another deletion is under way.
 *
 * The workers are fakes that speak the wire protocol by hand, so the test
 * decides when each answers, falls silent or leaves. The broker is a build
 * with ZFARM_TEST_HOOKS (broker/faults.h): its sends of a chosen command to
 * a chosen worker fail as a send to a vanished peer does. Each case
 * arranges that one worker's deletion requeues a task whose next worker
 * ("fake-a") then proves unreachable, so two deletions overlap, and checks
 * that the broker lives on (under ASan: touches nothing it freed), that
 * each task ends exactly once with the result of a sound worker, and that
 * the broker still stops cleanly (exit 0, no leak) on SIGTERM.
 *
 * The paths: heartbeat expiry (also of several workers in one pass, and a
 * heartbeat that cannot be sent), unreachable on send, DISCONNECT, a DONE
 * whose refill finds its own worker unreachable, a DONE and DISCONNECT in
 * one burst, a misplaced command, a local child's death, --max-call-time,
 * --max-calls-per-worker retirement, and a steal whose victim is gone;
 * and one deletion that must not happen: of a live worker, by a broker
 * that was itself stalled past the workers' liveness. */
#include "harness.h"
#include "cli_json.h"
#include "zfarm.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm_codes.h"

#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>

#define FAKES_MAX    8
#define HELD_MAX     8
#define RESULTS_MAX  32
#define HEARTBEAT    "100"      /* the broker's interval, and */
#define LIVENESS     "20"       /* expiry after 2 s: wide enough for a fake
                                   whose test is starved of CPU to beat */
#define BEAT_MS      25         /* a live fake's heartbeat */
#define WAIT_MS      20000      /* bound on every wait */

typedef struct {
    char host [32];             /* also its routing id */
    zsock_t *sock;
    bool echo;                  /* answers every TASK at once */
    bool silent;                /* neither beats nor answers */
    int64_t beat_at;
    uint64_t held [HELD_MAX];   /* TASK ids it holds, unanswered */
    char *held_payload [HELD_MAX];
    int held_count;
    int tasks;                  /* TASKs received */
    int cancels;                /* CANCELs received */
} fake_t;

typedef struct {
    uint64_t id;
    int status;
    char *data;                 /* or the error text */
} result_t;

typedef struct {
    const char *name;
    char endpoint [256];
    pid_t broker;
    zf_decoder_t *decoder;
    fake_t fakes [FAKES_MAX];
    int fake_count;
    zfarm_client_t *client;
    result_t results [RESULTS_MAX];
    int result_count;
} farm_t;

/* ---- the farm ---------------------------------------------------------- */

/* Starts a broker whose sends fail by the rules in unreachable (faults.h). */
static void
s_farm_start (farm_t *farm, const char *name, const char *unreachable,
              const char *const extra [])
{
    *farm = (farm_t) { .name = name, .decoder = zf_decoder_new () };
    const char *args [16] = { "--heartbeat", HEARTBEAT, "--liveness",
                              LIVENESS };
    int count = 4;
    for (int i = 0; extra && extra [i]; i++)
        args [count++] = extra [i];
    args [count] = NULL;
    setenv ("ZFARM_TEST_UNREACHABLE", unreachable, 1);
    th_broker_t broker = th_broker_start ("ipc", args);
    unsetenv ("ZFARM_TEST_UNREACHABLE");
    farm->broker = broker.pid;
    snprintf (farm->endpoint, sizeof farm->endpoint, "%s", broker.endpoint);
    farm->client = zfarm_client_new (farm->endpoint);
    ASSERT (farm->client);
}

static json_t *
s_status (farm_t *farm)
{
    char *text = th_status (farm->endpoint);
    ASSERT (text);
    json_t *doc = json_parse (text, strlen (text));
    free (text);
    ASSERT (doc);
    return doc;
}

/* Registered workers whose host is host (NULL: all). */
static int
s_workers (farm_t *farm, const char *host)
{
    json_t *doc = s_status (farm);
    int count = 0;
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker; worker = json_next (worker))
        count += !host || strcmp (json_string (json_member (worker, "host"),
                                               ""), host) == 0;
    json_destroy (&doc);
    return count;
}

static long
s_counter (farm_t *farm, const char *name)
{
    json_t *doc = s_status (farm);
    long value = (long) json_number (json_member (json_member (doc,
                                     "counters"), name), -1);
    json_destroy (&doc);
    return value;
}

/* The pid of the one local (--spawn) worker. */
static int
s_local_pid (farm_t *farm)
{
    json_t *doc = s_status (farm);
    int pid = 0;
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker; worker = json_next (worker))
        if (json_bool (json_member (worker, "local"), false))
            pid = (int) json_number (json_member (worker, "pid"), 0);
    json_destroy (&doc);
    return pid;
}

/* The parent of a process, from /proc, or 0. */
static int
s_parent (int pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    char *stat = th_read_file (path, NULL);
    const char *end = stat? strrchr (stat, ')'): NULL;
    int parent = 0;
    if (!end || sscanf (end, ") %*c %d", &parent) != 1)
        parent = 0;
    free (stat);
    return parent;
}

/* Kills a process of the broker's pool: one that descends from the broker
 * this test started, and from nothing else. */
static void
s_kill_local (farm_t *farm, int pid)
{
    int at = pid;
    for (int depth = 0; depth < 4 && at > 1 && at != farm->broker; depth++)
        at = s_parent (at);
    if (at != farm->broker)
        TEST_FAIL ("%d is not a process of our broker %d", pid,
                   (int) farm->broker);
    ASSERT_EQ (kill (pid, SIGKILL), 0);
}

/* ---- fake workers ------------------------------------------------------ */

static void
s_fake_send (fake_t *fake, zf_header_t *header, const char *payload)
{
    zmsg_t *msg = NULL;
    if (payload) {
        msg = zmsg_new ();
        zmsg_addstr (msg, payload);
    }
    ASSERT_EQ (zf_wire_send (fake->sock, header, &msg), 0);
}

static void
s_fake_command (fake_t *fake, int command)
{
    zf_header_t header;
    zf_header_init (&header, command);
    s_fake_send (fake, &header, NULL);
}

/* Answers the held task at index with its result, "host:payload". */
static void
s_fake_answer (fake_t *fake, int index)
{
    char data [128];
    snprintf (data, sizeof data, "%s:%s", fake->host,
              fake->held_payload [index]);
    zf_header_t header;
    zf_header_init (&header, ZF_DONE);
    header.task_id = fake->held [index];
    s_fake_send (fake, &header, data);
    free (fake->held_payload [index]);
    fake->held_count--;
    memmove (&fake->held [index], &fake->held [index + 1],
             (size_t) (fake->held_count - index) * sizeof fake->held [0]);
    memmove (&fake->held_payload [index], &fake->held_payload [index + 1],
             (size_t) (fake->held_count - index) * sizeof (char *));
}

static void
s_fake_answer_all (fake_t *fake)
{
    while (fake->held_count)
        s_fake_answer (fake, 0);
}

/* From now on the fake answers every TASK at once, also any it took
 * before: one that joins while a task waits may be sent it during its
 * s_fake_join, before the test could make it echo (under load that task
 * then waited for its timeout). */
static void
s_fake_echo (fake_t *fake)
{
    fake->echo = true;
    s_fake_answer_all (fake);
}

static void s_pump (farm_t *farm, int ms);

/* Registers a fake worker of service "s", and waits until the broker has
 * taken its READY (so that workers join in the order the test says); the
 * fakes keep beating meanwhile. */
static fake_t *
s_fake_join (farm_t *farm, const char *host, uint32_t capacity,
             uint32_t prefetch)
{
    ASSERT (farm->fake_count < FAKES_MAX);
    fake_t *fake = &farm->fakes [farm->fake_count++];
    *fake = (fake_t) { .beat_at = 0 };
    snprintf (fake->host, sizeof fake->host, "%s", host);
    fake->sock = zsock_new (ZMQ_DEALER);
    ASSERT (fake->sock);
    zsock_set_identity (fake->sock, host);
    ASSERT_EQ (zsock_connect (fake->sock, "%s", farm->endpoint), 0);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = 1;
    strcpy (header.services [0], "s");
    header.capacity = capacity;
    header.prefetch = prefetch;
    header.pid = 1000 + (uint32_t) farm->fake_count;
    snprintf (header.host, sizeof header.host, "%s", host);
    snprintf (header.text, sizeof header.text, "fake");
    long joined = s_counter (farm, "workers_joined");
    s_fake_send (fake, &header, NULL);
    for (int i = 0; i < 1000 && s_counter (farm, "workers_joined") == joined;
         i++)
        s_pump (farm, 5);
    ASSERT_EQ (s_counter (farm, "workers_joined"), joined + 1);
    return fake;
}

static void
s_fake_handle (farm_t *farm, fake_t *fake)
{
    zf_header_t header;
    zmsg_t *payload = NULL;
    if (zf_wire_recv (fake->sock, farm->decoder, &header, &payload) != 0)
        return;
    size_t size;
    char *data = zf_wire_join (payload, &size);
    zmsg_destroy (&payload);
    if (header.command == ZF_TASK && !fake->silent) {
        ASSERT (fake->held_count < HELD_MAX);
        fake->held [fake->held_count] = header.task_id;
        fake->held_payload [fake->held_count++] = data;
        fake->tasks++;
        if (fake->echo)
            s_fake_answer_all (fake);
        return;
    }
    if (header.command == ZF_CANCEL)
        fake->cancels++;
    free (data);
}

/* Runs the fakes for ms: they beat, take TASKs and answer as set. */
static void
s_pump (farm_t *farm, int ms)
{
    int64_t until = zclock_mono () + ms;
    do {
        zmq_pollitem_t items [FAKES_MAX];
        for (int i = 0; i < farm->fake_count; i++) {
            fake_t *fake = &farm->fakes [i];
            if (fake->sock && !fake->silent && zclock_mono () >= fake->beat_at) {
                s_fake_command (fake, ZF_HEARTBEAT);
                fake->beat_at = zclock_mono () + BEAT_MS;
            }
            items [i] = (zmq_pollitem_t) {
                fake->sock? zsock_resolve (fake->sock): NULL, -1,
                fake->sock? ZMQ_POLLIN: 0, 0 };
        }
        zmq_poll (items, farm->fake_count, 5);
        for (int i = 0; i < farm->fake_count; i++)
            while (farm->fakes [i].sock
               && (zsock_events (farm->fakes [i].sock) & ZMQ_POLLIN))
                s_fake_handle (farm, &farm->fakes [i]);
    } while (zclock_mono () < until);
}

/* Pumps until fake holds count tasks. */
static void
s_wait_held (farm_t *farm, fake_t *fake, int count)
{
    int64_t until = zclock_mono () + WAIT_MS;
    while (fake->held_count < count && zclock_mono () < until)
        s_pump (farm, 5);
    ASSERT_EQ (fake->held_count, count);
}

/* ---- the client -------------------------------------------------------- */

static uint64_t
s_submit (farm_t *farm, const char *payload)
{
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (farm->client, "s", payload,
                                    strlen (payload), WAIT_MS, &id), 0);
    return id;
}

/* Pumps the fakes until the client has count results in all. */
static void
s_collect (farm_t *farm, int count)
{
    int64_t until = zclock_mono () + WAIT_MS;
    while (farm->result_count < count && zclock_mono () < until) {
        s_pump (farm, 5);
        zfarm_result_t *result;
        while (zfarm_client_wait (farm->client, 0, &result) == 0) {
            ASSERT (farm->result_count < RESULTS_MAX);
            result_t *kept = &farm->results [farm->result_count++];
            size_t size;
            kept->id = zfarm_result_task_id (result);
            kept->status = zfarm_result_status (result);
            kept->data = strdup (kept->status? zfarm_result_error (result)
                                             : zfarm_result_data (result,
                                                                  &size));
            zfarm_result_destroy (&result);
        }
    }
    ASSERT_EQ (farm->result_count, count);
}

/* The one result of task id: status, and data (or error text) containing
 * expected. */
static void
s_expect (farm_t *farm, uint64_t id, int status, const char *expected)
{
    int found = 0;
    for (int i = 0; i < farm->result_count; i++) {
        result_t *result = &farm->results [i];
        if (result->id != id)
            continue;
        found++;
        ASSERT_EQ (result->status, status);
        if (!strstr (result->data, expected))
            TEST_FAIL ("%s: task %" PRIu64 ": '%s' lacks '%s'", farm->name,
                       id, result->data, expected);
    }
    ASSERT_EQ (found, 1);
}

/* The broker is still up, serves status, and then stops cleanly. */
static void
s_farm_stop (farm_t *farm)
{
    ASSERT (th_alive (farm->broker));
    ASSERT (zfarm_client_pending (farm->client) == 0);
    zfarm_client_destroy (&farm->client);
    for (int i = 0; i < farm->fake_count; i++) {
        fake_t *fake = &farm->fakes [i];
        while (fake->held_count)
            free (fake->held_payload [--fake->held_count]);
        zsock_destroy (&fake->sock);
    }
    for (int i = 0; i < farm->result_count; i++)
        free (farm->results [i].data);
    th_kill (farm->broker, SIGTERM);
    int status = th_reap (farm->broker, WAIT_MS);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        TEST_FAIL ("%s: the broker ended with status %d", farm->name, status);
    zf_decoder_destroy (&farm->decoder);
    printf ("%s: ok\n", farm->name);
}

/* ---- the cases --------------------------------------------------------- */

/* A --worker-cmd for the broker's pool: a zfarm-worker whose tasks echo
 * their payload once the test creates the file "go" (each waits at most
 * 30 s for it). */
static void
s_gated_worker_cmd (char *command, size_t size)
{
    snprintf (command, size, "%s --service s --heartbeat " HEARTBEAT
              " --exec 'for i in $(seq 3000); do [ -e %s/go ] && break;"
              " sleep 0.01; done; cat'", th_bin ("zfarm-worker"),
              th_tmpdir ());
}

static void
s_open_gate (void)
{
    char path [512];
    snprintf (path, sizeof path, "%s/go", th_tmpdir ());
    FILE *file = fopen (path, "w");
    ASSERT (file);
    fclose (file);
}

/* The crash of issue 11: the heartbeat pass expires B, whose task goes to
 * A, the next worker in the pass, which proves unreachable; C runs it. */
static void
test_expiry (void)
{
    farm_t farm;
    s_farm_start (&farm, "expiry", "TASK@fake-a", NULL);
    fake_t *b = s_fake_join (&farm, "fake-b", 1, 1);
    uint64_t task = s_submit (&farm, "t1");
    s_wait_held (&farm, b, 1);
    s_fake_join (&farm, "fake-a", 1, 1);
    fake_t *c = s_fake_join (&farm, "fake-c", 1, 1);
    s_fake_echo (c);
    b->silent = true;
    s_collect (&farm, 1);
    s_expect (&farm, task, 0, "fake-c:t1");
    ASSERT_EQ (s_workers (&farm, NULL), 1);
    /* B silent, A unreachable: both lost. The task spent one retry, at
     * B; the TASK that could not go to A spent none. */
    ASSERT_EQ (s_counter (&farm, "workers_lost"), 2);
    ASSERT_EQ (s_counter (&farm, "retried"), 1);
    s_farm_stop (&farm);
}

/* Two workers expire in one pass, a third cannot be sent its heartbeat,
 * and the two requeued tasks meet two unreachable workers on their way. */
static void
test_expiry_many (void)
{
    farm_t farm;
    s_farm_start (&farm, "expiry of many", "TASK@fake-a,TASK@fake-a2,"
                  "HEARTBEAT@fake-d", NULL);
    fake_t *b1 = s_fake_join (&farm, "fake-b", 1, 1);
    fake_t *b2 = s_fake_join (&farm, "fake-b2", 1, 1);
    uint64_t tasks [2] = { s_submit (&farm, "t1"), s_submit (&farm, "t2") };
    s_wait_held (&farm, b1, 1);
    s_wait_held (&farm, b2, 1);
    s_fake_join (&farm, "fake-a", 1, 1);
    s_fake_join (&farm, "fake-a2", 1, 1);
    fake_t *c = s_fake_join (&farm, "fake-c", 2, 1);
    s_fake_echo (c);
    b1->silent = b2->silent = true;
    s_collect (&farm, 2);
    s_expect (&farm, tasks [0], 0, "fake-c:t1");
    s_expect (&farm, tasks [1], 0, "fake-c:t2");
    /* fake-d joins now: its first heartbeat fails, and it is deleted. */
    s_fake_join (&farm, "fake-d", 1, 1);
    for (int i = 0; i < 200 && s_workers (&farm, "fake-d"); i++)
        s_pump (&farm, 10);
    ASSERT_EQ (s_workers (&farm, NULL), 1);
    s_farm_stop (&farm);
}

/* B leaves (DISCONNECT) with a task in hand: it is requeued without
 * spending a retry, bounces off unreachable A and runs on C. */
static void
test_disconnect (void)
{
    farm_t farm;
    s_farm_start (&farm, "disconnect", "TASK@fake-a", NULL);
    fake_t *b = s_fake_join (&farm, "fake-b", 1, 1);
    uint64_t task = s_submit (&farm, "t1");
    s_wait_held (&farm, b, 1);
    s_fake_join (&farm, "fake-a", 1, 1);
    fake_t *c = s_fake_join (&farm, "fake-c", 1, 1);
    s_fake_echo (c);
    s_fake_command (b, ZF_DISCONNECT);
    s_collect (&farm, 1);
    s_expect (&farm, task, 0, "fake-c:t1");
    ASSERT_EQ (s_counter (&farm, "retried"), 0);
    ASSERT_EQ (s_workers (&farm, NULL), 1);
    s_farm_stop (&farm);
}

/* B's DONE frees its slot, and the refill finds B itself unreachable (the
 * path of 00fdc68): B is deleted inside its own refill; its next task
 * waits for C. */
static void
test_done_refill_unreachable (void)
{
    farm_t farm;
    s_farm_start (&farm, "refill unreachable", "TASK@fake-b#2", NULL);
    fake_t *b = s_fake_join (&farm, "fake-b", 1, 1);
    uint64_t tasks [2] = { s_submit (&farm, "t1"), s_submit (&farm, "t2") };
    s_wait_held (&farm, b, 1);
    s_fake_answer_all (b);
    s_collect (&farm, 1);
    s_expect (&farm, tasks [0], 0, "fake-b:t1");
    for (int i = 0; i < 200 && s_workers (&farm, "fake-b"); i++)
        s_pump (&farm, 10);
    ASSERT_EQ (s_workers (&farm, NULL), 0);
    fake_t *c = s_fake_join (&farm, "fake-c", 1, 1);
    s_fake_echo (c);
    s_collect (&farm, 2);
    s_expect (&farm, tasks [1], 0, "fake-c:t2");
    s_farm_stop (&farm);
}

/* B answers its task and leaves in one burst: the DONE's refill gave it
 * the queued task, which the DISCONNECT then requeues; it waits for the
 * next worker, bounces off unreachable A, and runs on C. */
static void
test_done_then_disconnect (void)
{
    farm_t farm;
    s_farm_start (&farm, "done then disconnect", "TASK@fake-a", NULL);
    fake_t *b = s_fake_join (&farm, "fake-b", 1, 1);
    uint64_t tasks [2] = { s_submit (&farm, "t1"), s_submit (&farm, "t2") };
    s_wait_held (&farm, b, 1);
    s_fake_answer_all (b);
    s_fake_command (b, ZF_DISCONNECT);
    s_collect (&farm, 1);
    s_expect (&farm, tasks [0], 0, "fake-b:t1");
    for (int i = 0; i < 200 && s_workers (&farm, "fake-b"); i++)
        s_pump (&farm, 10);
    ASSERT_EQ (s_workers (&farm, NULL), 0);
    s_fake_join (&farm, "fake-a", 1, 1);
    fake_t *c = s_fake_join (&farm, "fake-c", 1, 1);
    s_fake_echo (c);
    s_collect (&farm, 2);
    s_expect (&farm, tasks [1], 0, "fake-c:t2");
    ASSERT_EQ (s_counter (&farm, "retried"), 0);
    ASSERT_EQ (s_workers (&farm, NULL), 1);
    s_farm_stop (&farm);
}

/* Not a removal: the machine stalls, as one under heavy load does, past
 * the workers' liveness: the broker stops (SIGSTOP), and B with it (this
 * process sleeps). When the broker runs again its heartbeat pass is
 * overdue, and runs before anything B sends can be read: the time the
 * broker did not run must not count as B's silence. (It did: B was lost
 * with its task, which ended in TIMEOUT or NO_WORKERS, the flake of
 * test_done_then_disconnect under load.) */
static void
test_broker_stall (void)
{
    farm_t farm;
    s_farm_start (&farm, "broker stall", "TASK@fake-a", NULL);
    fake_t *b = s_fake_join (&farm, "fake-b", 1, 1);
    uint64_t task = s_submit (&farm, "t1");
    s_wait_held (&farm, b, 1);
    ASSERT_EQ (kill (farm.broker, SIGSTOP), 0);
    zclock_sleep (3000);        /* past liveness (2 s) */
    ASSERT_EQ (kill (farm.broker, SIGCONT), 0);
    zclock_sleep (200);         /* the overdue pass runs before B is heard */
    s_pump (&farm, 300);
    ASSERT_EQ (s_counter (&farm, "workers_lost"), 0);
    s_fake_answer_all (b);
    s_collect (&farm, 1);
    s_expect (&farm, task, 0, "fake-b:t1");
    ASSERT_EQ (s_workers (&farm, "fake-b"), 1);
    s_farm_stop (&farm);
}

/* B sends READY again, a protocol error: it is told to go and deleted,
 * and its task bounces off A and runs on C. */
static void
test_misplaced (void)
{
    farm_t farm;
    s_farm_start (&farm, "misplaced", "TASK@fake-a", NULL);
    fake_t *b = s_fake_join (&farm, "fake-b", 1, 1);
    uint64_t task = s_submit (&farm, "t1");
    s_wait_held (&farm, b, 1);
    s_fake_join (&farm, "fake-a", 1, 1);
    fake_t *c = s_fake_join (&farm, "fake-c", 1, 1);
    s_fake_echo (c);
    zf_header_t ready;
    zf_header_init (&ready, ZF_READY);
    ready.service_count = 1;
    strcpy (ready.services [0], "s");
    ready.capacity = 1;
    strcpy (ready.host, "fake-b");
    s_fake_send (b, &ready, NULL);
    s_collect (&farm, 1);
    s_expect (&farm, task, 0, "fake-c:t1");
    ASSERT_EQ (s_workers (&farm, NULL), 1);
    s_farm_stop (&farm);
}

/* The local worker (--spawn 1) dies mid-task: SIGCHLD deletes it, its task
 * bounces off A and runs on C; the pool starts another. */
static void
test_child_death (void)
{
    char command [1024];
    s_gated_worker_cmd (command, sizeof command);
    farm_t farm;
    s_farm_start (&farm, "child death", "TASK@fake-a",
                  (const char *const []) { "--spawn", "1", "--worker-cmd",
                                           command, NULL });
    ASSERT (th_wait_workers (farm.endpoint, 1, WAIT_MS));
    int child = s_local_pid (&farm);
    ASSERT (child > 0);
    uint64_t task = s_submit (&farm, "t1");
    for (int i = 0; i < 1000 && s_counter (&farm, "submitted") < 1; i++)
        s_pump (&farm, 5);
    s_fake_join (&farm, "fake-a", 1, 1);
    fake_t *c = s_fake_join (&farm, "fake-c", 1, 1);
    s_fake_echo (c);
    ASSERT_EQ (c->tasks, 0);    /* the task is at the local worker */
    s_kill_local (&farm, child);
    s_collect (&farm, 1);
    s_expect (&farm, task, 0, "fake-c:t1");
    /* The local worker and A, which the task could not be sent to. */
    ASSERT_EQ (s_counter (&farm, "workers_lost"), 2);
    for (int i = 0; i < 1000 && s_local_pid (&farm) <= 0; i++)
        s_pump (&farm, 10);
    ASSERT (s_local_pid (&farm) > 0 && s_local_pid (&farm) != child);
    s_farm_stop (&farm);
}

/* B holds two tasks past --max-call-time: the first to overrun ends in
 * TIMEOUT and B is dropped; the other bounces off A and runs on C. The
 * limit leaves this process, which answers for C, time to be scheduled on
 * a loaded machine (300 ms could run out before C's echo). */
static void
test_max_call_time (void)
{
    farm_t farm;
    s_farm_start (&farm, "max call time", "TASK@fake-a",
                  (const char *const []) { "--max-call-time", "2000", NULL });
    fake_t *b = s_fake_join (&farm, "fake-b", 2, 1);
    uint64_t first = s_submit (&farm, "t1");
    s_wait_held (&farm, b, 1);
    /* The broker's clock counts milliseconds: t2 must start in a later one
     * than t1, so that t1 is the first to overrun. */
    s_pump (&farm, 5);
    uint64_t second = s_submit (&farm, "t2");
    s_wait_held (&farm, b, 2);
    s_fake_join (&farm, "fake-a", 1, 1);
    fake_t *c = s_fake_join (&farm, "fake-c", 1, 1);
    s_fake_echo (c);
    s_collect (&farm, 2);
    s_expect (&farm, first, ZFARM_ETIMEOUT, "--max-call-time");
    s_expect (&farm, second, 0, "fake-c:t2");
    ASSERT_EQ (s_workers (&farm, NULL), 1);
    s_farm_stop (&farm);
}

/* The local worker retires after one task (--max-calls-per-worker 1) while
 * the task queued behind it has bounced off unreachable A: the pool's new
 * worker runs it. */
static void
test_retirement (void)
{
    char command [1024];
    s_gated_worker_cmd (command, sizeof command);
    farm_t farm;
    s_farm_start (&farm, "retirement", "TASK@fake-a",
                  (const char *const []) { "--spawn", "1", "--worker-cmd",
                                           command, "--max-calls-per-worker",
                                           "1", NULL });
    ASSERT (th_wait_workers (farm.endpoint, 1, WAIT_MS));
    int child = s_local_pid (&farm);
    uint64_t first = s_submit (&farm, "first");
    uint64_t second = s_submit (&farm, "second");
    for (int i = 0; i < 1000 && s_counter (&farm, "submitted") < 2; i++)
        s_pump (&farm, 5);
    /* The local worker holds the first, and retires after it: the second
     * waits, and bounces off A as soon as A joins. */
    fake_t *a = s_fake_join (&farm, "fake-a", 1, 1);
    for (int i = 0; i < 1000 && s_workers (&farm, "fake-a"); i++)
        s_pump (&farm, 5);
    ASSERT_EQ (s_workers (&farm, "fake-a"), 0);
    ASSERT_EQ (a->tasks, 0);
    s_open_gate ();
    s_collect (&farm, 2);
    s_expect (&farm, first, 0, "first");
    s_expect (&farm, second, 0, "second");
    ASSERT (s_local_pid (&farm) != child);
    s_farm_stop (&farm);
}

/* Prefetch is on (eight quick tasks teach the broker the service is
 * short). X frees its slot with nothing queued and asks B to give back
 * the task it holds in advance; the CANCEL finds B unreachable, so B is
 * deleted mid-steal and both its tasks run on X. */
static void
test_steal_victim_gone (void)
{
    farm_t farm;
    s_farm_start (&farm, "steal from a gone victim", "CANCEL@fake-b",
                  (const char *const []) { "--prefetch-below", "10000",
                                           NULL });
    /* X alone learns the broker that the service is short: a steal from
     * B now would meet the injected failure too early. */
    fake_t *x = s_fake_join (&farm, "fake-x", 1, 4);
    s_fake_echo (x);
    for (int i = 0; i < 12; i++)
        s_submit (&farm, "warm");
    s_collect (&farm, 12);
    x->echo = false;
    fake_t *b = s_fake_join (&farm, "fake-b", 1, 4);
    uint64_t tasks [4];
    for (int i = 0; i < 4; i++) {
        char payload [8];
        snprintf (payload, sizeof payload, "t%d", i + 1);
        tasks [i] = s_submit (&farm, payload);
    }
    s_wait_held (&farm, x, 2);
    s_wait_held (&farm, b, 2);
    /* X finishes both of its own: it is idle, nothing is queued, and B
     * holds one task in advance. */
    x->echo = true;
    s_fake_answer_all (x);
    s_collect (&farm, 16);
    for (int i = 0; i < 4; i++) {
        char expected [16];
        snprintf (expected, sizeof expected, "fake-x:t%d", i + 1);
        s_expect (&farm, tasks [i], 0, expected);
    }
    ASSERT_EQ (s_counter (&farm, "steals"), 1);
    ASSERT_EQ (s_workers (&farm, NULL), 1);
    s_farm_stop (&farm);
}

int
main (void)
{
#ifndef ZFARM_TEST_HOOKS
    printf ("test_worker_removal: skipped: the broker was built without"
            " ZFARM_TEST_HOOKS (tests/run.sh builds with it)\n");
    return 77;
#endif
    test_expiry ();
    test_expiry_many ();
    test_disconnect ();
    test_done_refill_unreachable ();
    test_done_then_disconnect ();
    test_broker_stall ();
    test_misplaced ();
    test_child_death ();
    test_max_call_time ();
    test_retirement ();
    test_steal_victim_gone ();
    TEST_PASS ("test_worker_removal");
    return 0;
}
