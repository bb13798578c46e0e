/* test_security_wire.c: what CURVE changes on the wire, and under attack.
 *
 * A raw TCP proxy in the test relays the bytes between a client and the
 * broker and keeps a copy: with CURVE a payload marker never appears in
 * them, without it it does, so the copy is a real capture. Another
 * process floods the broker with handshakes from unknown keys while a good
 * client keeps calling, and every call must still be served (the times
 * are printed, not asserted). A plain broker bound off loopback warns,
 * once. */
#include "harness.h"
#include "zfarm.h"
#include <czmq.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROXY_PAIRS    8        /* client connections relayed at once */
#define CAPTURE_MAX    (8 << 20)
#define FLOOD_SOCKETS  200      /* connections with unknown keys a round */
#define GOOD_CALLS     20       /* each way, quiet and under the flood */

typedef struct {
    char secret [1100];         /* a secret certificate */
    char key [41];              /* its public key */
} keys_t;

static char s_dir [512];        /* keys and authorized/ */
static keys_t s_broker, s_alice;

/* ---- keys --------------------------------------------------------------- */

static void
s_keygen (keys_t *keys, const char *name, const char *role, bool allowed)
{
    const char *argv [] = { th_bin ("zfarm"), "keygen", "--dir", s_dir,
                            "--role", role, name, NULL };
    char *out, *err;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 10000);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    const char *at = strstr (out, "public key: ");
    ASSERT (at);
    snprintf (keys->key, sizeof keys->key, "%.40s", at + 12);
    snprintf (keys->secret, sizeof keys->secret, "%s/%s_secret", s_dir, name);
    free (out);
    free (err);
    if (allowed) {
        char from [1100], to [1100];
        snprintf (from, sizeof from, "%s/%s", s_dir, name);
        snprintf (to, sizeof to, "%s/authorized/%s", s_dir, name);
        ASSERT_EQ (rename (from, to), 0);
    }
}

/* ---- a capturing TCP proxy ---------------------------------------------- */

typedef struct {
    int listen_fd;
    int port;                   /* where clients connect */
    int target_port;            /* the broker's, on th_loopback () */
    atomic_bool stop;
    pthread_t thread;
    int fds [PROXY_PAIRS][2];   /* client side, broker side; -1 unused */
    char *captured;             /* every byte relayed, either way */
    size_t size;
} proxy_t;

static int
s_connect_local (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET,
                                   .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, th_loopback (), &address.sin_addr);
    if (fd >= 0 && connect (fd, (struct sockaddr *) &address,
                            sizeof address) != 0) {
        close (fd);
        fd = -1;
    }
    return fd;
}

static void
s_proxy_accept (proxy_t *self)
{
    int client = accept (self->listen_fd, NULL, NULL);
    if (client < 0)
        return;
    for (int i = 0; i < PROXY_PAIRS; i++)
        if (self->fds [i][0] < 0) {
            int broker = s_connect_local (self->target_port);
            if (broker < 0)
                break;
            self->fds [i][0] = client;
            self->fds [i][1] = broker;
            return;
        }
    close (client);
}

/* Relays what fds [pair][side] has to the other side, keeping a copy.
 * Closes the pair when either side is done. */
static void
s_proxy_relay (proxy_t *self, int pair, int side)
{
    char buffer [65536];
    ssize_t size = read (self->fds [pair][side], buffer, sizeof buffer);
    bool done = size <= 0;
    for (ssize_t sent = 0; !done && sent < size; ) {
        ssize_t rc = write (self->fds [pair][!side], buffer + sent,
                            (size_t) (size - sent));
        done = rc <= 0;
        sent += rc > 0? rc: 0;
    }
    if (size > 0 && self->size + (size_t) size <= CAPTURE_MAX) {
        memcpy (self->captured + self->size, buffer, (size_t) size);
        self->size += (size_t) size;
    }
    if (done) {
        close (self->fds [pair][0]);
        close (self->fds [pair][1]);
        self->fds [pair][0] = self->fds [pair][1] = -1;
    }
}

static void *
s_proxy_run (void *arg)
{
    proxy_t *self = arg;
    while (!atomic_load (&self->stop)) {
        struct pollfd items [1 + 2 * PROXY_PAIRS];
        int count = 0;
        items [count++] = (struct pollfd) { self->listen_fd, POLLIN, 0 };
        for (int i = 0; i < PROXY_PAIRS; i++)
            for (int side = 0; side < 2; side++)
                items [count++] = (struct pollfd) { self->fds [i][side],
                                                    POLLIN, 0 };
        if (poll (items, (nfds_t) count, 50) <= 0)
            continue;
        if (items [0].revents)
            s_proxy_accept (self);
        for (int i = 0; i < PROXY_PAIRS; i++)
            for (int side = 0; side < 2; side++)
                if (items [1 + 2 * i + side].revents
                &&  self->fds [i][side] >= 0)
                    s_proxy_relay (self, i, side);
    }
    return NULL;
}

