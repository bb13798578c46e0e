/* prefetch.h: the prefetch policy: which tasks go to a busy worker in
 * advance, how many a worker may hold, how its depth grows and halves, which
 * DONEs measure a service's task time, and which task a worker with a free
 * slot asks back. It decides, and keeps the list of tasks waiting in
 * advance; it sends nothing and owns nothing: dispatch.c sends the TASKs
 * and CANCELs and moves the tasks between queues and workers.
 *
 * Invariant: a worker's depth stays within 1..its READY's prefetch, and no
 * task goes to it in advance while it holds capacity * (1 + depth), so it
 * never holds more than capacity * (1 + prefetch), which it accepts. */
#ifndef PREFETCH_H
#define PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "service.h"
#include "task_table.h"
#include "worker_table.h"

/* Tasks of a service measured before its average decides anything. */
#define PREFETCH_SAMPLES     8
/* Larger tasks are never sent in advance: moving one takes longer than the
 * round trip that prefetch saves, and one taken back (stolen) would cross
 * the network twice. */
#define PREFETCH_PAYLOAD_MAX (64 * 1024)

/* The broker's settings that rule it. */
typedef struct {
    bool on;                    /* --prefetch */
    long below_us;              /* --prefetch-below: a service is short if
                                   its average task time is under this */
} prefetch_settings_t;

/* ---- Decisions over values ------------------------------------------- */

/* True if the tasks of a service that measured time may go to busy
 * workers in advance: prefetch is on, PREFETCH_SAMPLES of them were
 * measured, and their average is under settings' below_us. */
bool
    prefetch_allowed (const prefetch_settings_t *settings,
                      const task_time_t *time);

/* True if a task of payload_size bytes may go in advance (of a service
 * prefetch_allowed): at most PREFETCH_PAYLOAD_MAX. */
bool
    prefetch_payload_fits (size_t payload_size);

/* Tasks a worker of capacity slots may hold, running and waiting, while
 * its depth is depth tasks per slot in advance: capacity * (1 + depth). */
uint32_t
    prefetch_held_max (uint32_t capacity, uint32_t depth);

/* A worker's depth after one of its DONEs: one more, up to max (its
 * READY's prefetch), if starved: the DONE said IDLE (nothing waited at the
 * worker for that slot) while the queue of the task's service held a task
 * that may go in advance, so the slot idled a round trip for nothing.
 * Otherwise unchanged. */
uint32_t
    prefetch_depth_after_done (uint32_t depth, uint32_t max, bool starved);

/* A worker's depth once a task is asked back from it: it held more than
 * it could start in time. Half, and at least 1. */
uint32_t
    prefetch_depth_after_steal (uint32_t depth);

/* Adds one task's time at its worker (dispatch to DONE, microseconds) to
 * its service's average: the first sets it, each later one weighs a tenth
 * (a moving average that forgets old tasks). */
void
    task_time_add (task_time_t *self, double us);

/* ---- Over the broker's records (no messages) ------------------------- */

/* True if the task next in service's queue (task_queue_next's, with
 * oldest_every) may go to a busy worker in advance: the service is
 * prefetch_allowed and the task's payload fits. False if none waits. */
bool
    prefetch_next_may_go (const prefetch_settings_t *settings,
                          const service_t *service, uint32_t oldest_every);

/* task, just sent to its busy worker in advance, waits there: it may be
 * asked back until its worker starts it. */
void
    prefetch_track_waiting (task_t *task);

/* True if task waits at its worker, sent in advance and, as far as the
 * broker knows, not started. */
bool
    prefetch_is_waiting (const task_t *task);

/* A task of worker ended and is off its list: if the worker still holds
 * as many tasks as it has slots, the oldest it held in advance starts now
 * (the worker library runs them oldest first) and can no longer be asked
 * back. Returns that task, whose run begins now, or NULL. */
task_t *
    prefetch_start_next (worker_t *worker);

/* True if the DONE (status) of task measures its service's task time: the
 * broker saw it start (one still waiting in advance would add its wait),
 * its result was wanted (RUNNING) and it succeeded. */
bool
    prefetch_counts_time (const task_t *task, int status);

/* The task that thief, a worker with a free slot left after it took what
 * its services had queued, is to ask back, or NULL: in the first of its
 * services, in the order it offers them, whose queue is empty, the task
 * that has waited longest in advance at a busy worker, unless that one is
 * asked back already or waits at the thief (then that service gives none:
 * one theft at a time each). */
task_t *
    prefetch_steal_choice (const worker_t *thief);

/* Marks task asked back (CANCEL without STOP, sent by the caller): no
 * thief chooses it again, and its worker's depth halves. */
void
    prefetch_ask_back (task_t *task);

/* True if a DONE with status for task, asked back, is the task coming
 * back unstarted (CANCELLED): it runs elsewhere. Any other DONE of it is
 * its result, as usual. */
bool
    prefetch_is_returned (const task_t *task, int status);

#endif
