/* worker_io_internal.h: the state that worker_io.c (the threads) and
 * worker_session.c (what is said to the brokers) share, under io->lock.
 * Every function here but the lock's own is called with the lock held,
 * and checks it (ZF_IO_HELD) in builds with assertions: tests/run.sh's
 * sanitizer build, and any build with ZFARM_ASSERTIONS.
 *
 * Who owns what: everything in io_t and its slots and sessions belongs to
 * whichever thread holds the lock (a slot thread, or the watcher), the
 * sockets included; no thread keeps a pointer into it across an unlock but
 * to its own slot's task, which only its slot thread runs. What a thread
 * reads without the lock is said so where it is declared: the settings
 * zf_io_new fixes before any thread starts, the descriptors it polls, and
 * stop_requested (an atomic, set by zfarm_worker_stop from any thread).
 *
 * A worker serves one broker or several: each has a session_t, with its
 * own connection, heartbeat settings and timers. The slots, and the ring
 * of tasks waiting for them, are shared by all: a slot runs one task at a
 * time, whichever broker it came from, and every task remembers its
 * session and connection so that its DONE goes back there (or nowhere, if
 * that connection has ended). */
#ifndef WORKER_IO_INTERNAL_H
#define WORKER_IO_INTERNAL_H

#include "worker_io.h"
#include "zf_batch.h"
#include "zf_proto.h"
#include "zf_wire.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define NO_SLOT UINT32_MAX

typedef struct {
    pthread_t thread;           /* slots 1.. only: slot 0 is the caller */
    pthread_cond_t wake;        /* a task, the poller's role, or the end */
    zfarm_task_t *task;         /* while busy: the task it runs */
    bool busy;                  /* handed a task, and its DONE not sent */
    bool asleep;                /* on the sleepers stack */
    uint32_t session;           /* the broker that task came from */
    uint64_t generation;        /* the connection that task came on */
    uint64_t task_id;           /* the broker's id for that task */
    int64_t started;            /* when it was handed the task */
    int64_t call_end;           /* its handler overruns then; 0: no limit */
    bool overran;               /* its TIMEOUT went out at call_end */
    int64_t overrun_end;        /* the process ends if the overrun handler
                                   still runs then: a grace from when the
                                   overrun was taken, not from call_end */
    bool cancelled;             /* the broker asked to stop its task */
    int64_t cancel_end;         /* the process ends if the cancelled
                                   handler still runs then; 0: never */
    bool stuck;                 /* still running after the grace too */
} slot_t;

/* One broker, and our connection to it (worker_session.c owns it). */
typedef struct {
    char *endpoint;             /* the broker */
    uint32_t index;             /* in io->sessions */
    zsock_t *sock;              /* DEALER; NULL between connections */
    int fd;                     /* its ZMQ_FD, or -1 */
    uint64_t generation;        /* this connection's number, unique among
                                   all sessions' (0: none yet) */
    int heartbeat_ms;           /* heartbeat interval: the broker's, once it
                                   said it, else io->own_heartbeat_ms */
    int liveness;               /* silent intervals before reconnecting:
                                   the same */
    bool takes_slots;           /* it said its settings: a broker of this
                                   revision, which understands SLOTS */
    uint32_t believed_free;     /* our free slots as this broker counts
                                   them (several brokers only) */
    int64_t heartbeat_at;       /* the next HEARTBEAT is due */
    int64_t expiry_at;          /* the broker is presumed gone after this */
    int64_t reconnect_at;       /* next connection, while sock is NULL */
    bool served;                /* this connection's broker took us: it
                                   said something but ERROR or DISCONNECT */
    int reconnect_ms;           /* back-off before the next connection */
    uint32_t waiting_count;     /* its tasks in the waiting ring */
    bool takes_batches;         /* its HEARTBEAT said BATCH on this
                                   connection: it takes DONE batches */
    zf_batch_t outbox;          /* DONEs held for it (worker_batch.c) */
    int64_t held_since_us;      /* when the oldest of them was held
                                   (zf_now_us) */
} session_t;

/* A task received that no slot runs yet. */
typedef struct {
    zfarm_task_t *task;
    uint32_t session;           /* the broker it came from */
    uint64_t generation;        /* the connection it came on */
} waiting_t;