static proxy_t *
s_proxy_new (int target_port)
{
    proxy_t *self = calloc (1, sizeof *self);
    self->captured = malloc (CAPTURE_MAX);
    self->target_port = target_port;
    for (int i = 0; i < PROXY_PAIRS; i++)
        self->fds [i][0] = self->fds [i][1] = -1;
    self->listen_fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    ASSERT_EQ (bind (self->listen_fd, (struct sockaddr *) &address, size), 0);
    ASSERT_EQ (listen (self->listen_fd, 16), 0);
    ASSERT_EQ (getsockname (self->listen_fd, (struct sockaddr *) &address,
                            &size), 0);
    self->port = ntohs (address.sin_port);
    ASSERT_EQ (pthread_create (&self->thread, NULL, s_proxy_run, self), 0);
    return self;
}

/* Stops the proxy; what it captured stays readable until destroy. */
static void
s_proxy_stop (proxy_t *self)
{
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    for (int i = 0; i < PROXY_PAIRS; i++)
        for (int side = 0; side < 2; side++)
            if (self->fds [i][side] >= 0)
                close (self->fds [i][side]);
    close (self->listen_fd);
}

static void
s_proxy_destroy (proxy_t **self_p)
{
    free ((*self_p)->captured);
    free (*self_p);
    *self_p = NULL;
}

/* ---- helpers ------------------------------------------------------------ */

/* The port of a tcp endpoint as bound ("tcp://127.1.2.3:49152"). */
static int
s_port (const char *endpoint)
{
    const char *colon = strrchr (endpoint, ':');
    ASSERT (colon);
    return atoi (colon + 1);
}

/* The broker's log (its stderr); caller frees. */
static char *
s_broker_log (int broker_number)
{
    char path [600];
    snprintf (path, sizeof path, "%s/broker%d.err", th_tmpdir (),
              broker_number);
    char *log = th_read_file (path, NULL);
    ASSERT (log);
    return log;
}

/* Calls "echo" through endpoint with keys (NULL: none); returns the code
 * and checks that a success echoed the payload. */
static int
s_echo (const char *endpoint, const keys_t *keys, const char *payload,
        int timeout_ms)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    if (keys)
        ASSERT_EQ (zfarm_client_set_curve (client, s_broker.key,
                                           keys->secret), 0);
    zfarm_result_t *result = NULL;
    int rc = zfarm_client_call (client, "echo", payload, strlen (payload),
                                timeout_ms, &result);
    if (rc == 0) {
        size_t size;
        const void *data = zfarm_result_data (result, &size);
        ASSERT_EQ (size, strlen (payload));
        ASSERT_MEM_EQ (data, payload, size);
    }
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    return rc;
}

/* Starts a broker with extra flags and an echo worker on its ipc endpoint
 * (local, so it needs no key). Returns the first endpoint. */
