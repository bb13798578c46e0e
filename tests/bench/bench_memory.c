/* bench_memory.c: a zfarm broker's resident memory per queued task and per
 * connected worker.
 *
 * Given a running broker (its endpoint and pid), it reads the broker's RSS,
 * submits --tasks tasks to a service no worker offers (no timeout, so they
 * stay queued), waits until the status shows them all queued and reads RSS
 * again; then starts fake_workers with --workers sockets for another
 * service, waits until the status shows them all ready, reads RSS a third
 * time, and stops them. RSS moves in pages and malloc keeps freed memory,
 * so the figures are averages over many tasks and workers, not exact
 * sizes. Prints one JSON object. */
#include "probe.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUED_SERVICE  "bench.queued"
#define IDLE_SERVICE    "bench.idle"
#define WAIT_TIMEOUT_MS 120000
#define POLL_MS         20
#define STOP_GRACE_MS   10000

typedef struct {
    const char *broker;         /* endpoint */
    pid_t pid;                  /* the broker's */
    long tasks;                 /* to queue */
    long size;                  /* payload bytes */
    long workers;               /* fake workers to connect */
    const char *fakes_bin;      /* fake_workers */
    const char *dir;            /* for its log */
} memory_options_t;

/* Polls status until done (queued tasks or ready workers) reaches want. */
static int
s_wait_for (zfarm_client_t *client, bool workers, long want)
{
    double deadline = probe_now_ms () + WAIT_TIMEOUT_MS;
    while (probe_now_ms () < deadline) {
        char *json = probe_status (client);
        long have = !json? -1: workers? probe_ready_workers (json)
                         : probe_service_queued (json, QUEUED_SERVICE);
        free (json);
        if (have >= want)
            return 0;
        probe_sleep_ms (POLL_MS);
    }
    fprintf (stderr, "bench_memory: fewer than %ld %s after %d ms\n", want,
             workers? "ready workers": "queued tasks", WAIT_TIMEOUT_MS);
    return -1;
}

static int
s_queue_tasks (const memory_options_t *options, zfarm_client_t *client)
{
    char *payload = calloc (1, (size_t) options->size + 1);
    if (!payload)
        return -1;
    memset (payload, 'q', (size_t) options->size);
    int rc = 0;
    for (long i = 0; i < options->tasks && rc == 0; i++)
        rc = zfarm_client_submit (client, QUEUED_SERVICE, payload,
                                  (size_t) options->size, 0, NULL);
    free (payload);
    return rc? -1: s_wait_for (client, false, options->tasks);
}

static int
s_connect_workers (const memory_options_t *options, zfarm_client_t *client,
                   pid_t *fakes_p)
{
    char count [32], log [512];
    snprintf (count, sizeof count, "%ld", options->workers);
    snprintf (log, sizeof log, "%s/memory-fake-workers.log", options->dir);
    char *argv [] = { (char *) options->fakes_bin, "--broker",
                      (char *) options->broker, "--count", count,
                      "--service", IDLE_SERVICE, NULL };
    *fakes_p = probe_spawn (log, argv);
    return *fakes_p < 0? -1: s_wait_for (client, true, options->workers);
}

static int
s_measure (const memory_options_t *options)
{
    zfarm_client_t *client = zfarm_client_new (options->broker);
    if (!client)
        return -1;
    pid_t fakes = -1;
    long idle = probe_rss (options->pid), queued = -1, connected = -1;
    int rc = s_queue_tasks (options, client);
    if (rc == 0) {
        queued = probe_rss (options->pid);
        rc = s_connect_workers (options, client, &fakes);
    }
    if (rc == 0)
        connected = probe_rss (options->pid);
    probe_stop (fakes, STOP_GRACE_MS);
    zfarm_client_destroy (&client);
    if (rc || idle < 0 || queued < 0 || connected < 0)
        return -1;
    printf ("{\"system\":\"zfarm\",\"tasks\":%ld,\"payload_bytes\":%ld,"
            "\"workers\":%ld,\"rss_idle_kb\":%ld,\"rss_queued_kb\":%ld,"
            "\"rss_workers_kb\":%ld,\"bytes_per_queued_task\":%.0f,"
            "\"overhead_per_queued_task\":%.0f,\"bytes_per_worker\":%.0f}\n",
            options->tasks, options->size, options->workers, idle / 1024,
            queued / 1024, connected / 1024,
            (double) (queued - idle) / (double) options->tasks,
            (double) (queued - idle) / (double) options->tasks
                - (double) options->size,
            (double) (connected - queued) / (double) options->workers);
    return 0;
}

static void
s_usage (void)
{
    printf (
"Usage: bench_memory --broker EP --pid PID --fake-workers PATH --dir DIR\n"
"                    [--tasks N] [--size BYTES] [--workers K]\n"
"\n"
"Resident memory of the zfarm broker PID: per queued task (N tasks of\n"
"BYTES, default 100000 of 100) and per connected worker (K, default 1000,\n"
"from fake_workers).\n");
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        { "broker",       required_argument, NULL, 'b' },
        { "pid",          required_argument, NULL, 'p' },
        { "tasks",        required_argument, NULL, 'n' },
        { "size",         required_argument, NULL, 's' },
        { "workers",      required_argument, NULL, 'k' },
        { "fake-workers", required_argument, NULL, 'f' },
        { "dir",          required_argument, NULL, 'd' },
        { "help",         no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    memory_options_t self = { .tasks = 100000, .size = 100, .workers = 1000 };
    int option;
    while ((option = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        if (option == 'b') self.broker = optarg;
        else if (option == 'p') self.pid = (pid_t) atol (optarg);
        else if (option == 'n') self.tasks = atol (optarg);
        else if (option == 's') self.size = atol (optarg);
        else if (option == 'k') self.workers = atol (optarg);
        else if (option == 'f') self.fakes_bin = optarg;
        else if (option == 'd') self.dir = optarg;
        else {
            s_usage ();
            return option == 'h'? 0: 2;
        }
    }
    if (!self.broker || self.pid <= 0 || !self.fakes_bin || !self.dir
    ||  self.tasks < 1 || self.size < 0 || self.workers < 1 || optind < argc) {
        s_usage ();
        return 2;
    }
    return s_measure (&self) == 0? 0: 1;
}
