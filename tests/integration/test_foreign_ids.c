/* test_foreign_ids.c: no routing id a peer claims can make the broker
 * abort, or bring it another peer's messages.
 *
 * libzmq 4.3.4's ROUTER gives a peer that claims no routing id a generated
 * one (a zero byte and a counter), and aborts the whole process when a
 * connected peer has already claimed that id (deploy/libzmq/README.md).
 * The attack: a peer without an id registers as a worker, the status
 * document shows the id it was given, a second connection claims the next
 * counter value, a third connects without an id. Every peer of the attack
 * here speaks ZMTP by hand (raw_zmtp.h), over the NULL mechanism and over
 * CURVE with an authorized worker key, and claims one of: the next
 * generated ids, 00 00 00 00 00, 00, 255 bytes that start with 00, a live
 * generated id, 255 bytes that do not. On zfarm's patched libzmq each
 * claim that starts with a zero byte gets a generated id: the broker stays
 * up, a real client's calls through a real worker get their right
 * answers, and no foreign peer ever receives a TASK or a RESULT. On the
 * system libzmq the broker aborts, and this test fails.
 *
 * Arguments: "plain" or "curve" runs that part alone. */
#include "harness.h"
#include "raw_zmtp.h"
#include "zfarm.h"
#include "zf_proto.h"
#include <czmq.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define FOREIGN_MAX   16
#define PID_BASE      700000    /* foreign workers' pids, as their READY says */
#define WAIT_MS       10000     /* for one reply */
#define COUNTER_SPAN  64        /* ids generated during the attack, at most */
#define CALLS         3         /* a real client's, before and after */
#define HEX_MAX       (2 * 255 + 1)

/* One peer of the attack. */
typedef struct {
    char what [64];             /* what it claims, for messages */
    uint8_t id [255];           /* the routing id it claims */
    size_t id_size;             /* 0: none */
    uint32_t pid;               /* in its READY: finds it in the status */
    raw_peer_t *peer;
} foreign_t;

static zf_decoder_t *s_decoder;
static pid_t s_broker;          /* the broker of the part that runs */
static char s_broker_log [600];
static int s_broker_count;      /* th_broker_start numbers its logs so */

/* ---- failing with the broker's story ------------------------------------- */

/* Fails the test: the broker was killed (how, and how its log ends), or
 * else why. */
static void
s_fail (const foreign_t *self, const char *why)
{
    int status = th_reap (s_broker, 2000);
    const char *libzmq = getenv ("ZFARM_BROKER_LIBZMQ");
    char *log = th_read_file (s_broker_log, NULL);
    size_t size = log? strlen (log): 0;
    const char *tail = log? log + (size > 800? size - 800: 0): "(none)";
    if (status != -1 && WIFSIGNALED (status))
        TEST_FAIL ("zfarm-broker (%s libzmq) died of signal %d (%s) after"
                   " the peer that %s connected; its log ends:\n%s",
                   libzmq? libzmq: "patched", WTERMSIG (status),
                   strsignal (WTERMSIG (status)), self->what, tail);
    if (status != -1)
        TEST_FAIL ("zfarm-broker exited (status %d) after the peer that %s"
                   " connected; its log ends:\n%s", status, self->what, tail);
    TEST_FAIL ("the peer that %s: %s", self->what, why);
}

/* ---- one foreign peer ----------------------------------------------------- */

static void
s_send (foreign_t *self, const zf_header_t *header)
{
    zf_buf_t buf;
    ASSERT_EQ (zf_header_encode (header, &buf), 0);
    const void *data [] = { buf.data };
    const size_t size [] = { buf.size };
    if (raw_peer_send (self->peer, data, size, 1) != 0)
        s_fail (self, "its connection broke");
}

/* Handles a message the broker sent a foreign peer; returns its command.
 * A TASK or a RESULT fails the test: no one gave this peer a task, or had
 * it submit one. */
