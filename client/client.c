/* client.c: zfarm_client_t's public API: its pending tasks and their
 * results, used from one thread without a background thread. The task
 * bookkeeping, sending and time (expiry, heartbeat, the pump and poll) are
 * in client_tasks.c, the handlers of what brokers send in client_receive.c,
 * and the connections, one per broker, with the choice of a broker for
 * each task and the moving of a lost broker's tasks, in client_brokers.c;
 * client_internal.h has the struct they share.
 *
 * Invariant: a task is in `pending` (and, if it has a deadline, in
 * `deadlines`) from its SUBMIT until its one result is made. Making the
 * result removes the task and hands the result to exactly one place: the
 * zfarm_client_call waiting for it, the callback queue, or the wait queue.
 * A later RESULT for that id finds no task and is dropped, which is the
 * at-most-once delivery common/PROTOCOL.md promises.
 *
 * The client also holds each task until its result, to survive its
 * broker: when the broker restarts (its PONG brings a new epoch), falls
 * silent or shuts down, the task is submitted again with the same id, to
 * another broker if the client has one that is up, else to the same one
 * when it is back; a broker, which keys tasks by (routing id, task id),
 * ignores those it still holds. The routing id is fixed for the client's
 * life so that a reconnection keeps it. */
#include "client_internal.h"
#include "result_internal.h"
#include "zf_retry.h"
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
    self->poll_fd = -1;
    char error [512];
    if (zf_curve_setup_from_env (&self->curve, error, sizeof error) != 0)
        zf_error ("zfarm client: %s", error);
    else
    if (zf_client_brokers_open (self, endpoint) == 0) {
        self->decoder = zf_decoder_new ();
        zf_index_init (&self->pending, offsetof (task_t, id));
        zf_list_init (&self->deadlines);
        self->ready = zlistx_new ();
        zlistx_set_destructor (self->ready, zf_client_result_destroy);
        self->due = zlistx_new ();
        zlistx_set_destructor (self->due, zf_client_due_destroy);
        zf_list_init (&self->callback_reports);
        zf_list_init (&self->event_reports);
        self->retries = -1;
        self->priority = ZF_PRIORITY_DEFAULT;
        return self;
    }
    zf_client_brokers_close (self, 0);
    zf_curve_clear (&self->curve);
    free (self);
    return NULL;
}

/* Tells each broker that the tasks it still holds are not wanted any more,
 * so that their workers are freed, and gives the CANCELs a moment to leave
 * after the sockets are closed. SUBMITs still held are not sent at all. */
static void
s_abandon (zfarm_client_t *self)
{
    for (int i = 0; i < self->broker_count; i++)
        zf_client_batch_drop (&self->brokers [i]);
    size_t cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor)))
        zf_client_send_simple (self, &self->brokers [task->broker],
                               ZF_CANCEL, task->id);
}

void
zfarm_client_destroy (zfarm_client_t **self_p)
{
    assert (self_p);
    zfarm_client_t *self = *self_p;
    if (!self)
        return;
    s_abandon (self);
    zf_client_brokers_close (self, LINGER_MS);
    zf_client_reports_clear (self);
    size_t cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor)))
        zf_client_task_destroy (&task);
    zf_index_clear (&self->pending);
    zlistx_destroy (&self->ready);
    zlistx_destroy (&self->due);
    zf_decoder_destroy (&self->decoder);
    free (self->status_json);
    free (self->request.json);
    zfarm_result_destroy (&self->request.result);
    zf_index_clear (&self->request.batch);
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
    if (zf_client_brokers_reconnect (self) != 0) {
        self->curve = previous;     /* keep the sockets we have */
        zf_curve_clear (&previous);
        return ZFARM_EINVALID;
    }
    zf_curve_clear (&previous);
    for (int i = 0; i < self->broker_count; i++)
        zf_client_resubmit (self, &self->brokers [i], "CURVE keys changed");
    return 0;
}

void
zfarm_client_set_retries (zfarm_client_t *self, int retries)
{
    assert (self);
    self->retries = retries < -1? -1:
                    retries > ZF_RETRIES_MAX? ZF_RETRIES_MAX: retries;
}

/* Where the new task's progress reports go: to the callback set now, or,
 * for a task whose result comes from the wait calls (events), as events;
 * else it asks for none. */
static void
s_progress_mode (zfarm_client_t *self, task_t *task, bool events)
{
    if (self->progress_fn) {
        task->progress = PROGRESS_CALLBACK;
        task->progress_fn = self->progress_fn;
        task->progress_arg = self->progress_arg;
    }
    else
    if (events && self->progress_events)
        task->progress = PROGRESS_EVENTS;
}

void
zfarm_client_set_progress (zfarm_client_t *self, zfarm_progress_fn *callback,
                           void *arg)
{
    assert (self);
    self->progress_fn = callback;
    self->progress_arg = callback? arg: NULL;
}

void
zfarm_client_set_progress_events (zfarm_client_t *self, int on)
{
    assert (self);
    self->progress_events = on != 0;
}

int
zfarm_client_set_priority (zfarm_client_t *self, int priority)
{
    assert (self);
    if (priority < 0 || priority > ZF_PRIORITY_MAX)
        return ZFARM_EINVALID;
    self->priority = priority;
    return 0;
}

int
zfarm_client_set_delay (zfarm_client_t *self, long long delay_ms)
{
    assert (self);
    if (delay_ms < 0 || delay_ms > UINT32_MAX)
        return ZFARM_EINVALID;
    self->delay_ms = (uint32_t) delay_ms;
    return 0;
}

