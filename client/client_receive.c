/* client_receive.c: the messages a client receives from its broker
 * (RESULT, PONG, ERROR, STATUS), dispatched through a table, and the
 * resubmission of pending tasks when the broker restarts or comes back. */
#include "client_internal.h"
#include "result_internal.h"
#include "zf_log.h"
#include "zf_util.h"

#include <inttypes.h>

/* Messages handled per dispatch, so that a flood of results cannot keep
 * zfarm_client_dispatch from returning to the caller's event loop. */
#define RECV_BATCH      256

/* A message handler returns the number of results it made (0 or 1). */
typedef int (handler_fn) (zfarm_client_t *self, const zf_header_t *header,
                          zf_frames_t *payload);

static int
s_on_result (zfarm_client_t *self, const zf_header_t *header,
             zf_frames_t *payload)
{
    task_t *task = zf_index_lookup (&self->pending, header->task_id);
    if (!task) {
        zf_debug ("zfarm client: dropped a RESULT for task %" PRIu64
                  ", which is not pending", header->task_id);
        return 0;
    }
    /* A broker that is stopping hands its tasks to the client's failover,
     * when there is another broker to go to. */
    if (header->status == -ZFARM_ESHUTDOWN && self->endpoint_count > 1) {
        self->leaving = true;
        return 0;
    }
    zf_client_finish (self, task, zf_result_from_wire (header, payload));
    return 1;
}

void
zf_client_resubmit_all (zfarm_client_t *self, const char *why)
{
    int64_t now = zf_now_ms ();
    size_t count = 0, cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor))) {
        uint32_t timeout_ms = task->timeout_ms;
        if (task->deadline) {
            int64_t left = task->deadline - GRACE_MS - now;
            if (left <= 0)
                continue;
            timeout_ms = (uint32_t) left;
        }
        if (zf_client_send_submit (self, task, timeout_ms) == 0)
            count++;
    }
    if (count)
        zf_notice ("zfarm client: %s: submitted %zu pending tasks again to %s",
                   why, count, self->endpoint);
}

static int
s_on_pong (zfarm_client_t *self, const zf_header_t *header,
          zf_frames_t *payload)
{
    (void) payload;
    bool restarted = self->epoch && header->epoch != self->epoch;
    self->epoch = header->epoch;
    /* The broker's own heartbeat settings say when its silence means it is
     * down (a broker that does not say them leaves the defaults). */
    if (header->heartbeat_ms && header->liveness) {
        self->heartbeat_ms = (int) header->heartbeat_ms;
        self->liveness = (int) header->liveness;
    }
    if (restarted)
        zf_client_resubmit_all (self, "the broker restarted");
    return 0;
}

static int
s_on_error (zfarm_client_t *self, const zf_header_t *header,
           zf_frames_t *payload)
{
    (void) payload;
    zf_warning ("zfarm client: broker %s refused a message: %s: %s",
                self->endpoint, zfarm_err_name (-header->status),
                header->text);
    if (header->status == -ZFARM_EUNAUTHORIZED)
        self->unauthorized = true;
    return 0;
}

static int
s_on_status (zfarm_client_t *self, const zf_header_t *header,
            zf_frames_t *payload)
{
    (void) header;
    size_t size = zf_frames_size (payload);
    free (self->status_json);
    self->status_json = zf_malloc (size + 1);
    zf_frames_copy (payload, self->status_json);
    return 0;
}

static handler_fn *const s_handlers [ZF_COMMAND_LIMIT] = {
    [ZF_RESULT] = s_on_result,
    [ZF_PONG]   = s_on_pong,
    [ZF_ERROR]  = s_on_error,
    [ZF_STATUS] = s_on_status,
};

static int
s_handle (zfarm_client_t *self, const zf_header_t *header,
          zf_frames_t *payload)
{
    /* The decoder only returns commands in 1 .. ZF_COMMAND_LIMIT - 1. */
    handler_fn *handler = s_handlers [header->command];
    if (handler)
        return handler (self, header, payload);
    zf_warning ("zfarm client: broker %s sent %s, which a client does not "
                "expect; dropped", self->endpoint,
                zf_command_name (header->command));
    return 0;
}

int
zf_client_receive (zfarm_client_t *self)
{
    int made = 0;
    for (int count = 0; count < RECV_BATCH; count++) {
        zf_header_t header;
        zf_frames_t payload;
        int rc = zf_wire_recv_frames (self->sock, self->decoder, &header,
                                      &payload);
        if (rc == -1) {
            zf_frames_close (&payload);
            break;                  /* nothing more has arrived */
        }
        self->last_heard = zf_now_ms ();
        self->unanswered_since = 0;
        if (self->silent) {
            self->silent = false;
            zf_client_resubmit_all (self, "the broker is back");
        }
        if (rc == 0)
            made += s_handle (self, &header, &payload);
        else
            zf_warning ("zfarm client: dropped a message from %s: %s: %s",
                        self->endpoint, zfarm_err_name (rc), header.text);
        zf_frames_close (&payload);
    }
    return made;
}
