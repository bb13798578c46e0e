/* zfarm_bench.c: zfarm-bench, the load generator for zfarm and for the plain
 * ZeroMQ LRU broker (--plain), measured by the same loops (loadgen.c).
 *
 * The zfarm side uses only the public client API (zfarm.h): submit and
 * wait, as an application would. The plain side is a bare DEALER speaking
 * lru_broker's protocol: one frame out, the same frame back. */
#include "loadgen.h"

#include <zfarm.h>
#include <zmq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATUS_TIMEOUT_MS   1000
#define STATUS_POLL_MS      5

/* ---- zfarm, through the client library ---------------------------------- */

typedef struct {
    zfarm_client_t *client;
    const char *service;
    int timeout_ms;             /* each task's timeout */
    bool priorities;            /* cycle the tasks' priorities 0..9 */
    int next_priority;
} zfarm_backend_t;

static int
s_zfarm_submit (void *backend, const void *data, size_t size)
{
    zfarm_backend_t *self = backend;
    if (self->priorities) {
        zfarm_client_set_priority (self->client, self->next_priority);
        self->next_priority = (self->next_priority + 7) % 10;
    }
    return zfarm_client_submit (self->client, self->service, data, size,
                                self->timeout_ms, NULL);
}

static int
s_zfarm_collect (void *backend, int timeout_ms, size_t size)
{
    zfarm_backend_t *self = backend;
    zfarm_result_t *result = NULL;
    if (zfarm_client_wait (self->client, timeout_ms, &result) != 0)
        return -1;
    size_t got = 0;
    zfarm_result_data (result, &got);
    int outcome = zfarm_result_status (result) == 0 && got == size;
    zfarm_result_destroy (&result);
    return outcome;
}

/* Workers able to take a task now, from the broker's status document, whose
 * compact form the broker writes (README.md, "Status"); -1 if no answer. */
static int
s_zfarm_ready_workers (zfarm_client_t *client)
{
    char *json = NULL;
    if (zfarm_client_status (client, STATUS_TIMEOUT_MS, &json) != 0)
        return -1;
    int count = 0;
    for (const char *at = json; (at = strstr (at, "\"state\":\"ready\""));
         at++)
        count++;
    free (json);
    return count;
}

static int
s_zfarm_wait_workers (zfarm_client_t *client, long count, long timeout_ms)
{
    uint64_t deadline = loadgen_now_ns () + (uint64_t) timeout_ms * 1000000u;
    int ready = -1;
    while (loadgen_now_ns () < deadline) {
        ready = s_zfarm_ready_workers (client);
        if (ready >= count)
            return 0;
        struct timespec pause = { 0, STATUS_POLL_MS * 1000000L };
        nanosleep (&pause, NULL);
    }
    fprintf (stderr, "zfarm-bench: %d of %ld workers ready after %ld ms\n",
             ready < 0? 0: ready, count, timeout_ms);
    return -1;
}

static int
s_run_zfarm (const loadgen_options_t *options, loadgen_report_t *report)
{
    zfarm_backend_t self = { .service = options->service,
                             .timeout_ms = (int) options->timeout_ms,
                             .priorities = options->priorities };
    self.client = zfarm_client_new (options->broker);
    if (!self.client) {
        fprintf (stderr, "zfarm-bench: bad endpoint '%s'\n", options->broker);
        report->errors = options->tasks;
        return -1;
    }
    zfarm_client_set_delay (self.client, options->delay_ms);
    zfarm_client_set_batch (self.client, (int) options->batch);
    int rc = 0;
    if (options->wait_workers > 0)
        rc = s_zfarm_wait_workers (self.client, options->wait_workers,
                                   options->timeout_ms);
    static const loadgen_ops_t ops = { s_zfarm_submit, s_zfarm_collect };
    if (rc == 0)
        rc = loadgen_run (options, &ops, &self, report);
    else
        report->errors = options->tasks;
    zfarm_client_destroy (&self.client);
    return rc;
}

/* ---- the plain ZeroMQ LRU broker, on a bare DEALER ---------------------- */

static int
s_plain_submit (void *backend, const void *data, size_t size)
{
    return zmq_send (backend, data, size, 0) == (int) size? 0: -1;
}

static int
s_plain_collect (void *backend, int timeout_ms, size_t size)
{
    zmq_pollitem_t item = { backend, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) != 1)
        return -1;
    zmq_msg_t reply;
    zmq_msg_init (&reply);
    int rc = zmq_msg_recv (&reply, backend, 0);
    int outcome = rc >= 0 && zmq_msg_size (&reply) == size
               && !zmq_msg_more (&reply);
    zmq_msg_close (&reply);
    return rc < 0? -1: outcome;
}

static int
s_run_plain (const loadgen_options_t *options, loadgen_report_t *report)
{
    void *context = zmq_ctx_new ();
    void *dealer = zmq_socket (context, ZMQ_DEALER);
    int unlimited = 0, linger = 0;
    zmq_setsockopt (dealer, ZMQ_SNDHWM, &unlimited, sizeof unlimited);
    zmq_setsockopt (dealer, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
    zmq_setsockopt (dealer, ZMQ_LINGER, &linger, sizeof linger);
    int rc = zmq_connect (dealer, options->broker);
    if (rc)
        fprintf (stderr, "zfarm-bench: connect %s: %s\n", options->broker,
                 zmq_strerror (zmq_errno ()));
    static const loadgen_ops_t ops = { s_plain_submit, s_plain_collect };
    if (rc == 0)
        rc = loadgen_run (options, &ops, dealer, report);
    else
        report->errors = options->tasks;
    zmq_close (dealer);
    zmq_ctx_term (context);
    return rc;
}

int
main (int argc, char *argv [])
{
    loadgen_options_t options;
    int rc = loadgen_options_parse (&options, "zfarm-bench",
                                    LOADGEN_PLAIN | LOADGEN_WHEN | LOADGEN_BATCH,
                                    argc, argv);
    if (rc)
        return rc < 0? 2: 0;
    if (options.plain && options.wait_workers) {
        fprintf (stderr, "zfarm-bench: --wait-workers is for zfarm; start "
                 "lru_broker with --workers N instead\n");
        return 2;
    }
    loadgen_report_t report = { 0 };
    rc = options.plain? s_run_plain (&options, &report)
                      : s_run_zfarm (&options, &report);
    loadgen_print (&options, options.plain? "plain": "zfarm", &report);
    return rc == 0 && report.errors == 0? 0: 1;
}