static int
s_handle (foreign_t *self, const raw_message_t *message)
{
    zf_header_t header;
    if (zf_header_decode (s_decoder, &header, message->data [0],
                          message->size [0]) != 0)
        s_fail (self, "it received a message that does not decode");
    char why [ZF_TEXT_MAX + 128];
    switch (header.command) {
        case ZF_TASK:
        case ZF_RESULT:
            snprintf (why, sizeof why, "it received a %s (task %" PRIu64
                      ") meant for someone else",
                      zf_command_name (header.command), header.task_id);
            s_fail (self, why);
            break;
        case ZF_ERROR:
        case ZF_DISCONNECT:
            snprintf (why, sizeof why, "the broker sent it %s: %s",
                      zf_command_name (header.command), header.text);
            s_fail (self, why);
            break;
        case ZF_HEARTBEAT:
            s_send (self, &header);     /* a worker's part */
            break;
    }
    return header.command;
}

/* Sends PING and reads what comes until its PONG: the broker handles one
 * connection's messages in order, so everything sent before the PING was
 * handled, and everything sent to this peer before the PONG was read. */
static void
s_ping (foreign_t *self)
{
    zf_header_t header;
    zf_header_init (&header, ZF_PING);
    s_send (self, &header);
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        raw_message_t message;
        int rc = raw_peer_recv (self->peer, &message, left > 0? (int) left: 0);
        if (rc <= 0)
            s_fail (self, rc == 0? "no PONG within 10 s"
                                 : "its connection closed, with no PONG");
        int command = s_handle (self, &message);
        raw_message_free (&message);
        if (command == ZF_PONG)
            return;
    }
}

/* Connects (handshake by hand), registers as a worker of "foreign", and
 * waits until the broker has handled that. */
static void
s_join (foreign_t *self, const char *endpoint, const raw_curve_t *curve)
{
    char error [256];
    self->peer = raw_peer_new (endpoint, curve, self->id, self->id_size,
                               WAIT_MS, error, sizeof error);
    if (!self->peer)
        s_fail (self, error);
    zf_header_t ready;
    zf_header_init (&ready, ZF_READY);
    zf_header_set_text (&ready, "foreign");     /* its software version */
    strcpy (ready.services [ready.service_count++], "foreign");
    strcpy (ready.host, "foreign");
    ready.capacity = 1;
    ready.pid = self->pid;
    s_send (self, &ready);
    s_ping (self);
}

static foreign_t *
s_foreign_add (foreign_t *all, int *count, const char *what,
               const void *id, size_t id_size)
{
    ASSERT_INT (*count, <, FOREIGN_MAX);
    foreign_t *self = &all [*count];
    *self = (foreign_t) { .id_size = id_size,
                          .pid = PID_BASE + (uint32_t) *count };
    snprintf (self->what, sizeof self->what, "%s", what);
    if (id_size)
        memcpy (self->id, id, id_size);
    (*count)++;
    return self;
}

/* ---- ids ------------------------------------------------------------------ */

static void
s_hex (const uint8_t *data, size_t size, char hex [HEX_MAX])
{
    for (size_t i = 0; i < size; i++)
        snprintf (hex + 2 * i, 3, "%02x", data [i]);
    hex [2 * size] = 0;
}

/* A generated routing id: a zero byte and a 32-bit counter. */
static void
s_generated_id (uint32_t counter, uint8_t id [5])
{
    id [0] = 0;
    for (int i = 4; i >= 1; i--, counter >>= 8)
        id [i] = (uint8_t) counter;
}

/* True if hex is a generated id; its counter into *counter. */
static bool
s_is_generated (const char *hex, uint32_t *counter)
{
    unsigned value;
    if (strlen (hex) != 10 || strncmp (hex, "00", 2) != 0
    ||  sscanf (hex + 2, "%8x", &value) != 1)
        return false;
    *counter = value;
    return true;
}

/* The routing id (hex) the status document gives the worker whose READY
 * said pid; false if it lists none. */
