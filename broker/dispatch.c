/* dispatch.c: the broker's dispatch: queues, LRU workers, prefetch and
 * stealing (whose decisions are prefetch.c's), retries, results.
 *
 * Who frees what, and when. Every function here keeps these rules:
 *
 * 1. Nothing the broker holds is freed while a caller up the stack may
 *    still hold it. A worker found dead (silent, unreachable, disconnected,
 *    exited, overran, retired) is deleted at once: it leaves the routing
 *    table, its services' idle lists and its tasks, and is marked gone;
 *    it stays in all_workers (so a walk of that list never loses its
 *    place) and is destroyed by dispatch_settle, which the loop calls
 *    after each event (a message, a signal, a pass of the timers), when no
 *    handler is on the stack. A client record whose last task went is
 *    destroyed there too. Tasks sit in the task table's chunks, which never
 *    move: a freed task's slot is reused, never unmapped, and everything
 *    that names a task from outside goes through its dispatch id, whose
 *    generation a free changes. Services live as long as the broker.
 * 2. Dispatch never runs inside a deletion. An event that adds capacity or
 *    work marks it: a task queued or requeued marks its service pending, a
 *    DONE marks its worker for a refill, a worker that joins marks its
 *    services. dispatch_settle then dispatches, once, at the end of the
 *    event. A worker that proves unreachable meanwhile is deleted like any
 *    other, and what that requeues is marked for the same settle: a loop,
 *    never a recursion, and it ends, for each turn of it deletes a worker
 *    or gives out a task.
 * 3. So, at the end of every event, no service has both a waiting task and
 *    an idle worker, but one: a retried task avoids the worker it failed
 *    on while the service has another, so that worker may idle while the
 *    first RETRY_SCAN tasks in line all failed on it. Dispatch takes list
 *    heads: the head of the highest priority with tasks (a bitmap), or on
 *    every --oldest-every'th turn the oldest of at most ten heads
 *    (task_queue.h), so O(1) per task, and scans (at most RETRY_SCAN)
 *    only for such a task.
 *
 * Builds with assertions (the sanitizer build, tests/run.sh) check rule 1:
 * a gone worker is never given a task, touched, listed idle or deleted
 * again, and is off every list but all_workers when it is destroyed.
 *
 * Prefetch: a worker runs one task per slot, and would sit idle for a round
 * trip between its DONE and its next TASK. For a service whose tasks are
 * short, the broker also gives a busy worker tasks in advance, which the
 * worker library queues. Celery's flaw, a short task stuck behind a long one
 * while another worker idles, is avoided by stealing: the idle worker asks
 * one back. prefetch.c decides, and its header states each rule: a service
 * is short once PREFETCH_SAMPLES of its tasks were measured and their
 * average is under --prefetch-below; a task of at most 64 KiB may go in
 * advance, to a busy worker that holds fewer than capacity * (1 + its
 * depth); the depth starts at one, goes one deeper after each DONE that said
 * IDLE while its task's service had one here that could have gone in advance
 * (s_deepen), up to its READY's prefetch, and halves each time a task is
 * asked back from it; a worker left with a free slot after taking what its
 * services had queued (s_refill) asks back (CANCEL without STOP, s_steal)
 * the task that has waited longest in advance at another worker, in the
 * first of its services whose queue is empty. This file moves the tasks:
 * s_assign sends them (TASK flag AHEAD), dispatch_done measures, deepens and
 * starts the next one held in advance, and a task asked back that returns
 * unstarted (DONE with CANCELLED) goes first in line again (s_stolen) and
 * runs here. If it had started, its DONE is its result, as usual. */
#include "broker_internal.h"
#include "detached.h"
#include "prefetch.h"
#include "zf_log.h"
#include "zf_retry.h"
#include "zf_util.h"
#include "zfarm_codes.h"

#include <assert.h>
#include <signal.h>

/* How far dispatch looks past a retried task that avoids the worker at
 * hand, for another worker or another task. */
#define RETRY_SCAN          16

/* How a log line names a task: service/id, the id of a detached one in
 * hex, as zfarm submit prints it. */
typedef struct {
    char text [ZF_SERVICE_MAX + 24];
} task_label_t;

static void
    s_detach_from_worker (task_t *task);
static void
    s_task_requeue (broker_t *self, task_t *task, bool spend_retry,
                    const worker_t *worker, const char *reason);

static const char *
s_label (const task_t *task, task_label_t *label)
{
    const client_t *client = task->client;
    snprintf (label->text, sizeof label->text,
              client && client->journal? "%s/%016" PRIx64: "%s/%" PRIu64,
              task->service->name, task->client_task_id);
    return label->text;
}

static void
s_mark_pending (broker_t *self, service_t *service)
{
    if (!zf_link_is_linked (&service->pending_link))
        zf_list_push_back (&self->pending_services, &service->pending_link);
}

/* Sets the task's timer to when it next needs attention: its deadline or,
 * while it is delayed (a delay asked for, a retry's back-off), its due
 * time, or while it runs under --max-call-time, the end of its call
 * time. */
static void
s_task_rearm (broker_t *self, task_t *task)
{
    deadline_heap_remove (self->deadlines, &task->timer);
    int64_t when = task->deadline;
    /* A delayed task's deadline is after its due time when a delay set
     * both; a deferred retry's may come first (then the task just ends). */
    if (task->state == TASK_DELAYED && (!when || task->due < when))
        when = task->due;
    long max_call_time = self->options.max_call_time_ms;
    if (task->state == TASK_RUNNING && max_call_time) {
        int64_t call_end = task_dispatched_ms (task) + max_call_time;
        if (!when || call_end < when)
            when = call_end;
    }
    if (when) {
        task->timer.deadline = when;
        deadline_heap_insert (self->deadlines, &task->timer);
    }
}

/* The task's client no longer waits for it. A client record left with no
 * task is destroyed at the end of the event (rule 1). */
static void
s_task_disown (broker_t *self, task_t *task)
{
    client_t *client = task->client;
    if (!client)
        return;
    client_task_remove (client, task->client_task_id);
    if (client_task_count (client) == 0 && !client->journal
    &&  !zf_link_is_linked (&client->unused_link))
        zf_list_push_back (&self->unused_clients, &client->unused_link);
    task->client = NULL;
}

