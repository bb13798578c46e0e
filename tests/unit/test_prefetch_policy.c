/* test_prefetch_policy.c: the broker's prefetch policy (broker/prefetch.h)
 * on its own, without sockets: which services' tasks go to a busy worker in
 * advance, how a worker's depth grows and halves, how many tasks it may
 * hold, which DONEs measure a task's time, and which task a worker with a
 * free slot asks back. Workers, services and tasks are the broker's own
 * records; the helpers below move tasks as dispatch.c does, and the tests
 * ask the policy at each step. */
#include "testlib.h"
#include "prefetch.h"
#include "zfarm_codes.h"

/* The broker's defaults: --prefetch on, --prefetch-below 5 (ms). */
static const prefetch_settings_t s_defaults = { .on = true, .below_us = 5000 };

static zhashx_t *s_services;
static task_table_t *s_tasks;

/* Averages are doubles: compared to the microsecond. */
#define ASSERT_US(a, b) ASSERT_EQ ((long long) ((a) + 0.5), (b))

static void
s_setup (void)
{
    s_services = service_table_new ();
    s_tasks = task_table_new ();
}

static void
s_teardown (void)
{
    ASSERT_EQ (task_table_size (s_tasks), 0);
    task_table_destroy (&s_tasks);
    zhashx_destroy (&s_services);
}

/* A worker from its READY: capacity slots, prefetch tasks per slot at
 * most, offering service and, unless NULL, also. */
static worker_t *
s_worker (uint8_t id, uint32_t capacity, uint32_t prefetch,
          const char *service, const char *also)
{
    zf_header_t ready;
    zf_header_init (&ready, ZF_READY);
    ready.capacity = capacity;
    ready.prefetch = prefetch;
    snprintf (ready.services [ready.service_count++],
              sizeof ready.services [0], "%s", service);
    if (also)
        snprintf (ready.services [ready.service_count++],
                  sizeof ready.services [0], "%s", also);
    peer_id_t peer;
    peer_id_set (&peer, &id, 1);
    return worker_new (&peer, &ready, s_services, 0);
}

/* A service whose tasks were measured: count of them, us each. */
static service_t *
s_service (const char *name, int count, double us)
{
    service_t *service = service_require (s_services, name);
    for (int i = 0; i < count; i++)
        task_time_add (&service->task_time, us);
    return service;
}

/* A task waiting in service's queue, with a payload of size bytes, at
 * priority (the higher runs first). */
static task_t *
s_queue (service_t *service, size_t size, int priority)
{
    task_t *task = task_table_alloc (s_tasks);
    task->service = service;
    task->state = TASK_QUEUED;
    task->priority = (uint8_t) priority;
    zmq_msg_t frame;
    ASSERT_EQ (zmq_msg_init_size (&frame, size), 0);
    task_take_payload (task, &frame, 1);
    task_queue_push (&service->queue, task);
    return task;
}

static void
s_unqueue (task_t *task)
{
    task_queue_remove (&task->service->queue, task);
    task_table_free (s_tasks, task);
}

/* Gives worker a task of service, as s_assign does: for a free slot, or
 * in advance (ahead) to a worker that is busy and holds fewer than its
 * depth allows. */
static task_t *
s_send (worker_t *worker, service_t *service, bool ahead)
{
    if (ahead)
        ASSERT (worker_can_prefetch (worker));
    else
        ASSERT (worker_has_free_slot (worker));
    task_t *task = task_table_alloc (s_tasks);
    task->service = service;
    task->state = TASK_RUNNING;
    task->worker = worker;
    task_begin_attempt (task);
    if (ahead)
        prefetch_track_waiting (task);
    zf_list_push_back (&worker->tasks, &task->link);
    worker->running++;
    worker_update_idle (worker);
    return task;
}

/* Takes a task off its worker, as s_detach_from_worker does. */
static void
s_detach (task_t *task)
{
    worker_t *worker = task->worker;
    zf_list_remove (&task->link);
    zf_list_remove (&task->prefetch_link);
    task->stealing = false;
    task->worker = NULL;
    worker->running--;
    worker_update_idle (worker);
}

