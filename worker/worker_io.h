/* worker_io.h: the worker's threads and the connection they share (internal).
 *
 * zfarm_worker_run makes one zf_io_t: a DEALER to the broker, which every
 * thread of the worker uses under one mutex, a watcher thread for the
 * timers, and capacity - 1 slot threads; slot 0 is the thread that called
 * run (zf_io_serve). It registers (READY), keeps the heartbeat, reconnects
 * with back-off, and runs each TASK on a free slot. worker_io.c says how. */
#ifndef WORKER_IO_H
#define WORKER_IO_H

#include <czmq.h>
#include <stdatomic.h>
#include "zf_curve.h"
#include "zf_defaults.h"
#include "zf_pool.h"
#include "zfarm_worker.h"

/* One service a worker offers, and its handler. */
typedef struct {
    char name [ZF_SERVICE_MAX + 1];
    zfarm_handler_fn *handler;
    void *arg;                  /* the handler's argument, owned by the user */
} zf_service_t;

/* What zf_io_new needs; it copies it. */
typedef struct {
    const char *const *endpoints;   /* the brokers, 1..ZF_BROKERS_MAX */
    uint32_t endpoint_count;
    const zf_service_t *services;   /* service_count of them, 1..16 */
    size_t service_count;
    uint32_t capacity;              /* slots, 1..ZF_CAPACITY_MAX */
    int heartbeat_ms;               /* heartbeat interval */
    int liveness;                   /* silent intervals before reconnecting */
    uint64_t max_tasks;             /* stop after this many; 0 = never */
    uint32_t max_call_ms;           /* a handler may run this long; 0 = ever */
    uint32_t cancel_grace_ms;       /* a cancelled one, this long to return */
    uint32_t idle_exit_ms;          /* stop after this long with no task in
                                       hand; 0 = never */
    uint32_t give_up_ms;            /* stop after this long with no broker
                                       reachable; 0 = never */
    int wakeup_fd;                  /* readable: stop (the caller owns it) */
    const atomic_int *stop_requested;   /* set with it (the caller owns it) */
    zf_pool_guard_t guard;          /* the supervisor not to outlive */
    zf_curve_t curve;               /* keys for each connection, if enabled */
} zf_io_config_t;

typedef struct _zf_io_t zf_io_t;

/* Why zf_io_serve returned. */
typedef enum {
    ZF_IO_STOPPED,              /* zfarm_worker_stop, SIGINT or SIGTERM */
    ZF_IO_MAX_TASKS,            /* max_tasks were started */
    ZF_IO_IDLE,                 /* no task in hand for idle_exit_ms */
    ZF_IO_UNREACHABLE           /* no broker reachable for give_up_ms */
} zf_io_end_t;

/* Starts the watcher and the extra slot threads, and connects to each
 * broker. Returns NULL, with the reason logged, if the system refuses a
 * thread or a descriptor. */
zf_io_t *
    zf_io_new (const zf_io_config_t *config);

/* Serves as slot 0 on the calling thread until io has stopped: after
 * zfarm_worker_stop (stop_requested and a write to wakeup_fd), SIGINT or
 * SIGTERM (czmq's zsys_interrupted), or max_tasks. Then destroy io. io
 * ends the process itself (_exit) when a handler overruns max_call_ms past
 * a grace, or a cancelled one cancel_grace_ms in a pool's process
 * (ZF_EXIT_OVERRAN) or the guard's supervisor dies
 * (ZF_EXIT_ORPHANED). Returns why it stopped. */
zf_io_end_t
    zf_io_serve (zf_io_t *io);

/* Joins the threads and frees io. */
void
    zf_io_destroy (zf_io_t **io_p);

/* Why the last zfarm_worker_run returned (the zfarm-worker host picks its
 * exit status by it). */
zf_io_end_t
    zf_worker_end (const zfarm_worker_t *worker);

#endif
