/* client_tasks.c: a task's life inside the client: the pending table and
 * the deadline list, the messages that start and cancel tasks, and time:
 * expiry, and the pump and poll that the public calls in client.c run (the
 * brokers' heartbeat, silence and lost tasks are client_brokers.c's).
 *
 * Invariant: a task is in `pending` (and, if it has a deadline, in
 * `deadlines`) from its SUBMIT until zf_client_finish makes its one result,
 * which removes it (client.c's top comment says where the result goes). */
#include "client_internal.h"
#include "result_internal.h"
#include "zf_defaults.h"
#include "zf_log.h"
#include "zf_util.h"

#include <inttypes.h>
#include <limits.h>

/* ---- tasks and deadlines ----------------------------------------------- */

task_t *
zf_client_task_new (zfarm_client_t *self, const char *service,
                    const void *data, size_t size, int timeout_ms)
{
    size_t service_size = strlen (service) + 1;
    task_t *task = zf_malloc (sizeof *task + service_size);
    memcpy (task->service, service, service_size);
    task->id = ++self->last_id;
    /* The one copy of the caller's bytes: the API takes them as const, and
     * they must outlive the call for a resubmission. A NUL goes after them
     * (ZF_FLAG_NUL), so that the handler can read them in place. */
    zf_msg_init_terminated (&task->payload, data, size);
    zf_link_init (&task->deadline_link);
    task->timeout_ms = (uint32_t) timeout_ms;
    task->priority = (uint8_t) self->priority;
    int64_t now = zf_now_ms ();
    if (self->delay_ms)
        task->due = now + self->delay_ms;
    if (timeout_ms > 0)
        task->deadline = (task->due? task->due: now) + timeout_ms + GRACE_MS;
    return task;
}

void
zf_client_task_destroy (task_t **task_p)
{
    task_t *task = *task_p;
    if (!task)
        return;
    zmq_msg_close (&task->payload);
    free (task);
    *task_p = NULL;
}

static task_t *
s_deadline_task (zf_link_t *link)
{
    return zf_container_of (link, task_t, deadline_link);
}

/* Tasks mostly share one timeout, so a new deadline is usually the latest:
 * the search for its place starts at the end. */
static void
s_deadline_insert (zfarm_client_t *self, task_t *task)
{
    zf_link_t *at = self->deadlines.prev;
    while (at != &self->deadlines && s_deadline_task (at)->deadline
                                     > task->deadline)
        at = at->prev;
    zf_list_insert_after (at, &task->deadline_link);
}

static task_t *
s_deadline_first (zfarm_client_t *self)
{
    zf_link_t *first = zf_list_first (&self->deadlines);
    return first? s_deadline_task (first): NULL;
}

void
zf_client_result_destroy (void **item)
{
    zfarm_result_destroy ((zfarm_result_t **) item);
}

void
zf_client_due_destroy (void **item)
{
    due_t *due = *item;
    if (!due)
        return;
    zfarm_result_destroy (&due->result);
    free (due);
    *item = NULL;
}

void
zf_client_report_detach (zfarm_client_t *self, report_t *report)
{
    zf_list_remove (&report->link);
    task_t *task = zf_index_lookup (&self->pending, report->task_id);
    if (task && task->report == report)
        task->report = NULL;
}

void
zf_client_reports_clear (zfarm_client_t *self)
{
    zf_link_t *lists [] = { &self->callback_reports, &self->event_reports };
    for (size_t i = 0; i < 2; i++) {
        zf_link_t *link;
        while ((link = zf_list_first (lists [i]))) {
            report_t *report = zf_container_of (link, report_t, link);
            zf_client_report_detach (self, report);
            free (report);
        }
    }
}