static const char *
s_farm_start (const char *const extra [], const char *ipc, pid_t *pid_p)
{
    static char endpoint [512];
    th_broker_t broker = th_broker_start ("tcp", extra);
    if (pid_p)
        *pid_p = broker.pid;
    snprintf (endpoint, sizeof endpoint, "%s", broker.endpoint);
    const char *worker [] = { "--service", "echo", "--exec", "cat", NULL };
    th_worker_start (ipc, worker);
    ASSERT (th_wait_workers (ipc, 1, 20000));
    return endpoint;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_capture (const char *secure_tcp, const char *plain_tcp)
{
    char marker [64];
    snprintf (marker, sizeof marker, "zfarm-secret-marker-%d-%u", getpid (),
              (unsigned) zclock_mono ());
    /* With CURVE: the task and its result cross the proxy, sealed. */
    proxy_t *proxy = s_proxy_new (s_port (secure_tcp));
    char through [64];
    snprintf (through, sizeof through, "tcp://127.0.0.1:%d", proxy->port);
    ASSERT_EQ (s_echo (through, &s_alice, marker, 10000), 0);
    s_proxy_stop (proxy);
    ASSERT_INT (proxy->size, >, 2 * strlen (marker));
    ASSERT (memmem (proxy->captured, proxy->size, "CURVE", 5));
    ASSERT (!memmem (proxy->captured, proxy->size, marker, strlen (marker)));
    s_proxy_destroy (&proxy);
    /* Without: the same capture shows it, so the capture is real. */
    proxy = s_proxy_new (s_port (plain_tcp));
    snprintf (through, sizeof through, "tcp://127.0.0.1:%d", proxy->port);
    ASSERT_EQ (s_echo (through, NULL, marker, 10000), 0);
    s_proxy_stop (proxy);
    ASSERT (memmem (proxy->captured, proxy->size, marker, strlen (marker)));
    s_proxy_destroy (&proxy);
    TEST_PASS ("with CURVE the payload never crosses the wire in clear");
}

/* The attacker, in a process of its own (this program, run with
 * "flood ENDPOINT SERVER_KEY"): FLOOD_SOCKETS connections with fresh
 * random keys, round after round, until killed. libzmq gives up on a
 * refused handshake, so each round's sockets are new. */
static int
s_flood_main (const char *endpoint, const char *server_key)
{
    zsock_t *sockets [FLOOD_SOCKETS];
    for (long round = 0; !zsys_interrupted; round++) {
        for (int i = 0; i < FLOOD_SOCKETS; i++) {
            zcert_t *cert = zcert_new ();
            sockets [i] = zsock_new (ZMQ_DEALER);
            zcert_apply (cert, sockets [i]);
            zsock_set_curve_serverkey (sockets [i], server_key);
            zsock_connect (sockets [i], "%s", endpoint);
            zcert_destroy (&cert);
        }
        zclock_sleep (100);     /* lets the handshakes happen */
        for (int i = 0; i < FLOOD_SOCKETS; i++) {
            zsock_set_linger (sockets [i], 0);
            zsock_destroy (&sockets [i]);
        }
        printf ("round %ld\n", round);
        fflush (stdout);
    }
    return 0;
}

/* Calls echo count times, with a new client each time (so a handshake
 * each) or one client for all; returns the milliseconds they took. */
static int64_t
s_good_calls (const char *endpoint, int count, bool reconnect)
{
    int64_t started = zclock_mono ();
    zfarm_client_t *client = NULL;
    for (int i = 0; i < count; i++) {
        if (!client) {
            client = zfarm_client_new (endpoint);
            ASSERT_EQ (zfarm_client_set_curve (client, s_broker.key,
                                               s_alice.secret), 0);
        }
        char payload [32];
        snprintf (payload, sizeof payload, "good %d", i);
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_call (client, "echo", payload,
                                      strlen (payload), 20000, &result), 0);
        zfarm_result_destroy (&result);
        if (reconnect)
            zfarm_client_destroy (&client);
    }
    zfarm_client_destroy (&client);
    return zclock_mono () - started;
}

/* CPU time (user + system) a process has used, in milliseconds. */
static int64_t
s_cpu_ms (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    char *stat = th_read_file (path, NULL);
    ASSERT (stat);
    /* Fields 14 and 15, after the parenthesised name. */
    const char *at = strrchr (stat, ')');
    unsigned long long user = 0, system = 0;
    ASSERT (at && sscanf (at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u"
                          " %*u %llu %llu", &user, &system) == 2);
    free (stat);
    return (int64_t) ((user + system) * 1000 / (unsigned long long)
                      sysconf (_SC_CLK_TCK));
}

/* Refused handshakes the log tells of: one per line, plus the counts of
 * those it summed up ("and N more since", "refused N more"). */
static long
s_refusals (const char *log)
{
    long count = 0;
    for (const char *at = log; (at = strstr (at, "CURVE handshake")); at++) {
        const char *line = at;
        while (line > log && line [-1] != '\n')
            line--;
        const char *more = strstr (line, "(and ");
        const char *end = strchr (at, '\n');
        if (strncmp (at - 5, "more ", 5) == 0) {
            const char *number = strstr (line, "refused ") + 8;
            count += atol (number);
        }
        else
            count += 1 + (more && (!end || more < end)? atol (more + 5): 0);
    }
    return count;
}

