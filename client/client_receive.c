/* client_receive.c: the messages a client receives from its brokers
 * (RESULT, PONG, ERROR, STATUS, and BATCHes of RESULTs), dispatched
 * through a table. A RESULT counts only from the broker that holds the
 * task, whether it came alone or in a BATCH. */
#include "client_internal.h"
#include "result_internal.h"
#include "zf_log.h"
#include "zf_util.h"

#include <inttypes.h>
#include <poll.h>

/* Messages handled per broker and dispatch, so that a flood of results
 * cannot keep zfarm_client_dispatch from returning to the caller's event
 * loop. */
#define RECV_BATCH      256

/* A message handler returns the number of results it made (0 or 1; a
 * BATCH's, up to its items). */
typedef int (handler_fn) (zfarm_client_t *self, conn_t *conn,
                          const zf_header_t *header, zf_frames_t *payload);

/* Another broker that is up, to hand a task to instead of conn. */
static bool
s_has_other (zfarm_client_t *self, const conn_t *conn)
{
    for (int i = 0; i < self->broker_count; i++) {
        const conn_t *other = &self->brokers [i];
        if (other != conn && !other->silent && !other->leaving)
            return true;
    }
    return false;
}

static int
s_on_result (zfarm_client_t *self, conn_t *conn, const zf_header_t *header,
             zf_frames_t *payload)
{
    if (header->flags & ZF_FLAG_DETACHED) {
        zf_client_detached_answer (self, conn, header, payload);
        return 0;
    }
    task_t *task = zf_index_lookup (&self->pending, header->task_id);
    if (!task || task->broker != conn->index) {
        zf_debug ("zfarm client: dropped a RESULT from %s for task %" PRIu64
                  ", which %s", conn->endpoint, header->task_id,
                  task? "another broker holds": "is not pending");
        return 0;
    }
    /* A broker that is stopping hands its tasks to the others, when there
     * is another that is up. */
    if (header->status == ZFARM_ESHUTDOWN && s_has_other (self, conn)) {
        if (!conn->leaving)
            zf_warning ("zfarm client: %s is shutting down", conn->endpoint);
        conn->leaving = true;
        zf_client_broker_lost (self, conn, "is shutting down");
        return 0;
    }
    zf_client_finish (self, task, zf_result_from_wire (header, payload));
    return 1;
}

/* A report of a task that asked for them, from the broker that holds it:
 * queued, or put in place of the one that waits. */
static int
s_on_progress (zfarm_client_t *self, conn_t *conn, const zf_header_t *header,
               zf_frames_t *payload)
{
    (void) payload;
    task_t *task = zf_index_lookup (&self->pending, header->task_id);
    if (!task || task->broker != conn->index
    ||  task->progress == PROGRESS_NONE) {
        zf_debug ("zfarm client: dropped a PROGRESS from %s for task %"
                  PRIu64 ", which %s", conn->endpoint, header->task_id,
                  !task? "is not pending":
                  task->broker != conn->index? "another broker holds":
                  "did not ask for it");
        return 0;
    }
    report_t *report = task->report;
    if (!report) {
        report = zf_malloc (sizeof *report);
        report->task_id = task->id;
        report->seq = ++self->seq;
        report->callback = task->progress == PROGRESS_CALLBACK
                         ? task->progress_fn: NULL;
        report->arg = task->progress_arg;
        zf_list_push_back (report->callback? &self->callback_reports
                                           : &self->event_reports,
                           &report->link);
        task->report = report;
    }
    report->done = header->done;
    report->total = header->total;
    /* The decoder cut it to ZF_NOTE_MAX bytes. */
    size_t size = strnlen (header->text, ZF_NOTE_MAX);
    memcpy (report->note, header->text, size);
    report->note [size] = 0;
    return 0;
}

static int
s_on_pong (zfarm_client_t *self, conn_t *conn, const zf_header_t *header,
           zf_frames_t *payload)
{
    (void) payload;
    zf_client_broker_pong (self, conn, header);
    return 0;
}

static int
s_on_error (zfarm_client_t *self, conn_t *conn, const zf_header_t *header,
            zf_frames_t *payload)
{
    (void) payload;
    zf_warning ("zfarm client: broker %s refused a message: %s: %s",
                conn->endpoint, zfarm_err_name (header->status),
                header->text);
    if (header->status == ZFARM_EUNAUTHORIZED)
        self->unauthorized = true;
    return 0;
}

static int
s_on_status (zfarm_client_t *self, conn_t *conn, const zf_header_t *header,
             zf_frames_t *payload)
{
    (void) conn;
    (void) header;
    size_t size = zf_frames_size (payload);
    free (self->status_json);
    self->status_json = zf_malloc (size + 1);
    zf_frames_copy (payload, self->status_json);
    return 0;
}

/* STORED and QUERY: answers to a detached-task call. */
static int
s_on_answer (zfarm_client_t *self, conn_t *conn, const zf_header_t *header,
             zf_frames_t *payload)
{
    zf_client_detached_answer (self, conn, header, payload);
    return 0;
}

/* One item of a BATCH, handled as the RESULT it holds would be alone,
 * its payload copied into a frame of its own (the result keeps that frame,
 * as it keeps a RESULT's). An item that is not a RESULT, or whose header
 * does not decode, is dropped alone. */
