/* task_internal.h: a task's life inside the worker half of libzfarm.
 *
 * A slot thread does it all: holding the worker's mutex it builds a task
 * from a TASK message (or takes one that waited for a slot), runs its
 * handler without the mutex, and under it again turns the outcome into a
 * DONE. So one thread owns a task; another (the watcher, a CANCEL read by
 * any thread) only cancels it, which is safe from any thread. */
#ifndef TASK_INTERNAL_H
#define TASK_INTERNAL_H

#include <czmq.h>
#include "zf_proto.h"
#include "zf_wire.h"
#include "zfarm_worker.h"
#include "worker_progress.h"

/* A task for handler (called with arg) from a TASK header and its payload
 * frames, whose handler may run max_call_ms (0: no limit). Takes the
 * frames, leaving payload empty. A TASK with ZF_FLAG_PROGRESS gets a
 * progress record whose reports ring progress_fd (worker_progress.h). */
zfarm_task_t *
    zf_task_new (const zf_header_t *header, zfarm_handler_fn *handler,
                 void *arg, uint32_t max_call_ms, int progress_fd,
                 zf_frames_t *payload);

/* The task's progress record, or NULL if its client did not ask for
 * progress. */
zf_progress_t *
    zf_task_progress (zfarm_task_t *self);

void
    zf_task_destroy (zfarm_task_t **self_p);

/* The broker's id for this dispatch of the task. */
uint64_t
    zf_task_id (const zfarm_task_t *self);

/* Calls the handler and keeps its outcome: the reply, the error text if it
 * returned non-zero, or TIMEOUT if it ran max_call_ms or longer (what it
 * returned comes too late then). Frees the payload afterwards. */
void
    zf_task_run (zfarm_task_t *self);

/* Asks the running handler to stop: zfarm_task_cancelled turns true and
 * zf_task_cancel_fd becomes readable. Any thread; the handler's thread
 * may be running it meanwhile. The DONE then says CANCELLED, whatever the
 * handler returns. */
void
    zf_task_cancel (zfarm_task_t *self);

/* A descriptor (an eventfd) that becomes readable once the task is
 * cancelled, for a handler that waits in poll(2); the task owns it. Made
 * on the first call, on the handler's thread. Returns -1 if the system
 * gives no descriptor. */
int
    zf_task_cancel_fd (zfarm_task_t *self);

/* Fills header with the task's DONE and returns its result, which the
 * task keeps (send it with zf_wire_send_shared); NULL when the task
 * failed or gave no reply. */
zmq_msg_t *
    zf_task_done (zfarm_task_t *self, zf_header_t *header);

/* Fills header with the DONE of task_id when its handler ran longer than
 * max_call_ms: TIMEOUT, "ran longer than --max-call-time N ms". For the
 * watcher, which sends it while the handler is still running. */
void
    zf_task_overran_done (zf_header_t *header, uint64_t task_id,
                          uint32_t max_call_ms);

#endif
