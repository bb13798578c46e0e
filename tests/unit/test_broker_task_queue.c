/* test_broker_task_queue.c: a service's queue by priority (broker/
 * task_queue.h): order within and across levels, put-back at the head, the
 * --oldest-every bound, removal, and the walk task_queue_after gives. */
#include "testlib.h"
#include "task_queue.h"
#include "task_table.h"

#define TASKS 64

static task_t s_tasks [TASKS];

static task_t *
s_task (int index, int priority)
{
    task_t *task = &s_tasks [index];
    memset (task, 0, sizeof *task);
    task->slot = (uint32_t) index;
    task->priority = (uint8_t) priority;
    return task;
}

/* Takes what the queue gives next, as dispatch does. */
static int
s_take (task_queue_t *queue, uint32_t oldest_every)
{
    task_t *task = task_queue_next (queue, oldest_every);
    ASSERT (task);
    task_queue_take (queue, task);
    return (int) task->slot;
}

static void
test_priority_order (void)
{
    task_queue_t queue;
    task_queue_init (&queue);
    ASSERT (task_queue_is_empty (&queue));
    ASSERT (task_queue_next (&queue, 0) == NULL);
    /* 0:p4 1:p9 2:p4 3:p0 4:p9 */
    static const int priorities [] = { 4, 9, 4, 0, 9 };
    for (int i = 0; i < 5; i++)
        task_queue_push (&queue, s_task (i, priorities [i]));
    ASSERT_EQ (queue.size, 5);
    ASSERT_EQ (queue.counts [9], 2);
    static const int expected [] = { 1, 4, 0, 2, 3 };
    for (int i = 0; i < 5; i++)
        ASSERT_EQ (s_take (&queue, 0), expected [i]);
    ASSERT (task_queue_is_empty (&queue));
    ASSERT_EQ (queue.nonempty, 0);
}

static void
test_put_back_at_head (void)
{
    task_queue_t queue;
    task_queue_init (&queue);
    task_queue_push (&queue, s_task (0, 4));
    task_queue_push (&queue, s_task (1, 4));
    ASSERT_EQ (s_take (&queue, 0), 0);
    /* A lost worker's task comes back ahead of those that waited. */
    task_queue_push_front (&queue, &s_tasks [0]);
    ASSERT_EQ (s_take (&queue, 0), 0);
    ASSERT_EQ (s_take (&queue, 0), 1);
}

/* With oldest_every N, a low-priority task under a stream of high ones is
 * taken within N takes. */
static void
test_oldest_every (void)
{
    task_queue_t queue;
    task_queue_init (&queue);
    task_queue_push (&queue, s_task (0, 0));
    int next = 1, taken_at = -1;
    for (int turn = 0; turn < 40 && taken_at < 0; turn++) {
        task_queue_push (&queue, s_task (next, 9));
        next = next % (TASKS - 1) + 1;
        if (s_take (&queue, 4) == 0)
            taken_at = turn;
    }
    ASSERT_INT (taken_at, >=, 0);
    ASSERT_INT (taken_at, <, 4);
    /* Strict priority (0) would never take it. */
    task_queue_init (&queue);
    task_queue_push (&queue, s_task (0, 0));
    for (int turn = 0; turn < 40; turn++) {
        task_queue_push (&queue, s_task (1 + turn % 8, 9));
        ASSERT_NE (s_take (&queue, 0), 0);
    }
}

static void
test_remove_and_after (void)
{
    task_queue_t queue;
    task_queue_init (&queue);
    /* Walk order: 1 (p9), 0, 2 (p4), 3 (p0). */
    static const int priorities [] = { 4, 9, 4, 0 };
    for (int i = 0; i < 4; i++)
        task_queue_push (&queue, s_task (i, priorities [i]));
    task_t *at = task_queue_next (&queue, 0);
    static const int walk [] = { 1, 0, 2, 3 };
    for (int i = 0; i < 4; i++) {
        ASSERT (at);
        ASSERT_EQ (at->slot, walk [i]);
        at = task_queue_after (&queue, at);
    }
    ASSERT (at == NULL);
    /* Emptied levels are skipped. */
    task_queue_remove (&queue, &s_tasks [0]);
    task_queue_remove (&queue, &s_tasks [2]);
    ASSERT_EQ (queue.counts [4], 0);
    ASSERT (task_queue_after (&queue, &s_tasks [1]) == &s_tasks [3]);
    ASSERT_EQ (s_take (&queue, 0), 1);
    ASSERT_EQ (s_take (&queue, 0), 3);
    ASSERT (task_queue_is_empty (&queue));
}

int
main (void)
{
    test_priority_order ();
    test_put_back_at_head ();
    test_oldest_every ();
    test_remove_and_after ();
    printf ("test_broker_task_queue: OK\n");
    return 0;
}