struct _zf_io_t {
    pthread_mutex_t lock;       /* everything below, and the sockets */
    session_t sessions [ZF_BROKERS_MAX];
    uint32_t session_count;
    uint64_t connections;       /* opened so far, by all sessions: the
                                   source of generation numbers */
    zf_service_t services [ZF_SERVICES_MAX];
    size_t service_count;
    uint32_t capacity;          /* slots */
    bool supervised;            /* instance is our pool supervisor's, which
                                   reports our death (READY flag) */
    char instance [ZF_INSTANCE_MAX + 1];  /* READY's instance: random, made
                                   at the first READY, the same to every
                                   broker, so that a status of the whole
                                   farm counts these slots once */
    int own_heartbeat_ms;       /* as configured: what READY says, and what
                                   counts with a broker that says nothing */
    int own_liveness;
    uint64_t max_tasks;         /* stop after starting this many; 0 = never */
    uint64_t tasks_started;     /* tasks handed to slots */
    uint32_t max_call_ms;       /* a handler may run this long; 0 = ever */
    uint32_t cancel_grace_ms;   /* a cancelled handler's time to return */
    int64_t call_check_at;      /* the earliest call_end (or call_end plus
                                   grace) or cancel_end of a busy slot;
                                   0: none */
    int64_t slots_due_at;       /* SLOTS to send to brokers whose count of
                                   our free slots is off; 0: none */
    int progress_fd;            /* eventfd: a handler made a progress
                                   report (worker_progress.h) */
    int64_t progress_due_at;    /* a report that waits for its task's
                                   interval is due then; 0: none */
    uint32_t stuck_count;       /* slots whose handler is stuck */
    uint32_t idle_exit_ms;      /* stop after this long idle; 0 = never */
    int64_t idle_since;         /* when the last task in hand ended */
    uint32_t give_up_ms;        /* stop after this long unserved; 0 = never */
    int64_t unserved_since;     /* since when no broker serves us; 0: one
                                   does */
    zf_io_end_t end;            /* why we stop */
    int exit_status;            /* non-zero: _exit with it once idle */
    zf_pool_guard_t guard;      /* the supervisor we must not outlive */
    int64_t guard_at;           /* when to check on it next */
    int wakeup_fd;              /* readable after zfarm_worker_stop */
    const atomic_int *stop_requested;   /* set by zfarm_worker_stop */
    zf_curve_t curve;           /* CURVE keys for each new DEALER */
    zf_decoder_t *decoder;      /* for the brokers' headers */
    slot_t *slots;              /* capacity of them */
    uint32_t threads_started;   /* slots 1.. with a thread */
    uint32_t busy_count;
    uint32_t *sleepers;         /* stack of free slots waiting on wake */
    uint32_t sleeper_count;
    uint32_t poller;            /* the slot in poll(2) on the sessions'
                                   descriptors, or NO_SLOT */
    uint32_t poller_called;     /* the sleeper told to poll; NO_SLOT */
    int bell_fd;                /* eventfd that wakes the polling slot */
    pthread_t watcher;
    bool watcher_started;
    int timer_fd;               /* the watcher's alarm clock */
    int64_t armed_at;           /* when timer_fd fires; 0: not armed */
    waiting_t *waiting;         /* ring of tasks received that no slot runs
                                   yet, oldest first: as many as the brokers
                                   may send ahead of their slots (READY's
                                   prefetch) */
    uint32_t waiting_size;      /* capacity x (1 + ZF_PREFETCH_MAX) x
                                   session_count */
    uint32_t waiting_head;      /* the oldest */
    uint32_t waiting_count;
    const char *stop_reason;    /* the DISCONNECT text */
    bool stopping;              /* start no task; leave once idle */
    bool finished;              /* every thread leaves its loop */
};

typedef zf_io_t io_t;

/* ---- the lock (worker_io.c) ------------------------------------------ */

/* Take and leave io->lock, and wait on a condition with it, recording
 * which thread holds it. */
void
    zf_io_lock (io_t *self);
void
    zf_io_unlock (io_t *self);
void
    zf_io_wait (io_t *self, pthread_cond_t *cond);

/* True if this thread holds self's lock. */
bool
    zf_io_held (const io_t *self);