void
zf_client_finish (zfarm_client_t *self, task_t *task,
                  zfarm_result_t *result)
{
    /* A report that waits was queued before the result, and is delivered
     * before it (callbacks run before a wait returns, events merge by
     * seq); a call, which delivers its result at once, has none. */
    if (task->report && task->sink) {
        zf_list_remove (&task->report->link);
        free (task->report);
    }
    task->report = NULL;
    if (task->sink)
        *task->sink = result;
    else
    if (task->callback) {
        due_t *due = zf_malloc (sizeof *due);
        due->result = result;
        due->callback = task->callback;
        due->arg = task->arg;
        zlistx_add_end (self->due, due);
    }
    else {
        zf_result_set_seq (result, ++self->seq);
        zlistx_add_end (self->ready, result);
    }

    self->brokers [task->broker].in_flight--;
    zf_list_remove (&task->deadline_link);
    zf_index_delete (&self->pending, task->id);
    zf_client_task_destroy (&task);
}

/* ---- sending ----------------------------------------------------------- */

int
zf_client_send_submit (zfarm_client_t *self, task_t *task,
                       uint32_t timeout_ms)
{
    zf_header_t header;
    zf_header_init (&header, ZF_SUBMIT);
    header.task_id = task->id;
    zf_header_set_service (&header, task->service);
    header.timeout_ms = timeout_ms;
    header.retries = self->retries;
    header.flags = ZF_FLAG_NUL
                 | (task->progress != PROGRESS_NONE? ZF_FLAG_PROGRESS: 0);
    header.priority = task->priority;
    /* Relative: the broker's clock need not agree with ours. */
    int64_t delay = task->due? task->due - zf_now_ms (): 0;
    header.delay_ms = delay > 0? (uint32_t) delay: 0;
    header.retry_on = self->retry_on;
    header.backoff_min_ms = self->backoff_min_ms;
    header.backoff_max_ms = self->backoff_max_ms;
    conn_t *conn = &self->brokers [task->broker];
    if (zf_client_batch_takes (self, conn, &task->payload))
        return zf_client_batch_hold (self, conn, &header, &task->payload);
    zf_client_batch_flush (conn);
    conn->armed = false;        /* a send may take the signal of an input */
    return zf_wire_send_shared (conn->sock, &header, &task->payload);
}

void
zf_client_send_simple (zfarm_client_t *self, conn_t *conn, int command,
                       uint64_t task_id)
{
    (void) self;
    zf_header_t header;
    zf_header_init (&header, command);
    header.task_id = task_id;
    zf_client_batch_flush (conn);       /* a CANCEL follows its SUBMIT */
    conn->armed = false;
    if (zf_wire_send_shared (conn->sock, &header, NULL) != 0)
        zf_debug ("zfarm client: could not send %s to %s: %s",
                  zf_command_name (command), conn->endpoint,
                  zmq_strerror (zmq_errno ()));
}

void
zf_client_task_start (zfarm_client_t *self, task_t *task)
{
    task->broker = zf_client_pick_any (self);
    self->brokers [task->broker].in_flight++;
    self->brokers [task->broker].sent_since_pong++;
    zf_index_insert (&self->pending, task);
    if (task->deadline)
        s_deadline_insert (self, task);
    if (zf_client_send_submit (self, task, task->timeout_ms) != 0) {
        char text [256];
        snprintf (text, sizeof text, "could not queue the task for %s: %s",
                  self->brokers [task->broker].endpoint,
                  zmq_strerror (zmq_errno ()));
        zf_client_finish (self, task,
                          zf_result_new (task->id, ZFARM_EBROKER_DOWN, text));
    }
}

void
zf_client_cancel (zfarm_client_t *self, task_t *task, const char *why)
{
    zf_client_send_simple (self, &self->brokers [task->broker], ZF_CANCEL,
                           task->id);
    zf_client_finish (self, task,
                      zf_result_new (task->id, ZFARM_ECANCELLED, why));
}

/* ---- time -------------------------------------------------------------- */

/* The result of a task whose deadline passed without a RESULT: TIMEOUT if
 * its broker has been heard within liveness intervals (it is alive, so the
 * task really overran), BROKER_DOWN if not. */