/* Its worker's DONE for task: off the worker, whose next task held in
 * advance starts; the task is freed. */
static void
s_done (task_t *task)
{
    worker_t *worker = task->worker;
    s_detach (task);
    prefetch_start_next (worker);
    task_table_free (s_tasks, task);
}

/* A task asked back came back unstarted (s_stolen): off its worker. */
static void
s_returned (task_t *task)
{
    ASSERT (prefetch_is_returned (task, ZFARM_ECANCELLED));
    s_detach (task);
    task_table_free (s_tasks, task);
}

static void
s_worker_destroy (worker_t **worker_p)
{
    worker_t *worker = *worker_p;
    while (!zf_list_is_empty (&worker->tasks)) {
        task_t *task = zf_container_of (worker->tasks.next, task_t, link);
        s_detach (task);
        task_table_free (s_tasks, task);
    }
    worker_mark_gone (worker);
    worker_destroy (worker_p);
}

/* A DONE of worker's task of service, as s_deepen reads it: idle is its
 * flag IDLE (nothing waited at the worker for the slot it frees). */
static void
s_deepen (const prefetch_settings_t *settings, worker_t *worker,
          service_t *service, bool idle)
{
    bool starved = idle && prefetch_next_may_go (settings, service, 0);
    worker->prefetch_depth = prefetch_depth_after_done (worker->prefetch_depth,
                                                        worker->prefetch_max,
                                                        starved);
}

/* Short means: prefetch on, enough tasks measured, an average under
 * --prefetch-below. */
static void
test_short_services (void)
{
    task_time_t time = { 0 };
    for (int i = 0; i < PREFETCH_SAMPLES; i++) {
        ASSERT (!prefetch_allowed (&s_defaults, &time));   /* too few */
        task_time_add (&time, 1000);
    }
    ASSERT_EQ (time.samples, PREFETCH_SAMPLES);
    ASSERT (prefetch_allowed (&s_defaults, &time));

    prefetch_settings_t off = s_defaults;
    off.on = false;
    ASSERT (!prefetch_allowed (&off, &time));

    /* An average of exactly --prefetch-below is not short. */
    task_time_t at_limit = { .average_us = 5000, .samples = 100 };
    ASSERT (!prefetch_allowed (&s_defaults, &at_limit));
    at_limit.average_us = 4999.5;
    ASSERT (prefetch_allowed (&s_defaults, &at_limit));
    prefetch_settings_t higher = s_defaults;
    higher.below_us = 6000;
    at_limit.average_us = 5000;
    ASSERT (prefetch_allowed (&higher, &at_limit));
}

/* The average: the first task sets it, each later one weighs a tenth, so
 * one long task stops prefetch and a few short ones bring it back. */
static void
test_moving_average (void)
{
    task_time_t time = { 0 };
    task_time_add (&time, 2000);
    ASSERT_US (time.average_us, 2000);
    task_time_add (&time, 12000);
    ASSERT_US (time.average_us, 3000);      /* 0.9 × 2000 + 0.1 × 12000 */
    ASSERT_EQ (time.samples, 2);

    time = (task_time_t) { .average_us = 1000, .samples = 20 };
    ASSERT (prefetch_allowed (&s_defaults, &time));
    task_time_add (&time, 50000);           /* one 50 ms task */
    ASSERT_US (time.average_us, 5900);
    ASSERT (!prefetch_allowed (&s_defaults, &time));
    task_time_add (&time, 1000);
    ASSERT_US (time.average_us, 5410);
    ASSERT (!prefetch_allowed (&s_defaults, &time));
    task_time_add (&time, 1000);
    ASSERT_US (time.average_us, 4969);
    ASSERT (prefetch_allowed (&s_defaults, &time));
}

/* What may go in advance is the head of the queue, if the service is short
 * and its payload at most PREFETCH_PAYLOAD_MAX. */
