/* task_queue.c: per-priority FIFOs with a bitmap; see task_queue.h.
 *
 * Age is a sequence number given when a task enters at a tail (a SUBMIT,
 * a delayed task that falls due); compared with wrap-around, it orders any
 * two tasks that entered less than 2^31 entries apart. */
#include "task_queue.h"
#include "task_table.h"

#include <assert.h>

void
task_queue_init (task_queue_t *self)
{
    for (int level = 0; level < TASK_QUEUE_LEVELS; level++) {
        zf_list_init (&self->levels [level]);
        self->counts [level] = 0;
    }
    self->size = 0;
    self->nonempty = 0;
    self->next_seq = 0;
    self->taken = 0;
}

static void
s_count_in (task_queue_t *self, const task_t *task)
{
    assert (task->priority < TASK_QUEUE_LEVELS);
    self->counts [task->priority]++;
    self->size++;
    self->nonempty |= 1u << task->priority;
}

void
task_queue_push (task_queue_t *self, task_t *task)
{
    task->seq = self->next_seq++;
    zf_list_push_back (&self->levels [task->priority], &task->link);
    s_count_in (self, task);
}

void
task_queue_push_front (task_queue_t *self, task_t *task)
{
    zf_list_push_front (&self->levels [task->priority], &task->link);
    s_count_in (self, task);
}

static const task_t *
s_head (const task_queue_t *self, int level)
{
    return zf_container_of (self->levels [level].next, task_t, link);
}

/* The head that entered first. A level's head is its oldest task: it
 * entered first or was put back ahead of the rest. */
static task_t *
s_oldest (const task_queue_t *self)
{
    const task_t *oldest = NULL;
    for (uint32_t bits = self->nonempty; bits; bits &= bits - 1) {
        const task_t *head = s_head (self, __builtin_ctz (bits));
        if (!oldest || (int32_t) (head->seq - oldest->seq) < 0)
            oldest = head;
    }
    return (task_t *) oldest;
}

task_t *
task_queue_next (const task_queue_t *self, uint32_t oldest_every)
{
    if (self->size == 0)
        return NULL;
    if (oldest_every && self->taken % oldest_every == oldest_every - 1)
        return s_oldest (self);
    return (task_t *) s_head (self, 31 - __builtin_clz (self->nonempty));
}

task_t *
task_queue_after (const task_queue_t *self, const task_t *task)
{
    const zf_link_t *level = &self->levels [task->priority];
    if (task->link.next != level)
        return zf_container_of (task->link.next, task_t, link);
    uint32_t lower = self->nonempty & ((1u << task->priority) - 1);
    return lower? (task_t *) s_head (self, 31 - __builtin_clz (lower)): NULL;
}

void
task_queue_take (task_queue_t *self, task_t *task)
{
    task_queue_remove (self, task);
    self->taken++;
}

void
task_queue_remove (task_queue_t *self, task_t *task)
{
    assert (self->counts [task->priority] > 0);
    zf_list_remove (&task->link);
    self->size--;
    if (--self->counts [task->priority] == 0)
        self->nonempty &= ~(1u << task->priority);
}

/* When the oldest task in the queue was submitted (ms; for a
 * delayed task, when it fell due), or -1 if the queue is empty. Each
 * priority of a queue is a run of tasks put back at its head (requeued
 * from a lost worker, stolen back), all of them dispatched before, then
 * tasks never dispatched, in the order they came (only a SUBMIT, or a
 * delayed task falling due, appends). So the oldest of a priority is in
 * that run or is the first task after it: this walks the runs alone,
 * which only tasks that were at workers make, never the whole queue. */
int64_t
task_queue_oldest_submitted (const task_queue_t *self)
{
    int64_t oldest = -1;
    for (int level = 0; level < TASK_QUEUE_LEVELS; level++) {
        const zf_link_t *head = &self->levels [level];
        for (const zf_link_t *at = head->next; at != head; at = at->next) {
            const task_t *task = zf_container_of (at, task_t, link);
            if (oldest < 0 || task->submitted_at < oldest)
                oldest = task->submitted_at;
            if (task->dispatched_us == 0)
                break;          /* never dispatched: the rest are younger */
        }
    }
    return oldest;
}