static zfarm_result_t *
s_expiry_result (zfarm_client_t *self, const task_t *task, int64_t now)
{
    char text [256];
    conn_t *conn = &self->brokers [task->broker];
    int64_t silence = now - conn->last_heard;
    if (conn->last_heard
    &&  silence <= ZF_CONN_SILENCE_MS (conn)) {
        snprintf (text, sizeof text, "no result from the broker %d ms "
                  "after the task's timeout of %" PRIu32 " ms",
                  GRACE_MS, task->timeout_ms);
        zf_client_send_simple (self, conn, ZF_CANCEL, task->id);
        return zf_result_new (task->id, ZFARM_ETIMEOUT, text);
    }
    if (conn->last_heard)
        snprintf (text, sizeof text, "no answer from %s for %" PRId64 " ms",
                  conn->endpoint, silence);
    else
        snprintf (text, sizeof text, "no answer from %s", conn->endpoint);
    return zf_result_new (task->id, ZFARM_EBROKER_DOWN, text);
}

/* Ends the tasks whose deadline has passed. Each turn removes one task, so
 * the loop ends. Returns the number of results made. */
static int
s_expire (zfarm_client_t *self, int64_t now)
{
    int made = 0;
    task_t *task;
    while ((task = s_deadline_first (self)) && task->deadline <= now) {
        zf_client_finish (self, task, s_expiry_result (self, task, now));
        made++;
    }
    return made;
}

int
zf_client_next_due (zfarm_client_t *self)
{
    if (zf_index_size (&self->pending) == 0)
        return -1;
    int64_t next = self->next_ping;
    task_t *first = s_deadline_first (self);
    if (first && first->deadline < next)
        next = first->deadline;
    int64_t left = next - zf_now_ms ();
    return left < 0? 0: left > INT_MAX? INT_MAX: (int) left;
}

/* Receiving comes first, so that a result that arrived by the deadline
 * wins over its expiry. Brokers are found lost in two places, by what
 * they sent (a new epoch, SHUTDOWN) and by their silence (the heartbeat):
 * their tasks move after each, a flag test when nothing was lost. */
int
zf_client_pump (zfarm_client_t *self)
{
    int made = zf_client_receive (self);
    int64_t now = zf_now_ms ();
    zf_client_monitor_read (self, now);
    zf_client_move_lost (self, now);
    made += s_expire (self, now);
    zf_client_heartbeat (self, now);
    zf_client_move_lost (self, now);
    return made;
}

/* zsys_interrupted is checked first, so that a signal that came while the
 * client was busy is not slept through; held SUBMITs go before it, so
 * that no result is waited for that was never asked. */
int
zf_client_poll (zfarm_client_t *self, int64_t until)
{
    zf_client_batch_flush_all (self);   /* what we wait for is asked */
    if (zsys_interrupted)
        return -1;
    int64_t now = zf_now_ms ();
    if (now >= until)
        return -1;
    int64_t wait = until == INT64_MAX? -1: until - now;
    int next = zf_client_next_due (self);
    if (next >= 0 && (wait < 0 || next < wait))
        wait = next;
    if (zf_client_poll_sockets (self, (long) wait) == -1
    &&  (zsys_interrupted || zmq_errno () != EINTR))
        return -1;
    return 0;
}

/* The progress callbacks first: each report queued was queued before its
 * task's result. A callback may submit, cancel or wait; a report made
 * meanwhile joins the end, and is run by the next turn. */
static void
s_run_report_callbacks (zfarm_client_t *self)
{
    size_t count = 0;
    for (zf_link_t *at = self->callback_reports.next;
         at != &self->callback_reports; at = at->next)
        count++;
    zf_link_t *link;
    while (count-- > 0 && (link = zf_list_first (&self->callback_reports))) {
        report_t *report = zf_container_of (link, report_t, link);
        zf_client_report_detach (self, report);
        report->callback (report->task_id, report->done, report->total,
                          report->note, report->arg);
        free (report);
    }
}

void
zf_client_run_callbacks (zfarm_client_t *self)
{
    s_run_report_callbacks (self);
    size_t count = zlistx_size (self->due);
    while (count-- > 0) {
        due_t *due = zlistx_detach (self->due, NULL);
        if (!due)
            break;                  /* a nested wait already ran the rest */
        due->callback (due->result, due->arg);
        zf_client_due_destroy ((void **) &due);
    }
}