static void
test_next_may_go (void)
{
    s_setup ();
    ASSERT (prefetch_payload_fits (0));
    ASSERT (prefetch_payload_fits (PREFETCH_PAYLOAD_MAX));
    ASSERT (!prefetch_payload_fits (PREFETCH_PAYLOAD_MAX + 1));

    service_t *fresh = s_service ("fresh", PREFETCH_SAMPLES - 1, 100);
    service_t *quick = s_service ("quick", PREFETCH_SAMPLES, 100);
    service_t *slow = s_service ("slow", PREFETCH_SAMPLES, 50000);
    ASSERT (!prefetch_next_may_go (&s_defaults, quick, 0));  /* nothing */
    task_t *small = s_queue (quick, 100, 4);
    ASSERT (prefetch_next_may_go (&s_defaults, quick, 0));
    prefetch_settings_t off = s_defaults;
    off.on = false;
    ASSERT (!prefetch_next_may_go (&off, quick, 0));

    /* A large task first in line stops it; second in line, it does not. */
    task_t *large = s_queue (quick, PREFETCH_PAYLOAD_MAX + 1, 9);
    ASSERT (!prefetch_next_may_go (&s_defaults, quick, 0));
    s_unqueue (small);
    small = s_queue (quick, PREFETCH_PAYLOAD_MAX, 9);
    s_unqueue (large);
    large = s_queue (quick, PREFETCH_PAYLOAD_MAX + 1, 4);
    ASSERT (prefetch_next_may_go (&s_defaults, quick, 0));

    task_t *unmeasured = s_queue (fresh, 100, 4);
    ASSERT (!prefetch_next_may_go (&s_defaults, fresh, 0));
    task_t *long_one = s_queue (slow, 100, 4);
    ASSERT (!prefetch_next_may_go (&s_defaults, slow, 0));

    s_unqueue (small);
    s_unqueue (large);
    s_unqueue (unmeasured);
    s_unqueue (long_one);
    s_teardown ();
}

/* A busy worker's depth starts at one task per slot, grows by one for
 * each DONE whose slot ran dry while a task that could have gone in
 * advance waited here, up to its READY's prefetch; halves when a task is
 * asked back from it; and stops growing while the service's tasks are
 * long. */
static void
test_depth_follows_the_worker (void)
{
    s_setup ();
    service_t *job = service_require (s_services, "job");
    worker_t *worker = s_worker (1, 2, 4, "job", NULL);
    ASSERT_EQ (worker->prefetch_depth, 1);
    ASSERT_EQ (worker->prefetch_max, 4);
    task_t *waiting = s_queue (job, 100, 4);

    /* Nothing measured yet: no prefetch, so no reason to deepen. */
    s_deepen (&s_defaults, worker, job, true);
    ASSERT_EQ (worker->prefetch_depth, 1);
    for (int i = 0; i < PREFETCH_SAMPLES; i++)
        task_time_add (&job->task_time, 200);

    /* A task waited at the worker for the slot (no IDLE): deep enough. */
    s_deepen (&s_defaults, worker, job, false);
    ASSERT_EQ (worker->prefetch_depth, 1);
    s_deepen (&s_defaults, worker, job, true);
    ASSERT_EQ (worker->prefetch_depth, 2);

    /* The slot ran dry, but nothing here could have filled it. */
    s_unqueue (waiting);
    s_deepen (&s_defaults, worker, job, true);
    ASSERT_EQ (worker->prefetch_depth, 2);
    waiting = s_queue (job, PREFETCH_PAYLOAD_MAX + 1, 4);
    s_deepen (&s_defaults, worker, job, true);
    ASSERT_EQ (worker->prefetch_depth, 2);
    s_unqueue (waiting);
    waiting = s_queue (job, 100, 4);
    prefetch_settings_t off = s_defaults;
    off.on = false;
    s_deepen (&off, worker, job, true);
    ASSERT_EQ (worker->prefetch_depth, 2);

    /* Up to its READY's prefetch, never past it. */
    s_deepen (&s_defaults, worker, job, true);
    ASSERT_EQ (worker->prefetch_depth, 3);
    s_deepen (&s_defaults, worker, job, true);
    ASSERT_EQ (worker->prefetch_depth, 4);
    s_deepen (&s_defaults, worker, job, true);
    ASSERT_EQ (worker->prefetch_depth, 4);

    /* A task taken back from it: half. */
    uint32_t halved = prefetch_depth_after_steal (worker->prefetch_depth);
    ASSERT_EQ (halved, 2);
    worker->prefetch_depth = halved;

    /* Its tasks grew long: a 50 ms one puts the average over 5 ms, and a
     * dry slot no longer deepens it. */
    task_time_add (&job->task_time, 50000);
    s_deepen (&s_defaults, worker, job, true);
    ASSERT_EQ (worker->prefetch_depth, 2);

    s_unqueue (waiting);
    s_worker_destroy (&worker);
    s_teardown ();
}

