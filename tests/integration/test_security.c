/* test_security.c: a broker with --curve-secret and --authorized-keys, as
 * keys that are unknown, missing or of the wrong role see it.
 *
 * Keys come from `zfarm keygen`. Clients use the library; workers are raw
 * DEALERs speaking the protocol, so that the test sees exactly what the
 * broker sends them (ERROR, DISCONNECT, and never a TASK it must not
 * have). The broker also listens on ipc://, which stays open to local
 * processes without keys; the test uses it to watch the broker. */
#include "harness.h"
#include "zfarm.h"
#include "zf_proto.h"
#include "zf_wire.h"
#include <czmq.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

typedef struct {
    char public_path [1100];    /* where the public certificate is */
    char secret_path [1100];
    char key [41];              /* the public key, Z85 */
} keypair_t;

static char s_keys [512];       /* where keygen writes */
static char s_allowed [512];    /* --authorized-keys */
static keypair_t s_broker_key;
static const char *s_tcp;       /* the CURVE endpoint */
static char s_ipc [512];        /* the open one */
static zf_decoder_t *s_decoder;

/* ---- keys --------------------------------------------------------------- */

/* Runs zfarm keygen with argv after "keygen"; returns its exit status and
 * its stdout (caller frees) in *out_p. */
static int
s_keygen_run (const char *const args [], char **out_p)
{
    const char *argv [16] = { th_bin ("zfarm"), "keygen" };
    int argc = 2;
    for (int i = 0; args [i]; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    char *err = NULL;
    int status = th_run (argv, NULL, 0, out_p, NULL, &err, 10000);
    free (err);
    ASSERT (WIFEXITED (status));
    return WEXITSTATUS (status);
}

/* Makes a keypair NAME in s_keys with role (and services, may be NULL);
 * with allowed, moves its public certificate into --authorized-keys. */
static void
s_keypair (keypair_t *pair, const char *name, const char *role,
           const char *services, bool allowed)
{
    const char *args [10] = { "--dir", s_keys, "--role", role };
    int count = 4;
    if (services) {
        args [count++] = "--services";
        args [count++] = services;
    }
    args [count++] = name;
    args [count] = NULL;
    char *out;
    ASSERT_EQ (s_keygen_run (args, &out), 0);
    const char *at = strstr (out, "public key: ");
    ASSERT (at);
    snprintf (pair->key, sizeof pair->key, "%.40s", at + strlen ("public key: "));
    free (out);
    snprintf (pair->secret_path, sizeof pair->secret_path, "%s/%s_secret",
              s_keys, name);
    snprintf (pair->public_path, sizeof pair->public_path, "%s/%s",
              allowed? s_allowed: s_keys, name);
    if (allowed) {
        char from [600];
        snprintf (from, sizeof from, "%s/%s", s_keys, name);
        ASSERT_EQ (rename (from, pair->public_path), 0);
    }
}

/* ---- raw peers ---------------------------------------------------------- */

/* A DEALER to endpoint, a CURVE client with pair's keys (NULL: plain). */
static zsock_t *
s_dealer (const char *endpoint, const keypair_t *pair)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    ASSERT (sock);
    if (pair) {
        zcert_t *cert = zcert_load (pair->secret_path);
        ASSERT (cert);
        zcert_apply (cert, sock);
        zcert_destroy (&cert);
        zsock_set_curve_serverkey (sock, s_broker_key.key);
    }
    zsock_set_rcvtimeo (sock, 10000);
    ASSERT_EQ (zsock_connect (sock, "%s", endpoint), 0);
    return sock;
}

static void
s_send_ready (zsock_t *worker, const char *service1, const char *service2)
{
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    strcpy (header.services [header.service_count++], service1);
    if (service2)
        strcpy (header.services [header.service_count++], service2);
    header.capacity = 1;
    header.pid = 1;
    strcpy (header.host, "test");
    ASSERT_EQ (zf_wire_send (worker, &header, NULL), 0);
}

/* Receives one message other than HEARTBEAT within the socket's timeout.
 * Returns false if none came. */