static bool
s_status_id (const json_t *doc, uint32_t pid, char hex [HEX_MAX])
{
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker; worker = json_next (worker))
        if (json_number (json_member (worker, "pid"), -1) == pid) {
            snprintf (hex, HEX_MAX, "%s",
                      json_string (json_member (worker, "id"), ""));
            return true;
        }
    return false;
}

/* ---- the attack ----------------------------------------------------------- */

/* The broker lists every foreign peer as a worker; a claim that starts
 * with a zero byte got a generated id (from the attack's span of the
 * counter), any other claim its own id; no two share one. */
static void
s_check_ids (foreign_t *all, int count, const char *status_endpoint,
             uint32_t first_counter)
{
    json_t *doc = th_status_doc (status_endpoint);
    ASSERT (doc);
    char ids [FOREIGN_MAX][HEX_MAX];
    for (int i = 0; i < count; i++) {
        foreign_t *self = &all [i];
        uint32_t counter;
        if (!s_status_id (doc, self->pid, ids [i]))
            s_fail (self, "the broker does not list it as a worker");
        if (self->id_size && self->id [0] != 0) {
            char claimed [HEX_MAX];
            s_hex (self->id, self->id_size, claimed);
            ASSERT_STR_EQ (ids [i], claimed);
        }
        else {
            if (!s_is_generated (ids [i], &counter))
                TEST_FAIL ("the peer that %s has id %s, not a generated one",
                           self->what, ids [i]);
            ASSERT_INT ((uint32_t) (counter - first_counter), <=, COUNTER_SPAN);
            if (i == 0)
                ASSERT_EQ (counter, first_counter);     /* it kept its own */
        }
        for (int j = 0; j < i; j++)
            if (strcmp (ids [i], ids [j]) == 0)
                TEST_FAIL ("the peers that %s and %s share id %s", self->what,
                           all [j].what, ids [i]);
    }
    json_destroy (&doc);
}

/* Calls echo CALLS times; each gets its own payload back. */
static void
s_calls (zfarm_client_t *client, const char *when)
{
    for (int i = 0; i < CALLS; i++) {
        char payload [64];
        snprintf (payload, sizeof payload, "%s the foreign ids, call %d",
                  when, i);
        zfarm_result_t *result = NULL;
        int rc = zfarm_client_call (client, "echo", payload, strlen (payload),
                                    20000, &result);
        if (rc != 0)
            TEST_FAIL ("call %d %s the foreign ids: %s", i, when,
                       zfarm_result_error (result));
        size_t size;
        const void *data = zfarm_result_data (result, &size);
        ASSERT_EQ (size, strlen (payload));
        ASSERT_MEM_EQ (data, payload, size);
        zfarm_result_destroy (&result);
    }
}

