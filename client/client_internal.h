/* client_internal.h: what client.c, client_tasks.c and client_receive.c
 * share: the client's struct, its tasks, and the functions that cross
 * those files. Nothing outside client/ includes it. */
#ifndef ZF_CLIENT_INTERNAL_H
#define ZF_CLIENT_INTERNAL_H

#include "zfarm_client.h"
#include "zf_batch.h"
#include "zf_curve.h"
#include "zf_list.h"
#include "zf_proto.h"
#include "zf_table.h"
#include "zf_wire.h"

#include <czmq.h>

/* How long past a task's timeout the client waits for the broker's own
 * verdict before it makes one itself (PROTOCOL.md, Clients). */
#define GRACE_MS        1000

/* A task's progress report that waits to be delivered: to its callback
 * (zf_client_run_callbacks), or as an event (zfarm_client_wait_event).
 * One per task at most: a newer report replaces its values in place. */
typedef struct {
    zf_link_t link;             /* in the client's callback_reports or
                                   event_reports */
    uint64_t task_id;
    uint64_t seq;               /* its place among the events */
    zfarm_progress_fn *callback;    /* NULL: an event */
    void *arg;
    uint64_t done;
    uint64_t total;
    char note [ZF_NOTE_MAX + 1];
} report_t;

/* Where a task's progress reports go, chosen when it is submitted. */
typedef enum {
    PROGRESS_NONE = 0,          /* not asked for */
    PROGRESS_CALLBACK,          /* to the client's callback then */
    PROGRESS_EVENTS             /* to zfarm_client_wait_event */
} progress_mode_t;

