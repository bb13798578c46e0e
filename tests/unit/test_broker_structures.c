/* test_broker_structures.c: the broker's dispatch structures on their own:
 * the deadline heap, the task table's ids, and a service's LRU idle list. */
#include "testlib.h"
#include "deadline_heap.h"
#include "service.h"
#include "task_table.h"
#include "worker_table.h"

static void
test_heap (void)
{
    deadline_heap_t *heap = deadline_heap_new ();
    enum { COUNT = 1000 };
    static heap_node_t nodes [COUNT];
    /* A permutation, so that every order of insertion is exercised. */
    for (int i = 0; i < COUNT; i++) {
        heap_node_init (&nodes [i]);
        nodes [i].deadline = (i * 7919) % COUNT;
        deadline_heap_insert (heap, &nodes [i]);
    }
    /* Remove every third from the middle of the heap. */
    for (int i = 0; i < COUNT; i += 3)
        deadline_heap_remove (heap, &nodes [i]);
    deadline_heap_remove (heap, &nodes [0]);     /* a second time: no-op */
    int64_t last = -1;
    size_t popped = 0;
    heap_node_t *node;
    while ((node = deadline_heap_first (heap))) {
        ASSERT_INT (node->deadline, >=, last);
        last = node->deadline;
        deadline_heap_remove (heap, node);
        ASSERT (!heap_node_is_queued (node));
        popped++;
    }
    ASSERT_EQ (popped, COUNT - (COUNT + 2) / 3);
    deadline_heap_destroy (&heap);
    deadline_heap_destroy (&heap);
}

static void
test_task_ids (void)
{
    task_table_t *table = task_table_new ();
    task_t *task = task_table_alloc (table);
    task->state = TASK_RUNNING;
    task_begin_attempt (task);
    uint64_t first = task_dispatch_id (task);
    ASSERT (task_table_lookup (table, first) == task);
    ASSERT (task_table_lookup (table, 0) == NULL);
    ASSERT (task_table_lookup (table, first + 1) == NULL);
    ASSERT (task_table_lookup (table, UINT64_MAX) == NULL);

    /* A new attempt: the old id no longer names the task. */
    task_begin_attempt (task);
    uint64_t second = task_dispatch_id (task);
    ASSERT_NE (second, first);
    ASSERT (task_table_lookup (table, first) == NULL);
    ASSERT (task_table_lookup (table, second) == task);
    ASSERT_EQ (task->attempts, 2);

    /* Freed and reused: neither old id names the new task. */
    task_table_free (table, task);
    ASSERT (task_table_lookup (table, second) == NULL);
    task_t *again = task_table_alloc (table);
    ASSERT (again == task);
    again->state = TASK_RUNNING;
    task_begin_attempt (again);
    ASSERT (task_table_lookup (table, second) == NULL);
    ASSERT (task_table_lookup (table, task_dispatch_id (again)) == again);

    /* Growth keeps addresses: many tasks, all findable. */
    static task_t *many [5000];
    for (int i = 0; i < 5000; i++) {
        many [i] = task_table_alloc (table);
        many [i]->state = TASK_RUNNING;
        task_begin_attempt (many [i]);
    }
    for (int i = 0; i < 5000; i++)
        ASSERT (task_table_lookup (table, task_dispatch_id (many [i])) == many [i]);
    ASSERT_EQ (task_table_size (table), 5001);
    task_table_destroy (&table);
}

static worker_t *
s_worker (zhashx_t *services, const char *name, uint8_t id, uint32_t capacity)
{
    zf_header_t ready;
    zf_header_init (&ready, ZF_READY);
    ready.service_count = 1;
    strcpy (ready.services [0], name);
    ready.capacity = capacity;
    peer_id_t peer;
    peer_id_set (&peer, &id, 1);
    return worker_new (&peer, &ready, services, 0);
}

static worker_t *
s_idle_head (service_t *service)
{
    zf_link_t *first = zf_list_first (&service->idle);
    return first? zf_container_of (first, membership_t, idle_link)->worker: NULL;
}

static void
test_lru (void)
{
    zhashx_t *services = service_table_new ();
    worker_t *a = s_worker (services, "echo", 1, 1);
    worker_t *b = s_worker (services, "echo", 2, 2);
    service_t *echo = service_require (services, "echo");
    ASSERT_EQ (echo->workers, 2);
    ASSERT (echo->ever_had_workers);
    ASSERT (s_idle_head (echo) == a);

    /* a takes a task: full, it leaves the idle list. */
    a->running = 1;
    worker_touch (a, echo);
    worker_update_idle (a);
    ASSERT (s_idle_head (echo) == b);
    /* b takes one of two: still idle, now behind nobody else. */
    b->running = 1;
    worker_touch (b, echo);
    worker_update_idle (b);
    ASSERT (s_idle_head (echo) == b);
    /* a frees its slot: it goes to the back, b stays least recently used. */
    a->running = 0;
    worker_update_idle (a);
    ASSERT (s_idle_head (echo) == b);
    worker_touch (b, echo);
    ASSERT (s_idle_head (echo) == a);
    /* Retiring: never idle again. */
    a->retiring = true;
    worker_update_idle (a);
    ASSERT (s_idle_head (echo) == b);

    /* Deleted: it offers nothing from then on, before it is destroyed. */
    b->running = 0;
    worker_mark_gone (b);
    ASSERT (b->gone);
    ASSERT_EQ (echo->workers, 1);
    ASSERT (zf_list_is_empty (&echo->idle));
    worker_mark_gone (a);
    ASSERT_EQ (echo->workers, 0);
    worker_destroy (&a);
    worker_destroy (&b);
    ASSERT (!a && !b);
    zhashx_destroy (&services);
}

int
main (void)
{
    test_heap ();
    test_task_ids ();
    test_lru ();
    TEST_PASS ("test_broker_structures");
    return 0;
}