int
zfarm_client_set_retry (zfarm_client_t *self, unsigned codes,
                        int backoff_min_ms, int backoff_max_ms)
{
    assert (self);
    if ((codes & ~ZF_RETRY_CODES_ALLOWED) || backoff_min_ms < 0
    ||  backoff_min_ms > backoff_max_ms || backoff_max_ms > ZF_BACKOFF_MAX_MS)
        return ZFARM_EINVALID;
    self->retry_on = codes;
    self->backoff_min_ms = (uint32_t) backoff_min_ms;
    self->backoff_max_ms = (uint32_t) backoff_max_ms;
    return 0;
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
    s_progress_mode (self, task, true);
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
    s_progress_mode (self, task, false);
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

/* zfarm_client_wait hands out results only: the reports queued before the
 * one it returns would otherwise come after it. */
static void
s_drop_reports_before (zfarm_client_t *self, uint64_t seq)
{
    zf_link_t *link;
    while ((link = zf_list_first (&self->event_reports))) {
        report_t *report = zf_container_of (link, report_t, link);
        if (report->seq > seq)
            break;
        zf_client_report_detach (self, report);
        free (report);
    }
}

/* What the wait calls do before they look at their queues: the whole
 * pump when nothing is queued; else only the callbacks and the held
 * SUBMITs, since a BATCH queues hundreds of results at once, and a pump
 * per result taken would cost a poll(2) each. The pump runs again once
 * the queue is empty, or a few ms on, so that a program slow to take its
 * results still pings its brokers and sees their silence in time. */
#define PUMP_SKIP_MS 5

static void
s_dispatch (zfarm_client_t *self)
{
    zf_client_pump (self);
    self->pumped_at = zf_now_ms ();
    zf_client_run_callbacks (self);
}

static void
s_dispatch_for_wait (zfarm_client_t *self, bool queued)
{
    if (!queued || zf_now_ms () - self->pumped_at >= PUMP_SKIP_MS) {
        s_dispatch (self);      /* a monitor that woke its wait says so */
        return;
    }
    zf_client_batch_flush_all (self);
    zf_client_run_callbacks (self);
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
        s_dispatch_for_wait (self, zlistx_size (self->ready) > 0);
        *result_p = zlistx_detach (self->ready, NULL);
        if (*result_p) {
            s_drop_reports_before (self, zf_result_seq (*result_p));
            return 0;
        }
        if (zfarm_client_pending (self) == 0)
            return ZFARM_ENOT_FOUND;
        if (zf_client_poll (self, until) != 0)
            return ZFARM_ETIMEOUT;
    }
}

/* The next event in the order they came: a queued result, or a report
 * queued before it. False if there is none. */
static bool
s_next_event (zfarm_client_t *self, zfarm_event_t *event)
{
    zfarm_result_t *result = zlistx_first (self->ready);
    zf_link_t *first = zf_list_first (&self->event_reports);
    report_t *report = first? zf_container_of (first, report_t, link): NULL;
    if (report && (!result || report->seq < zf_result_seq (result))) {
        zf_client_report_detach (self, report);
        event->type = ZFARM_EVENT_PROGRESS;
        event->task_id = report->task_id;
        event->done = report->done;
        event->total = report->total;
        memcpy (event->note, report->note, sizeof event->note);
        free (report);
        return true;
    }
    if (!result)
        return false;
    zlistx_detach (self->ready, NULL);
    event->type = ZFARM_EVENT_RESULT;
    event->task_id = zfarm_result_task_id (result);
    event->result = result;
    return true;
}

int
zfarm_client_wait_event (zfarm_client_t *self, int timeout_ms,
                         zfarm_event_t *event)
{
    assert (self);
    if (!event)
        return ZFARM_EINVALID;
    memset (event, 0, sizeof *event);
    int64_t until = timeout_ms < 0? INT64_MAX: zf_now_ms () + timeout_ms;
    while (true) {
        s_dispatch_for_wait (self, zlistx_size (self->ready) > 0
                                   || !zf_list_is_empty (&self->event_reports));
        if (s_next_event (self, event))
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
    return zf_client_fd_of (self);
}

/* Input left over from a bounded batch, callbacks and reports queued
 * outside dispatch (by cancel, call or status), and results and events
 * queued for the wait calls, need the caller at once: ZMQ_FD signals
 * edges, so it will not report them again. Held SUBMITs too: a loop that
 * did not flush them would sleep on results never asked for. */
int
zfarm_client_next_timeout (zfarm_client_t *self)
{
    assert (self);
    if (zlistx_size (self->due) > 0 || zlistx_size (self->ready) > 0
    ||  zf_client_batch_is_held (self)
    ||  !zf_list_is_empty (&self->callback_reports)
    ||  !zf_list_is_empty (&self->event_reports)
    ||  zf_client_has_input (self))
        return 0;
    return zf_client_next_due (self);
}

int
zfarm_client_dispatch (zfarm_client_t *self)
{
    assert (self);
    self->monitors_due = true;      /* the caller's loop may have been
                                       woken by a monitor's fd */
    int made = zf_client_pump (self);
    self->pumped_at = zf_now_ms ();
    zf_client_run_callbacks (self);
    return made;
}

/* A reply that comes after an earlier request gave up is dropped before the
 * request is sent; one still in flight would be taken as this request's
 * answer, which is harmless: it is a status document a little older (of
 * another broker, with several: a status is of one broker). */
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
    zf_client_send_simple (self, zf_client_status_broker (self), ZF_STATUS,
                           0);
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