static bool
s_recv (zsock_t *sock, zf_header_t *header, char **payload_p)
{
    while (true) {
        zmsg_t *payload = NULL;
        if (zf_wire_recv (sock, s_decoder, header, &payload) != 0)
            return false;
        if (header->command != ZF_HEARTBEAT) {
            size_t size;
            if (payload_p)
                *payload_p = zf_wire_join (payload, &size);
            zmsg_destroy (&payload);
            return true;
        }
        zmsg_destroy (&payload);
    }
}

/* A client of the library with pair's keys (NULL: none). */
static zfarm_client_t *
s_client (const char *endpoint, const keypair_t *pair)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    if (pair)
        ASSERT_EQ (zfarm_client_set_curve (client, s_broker_key.key,
                                           pair->secret_path), 0);
    return client;
}

static int
s_call (zfarm_client_t *client, const char *service, const char *payload,
        int timeout_ms, char **text_p)
{
    zfarm_result_t *result = NULL;
    int rc = zfarm_client_call (client, service, payload, strlen (payload),
                                timeout_ms, &result);
    if (text_p) {
        size_t size;
        *text_p = strdup (rc == 0? zfarm_result_data (result, &size)
                                 : zfarm_result_error (result));
    }
    zfarm_result_destroy (&result);
    return rc;
}

