/* task_queue.h: a service's waiting tasks, highest priority first, in the
 * order they came within a priority, with a bound on any task's wait.
 *
 * One FIFO per priority and a bitmap of the non-empty ones: the next task
 * is the head of the highest set bit, O(1). Every Nth task taken (N is
 * the caller's oldest_every; 0: never) is instead the one that entered the
 * queue first, found among the heads of at most ZF_PRIORITY_MAX + 1
 * levels: a task is taken within N x (k + 1) takes, where k counts the
 * tasks that entered before it and are still waiting or come back to the
 * head (a lost worker's, a stolen one). */
#ifndef TASK_QUEUE_H
#define TASK_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zf_defaults.h"
#include "zf_list.h"

#define TASK_QUEUE_LEVELS (ZF_PRIORITY_MAX + 1)

struct task;

typedef struct {
    zf_link_t levels [TASK_QUEUE_LEVELS];   /* task_t.link, by priority;
                                   the head of each runs first in it */
    size_t counts [TASK_QUEUE_LEVELS];      /* tasks in each level */
    size_t size;                /* tasks in all of them */
    uint32_t nonempty;          /* bit p set: levels [p] has tasks */
    uint32_t next_seq;          /* for the next task that enters at a tail */
    uint64_t taken;             /* tasks taken so far: which turn is next */
} task_queue_t;

/* Prepares an empty queue (embedded in its service). */
void
    task_queue_init (task_queue_t *self);

/* Appends task at the tail of its priority, as the youngest. */
void
    task_queue_push (task_queue_t *self, struct task *task);

/* Puts back a task that left the queue (a lost worker's, a stolen one) at
 * the head of its priority; it keeps its age. */
void
    task_queue_push_front (task_queue_t *self, struct task *task);

/* The task to take next, or NULL if the queue is empty. */
struct task *
    task_queue_next (const task_queue_t *self, uint32_t oldest_every);

/* The task after task in the queue's order by priority (the next in its
 * level, else the head of the next lower level that has tasks), or NULL
 * at the end. For a bounded look past the next task (a retry that must
 * avoid the worker at hand). */
struct task *
    task_queue_after (const task_queue_t *self, const struct task *task);

/* Takes the task task_queue_next gave, and counts the turn. */
void
    task_queue_take (task_queue_t *self, struct task *task);

/* Removes a task without taking it (cancelled, expired, failed). */
void
    task_queue_remove (task_queue_t *self, struct task *task);

/* When the oldest task in the queue was submitted (ms; for a delayed
 * task, when it fell due), or -1 if it is empty. Walks only the runs of
 * tasks put back at each level's head, never the whole queue. */
int64_t
    task_queue_oldest_submitted (const task_queue_t *self);

static inline bool
task_queue_is_empty (const task_queue_t *self)
{
    return self->size == 0;
}

#endif