/* Removes a task from every index and frees it. */
static void
s_task_delete (broker_t *self, task_t *task)
{
    deadline_heap_remove (self->deadlines, &task->timer);
    s_task_disown (self, task);
    task_table_free (self->tasks, task);
}

static void
s_count_outcome (broker_t *self, int code)
{
    if (code == 0)
        self->counters.completed++;
    else {
        self->counters.failed++;
        if (ZF_CODE_INDEX (code) < COUNTERS_CODES)
            self->counters.failed_by_code [ZF_CODE_INDEX (code)]++;
    }
}

void
dispatch_result (broker_t *self, const peer_id_t *to, uint64_t task_id,
                 int code, const char *text, zmq_msg_t *frames, size_t count,
                 uint32_t flags)
{
    zf_header_t header;
    zf_header_init (&header, ZF_RESULT);
    header.task_id = task_id;
    header.status = code;
    header.flags = flags & (ZF_FLAG_NUL | ZF_FLAG_DETACHED);
    zf_header_set_text (&header, text);
    if (broker_send (self, to, &header, frames, count, false))
        self->counters.results_undeliverable++;
    s_count_outcome (self, code);
}

/* Ends a task with its RESULT, if its client is still there; a detached
 * task's outcome goes to the journal (and a failure, where asked, to the
 * dead letters: detached.h). */
static void
s_send_result (broker_t *self, task_t *task, int code, const char *text,
               zmq_msg_t *frames, size_t count, uint32_t flags)
{
    const client_t *owner = task->client;
    if (owner && owner->journal && code == ZFARM_ESHUTDOWN)
        return;     /* still in the journal: the next start runs it */
    if (detached_finished (self, task, code, text, frames, count, flags))
        s_count_outcome (self, code);
    else
    if (task->client) {
        const client_t *client = task->client;
        dispatch_result (self, &client->id, task->client_task_id, code,
                         text, frames, count, flags);
    }
    else
        return;
    task->service->completed++;
    task_label_t label;
    if (code)
        zf_info ("task %s failed: %s%s%s", s_label (task, &label),
                 zfarm_err_name (code), *text? ": ": "", text);
    else
        zf_debug ("task %s: OK", s_label (task, &label));
}

/* Ends a task that has no worker with an error code. */
static void
s_task_fail (broker_t *self, task_t *task, int code, const char *text)
{
    s_send_result (self, task, code, text? text: zfarm_strerror (code), NULL,
                   0, 0);
    s_task_delete (self, task);
}

/* Only a SUBMIT, or a delayed task that falls due, appends (at_head
 * false); a task put back (requeued, stolen back) goes to the head of its
 * priority. metrics.c finds the oldest waiting task by that order without
 * walking the whole queue. */
static void
s_enqueue (broker_t *self, task_t *task, bool at_head)
{
    task->state = TASK_QUEUED;
    task->worker = NULL;
    if (at_head)
        task_queue_push_front (&task->service->queue, task);
    else
        task_queue_push (&task->service->queue, task);
    task->service->queued++;
    s_mark_pending (self, task->service);
}

/* Takes a waiting task out of its service's queue, not to run it. */
static void
s_unqueue (task_t *task)
{
    task_queue_remove (&task->service->queue, task);
    task->service->queued--;
}

/* True if a delayed task is a retry waiting out its back-off, not a task
 * whose client asked for a delay: it has run before. */
static bool
s_is_backing_off (const task_t *task)
{
    return task->attempts > 0;
}

void
dispatch_defer (broker_t *self, task_t *task, int64_t due)
{
    assert (task->state != TASK_QUEUED && task->state != TASK_DELAYED);
    assert (!zf_link_is_linked (&task->link));
    task->state = TASK_DELAYED;
    task->worker = NULL;
    task->due = due;
    zf_list_push_back (&task->service->delayed_tasks, &task->link);
    task->service->delayed++;
    if (s_is_backing_off (task))
        task->service->backing_off++;
    s_task_rearm (self, task);
}

/* Takes a delayed task out of its service's list of them. */
static void
s_undelay (task_t *task)
{
    zf_list_remove (&task->link);
    task->service->delayed--;
    if (s_is_backing_off (task))
        task->service->backing_off--;
}

/* A delayed task is due. A new one joins its queue as the youngest of its
 * priority and waits for a worker from now on; a retry goes back to the
 * head, as a retry without back-off does, and keeps its age. */
static void
s_fall_due (broker_t *self, task_t *task, int64_t now)
{
    s_undelay (task);
    bool retry = s_is_backing_off (task);
    if (!retry)
        task->submitted_at = now;
    s_enqueue (self, task, retry);
    s_task_rearm (self, task);
}

static void
s_count_latency (latency_t *latency, int64_t ms)
{
    static const double bounds [] = LATENCY_BOUNDS_MS;
    size_t bucket = 0;
    while (bucket < LATENCY_BUCKETS - 1 && ms > bounds [bucket])
        bucket++;
    latency->buckets [bucket]++;
    latency->count++;
    latency->sum_ms += (double) ms;
}

/* True if the head of service's queue may go to a busy worker in
 * advance. */
static bool
s_prefetch_next (broker_t *self, service_t *service)
{
    prefetch_settings_t settings = {
        .on = self->options.prefetch,
        .below_us = self->options.prefetch_below_us
    };
    return prefetch_next_may_go (&settings, service,
                                 self->options.oldest_every);
}

/* Sends a header-only command to a worker. One that proves unreachable is
 * deleted (rule 1: its record stays valid until the end of the event). */
static void
s_tell_worker (broker_t *self, worker_t *worker, const zf_header_t *header)
{
    assert (!worker->gone);
    if (broker_send_header (self, &worker->id, header) != 0)
        dispatch_worker_unreachable (self, worker);
}

/* Gives task, queued for service (task_queue_next's, unless a retry
 * avoids this worker), to the worker of membership, in advance if
 * prefetch, so a worker runs what it is sent in that order too. A worker
 * that proves unreachable is deleted, and the task goes back to the head
 * of its priority. */
