/* worker_table.h: the broker's record of one registered worker.
 *
 * A worker is on the idle list of each of its services exactly while it
 * has a free slot (running < capacity), and on their prefetchers list while
 * it is busy but may hold more tasks waiting (running < capacity * (1 +
 * prefetch_depth): the worker library queues up to capacity * prefetch_max
 * tasks). Moving between the lists is O(services it offers), never
 * O(workers).
 *
 * A worker found dead is deleted (off every list a dispatch reads) at
 * once, marked gone, and destroyed later, when no caller can hold it: see
 * the rules at the top of dispatch.c. */
#ifndef WORKER_TABLE_H
#define WORKER_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "peer.h"
#include "service.h"
#include "zf_curve.h"
#include "zf_proto.h"

struct worker;

typedef struct {
    struct worker *worker;
    service_t *service;
    zf_link_t idle_link;        /* in service->idle or ->prefetchers */
} membership_t;

typedef struct worker {
    peer_id_t id;               /* first: the table's key */
    membership_t services [ZF_SERVICES_MAX];
    uint32_t service_count;
    uint32_t next_service;      /* where a freed slot looks for work first */
    uint32_t capacity;          /* slots */
    uint32_t running;           /* tasks in hand (RUNNING or ABANDONED) */
    uint32_t brokers;           /* it serves this many (READY's brokers) */
    char instance [ZF_INSTANCE_MAX + 1];  /* READY's instance: the same on
                                   every broker it serves; "" if unsaid */
    bool shared;                /* it serves other brokers too, or says so
                                   with SLOTS: its free slots are credit */
    uint32_t credit;            /* shared: slots it may be sent a task for
                                   (PROTOCOL.md, Workers on several
                                   brokers) */
    uint32_t prefetch_max;      /* tasks per slot it takes in advance, at
                                   most (its READY's prefetch) */
    uint32_t prefetch_depth;    /* tasks per slot sent in advance now:
                                   1.. prefetch_max, deepened when it ran
                                   dry while tasks waited here, halved when
                                   one had to be stolen back from it */
    zf_link_t tasks;            /* task_t.link of tasks in hand */
    zf_link_t all_link;         /* in the broker's list of workers; a gone
                                   worker stays there until destroyed, so
                                   that a walk of the list never loses its
                                   place */
    zf_link_t refill_link;      /* in the broker's list of workers whose
                                   freed slots wait for work */
    zf_link_t gone_link;        /* in the broker's list of workers to
                                   destroy at the end of the event */
    int64_t expiry;             /* dead if silent until then (ms) */
    int64_t joined_at;          /* ms */
    uint64_t serial;            /* n for the broker's n-th worker to join:
                                   a task names the worker it failed on */
    uint64_t tasks_done;        /* DONEs received */
    uint64_t dispatched;        /* tasks given to it */
    bool retiring;              /* takes no more tasks (max calls) */
    bool draining;              /* said DRAIN: retiring, but it leaves by
                                   itself (DISCONNECT) once its tasks end */
    bool gone;                  /* deleted: no list but all_workers and the
                                   broker's gone list holds it */
    bool listed_idle;           /* on its services' idle lists */
    bool listed_prefetch;       /* on their prefetchers lists */
    pid_t pool_child;           /* its process in our pool, or 0 */
    bool supervised;            /* a zfarm pool supervisor reports its
                                   death (READY flag SUPERVISED) */
    bool closed;                /* supervised, and its connection closed:
                                   held until its expiry for the report */
    char key [ZF_CURVE_KEY_TEXT];   /* its CURVE key (Z85), or "" */
    long rss_kb;                /* pool_child's resident memory when last
                                   read (task end, heartbeat); 0: unread */
    int retire_reason;          /* zf_pool_reason_t, while retiring */
    int64_t last_active;        /* ms: joined, was given a task or sent
                                   a DONE (elastic pool's idle time) */
    uint32_t pid;
    char host [ZF_HOST_MAX + 1];
    char version [ZF_VERSION_MAX + 1];
} worker_t;

/* A new worker from its READY, with its services from services (created as
 * needed); it is idle on all of them. */
worker_t *
    worker_new (const peer_id_t *id, const zf_header_t *ready,
                zhashx_t *services, int64_t now);

/* Leaves every service and frees the worker. It must be gone, with no
 * task in hand. */
void
    worker_destroy (worker_t **self_p);

bool
    worker_has_free_slot (const worker_t *self);

/* Slots a task may be sent to now, without AHEAD: as worker_has_free_slot
 * counts them (0 while it retires; for a shared worker, no more than its
 * credit, which its other brokers' tasks lower). */
uint32_t
    worker_free_slots (const worker_t *self);

/* True if the worker can take a task in advance (it is busy, here or,
 * shared, with other brokers' tasks, and holds fewer than prefetch_depth
 * per slot in advance). */
bool
    worker_can_prefetch (const worker_t *self);

/* Stops offering its services (leaves their idle and prefetchers lists
 * for good), and marks the worker gone. */
void
    worker_mark_gone (worker_t *self);

/* Call after running changed: joins or leaves the idle lists to match. */
void
    worker_update_idle (worker_t *self);

/* After a dispatch from service: the worker goes to the back of that
 * service's idle list (least recently used first), if still idle there. */
void
    worker_touch (worker_t *self, service_t *service);

#endif