static void
s_attack (const char *endpoint, const char *status_endpoint,
          const raw_curve_t *curve, zfarm_client_t *client)
{
    foreign_t all [FOREIGN_MAX];
    int count = 0;
    s_calls (client, "before");

    /* A worker without an id: the status says which id it was given. */
    foreign_t *first = s_foreign_add (all, &count, "claims no id", NULL, 0);
    s_join (first, endpoint, curve);
    json_t *doc = th_status_doc (status_endpoint);
    char hex [HEX_MAX];
    uint32_t counter;
    ASSERT (doc && s_status_id (doc, first->pid, hex));
    json_destroy (&doc);
    if (!s_is_generated (hex, &counter))
        TEST_FAIL ("a peer that claims no id got %s, not a generated id", hex);

    /* Ids that start with a zero byte: the next two the ROUTER would
     * generate, five zero bytes, one, 255 bytes. */
    uint8_t id [255];
    s_generated_id (counter + 1, id);
    s_join (s_foreign_add (all, &count, "claims the next generated id",
                           id, 5), endpoint, curve);
    s_generated_id (counter + 2, id);
    s_join (s_foreign_add (all, &count, "claims the generated id after it",
                           id, 5), endpoint, curve);
    memset (id, 0, sizeof id);
    s_join (s_foreign_add (all, &count, "claims 00 00 00 00 00", id, 5),
            endpoint, curve);
    s_join (s_foreign_add (all, &count, "claims 00", id, 1), endpoint, curve);
    memset (id + 1, 0x5a, sizeof id - 1);
    s_join (s_foreign_add (all, &count, "claims 255 bytes that start with 00",
                           id, sizeof id), endpoint, curve);

    /* Without an id again: on libzmq 4.3.4 the first of these is given the
     * id claimed above, and the broker aborts. */
    for (int i = 0; i < 3; i++)
        s_join (s_foreign_add (all, &count, "claims no id, after the claims",
                               NULL, 0), endpoint, curve);

    /* A live generated id, the first worker's; and 255 bytes that do not
     * start with a zero byte, which is an id like any other. */
    s_generated_id (counter, id);
    s_join (s_foreign_add (all, &count, "claims the first worker's id",
                           id, 5), endpoint, curve);
    memset (id, 0xa5, sizeof id);
    s_join (s_foreign_add (all, &count, "claims 255 bytes that start with a5",
                           id, sizeof id), endpoint, curve);

    s_check_ids (all, count, status_endpoint, counter);
    s_calls (client, "after");
    /* Each foreign peer reads all that the broker sent it up to now (a
     * TASK or a RESULT among it fails the test), then leaves. */
    for (int i = 0; i < count; i++) {
        s_ping (&all [i]);
        raw_peer_destroy (&all [i].peer);
    }
    ASSERT (th_alive (s_broker));
}

/* ---- the broker's libzmq ------------------------------------------------- */

/* The broker runs on the libzmq this build linked (ZFARM_BROKER_LIBZMQ,
 * from CMake): its status says whether it found the patched one's marker,
 * and its log warns, once, when it did not. */
static void
s_check_marker (const char *status_endpoint)
{
    const char *libzmq = getenv ("ZFARM_BROKER_LIBZMQ");
    bool patched = !libzmq || strcmp (libzmq, "patched") == 0;
    json_t *doc = th_status_doc (status_endpoint);
    ASSERT (doc);
    const json_t *reserved = json_member (json_member (doc, "broker"),
                                          "reserved_routing_ids");
    ASSERT_EQ (json_type (reserved), JSON_BOOL);
    ASSERT_EQ (json_bool (reserved, !patched), patched);
    json_destroy (&doc);
    char *log = th_read_file (s_broker_log, NULL);
    ASSERT (log);
    ASSERT_EQ (th_count (log, "is not zfarm's patched libzmq"), patched? 0: 1);
    free (log);
}

/* Starts a broker with extra flags, and an echo worker on worker_endpoint
 * (the broker's own when NULL). Returns the broker's first endpoint. */
static const char *
s_farm_start (const char *const extra [], const char *worker_endpoint)
{
    static char endpoint [512];
    th_broker_t started = th_broker_start ("tcp", extra);
    s_broker = started.pid;
    snprintf (endpoint, sizeof endpoint, "%s", started.endpoint);
    snprintf (s_broker_log, sizeof s_broker_log, "%s/broker%d.err",
              th_tmpdir (), ++s_broker_count);
    const char *worker [] = { "--service", "echo", "--exec", "cat", NULL };
    if (!worker_endpoint)
        worker_endpoint = endpoint;
    th_worker_start (worker_endpoint, worker);
    ASSERT (th_wait_workers (worker_endpoint, 1, 20000));
    return endpoint;
}

