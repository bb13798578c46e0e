/* worker_io_internal.h: the state that worker_io.c (the threads) and
 * worker_session.c (what is said to the broker) share, under io->lock.
 * Every function here is called with the lock held. */
#ifndef WORKER_IO_INTERNAL_H
#define WORKER_IO_INTERNAL_H

#include "worker_io.h"
#include "zf_proto.h"

#include <pthread.h>
#include <stdatomic.h>

#define NO_SLOT UINT32_MAX

typedef struct {
    pthread_t thread;           /* slots 1.. only: slot 0 is the caller */
    pthread_cond_t wake;        /* a task, the poller's role, or the end */
    zfarm_task_t *task;         /* while busy: the task it runs */
    bool busy;                  /* handed a task, and its DONE not sent */
    bool asleep;                /* on the sleepers stack */
    uint64_t generation;        /* the connection that task came on */
    uint64_t task_id;           /* the broker's id for that task */
    int64_t started;            /* when it was handed the task */
    int64_t call_end;           /* its handler overruns then; 0: no limit */
    bool overran;               /* its TIMEOUT went out at call_end */
    bool stuck;                 /* still running after the grace too */
} slot_t;

struct _zf_io_t {
    pthread_mutex_t lock;       /* everything below, and the socket */
    char *endpoint;             /* the broker */
    zf_service_t services [ZF_SERVICES_MAX];
    size_t service_count;
    uint32_t capacity;          /* slots */
    int heartbeat_ms;           /* heartbeat interval: the broker's, once it
                                   said it, else own_heartbeat_ms */
    int liveness;               /* silent intervals before reconnecting:
                                   the same */
    int own_heartbeat_ms;       /* as configured: what READY says, and what
                                   counts with a broker that says nothing */
    int own_liveness;
    uint64_t max_tasks;         /* stop after starting this many; 0 = never */
    uint64_t tasks_started;     /* tasks handed to slots */
    uint32_t max_call_ms;       /* a handler may run this long; 0 = ever */
    int64_t call_check_at;      /* the earliest call_end (or call_end plus
                                   grace) of a busy slot; 0: none */
    uint32_t stuck_count;       /* slots whose handler is stuck */
    int exit_status;            /* non-zero: _exit with it once idle */
    zf_pool_guard_t guard;      /* the supervisor we must not outlive */
    int64_t guard_at;           /* when to check on it next */
    int wakeup_fd;              /* readable after zfarm_worker_stop */
    const atomic_int *stop_requested;   /* set by zfarm_worker_stop */
    zsock_t *broker;            /* DEALER; NULL between connections */
    int broker_fd;              /* its ZMQ_FD, or -1 */
    zf_curve_t curve;           /* CURVE keys for each new DEALER */
    zf_decoder_t *decoder;      /* for the broker's headers */
    uint64_t generation;        /* connections opened so far */
    int64_t heartbeat_at;       /* the next HEARTBEAT is due */
    int64_t expiry_at;          /* the broker is presumed gone after this */
    int64_t reconnect_at;       /* next connection, while broker is NULL */
    int reconnect_ms;           /* back-off before the next connection */
    slot_t *slots;              /* capacity of them */
    uint32_t threads_started;   /* slots 1.. with a thread */
    uint32_t busy_count;
    uint32_t *sleepers;         /* stack of free slots waiting on wake */
    uint32_t sleeper_count;
    uint32_t poller;            /* the slot in poll(2) on broker_fd, or
                                   NO_SLOT */
    uint32_t poller_called;     /* the sleeper told to poll; NO_SLOT */
    int bell_fd;                /* eventfd that wakes the polling slot */
    pthread_t watcher;
    bool watcher_started;
    int timer_fd;               /* the watcher's alarm clock */
    int64_t armed_at;           /* when timer_fd fires; 0: not armed */
    zfarm_task_t **waiting;     /* ring of tasks received that no slot runs
                                   yet: as many as the broker may send ahead
                                   of their slots (READY's prefetch) */
    uint32_t waiting_size;      /* capacity x (1 + ZF_PREFETCH_MAX) */
    uint32_t waiting_head;      /* the oldest */
    uint32_t waiting_count;
    const char *stop_reason;    /* the DISCONNECT text */
    bool stopping;              /* start no task; leave once idle */
    bool finished;              /* every thread leaves its loop */
};

typedef zf_io_t io_t;

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
 * busy_count + waiting_count against waiting_size). */
void
    zf_io_waiting_push (io_t *self, zfarm_task_t *task);

/* Takes the oldest waiting task; NULL if none. */
zfarm_task_t *
    zf_io_waiting_pop (io_t *self);

/* Takes the waiting task with this id; NULL if none. */
zfarm_task_t *
    zf_io_waiting_remove (io_t *self, uint64_t task_id);

/* Destroys every waiting task. */
void
    zf_io_waiting_purge (io_t *self);

/* ---- worker_session.c -------------------------------------------------- */

/* Opens a DEALER to the broker and sends READY; on failure, schedules the
 * next attempt. */
void
    zf_session_connect (io_t *self);

/* Reads and handles one message; false if none was there. */
bool
    zf_session_on_broker (io_t *self);

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

/* Starts the clock on a slot's task, when calls have a time limit. */
void
    zf_session_slot_time (io_t *self, slot_t *slot, uint64_t task_id);

#endif
