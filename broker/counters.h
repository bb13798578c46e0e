/* counters.h: what the broker counts, for status and metrics. */
#ifndef COUNTERS_H
#define COUNTERS_H

#include <stdint.h>

#define COUNTERS_CODES 32       /* failed_by_code's size: ZF_CODE_INDEX */

/* Upper bounds (ms) of the dispatch latency buckets; one more for +Inf. */
#define LATENCY_BOUNDS_MS { 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, \
                            2500, 10000 }
#define LATENCY_BUCKETS 13

/* Time from a task's SUBMIT to its first dispatch. */
typedef struct {
    uint64_t buckets [LATENCY_BUCKETS];    /* per bucket, not cumulative */
    uint64_t count;
    double sum_ms;
} latency_t;

typedef struct {
    uint64_t submitted;         /* tasks accepted */
    uint64_t completed;         /* results with status 0 */
    uint64_t failed;            /* results with an error, any code */
    uint64_t failed_by_code [COUNTERS_CODES];
    uint64_t retried;           /* re-dispatches after a worker loss */
    uint64_t cancelled;         /* tasks cancelled by their client */
    uint64_t delayed;           /* tasks submitted with a delay */
    uint64_t workers_joined;
    uint64_t workers_lost;      /* died, fell silent or became unreachable */
    uint64_t workers_replaced;  /* local workers started again */
    uint64_t late_results_dropped;  /* DONEs for tasks given up on */
    uint64_t results_undeliverable; /* client gone before its result */
    uint64_t bad_messages;      /* refused as malformed or misplaced */
    uint64_t prefetched;        /* tasks sent to a busy worker in advance */
    uint64_t steals;            /* of those, asked back for an idle worker */
    uint64_t stolen;            /* and returned unstarted */
    uint64_t heartbeat_overrides;   /* workers that joined with heartbeat
                                       settings of their own, and were told
                                       the broker's */
    uint64_t progress_forwarded;    /* PROGRESS sent on to a client */
    uint64_t progress_dropped;      /* PROGRESS for a task not running at
                                       that worker, without a client, or
                                       that did not ask for it */
    uint64_t batches_in;        /* BATCH messages received */
    uint64_t batch_items_in;    /* items read from them */
    uint64_t batches_out;       /* BATCH messages sent */
    uint64_t batch_items_out;   /* items sent in them */
    latency_t dispatch_latency;
} counters_t;

#endif
