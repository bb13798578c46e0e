/* bench_pool.c: how long a pool of N workers takes to be ready, and to
 * replace a worker killed with SIGKILL.
 *
 *   zfarm:  from starting `zfarm-broker --spawn N --worker-cmd CMD` until
 *           its status shows N ready workers; then from SIGKILL of one of
 *           them until the status shows N ready again, the dead pid gone.
 *           The victim is first let live past the pool's "died young"
 *           threshold, so that what is timed is a replacement, not the
 *           crash-loop back-off that a worker dying at birth gets.
 *   plain:  (--plain) the floor: this process binds a ROUTER, fork+execs N
 *           lru_workers itself and counts their N READY messages. There is
 *           no supervisor, so nothing is replaced.
 *
 * Status is polled every millisecond, so zfarm's times are late by up to
 * one poll plus one status round trip. Prints one JSON object. */
#include "probe.h"
#include "zf_defaults.h"

#include <czmq.h>
#include <getopt.h>
#include <signal.h>

#define POLL_MS         1
#define START_TIMEOUT   10000   /* ms for the broker to bind */
#define READY_TIMEOUT   60000   /* ms for the pool to be ready */
#define STOP_GRACE_MS   10000
#define WORKERS_MAX     1024

typedef struct {
    const char *dir;            /* private directory: sockets, logs */
    const char *broker_bin;     /* zfarm-broker */
    const char *worker_cmd;     /* zfarm: --worker-cmd */
    const char *worker_bin;     /* plain: lru_worker */
    long count;                 /* workers */
    bool plain;
    bool replace;               /* zfarm: also time a replacement */
} pool_options_t;

/* Polls status until count workers are ready and none has pid gone.
 * Returns 0, or -1 after timeout_ms. */
static int
s_wait_ready (zfarm_client_t *client, long count, int gone, int timeout_ms)
{
    double deadline = probe_now_ms () + timeout_ms;
    while (probe_now_ms () < deadline) {
        char *json = probe_status (client);
        int pids [WORKERS_MAX];
        int listed = json? probe_worker_pids (json, pids, WORKERS_MAX): 0;
        bool done = json && probe_ready_workers (json) >= count;
        for (int i = 0; done && i < listed; i++)
            done = pids [i] != gone;
        free (json);
        if (done)
            return 0;
        probe_sleep_ms (POLL_MS);
    }
    return -1;
}

/* Polls status until the worker pid has been up longer than ms. */
static int
s_wait_older (zfarm_client_t *client, int pid, long ms)
{
    double deadline = probe_now_ms () + ms + READY_TIMEOUT;
    while (probe_now_ms () < deadline) {
        char *json = probe_status (client);
        long uptime = json? probe_worker_uptime (json, pid): -1;
        free (json);
        if (uptime > ms)
            return 0;
        probe_sleep_ms (POLL_MS * 10);
    }
    return -1;
}

static int
s_replace (zfarm_client_t *client, long count, double *ms_p)
{
    char *json = probe_status (client);
    int pids [WORKERS_MAX];
    int listed = json? probe_worker_pids (json, pids, WORKERS_MAX): 0;
    free (json);
    if (listed == 0 || pids [0] <= 0
    ||  s_wait_older (client, pids [0], ZF_POOL_YOUNG_MS))
        return -1;
    double start = probe_now_ms ();
    /* The broker's own child, in the pool this program started. */
    if (kill (pids [0], SIGKILL))
        return -1;
    int rc = s_wait_ready (client, count, pids [0], READY_TIMEOUT);
    *ms_p = probe_now_ms () - start;
    return rc;
}

static int
s_zfarm (const pool_options_t *options)
{
    char bind [512], file [512], log [512], spawn [32];
    snprintf (bind, sizeof bind, "ipc://%s/pool.ipc", options->dir);
    snprintf (file, sizeof file, "%s/pool.endpoints", options->dir);
    snprintf (log, sizeof log, "%s/pool-broker.log", options->dir);
    snprintf (spawn, sizeof spawn, "%ld", options->count);
    unlink (file);
    char *argv [] = { (char *) options->broker_bin, "--bind", bind,
                      "--endpoint-file", file, "--spawn", spawn,
                      "--worker-cmd", (char *) options->worker_cmd, NULL };
    double start = probe_now_ms ();
    pid_t broker = probe_spawn (log, argv);
    char endpoint [512];
    if (broker < 0 || probe_wait_line (file, endpoint, sizeof endpoint,
                                       START_TIMEOUT)) {
        fprintf (stderr, "bench_pool: the broker did not start (see %s)\n",
                 log);
        probe_stop (broker, STOP_GRACE_MS);
        return -1;
    }
    zfarm_client_t *client = zfarm_client_new (endpoint);
    int rc = s_wait_ready (client, options->count, 0, READY_TIMEOUT);
    double spawn_ms = probe_now_ms () - start, replace_ms = -1;
    if (rc == 0 && options->replace)
        rc = s_replace (client, options->count, &replace_ms);
    if (rc)
        fprintf (stderr, "bench_pool: the pool was not ready in time (see "
                 "%s)\n", log);
    else
        printf ("{\"system\":\"zfarm\",\"workers\":%ld,\"spawn_ms\":%.2f,"
                "\"replace_ms\":%.2f}\n", options->count, spawn_ms,
                replace_ms);
    zfarm_client_destroy (&client);
    probe_stop (broker, STOP_GRACE_MS);
    return rc;
}

