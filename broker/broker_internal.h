/* broker_internal.h: the broker's state, shared by its three modules:
 * broker.c (sockets, loop, timers), commands.c (one handler per command)
 * and dispatch.c (queues, workers, retries, results). */
#ifndef BROKER_INTERNAL_H
#define BROKER_INTERNAL_H

#include <czmq.h>
#include "broker.h"
#include "counters.h"
#include "deadline_heap.h"
#include "peer.h"
#include "service.h"
#include "task_table.h"
#include "worker_table.h"
#include "http.h"
#include "status.h"
#include "zf_curve.h"
#include "zf_pool.h"
#include "zf_proto.h"

#define FRAMES_MAX     64       /* payload frames in one message */
#define SERVICES_LIMIT 65536    /* services one broker will create */

/* The message being handled: who sent it, its header, its payload. */
typedef struct {
    peer_id_t from;
    zmq_msg_t header_frame;     /* kept open while the message is handled:
                                   it carries the connection's metadata
                                   (User-Id, role; auth.h). The routing id
                                   frame does not when zmq_poll prefetched
                                   the message (libzmq's router.cpp). */
    zf_header_t header;
    zmq_msg_t payload [FRAMES_MAX];
    size_t payload_count;
} inbound_t;

struct _broker_t {
    options_t options;
    zsock_t *router;            /* the one socket */
    void *router_handle;        /* its libzmq handle, for zmq_msg_* calls */
    int signal_fd;              /* SIGINT, SIGTERM */
    char *endpoints [OPTIONS_BINDS_MAX];    /* as bound (ports resolved) */
    int endpoint_count;
    uint64_t epoch;             /* random per start: clients see restarts */
    bool reserved_ids;          /* libzmq is zfarm's patched one, which no
                                   peer's routing id can abort */
    int64_t started_at;
    zf_decoder_t *decoder;
    inbound_t inbound;

    zactor_t *zap;              /* the ZAP handler with --curve-secret, or
                                   NULL: no security */
    char secret_key [ZF_CURVE_KEY_TEXT];    /* the broker's, with zap */

    http_t *http;               /* --http, or NULL */
    zf_pool_t *pool;            /* local workers (--spawn), or NULL */
    char *pool_dir;             /* private dir of their ipc endpoint */
    char *pool_endpoint;        /* what they connect to */

    peer_table_t *workers;      /* peer_id_t -> worker_t */
    uint64_t workers_deleted;   /* ever, so that a loop over a worker can
                                   tell that a dispatch deleted some */
    zf_link_t all_workers;      /* worker_t.all_link, oldest first */
    peer_table_t *clients;      /* peer_id_t -> client_t (with tasks) */
    zhashx_t *services;         /* name -> service_t */
    task_table_t *tasks;
    deadline_heap_t *deadlines; /* task_t.timer */
    int64_t next_heartbeat;     /* ms */
    int64_t liveness_ms;        /* heartbeat_ms * liveness */

    bool draining;              /* SIGTERM seen: no new work */
    int64_t drain_deadline;
    bool stopped;               /* leave the loop */
    int64_t bad_log_at;         /* rate limit for bad-message logs */
    uint64_t bad_unlogged;
    counters_t counters;
};

/* ---- broker.c: sending ------------------------------------------------- */

/* Sends [to][header][frames...]. With copy, the frames are kept (large ones
 * share their buffer, so nothing is copied); without, they are sent away.
 * Returns 0, or -1 if the peer is no longer connected. */
int
    broker_send (broker_t *self, const peer_id_t *to, const zf_header_t *header,
                 zmq_msg_t *frames, size_t count, bool copy);

/* Sends a header-only message; returns as broker_send. */
int
    broker_send_header (broker_t *self, const peer_id_t *to,
                        const zf_header_t *header);

/* Fills view with the broker's state, for STATUS and the HTTP pages. */
void
    broker_status_view (broker_t *self, status_view_t *view);

/* Logs a refused message, at most once a second. */
void
    broker_log_bad (broker_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/* ---- commands.c -------------------------------------------------------- */

/* Handles self->inbound after its header decoded with result rc. */
void
    commands_handle (broker_t *self, int rc);

/* ---- dispatch.c -------------------------------------------------------- */

/* Queues a new task (takes the inbound payload) for service, or for the
 * service the header names if service is NULL (it is created). */
void
    dispatch_submit (broker_t *self, client_t *client, service_t *service,
                     const zf_header_t *submit);

/* A DONE from worker for task. */
void
    dispatch_done (broker_t *self, worker_t *worker, task_t *task,
                   const zf_header_t *done);

/* Registers a worker from its READY and gives it work. */
worker_t *
    dispatch_worker_join (broker_t *self, const zf_header_t *ready);

/* Forgets a worker. Its tasks go back to their queues; with spend_retry each
 * spends a retry (or ends in WORKER_LOST) because the worker failed. */
void
    dispatch_worker_delete (broker_t *self, worker_t *worker,
                            const char *reason, bool spend_retry);

/* Cancels a task on its client's request. */
void
    dispatch_cancel (broker_t *self, task_t *task);

/* Ends every task whose deadline has come. */
void
    dispatch_expire (broker_t *self, int64_t now);

/* Ends every waiting task with code (on shutdown). */
void
    dispatch_fail_queued (broker_t *self, int code);

/* Ends every task with code, running or not (at the end of a drain). */
void
    dispatch_fail_all (broker_t *self, int code);

/* Tasks that workers are running now. */
size_t
    dispatch_running (broker_t *self);

#endif
