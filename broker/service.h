/* service.h: a named service: its queue of waiting tasks (by priority,
 * task_queue.h) and its LRU list of workers with a free slot.
 *
 * Invariant, at the end of every event the broker handles: a service never
 * has both a waiting task and an idle worker. Nor, while it prefetches, a
 * waiting task and a worker that can take one more in advance. Services
 * live as long as the broker (at most SERVICES_LIMIT of them), so a
 * pointer to one never dangles. */
#ifndef SERVICE_H
#define SERVICE_H

#include <czmq.h>
#include <stdbool.h>
#include "zf_defaults.h"
#include "task_queue.h"
#include "zf_list.h"

/* How long a service's tasks take at a worker, as measured from their
 * DONEs (prefetch.h decides which count). */
typedef struct {
    double average_us;          /* moving average, dispatch to DONE,
                                   microseconds */
    uint64_t samples;           /* tasks measured */
} task_time_t;

typedef struct service {
    char name [ZF_SERVICE_MAX + 1];
    task_queue_t queue;         /* waiting tasks; task_queue_next runs
                                   next */
    zf_link_t delayed_tasks;    /* task_t.link of its TASK_DELAYED tasks,
                                   in no order (their timers order them) */
    zf_link_t idle;             /* membership_t.idle_link; head = LRU */
    zf_link_t prefetchers;      /* membership_t.idle_link of busy workers
                                   that can hold one more task; head = LRU */
    zf_link_t prefetched;       /* task_t.prefetch_link: tasks waiting at a
                                   busy worker, oldest first */
    zf_link_t pending_link;     /* in the broker's list of services to
                                   dispatch at the end of the event */
    task_time_t task_time;      /* its tasks' time at a worker: whether
                                   they are short enough to prefetch */
    size_t queued;              /* tasks in queue */
    size_t delayed;             /* tasks not due yet (TASK_DELAYED) */
    size_t backing_off;         /* of those, retries waiting out their
                                   back-off */
    size_t running;             /* tasks at workers */
    size_t workers;             /* workers offering the service */
    bool ever_had_workers;      /* tells NO_SUCH_SERVICE from NO_WORKERS */
    uint64_t completed;         /* results delivered, ok or not */
} service_t;

/* A table of services by name, which owns them. */
zhashx_t *
    service_table_new (void);

/* The service called name, created empty if new. */
service_t *
    service_require (zhashx_t *services, const char *name);

#endif