/* Receives READY messages on router until count came or timeout_ms. */
static int
s_count_ready (zsock_t *router, long count, int timeout_ms)
{
    double deadline = probe_now_ms () + timeout_ms;
    long seen = 0;
    zpoller_t *poller = zpoller_new (router, NULL);
    while (seen < count && probe_now_ms () < deadline)
        if (zpoller_wait (poller, POLL_MS * 10) == router) {
            zmsg_t *msg = zmsg_recv (router);
            seen += msg != NULL;
            zmsg_destroy (&msg);
        }
    zpoller_destroy (&poller);
    return seen == count? 0: -1;
}

static int
s_plain (const pool_options_t *options)
{
    char endpoint [512], log [512];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/plain-pool.ipc",
              options->dir);
    snprintf (log, sizeof log, "%s/plain-pool-workers.log", options->dir);
    zsock_t *router = zsock_new_router (endpoint);
    if (!router) {
        fprintf (stderr, "bench_pool: bind %s failed\n", endpoint);
        return -1;
    }
    pid_t pids [WORKERS_MAX];
    char *argv [] = { (char *) options->worker_bin, "--broker", endpoint,
                      NULL };
    double start = probe_now_ms ();
    long started = 0;
    for (; started < options->count; started++)
        if ((pids [started] = probe_spawn (log, argv)) < 0)
            break;
    int rc = started == options->count
           ? s_count_ready (router, options->count, READY_TIMEOUT): -1;
    double spawn_ms = probe_now_ms () - start;
    if (rc == 0)
        printf ("{\"system\":\"plain\",\"workers\":%ld,\"spawn_ms\":%.2f,"
                "\"replace_ms\":null}\n", options->count, spawn_ms);
    else
        fprintf (stderr, "bench_pool: %ld lru_workers not ready (see %s)\n",
                 options->count, log);
    for (long i = 0; i < started; i++)
        kill (pids [i], SIGTERM);
    for (long i = 0; i < started; i++)
        probe_stop (pids [i], STOP_GRACE_MS);
    zsock_destroy (&router);
    return rc;
}

static void
s_usage (void)
{
    printf (
"Usage: bench_pool --dir DIR --count N --broker-bin PATH --worker-cmd CMD\n"
"                  [--replace]\n"
"       bench_pool --dir DIR --count N --plain --worker-bin PATH\n"
"\n"
"Times N workers to ready: a zfarm-broker --spawn pool (and, with\n"
"--replace, the replacement of one killed with SIGKILL), or N lru_workers\n"
"fork+exec'd by this process. DIR holds the sockets and logs.\n");
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        { "dir",        required_argument, NULL, 'd' },
        { "count",      required_argument, NULL, 'n' },
        { "broker-bin", required_argument, NULL, 'B' },
        { "worker-cmd", required_argument, NULL, 'c' },
        { "worker-bin", required_argument, NULL, 'w' },
        { "plain",      no_argument,       NULL, 'p' },
        { "replace",    no_argument,       NULL, 'r' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    pool_options_t self = { .count = 16 };
    int option;
    while ((option = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        if (option == 'd') self.dir = optarg;
        else if (option == 'n') self.count = atol (optarg);
        else if (option == 'B') self.broker_bin = optarg;
        else if (option == 'c') self.worker_cmd = optarg;
        else if (option == 'w') self.worker_bin = optarg;
        else if (option == 'p') self.plain = true;
        else if (option == 'r') self.replace = true;
        else {
            s_usage ();
            return option == 'h'? 0: 2;
        }
    }
    bool usable = self.dir && self.count >= 1 && self.count <= WORKERS_MAX
               && optind == argc
               && (self.plain? self.worker_bin != NULL
                             : self.broker_bin && self.worker_cmd);
    if (!usable) {
        s_usage ();
        return 2;
    }
    return (self.plain? s_plain (&self): s_zfarm (&self)) == 0? 0: 1;
}
