/* worker_io.h: the worker's threads and the pipes between them (internal).
 *
 * zfarm_worker_run starts one I/O actor, which alone owns the DEALER socket
 * to the broker: it registers (READY), keeps the heartbeat, reconnects with
 * back-off, and hands each TASK to a free slot. Slot 0 is the thread that
 * called run (zf_io_serve); the actor starts capacity - 1 more slot threads.
 * A task travels to its slot and back as a zfarm_task_t pointer over an
 * actor pipe, so exactly one thread owns it at any time. */
#ifndef WORKER_IO_H
#define WORKER_IO_H

#include <czmq.h>
#include "zf_curve.h"
#include "zf_defaults.h"
#include "zf_pool.h"
#include "zfarm_worker.h"

/* Limits of zfarm_worker_set_heartbeat, also checked by zfarm-worker. */
#define ZF_WORKER_HEARTBEAT_MIN_MS  10
#define ZF_WORKER_HEARTBEAT_MAX_MS  3600000
#define ZF_WORKER_LIVENESS_MAX      100

/* One service a worker offers, and its handler. */
typedef struct {
    char name [ZF_SERVICE_MAX + 1];
    zfarm_handler_fn *handler;
    void *arg;                  /* the handler's argument, owned by the user */
} zf_service_t;

/* What the I/O actor needs; zf_io_new copies it. */
typedef struct {
    const char *endpoint;           /* the broker */
    const zf_service_t *services;   /* service_count of them, 1..16 */
    size_t service_count;
    uint32_t capacity;              /* slots, 1..ZF_CAPACITY_MAX */
    int heartbeat_ms;               /* heartbeat interval */
    int liveness;                   /* silent intervals before reconnecting */
    uint64_t max_tasks;             /* stop after this many; 0 = never */
    uint32_t max_call_ms;           /* a handler may run this long; 0 = ever */
    int wakeup_fd;                  /* readable: stop (the caller owns it) */
    zf_pool_guard_t guard;          /* the supervisor not to outlive */
    zf_curve_t curve;               /* keys for each connection, if enabled */
} zf_io_config_t;

/* Starts the I/O actor and its extra slot threads, and connects to the
 * broker. Returns once they all run. */
zactor_t *
    zf_io_new (const zf_io_config_t *config);

/* Runs the tasks that io hands to slot 0 on the calling thread, until io
 * says it has stopped: after zfarm_worker_stop (a write to wakeup_fd),
 * SIGINT/SIGTERM (czmq's zsys_interrupted), or max_tasks. Then destroy io.
 * The actor itself ends the process (_exit) when a handler overruns
 * max_call_ms past a grace (ZF_EXIT_OVERRAN) or the guard's supervisor
 * dies (ZF_EXIT_ORPHANED). */
void
    zf_io_serve (zactor_t *io);

#endif