static void
s_assign (broker_t *self, service_t *service, membership_t *membership,
          task_t *task, bool prefetch)
{
    worker_t *worker = membership->worker;
    assert (!worker->gone);
    if (prefetch) {
        prefetch_track_waiting (task);
        self->counters.prefetched++;
    }
    else
    if (worker->shared)
        worker->credit--;       /* a slot of its, until a DONE says IDLE */

    task_queue_take (&service->queue, task);
    service->queued--;
    task_begin_attempt (task);
    task->state = TASK_RUNNING;
    task->worker = worker;
    task->dispatched_us = zf_now_us ();
    int64_t now = task_dispatched_ms (task);
    if (task->attempts == 1)
        s_count_latency (&self->counters.dispatch_latency,
                         now - task->submitted_at);
    zf_list_push_back (&worker->tasks, &task->link);
    worker->running++;
    worker->dispatched++;
    worker->last_active = now;
    service->running++;
    long max_calls = self->options.max_calls_per_worker;
    if (max_calls && worker->pool_child && !worker->retiring
    &&  worker->dispatched >= (uint64_t) max_calls) {
        worker->retiring = true;
        worker->retire_reason = ZF_POOL_TASKS;
    }
    worker_touch (worker, service);
    worker_update_idle (worker);
    s_task_rearm (self, task);

    zf_header_t header;
    zf_header_init (&header, ZF_TASK);
    header.task_id = task_dispatch_id (task);
    header.attempt = task->attempts;
    header.flags = task->flags | (prefetch? ZF_FLAG_AHEAD: 0);
    zf_header_set_service (&header, service->name);
    if (task->retry && task->retry->last_status) {
        header.status = task->retry->last_status;
        if (task->retry->last_text)
            zf_header_set_text (&header, task->retry->last_text);
    }
    if (task->deadline) {
        int64_t left = task->deadline - now;
        header.timeout_ms = (uint32_t) (left > 0? left: 1);
    }
    if (broker_send (self, &worker->id, &header, task_payload (task),
                     task->payload_count, true) != 0) {
        /* Not sent: this task never left, so it spends no retry; those
         * the worker held went with its connection. */
        s_detach_from_worker (task);
        s_task_requeue (self, task, false, worker, "unreachable");
        dispatch_worker_unreachable (self, worker);
    }
    else
        detached_started (self, task);
}

/* True if task, a retry, should not go to worker: it failed there, and
 * the service has another worker. */
static bool
s_avoids (const service_t *service, const task_t *task, const worker_t *worker)
{
    return task->retry && task->retry->avoid_worker == worker->serial
        && service->workers > 1;
}

/* After *chosen in its list (idle or prefetchers), a worker that task
 * need not avoid; false if none within RETRY_SCAN. */
static bool
s_other_worker (const service_t *service, const zf_link_t *list,
                const task_t *task, zf_link_t **chosen)
{
    zf_link_t *at = (*chosen)->next;
    for (int i = 0; i < RETRY_SCAN && at != list; i++, at = at->next)
        if (!s_avoids (service, task,
                       zf_container_of (at, membership_t, idle_link)->worker)) {
            *chosen = at;
            return true;
        }
    return false;
}

/* After first in the queue's order, a task that need not avoid worker,
 * or NULL if none within RETRY_SCAN. */
static task_t *
s_other_task (const service_t *service, const task_t *first,
              const worker_t *worker)
{
    const task_t *at = first;
    for (int i = 0; i < RETRY_SCAN; i++) {
        at = task_queue_after (&service->queue, at);
        if (!at)
            break;
        if (!s_avoids (service, at, worker))
            return (task_t *) at;
    }
    return NULL;
}

static void
s_service_dispatch (broker_t *self, service_t *service)
{
    if (self->draining)
        return;
    while (!task_queue_is_empty (&service->queue)) {
        zf_link_t *idle = zf_list_first (&service->idle);
        bool prefetch = !idle && s_prefetch_next (self, service);
        zf_link_t *chosen = idle? idle
                          : prefetch? zf_list_first (&service->prefetchers): NULL;
        if (!chosen)
            break;
        task_t *task = task_queue_next (&service->queue,
                                        self->options.oldest_every);
        worker_t *worker = zf_container_of (chosen, membership_t,
                                            idle_link)->worker;
        if (s_avoids (service, task, worker)
        &&  !s_other_worker (service, idle? &service->idle
                                          : &service->prefetchers, task, &chosen)) {
            /* Only that worker is free: it takes the next task that did
             * not fail on it; the retry waits for another worker. */
            task = prefetch? NULL: s_other_task (service, task, worker);
            if (!task)
                break;
        }
        s_assign (self, service, zf_container_of (chosen, membership_t,
                                                  idle_link), task, prefetch);
    }
}

void
dispatch_submit (broker_t *self, client_t *client, service_t *service,
                 inbound_t *in)
{
    const zf_header_t *submit = &in->header;
    if (!service)
        service = service_require (self->services, submit->service);
    task_t *task = task_table_alloc (self->tasks);
    task->client = client;
    task->client_task_id = submit->task_id;
    task->service = service;
    task->timeout_ms = submit->timeout_ms;
    task->flags = (uint8_t) (submit->flags & (ZF_FLAG_NUL | ZF_FLAG_PROGRESS));
    task->priority = (uint8_t) submit->priority;
    task->submitted_at = zf_now_ms ();
    task->max_retries = submit->retries;
    if (submit->retry_on || submit->backoff_max_ms) {
        task_retry_t *retry = task_require_retry (task);
        retry->retry_on = submit->retry_on & ZF_RETRY_CODES_ALLOWED;
        retry->backoff_max_ms = submit->backoff_max_ms;
        retry->backoff_min_ms = submit->backoff_min_ms < submit->backoff_max_ms
                              ? submit->backoff_min_ms: submit->backoff_max_ms;
    }
    task_take_payload (task, in->payload, in->payload_count);
    in->payload_count = 0;
    client_task_insert (client, task);
    self->counters.submitted++;
    /* The timeout starts when the task is due: it bounds the wait for a
     * worker and the run, never the delay asked for. */
    dispatch_adopt (self, task, task->submitted_at + submit->delay_ms);
}

void
dispatch_adopt (broker_t *self, task_t *task, int64_t due)
{
    int64_t now = zf_now_ms ();
    task->submitted_at = now;
    if (task->timeout_ms)
        task->deadline = (due > now? due: now) + task->timeout_ms;
    if (due > now) {
        self->counters.delayed++;
        dispatch_defer (self, task, due);
        return;
    }
    s_enqueue (self, task, false);
    s_task_rearm (self, task);
}

/* The retry policy of task: its SUBMIT's settings where it gave them,
 * else its service's (the broker's flags and configuration). */
