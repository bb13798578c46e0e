/* metrics.c: Prometheus metrics. Every family is always present, with every
 * label value it can take, so that a query never depends on traffic. */
#include "metrics.h"
#include "service.h"
#include "task_table.h"
#include "worker_table.h"
#include "zf_util.h"
#include "zfarm_codes.h"

#include <assert.h>
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
    s_counter (out, "zfarm_tasks_delayed_total",
               "Tasks submitted with a delay.", c->delayed);
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
    s_counter (out, "zfarm_progress_forwarded_total",
               "Progress reports sent on to clients.", c->progress_forwarded);
    s_counter (out, "zfarm_progress_dropped_total",
               "Progress reports dropped: no such running task, no client,"
               " or not asked for.", c->progress_dropped);
    s_counter (out, "zfarm_batches_in_total",
               "BATCH messages received (of SUBMITs or DONEs).", c->batches_in);
    s_counter (out, "zfarm_batch_items_in_total",
               "Messages received inside BATCH messages.", c->batch_items_in);
    s_counter (out, "zfarm_batches_out_total",
               "BATCH messages sent (of TASKs or RESULTs).", c->batches_out);
    s_counter (out, "zfarm_batch_items_out_total",
               "Messages sent inside BATCH messages.", c->batch_items_out);
}

static void
s_services (FILE *out, const status_view_t *view)
{
    static const struct { const char *name, *help; } gauges [] = {
        { "zfarm_queue_depth", "Tasks waiting, per service." },
        { "zfarm_tasks_delayed", "Tasks not due yet, per service." },
        { "zfarm_tasks_running", "Tasks at workers, per service." },
        { "zfarm_service_workers", "Workers offering the service." },
        { "zfarm_queue_oldest_wait_seconds",
          "Time since the oldest task waiting in the service's queue was"
          " submitted; 0 when none waits." },
        { "zfarm_tasks_backing_off",
          "Failed tasks waiting out their back-off before a retry (counted"
          " in zfarm_tasks_delayed too)." },
    };
    zhashx_t *services = view->services;
    for (size_t g = 0; g < sizeof gauges / sizeof gauges [0]; g++) {
        s_family (out, gauges [g].name, "gauge", gauges [g].help);
        for (service_t *service = zhashx_first (services); service;
             service = zhashx_next (services)) {
            fprintf (out, "%s{service=\"", gauges [g].name);
            s_label (out, service->name);
            if (g == 4) {
                int64_t oldest = task_queue_oldest_submitted (&service->queue);
                int64_t wait = oldest < 0 || view->now < oldest? 0
                             : view->now - oldest;
                fprintf (out, "\"} %.3f\n", (double) wait / 1000.0);
                continue;
            }
            size_t value = g == 0? service->queued
                         : g == 1? service->delayed
                         : g == 2? service->running
                         : g == 3? service->workers: service->backing_off;
            fprintf (out, "\"} %zu\n", value);
        }
    }
}

/* One worker's slots: free (a task may be sent to them now) and busy (the
 * rest, which for a worker of several brokers holds their tasks too). A
 * retiring worker takes no task: its slots without one are neither. */
typedef struct {
    size_t free, busy;
} slot_count_t;

static slot_count_t
s_worker_slots (const worker_t *worker)
{
    if (worker->retiring)
        return (slot_count_t) {
            .busy = worker->running < worker->capacity? worker->running
                                                      : worker->capacity };
    uint32_t free_slots = worker_free_slots (worker);
    return (slot_count_t) { .free = free_slots,
                            .busy = worker->capacity - free_slots };
}

/* zfarm_slots{service,state}: the slots of the workers offering each
 * service, a worker offering several counted under each of them (its slots
 * serve whichever comes); zfarm_worker_slots{state}: every worker once. */
