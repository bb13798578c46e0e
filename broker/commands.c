/* commands.c: one handler per command the broker can receive.
 *
 * Peers are told apart by what they say: a routing id that sent READY is a
 * worker until it leaves or dies; anything else is treated as a client. A
 * misplaced command gets ERROR (a client) or DISCONNECT (a worker). */
#include "broker_internal.h"
#include "zf_log.h"
#include "zf_util.h"
#include "zfarm_codes.h"
#include "status.h"

typedef void (handler_fn) (broker_t *self, worker_t *worker);

static void
s_send_error (broker_t *self, int code, const char *text)
{
    zf_header_t header;
    zf_header_init (&header, ZF_ERROR);
    header.status = -code;
    zf_header_set_text (&header, text);
    broker_send_header (self, &self->inbound.from, &header);
}

static void
s_send_disconnect (broker_t *self, const peer_id_t *to, const char *reason)
{
    zf_header_t header;
    zf_header_init (&header, ZF_DISCONNECT);
    zf_header_set_text (&header, reason);
    broker_send_header (self, to, &header);
}

/* A valid command from the wrong kind of peer, or at the wrong time. */
static void
s_misplaced (broker_t *self, worker_t *worker)
{
    const zf_header_t *header = &self->inbound.header;
    char text [96];
    snprintf (text, sizeof text, "%s is not expected here",
              zf_command_name (header->command));
    self->counters.bad_messages++;
    broker_log_bad (self, "%s from %s", text, worker? "a worker": "a client");
    if (worker) {
        s_send_disconnect (self, &worker->id, text);
        dispatch_worker_delete (self, worker, "protocol error", false);
    }
    else
        s_send_error (self, ZFARM_EBAD_REQUEST, text);
}

static void
s_on_ready (broker_t *self, worker_t *worker)
{
    if (worker) {
        s_misplaced (self, worker);
        return;
    }
    dispatch_worker_join (self, &self->inbound.header);
}

static void
s_reply_result (broker_t *self, uint64_t task_id, int code, const char *text)
{
    zf_header_t header;
    zf_header_init (&header, ZF_RESULT);
    header.task_id = task_id;
    header.status = -code;
    zf_header_set_text (&header, text);
    broker_send_header (self, &self->inbound.from, &header);
    self->counters.failed++;
    self->counters.failed_by_code [-code]++;
}

static void
s_on_submit (broker_t *self, worker_t *worker)
{
    (void) worker;
    const zf_header_t *submit = &self->inbound.header;
    client_t *client = zhashx_lookup (self->clients, &self->inbound.from);
    if (client && client_task_lookup (client, submit->task_id))
        return;                 /* a resubmission of a task we hold */
    if (self->draining) {
        s_reply_result (self, submit->task_id, ZFARM_ESHUTDOWN,
                        zfarm_strerror (ZFARM_ESHUTDOWN));
        return;
    }
    service_t *service = zhashx_lookup (self->services, submit->service);
    if (!service && zhashx_size (self->services) >= SERVICES_LIMIT) {
        s_reply_result (self, submit->task_id, ZFARM_EBAD_REQUEST,
                        "too many services");
        return;
    }
    if (service && service->queued >= (size_t) self->options.max_queue) {
        char text [ZF_SERVICE_MAX + 64];
        snprintf (text, sizeof text, "%zu tasks already wait for %s",
                  service->queued, service->name);
        s_reply_result (self, submit->task_id, ZFARM_EQUEUE_FULL, text);
        return;
    }
    client = client_require (self->clients, &self->inbound.from);
    dispatch_submit (self, client, submit);
}

static void
s_on_done (broker_t *self, worker_t *worker)
{
    if (!worker) {
        /* Declared dead, or from before a restart: its task was requeued. */
        self->counters.late_results_dropped++;
        s_send_disconnect (self, &self->inbound.from, "unknown worker");
        return;
    }
    task_t *task = task_table_lookup (self->tasks, self->inbound.header.task_id);
    if (!task || task->worker != worker) {
        self->counters.late_results_dropped++;
        return;
    }
    dispatch_done (self, worker, task, &self->inbound.header);
}

static void
s_on_cancel (broker_t *self, worker_t *worker)
{
    (void) worker;
    client_t *client = zhashx_lookup (self->clients, &self->inbound.from);
    task_t *task = client? client_task_lookup (client,
                                               self->inbound.header.task_id)
                         : NULL;
    if (task)
        dispatch_cancel (self, task);
}

static void
s_on_heartbeat (broker_t *self, worker_t *worker)
{
    if (!worker)
        s_send_disconnect (self, &self->inbound.from, "unknown worker");
}

static void
s_on_disconnect (broker_t *self, worker_t *worker)
{
    if (worker)
        dispatch_worker_delete (self, worker, "disconnected", false);
}

static void
s_on_ping (broker_t *self, worker_t *worker)
{
    (void) worker;
    zf_header_t header;
    zf_header_init (&header, ZF_PONG);
    header.epoch = self->epoch;
    broker_send_header (self, &self->inbound.from, &header);
}

static void
s_free_json (void *data, void *hint)
{
    (void) hint;
    free (data);
}

static void
s_on_status (broker_t *self, worker_t *worker)
{
    (void) worker;
    status_view_t view;
    broker_status_view (self, &view);
    char *json = status_json (&view);
    zmq_msg_t frame;
    zmq_msg_init_data (&frame, json, strlen (json), s_free_json, NULL);
    zf_header_t header;
    zf_header_init (&header, ZF_STATUS);
    broker_send (self, &self->inbound.from, &header, &frame, 1, false);
    zmq_msg_close (&frame);
}

/* Indexed by command; the decoder only lets valid commands through. */
static handler_fn *const s_handlers [ZF_COMMAND_LIMIT] = {
    [ZF_READY]      = s_on_ready,
    [ZF_SUBMIT]     = s_on_submit,
    [ZF_TASK]       = s_misplaced,
    [ZF_DONE]       = s_on_done,
    [ZF_RESULT]     = s_misplaced,
    [ZF_CANCEL]     = s_on_cancel,
    [ZF_HEARTBEAT]  = s_on_heartbeat,
    [ZF_DISCONNECT] = s_on_disconnect,
    [ZF_ERROR]      = s_misplaced,
    [ZF_STATUS]     = s_on_status,
    [ZF_PING]       = s_on_ping,
    [ZF_PONG]       = s_misplaced,
};

/* A header that did not decode: say why, if there is anyone to tell. */
static void
s_on_malformed (broker_t *self, int rc)
{
    const zf_header_t *header = &self->inbound.header;
    self->counters.bad_messages++;
    broker_log_bad (self, "refused a message: %s", header->text);
    if (header->command == ZF_SUBMIT && header->task_id)
        s_reply_result (self, header->task_id, rc, header->text);
    else
        s_send_error (self, rc, header->text);
}

void
commands_handle (broker_t *self, int rc)
{
    if (rc != 0) {
        s_on_malformed (self, rc);
        return;
    }
    worker_t *worker = zhashx_lookup (self->workers, &self->inbound.from);
    if (worker)
        worker->expiry = zf_now_ms () + self->liveness_ms;
    handler_fn *handler = s_handlers [self->inbound.header.command];
    (handler? handler: s_misplaced) (self, worker);
}