typedef struct {
    uint64_t id;                /* the client's task id; key in pending */
    int64_t deadline;           /* when the client gives up (monotonic ms),
                                   0 if the task has no timeout */
    zf_link_t deadline_link;    /* in deadlines, if it has a deadline */
    zfarm_result_fn *callback;  /* where the result goes, if set, ... */
    void *arg;                  /* ... called with this */
    zfarm_result_t **sink;      /* else here, if set (zfarm_client_call) */
    uint32_t timeout_ms;        /* as asked for, 0 for none; it starts at
                                   due, if the task has one */
    int64_t due;                /* monotonic ms before which the task is
                                   not to run, 0 for none: each SUBMIT
                                   asks for the delay still left */
    uint8_t priority;           /* 0..ZF_PRIORITY_MAX */
    int broker;                 /* index of the one broker that holds it */
    int progress;               /* progress_mode_t */
    zfarm_progress_fn *progress_fn;     /* PROGRESS_CALLBACK: called so */
    void *progress_arg;
    report_t *report;           /* its report that waits, or NULL */
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

/* One broker's connection and what the client knows of that broker: its
 * liveness, its heartbeat settings, its load, and how many of the client's
 * tasks it holds. A connection lives as long as its client (only
 * zfarm_client_set_curve replaces its socket), so a pointer to one never
 * dangles while a caller up the stack holds it. */
typedef struct {
    zsock_t *sock;              /* DEALER connected to the broker */
    zsock_t *monitor;           /* PAIR: sock's monitor, which says when
                                   the connection closes; NULL with one
                                   broker (client_monitor.c) */
    bool closed;                /* the monitor saw the connection close,
                                   and no new one complete its handshake
                                   since: what it receives is from the
                                   old one, and a failed connect means
                                   the broker is gone */
    int fd;                     /* its ZMQ_FD */
    bool armed;                 /* its last receive found nothing, and
                                   nothing was done with it since: its
                                   ZMQ_FD will signal new input, so a wait
                                   need not ask its ZMQ_EVENTS first */
    char *endpoint;             /* the broker's endpoint, for log lines */
    int index;                  /* in the client's brokers array */
    bool silent;                /* it missed liveness intervals */
    bool leaving;               /* it answered SHUTDOWN: it takes nothing
                                   new until it restarts (a new epoch) */
    const char *lost;           /* why its tasks must move (a literal), set
                                   while receiving, acted on by the pump;
                                   NULL if nothing happened */
    uint64_t epoch;             /* its epoch from PONG, 0 = none yet */
    int64_t last_heard;         /* when it last sent anything, 0 = never */
    int64_t unanswered_since;   /* first PING since it was last heard, 0 if
                                   none */
    int64_t next_ping;          /* when its PING is due if tasks are pending */
    int heartbeat_ms;           /* its PING interval: its own (from its
                                   PONG), or the default until it says */
    int liveness;               /* silent intervals before it is down */
    size_t in_flight;           /* pending tasks it holds for the client */
    int64_t waiting;            /* tasks queued there that are not ours,
                                   at its last PONG (at least 0) */
    uint32_t free_slots;        /* its workers' free slots, at that PONG */
    uint64_t sent_since_pong;   /* tasks given it since: each may have
                                   taken one of those slots */
    uint64_t pool;              /* its workers' digest, at that PONG: the
                                   same at brokers with the same workers;
                                   0: not said */
    uint32_t busy;              /* per mille its loop was at work, as its
                                   last PONG said */
    bool takes_batch;           /* its latest PONG said ZF_FLAG_BATCH: it
                                   takes SUBMITs in BATCH messages */
    zf_batch_t batch;           /* SUBMITs held for it (client_batch.c),
                                   sent before anything else to it */
} conn_t;

/* The broker's silence after which it is down, in ms. */
#define ZF_CONN_SILENCE_MS(conn) \
    ((int64_t) (conn)->heartbeat_ms * (conn)->liveness)

struct _zfarm_client_t {
    conn_t brokers [ENDPOINTS_MAX];     /* one connection per endpoint */
    int broker_count;           /* at least 1 */
    int last_pick;              /* the broker chosen last, which keeps
                                   the tasks while others are not much
                                   shorter; the next scan starts after it */
    bool spilling;              /* a broker said it is busy: tasks spread
                                   over a pool's brokers (zf_client_pick) */
    bool home_chosen;           /* the broker of a pool to keep to was
                                   chosen, from the routing id */
    int poll_fd;                /* with several brokers, an epoll set of
                                   their sockets' ZMQ_FDs (the one fd a
                                   caller's loop polls); -1 with one */
    uint8_t routing_id [ROUTING_ID_SIZE];   /* the same on every socket */
    zf_curve_t curve;           /* CURVE keys for every socket, if enabled */
    zf_decoder_t *decoder;      /* reused for every header received */
    zf_index_t pending;         /* task_t by id: tasks without a result */
    zf_link_t deadlines;        /* pending tasks with a deadline, earliest
                                   first, by deadline_link */
    int64_t pumped_at;          /* ms, when zfarm_client_dispatch last
                                   pumped (s_dispatch_for_wait) */
    zlistx_t *ready;            /* zfarm_result_t for zfarm_client_wait,
                                   in the order they were made */
    zlistx_t *due;              /* due_t: callbacks still to run, in order */
    zf_link_t callback_reports; /* report_t for progress callbacks, in
                                   order; they run before due's results */
    zf_link_t event_reports;    /* report_t for zfarm_client_wait_event,
                                   merged with ready by seq */
    uint64_t seq;               /* the last seq given to a report or to a
                                   result queued in ready */
    zfarm_progress_fn *progress_fn;     /* zfarm_client_set_progress */
    void *progress_arg;
    bool progress_events;       /* zfarm_client_set_progress_events */
    char *status_json;          /* the broker's STATUS reply, once it came */
    struct {                    /* the detached-task call in progress */
        int command;            /* ZF_SUBMIT, FETCH, CANCEL, QUERY; 0: none */
        uint64_t task_id;
        int not_found;          /* brokers that do not have the task */
        int asked;              /* brokers asked */
        bool done;
        int status;             /* its answer */
        zfarm_result_t *result; /* FETCH, CANCEL: the RESULT */
        char *json;             /* QUERY */
        zf_index_t batch;       /* SUBMIT: batch_entry_t by id */
        size_t unanswered;      /* SUBMIT: entries still without word */
        int *codes;             /* SUBMIT, FETCH: the caller's, by entry */
        zfarm_result_t **results;   /* FETCH: the caller's, by entry */
    } request;
    bool unauthorized;          /* the broker refused a message: this key
                                   may not do that (it ends a STATUS wait) */
    bool moving;                /* some broker's `lost` is set */
    bool monitors_due;          /* a monitor's fd woke a wait, or the
                                   caller's loop woke us: read them */
    int64_t monitors_read_at;   /* ms, when the monitors were last read */
    uint64_t last_id;           /* the last task id given out */
    int retries;                /* SUBMIT's retries field, -1 = broker's */
    int priority;               /* SUBMIT's priority, for new tasks */
    uint32_t delay_ms;          /* their delay, 0 = none */
    uint32_t retry_on;          /* SUBMIT's retry_on: ZF_RETRY_BIT set, 0
                                   for the service's policy */
    uint32_t backoff_min_ms;    /* SUBMIT's back-off; max 0: the */
    uint32_t backoff_max_ms;    /* service's */
    int64_t next_ping;          /* the earliest of the brokers' next_ping */
    int batch_max;              /* SUBMITs held per broker before they go
                                   as one BATCH; 0: none held */
};

/* ---- tasks and deadlines (client_tasks.c) ------------------------------ */

/* A new task with the next id, holding its own copy of service and data,
 * and the client's priority and delay; with a timeout, its deadline is
 * that timeout plus GRACE_MS from when it is due (now, without a delay). It
 * is in no table and held by no broker yet: zf_client_task_start does
 * that. */
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
 * ownership), and forgets the task. A progress report of it that waits
 * stays queued, ahead of the result (a call's is dropped). */
void
    zf_client_finish (zfarm_client_t *self, task_t *task,
                      zfarm_result_t *result);

/* ---- sending (client_tasks.c) ------------------------------------------ */

/* Sends the task's SUBMIT, with timeout_ms and the delay still left, to
 * the broker that holds it, sharing its payload's buffer; or, with
 * batches on and a broker that takes them, holds it in that broker's
 * batch (client_batch.c). Returns 0, or -1 if the message could not be
 * queued. */
int
    zf_client_send_submit (zfarm_client_t *self, task_t *task,
                           uint32_t timeout_ms);

/* Sends a broker a command that has at most a task id, after the SUBMITs
 * held for it (a CANCEL never overtakes its task's SUBMIT). A send can fail
 * only if the context is being terminated (the socket has no send limit
 * and no send timeout), and then the broker cannot be told anything
 * anyway. */
void
    zf_client_send_simple (zfarm_client_t *self, conn_t *conn, int command,
                           uint64_t task_id);

/* Gives a new task to a broker (zf_client_pick_any), enters it in the
 * table and sends its SUBMIT. If even queueing the SUBMIT fails, the task
 * ends at once with BROKER_DOWN, so that it still gets its one result. */
void
    zf_client_task_start (zfarm_client_t *self, task_t *task);

/* Ends a pending task with CANCELLED, and sends CANCEL to its broker. The
 * broker sends no RESULT for a cancelled task; should one cross the
 * CANCEL, it finds no task. */
void
    zf_client_cancel (zfarm_client_t *self, task_t *task, const char *why);

/* ---- batches of SUBMITs (client_batch.c) ------------------------------ */

/* True if a SUBMIT of payload to conn is to be held in its batch: the
 * program asked for batches, the broker said it takes them, and the
 * payload is small enough. */
bool
    zf_client_batch_takes (zfarm_client_t *self, const conn_t *conn,
                           zmq_msg_t *payload);

/* Holds a SUBMIT (header and payload, copied) in conn's batch, and sends
 * the batch once it holds batch_max items or is full. Returns 0, or -1 if
 * that send failed (logged; the tasks stay pending). */
int
    zf_client_batch_hold (zfarm_client_t *self, conn_t *conn,
                          const zf_header_t *header, zmq_msg_t *payload);

/* Sends conn's held SUBMITs now, if it holds any: before any other message
 * to conn, and before the client waits. Returns 0, or -1 if the send
 * failed (logged; the tasks stay pending, and end by their deadline or
 * move with a lost broker). */
int
    zf_client_batch_flush (conn_t *conn);

/* zf_client_batch_flush for every broker. Returns 0, or -1 if any failed. */
int
    zf_client_batch_flush_all (zfarm_client_t *self);

/* True if any broker has SUBMITs held. */
bool
    zf_client_batch_is_held (zfarm_client_t *self);

/* Forgets conn's held SUBMITs without sending them: for a connection
 * that goes (its tasks are submitted again by the caller) or a broker
 * that restarted (moving its tasks submits them again). */
void
    zf_client_batch_drop (conn_t *conn);

/* ---- time (client_tasks.c) --------------------------------------------- */

/* Milliseconds until the client's own next deadline or PING is due, or -1
 * if no task is pending. */
int
    zf_client_next_due (zfarm_client_t *self);

/* Handles what has arrived and what has fallen due, without blocking and
 * without running callbacks. Returns the number of results made. */
int
    zf_client_pump (zfarm_client_t *self);

/* Sends the SUBMITs held for batches, then waits until input arrives, the
 * client's own next deadline, or `until`, whichever comes first. Queued callbacks do not cut the wait short: inside
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

/* Takes a report off its list, and off its task if that is pending. */
void
    zf_client_report_detach (zfarm_client_t *self, report_t *report);

/* Frees every queued report (on destroy). */
void
    zf_client_reports_clear (zfarm_client_t *self);

/* ---- receiving (client_receive.c) -------------------------------------- */

/* Sends the SUBMITs held for batches, then handles the messages that have
 * arrived, at most RECV_BATCH of them per broker (a BATCH counts as one);
 * any message, even a malformed one, shows that its broker is alive.
 * Returns the number of results made. */
int
    zf_client_receive (zfarm_client_t *self);

/* client_detached.c: the answers to a detached-task call. */
void
    zf_client_detached_answer (zfarm_client_t *self, conn_t *conn,
                               const zf_header_t *header,
                               zf_frames_t *payload);

/* ---- the brokers (client_brokers.c) ------------------------------------ */

/* A new DEALER to endpoint with the client's routing id and keys, or NULL
 * (logged). Caller destroys. */
zsock_t *
    zf_client_connect (zfarm_client_t *self, const char *endpoint);

/* Connects to each endpoint of "ep1,ep2,...". Returns 0, or -1 (logged) if
 * the list names none or a connection fails; zf_client_brokers_close
 * frees what was opened either way. */
int
    zf_client_brokers_open (zfarm_client_t *self, const char *list);

/* Starts conn's monitor. Returns 0, or -1 (then the broker's silence is
 * what tells it is gone). */
int
    zf_client_monitor_open (conn_t *conn);

/* Stops conn's monitor, if it has one. */
void
    zf_client_monitor_close (conn_t *conn);

/* Reads every monitor's events when they are due (monitors_due, or
 * MONITOR_READ_MS since the last read: an empty read costs a poll(2) in
 * libzmq, too much for every pump): a broker whose connection closed, and
 * whose address then refused a new one, is down, and its tasks move. */
void
    zf_client_monitor_read (zfarm_client_t *self, int64_t now);

/* Closes every connection, giving what is queued linger_ms to leave. */
void
    zf_client_brokers_close (zfarm_client_t *self, int linger_ms);

/* Opens every connection again with the client's current keys, and forgets
 * what was known of the brokers. Returns 0, or -1 (logged; the old
 * connections stay) if a socket cannot be made. */
int
    zf_client_brokers_reconnect (zfarm_client_t *self);

/* The fd a caller's loop polls: the socket's ZMQ_FD with one broker, an
 * epoll set of all of them with several. */
int
    zf_client_fd_of (zfarm_client_t *self);

/* True if any socket has a message waiting (this also takes ZeroMQ's
 * pending commands, so that the fd is quiet again). */
bool
    zf_client_has_input (zfarm_client_t *self);

/* Waits for input on any broker's socket, at most wait ms (-1: no
 * limit). Returns what poll(2) returns (or 1 for input already there). */
int
    zf_client_poll_sockets (zfarm_client_t *self, long wait);

/* The index of the broker that should take the next task: among those not
 * silent and not leaving, the least loaded, in turn. -1 if none is. */
int
    zf_client_pick (zfarm_client_t *self);

/* The same, but when no broker is known to be up, the next in turn. */
int
    zf_client_pick_any (zfarm_client_t *self);

/* The broker to ask for a status document: one that is up, the last heard
 * from first. */
conn_t *
    zf_client_status_broker (zfarm_client_t *self);

/* Notes that conn's tasks must move (why: a literal), which the pump does
 * after receiving: restarted, silent, leaving. */
void
    zf_client_broker_lost (zfarm_client_t *self, conn_t *conn,
                           const char *why);

/* conn sent something: it is alive; if it was silent, the tasks it still
 * holds are submitted to it again. */
void
    zf_client_broker_heard (zfarm_client_t *self, conn_t *conn, int64_t now);

/* Takes a PONG's epoch, heartbeat settings and load. */
void
    zf_client_broker_pong (zfarm_client_t *self, conn_t *conn,
                           const zf_header_t *header);

/* Sends PING to each broker whose interval has passed while tasks are
 * pending, and notices those that are silent. */
void
    zf_client_heartbeat (zfarm_client_t *self, int64_t now);

/* Submits again to conn every pending task it holds, with the time it has
 * left; a task whose time is up is left to expire. why goes in the log. */
void
    zf_client_resubmit (zfarm_client_t *self, conn_t *conn, const char *why);

/* Moves the tasks of the brokers lost since the last pump to the others
 * (zf_client_pick), each with the time it has left, and sends CANCEL for
 * them to the broker they leave. */
void
    zf_client_move_lost (zfarm_client_t *self, int64_t now);

#endif