static void
s_slots (FILE *out, const status_view_t *view)
{
    zhashx_t *services = view->services;
    size_t count = zhashx_size (services);
    slot_count_t *counts = zf_malloc ((count? count: 1) * sizeof *counts);
    /* Service name (owned by the service, which outlives this) → counts. */
    zhashx_t *by_name = zhashx_new ();
    if (!by_name)
        zf_die_nomem ();
    zhashx_set_key_duplicator (by_name, NULL);
    zhashx_set_key_destructor (by_name, NULL);
    size_t next = 0;
    for (service_t *service = zhashx_first (services); service;
         service = zhashx_next (services)) {
        counts [next] = (slot_count_t) { 0, 0 };
        zhashx_insert (by_name, service->name, &counts [next++]);
    }
    slot_count_t all = { 0, 0 };
    for (const zf_link_t *at = view->workers->next; at != view->workers;
         at = at->next) {
        const worker_t *worker = zf_container_of (at, worker_t, all_link);
        if (worker->gone)
            continue;
        slot_count_t slots = s_worker_slots (worker);
        all.free += slots.free;
        all.busy += slots.busy;
        for (uint32_t i = 0; i < worker->service_count; i++) {
            slot_count_t *of = zhashx_lookup (by_name,
                                              worker->services [i].service->name);
            assert (of);
            of->free += slots.free;
            of->busy += slots.busy;
        }
    }
    s_family (out, "zfarm_slots", "gauge",
              "Slots of the workers offering the service, free or busy;"
              " a worker offering several services counts under each.");
    for (int busy = 0; busy < 2; busy++)
        for (service_t *service = zhashx_first (services); service;
             service = zhashx_next (services)) {
            const slot_count_t *of = zhashx_lookup (by_name, service->name);
            fprintf (out, "zfarm_slots{service=\"");
            s_label (out, service->name);
            fprintf (out, "\",state=\"%s\"} %zu\n", busy? "busy": "free",
                     busy? of->busy: of->free);
        }
    s_family (out, "zfarm_worker_slots", "gauge",
              "Slots of all registered workers, free or busy, each worker"
              " counted once.");
    fprintf (out, "zfarm_worker_slots{state=\"free\"} %zu\n"
             "zfarm_worker_slots{state=\"busy\"} %zu\n", all.free, all.busy);
    zhashx_destroy (&by_name);
    free (counts);
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

/* The local pool's size, bounds and why its processes changed. */
static void
s_pool (FILE *out, const pool_view_t *pool)
{
    if (!pool->present)
        return;
    s_family (out, "zfarm_pool_processes", "gauge",
              "Local pool processes running, and the pool's bounds.");
    fprintf (out, "zfarm_pool_processes{kind=\"running\"} %d\n"
             "zfarm_pool_processes{kind=\"min\"} %d\n"
             "zfarm_pool_processes{kind=\"max\"} %d\n",
             pool->running, pool->min, pool->max);
    s_counter (out, "zfarm_pool_grown_total",
               "Local processes added while tasks waited.", pool->grown);
    s_counter (out, "zfarm_pool_shrunk_total",
               "Local processes removed after their idle timeout.",
               pool->shrunk);
    s_family (out, "zfarm_pool_recycled_total", "counter",
              "Local processes retired and replaced, by reason.");
    for (int reason = 0; reason < ZF_POOL_REASONS; reason++)
        fprintf (out, "zfarm_pool_recycled_total{reason=\"%s\"} %" PRIu64
                 "\n", zf_pool_reason_name (reason), pool->recycled [reason]);
}

/* Detached tasks by state, dead letters, and the journal's writes. */
static void
s_detached (FILE *out, const detached_view_t *d)
{
    s_family (out, "zfarm_detached_tasks", "gauge",
              "Detached tasks by state (finished: results kept).");
    fprintf (out, "zfarm_detached_tasks{state=\"waiting\"} %" PRIu64 "\n"
             "zfarm_detached_tasks{state=\"running\"} %" PRIu64 "\n"
             "zfarm_detached_tasks{state=\"finished\"} %" PRIu64 "\n",
             d->waiting, d->running, d->finished);
    s_counter (out, "zfarm_detached_submitted_total",
               "Detached tasks stored since the broker started.", d->submitted);
    s_counter (out, "zfarm_detached_expired_total",
               "Results deleted past --result-ttl.", d->expired);
    s_family (out, "zfarm_dead_letters", "gauge", "Dead letters kept.");
    fprintf (out, "zfarm_dead_letters %" PRIu64 "\n", d->dead);
    s_counter (out, "zfarm_dead_letters_dropped_total",
               "Dead letters dropped past --dead-max.", d->dead_dropped);
    if (!d->enabled)
        return;
    s_family (out, "zfarm_journal_bytes", "gauge",
              "Bytes of the records in the journal.");
    fprintf (out, "zfarm_journal_bytes %" PRIu64 "\n", d->journal_bytes);
    s_counter (out, "zfarm_journal_commits_total",
               "Journal transactions committed.", d->commits);
    s_counter (out, "zfarm_journal_fsyncs_total",
               "Journal commits made durable with fsync.", d->fsyncs);
    s_counter (out, "zfarm_journal_write_errors_total",
               "Journal commits that failed (a full disk).", d->write_errors);
    s_counter (out, "zfarm_journal_records_lost_total",
               "Records found unreadable when the journal was opened.",
               d->lost);
    s_family (out, "zfarm_journal_damaged", "gauge",
              "1 if the journal was found damaged at start (and moved"
              " aside).");
    fprintf (out, "zfarm_journal_damaged %d\n", d->damaged);
}

/* Each local worker's resident memory when last read. */
static void
s_worker_rss (FILE *out, const status_view_t *view)
{
    s_family (out, "zfarm_worker_rss_bytes", "gauge",
              "Resident memory of each worker process: read by the broker"
              " for its own pool's, as its heartbeats say for the others.");
    for (const zf_link_t *at = view->workers->next; at != view->workers;
         at = at->next) {
        const worker_t *worker = zf_container_of (at, worker_t, all_link);
        if (worker->gone || !worker->rss_kb)
            continue;
        fprintf (out, "zfarm_worker_rss_bytes{pid=\"%" PRIu32 "\",host=\"",
                 worker->pid);
        s_label (out, worker->host);
        fprintf (out, "\"} %ld\n", worker->rss_kb * 1024);
    }
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
    s_services (out, view);
    s_slots (out, view);
    s_workers (out, view);
    s_pool (out, &view->pool);
    s_detached (out, &view->detached);
    s_worker_rss (out, view);
    s_latency (out, &view->counters->dispatch_latency);
    if (fclose (out) != 0)
        zf_die_nomem ();
    return text;
}
