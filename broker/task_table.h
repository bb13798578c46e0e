/* task_table.h: every task the broker holds, in a slab with O(1) lookup.
 *
 * A task's dispatch id is (generation << 32 | slot + 1). The generation
 * changes on every dispatch and on free, so a DONE from an attempt that was
 * given up on, or for a task that no longer exists, never matches.
 *
 * task_t is transparent to the broker's modules because it is threaded
 * through their intrusive lists (a service's queue, a worker's tasks) and
 * the deadline heap; only this module allocates and frees it. */
#ifndef TASK_TABLE_H
#define TASK_TABLE_H

#include <stdint.h>
#include <zmq.h>
#include "deadline_heap.h"
#include "zf_list.h"

typedef enum {
    TASK_QUEUED = 1,            /* in its service's queue */
    TASK_DELAYED,               /* not due yet: in no queue, its timer set
                                   to when it is (dispatch_defer) */
    TASK_RUNNING,               /* at a worker, result wanted */
    TASK_ABANDONED              /* at a worker, result not wanted (timed
                                   out or cancelled): holds the slot until
                                   the worker's DONE */
} task_state_t;

/* What a task needs only if it was given its own retry policy or has
 * failed once: most tasks never allocate one. */
typedef struct {
    uint32_t retry_on;          /* the SUBMIT's ZF_RETRY_BIT set; 0: the
                                   service's */
    uint32_t backoff_min_ms;    /* the SUBMIT's back-off; max 0: the */
    uint32_t backoff_max_ms;    /* service's */
    int last_status;            /* the last failed attempt's ZFARM_E* */
    uint64_t avoid_worker;      /* serial of the worker it last failed on */
    char *last_text;            /* that attempt's error text, or NULL */
    char *history;              /* each failed attempt, a line each, for
                                   a dead letter (detached.h); or NULL */
} task_retry_t;

struct client_t;
struct service;
struct worker;

/* Every queued task costs one of these, so the fields are ordered to
 * leave little padding (3 bytes, after priority): 216 bytes, under a
 * third of them the payload's zmq_msg_t. */
typedef struct task {
    uint32_t slot;              /* index in the table */
    uint32_t generation;        /* bumped on dispatch and on free */
    uint8_t state;              /* task_state_t; 0 while the slot is free */
    bool stealing;              /* asked back (CANCEL) for an idle worker */
    uint8_t payload_count;      /* frames in the payload (FRAMES_MAX) */
    uint8_t flags;              /* the SUBMIT's ZF_FLAG_*, for its TASK */
    uint32_t attempts;          /* dispatches so far */
    int32_t max_retries;        /* re-dispatches allowed after a failure
                                   retried; -1: the service's policy */
    uint32_t timeout_ms;        /* as submitted; 0 = none */
    uint32_t seq;               /* when it entered its service's queue
                                   (task_queue.h): its age there */
    uint8_t priority;           /* 0..ZF_PRIORITY_MAX, higher first */
    void *client;               /* client_t that submitted it */
    uint64_t client_task_id;    /* the client's id for it */
    struct service *service;
    struct worker *worker;      /* RUNNING and ABANDONED only */
    zf_link_t link;             /* service queue, or worker's task list;
                                   the table's free list while free */
    zf_link_t prefetch_link;    /* service->prefetched while it waits at a
                                   busy worker */
    heap_node_t timer;          /* the task's deadline, if it has one */
    int64_t deadline;           /* ms, from timeout_ms; 0 = none. The timer
                                   is this, or sooner while the task runs
                                   under --max-call-time */
    int64_t submitted_at;       /* ms; for a delayed task, when it fell
                                   due: when it began to wait for a worker */
    int64_t due;                /* ms: a TASK_DELAYED task's due time */
    int64_t dispatched_us;      /* last dispatch, or for a task sent in
                                   advance, when the broker saw it start;
                                   microseconds on the clock of zf_now_us
                                   (zf_now_ms's, in ms) */
    task_retry_t *retry;        /* or NULL: see task_require_retry */
    union {
        zmq_msg_t one;          /* payload_count <= 1 */
        zmq_msg_t *many;        /* payload_count > 1: on the heap */
    } payload;
} task_t;

typedef struct _task_table_t task_table_t;

task_table_t *
    task_table_new (void);

/* Destroys the table and every task still in it. */
void
    task_table_destroy (task_table_t **self_p);

/* A fresh task with no state, payload or links. */
task_t *
    task_table_alloc (task_table_t *self);

/* Frees the task and closes its payload frames. */
void
    task_table_free (task_table_t *self, task_t *task);

/* The task a DONE's id names, or NULL if no live dispatch has that id. */
task_t *
    task_table_lookup (task_table_t *self, uint64_t dispatch_id);

/* Tasks allocated now. */
size_t
    task_table_size (task_table_t *self);

/* Starts a new attempt: a new dispatch id, one more attempt. */
void
    task_begin_attempt (task_t *task);

uint64_t
    task_dispatch_id (const task_t *task);

/* Moves count frames into the task (the caller's messages are emptied). */
void
    task_take_payload (task_t *task, zmq_msg_t *frames, size_t count);

/* The task's payload frames (task->payload_count of them). */
zmq_msg_t *
    task_payload (task_t *task);

/* Bytes in the task's payload frames. */
size_t
    task_payload_size (task_t *task);

/* The task's retry record, created empty (all zero) if it has none. */
task_retry_t *
    task_require_retry (task_t *task);

/* When the task was last dispatched, in ms on zf_now_ms's clock. */
int64_t
    task_dispatched_ms (const task_t *task);

#endif