static int
s_on_batch_item (zfarm_client_t *self, conn_t *conn,
                 const zf_batch_item_t *item)
{
    zf_header_t header;
    int rc = zf_header_decode (self->decoder, &header, item->header,
                               item->header_size);
    if (rc != 0) {
        zf_warning ("zfarm client: dropped an item of a BATCH from %s: %s:"
                    " %s", conn->endpoint, zfarm_err_name (rc), header.text);
        return 0;
    }
    if (header.command != ZF_RESULT) {
        zf_warning ("zfarm client: broker %s sent %s in a BATCH, where a "
                    "client takes only RESULT; dropped", conn->endpoint,
                    zf_command_name (header.command));
        return 0;
    }
    zf_frames_t frames = { .count = 0 };
    if (item->payload) {
        zf_batch_item_frame (item, &frames.first);
        frames.count = 1;
    }
    int made = s_on_result (self, conn, &header, &frames);
    zf_frames_close (&frames);
    return made;
}

/* The broker sends RESULTs in BATCHes only to a client that sent it one.
 * Items are taken in order; framing that does not parse drops the rest,
 * and those before it stand. */
static int
s_on_batch (zfarm_client_t *self, conn_t *conn, const zf_header_t *header,
            zf_frames_t *payload)
{
    if (payload->count != 1) {
        zf_warning ("zfarm client: dropped a BATCH from %s of %zu frames",
                    conn->endpoint, payload->count);
        return 0;
    }
    zmq_msg_t *frame = zf_frames_at (payload, 0);
    zf_batch_reader_t reader;
    zf_batch_reader_init (&reader, zmq_msg_data (frame), zmq_msg_size (frame),
                          header->count);
    zf_batch_item_t item;
    int made = 0, rc;
    while ((rc = zf_batch_next (&reader, &item)) == 1)
        made += s_on_batch_item (self, conn, &item);
    if (rc == -1)
        zf_warning ("zfarm client: a BATCH from %s does not hold the %" PRIu32
                    " items it says; the rest of it dropped", conn->endpoint,
                    header->count);
    return made;
}

static handler_fn *const s_handlers [ZF_COMMAND_LIMIT] = {
    [ZF_BATCH]  = s_on_batch,
    [ZF_STORED] = s_on_answer,
    [ZF_QUERY]  = s_on_answer,
    [ZF_RESULT] = s_on_result,
    [ZF_PONG]   = s_on_pong,
    [ZF_ERROR]  = s_on_error,
    [ZF_STATUS] = s_on_status,
    [ZF_PROGRESS] = s_on_progress,
};

static int
s_handle (zfarm_client_t *self, conn_t *conn, const zf_header_t *header,
          zf_frames_t *payload)
{
    /* The decoder only returns commands in 1 .. ZF_COMMAND_LIMIT - 1. */
    handler_fn *handler = s_handlers [header->command];
    if (handler)
        return handler (self, conn, header, payload);
    zf_warning ("zfarm client: broker %s sent %s, which a client does not "
                "expect; dropped", conn->endpoint,
                zf_command_name (header->command));
    return 0;
}

static int
s_receive_from (zfarm_client_t *self, conn_t *conn)
{
    int made = 0;
    conn->armed = false;
    for (int count = 0; count < RECV_BATCH; count++) {
        zf_header_t header;
        zf_frames_t payload;
        int rc = zf_wire_recv_frames (conn->sock, self->decoder, &header,
                                      &payload);
        if (rc == -1) {
            zf_frames_close (&payload);
            conn->armed = true;     /* nothing more has arrived */
            break;
        }
        zf_client_broker_heard (self, conn, zf_now_ms ());
        if (rc == 0)
            made += s_handle (self, conn, &header, &payload);
        else
            zf_warning ("zfarm client: dropped a message from %s: %s: %s",
                        conn->endpoint, zfarm_err_name (rc), header.text);
        zf_frames_close (&payload);
    }
    return made;
}

/* An armed socket whose ZMQ_FD is quiet has nothing to read: one poll(2)
 * for all of them costs less than a failed receive on each (inside
 * libzmq, a poll and a getpid per socket), and a client calls this once
 * per result it waits for. */
int
zf_client_receive (zfarm_client_t *self)
{
    zf_client_batch_flush_all (self);   /* their results are looked for */
    struct pollfd fds [ENDPOINTS_MAX];
    int armed = 0;
    for (int i = 0; i < self->broker_count; i++)
        if (self->brokers [i].armed)
            fds [armed++] = (struct pollfd) { .fd = self->brokers [i].fd,
                                              .events = POLLIN };
    if (armed && poll (fds, (nfds_t) armed, 0) == -1)
        for (int i = 0; i < armed; i++)
            fds [i].revents = POLLIN;   /* interrupted: look at all */
    int made = 0;
    for (int i = 0, at = 0; i < self->broker_count; i++) {
        conn_t *conn = &self->brokers [i];
        if (conn->armed && !(fds [at++].revents & POLLIN))
            continue;
        made += s_receive_from (self, conn);
    }
    return made;
}