static void
s_task_policy (broker_t *self, const task_t *task, retry_policy_t *policy)
{
    options_retry_policy (&self->options, task->service->name, policy);
    if (task->max_retries >= 0)
        policy->max_retries = task->max_retries;
    const task_retry_t *retry = task->retry;
    if (retry && retry->retry_on)
        policy->retry_on = retry->retry_on;
    if (retry && retry->backoff_max_ms) {
        policy->backoff_min_ms = retry->backoff_min_ms;
        policy->backoff_max_ms = retry->backoff_max_ms;
    }
}

/* True if the policy retries a failure of this status, and the task has a
 * retry left. A draining broker retries nothing. */
static bool
s_retry_allowed (broker_t *self, const task_t *task,
                 const retry_policy_t *policy, int status)
{
    return !self->draining
        && status < 0 && ZF_CODE_INDEX (status) < 32
        && (policy->retry_on & ZF_RETRY_BIT (status))
        && task->attempts - 1 < (uint32_t) policy->max_retries;
}

/* Uniform in [0, 1), from xorshift64: jitter needs no better. */
static double
s_random01 (broker_t *self)
{
    uint64_t x = self->jitter;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    self->jitter = x;
    return (double) (x >> 11) / (double) (UINT64_C (1) << 53);
}

/* Runs a failed task (off its worker, status its ZFARM_E*) again: first in
 * its priority, after the policy's back-off (dispatch_defer). Its next
 * attempt is told of this failure and avoids this worker. */
static void
s_retry (broker_t *self, task_t *task, const worker_t *worker,
         const retry_policy_t *policy, int status, const char *text)
{
    detached_note_attempt (self, task, status, text);
    task_retry_t *retry = task_require_retry (task);
    retry->last_status = status;
    free (retry->last_text);
    retry->last_text = *text? zf_strdup (text): NULL;
    retry->avoid_worker = worker->serial;
    self->counters.retried++;
    uint32_t delay = zf_backoff_delay ((uint32_t) policy->backoff_min_ms,
                                       (uint32_t) policy->backoff_max_ms,
                                       task->attempts, s_random01 (self));
    task_label_t label;
    zf_info ("task %s attempt %" PRIu32 " failed (%s%s%s);"
             " retry %" PRIu32 " of %d in %" PRIu32 " ms", s_label (task, &label),
             task->attempts, zfarm_err_name (status),
             *text? ": ": "", text, task->attempts, policy->max_retries, delay);
    if (delay == 0) {
        s_enqueue (self, task, true);
        s_task_rearm (self, task);
        return;
    }
    dispatch_defer (self, task, zf_now_ms () + delay);
}

/* A worker with a free slot and nothing queued for it asks back the task
 * prefetch_steal_choice names, one: one free slot, one task. */
static void
s_steal (broker_t *self, worker_t *thief)
{
    task_t *task = prefetch_steal_choice (thief);
    if (!task)
        return;
    zf_header_t header;
    zf_header_init (&header, ZF_CANCEL);
    header.task_id = task_dispatch_id (task);
    self->counters.steals++;
    worker_t *victim = task->worker;
    prefetch_ask_back (task);
    worker_update_idle (victim);    /* its depth halved */
    /* An unreachable victim is deleted, and the task requeued for the
     * thief to take in this same settle. */
    s_tell_worker (self, victim, &header);
}

/* A local worker past --max-rss-hard: the tasks it started end as those
 * that overran --max-call-time do (TIMEOUT), it is killed, and the tasks
 * it held unstarted go back to the queue with no retry spent. */
static void
s_worker_oversize (broker_t *self, worker_t *worker)
{
    char text [96];
    snprintf (text, sizeof text, "its worker passed --max-rss-hard %ld MB"
              " (%ld kB)", self->options.max_rss_hard_mb, worker->rss_kb);
    for (zf_link_t *at = worker->tasks.next; at != &worker->tasks;
         at = at->next) {
        task_t *task = zf_container_of (at, task_t, link);
        if (task->state != TASK_RUNNING || prefetch_is_waiting (task))
            continue;
        s_send_result (self, task, ZFARM_ETIMEOUT, text, NULL, 0, 0);
        /* As s_abandon, but no CANCEL: the process dies now. */
        deadline_heap_remove (self->deadlines, &task->timer);
        s_task_disown (self, task);
        task->state = TASK_ABANDONED;
    }
    zf_pool_retire (self->pool, worker->pool_child, ZF_POOL_RSS_HARD,
                    SIGKILL);
    dispatch_worker_delete (self, worker, "passed --max-rss-hard", false);
}

/* Reads a local worker's memory: past --max-rss it retires once its tasks
 * end (the caller's s_worker_freed_slot sees to that), past
 * --max-rss-hard it is killed now and may be deleted. */
static void
s_check_rss (broker_t *self, worker_t *worker)
{
    if (worker->gone || !worker->pool_child)
        return;
    long rss = zf_pool_rss_kb (self->pool, worker->pool_child);
    if (rss < 0)
        return;
    worker->rss_kb = rss;
    long soft = self->options.max_rss_mb * 1024;
    long hard = self->options.max_rss_hard_mb * 1024;
    if (hard && rss >= hard)
        s_worker_oversize (self, worker);
    else
    if (soft && rss >= soft && !worker->retiring) {
        worker->retiring = true;
        worker->retire_reason = ZF_POOL_RSS;
        worker_update_idle (worker);
    }
}

/* A worker has one slot more: it retires, or waits for the end of the
 * event to be given work (rule 2). */
static void
s_worker_freed_slot (broker_t *self, worker_t *worker)
{
    if (worker->retiring) {
        if (worker->running == 0 && !worker->draining) {
            char reason [64];
            if (worker->retire_reason == ZF_POOL_RSS)
                snprintf (reason, sizeof reason, "retired at %ld kB resident",
                          worker->rss_kb);
            else
                snprintf (reason, sizeof reason, "retired after %" PRIu64
                          " tasks", worker->dispatched);
            zf_pool_retire (self->pool, worker->pool_child,
                            (zf_pool_reason_t) worker->retire_reason, SIGTERM);
            dispatch_worker_delete (self, worker, reason, false);
        }
        return;
    }
    worker_update_idle (worker);
    if (!zf_link_is_linked (&worker->refill_link))
        zf_list_push_back (&self->refill_workers, &worker->refill_link);
}

