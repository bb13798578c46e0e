/* gearman_bench.c: the load generator for the gearmand anchor, measured by
 * the same loops as zfarm-bench (loadgen.c).
 *
 * Many in flight the way libgearman offers without background jobs:
 * gearman_client_add_task queues tasks in the client, and
 * gearman_client_run_tasks sends them all and returns once every one has
 * completed. So `collect` runs the queued batch when no result is left
 * over from the last one, and the window fills up again between batches:
 * throughput runs in batches of --window tasks. Latency: batches of one. */
#include "loadgen.h"

#include <libgearman/gearman.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STATUS_POLL_MS  10

typedef struct {
    gearman_client_st *client;
    const char *function;
    long completed;             /* results of the last batch not yet given */
    long failed;                /* of which errors */
    long queued;                /* tasks added, not yet run */
    size_t size;                /* the size every result must have */
} gearman_backend_t;

static gearman_return_t
s_complete (gearman_task_st *task)
{
    gearman_backend_t *self = gearman_task_context (task);
    self->completed++;
    self->failed += gearman_task_data_size (task) != self->size;
    return GEARMAN_SUCCESS;
}

static gearman_return_t
s_fail (gearman_task_st *task)
{
    gearman_backend_t *self = gearman_task_context (task);
    self->completed++;
    self->failed++;
    return GEARMAN_SUCCESS;
}

/* The payload is the same buffer for every task and outlives the run, so
 * libgearman may keep pointing at it until the task is sent. */
static int
s_submit (void *backend, const void *data, size_t size)
{
    gearman_backend_t *self = backend;
    gearman_return_t rc;
    self->size = size;
    gearman_client_add_task (self->client, NULL, self, self->function, NULL,
                             data, size, &rc);
    self->queued += rc == GEARMAN_SUCCESS;
    return rc == GEARMAN_SUCCESS? 0: -1;
}

static int
s_collect (void *backend, int timeout_ms, size_t size)
{
    gearman_backend_t *self = backend;
    (void) size;                /* checked in s_complete */
    if (self->completed == 0 && self->queued > 0) {
        gearman_client_set_timeout (self->client, timeout_ms);
        gearman_return_t rc = gearman_client_run_tasks (self->client);
        self->queued = 0;
        if (rc != GEARMAN_SUCCESS) {
            fprintf (stderr, "gearman_bench: %s\n",
                     gearman_client_error (self->client));
            return -1;
        }
    }
    if (self->completed == 0)
        return -1;
    self->completed--;
    if (self->failed > 0) {
        self->failed--;
        return 0;
    }
    return 1;
}

/* Workers available for function, from gearmand's text admin protocol:
 * "status" answers one "FUNCTION\tTOTAL\tRUNNING\tAVAILABLE" line per
 * function, then ".". Returns -1 if gearmand did not answer. */
static int
s_available_workers (const char *host, int port, const char *function)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET,
                                   .sin_port = htons ((uint16_t) port) };
    char reply [8192];
    size_t size = 0;
    if (fd < 0 || inet_pton (AF_INET, host, &address.sin_addr) != 1
    ||  connect (fd, (struct sockaddr *) &address, sizeof address)
    ||  write (fd, "status\n", 7) != 7) {
        if (fd >= 0)
            close (fd);
        return -1;
    }
    while (size < sizeof reply - 1) {
        ssize_t got = read (fd, reply + size, sizeof reply - 1 - size);
        if (got <= 0)
            break;
        size += (size_t) got;
        reply [size] = 0;
        if (strstr (reply, "\n.\n") || strncmp (reply, ".\n", 2) == 0)
            break;
    }
    close (fd);
    reply [size] = 0;
    char key [300];
    snprintf (key, sizeof key, "%s\t", function);
    for (const char *line = reply; line && *line;
         line = strchr (line, '\n')? strchr (line, '\n') + 1: NULL) {
        long total, running, available;
        if (strncmp (line, key, strlen (key)) == 0
        &&  sscanf (line + strlen (key), "%ld\t%ld\t%ld", &total, &running,
                    &available) == 3)
            return (int) available;
    }
    return 0;
}

static int
s_wait_workers (const char *host, int port, const char *function,
                long count, long timeout_ms)
{
    for (long waited = 0; waited < timeout_ms; waited += STATUS_POLL_MS) {
        if (s_available_workers (host, port, function) >= count)
            return 0;
        struct timespec pause = { 0, STATUS_POLL_MS * 1000000L };
        nanosleep (&pause, NULL);
    }
    fprintf (stderr, "gearman_bench: fewer than %ld workers for %s after "
             "%ld ms\n", count, function, timeout_ms);
    return -1;
}

int
main (int argc, char *argv [])
{
    loadgen_options_t options;
    int rc = loadgen_options_parse (&options, "gearman_bench", 0, argc, argv);
    if (rc)
        return rc < 0? 2: 0;
    char host [256];
    int port = 0;
    if (sscanf (options.broker, "%255[^:]:%d", host, &port) != 2
    ||  port < 1 || port > 65535) {
        fprintf (stderr, "gearman_bench: --broker: expected HOST:PORT, got "
                 "'%s'\n", options.broker);
        return 2;
    }
    gearman_backend_t self = { .function = options.service };
    self.client = gearman_client_create (NULL);
    if (!self.client
    ||  gearman_client_add_server (self.client, host, (in_port_t) port)
            != GEARMAN_SUCCESS)
        return 1;
    /* Tasks are freed as they complete, so a long run does not grow. */
    gearman_client_add_options (self.client, GEARMAN_CLIENT_FREE_TASKS);
    gearman_client_set_complete_fn (self.client, s_complete);
    gearman_client_set_fail_fn (self.client, s_fail);
    gearman_client_set_exception_fn (self.client, s_fail);
    loadgen_report_t report = { 0 };
    rc = 0;
    if (options.wait_workers > 0)
        rc = s_wait_workers (host, port, options.service,
                             options.wait_workers, options.timeout_ms);
    static const loadgen_ops_t ops = { s_submit, s_collect };
    if (rc == 0)
        rc = loadgen_run (&options, &ops, &self, &report);
    else
        report.errors = options.tasks;
    loadgen_print (&options, "gearmand", &report);
    gearman_client_free (self.client);
    return rc == 0 && report.errors == 0? 0: 1;
}