/* Half, rounded down, never below one. */
static void
test_depth_halves (void)
{
    static const uint32_t from [] = { 16, 8, 5, 4, 3, 2, 1 };
    static const uint32_t to [] = { 8, 4, 2, 2, 1, 1, 1 };
    for (size_t i = 0; i < sizeof from / sizeof from [0]; i++)
        ASSERT_EQ (prefetch_depth_after_steal (from [i]), to [i]);
}

/* A worker takes tasks in advance only while busy and below capacity ×
 * (1 + depth); at its deepest that is capacity × (1 + prefetch), what its
 * READY accepts. */
static void
test_held_at_most (void)
{
    s_setup ();
    service_t *job = s_service ("job", PREFETCH_SAMPLES, 100);
    worker_t *worker = s_worker (1, 2, 2, "job", NULL);
    ASSERT (!worker_can_prefetch (worker));     /* free slots come first */
    s_send (worker, job, false);
    ASSERT (!worker_can_prefetch (worker));
    s_send (worker, job, false);
    ASSERT (!worker_has_free_slot (worker));

    ASSERT_EQ (prefetch_held_max (2, 1), 4);
    s_send (worker, job, true);
    s_send (worker, job, true);
    ASSERT_EQ (worker->running, 4);
    ASSERT (!worker_can_prefetch (worker));

    worker->prefetch_depth = prefetch_depth_after_done (worker->prefetch_depth,
                                                        worker->prefetch_max,
                                                        true);
    worker_update_idle (worker);
    ASSERT_EQ (prefetch_held_max (2, 2), 6);
    s_send (worker, job, true);
    s_send (worker, job, true);
    ASSERT (!worker_can_prefetch (worker));
    worker->prefetch_depth = prefetch_depth_after_done (worker->prefetch_depth,
                                                        worker->prefetch_max,
                                                        true);
    ASSERT_EQ (worker->prefetch_depth, 2);
    worker_update_idle (worker);
    ASSERT (!worker_can_prefetch (worker));
    ASSERT_EQ (worker->running, 2 * (1 + 2));

    /* Whatever happens next, in any order, the depth stays within
     * 1..prefetch, so the bound holds: 10,000 DONEs and thefts. */
    static const uint32_t maxima [] = { 1, 3, ZF_PREFETCH_MAX };
    uint64_t x = 88172645463325252u;
    for (size_t m = 0; m < sizeof maxima / sizeof maxima [0]; m++) {
        uint32_t depth = 1, max = maxima [m], deepest = 1;
        for (int step = 0; step < 10000; step++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint32_t before = depth;
            if (x % 8 == 0)
                depth = prefetch_depth_after_steal (depth);
            else
                depth = prefetch_depth_after_done (depth, max, x % 8 < 5);
            ASSERT_INT (depth, >=, 1);
            ASSERT_INT (depth, <=, max);
            ASSERT_INT (depth, <=, before + 1);
            ASSERT_INT (prefetch_held_max (4, depth), <=, 4 * (1 + max));
            deepest = depth > deepest? depth: deepest;
        }
        ASSERT_EQ (deepest, max);
    }
    s_worker_destroy (&worker);
    s_teardown ();
}