static void
test_flood (const char *self_path, const char *secure_tcp, pid_t broker)
{
    int64_t quiet_new = s_good_calls (secure_tcp, GOOD_CALLS, true);
    int64_t quiet_kept = s_good_calls (secure_tcp, GOOD_CALLS, false);
    const char *argv [] = { self_path, "flood", secure_tcp, s_broker.key,
                            NULL };
    pid_t flood = th_spawn ("flood", argv);
    /* Under way once its first round is out. */
    char path [600];
    snprintf (path, sizeof path, "%s/flood.out", th_tmpdir ());
    char *out = NULL;
    for (int i = 0; i < 1000 && !(out && strstr (out, "round 0")); i++) {
        free (out);
        zclock_sleep (10);
        out = th_read_file (path, NULL);
    }
    ASSERT (out && strstr (out, "round 0"));
    free (out);
    int64_t started = zclock_mono ();
    int64_t cpu_before = s_cpu_ms (broker);
    char *log = s_broker_log (1);
    long refused_before = s_refusals (log);
    free (log);
    int64_t flood_new = s_good_calls (secure_tcp, GOOD_CALLS, true);
    int64_t flood_kept = s_good_calls (secure_tcp, GOOD_CALLS, false);
    /* On a starved machine the flood is slow (its sockets may even close
     * before their handshake): good calls go on until the broker has
     * logged a round's worth of refusals since the count above (60 s at
     * most; the log tells of those it held back a second later). */
    for (int i = 0; i < 600 && zclock_mono () - started < 60000; i++) {
        log = s_broker_log (1);
        long refused = s_refusals (log) - refused_before;
        free (log);
        if (refused >= FLOOD_SOCKETS)
            break;
        s_good_calls (secure_tcp, 2, true);
    }
    int64_t elapsed = zclock_mono () - started;
    th_kill (flood, SIGKILL);
    th_reap (flood, 5000);
    int64_t cpu = s_cpu_ms (broker) - cpu_before;
    /* The refusals are logged, one line a second at most, with a count of
     * those in between: wait for the counts to add up to a round. */
    long refused = 0;
    for (int i = 0; i < 500 && refused < FLOOD_SOCKETS; i++) {
        zclock_sleep (10);
        log = s_broker_log (1);
        refused = s_refusals (log) - refused_before;
        free (log);
    }
    log = s_broker_log (1);
    int lines = th_count (log, "CURVE handshake");
    ASSERT_INT (lines, >=, 1);
    ASSERT_INT (lines, <=, elapsed / 1000 + 3);
    ASSERT (strstr (log, "from 127.0.0.1"));
    free (log);
    ASSERT_INT (refused, >=, FLOOD_SOCKETS);
    printf ("%d calls, new connection each / one connection: quiet %" PRId64
            " / %" PRId64 " ms, under the flood %" PRId64 " / %" PRId64
            " ms; the broker refused %ld handshakes with %" PRId64 " ms of"
            " CPU (%.0f us each, good calls included)\n", GOOD_CALLS,
            quiet_new, quiet_kept, flood_new, flood_kept, refused, cpu,
            refused? cpu * 1000.0 / (double) refused: 0.0);
    TEST_PASS ("good clients are served through a flood of bad handshakes");
}

static void
test_exposed_warning (void)
{
    const char *warning = "is reachable from other hosts and"
                          " unauthenticated; see --curve-secret";
    char *log = s_broker_log (1);
    ASSERT_EQ (th_count (log, warning), 0);     /* CURVE */
    free (log);
    log = s_broker_log (2);
    ASSERT_EQ (th_count (log, warning), 1);     /* 0.0.0.0, once */
    ASSERT (strstr (log, "tcp://0.0.0.0:"));
    free (log);
    TEST_PASS ("a plain broker off loopback warns once");
}

int
main (int argc, char *argv [])
{
    if (argc == 4 && strcmp (argv [1], "flood") == 0)
        return s_flood_main (argv [2], argv [3]);
    char self_path [1024];
    ssize_t size = readlink ("/proc/self/exe", self_path, sizeof self_path - 1);
    ASSERT (size > 0);
    self_path [size] = 0;
    snprintf (s_dir, sizeof s_dir, "%s/keys", th_tmpdir ());
    char authorized [600];
    snprintf (authorized, sizeof authorized, "%s/authorized", s_dir);
    ASSERT_EQ (mkdir (s_dir, 0700), 0);
    ASSERT_EQ (mkdir (authorized, 0700), 0);
    s_keygen (&s_broker, "broker", "client", false);
    s_keygen (&s_alice, "alice", "client", true);

    char ipc1 [512], ipc2 [512];
    snprintf (ipc1, sizeof ipc1, "ipc://%s/secure.ipc", th_tmpdir ());
    snprintf (ipc2, sizeof ipc2, "ipc://%s/plain.ipc", th_tmpdir ());
    const char *secure [] = { "--bind", ipc1, "--curve-secret", s_broker.secret,
                              "--authorized-keys", authorized, NULL };
    char secure_tcp [512], plain_tcp [512];
    pid_t broker;
    snprintf (secure_tcp, sizeof secure_tcp, "%s",
              s_farm_start (secure, ipc1, &broker));
    /* Plain, and on every interface: the port is the second bind's. */
    const char *plain [] = { "--bind", ipc2, "--bind", "tcp://0.0.0.0:*", NULL };
    s_farm_start (plain, ipc2, NULL);
    char path [600];
    snprintf (path, sizeof path, "%s/broker2.endpoints", th_tmpdir ());
    char *endpoints = th_read_file (path, NULL);
    const char *wildcard = endpoints? strstr (endpoints, "tcp://0.0.0.0:"): NULL;
    ASSERT (wildcard);
    snprintf (plain_tcp, sizeof plain_tcp, "tcp://127.0.0.1:%d",
              atoi (wildcard + strlen ("tcp://0.0.0.0:")));
    free (endpoints);

    test_exposed_warning ();
    test_capture (secure_tcp, plain_tcp);
    test_flood (self_path, secure_tcp, broker);
    return 0;
}
