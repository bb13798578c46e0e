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
#include "outbox.h"
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

/* How busy the broker is, as a client choosing among brokers sees it. */
typedef struct {
    uint64_t queued;            /* tasks waiting for a worker */
    uint64_t free_slots;        /* slots of its workers with no task */
    uint64_t pool;              /* digest of its workers (PROTOCOL.md,
                                   PONG): brokers with the same workers
                                   say the same */
    uint32_t busy;              /* per mille of the time since the last
                                   count its loop was on a CPU */
} dispatch_load_t;

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
    inbound_t inbound;          /* where s_recv_one receives; handlers are
                                   given it, and read it nowhere else */

    zactor_t *zap;              /* the ZAP handler with --curve-secret, or
                                   NULL: no security */
    char secret_key [ZF_CURVE_KEY_TEXT];    /* the broker's, with zap */

    http_t *http;               /* --http, or NULL */
    zf_pool_t *pool;            /* local workers (--spawn), or NULL */
    char *pool_dir;             /* private dir of their ipc endpoint */
    char *pool_endpoint;        /* what they connect to */

    peer_table_t *workers;      /* peer_id_t -> worker_t */
    zf_link_t all_workers;      /* worker_t.all_link, oldest first; gone
                                   ones too, until the end of the event */
    peer_table_t *clients;      /* peer_id_t -> client_t (with tasks) */
    outbox_table_t *outboxes;   /* TASKs and RESULTs held for the peers
                                   that read BATCH, to the end of the turn
                                   (outbox.h) */
    /* What an event leaves for dispatch_settle (dispatch.c, rules 1-2). */
    zf_link_t pending_services; /* service_t.pending_link: to dispatch */
    zf_link_t refill_workers;   /* worker_t.refill_link: freed a slot */
    zf_link_t gone_workers;     /* worker_t.gone_link: to destroy */
    zf_link_t unused_clients;   /* client_t.unused_link: to destroy if
                                   still without tasks */
    bool settling;              /* in dispatch_settle, which never nests */
    uint64_t jitter;            /* xorshift state for retries' back-off */
    dispatch_load_t load;       /* for PONG, recounted at most every
                                   LOAD_RECOUNT_MS */
    int64_t load_at;            /* when it was counted, us */
    int64_t cpu_at_load;        /* the loop thread's CPU time then, us */
    struct _detached_t *detached;   /* detached tasks, dead letters and
                                       the journal (detached.h) */
    client_t *detached_owner;   /* the journal's client record: owns the
                                   detached tasks (peer.h) */
    zhashx_t *services;         /* name -> service_t */
    task_table_t *tasks;
    deadline_heap_t *deadlines; /* task_t.timer */
    int64_t next_heartbeat;     /* ms */
    int64_t grow_check_at;      /* elastic pool: next look at the queues */
    int64_t liveness_ms;        /* heartbeat_ms * liveness */

#ifdef ZFARM_TEST_HOOKS
    struct _faults_t *faults;   /* injected send failures (faults.h) */
#endif
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

/* A HEARTBEAT, or a PONG, that tells the peer the broker's interval and
 * liveness, which it is to use. */
void
    broker_heartbeat_init (broker_t *self, zf_header_t *header, int command);

/* Fills view with the broker's state, for STATUS and the HTTP pages. */
void
    broker_status_view (broker_t *self, status_view_t *view);

