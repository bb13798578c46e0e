/* detached_internal.h: the state detached.c keeps, shared with
 * detached_query.c (the lists and the dead letters' commands). */
#ifndef DETACHED_INTERNAL_H
#define DETACHED_INTERNAL_H

#include "detached.h"
#include "journal.h"
#include "zf_record.h"

#define WAITERS_MAX     65536   /* FETCHes that wait at once */

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
    bool fresh;                 /* stored by this turn (not a SUBMIT sent
                                   again): refused if the commit fails */
} ack_t;

/* Where a stored task's record is: the journal keys records by their
 * place in submission order, so that a turn's writes land on the last
 * few pages of its B-tree rather than on one page per task. */
typedef struct {
    uint64_t id;                /* first: the index's key */
    uint64_t seq;               /* the record's key */
} stored_t;

/* A FETCH that waits for its task's outcome: the first for a task is in
 * the index of waiters, the others chained behind it. */
typedef struct waiter {
    uint64_t id;                /* first: the index's key */
    struct waiter *next;        /* another FETCH of the same task */
    int64_t deadline;           /* monotonic ms */
    peer_id_t to;
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
    zf_index_t stored;          /* stored_t by id: every task record */
    uint64_t next_seq;
    ack_t *acks;
    size_t ack_count, ack_capacity;
    zf_index_t waiters;         /* waiter_t chains by task id */
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

/* Notes that task id's record is under seq; and forgets it. */
void
    detached_stored_add (struct _detached_t *state, uint64_t id, uint64_t seq);
void
    detached_stored_remove (struct _detached_t *state, uint64_t id);

/* The key of task id's record, or 0 if none is stored. */
uint64_t
    detached_seq_of (struct _detached_t *state, uint64_t id);

/* Removes key from ring, wherever it is; O(n). */
bool
    detached_ring_remove (ring_t *ring, uint64_t key);

#endif