/* Asserts that the caller holds the lock: at the top of every function
 * below, and of the static ones that touch io_t. */
#define ZF_IO_HELD(self) assert (zf_io_held (self))

/* ---- worker_io.c ------------------------------------------------------- */

/* Wakes the watcher at the given time (zf_now_ms's clock), unless its
 * alarm is set for earlier already. */
void
    zf_io_arm (io_t *self, int64_t at);

/* Wakes the polling slot, if one polls. */
void
    zf_io_ring (io_t *self);

/* Every thread leaves its loop. */
void
    zf_io_wake_all (io_t *self);

/* Appends a task to the waiting ring, which has room (the caller checks
 * waiting_count against waiting_size). */
void
    zf_io_waiting_push (io_t *self, const waiting_t *entry);

/* Takes the oldest waiting task into entry; false if none. */
bool
    zf_io_waiting_pop (io_t *self, waiting_t *entry);

/* Takes the waiting task with this id from this session; NULL if none. */
zfarm_task_t *
    zf_io_waiting_remove (io_t *self, uint32_t session, uint64_t task_id);

/* Destroys the waiting tasks of a session, or of every session (with
 * ZF_ALL_SESSIONS). */
#define ZF_ALL_SESSIONS UINT32_MAX
void
    zf_io_waiting_purge (io_t *self, uint32_t session);

/* ---- worker_session.c -------------------------------------------------- */

/* Opens a DEALER to the session's broker and sends READY; on failure,
 * schedules the next attempt. */
void
    zf_session_connect (io_t *self, session_t *session);

/* Reads and handles one message from the session's broker; false if none
 * was there. */
bool
    zf_session_on_broker (io_t *self, session_t *session);

/* Tells each broker that counts our free slots wrongly (several brokers
 * only) how many there are: SLOTS. Call after slots were taken or freed. */
void
    zf_session_announce (io_t *self);

/* True if any session is connected. */
bool
    zf_session_any_connected (io_t *self);

/* The slot's handler returned: sends its DONE (unless it is too late). */
void
    zf_session_on_done (io_t *self, uint32_t index);

/* Whatever timers are due: guard, call limits, expiry, heartbeat,
 * reconnection. */
void
    zf_session_on_timers (io_t *self);

/* Stops if zfarm_worker_stop or a signal asked for it. */
void
    zf_session_check_stop (io_t *self);

/* zfarm_worker_stop's pipe is readable. */
void
    zf_session_on_wakeup (io_t *self);

/* No new task starts; once idle, DISCONNECT and every thread leaves. */
void
    zf_session_begin_stop (io_t *self, const char *reason);

/* Sends the progress reports of running tasks that are due, and sets the
 * timer for those that will be (the watcher, on its bell or that timer). */
void
    zf_session_send_progress (io_t *self);

/* Starts the clock on a slot's task, when calls have a time limit. */
void
    zf_session_slot_time (io_t *self, slot_t *slot, uint64_t task_id);

/* Handles a TASK from the session's broker, whether it came alone or as
 * an item of a BATCH. Takes the payload frames. */
void
    zf_session_on_task (io_t *self, session_t *session, zf_header_t *header,
                        zf_frames_t *payload);

/* ---- worker_batch.c ---------------------------------------------------- */

/* BATCH from the session's broker: each item is handled as the message it
 * holds would be alone (TASK items only); what does not parse is logged
 * and dropped. */
void
    zf_batch_on_broker (io_t *self, session_t *session, zf_header_t *header,
                        zf_frames_t *payload);

/* Holds a DONE (header and result, which the caller keeps; NULL for none)
 * for the session's broker, if it takes batches and the result is small,
 * and sends what is held once the flush rule says so. False if not held:
 * the caller sends it alone. */
bool
    zf_outbox_hold (io_t *self, session_t *session, const zf_header_t *header,
                    zmq_msg_t *result);

/* Sends the DONEs held for the session's broker, if any, in one BATCH. */
void
    zf_outbox_flush (session_t *session);

/* Applies the flush rule to every session: sends the DONEs it no longer
 * holds, and sets the watcher's alarm for those it does. Called before any
 * thread may block, so no DONE is held longer than the rule says. */
void
    zf_outbox_settle (io_t *self);

#endif