/* A free worker asks back the task that has waited longest in advance, at
 * whichever worker: the one that would start next there, not the last one
 * of the worker that holds most. The depth of that worker alone halves. */
static void
test_steal_the_oldest (void)
{
    s_setup ();
    service_t *job = s_service ("job", PREFETCH_SAMPLES, 100);
    worker_t *a = s_worker (1, 1, 4, "job", NULL);
    worker_t *b = s_worker (2, 1, 4, "job", NULL);
    a->prefetch_depth = b->prefetch_depth = 4;
    task_t *a1 = s_send (a, job, false);
    task_t *b1 = s_send (b, job, false);
    task_t *a2 = s_send (a, job, true);
    task_t *b2 = s_send (b, job, true);
    task_t *a3 = s_send (a, job, true);
    task_t *a4 = s_send (a, job, true);
    ASSERT (prefetch_is_waiting (a2) && prefetch_is_waiting (a4));
    ASSERT (!prefetch_is_waiting (a1) && !prefetch_is_waiting (b1));

    worker_t *thief = s_worker (3, 1, 4, "job", NULL);
    ASSERT (prefetch_steal_choice (thief) == a2);
    prefetch_ask_back (a2);
    ASSERT (a2->stealing);
    ASSERT_EQ (a->prefetch_depth, 2);
    ASSERT_EQ (b->prefetch_depth, 4);

    /* While a2 is on its way back, that service gives no other thief a
     * task: one theft at a time. */
    worker_t *second = s_worker (4, 1, 4, "job", NULL);
    ASSERT (prefetch_steal_choice (second) == NULL);

    /* It comes back unstarted; then b2, sent before a3, is next. */
    ASSERT (!prefetch_is_returned (a2, 0));
    s_returned (a2);
    ASSERT (prefetch_steal_choice (thief) == b2);
    prefetch_ask_back (b2);
    ASSERT_EQ (b->prefetch_depth, 2);
    ASSERT_EQ (a->prefetch_depth, 2);

    /* b1 ended before the CANCEL reached b, so b2 started: its DONE is
     * its result, not a task come back. */
    s_done (b1);
    ASSERT (!prefetch_is_waiting (b2));
    ASSERT (!prefetch_is_returned (b2, 0));
    ASSERT (!prefetch_is_returned (b2, ZFARM_EHANDLER_ERROR));
    s_done (b2);
    ASSERT (prefetch_steal_choice (second) == a3);
    s_worker_destroy (&a);
    s_worker_destroy (&b);
    s_worker_destroy (&thief);
    s_worker_destroy (&second);
    s_teardown ();
}

/* A task the worker started is never asked back: each DONE at a worker
 * that held more than its slots starts its oldest task held in advance. */
static void
test_started_never_stolen (void)
{
    s_setup ();
    service_t *job = s_service ("job", PREFETCH_SAMPLES, 100);
    worker_t *busy = s_worker (1, 2, 2, "job", NULL);
    worker_t *thief = s_worker (2, 1, 2, "job", NULL);
    task_t *first = s_send (busy, job, false);
    task_t *second = s_send (busy, job, false);
    task_t *third = s_send (busy, job, true);
    task_t *fourth = s_send (busy, job, true);

    s_done (second);            /* a slot frees: third starts in it */
    ASSERT (!prefetch_is_waiting (third));
    ASSERT (prefetch_is_waiting (fourth));
    ASSERT (prefetch_steal_choice (thief) == fourth);

    s_done (first);             /* and fourth in the other */
    ASSERT (!prefetch_is_waiting (fourth));
    ASSERT (prefetch_steal_choice (thief) == NULL);

    s_worker_destroy (&busy);
    s_worker_destroy (&thief);
    s_teardown ();
}

/* No theft from a service with tasks queued, none of the thief's own
 * tasks, and the thief's services are asked in the order it offers
 * them. */