/* Gives a worker that freed a slot queued work, or else a task stolen back
 * from a busy worker. Only its services can have work waiting (the
 * invariant held before its slot freed); it starts where it left off, for
 * fairness. A dispatch may find it unreachable and delete it. */
static void
s_refill (broker_t *self, worker_t *worker)
{
    for (uint32_t i = 0; i < worker->service_count && !worker->gone
                      && (worker_has_free_slot (worker)
                          || worker_can_prefetch (worker)); i++) {
        uint32_t at = (worker->next_service + i) % worker->service_count;
        service_t *service = worker->services [at].service;
        if (!task_queue_is_empty (&service->queue)) {
            worker->next_service = at + 1;
            s_service_dispatch (self, service);
        }
    }
    if (!worker->gone && worker_has_free_slot (worker))
        s_steal (self, worker);
}

/* Takes a task off its worker. */
static void
s_detach_from_worker (task_t *task)
{
    zf_list_remove (&task->link);
    zf_list_remove (&task->prefetch_link);
    task->stealing = false;
    task->worker->running--;
    task->service->running--;
    task->worker = NULL;
}

/* A DONE may deepen its worker's prefetch: a slot that ran dry
 * (ZF_FLAG_IDLE: nothing waited there for it) while its service had a task
 * here that could have gone in advance idled for a round trip. */
static void
s_deepen (broker_t *self, worker_t *worker, service_t *service,
          const zf_header_t *done)
{
    bool starved = (done->flags & ZF_FLAG_IDLE)
                && s_prefetch_next (self, service);
    worker->prefetch_depth = prefetch_depth_after_done (worker->prefetch_depth,
                                                        worker->prefetch_max,
                                                        starved);
}

/* A task asked back came back unstarted: it goes first in line again. */
static void
s_stolen (broker_t *self, worker_t *worker, task_t *task)
{
    s_detach_from_worker (task);
    task->attempts--;           /* it never ran there */
    self->counters.stolen++;
    s_enqueue (self, task, true);
    s_task_rearm (self, task);
    s_worker_freed_slot (self, worker);
}

void
dispatch_done (broker_t *self, worker_t *worker, task_t *task,
               inbound_t *in)
{
    const zf_header_t *done = &in->header;
    assert (!worker->gone && task->worker == worker);
    if (prefetch_is_returned (task, done->status)) {
        s_stolen (self, worker, task);
        return;
    }
    if (prefetch_counts_time (task, done->status))
        task_time_add (&task->service->task_time,
                       (double) (zf_now_us () - task->dispatched_us));
    s_deepen (self, worker, task->service, done);
    /* A shared worker's slot is ours again only if nothing, of any broker,
     * waited there for it. */
    if (worker->shared && (done->flags & ZF_FLAG_IDLE)
    &&  worker->credit < worker->capacity)
        worker->credit++;
    s_detach_from_worker (task);
    task_t *started = prefetch_start_next (worker);
    if (started) {
        /* It runs from now, not from when it was sent in advance: its
         * measured time and its --max-call-time leave out the wait. */
        started->dispatched_us = zf_now_us ();
        s_task_rearm (self, started);
    }
    worker->tasks_done++;
    worker->last_active = zf_now_ms ();
    if (task->state == TASK_RUNNING && done->status
    &&  !(done->flags & ZF_FLAG_FINAL)) {
        retry_policy_t policy;
        s_task_policy (self, task, &policy);
        if (s_retry_allowed (self, task, &policy, done->status)) {
            s_retry (self, task, worker, &policy, done->status, done->text);
            s_worker_freed_slot (self, worker);
            return;
        }
    }
    if (task->state == TASK_RUNNING) {
        s_send_result (self, task, done->status, done->text,
                       in->payload, in->payload_count, done->flags);
    }
    s_task_delete (self, task);
    s_check_rss (self, worker);
    if (!worker->gone)
        s_worker_freed_slot (self, worker);
}

/* A worker learns the broker's heartbeat interval and liveness as soon as
 * it joins (and again with every HEARTBEAT), and uses them: settings of
 * its own that differ would make a healthy worker look dead, or a dead one
 * live too long. The first such worker is logged, the rest counted. */
static void
s_tell_heartbeat (broker_t *self, worker_t *worker, const zf_header_t *ready)
{
    zf_header_t header;
    broker_heartbeat_init (self, &header, ZF_HEARTBEAT);
    if (ready->heartbeat_ms && ready->liveness
    && (ready->heartbeat_ms != header.heartbeat_ms
        || ready->liveness != header.liveness)) {
        if (self->counters.heartbeat_overrides++ == 0)
            zf_notice ("worker %" PRIu32 "@%s asked for heartbeats every %"
                       PRIu32 " ms, liveness %" PRIu32 "; told to use the"
                       " broker's %" PRIu32 " ms, liveness %" PRIu32
                       " (logged once; see heartbeat_overrides in the"
                       " status)", worker->pid, worker->host,
                       ready->heartbeat_ms, ready->liveness,
                       header.heartbeat_ms, header.liveness);
    }
    s_tell_worker (self, worker, &header);
}

void
dispatch_worker_join (broker_t *self, const peer_id_t *from,
                      const char *key, const zf_header_t *ready)
{
    int64_t now = zf_now_ms ();
    worker_t *worker = worker_new (from, ready,
                                   self->services, now);
    if (key)
        snprintf (worker->key, sizeof worker->key, "%s", key);
    worker->expiry = now + self->liveness_ms;
    if (self->pool && strcmp (ready->host, zf_hostname ()) == 0)
        worker->pool_child = zf_pool_owner (self->pool, (pid_t) ready->pid);
    worker->last_active = zf_now_ms ();
    peer_table_insert (self->workers, worker);
    zf_list_push_back (&self->all_workers, &worker->all_link);
    worker->serial = ++self->counters.workers_joined;
    zf_info ("worker %" PRIu32 "@%s joined: %s%s, capacity %" PRIu32,
               worker->pid, worker->host, ready->services [0],
               ready->service_count > 1? " and more": "", worker->capacity);
    for (uint32_t i = 0; i < worker->service_count; i++)
        s_mark_pending (self, worker->services [i].service);
    if (ready->flags & ZF_FLAG_BATCH)
        outbox_open (self->outboxes, from);
    else
    if (outbox_is_open (self->outboxes, from)) {
        /* It sent a batch as a client, but reads none of TASKs. */
        outbox_flush (self->outboxes, from);
        outbox_close (self->outboxes, from, NULL);
    }
    s_tell_heartbeat (self, worker, ready);
}