static void
s_farm_stop (void)
{
    th_kill (s_broker, SIGTERM);
    int status = th_reap (s_broker, 20000);
    ASSERT (status != -1 && WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

/* ---- the two parts -------------------------------------------------------- */

/* Liveness 20: the foreign peers answer the broker's heartbeats only while
 * the test reads from them, which a busy machine may delay past the
 * default 1.5 s. */
static const char *const s_liveness [] = { "--liveness", "20" };

static void
test_plain (void)
{
    const char *extra [] = { s_liveness [0], s_liveness [1], NULL };
    const char *endpoint = s_farm_start (extra, NULL);
    s_check_marker (endpoint);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    s_attack (endpoint, endpoint, NULL, client);
    zfarm_client_destroy (&client);
    s_farm_stop ();
    TEST_PASS ("plain: claimed routing ids neither abort the broker nor"
               " misroute its messages");
}

/* Makes a keypair NAME in dir with role; with authorize, its public
 * certificate goes into dir/authorized. Returns the secret's path. */
static char *
s_keygen (const char *dir, const char *name, const char *role, bool authorize)
{
    const char *argv [] = { th_bin ("zfarm"), "keygen", "--dir", dir,
                            "--role", role, name, NULL };
    char *out, *err;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 10000);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    free (out);
    free (err);
    if (authorize) {
        char *from = zsys_sprintf ("%s/%s", dir, name);
        char *to = zsys_sprintf ("%s/authorized/%s", dir, name);
        ASSERT_EQ (rename (from, to), 0);
        zstr_free (&from);
        zstr_free (&to);
    }
    return zsys_sprintf ("%s/%s_secret", dir, name);
}

static void
test_curve (void)
{
    char *dir = zsys_sprintf ("%s/keys", th_tmpdir ());
    char *authorized = zsys_sprintf ("%s/authorized", dir);
    ASSERT_EQ (mkdir (dir, 0700), 0);
    ASSERT_EQ (mkdir (authorized, 0700), 0);
    char *broker_secret = s_keygen (dir, "broker", "client", false);
    char *worker_secret = s_keygen (dir, "mallory", "worker", true);
    char *client_secret = s_keygen (dir, "alice", "client", true);
    /* The foreign peers' keys: an authorized worker's. */
    raw_curve_t keys;
    zcert_t *broker = zcert_load (broker_secret);
    zcert_t *mallory = zcert_load (worker_secret);
    ASSERT (broker && mallory);
    memcpy (keys.server_public, zcert_public_key (broker), RAW_KEY_SIZE);
    memcpy (keys.public, zcert_public_key (mallory), RAW_KEY_SIZE);
    memcpy (keys.secret, zcert_secret_key (mallory), RAW_KEY_SIZE);

    /* The real worker and the status reads use the broker's ipc endpoint,
     * which needs no key; the real client and the foreign peers its
     * CURVE one. */
    char *ipc = zsys_sprintf ("ipc://%s/curve.ipc", th_tmpdir ());
    const char *extra [] = { "--bind", ipc, "--curve-secret", broker_secret,
                             "--authorized-keys", authorized, s_liveness [0],
                             s_liveness [1], NULL };
    const char *endpoint = s_farm_start (extra, ipc);
    s_check_marker (ipc);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_set_curve (client, zcert_public_txt (broker),
                                       client_secret), 0);
    s_attack (endpoint, ipc, &keys, client);
    zfarm_client_destroy (&client);
    s_farm_stop ();
    zcert_destroy (&broker);
    zcert_destroy (&mallory);
    zstr_free (&ipc);
    zstr_free (&client_secret);
    zstr_free (&worker_secret);
    zstr_free (&broker_secret);
    zstr_free (&authorized);
    zstr_free (&dir);
    TEST_PASS ("CURVE: claimed routing ids neither abort the broker nor"
               " misroute its messages");
}

int
main (int argc, char *argv [])
{
    const char *part = argc > 1? argv [1]: "all";
    if (strcmp (part, "all") != 0 && strcmp (part, "plain") != 0
    &&  strcmp (part, "curve") != 0)
        TEST_FAIL ("usage: %s [plain|curve]", argv [0]);
    s_decoder = zf_decoder_new ();
    if (strcmp (part, "curve") != 0)
        test_plain ();
    if (strcmp (part, "plain") != 0)
        test_curve ();
    zf_decoder_destroy (&s_decoder);
    return 0;
}