static void
test_what_is_not_stolen (void)
{
    s_setup ();
    service_t *first = s_service ("first", PREFETCH_SAMPLES, 100);
    service_t *second = s_service ("second", PREFETCH_SAMPLES, 100);
    worker_t *busy = s_worker (1, 1, 2, "first", "second");
    worker_t *thief = s_worker (2, 1, 2, "first", "second");

    s_send (busy, first, false);
    task_t *ahead_second = s_send (busy, second, true);
    ASSERT (prefetch_steal_choice (thief) == ahead_second);
    busy->prefetch_depth = 2;
    worker_update_idle (busy);
    task_t *ahead_first = s_send (busy, first, true);
    ASSERT (prefetch_steal_choice (thief) == ahead_first);

    /* first has a task queued: its tasks waiting in advance stay. */
    task_t *queued = s_queue (first, 100, 4);
    ASSERT (prefetch_steal_choice (thief) == ahead_second);
    task_t *queued_too = s_queue (second, 100, 4);
    ASSERT (prefetch_steal_choice (thief) == NULL);
    s_unqueue (queued);
    s_unqueue (queued_too);

    /* A worker never steals from itself. */
    ASSERT (prefetch_steal_choice (busy) == NULL);

    /* first's oldest is on its way back already: the next service gives
     * one. */
    prefetch_ask_back (ahead_first);
    ASSERT (prefetch_steal_choice (thief) == ahead_second);

    s_worker_destroy (&busy);
    s_worker_destroy (&thief);
    s_teardown ();
}

/* A DONE measures its service's task time only if the task ran from a
 * slot, still wanted, and succeeded. */
static void
test_what_is_measured (void)
{
    s_setup ();
    service_t *job = s_service ("job", 0, 0);
    worker_t *worker = s_worker (1, 1, 2, "job", NULL);
    task_t *ran = s_send (worker, job, false);
    task_t *ahead = s_send (worker, job, true);
    ASSERT (prefetch_counts_time (ran, 0));
    ASSERT (!prefetch_counts_time (ran, ZFARM_EHANDLER_ERROR));
    ASSERT (!prefetch_counts_time (ran, ZFARM_ECANCELLED));
    ran->state = TASK_ABANDONED;
    ASSERT (!prefetch_counts_time (ran, 0));
    /* A DONE for a task the broker still counts as waiting: its time
     * includes the wait. */
    ASSERT (!prefetch_counts_time (ahead, 0));

    /* Once the broker saw it start (its worker's slot freed), it counts:
     * prefetch_start_next names it, for its time to run from then. */
    worker_t *at = ran->worker;
    s_detach (ran);
    ASSERT (prefetch_start_next (at) == ahead);
    task_table_free (s_tasks, ran);
    ASSERT (prefetch_counts_time (ahead, 0));
    ASSERT (prefetch_start_next (at) == NULL);

    /* Asked back, then abandoned (timed out): its CANCELLED DONE ends it,
     * it does not come back to run. */
    task_t *again = s_send (worker, job, true);
    prefetch_ask_back (again);
    ASSERT (prefetch_is_returned (again, ZFARM_ECANCELLED));
    again->state = TASK_ABANDONED;
    ASSERT (!prefetch_is_returned (again, ZFARM_ECANCELLED));
    /* Not asked back: a CANCELLED DONE is an outcome, as any. */
    ASSERT (!prefetch_is_returned (ahead, ZFARM_ECANCELLED));

    s_worker_destroy (&worker);
    s_teardown ();
}

int
main (void)
{
    test_short_services ();
    TEST_PASS ("short services");
    test_moving_average ();
    TEST_PASS ("moving average");
    test_next_may_go ();
    TEST_PASS ("next may go");
    test_depth_follows_the_worker ();
    TEST_PASS ("depth follows the worker");
    test_depth_halves ();
    TEST_PASS ("depth halves");
    test_held_at_most ();
    TEST_PASS ("held at most");
    test_steal_the_oldest ();
    TEST_PASS ("steal the oldest");
    test_started_never_stolen ();
    TEST_PASS ("started never stolen");
    test_what_is_not_stolen ();
    TEST_PASS ("what is not stolen");
    test_what_is_measured ();
    TEST_PASS ("what is measured");
    return 0;
}