/* TASKs (by dispatch id) that were held for worker and never left: back
 * to their queues with no retry spent, whatever became of the worker. */
static void
s_requeue_unsent (broker_t *self, worker_t *worker, const uint64_t *unsent,
                  uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        task_t *task = task_table_lookup (self->tasks, unsent [i]);
        if (task && task->worker == worker) {
            s_detach_from_worker (task);
            s_task_requeue (self, task, false, worker, "never sent");
        }
    }
}

void
dispatch_worker_unreachable (broker_t *self, worker_t *worker)
{
    assert (!worker->gone);
    if (worker->supervised || worker->pool_child) {
        if (!worker->closed)
            dispatch_worker_closed (self, worker, zf_now_ms ());
    }
    else
        dispatch_worker_delete (self, worker, "connection closed", true);
}

void
dispatch_peer_unreachable (broker_t *self, const peer_id_t *id,
                           const uint64_t *unsent, uint32_t unsent_count)
{
    worker_t *worker = peer_table_lookup (self->workers, id);
    if (!worker || worker->gone)
        return;
    s_requeue_unsent (self, worker, unsent, unsent_count);
    dispatch_worker_unreachable (self, worker);
}

void
dispatch_worker_closed (broker_t *self, worker_t *worker, int64_t now)
{
    assert (!worker->gone && (worker->supervised || worker->pool_child)
            && !worker->closed);
    worker->closed = true;
    worker->draining = worker->retiring = true;
    worker_update_idle (worker);
    if (worker->expiry > now + self->options.heartbeat_ms)
        worker->expiry = now + self->options.heartbeat_ms;
}

void
dispatch_worker_died (broker_t *self, const char *instance, const char *key,
                      const char *how)
{
    for (zf_link_t *at = self->all_workers.next; at != &self->all_workers;
         at = at->next) {
        worker_t *worker = zf_container_of (at, worker_t, all_link);
        if (worker->gone || !worker->supervised
        ||  strcmp (worker->instance, instance) != 0)
            continue;
        if (worker->key [0] && strcmp (worker->key, key) != 0) {
            self->counters.bad_messages++;
            broker_log_bad (self, "refused a report of worker %" PRIu32
                            "@%s's death from key %s, not its own",
                            worker->pid, worker->host, *key? key: "none");
            return;
        }
        /* Every record of it: one from before a reconnection may wait
         * for its expiry still. Deleted ones stay on the list (rule 1). */
        char reason [ZF_TEXT_MAX + 16];
        snprintf (reason, sizeof reason, "process %s", how);
        dispatch_worker_delete (self, worker, reason, true);
    }
}

/* Puts a task whose worker is gone back at the head of its queue (after
 * its back-off, if its policy has one), or ends it: WORKER_LOST when it
 * is not to be retried, SHUTDOWN while draining. A lost attempt
 * (spend_retry) is logged with why its worker was lost, and the final
 * WORKER_LOST says it too. */
static void
s_task_requeue (broker_t *self, task_t *task, bool spend_retry,
                const worker_t *worker, const char *reason)
{
    if (task->state == TASK_ABANDONED) {
        s_task_delete (self, task);
        return;
    }
    int64_t ran_ms = (zf_now_us () - task->dispatched_us) / 1000;
    task_label_t label;
    if (spend_retry)
        zf_warning ("task %s attempt %" PRIu32 " lost after %" PRId64
                    " ms with worker %" PRIu32 "@%s: %s",
                    s_label (task, &label), task->attempts, ran_ms,
                    worker->pid, worker->host, reason);
    if (self->draining) {
        s_task_fail (self, task, ZFARM_ESHUTDOWN, NULL);
        return;
    }
    if (!spend_retry) {
        task->attempts--;   /* that attempt does not count */
        s_enqueue (self, task, true);
        s_task_rearm (self, task);
        return;
    }
    retry_policy_t policy;
    s_task_policy (self, task, &policy);
    if (s_retry_allowed (self, task, &policy, ZFARM_EWORKER_LOST)) {
        s_retry (self, task, worker, &policy, ZFARM_EWORKER_LOST, reason);
        return;
    }
    char text [ZF_TEXT_MAX + 1];
    snprintf (text, sizeof text, "worker lost on each of %" PRIu32
              " attempt%s; the last ran %" PRId64 " ms: %s",
              task->attempts, task->attempts > 1? "s": "", ran_ms, reason);
    s_task_fail (self, task, ZFARM_EWORKER_LOST, text);
}

void
dispatch_worker_delete (broker_t *self, worker_t *worker, const char *reason,
                        bool spend_retry)
{
    assert (!worker->gone);
    if (spend_retry) {
        self->counters.workers_lost++;
        zf_warning ("worker %" PRIu32 "@%s lost (%s) with %" PRIu32
                      " task%s", worker->pid, worker->host, reason,
                      worker->running, worker->running == 1? "": "s");
    }
    else
        zf_info ("worker %" PRIu32 "@%s left (%s)", worker->pid,
                   worker->host, reason);
    peer_table_delete (self->workers, &worker->id);
    /* TASKs held for it never left: requeued first, with no retry spent,
     * whatever became of the worker. */
    uint64_t unsent [ZF_BATCH_ITEMS_MAX];
    uint32_t unsent_count = outbox_close (self->outboxes, &worker->id, unsent);
    s_requeue_unsent (self, worker, unsent, unsent_count);
    zf_list_remove (&worker->refill_link);
    worker_mark_gone (worker);
    zf_list_push_back (&self->gone_workers, &worker->gone_link);

    /* From the tail, pushing each to the head: the queue keeps their order.
     * Requeued tasks mark their services for the end of the event. */
    while (!zf_list_is_empty (&worker->tasks)) {
        task_t *task = zf_container_of (worker->tasks.prev, task_t, link);
        s_detach_from_worker (task);
        s_task_requeue (self, task, spend_retry, worker, reason);
    }
}

/* The task's result is no longer wanted; its worker drops it if it has
 * not started it, and with stop (a client's cancel) stops it if it has.
 * The task holds its slot until the worker's DONE, which says the work
 * has stopped, or until the worker is deleted (as it is at once if it
 * proves unreachable), which frees it. */
