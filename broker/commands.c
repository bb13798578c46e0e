/* commands.c: one handler per command the broker can receive.
 *
 * Peers are told apart by what they say: a routing id that sent READY is a
 * worker until it leaves or dies; anything else is treated as a client. A
 * misplaced command gets ERROR (a client) or DISCONNECT (a worker). With
 * --curve-secret, the commands that need a role check the sender's key:
 * READY needs a worker key allowed every service it names; SUBMIT, CANCEL,
 * STATUS, FETCH and QUERY need a client key, and a detached task is its
 * submitter's key's alone (detached.h). */
#include "broker_internal.h"
#include "auth.h"
#include "detached.h"
#include "zf_record.h"
#include "zf_log.h"
#include "zf_util.h"
#include "zfarm_codes.h"
#include "status.h"

#include <limits.h>
#include <time.h>

/* A handler gets the message as in: it reads nothing of it elsewhere, and
 * may move its payload. */
typedef void (handler_fn) (broker_t *self, inbound_t *in, worker_t *worker);

#define LOAD_RECOUNT_MS 50

static void
s_send_error (broker_t *self, const peer_id_t *to, int code,
              const char *text)
{
    zf_header_t header;
    zf_header_init (&header, ZF_ERROR);
    header.status = code;
    zf_header_set_text (&header, text);
    broker_send_header (self, to, &header);
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
s_misplaced (broker_t *self, inbound_t *in, worker_t *worker)
{
    const zf_header_t *header = &in->header;
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
        s_send_error (self, &in->from, ZFARM_EBAD_REQUEST, text);
}

/* ---- roles (with --curve-secret) ---------------------------------------- */

/* Whether the sender has role, reading its connection's metadata into
 * peer. Without security everyone has every role; so has a peer on a
 * local endpoint, which has no key. A network peer without a key cannot
 * get in (every network endpoint is CURVE), and is refused if it did. */
static bool
s_peer_has_role (broker_t *self, inbound_t *in, int role,
                 auth_peer_t *peer)
{
    *peer = (auth_peer_t) { .address = "?" };
    if (!self->zap)
        return true;
    auth_peer_read (&in->header_frame, peer);
    if (!peer->key)
        return !peer->network;
    return (peer->roles & role) != 0;
}

/* Logs a command refused to a key, and counts it. */
static void
s_log_unauthorized (broker_t *self, const inbound_t *in,
                    const auth_peer_t *peer, const char *why)
{
    self->counters.bad_messages++;
    broker_log_bad (self, "refused %s from %s, key %s: %s",
                    zf_command_name (in->header.command),
                    peer->address, peer->key? peer->key: "none", why);
}

/* With security, whether the sender may send a client's command; if not,
 * logs it and writes the reason for the peer into why. */
static bool
s_client_is_allowed (broker_t *self, inbound_t *in, char *why,
                     size_t size)
{
    auth_peer_t peer;
    if (s_peer_has_role (self, in, ZF_ROLE_CLIENT, &peer))
        return true;
    snprintf (why, size, "this key's role is %s, not client",
              zf_roles_name (peer.roles));
    s_log_unauthorized (self, in, &peer, why);
    return false;
}

/* The sender's public key (Z85; ZF_OWNER_MAX + 1 bytes), or "" without
 * one: a detached task's owner and who may read it; a worker's, whose
 * supervisor alone may report its death. */
static void
s_sender_key (broker_t *self, inbound_t *in, char *key)
{
    *key = 0;
    if (!self->zap)
        return;
    auth_peer_t peer;
    auth_peer_read (&in->header_frame, &peer);
    if (peer.key)
        snprintf (key, ZF_OWNER_MAX + 1, "%s", peer.key);
}

/* With security, whether the sender may register as a worker for every
 * service its READY names; if not, logs it and writes why. */
static bool
s_worker_is_allowed (broker_t *self, inbound_t *in, char *why,
                     size_t size)
{
    auth_peer_t peer;
    const zf_header_t *ready = &in->header;
    if (!s_peer_has_role (self, in, ZF_ROLE_WORKER, &peer))
        snprintf (why, size, "this key's role is %s, not worker",
                  zf_roles_name (peer.roles));
    else {
        uint32_t i = 0;
        while (i < ready->service_count && (!peer.key
               || zf_services_allow (peer.services, ready->services [i])))
            i++;
        if (i == ready->service_count)
            return true;
        snprintf (why, size, "this key may not serve %s (only %s)",
                  ready->services [i], peer.services? peer.services: "none");
    }
    s_log_unauthorized (self, in, &peer, why);
    return false;
}

/* ---- handlers ------------------------------------------------------------ */

static void
s_on_ready (broker_t *self, inbound_t *in, worker_t *worker)
{
    if (worker) {
        s_misplaced (self, in, worker);
        return;
    }
    char why [ZF_SERVICE_MAX + 128];
    if (!s_worker_is_allowed (self, in, why, sizeof why)) {
        /* ERROR first, so that the worker logs why before it is told to
         * register again (it retries with back-off). */
        s_send_error (self, &in->from, ZFARM_EUNAUTHORIZED, why);
        s_send_disconnect (self, &in->from, why);
        return;
    }
    char key [ZF_OWNER_MAX + 1];
    s_sender_key (self, in, key);
    dispatch_worker_join (self, &in->from, key, &in->header);
}

/* Refuses a SUBMIT: its RESULT says detached if the SUBMIT did. */
static void
s_reply_result (broker_t *self, const inbound_t *in, int code,
                const char *text)
{
    dispatch_result (self, &in->from, in->header.task_id, code, text, NULL,
                     0, in->header.flags & ZF_FLAG_DETACHED);
}

static void
s_on_submit (broker_t *self, inbound_t *in, worker_t *worker)
{
    (void) worker;
    const zf_header_t *submit = &in->header;
    char why [96];
    if (!s_client_is_allowed (self, in, why, sizeof why)) {
        s_reply_result (self, in, ZFARM_EUNAUTHORIZED, why);
        return;
    }
    bool detached = submit->flags & ZF_FLAG_DETACHED;
    client_t *client = peer_table_lookup (self->clients, &in->from);
    if (!detached && client && client_task_lookup (client, submit->task_id))
        return;                 /* a resubmission of a task we hold */
    if (self->draining) {
        s_reply_result (self, in, ZFARM_ESHUTDOWN,
                        zfarm_strerror (ZFARM_ESHUTDOWN));
        return;
    }
    service_t *service = zhashx_lookup (self->services, submit->service);
    if (!service && zhashx_size (self->services) >= SERVICES_LIMIT) {
        s_reply_result (self, in, ZFARM_EBAD_REQUEST,
                        "too many services");
        return;
    }
    /* Delayed tasks count: they will wait in the queue soon enough. */
    size_t waiting = service? service->queued + service->delayed: 0;
    if (waiting >= (size_t) self->options.max_queue) {
        char text [ZF_SERVICE_MAX + 64];
        snprintf (text, sizeof text, "%zu tasks already wait for %s",
                  waiting, service->name);
        s_reply_result (self, in, ZFARM_EQUEUE_FULL, text);
        return;
    }
    if (detached) {
        char owner [ZF_OWNER_MAX + 1];
        s_sender_key (self, in, owner);
        detached_submit (self, in, owner);
        return;
    }
    if (!client)
        client = client_require (self->clients, &in->from);
    dispatch_submit (self, client, service, in);
}

static void
s_on_done (broker_t *self, inbound_t *in, worker_t *worker)
{
    if (!worker) {
        /* Declared dead, or from before a restart: its task was requeued. */
        self->counters.late_results_dropped++;
        s_send_disconnect (self, &in->from, "unknown worker");
        return;
    }
    task_t *task = task_table_lookup (self->tasks, in->header.task_id);
    if (!task || task->worker != worker) {
        self->counters.late_results_dropped++;
        return;
    }
    dispatch_done (self, worker, task, in);
}

static void
s_on_cancel (broker_t *self, inbound_t *in, worker_t *worker)
{
    (void) worker;
    char why [96];
    if (!s_client_is_allowed (self, in, why, sizeof why)) {
        s_send_error (self, &in->from, ZFARM_EUNAUTHORIZED, why);
        return;
    }
    if (in->header.flags & ZF_FLAG_DETACHED) {
        char owner [ZF_OWNER_MAX + 1];
        s_sender_key (self, in, owner);
        detached_cancel (self, in, owner);
        return;
    }
    client_t *client = peer_table_lookup (self->clients, &in->from);
    task_t *task = client? client_task_lookup (client,
                                               in->header.task_id)
                         : NULL;
    if (task)
        dispatch_cancel (self, task);
}

/* FETCH and QUERY: a client's, about detached tasks its key may see. */
static void
s_on_detached (broker_t *self, inbound_t *in, worker_t *worker)
{
    (void) worker;
    char why [96];
    if (!s_client_is_allowed (self, in, why, sizeof why)) {
        s_send_error (self, &in->from, ZFARM_EUNAUTHORIZED, why);
        return;
    }
    char owner [ZF_OWNER_MAX + 1];
    s_sender_key (self, in, owner);
    (in->header.command == ZF_FETCH? detached_fetch: detached_query)
        (self, in, owner);
}

static void
s_on_heartbeat (broker_t *self, inbound_t *in, worker_t *worker)
{
    if (!worker) {
        s_send_disconnect (self, &in->from, "unknown worker");
        return;
    }
    /* A local child's memory the broker reads itself (dispatch.c). */
    if (in->header.rss_kb && !worker->pool_child)
        worker->rss_kb = in->header.rss_kb < LONG_MAX / 1024
                       ? (long) in->header.rss_kb: LONG_MAX / 1024;
    if (in->header.flags & ZF_FLAG_DRAIN)
        dispatch_drain (self, worker);
}

static void
s_on_disconnect (broker_t *self, inbound_t *in, worker_t *worker)
{
    if (worker)
        dispatch_worker_delete (self, worker, "disconnected", false);
    else
    if (in->header.instance [0]) {
        char key [ZF_OWNER_MAX + 1];
        s_sender_key (self, in, key);
        dispatch_worker_died (self, in->header.instance, key,
                              in->header.text);
    }
}

static void
s_on_slots (broker_t *self, inbound_t *in, worker_t *worker)
{
    if (worker)
        dispatch_slots (self, worker, &in->header);
    else
        s_send_disconnect (self, &in->from, "unknown worker");
}

/* From a peer that is not a registered worker (one declared dead, or from
 * before a restart): dropped, and the peer told to register again, as for
 * a HEARTBEAT. */
static void
s_on_progress (broker_t *self, inbound_t *in, worker_t *worker)
{
    if (worker)
        dispatch_progress (self, worker, &in->header);
    else {
        self->counters.progress_dropped++;
        s_send_disconnect (self, &in->from, "unknown worker");
    }
}

/* The loop thread's CPU time, us. */
static int64_t
s_thread_cpu_us (void)
{
    struct timespec ts;
    if (clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Counts the load, and how busy the loop was since the last count: its
 * thread's CPU time over the time gone by. CPU time, not the time spent
 * outside zmq_poll: a broker that other processes keep from the CPU is
 * not one that more brokers on that machine would help. */
static void
s_count_load (broker_t *self, int64_t now_us)
{
    dispatch_load (self, &self->load);
    int64_t cpu_us = s_thread_cpu_us ();
    int64_t span = now_us - self->load_at;
    int64_t busy = self->load_at && span > 0  /* none before a first count */
                 ? (cpu_us - self->cpu_at_load) * ZF_BUSY_MAX / span: 0;
    self->load.busy = busy < 0? 0: busy > ZF_BUSY_MAX? ZF_BUSY_MAX
                                                     : (uint32_t) busy;
    self->load_at = now_us;
    self->cpu_at_load = cpu_us;
}

static void
s_on_ping (broker_t *self, inbound_t *in, worker_t *worker)
{
    (void) worker;
    zf_header_t header;
    broker_heartbeat_init (self, &header, ZF_PONG);
    header.epoch = self->epoch;
    /* Clients ping every interval while they wait: the load they choose a
     * broker by is counted at most every LOAD_RECOUNT_MS. */
    int64_t now_us = zf_now_us (), now = now_us / 1000;
    if (now_us - self->load_at >= LOAD_RECOUNT_MS * 1000)
        s_count_load (self, now_us);
    header.queued = self->load.queued;
    header.free_slots = self->load.free_slots > UINT32_MAX
                      ? UINT32_MAX: (uint32_t) self->load.free_slots;
    header.pool = self->load.pool;
    header.busy = self->load.busy;
    /* A supervisor of an elastic pool names its services: their backlog
     * is what it grows by. Its services only, and at a lookup each. */
    for (uint32_t i = 0; i < in->header.service_count; i++) {
        const service_t *service = zhashx_lookup (self->services,
                                                  in->header.services [i]);
        if (!service || task_queue_is_empty (&service->queue))
            continue;
        header.waiting += service->queue.size;
        int64_t waited = now - task_queue_oldest_submitted (&service->queue);
        if (waited > header.waited_ms)
            header.waited_ms = waited < UINT32_MAX? (uint32_t) waited
                                                  : UINT32_MAX;
    }
    broker_send_header (self, &in->from, &header);
}

static void
s_free_json (void *data, void *hint)
{
    (void) hint;
    free (data);
}

static void
s_on_status (broker_t *self, inbound_t *in, worker_t *worker)
{
    (void) worker;
    char why [96];
    if (!s_client_is_allowed (self, in, why, sizeof why)) {
        s_send_error (self, &in->from, ZFARM_EUNAUTHORIZED, why);
        return;
    }
    status_view_t view;
    broker_status_view (self, &view);
    char *json = status_json (&view);
    zmq_msg_t frame;
    zmq_msg_init_data (&frame, json, strlen (json), s_free_json, NULL);
    zf_header_t header;
    zf_header_init (&header, ZF_STATUS);
    broker_send (self, &in->from, &header, &frame, 1, false);
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
    [ZF_SLOTS]      = s_on_slots,
    [ZF_PROGRESS]   = s_on_progress,
    [ZF_STORED]     = s_misplaced,
    [ZF_FETCH]      = s_on_detached,
    [ZF_QUERY]      = s_on_detached,
};

/* A header that did not decode: say why, if there is anyone to tell. */
static void
s_on_malformed (broker_t *self, const inbound_t *in, int rc)
{
    const zf_header_t *header = &in->header;
    self->counters.bad_messages++;
    broker_log_bad (self, "refused a message: %s", header->text);
    if (header->command == ZF_SUBMIT && header->task_id)
        s_reply_result (self, in, rc, header->text);
    else
        s_send_error (self, &in->from, rc, header->text);
}

void
commands_handle_item (broker_t *self, inbound_t *in, int rc)
{
    int command = in->header.command;
    if (rc == 0 && command != ZF_SUBMIT && command != ZF_DONE
    &&  command != ZF_TASK && command != ZF_RESULT) {
        s_misplaced (self, in, peer_table_lookup (self->workers, &in->from));
        return;
    }
    commands_handle (self, in, rc);
}

void
commands_handle (broker_t *self, inbound_t *in, int rc)
{
    if (rc != 0) {
        s_on_malformed (self, in, rc);
        return;
    }
    worker_t *worker = peer_table_lookup (self->workers, &in->from);
    if (worker)
        worker->expiry = zf_now_ms () + self->liveness_ms;
    handler_fn *handler = s_handlers [in->header.command];
    (handler? handler: s_misplaced) (self, in, worker);
}