/* Waits at most 10 s until the broker's log has text. */
static bool
s_log_has (const char *text)
{
    char path [600];
    snprintf (path, sizeof path, "%s/broker1.err", th_tmpdir ());
    for (int i = 0; i < 1000; i++) {
        char *log = th_read_file (path, NULL);
        bool found = log && strstr (log, text);
        free (log);
        if (found)
            return true;
        zclock_sleep (10);
    }
    return false;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_keygen (void)
{
    keypair_t pair;
    s_keypair (&pair, "plain", "client", NULL, false);
    struct stat info;
    ASSERT_EQ (stat (pair.secret_path, &info), 0);
    ASSERT_EQ (info.st_mode & 0777, 0600);
    zcert_t *cert = zcert_load (pair.public_path);
    ASSERT (cert);
    ASSERT_STR_EQ (zcert_public_txt (cert), pair.key);
    ASSERT_STR_EQ (zcert_meta (cert, "role"), "client");
    zcert_destroy (&cert);
    /* Never over an existing key. */
    char *out;
    const char *again [] = { "--dir", s_keys, "plain", NULL };
    ASSERT_EQ (s_keygen_run (again, &out), 1);
    free (out);
    cert = zcert_load (pair.public_path);
    ASSERT_STR_EQ (zcert_public_txt (cert), pair.key);
    zcert_destroy (&cert);
    /* Services are for workers; roles are three. */
    const char *bad_role [] = { "--dir", s_keys, "--role", "admin", "x", NULL };
    ASSERT_EQ (s_keygen_run (bad_role, &out), 2);
    free (out);
    const char *client_services [] = { "--dir", s_keys, "--services", "a",
                                       "y", NULL };
    ASSERT_EQ (s_keygen_run (client_services, &out), 2);
    free (out);
    TEST_PASS ("keygen writes a keypair with its role, never over another");
}

static void
test_unknown_key_as_client (void)
{
    keypair_t stranger;
    s_keypair (&stranger, "stranger", "client", NULL, false);
    zfarm_client_t *client = s_client (s_tcp, &stranger);
    /* The handshake is refused, so the client never hears the broker: its
     * task ends with BROKER_DOWN (README.md, "Who gets in"), never TIMEOUT,
     * which says the broker was heard. So below for every refused key. */
    int rc = s_call (client, "echo", "hello", 1000, NULL);
    ASSERT_EQ (rc, ZFARM_EBROKER_DOWN);
    zfarm_client_destroy (&client);
    char line [200];
    snprintf (line, sizeof line, "refused a CURVE handshake from 127.0.0.1,"
              " key %s", stranger.key);
    ASSERT (s_log_has (line));
    /* No key at all: the handshake fails before anyone is asked. */
    client = s_client (s_tcp, NULL);
    rc = s_call (client, "echo", "hello", 1000, NULL);
    ASSERT_EQ (rc, ZFARM_EBROKER_DOWN);
    zfarm_client_destroy (&client);
    ASSERT_EQ (th_status_counter (s_ipc, "submitted"), 0);
    TEST_PASS ("an unknown key, or none, is refused as a client");
}

static void
test_unknown_key_as_worker (void)
{
    keypair_t stranger;
    s_keypair (&stranger, "stranger_worker", "worker", NULL, false);
    char line [200];
    snprintf (line, sizeof line, "from 127.0.0.1, key %s", stranger.key);
    /* libzmq does not retry a refused handshake; a new socket does, and
     * one of them is logged by name once the log's second is over. */
    bool logged = false;
    for (int i = 0; i < 50 && !logged; i++) {
        zsock_t *worker = s_dealer (s_tcp, &stranger);
        s_send_ready (worker, "echo", NULL);
        zsock_set_rcvtimeo (worker, 200);
        zf_header_t header;
        ASSERT (!s_recv (worker, &header, NULL));
        zsock_destroy (&worker);
        char path [600];
        snprintf (path, sizeof path, "%s/broker1.err", th_tmpdir ());
        char *log = th_read_file (path, NULL);
        logged = log && strstr (log, line);
        free (log);
    }
    ASSERT (logged);
    ASSERT (th_wait_workers (s_ipc, 0, 20000));
    TEST_PASS ("an unknown key is refused as a worker, logged with its key");
}

/* A READY the broker must refuse: ERROR UNAUTHORIZED, then DISCONNECT. */
static void
s_expect_refused (zsock_t *worker)
{
    zf_header_t header;
    ASSERT (s_recv (worker, &header, NULL));
    ASSERT_EQ (header.command, ZF_ERROR);
    ASSERT_EQ (header.status, ZFARM_EUNAUTHORIZED);
    ASSERT (s_recv (worker, &header, NULL));
    ASSERT_EQ (header.command, ZF_DISCONNECT);
}

/* Drains what has reached worker; fails on a TASK. */
static void
s_expect_no_task (zsock_t *worker)
{
    zsock_set_rcvtimeo (worker, 0);
    zf_header_t header;
    while (s_recv (worker, &header, NULL))
        ASSERT_NE (header.command, ZF_TASK);
    zsock_set_rcvtimeo (worker, 10000);
}

static void
test_client_key_cannot_serve (const keypair_t *alice)
{
    zsock_t *worker = s_dealer (s_tcp, alice);
    s_send_ready (worker, "secrets", NULL);
    s_expect_refused (worker);
    /* Nobody serves the service: the task waits, then ends, and the
     * refused worker was never given it. */
    zfarm_client_t *client = s_client (s_tcp, alice);
    ASSERT_EQ (s_call (client, "secrets", "payroll", 500, NULL),
               ZFARM_ENO_SUCH_SERVICE);
    zfarm_client_destroy (&client);
    s_expect_no_task (worker);
    zsock_destroy (&worker);
    ASSERT (s_log_has ("refused READY from 127.0.0.1, key "));
    TEST_PASS ("a client key cannot register as a worker");
}

static void
test_worker_limited_to_its_services (const keypair_t *alice)
{
    keypair_t limited;
    s_keypair (&limited, "alpha_only", "worker", "alpha", true);
    /* A READY that names a service beyond the key's is refused whole. */
    zsock_t *worker = s_dealer (s_tcp, &limited);
    s_send_ready (worker, "alpha", "beta");
    s_expect_refused (worker);
    zsock_destroy (&worker);

    worker = s_dealer (s_tcp, &limited);
    s_send_ready (worker, "alpha", NULL);
    ASSERT (th_wait_workers (s_ipc, 1, 20000));
    zfarm_client_t *client = s_client (s_tcp, alice);
    uint64_t beta_id;
    ASSERT_EQ (zfarm_client_submit (client, "beta", "b", 1, 500, &beta_id), 0);
    ASSERT_EQ (zfarm_client_submit (client, "alpha", "a", 1, 20000, NULL), 0);
    zf_header_t header;
    char *payload;
    ASSERT (s_recv (worker, &header, &payload));
    ASSERT_EQ (header.command, ZF_TASK);
    ASSERT_STR_EQ (header.service, "alpha");
    free (payload);
    zf_header_t done;
    zf_header_init (&done, ZF_DONE);
    done.task_id = header.task_id;
    ASSERT_EQ (zf_wire_send_data (worker, &done, "A", 1), 0);
    for (int i = 0; i < 2; i++) {
        zfarm_result_t *result;
        ASSERT_EQ (zfarm_client_wait (client, 20000, &result), 0);
        if (zfarm_result_task_id (result) == beta_id)
            ASSERT_EQ (zfarm_result_status (result), ZFARM_ENO_SUCH_SERVICE);
        else
            ASSERT_EQ (zfarm_result_status (result), 0);
        zfarm_result_destroy (&result);
    }
    s_expect_no_task (worker);
    zfarm_client_destroy (&client);
    zsock_destroy (&worker);
    TEST_PASS ("a worker limited to alpha serves alpha and never gets beta");
}

/* A report of a supervised worker's death (DISCONNECT naming its
 * instance) counts only with the worker's own key: another key, even a
 * worker's, cannot end a worker it can read the instance of (the status
 * document shows it). */
static void
test_death_report_needs_the_key (const keypair_t *alice)
{
    keypair_t owner, other;
    s_keypair (&owner, "pool_owner", "worker", NULL, true);
    s_keypair (&other, "pool_other", "worker", NULL, true);
    zsock_t *worker = s_dealer (s_tcp, &owner);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    strcpy (header.services [header.service_count++], "pooled");
    header.pid = 3;
    strcpy (header.host, "test");
    strcpy (header.instance, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    header.flags = ZF_FLAG_SUPERVISED;
    ASSERT_EQ (zf_wire_send (worker, &header, NULL), 0);
    ASSERT (th_wait_workers (s_ipc, 1, 20000));
    zfarm_client_t *client = s_client (s_tcp, alice);
    ASSERT_EQ (zfarm_client_submit (client, "pooled", "p", 1, 20000, NULL), 0);
    ASSERT (s_recv (worker, &header, NULL));
    ASSERT_EQ (header.command, ZF_TASK);
    uint64_t task_id = header.task_id;

    long refused = th_status_counter (s_ipc, "bad_messages");
    zsock_t *forger = s_dealer (s_tcp, &other);
    zf_header_init (&header, ZF_DISCONNECT);
    zf_header_set_text (&header, "forged");
    strcpy (header.instance, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    ASSERT_EQ (zf_wire_send (forger, &header, NULL), 0);
    zf_header_init (&header, ZF_PING);      /* answered after the report */
    ASSERT_EQ (zf_wire_send (forger, &header, NULL), 0);
    ASSERT (s_recv (forger, &header, NULL));
    ASSERT_EQ (header.command, ZF_PONG);
    zsock_destroy (&forger);
    ASSERT_EQ (th_status_counter (s_ipc, "bad_messages"), refused + 1);

    /* The worker lives on: its task's result is the one it sends. */
    zf_header_init (&header, ZF_DONE);
    header.task_id = task_id;
    ASSERT_EQ (zf_wire_send_data (worker, &header, "kept", 4), 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 20000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    zfarm_result_destroy (&result);

    /* Its own key's report ends it (and, with no retry, its task). */
    zfarm_client_set_retries (client, 0);
    ASSERT_EQ (zfarm_client_submit (client, "pooled", "q", 1, 20000, NULL), 0);
    ASSERT (s_recv (worker, &header, NULL));
    ASSERT_EQ (header.command, ZF_TASK);
    zsock_t *supervisor = s_dealer (s_tcp, &owner);
    zf_header_init (&header, ZF_DISCONNECT);
    zf_header_set_text (&header, "killed by signal 9 (SIGKILL)");
    strcpy (header.instance, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    ASSERT_EQ (zf_wire_send (supervisor, &header, NULL), 0);
    ASSERT_EQ (zfarm_client_wait (client, 20000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), ZFARM_EWORKER_LOST);
    ASSERT (strstr (zfarm_result_error (result),
                    "process killed by signal 9 (SIGKILL)"));
    zfarm_result_destroy (&result);
    zsock_destroy (&supervisor);
    zfarm_client_destroy (&client);
    zsock_destroy (&worker);
    ASSERT (th_wait_workers (s_ipc, 0, 20000));
    TEST_PASS ("a worker's death is reported by its own key only");
}

static void
test_worker_key_cannot_submit (void)
{
    keypair_t serving;
    s_keypair (&serving, "just_a_worker", "worker", NULL, true);
    zfarm_client_t *client = s_client (s_tcp, &serving);
    char *text;
    ASSERT_EQ (s_call (client, "echo", "x", 5000, &text), ZFARM_EUNAUTHORIZED);
    ASSERT (strstr (text, "role is worker"));
    free (text);
    char *json = NULL;
    ASSERT_EQ (zfarm_client_status (client, 5000, &json),
               ZFARM_EUNAUTHORIZED);
    zfarm_client_destroy (&client);
    TEST_PASS ("a worker key cannot submit or read the status");
}

static void
test_both_roles_and_ipc (void)
{
    keypair_t both;
    s_keypair (&both, "both", "both", NULL, true);
    zsock_t *worker = s_dealer (s_tcp, &both);
    s_send_ready (worker, "upper", NULL);
    ASSERT (th_wait_workers (s_ipc, 1, 20000));
    /* A local client needs no key on ipc://, and the file is 0600. */
    struct stat info;
    ASSERT_EQ (stat (s_ipc + strlen ("ipc://"), &info), 0);
    ASSERT_EQ (info.st_mode & 0777, 0600);
    zfarm_client_t *local = s_client (s_ipc, NULL);
    ASSERT_EQ (zfarm_client_submit (local, "upper", "ipc", 3, 20000, NULL), 0);
    zf_header_t header;
    char *payload;
    ASSERT (s_recv (worker, &header, &payload));
    ASSERT_STR_EQ (payload, "ipc");
    free (payload);
    zf_header_t done;
    zf_header_init (&done, ZF_DONE);
    done.task_id = header.task_id;
    ASSERT_EQ (zf_wire_send_data (worker, &done, "IPC", 3), 0);
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (local, 20000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&local);
    zsock_destroy (&worker);
    TEST_PASS ("a key with both roles serves; ipc:// needs no key");
}

/* Waits at most 10 s until the file at path has text. */
static bool
s_file_has (const char *path, const char *text)
{
    for (int i = 0; i < 1000; i++) {
        char *content = th_read_file (path, NULL);
        bool found = content && strstr (content, text);
        free (content);
        if (found)
            return true;
        zclock_sleep (10);
    }
    return false;
}

/* zfarm call through the command line, with the CURVE flags. */
static char *
s_cli_call (const keypair_t *pair, const char *service, const char *payload,
            int *exit_p)
{
    const char *argv [] = { th_bin ("zfarm"), "call", "--broker", s_tcp,
                            "--curve-server-key", s_broker_key.public_path,
                            "--curve-cert", pair->secret_path, service,
                            payload, NULL };
    char *out, *err;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 20000);
    ASSERT (WIFEXITED (status));
    *exit_p = WEXITSTATUS (status);
    free (err);
    return out;
}

static void
test_worker_host_and_cli (const keypair_t *alice)
{
    keypair_t casing;
    s_keypair (&casing, "casing", "worker", "upper,lower", true);
    /* Flags, and a pool: each process of --processes gets them. The
     * command sees none of the worker's CURVE settings. */
    const char *pool [] = { "--service", "upper", "--exec",
                            "tr a-z A-Z; printenv ZFARM_CURVE_CERT"
                            " ZFARM_CURVE_SERVER_KEY; true",
                            "--processes", "2",
                            "--curve-server-key", s_broker_key.public_path,
                            "--curve-cert", casing.secret_path, NULL };
    pid_t supervisor = th_worker_start (s_tcp, pool);
    ASSERT (th_wait_workers (s_ipc, 2, 20000));
    int exit_status;
    char *out = s_cli_call (alice, "upper", "curve", &exit_status);
    ASSERT_EQ (exit_status, 0);
    ASSERT_STR_EQ (out, "CURVE");
    free (out);
    /* The environment, with the broker's key as Z85 text. */
    setenv ("ZFARM_CURVE_SERVER_KEY", s_broker_key.key, 1);
    setenv ("ZFARM_CURVE_CERT", casing.secret_path, 1);
    const char *beyond [] = { "--service", "lower", "--service", "beta",
                              "--exec", "cat", NULL };
    pid_t refused = th_worker_start (s_tcp, beyond);
    unsetenv ("ZFARM_CURVE_SERVER_KEY");
    unsetenv ("ZFARM_CURVE_CERT");
    char log [600];
    snprintf (log, sizeof log, "%s/worker2.err", th_tmpdir ());
    ASSERT (s_file_has (log, "ERROR UNAUTHORIZED: this key may not serve"
                             " beta"));
    ASSERT (th_alive (refused));
    ASSERT (th_wait_workers (s_ipc, 2, 20000));  /* still only the pool */
    /* From a config file too, where the environment wins: its cert here
     * is one the broker does not know. */
    char config [600];
    snprintf (config, sizeof config, "%s/worker.cfg", th_tmpdir ());
    FILE *file = fopen (config, "w");
    ASSERT (file);
    fprintf (file, "worker\n    service = \"lower\"\n    exec = \"cat\"\n"
             "    curve-server-key = \"%s\"\n    curve-cert = \"%s\"\n",
             s_broker_key.key, alice->secret_path);
    fclose (file);
    setenv ("ZFARM_CURVE_CERT", casing.secret_path, 1);
    const char *from_file [] = { "--config", config, NULL };
    pid_t configured = th_worker_start (s_tcp, from_file);
    unsetenv ("ZFARM_CURVE_CERT");
    ASSERT (th_wait_workers (s_ipc, 3, 20000));
    th_kill (configured, SIGTERM);
    ASSERT_EQ (th_reap (configured, 10000), 0);
    /* A worker key on the command line cannot submit. */
    out = s_cli_call (&casing, "upper", "x", &exit_status);
    ASSERT_EQ (exit_status, 1);
    free (out);
    /* A certificate that is not there is a usage error, at once. */
    const char *missing [] = { th_bin ("zfarm-worker"), "--broker", s_tcp,
                               "--service", "upper", "--exec", "cat",
                               "--curve-server-key", s_broker_key.key,
                               "--curve-cert", "/nonexistent_secret", NULL };
    char *err;
    int status = th_run (missing, NULL, 0, &out, NULL, &err, 10000);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 2);
    ASSERT (strstr (err, "not a readable secret certificate"));
    free (out);
    free (err);
    th_kill (refused, SIGTERM);
    th_reap (refused, 10000);
    th_kill (supervisor, SIGTERM);
    ASSERT_EQ (th_reap (supervisor, 10000), 0);
    TEST_PASS ("zfarm-worker and zfarm take keys from flags or the"
               " environment");
}

static void
test_keys_read_again (void)
{
    keypair_t late;
    s_keypair (&late, "latecomer", "client", NULL, false);
    zfarm_client_t *client = s_client (s_tcp, &late);
    int rc = s_call (client, "nobody", "x", 500, NULL);
    ASSERT_EQ (rc, ZFARM_EBROKER_DOWN);
    zfarm_client_destroy (&client);
    /* Into the directory: let in without a restart. */
    char allowed [600];
    snprintf (allowed, sizeof allowed, "%s/latecomer", s_allowed);
    ASSERT_EQ (rename (late.public_path, allowed), 0);
    rc = -1;
    for (int i = 0; i < 20 && rc != ZFARM_ENO_SUCH_SERVICE; i++) {
        client = s_client (s_tcp, &late);
        rc = s_call (client, "nobody", "x", 300, NULL);
        zfarm_client_destroy (&client);
    }
    ASSERT_EQ (rc, ZFARM_ENO_SUCH_SERVICE);
    /* Out of it again: its next connection is refused. */
    ASSERT_EQ (unlink (allowed), 0);
    for (int i = 0; i < 20 && rc == ZFARM_ENO_SUCH_SERVICE; i++) {
        client = s_client (s_tcp, &late);
        rc = s_call (client, "nobody", "x", 300, NULL);
        zfarm_client_destroy (&client);
    }
    ASSERT_EQ (rc, ZFARM_EBROKER_DOWN);
    TEST_PASS ("a key added to or removed from the directory counts at once");
}

static void
test_local_pool_needs_no_keys (void)
{
    /* Even with CURVE settings in the broker's environment, which its
     * workers inherit, they reach it over its private ipc endpoint. */
    setenv ("ZFARM_CURVE_SERVER_KEY", s_broker_key.key, 1);
    setenv ("ZFARM_CURVE_CERT", s_broker_key.secret_path, 1);
    char command [600];
    snprintf (command, sizeof command, "exec %s --service pooled --exec cat",
              th_bin ("zfarm-worker"));
    const char *extra [] = { "--curve-secret", s_broker_key.secret_path,
                             "--authorized-keys", s_allowed, "--spawn", "1",
                             "--worker-cmd", command, NULL };
    th_broker_t started = th_broker_start ("ipc", extra);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    unsetenv ("ZFARM_CURVE_SERVER_KEY");
    unsetenv ("ZFARM_CURVE_CERT");
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 10000), 0);
    TEST_PASS ("a broker's local pool needs no keys");
}

/* Writes a broker config file that names its key directory. */
static void
s_write_config (const char *path, const char *endpoint_file,
                const char *keys)
{
    FILE *file = fopen (path, "w");
    ASSERT (file);
    fprintf (file, "broker\n    bind = \"tcp://%s:*\"\n"
             "    endpoint-file = \"%s\"\n    curve-secret = \"%s\"\n"
             "    authorized-keys = \"%s\"\n", th_loopback (),
             endpoint_file, s_broker_key.secret_path, keys);
    fclose (file);
}

static void
test_sighup_reads_keys_again (void)
{
    char first [600], second [600], config [600], ready [600];
    snprintf (first, sizeof first, "%s/first", th_tmpdir ());
    snprintf (second, sizeof second, "%s/second", th_tmpdir ());
    snprintf (config, sizeof config, "%s/reload.cfg", th_tmpdir ());
    snprintf (ready, sizeof ready, "%s/reload.endpoints", th_tmpdir ());
    ASSERT_EQ (mkdir (first, 0700), 0);
    ASSERT_EQ (mkdir (second, 0700), 0);
    keypair_t bob;
    s_keypair (&bob, "bob", "client", NULL, false);
    char allowed [1200];
    snprintf (allowed, sizeof allowed, "%s/bob", second);
    ASSERT_EQ (rename (bob.public_path, allowed), 0);
    s_write_config (config, ready, first);
    const char *argv [] = { th_bin ("zfarm-broker"), "--config", config, NULL };
    pid_t broker = th_spawn ("reload", argv);
    ASSERT (s_file_has (ready, "tcp://"));
    char *endpoints = th_read_file (ready, NULL);
    *strchr (endpoints, '\n') = 0;
    zfarm_client_t *client = s_client (endpoints, &bob);
    int rc = s_call (client, "nobody", "x", 300, NULL);
    ASSERT_EQ (rc, ZFARM_EBROKER_DOWN);
    zfarm_client_destroy (&client);
    /* The file now names the other directory, which has bob. */
    s_write_config (config, ready, second);
    th_kill (broker, SIGHUP);
    char log [600], line [700];
    snprintf (log, sizeof log, "%s/reload.err", th_tmpdir ());
    snprintf (line, sizeof line, "authorized keys: 1 from %s", second);
    ASSERT (s_file_has (log, line));
    client = s_client (endpoints, &bob);
    ASSERT_EQ (s_call (client, "nobody", "x", 300, NULL),
               ZFARM_ENO_SUCH_SERVICE);
    zfarm_client_destroy (&client);
    free (endpoints);
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 10000), 0);
    TEST_PASS ("SIGHUP reads the key directory the config names now");
}

