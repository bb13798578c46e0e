/* detached_internal.h: the state detached.c keeps, shared with
 * detached_query.c (the lists and the dead letters' commands). */
#ifndef DETACHED_INTERNAL_H
#define DETACHED_INTERNAL_H

#include "detached.h"
#include "journal.h"
#include "zf_record.h"

#define WAITERS_MAX     4096    /* FETCHes that wait at once */

/* What a detached task's record holds that task_t does not. */
typedef struct {
    uint64_t id;                /* first: the index's key */
    uint64_t seq;
    int64_t submitted_at;       /* wall clock ms */
    int64_t due_at;             /* wall clock ms, 0: at once */
    char owner [ZF_OWNER_MAX + 1];
} live_t;

/* A STORED to send once the journal has the task. */
typedef struct {
    peer_id_t to;
    uint64_t id;
} ack_t;

/* A FETCH that waits for its task's outcome. */
typedef struct {
    peer_id_t to;
    uint64_t id;
    int64_t deadline;           /* monotonic ms */
} waiter_t;

/* A ring of (key, time): results by end time, dead letters by number. */
typedef struct {
    uint64_t key;
    int64_t at;
} ring_item_t;

typedef struct {
    ring_item_t *items;
    size_t head, count, capacity;
} ring_t;

struct _detached_t {
    journal_t *journal;         /* or NULL: not opened yet */
    bool open_failed;           /* a temporary one could not be made */
    zf_index_t live;            /* live_t by id */
    uint64_t next_seq;
    ack_t *acks;
    size_t ack_count, ack_capacity;
    waiter_t *waiters;
    size_t waiter_count;
    int64_t next_waiter_deadline;
    ring_t finished;            /* (id, finished_at wall ms), oldest first */
    ring_t dead;                /* (number, failed_at), oldest first */
    uint64_t next_dead;
    uint64_t submitted, dead_dropped, expired;
};

/* True for a peer that may see a task of owner: its submitter's key, or
 * any peer that has no key (no security, or a local endpoint). */
bool
    detached_owner_may (const char *owner, const char *requester);

/* Queues a stored task (from the journal, or a dead letter retried). */
task_t *
    detached_adopt (broker_t *self, const zf_job_t *job);

/* Writes task's record, in state, at the next commit. */
void
    detached_store_task (broker_t *self, task_t *task, int state);

/* A random task id, never 0. */
uint64_t
    detached_random_id (void);

/* Removes key from ring, wherever it is; O(n). */
bool
    detached_ring_remove (ring_t *ring, uint64_t key);

#endif
