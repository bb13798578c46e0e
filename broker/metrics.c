/* metrics.c: Prometheus metrics. Every family is always present, with every
 * label value it can take, so that a query never depends on traffic. */
#include "metrics.h"
#include "service.h"
#include "worker_table.h"
#include "zf_util.h"
#include "zfarm_codes.h"

#include <inttypes.h>
#include <stdio.h>

static void
s_family (FILE *out, const char *name, const char *type, const char *help)
{
    fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
s_counter (FILE *out, const char *name, const char *help, uint64_t value)
{
    s_family (out, name, "counter", help);
    fprintf (out, "%s %" PRIu64 "\n", name, value);
}

/* A label value, escaped as the exposition format asks: backslash, double
 * quote and newline. (Service names are printable ASCII, by the decoder, so
 * the newline is only in case that changes.) */
static void
s_label (FILE *out, const char *value)
{
    for (; *value; value++) {
        if (*value == '\n')
            fputs ("\\n", out);
        else {
            if (*value == '\\' || *value == '"')
                fputc ('\\', out);
            fputc (*value, out);
        }
    }
}

static void
s_tasks (FILE *out, const counters_t *c)
{
    s_counter (out, "zfarm_tasks_submitted_total", "Tasks accepted.", c->submitted);
    s_counter (out, "zfarm_tasks_completed_total", "Tasks that succeeded.",
               c->completed);
    s_family (out, "zfarm_tasks_failed_total", "counter",
              "Tasks that ended with an error, by code.");
#define ZFARM_XX(name, num, text) \
    if (num < COUNTERS_CODES) \
        fprintf (out, "zfarm_tasks_failed_total{code=\"%s\"} %" PRIu64 "\n", \
                 #name, c->failed_by_code [num]);
    ZFARM_ERRNO_MAP (ZFARM_XX)
#undef ZFARM_XX
    s_counter (out, "zfarm_tasks_retried_total",
               "Re-dispatches after a worker was lost.", c->retried);
    s_counter (out, "zfarm_tasks_cancelled_total", "Tasks cancelled by clients.",
               c->cancelled);
    s_counter (out, "zfarm_late_results_dropped_total",
               "Results for attempts that were given up on.",
               c->late_results_dropped);
    s_counter (out, "zfarm_bad_messages_total",
               "Messages refused as malformed or misplaced.", c->bad_messages);
    s_counter (out, "zfarm_tasks_prefetched_total",
               "Tasks sent to a busy worker in advance.", c->prefetched);
    s_counter (out, "zfarm_tasks_stolen_total",
               "Tasks sent in advance, then taken back for an idle worker.",
               c->stolen);
}

static void
s_services (FILE *out, zhashx_t *services)
{
    static const struct { const char *name, *help; } gauges [] = {
        { "zfarm_queue_depth", "Tasks waiting, per service." },
        { "zfarm_tasks_running", "Tasks at workers, per service." },
        { "zfarm_service_workers", "Workers offering the service." },
    };
    for (size_t g = 0; g < 3; g++) {
        s_family (out, gauges [g].name, "gauge", gauges [g].help);
        for (service_t *service = zhashx_first (services); service;
             service = zhashx_next (services)) {
            size_t value = g == 0? service->queued
                         : g == 1? service->running: service->workers;
            fprintf (out, "%s{service=\"", gauges [g].name);
            s_label (out, service->name);
            fprintf (out, "\"} %zu\n", value);
        }
    }
}

static void
s_workers (FILE *out, const status_view_t *view)
{
    size_t ready = 0, busy = 0, retiring = 0;
    for (const zf_link_t *at = view->workers->next; at != view->workers;
         at = at->next) {
        const worker_t *worker = zf_container_of (at, worker_t, all_link);
        if (worker->gone)
            continue;
        if (worker->retiring)
            retiring++;
        else
        if (!worker_has_free_slot (worker))
            busy++;
        else
            ready++;
    }
    s_family (out, "zfarm_workers", "gauge", "Registered workers, by state.");
    fprintf (out, "zfarm_workers{state=\"ready\"} %zu\n"
             "zfarm_workers{state=\"busy\"} %zu\n"
             "zfarm_workers{state=\"retiring\"} %zu\n", ready, busy, retiring);
    const counters_t *c = view->counters;
    s_counter (out, "zfarm_workers_joined_total", "Workers that registered.",
               c->workers_joined);
    s_counter (out, "zfarm_workers_lost_total",
               "Workers that died, fell silent or became unreachable.",
               c->workers_lost);
    s_counter (out, "zfarm_workers_replaced_total",
               "Local workers started again after one ended.",
               c->workers_replaced);
    s_counter (out, "zfarm_heartbeat_overrides_total",
               "Workers that joined with heartbeat settings of their own"
               " and were told the broker's.", c->heartbeat_overrides);
}

static void
s_latency (FILE *out, const latency_t *latency)
{
    static const double bounds [] = LATENCY_BOUNDS_MS;
    const char *name = "zfarm_dispatch_latency_seconds";
    s_family (out, name, "histogram",
              "Time from a task's submission to its first dispatch.");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < LATENCY_BUCKETS; i++) {
        cumulative += latency->buckets [i];
        if (i < LATENCY_BUCKETS - 1)
            fprintf (out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                     bounds [i] / 1000.0, cumulative);
        else
            fprintf (out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name,
                     cumulative);
    }
    fprintf (out, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name,
             latency->sum_ms / 1000.0, name, latency->count);
}

char *
metrics_text (const status_view_t *view)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        zf_die_nomem ();
    s_family (out, "zfarm_build_info", "gauge", "The broker's version.");
    fprintf (out, "zfarm_build_info{version=\"%s\"} 1\n", ZFARM_VERSION);
    s_family (out, "zfarm_uptime_seconds", "gauge", "Time since the broker started.");
    fprintf (out, "zfarm_uptime_seconds %.3f\n", view->uptime_ms / 1000.0);
    s_tasks (out, view->counters);
    s_services (out, view->services);
    s_workers (out, view);
    s_latency (out, &view->counters->dispatch_latency);
    if (fclose (out) != 0)
        zf_die_nomem ();
    return text;
}