/* Runs the broker with extra; expects it not to start, with exit status
 * and a message on stderr. */
static void
s_expect_no_start (const char *const extra [], int exit_status,
                   const char *message)
{
    const char *argv [16] = { th_bin ("zfarm-broker"), "--bind",
                              "tcp://127.0.0.1:*" };
    int argc = 3;
    for (int i = 0; extra [i]; i++)
        argv [argc++] = extra [i];
    argv [argc] = NULL;
    char *out, *err;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 10000);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), exit_status);
    if (!strstr (err, message))
        TEST_FAIL ("expected '%s' in: %s", message, err);
    free (out);
    free (err);
}

static void
test_bad_settings (void)
{
    const char *alone [] = { "--curve-secret", s_broker_key.secret_path, NULL };
    s_expect_no_start (alone, 2, "go together");
    char public_only_path [600];    /* no alice_secret beside it */
    snprintf (public_only_path, sizeof public_only_path, "%s/alice", s_allowed);
    const char *public_only [] = { "--curve-secret", public_only_path,
                                   "--authorized-keys", s_allowed, NULL };
    s_expect_no_start (public_only, 1, "not a readable secret certificate");
    const char *no_dir [] = { "--curve-secret", s_broker_key.secret_path,
                              "--authorized-keys", "/nonexistent/keys", NULL };
    s_expect_no_start (no_dir, 1, "cannot read /nonexistent/keys");
    const char *mode [] = { "--ipc-mode", "0999", NULL };
    s_expect_no_start (mode, 2, "--ipc-mode");
    TEST_PASS ("bad security settings stop the broker before it binds");
}

