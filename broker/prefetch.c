/* prefetch.c: the prefetch policy's decisions (see prefetch.h). A task sent
 * in advance is on its service's prefetched list, oldest first, from when
 * it is sent until its worker starts it, comes back or is lost; only such a
 * task is ever asked back. */
#include "prefetch.h"
#include "zfarm_codes.h"

#include <assert.h>

bool
prefetch_allowed (const prefetch_settings_t *settings, const task_time_t *time)
{
    return settings->on
        && time->samples >= PREFETCH_SAMPLES
        && time->average_us < (double) settings->below_us;
}

bool
prefetch_payload_fits (size_t payload_size)
{
    return payload_size <= PREFETCH_PAYLOAD_MAX;
}

uint32_t
prefetch_held_max (uint32_t capacity, uint32_t depth)
{
    return capacity * (1 + depth);
}

uint32_t
prefetch_depth_after_done (uint32_t depth, uint32_t max, bool starved)
{
    return starved && depth < max? depth + 1: depth;
}

uint32_t
prefetch_depth_after_steal (uint32_t depth)
{
    return depth > 1? depth / 2: 1;
}

void
task_time_add (task_time_t *self, double us)
{
    self->average_us = self->samples? 0.9 * self->average_us + 0.1 * us: us;
    self->samples++;
}

bool
prefetch_next_may_go (const prefetch_settings_t *settings,
                      const service_t *service, uint32_t oldest_every)
{
    if (task_queue_is_empty (&service->queue)
    ||  !prefetch_allowed (settings, &service->task_time))
        return false;
    task_t *next = task_queue_next (&service->queue, oldest_every);
    return prefetch_payload_fits (task_payload_size (next));
}

void
prefetch_track_waiting (task_t *task)
{
    assert (!prefetch_is_waiting (task));
    zf_list_push_back (&task->service->prefetched, &task->prefetch_link);
}

bool
prefetch_is_waiting (const task_t *task)
{
    return zf_link_is_linked (&task->prefetch_link);
}

task_t *
prefetch_start_next (worker_t *worker)
{
    if (worker->running < worker->capacity)
        return NULL;            /* nothing was waiting there */
    /* Its list is in the order the tasks were sent, which is the order the
     * worker library runs them in. */
    for (zf_link_t *at = worker->tasks.next; at != &worker->tasks;
         at = at->next) {
        task_t *task = zf_container_of (at, task_t, link);
        if (prefetch_is_waiting (task)) {
            zf_list_remove (&task->prefetch_link);
            return task;
        }
    }
    return NULL;
}

bool
prefetch_counts_time (const task_t *task, int status)
{
    return !prefetch_is_waiting (task) && task->state == TASK_RUNNING
        && status == 0;
}

task_t *
prefetch_steal_choice (const worker_t *thief)
{
    for (uint32_t i = 0; i < thief->service_count; i++) {
        const service_t *service = thief->services [i].service;
        zf_link_t *first = zf_list_first (&service->prefetched);
        if (!first || !task_queue_is_empty (&service->queue))
            continue;
        task_t *task = zf_container_of (first, task_t, prefetch_link);
        if (task->stealing || task->worker == thief)
            continue;
        return task;
    }
    return NULL;
}

void
prefetch_ask_back (task_t *task)
{
    assert (prefetch_is_waiting (task) && !task->stealing);
    task->stealing = true;
    worker_t *victim = task->worker;
    victim->prefetch_depth =
        prefetch_depth_after_steal (victim->prefetch_depth);
}

bool
prefetch_is_returned (const task_t *task, int status)
{
    return task->stealing && task->state == TASK_RUNNING
        && status == ZFARM_ECANCELLED;
}
