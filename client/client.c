/* client.c: zfarm_client_t's public API and its connection: one DEALER to a
 * broker, its pending tasks and their results, used from one thread without
 * a background thread. The task bookkeeping, sending and time (expiry,
 * fail-over, heartbeat, the pump) are in client_tasks.c, the handlers of
 * what the broker sends in client_receive.c; client_internal.h has the
 * struct they share.
 *
 * Invariant: a task is in `pending` (and, if it has a deadline, in
 * `deadlines`) from its SUBMIT until its one result is made. Making the
 * result removes the task and hands the result to exactly one place: the
 * zfarm_client_call waiting for it, the callback queue, or the wait queue.
 * A later RESULT for that id finds no task and is dropped, which is the
 * at-most-once delivery common/PROTOCOL.md promises.
 *
 * The client also holds each task until its result, to survive the broker:
 * when the broker restarts (its PONG brings a new epoch) or comes back after
 * a silence, every pending task is submitted again with the same id, and
 * the broker, which keys tasks by (routing id, task id), ignores those it
 * still holds. The routing id is fixed for the client's life so that a
 * reconnection keeps it. Given several endpoints, a client whose broker
 * falls silent moves to the next one and submits its tasks there. */
#include "client_internal.h"
#include "zf_defaults.h"
#include "zf_log.h"
#include "zf_util.h"

/* How long the CANCELs queued by destroy may take to leave the process. */
#define LINGER_MS       100

/* ---- the public API ---------------------------------------------------- */

static bool
s_args_are_valid (const char *service, const void *data, size_t size,
                  int timeout_ms)
{
    return service
        && zf_service_name_is_valid (service,
                                     strnlen (service, ZF_SERVICE_MAX + 1))
        && (data || size == 0)
        && timeout_ms >= 0;
}

zsock_t *
zf_client_connect (zfarm_client_t *self, const char *endpoint)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock) {
        zf_error ("zfarm client: cannot create a socket: %s",
                  zmq_strerror (zmq_errno ()));
        return NULL;
    }
    /* A client is sent only what it asked for (a RESULT per SUBMIT, a PONG
     * per PING) and holds its pending tasks anyway, so neither queue needs a
     * limit; with one, a slow reader would make the broker's ROUTER drop
     * results, and a broker that is not up yet would block a submit. */
    zsock_set_sndhwm (sock, 0);
    zsock_set_rcvhwm (sock, 0);
    zsock_set_sndtimeo (sock, 0);
    zsock_set_rcvtimeo (sock, 0);
    zmq_setsockopt (zsock_resolve (sock), ZMQ_ROUTING_ID, self->routing_id,
                    ROUTING_ID_SIZE);
    if (zf_curve_apply (&self->curve, zsock_resolve (sock)) != 0) {
        zf_error ("zfarm client: CURVE keys refused: %s",
                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        zf_error ("zfarm client: connect %s: %s", endpoint,
                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

/* Splits "ep1,ep2,..." into self->endpoints. Returns 0, or -1 if empty. */
static int
s_parse_endpoints (zfarm_client_t *self, const char *list)
{
    char *copy = zf_strdup (list), *save = NULL;
    for (char *item = strtok_r (copy, ",", &save);
         item && self->endpoint_count < ENDPOINTS_MAX;
         item = strtok_r (NULL, ",", &save))
        if (*item)
            self->endpoints [self->endpoint_count++] = zf_strdup (item);
    free (copy);
    return self->endpoint_count? 0: -1;
}

static void
s_endpoints_free (zfarm_client_t *self)
{
    for (int i = 0; i < self->endpoint_count; i++)
        free (self->endpoints [i]);
}

zfarm_client_t *
zfarm_client_new (const char *endpoint)
{
    if (!endpoint)
        endpoint = getenv ("ZFARM_BROKER");
    if (!endpoint || !*endpoint)
        endpoint = ZF_DEFAULT_ENDPOINT;
    zf_log_library ();
    zfarm_client_t *self = zf_malloc (sizeof *self);
    zf_random_routing_id (self->routing_id);
    char error [512];
    zsock_t *sock = NULL;
    if (zf_curve_setup_from_env (&self->curve, error, sizeof error) != 0)
        zf_error ("zfarm client: %s", error);
    else
    if (s_parse_endpoints (self, endpoint) == 0)
        sock = zf_client_connect (self, self->endpoints [0]);
    if (!sock) {
        s_endpoints_free (self);
        zf_curve_clear (&self->curve);
        free (self);
        return NULL;
    }
    self->sock = sock;
    self->endpoint = zf_strdup (self->endpoints [0]);
    self->decoder = zf_decoder_new ();
    zf_index_init (&self->pending, offsetof (task_t, id));
    zf_list_init (&self->deadlines);
    self->ready = zlistx_new ();
    zlistx_set_destructor (self->ready, zf_client_result_destroy);
    self->due = zlistx_new ();
    zlistx_set_destructor (self->due, zf_client_due_destroy);
    self->retries = -1;
    self->heartbeat_ms = ZF_DEFAULT_HEARTBEAT_MS;
    self->liveness = ZF_DEFAULT_LIVENESS;
    return self;
}

/* Tells the broker that the tasks still pending are not wanted any more,
 * so that their workers are freed, and gives the CANCELs a moment to leave
 * after the socket is closed. */
static void
s_abandon (zfarm_client_t *self)
{
    size_t cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor)))
        zf_client_send_simple (self, ZF_CANCEL, task->id);
    zsock_set_linger (self->sock, LINGER_MS);
}