/* Logs a refused message, at most once a second. */
void
    broker_log_bad (broker_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/* ---- commands.c -------------------------------------------------------- */

/* Handles the message in, whose header decoded with result rc. */
void
    commands_handle (broker_t *self, inbound_t *in, int rc);

/* Handles an item of a BATCH as the message alone (in holds its header,
 * decoded with result rc, and its payload): a command that has no place
 * in a batch is refused as misplaced. */
void
    commands_handle_item (broker_t *self, inbound_t *in, int rc);

/* ---- dispatch.c -------------------------------------------------------- */

/* Sends a client its RESULT for a task (code 0 or ZFARM_E*; frames are
 * moved when given) and counts it: the one place a RESULT is built, for
 * a task's end here and for a SUBMIT refused in commands.c alike. */
void
    dispatch_result (broker_t *self, const peer_id_t *to, uint64_t task_id,
                     int code, const char *text, zmq_msg_t *frames,
                     size_t count, uint32_t flags);

/* Queues the task a SUBMIT asks for (takes its payload) for service, or
 * for the service it names if service is NULL (it is created). */
void
    dispatch_submit (broker_t *self, client_t *client, service_t *service,
                     inbound_t *submit);

/* Queues a task made outside a SUBMIT (a detached one, from the
 * journal): its client, ids, service, policy and payload are set. It is
 * due at due (ms on zf_now_ms's clock), and its timeout, if it has one,
 * runs from then. */
void
    dispatch_adopt (broker_t *self, task_t *task, int64_t due);

/* Holds a task that is in no queue and at no worker (a new one, or one
 * back from a worker) aside until due (ms on zf_now_ms's clock); then it
 * joins its service's queue as the youngest of its priority. Meanwhile it
 * counts toward --max-queue, a cancel or a shutdown ends it as a waiting
 * task, and its deadline, if earlier, still ends it. O(log n). */
void
    dispatch_defer (broker_t *self, task_t *task, int64_t due);

/* A DONE from worker for task (its payload is the result's, moved). */
void
    dispatch_done (broker_t *self, worker_t *worker, task_t *task,
                   inbound_t *done);

/* Registers a worker from its READY (its work comes at the end of the
 * event), and tells it the broker's heartbeat settings. */
void
    dispatch_worker_join (broker_t *self, const peer_id_t *from,
                          const char *key,
                          const zf_header_t *ready);

/* A send to worker failed: its connection is gone, as a dead worker's
 * is, however the broker found out (a TASK, a CANCEL, a batch, the
 * heartbeat). A supervised worker or a child of the broker's pool waits
 * for the report of how it died (dispatch_worker_closed); any other is
 * lost, and the tasks it held spend a retry: they were there when its
 * connection went, and one of them may be what killed it. */
void
    dispatch_worker_unreachable (broker_t *self, worker_t *worker);

/* Messages held for a peer (outbox.h) could not be sent: it has gone.
 * The TASKs among them (unsent, their ids) never left, and go back to
 * their queues with no retry spent; a worker there is then unreachable
 * (dispatch_worker_unreachable). */
void
    dispatch_peer_unreachable (broker_t *self, const peer_id_t *id,
                               const uint64_t *unsent, uint32_t unsent_count);

/* A connection closed under a supervised worker or a child of the pool:
 * it takes no more tasks, and is deleted at its expiry, brought to a
 * heartbeat from now, unless the report of its end comes first (its
 * supervisor's, dispatch_worker_died; the pool's reaping). */
void
    dispatch_worker_closed (broker_t *self, worker_t *worker, int64_t now);

/* A supervisor reports that the worker process of instance died, how (a
 * crash report): its workers (a record from before a reconnection too),
 * if they said they are supervised and, if they registered with a key,
 * the report came with the same key, are lost for that reason. Any other
 * report is ignored; one with the wrong key is counted as bad. */
void
    dispatch_worker_died (broker_t *self, const char *instance,
                          const char *key, const char *how);

/* Forgets a worker: it is marked gone and destroyed by dispatch_settle.
 * Its tasks go back to their queues; with spend_retry each spends a retry
 * (or ends in WORKER_LOST) because the worker failed. */
void
    dispatch_worker_delete (broker_t *self, worker_t *worker,
                            const char *reason, bool spend_retry);

/* A SLOTS from a worker that serves other brokers too: its free slots,
 * and perhaps a task of ours that waits there for one. */
void
    dispatch_slots (broker_t *self, worker_t *worker,
                    const zf_header_t *slots);

/* A PROGRESS from worker: sent on to the task's client if the task runs
 * there, asked for progress (ZF_FLAG_PROGRESS) and has a client; else
 * dropped, and counted. */
void
    dispatch_progress (broker_t *self, worker_t *worker,
                       const zf_header_t *progress);

/* A HEARTBEAT with DRAIN: the worker is stopping. It gets no more tasks,
 * gives back those it holds in advance, and stays registered (retiring)
 * until its DISCONNECT, or its silence, deletes it. */
void
    dispatch_drain (broker_t *self, worker_t *worker);

/* Cancels a task on its client's request. */
void
    dispatch_cancel (broker_t *self, task_t *task);

/* Reads a local worker's resident memory (heartbeat; also at each task
 * end): past --max-rss it retires once idle, past --max-rss-hard it is
 * killed and its started tasks end with TIMEOUT. May delete the worker. */
void
    dispatch_check_rss (broker_t *self, worker_t *worker);

/* Elastic pool: stops a local worker idle past --idle-timeout, unless
 * the pool is at its minimum. May delete the worker. */
void
    dispatch_check_idle (broker_t *self, worker_t *worker, int64_t now);

/* How long the longest-waiting queued task has waited (ms), over every
 * service; -1 if none waits. O(services). */
int64_t
    dispatch_oldest_wait (broker_t *self, int64_t now);

/* Ends every task whose deadline has come. */
void
    dispatch_expire (broker_t *self, int64_t now);

/* Ends every waiting or delayed task with code (on shutdown). */
void
    dispatch_fail_queued (broker_t *self, int code);

/* Ends every task with code, running or not (at the end of a drain). */
void
    dispatch_fail_all (broker_t *self, int code);

/* Tasks that workers are running now. */
size_t
    dispatch_running (broker_t *self);

/* Counts the broker's load: O(workers), so callers cache it. */
void
    dispatch_load (broker_t *self, dispatch_load_t *load);

/* Ends an event: dispatches what it marked, and destroys the workers and
 * client records it deleted. The loop calls it after each message, signal
 * and pass of the timers; nothing else may. */
void
    dispatch_settle (broker_t *self);

#endif