static void
s_abandon (broker_t *self, task_t *task, bool stop)
{
    zf_header_t header;
    zf_header_init (&header, ZF_CANCEL);
    header.task_id = task_dispatch_id (task);
    header.flags = stop? ZF_FLAG_STOP: 0;
    deadline_heap_remove (self->deadlines, &task->timer);
    s_task_disown (self, task);
    task->state = TASK_ABANDONED;
    s_tell_worker (self, task->worker, &header);
}

void
dispatch_progress (broker_t *self, worker_t *worker,
                   const zf_header_t *progress)
{
    assert (!worker->gone);
    task_t *task = task_table_lookup (self->tasks, progress->task_id);
    if (!task || task->worker != worker || task->state != TASK_RUNNING
    ||  !task->client || !(task->flags & ZF_FLAG_PROGRESS)) {
        self->counters.progress_dropped++;
        return;
    }
    zf_header_t header;
    zf_header_init (&header, ZF_PROGRESS);
    header.task_id = task->client_task_id;
    header.done = progress->done;
    header.total = progress->total;
    memcpy (header.text, progress->text, sizeof header.text);
    client_t *client = task->client;
    if (broker_send_header (self, &client->id, &header) == 0)
        self->counters.progress_forwarded++;
    else
        self->counters.progress_dropped++;
}

void
dispatch_slots (broker_t *self, worker_t *worker, const zf_header_t *slots)
{
    assert (!worker->gone);
    worker->shared = true;
    worker->credit = slots->free_slots < worker->capacity
                   ? slots->free_slots: worker->capacity;
    worker_update_idle (worker);
    /* A task sent for a slot that another broker's task took waits there:
     * it is one sent in advance now, which a free worker may steal, and a
     * worker of ours that is free already does so at once. */
    task_t *task = slots->task_id? task_table_lookup (self->tasks,
                                                      slots->task_id): NULL;
    if (task && task->worker == worker && task->state == TASK_RUNNING
    &&  !prefetch_is_waiting (task)) {
        prefetch_track_waiting (task);
        zf_link_t *idle = zf_list_first (&task->service->idle);
        if (idle)
            s_worker_freed_slot (self, zf_container_of (idle, membership_t,
                                                        idle_link)->worker);
    }
    if (worker_has_free_slot (worker) || worker_can_prefetch (worker))
        s_worker_freed_slot (self, worker);
}

void
dispatch_drain (broker_t *self, worker_t *worker)
{
    assert (!worker->gone);
    if (worker->draining)
        return;
    zf_info ("worker %" PRIu32 "@%s is draining (%" PRIu32 " tasks in "
             "hand)", worker->pid, worker->host, worker->running);
    worker->draining = worker->retiring = true;
    worker_update_idle (worker);
    /* The tasks it holds in advance would wait there until it leaves: ask
     * them back (CANCEL without STOP). Each comes back unstarted (DONE
     * CANCELLED: requeued, s_stolen) or, if it started meanwhile, with
     * its result. */
    zf_header_t header;
    zf_header_init (&header, ZF_CANCEL);
    for (zf_link_t *at = worker->tasks.next; at != &worker->tasks;
         at = at->next) {
        task_t *task = zf_container_of (at, task_t, link);
        if (!prefetch_is_waiting (task) || task->stealing)
            continue;
        task->stealing = true;
        header.task_id = task_dispatch_id (task);
        if (broker_send_header (self, &worker->id, &header) != 0) {
            /* Its tasks are requeued or wait for its end: the walk ends
             * here. */
            dispatch_worker_unreachable (self, worker);
            return;
        }
    }
}

void
dispatch_cancel (broker_t *self, task_t *task)
{
    self->counters.cancelled++;
    if (task->state == TASK_QUEUED) {
        s_unqueue (task);
        s_task_delete (self, task);
    }
    else
    if (task->state == TASK_DELAYED) {
        s_undelay (task);
        s_task_delete (self, task);
    }
    else
    if (task->state == TASK_RUNNING)
        s_abandon (self, task, true);
}

/* Why a waiting task's time ran out, as the client should hear it. */
static int
s_queued_expiry_code (const service_t *service)
{
    if (service->workers)
        return ZFARM_ETIMEOUT;
    return service->ever_had_workers? ZFARM_ENO_WORKERS: ZFARM_ENO_SUCH_SERVICE;
}

/* A worker that holds a task past --max-call-time: a local one is killed
 * (the pool replaces it), a remote one is told to go (its own host's
 * --max-call-time is what stops the task there). */
static void
s_worker_overran (broker_t *self, worker_t *worker)
{
    if (worker->gone)
        return;                 /* unreachable already */
    const char *reason = "a task overran --max-call-time";
    if (worker->pool_child)
        zf_pool_kill (self->pool, worker->pool_child, SIGKILL);
    else {
        zf_header_t header;
        zf_header_init (&header, ZF_DISCONNECT);
        zf_header_set_text (&header, reason);
        broker_send_header (self, &worker->id, &header);
    }
    dispatch_worker_delete (self, worker, reason, false);
}

void
dispatch_check_rss (broker_t *self, worker_t *worker)
{
    s_check_rss (self, worker);
    if (!worker->gone && worker->retiring && worker->running == 0)
        s_worker_freed_slot (self, worker);
}

void
dispatch_check_idle (broker_t *self, worker_t *worker, int64_t now)
{
    if (worker->gone || !worker->pool_child || !self->options.spawn_max
    ||  worker->running || worker->retiring
    ||  now - worker->last_active < self->options.idle_timeout_ms)
        return;
    if (zf_pool_shrink (self->pool, worker->pool_child) == 0)
        dispatch_worker_delete (self, worker, "idle past --idle-timeout",
                                false);
}

int64_t
dispatch_oldest_wait (broker_t *self, int64_t now)
{
    int64_t oldest = -1;
    for (service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services)) {
        int64_t submitted = task_queue_oldest_submitted (&service->queue);
        if (submitted >= 0 && now - submitted > oldest)
            oldest = now - submitted;
    }
    return oldest;
}