void
zfarm_client_destroy (zfarm_client_t **self_p)
{
    assert (self_p);
    zfarm_client_t *self = *self_p;
    if (!self)
        return;
    s_abandon (self);
    zsock_destroy (&self->sock);
    size_t cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor)))
        zf_client_task_destroy (&task);
    zf_index_clear (&self->pending);
    zlistx_destroy (&self->ready);
    zlistx_destroy (&self->due);
    zf_decoder_destroy (&self->decoder);
    free (self->status_json);
    free (self->endpoint);
    s_endpoints_free (self);
    zf_curve_clear (&self->curve);
    free (self);
    *self_p = NULL;
}

int
zfarm_client_set_curve (zfarm_client_t *self, const char *server_key,
                        const char *cert_path)
{
    assert (self);
    zf_curve_t curve = { .enabled = false };
    char error [512];
    if ((server_key || cert_path)
    &&  zf_curve_setup (&curve, server_key, cert_path, error,
                        sizeof error) != 0) {
        zf_error ("zfarm client: %s", error);
        return ZFARM_EINVALID;
    }
    zf_curve_t previous = self->curve;
    self->curve = curve;
    zf_curve_clear (&curve);
    zsock_t *sock = zf_client_connect (self, self->endpoint);
    if (!sock) {
        self->curve = previous;     /* keep the socket we have */
        zf_curve_clear (&previous);
        return ZFARM_EINVALID;
    }
    zf_curve_clear (&previous);
    zsock_set_linger (self->sock, 0);
    zsock_destroy (&self->sock);
    self->sock = sock;
    self->unanswered_since = 0;
    self->epoch = 0;
    zf_client_resubmit_all (self, "CURVE keys changed");
    return 0;
}

void
zfarm_client_set_retries (zfarm_client_t *self, int retries)
{
    assert (self);
    self->retries = retries < -1? -1:
                    retries > ZF_RETRIES_MAX? ZF_RETRIES_MAX: retries;
}

int
zfarm_client_submit (zfarm_client_t *self, const char *service,
                     const void *data, size_t size, int timeout_ms,
                     uint64_t *task_id_p)
{
    assert (self);
    if (!s_args_are_valid (service, data, size, timeout_ms))
        return ZFARM_EINVALID;
    task_t *task = zf_client_task_new (self, service, data, size, timeout_ms);
    if (task_id_p)
        *task_id_p = task->id;
    zf_client_task_start (self, task);
    return 0;
}

int
zfarm_client_submit_cb (zfarm_client_t *self, const char *service,
                        const void *data, size_t size, int timeout_ms,
                        zfarm_result_fn *callback, void *arg,
                        uint64_t *task_id_p)
{
    assert (self);
    if (!callback || !s_args_are_valid (service, data, size, timeout_ms))
        return ZFARM_EINVALID;
    task_t *task = zf_client_task_new (self, service, data, size, timeout_ms);
    task->callback = callback;
    task->arg = arg;
    if (task_id_p)
        *task_id_p = task->id;
    zf_client_task_start (self, task);
    return 0;
}

