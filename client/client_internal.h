/* client_internal.h: what client.c, client_tasks.c and client_receive.c
 * share: the client's struct, its tasks, and the functions that cross
 * those files. Nothing outside client/ includes it. */
#ifndef ZF_CLIENT_INTERNAL_H
#define ZF_CLIENT_INTERNAL_H

#include "zfarm_client.h"
#include "zf_curve.h"
#include "zf_list.h"
#include "zf_proto.h"
#include "zf_table.h"
#include "zf_wire.h"

#include <czmq.h>

/* How long past a task's timeout the client waits for the broker's own
 * verdict before it makes one itself (PROTOCOL.md, Clients). */
#define GRACE_MS        1000

typedef struct {
    uint64_t id;                /* the client's task id; key in pending */
    int64_t deadline;           /* when the client gives up (monotonic ms),
                                   0 if the task has no timeout */
    zf_link_t deadline_link;    /* in deadlines, if it has a deadline */
    zfarm_result_fn *callback;  /* where the result goes, if set, ... */
    void *arg;                  /* ... called with this */
    zfarm_result_t **sink;      /* else here, if set (zfarm_client_call) */
    uint32_t timeout_ms;        /* as asked for, 0 for none */
    zmq_msg_t payload;          /* the SUBMIT's payload and service, kept */
    char service [];            /* so that the task can be submitted again;
                                   each SUBMIT shares the payload's buffer */
} task_t;


/* A result whose callback has not run yet. */
typedef struct {
    zfarm_result_t *result;
    zfarm_result_fn *callback;
    void *arg;
} due_t;

#define ENDPOINTS_MAX   16
#define ROUTING_ID_SIZE ZF_ROUTING_ID_SIZE

struct _zfarm_client_t {
    zsock_t *sock;              /* DEALER connected to the broker */
    char *endpoint;             /* the broker's endpoint, for log lines */
    char *endpoints [ENDPOINTS_MAX];    /* all of them, to fail over */
    int endpoint_count;
    int current;                /* index of endpoint in endpoints */
    uint8_t routing_id [ROUTING_ID_SIZE];
    zf_curve_t curve;           /* CURVE keys for every socket, if enabled */
    bool silent;                /* the broker missed liveness intervals */
    bool leaving;               /* the broker is shutting down: move on */
    int64_t unanswered_since;   /* first PING since the broker was last
                                   heard, 0 if none */
    zf_decoder_t *decoder;      /* reused for every header received */
    zf_index_t pending;         /* task_t by id: tasks without a result */
    zf_link_t deadlines;        /* pending tasks with a deadline, earliest
                                   first, by deadline_link */
    zlistx_t *ready;            /* zfarm_result_t for zfarm_client_wait,
                                   in the order they were made */
    zlistx_t *due;              /* due_t: callbacks still to run, in order */
    char *status_json;          /* the broker's STATUS reply, once it came */
    bool unauthorized;          /* the broker refused a message: this key
                                   may not do that (it ends a STATUS wait) */
    uint64_t last_id;           /* the last task id given out */
    uint64_t epoch;             /* the broker's epoch from PONG, 0 = none */
    int retries;                /* SUBMIT's retries field, -1 = broker's */
    int64_t last_heard;         /* when the broker last sent anything,
                                   0 = never */
    int64_t next_ping;          /* when a PING is due if tasks are pending */
    int heartbeat_ms;           /* PING interval: the broker's (from its
                                   PONG), or the default until it says */
    int liveness;               /* silent intervals before it is down */
};

/* The broker's silence after which it is down, in ms. */
#define ZF_CLIENT_SILENCE_MS(self) \
    ((int64_t) (self)->heartbeat_ms * (self)->liveness)

/* ---- tasks and deadlines (client_tasks.c) ------------------------------ */

/* A new task with the next id, holding its own copy of service and data;
 * with a timeout, its deadline is that timeout plus GRACE_MS from now. It
 * is in no table yet: zf_client_task_start enters it. */
task_t *
    zf_client_task_new (zfarm_client_t *self, const char *service,
                        const void *data, size_t size, int timeout_ms);

/* Frees a task (NULL is fine) and sets *task_p to NULL. */
void
    zf_client_task_destroy (task_t **task_p);

/* zlistx destructors for the ready (zfarm_result_t) and due (due_t) lists. */
void
    zf_client_result_destroy (void **item);
void
    zf_client_due_destroy (void **item);

/* Ends a pending task with its one result, which it hands on (takes
 * ownership), and forgets the task. */
void
    zf_client_finish (zfarm_client_t *self, task_t *task,
                      zfarm_result_t *result);

/* ---- sending (client_tasks.c) ------------------------------------------ */

/* Sends the task's SUBMIT with timeout_ms, sharing its payload's buffer.
 * Returns 0, or -1 if the message could not be queued. */
int
    zf_client_send_submit (zfarm_client_t *self, task_t *task,
                           uint32_t timeout_ms);

/* Sends a command that has at most a task id. A send can fail only if the
 * context is being terminated (the socket has no send limit and no send
 * timeout), and then the broker cannot be told anything anyway. */
void
    zf_client_send_simple (zfarm_client_t *self, int command,
                           uint64_t task_id);

/* Enters a new task in the table and sends its SUBMIT. If even queueing the
 * SUBMIT fails, the task ends at once with BROKER_DOWN, so that it still
 * gets its one result. */
void
    zf_client_task_start (zfarm_client_t *self, task_t *task);

/* Ends a pending task with CANCELLED. The broker sends no RESULT for a
 * cancelled task; should one cross the CANCEL, it finds no task. */
void
    zf_client_cancel (zfarm_client_t *self, task_t *task, const char *why);

/* ---- time (client_tasks.c) --------------------------------------------- */

/* Milliseconds until the client's own next deadline or PING is due, or -1
 * if no task is pending. */
int
    zf_client_next_due (zfarm_client_t *self);

/* Handles what has arrived and what has fallen due, without blocking and
 * without running callbacks. Returns the number of results made. */
int
    zf_client_pump (zfarm_client_t *self);

/* Waits until input arrives, the client's own next deadline, or `until`,
 * whichever comes first. Queued callbacks do not cut the wait short: inside
 * call and status they cannot run, and wait runs them before it polls.
 * Returns 0, or -1 if `until` has passed or the process was interrupted
 * (czmq's SIGINT/SIGTERM handler sets zsys_interrupted). */
int
    zf_client_poll (zfarm_client_t *self, int64_t until);

/* Runs the callbacks of finished tasks, oldest first. A callback may submit,
 * cancel or wait; the results it finishes join the end of the queue, and
 * the count taken at the start bounds this run. */
void
    zf_client_run_callbacks (zfarm_client_t *self);

/* ---- receiving (client_receive.c) -------------------------------------- */

/* Handles the messages that have arrived, at most RECV_BATCH of them; any
 * message, even a malformed one, shows that the broker is alive. Returns
 * the number of results made. */
int
    zf_client_receive (zfarm_client_t *self);

/* Submits every pending task again, with the time it has left; a task
 * whose time is up is left to expire. why goes in the log line. */
void
    zf_client_resubmit_all (zfarm_client_t *self, const char *why);

/* ---- the connection (client.c) ----------------------------------------- */

/* A new DEALER to endpoint with the client's routing id and keys, or NULL
 * (logged). Caller destroys. */
zsock_t *
    zf_client_connect (zfarm_client_t *self, const char *endpoint);

#endif