/* A detached task is its submitter's key's: another client key can
 * neither read, list nor cancel it; a local peer without a key can. */
static void
test_detached_is_the_submitters (const keypair_t *alice)
{
    keypair_t bob;
    s_keypair (&bob, "detached-reader", "client", NULL, true);
    zfarm_client_t *as_alice = s_client (s_tcp, alice);
    zfarm_client_t *as_bob = s_client (s_tcp, &bob);
    zfarm_client_t *local = s_client (s_ipc, NULL);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit_detached (as_alice, "nobody-serves", "x", 1,
                                             0, 20000, &id), 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_fetch (as_bob, id, 0, &result), ZFARM_ENOT_FOUND);
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_fetch (as_alice, id, 0, &result), ZFARM_EPENDING);
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_fetch (local, id, 0, &result), ZFARM_EPENDING);
    zfarm_result_destroy (&result);
    char hex [17], *json;
    snprintf (hex, sizeof hex, "%016" PRIx64, id);
    ASSERT_EQ (zfarm_client_query (as_bob, "tasks", 10000, &json), 0);
    ASSERT (!strstr (json, hex));
    free (json);
    ASSERT_EQ (zfarm_client_query (as_alice, "tasks", 10000, &json), 0);
    ASSERT (strstr (json, hex));
    free (json);
    ASSERT_EQ (zfarm_client_cancel_detached (as_bob, id, 10000),
               ZFARM_ENOT_FOUND);
    ASSERT_EQ (zfarm_client_cancel_detached (as_alice, id, 10000),
               ZFARM_ECANCELLED);
    zfarm_client_destroy (&as_alice);
    zfarm_client_destroy (&as_bob);
    zfarm_client_destroy (&local);
    TEST_PASS ("a detached task is read, listed and cancelled by its"
               " submitter's key alone");
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    snprintf (s_keys, sizeof s_keys, "%s/keys", th_tmpdir ());
    snprintf (s_allowed, sizeof s_allowed, "%s/authorized", th_tmpdir ());
    ASSERT_EQ (mkdir (s_keys, 0700), 0);
    ASSERT_EQ (mkdir (s_allowed, 0700), 0);
    test_keygen ();
    s_keypair (&s_broker_key, "broker", "client", NULL, false);
    keypair_t alice;
    s_keypair (&alice, "alice", "client", NULL, true);

    snprintf (s_ipc, sizeof s_ipc, "ipc://%s/open.ipc", th_tmpdir ());
    const char *extra [] = { "--bind", s_ipc,
                             "--curve-secret", s_broker_key.secret_path,
                             "--authorized-keys", s_allowed, NULL };
    pid_t broker;
    th_broker_t started = th_broker_start ("tcp", extra);
    broker = started.pid;
    s_tcp = strdup (started.endpoint);
    ASSERT (strncmp (s_tcp, "tcp://", 6) == 0);

    test_unknown_key_as_client ();
    test_unknown_key_as_worker ();
    test_client_key_cannot_serve (&alice);
    test_worker_limited_to_its_services (&alice);
    test_worker_key_cannot_submit ();
    test_death_report_needs_the_key (&alice);
    test_both_roles_and_ipc ();
    test_worker_host_and_cli (&alice);
    test_keys_read_again ();
    test_sighup_reads_keys_again ();
    test_local_pool_needs_no_keys ();
    test_bad_settings ();
    test_detached_is_the_submitters (&alice);

    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 10000), 0);
    free ((char *) s_tcp);
    zf_decoder_destroy (&s_decoder);
    return 0;
}