/* Other tasks' results that arrive meanwhile are kept; their callbacks run
 * at the next wait or dispatch, never inside a call. An interrupted call
 * cancels its task and returns CANCELLED. */
int
zfarm_client_call (zfarm_client_t *self, const char *service,
                   const void *data, size_t size, int timeout_ms,
                   zfarm_result_t **result_p)
{
    assert (self);
    if (result_p)
        *result_p = NULL;
    if (!s_args_are_valid (service, data, size, timeout_ms))
        return ZFARM_EINVALID;
    zfarm_result_t *result = NULL;
    task_t *task = zf_client_task_new (self, service, data, size, timeout_ms);
    uint64_t task_id = task->id;
    task->sink = &result;
    zf_client_task_start (self, task);
    while (!result) {
        zf_client_pump (self);
        if (!result && zf_client_poll (self, INT64_MAX) != 0)
            zf_client_cancel (self,
                              zf_index_lookup (&self->pending, task_id),
                              "interrupted");
    }
    int status = zfarm_result_status (result);
    if (result_p)
        *result_p = result;
    else
        zfarm_result_destroy (&result);
    return status;
}

int
zfarm_client_wait (zfarm_client_t *self, int timeout_ms,
                   zfarm_result_t **result_p)
{
    assert (self);
    if (!result_p)
        return ZFARM_EINVALID;
    *result_p = NULL;
    int64_t until = timeout_ms < 0? INT64_MAX: zf_now_ms () + timeout_ms;
    while (true) {
        zfarm_client_dispatch (self);
        *result_p = zlistx_detach (self->ready, NULL);
        if (*result_p)
            return 0;
        if (zfarm_client_pending (self) == 0)
            return ZFARM_ENOT_FOUND;
        if (zf_client_poll (self, until) != 0)
            return ZFARM_ETIMEOUT;
    }
}

int
zfarm_client_cancel (zfarm_client_t *self, uint64_t task_id)
{
    assert (self);
    task_t *task = zf_index_lookup (&self->pending, task_id);
    if (!task)
        return ZFARM_ENOT_FOUND;
    zf_client_cancel (self, task, "cancelled by the client");
    return 0;
}

size_t
zfarm_client_pending (zfarm_client_t *self)
{
    assert (self);
    return zf_index_size (&self->pending) + zlistx_size (self->ready)
         + zlistx_size (self->due);
}

int
zfarm_client_fd (zfarm_client_t *self)
{
    assert (self);
    return (int) zsock_fd (self->sock);
}

/* Input left over from a bounded batch, and callbacks queued outside
 * dispatch (by cancel, call or status), need a dispatch at once: ZMQ_FD
 * signals edges, so it will not report them again. */
int
zfarm_client_next_timeout (zfarm_client_t *self)
{
    assert (self);
    if (zlistx_size (self->due) > 0
    ||  (zsock_events (self->sock) & ZMQ_POLLIN))
        return 0;
    return zf_client_next_due (self);
}

int
zfarm_client_dispatch (zfarm_client_t *self)
{
    assert (self);
    int made = zf_client_pump (self);
    zf_client_run_callbacks (self);
    return made;
}

/* A reply that comes after an earlier request gave up is dropped before the
 * request is sent; one still in flight would be taken as this request's
 * answer, which is harmless: it is a status document a little older. */
int
zfarm_client_status (zfarm_client_t *self, int timeout_ms, char **json_p)
{
    assert (self);
    if (!json_p)
        return ZFARM_EINVALID;
    *json_p = NULL;
    zf_client_receive (self);
    zstr_free (&self->status_json);
    self->unauthorized = false;
    zf_client_send_simple (self, ZF_STATUS, 0);
    int64_t until = timeout_ms < 0? INT64_MAX: zf_now_ms () + timeout_ms;
    while (!self->status_json) {
        zf_client_pump (self);
        if (self->unauthorized)
            return ZFARM_EUNAUTHORIZED;
        if (!self->status_json && zf_client_poll (self, until) != 0)
            return ZFARM_EBROKER_DOWN;
    }
    *json_p = self->status_json;
    self->status_json = NULL;
    return 0;
}