void
dispatch_expire (broker_t *self, int64_t now)
{
    heap_node_t *node;
    while ((node = deadline_heap_first (self->deadlines))
       &&  node->deadline <= now) {
        task_t *task = zf_container_of (node, task_t, timer);
        if (task->state == TASK_DELAYED
        &&  !(task->deadline && now >= task->deadline))
            s_fall_due (self, task, now);
        else
        if (task->state == TASK_DELAYED && s_is_backing_off (task)) {
            /* Its time ran out while it waited to be tried again: say
             * what the last attempt met. */
            s_undelay (task);
            char text [ZF_TEXT_MAX + 1];
            snprintf (text, sizeof text, "no result within %" PRIu32
                      " ms; attempt %" PRIu32 " failed: %s%s%s",
                      task->timeout_ms, task->attempts,
                      zfarm_err_name (task->retry->last_status),
                      task->retry->last_text? ": ": "",
                      task->retry->last_text? task->retry->last_text: "");
            s_task_fail (self, task, ZFARM_ETIMEOUT, text);
        }
        else
        if (task->state == TASK_DELAYED) {
            s_undelay (task);
            s_task_fail (self, task, s_queued_expiry_code (task->service), NULL);
        }
        else
        if (task->state == TASK_QUEUED) {
            s_unqueue (task);
            s_task_fail (self, task, s_queued_expiry_code (task->service), NULL);
        }
        else
        if (task->deadline && now >= task->deadline) {
            char text [96];
            snprintf (text, sizeof text, "no result within %" PRIu32 " ms",
                      task->timeout_ms);
            s_send_result (self, task, ZFARM_ETIMEOUT, text, NULL, 0, 0);
            s_abandon (self, task, false);
        }
        else {
            char text [96];
            snprintf (text, sizeof text, "ran longer than --max-call-time"
                      " %ld ms", self->options.max_call_time_ms);
            worker_t *worker = task->worker;
            retry_policy_t policy;
            s_task_policy (self, task, &policy);
            if (s_retry_allowed (self, task, &policy, ZFARM_ETIMEOUT)) {
                s_detach_from_worker (task);
                s_retry (self, task, worker, &policy, ZFARM_ETIMEOUT, text);
            }
            else {
                s_send_result (self, task, ZFARM_ETIMEOUT, text, NULL, 0, 0);
                s_abandon (self, task, false);
            }
            s_worker_overran (self, worker);
        }
    }
}

void
dispatch_fail_queued (broker_t *self, int code)
{
    for (service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services)) {
        task_t *task;
        while ((task = task_queue_next (&service->queue, 0))) {
            s_unqueue (task);
            s_task_fail (self, task, code, NULL);
        }
        zf_link_t *link;
        while ((link = zf_list_first (&service->delayed_tasks))) {
            task = zf_container_of (link, task_t, link);
            s_undelay (task);
            s_task_fail (self, task, code, NULL);
        }
    }
}

void
dispatch_fail_all (broker_t *self, int code)
{
    dispatch_fail_queued (self, code);
    for (zf_link_t *at = self->all_workers.next; at != &self->all_workers;
         at = at->next) {
        worker_t *worker = zf_container_of (at, worker_t, all_link);
        while (!zf_list_is_empty (&worker->tasks)) {
            task_t *task = zf_container_of (worker->tasks.next, task_t, link);
            s_detach_from_worker (task);
            if (task->state == TASK_RUNNING)
                s_task_fail (self, task, code, NULL);
            else
                s_task_delete (self, task);
        }
    }
}

size_t
dispatch_running (broker_t *self)
{
    size_t running = 0;
    for (zf_link_t *at = self->all_workers.next; at != &self->all_workers;
         at = at->next)
        running += zf_container_of (at, worker_t, all_link)->running;
    return running;
}

/* A worker's share of the pool digest: its instance, the same at every
 * broker it serves; one that says none counts by its routing id and this
 * broker's epoch, so that it matches no other broker's. */
static uint64_t
s_pool_share (const broker_t *self, const worker_t *worker)
{
    if (worker->instance [0])
        return zf_fnv1a (ZF_FNV_OFFSET, worker->instance,
                         strlen (worker->instance));
    uint64_t hash = zf_fnv1a (ZF_FNV_OFFSET, &self->epoch, sizeof self->epoch);
    return zf_fnv1a (hash, worker->id.data, worker->id.size);
}

void
dispatch_load (broker_t *self, dispatch_load_t *load)
{
    uint64_t running = 0, free_slots = 0, pool = 0;
    for (zf_link_t *at = self->all_workers.next; at != &self->all_workers;
         at = at->next) {
        const worker_t *worker = zf_container_of (at, worker_t, all_link);
        running += worker->running;
        if (worker->gone)
            continue;
        pool += s_pool_share (self, worker);    /* a sum: order is no matter */
        if (worker->retiring)
            continue;
        if (worker->shared)
            free_slots += worker->credit;
        else
        if (worker->running < worker->capacity)
            free_slots += worker->capacity - worker->running;
    }
    size_t tasks = task_table_size (self->tasks);
    load->queued = tasks > running? tasks - running: 0;
    load->free_slots = free_slots;
    load->pool = pool;
}

/* Destroys what was deleted during the event: no caller holds it now. */
static void
s_destroy_deleted (broker_t *self)
{
    zf_link_t *link;
    while ((link = zf_list_first (&self->gone_workers))) {
        worker_t *worker = zf_container_of (link, worker_t, gone_link);
        zf_list_remove (link);
        zf_list_remove (&worker->all_link);
        worker_destroy (&worker);
    }
    while ((link = zf_list_first (&self->unused_clients))) {
        client_t *client = zf_container_of (link, client_t, unused_link);
        zf_list_remove (link);
        if (client_task_count (client) == 0) {
            peer_table_delete (self->clients, &client->id);
            outbox_release (self->outboxes, &client->id);
            client_destroy (&client);
        }
    }
}

void
dispatch_settle (broker_t *self)
{
    assert (!self->settling);
    self->settling = true;
    zf_link_t *link;
    while (!zf_list_is_empty (&self->refill_workers)
       ||  !zf_list_is_empty (&self->pending_services)) {
        while ((link = zf_list_first (&self->refill_workers))) {
            zf_list_remove (link);
            s_refill (self, zf_container_of (link, worker_t, refill_link));
        }
        while ((link = zf_list_first (&self->pending_services))) {
            zf_list_remove (link);
            s_service_dispatch (self, zf_container_of (link, service_t,
                                                       pending_link));
        }
    }
    s_destroy_deleted (self);
    self->settling = false;
}
