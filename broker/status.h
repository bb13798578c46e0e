/* status.h: the broker's state as the JSON document that STATUS returns. */
#ifndef STATUS_H
#define STATUS_H

#include <czmq.h>
#include "counters.h"
#include "zf_list.h"
#include "zf_pool.h"

/* The local pool (--spawn), as status and metrics show it. */
typedef struct {
    bool present;               /* the broker has one */
    int running;                /* processes running now */
    int min, max;               /* its elastic bounds (equal when fixed) */
    uint64_t grown, shrunk;     /* processes added for a queue, removed
                                   when idle */
    uint64_t recycled [ZF_POOL_REASONS];    /* by zf_pool_reason_t */
    long max_rss_mb, max_rss_hard_mb;       /* 0: no limit */
} pool_view_t;

/* Detached tasks, dead letters and the journal (detached.h). */
typedef struct {
    bool enabled;               /* a journal is open */
    const char *dir;
    const char *sync;
    uint64_t waiting;           /* detached tasks queued or delayed */
    uint64_t running;
    uint64_t finished;          /* results kept */
    uint64_t submitted;         /* since start */
    uint64_t dead;              /* dead letters kept */
    uint64_t dead_dropped;      /* dropped past --dead-max */
    uint64_t journal_bytes;
    uint64_t journal_records;
    uint64_t commits;
    uint64_t fsyncs;
    uint64_t write_errors;
    uint64_t lost;              /* records unreadable at start */
    bool damaged;               /* the journal was damaged at start */
    uint64_t expired;           /* results deleted past --result-ttl */
} detached_view_t;

typedef struct {
    uint64_t epoch;             /* the broker's random start id */
    int64_t uptime_ms;
    int64_t now;                /* ms, monotonic */
    const char *const *endpoints;
    int endpoint_count;
    const zf_link_t *workers;   /* worker_t.all_link */
    zhashx_t *services;         /* service_t by name */
    const counters_t *counters;
    const char *host;           /* this machine: workers here are local */
    const char *http;           /* URL of the HTTP port, or NULL */
    bool reserved_ids;          /* libzmq is zfarm's patched one */
    pool_view_t pool;
    detached_view_t detached;
} status_view_t;

/* Writes text as a JSON string that is safe on a terminal and in a page
 * (escaped as status.c says). */
void
    status_string (FILE *out, const char *text);

/* The document described in README.md ("Status"). Caller frees. */
char *
    status_json (const status_view_t *view);

#endif
