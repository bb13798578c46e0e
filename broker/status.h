/* status.h: the broker's state as the JSON document that STATUS returns. */
#ifndef STATUS_H
#define STATUS_H

#include <czmq.h>
#include "counters.h"
#include "zf_list.h"

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
} status_view_t;

/* The document described in README.md ("Status"). Caller frees. */
char *
    status_json (const status_view_t *view);

#endif
