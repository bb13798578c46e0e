/* status.c: renders broker state as JSON (keys are stable: see README.md). */
#include "status.h"
#include "service.h"
#include "worker_table.h"
#include "zf_escape.h"
#include "zf_util.h"
#include "zfarm_codes.h"

#include <inttypes.h>
#include <stdio.h>

/* A JSON string (RFC 8259) that is also safe to print on a terminal and
 * to paste into a page: control characters (C0, DEL, C1) as \u00XX; a
 * byte that is not UTF-8 as U+FFFD, since a document must be UTF-8; and,
 * as Go's encoder does, <, >, &, U+2028 and U+2029 as \uXXXX, so that the
 * text cannot close a script element or a JavaScript string it is put in.
 * A peer's names are bounded to printable ASCII by the decoder; this holds
 * for the broker's own host name and endpoints too. */
void
status_string (FILE *out, const char *text)
{
    fputc ('"', out);
    const unsigned char *at = (const unsigned char *) text;
    size_t left = strlen (text);
    while (left) {
        size_t length = zf_utf8_char (at, left);
        if (length == 0) {
            fputs ("\\ufffd", out);
            length = 1;
        }
        else
        if (*at == '"' || *at == '\\')
            fprintf (out, "\\%c", *at);
        else
        if (*at < 0x20 || *at == 0x7f || *at == '<' || *at == '>'
        ||  *at == '&')
            fprintf (out, "\\u%04x", *at);
        else
        if (length == 2 && at [0] == 0xc2 && at [1] < 0xa0)
            fprintf (out, "\\u%04x", at [1]);
        else
        if (length == 3 && at [0] == 0xe2 && at [1] == 0x80
        &&  (at [2] == 0xa8 || at [2] == 0xa9))
            fprintf (out, "\\u%04x", 0x2028 + at [2] - 0xa8);
        else
            fwrite (at, 1, length, out);
        at += length;
        left -= length;
    }
    fputc ('"', out);
}

static void
s_worker (FILE *out, const worker_t *worker, const status_view_t *view)
{
    char id [2 * PEER_ID_MAX + 1];
    peer_id_hex (&worker->id, id);
    fprintf (out, "{\"id\":\"%s\",\"pid\":%" PRIu32 ",\"host\":", id, worker->pid);
    status_string (out, worker->host);
    fputs (",\"services\":[", out);
    for (uint32_t i = 0; i < worker->service_count; i++) {
        if (i)
            fputc (',', out);
        status_string (out, worker->services [i].service->name);
    }
    fprintf (out, "],\"state\":\"%s\",\"capacity\":%" PRIu32
             ",\"running\":%" PRIu32 ",\"prefetch_depth\":%" PRIu32
             ",\"tasks_done\":%" PRIu64
             ",\"uptime_ms\":%" PRId64 ",\"local\":%s,\"brokers\":%" PRIu32
             ",\"version\":",
             worker->draining? "draining"
             : worker->retiring? "retiring"
             : worker_has_free_slot (worker)? "ready": "busy",
             worker->capacity,
             worker->running, worker->prefetch_depth, worker->tasks_done,
             view->now - worker->joined_at,
             worker->pool_child
             || strcmp (worker->host, view->host) == 0? "true": "false",
             worker->brokers);
    status_string (out, worker->version);
    if (worker->rss_kb)
        fprintf (out, ",\"rss_kb\":%ld", worker->rss_kb);
    else
        fputs (",\"rss_kb\":null", out);
    fputs (",\"instance\":", out);
    if (worker->instance [0])
        status_string (out, worker->instance);
    else
        fputs ("null", out);
    fputc ('}', out);
}

static void
s_services (FILE *out, zhashx_t *services)
{
    fputs ("\"services\":[", out);
    bool first = true;
    for (service_t *service = zhashx_first (services); service;
         service = zhashx_next (services)) {
        fprintf (out, "%s{\"name\":", first? "": ",");
        status_string (out, service->name);
        fprintf (out, ",\"queued\":%zu,\"delayed\":%zu,\"backing_off\":%zu"
                 ",\"running\":%zu,\"workers\":%zu,\"completed\":%" PRIu64,
                 service->queued, service->delayed, service->backing_off,
                 service->running, service->workers, service->completed);
        /* Waiting tasks by priority, 0 first: counts the queue keeps. */
        fputs (",\"queued_by_priority\":[", out);
        for (int p = 0; p < TASK_QUEUE_LEVELS; p++)
            fprintf (out, "%s%zu", p? ",": "", service->queue.counts [p]);
        fputs ("]}", out);
        first = false;
    }
    fputs ("]", out);
}

static void
s_counters (FILE *out, const counters_t *c)
{
    fprintf (out, "\"counters\":{\"submitted\":%" PRIu64 ",\"completed\":%"
             PRIu64 ",\"failed\":%" PRIu64 ",\"failed_by_code\":{",
             c->submitted, c->completed, c->failed);
    bool first = true;
    for (int index = 1; index < COUNTERS_CODES; index++)
        if (c->failed_by_code [index]) {
            fprintf (out, "%s\"%s\":%" PRIu64, first? "": ",",
                     zfarm_err_name (-index), c->failed_by_code [index]);
            first = false;
        }
    fprintf (out, "},\"retried\":%" PRIu64 ",\"cancelled\":%" PRIu64
             ",\"delayed\":%" PRIu64
             ",\"workers_joined\":%" PRIu64 ",\"workers_lost\":%" PRIu64
             ",\"workers_replaced\":%" PRIu64 ",\"late_results_dropped\":%"
             PRIu64 ",\"results_undeliverable\":%" PRIu64
             ",\"bad_messages\":%" PRIu64 ",\"prefetched\":%" PRIu64
             ",\"steals\":%" PRIu64 ",\"stolen\":%" PRIu64
             ",\"heartbeat_overrides\":%" PRIu64
             ",\"progress_forwarded\":%" PRIu64
             ",\"progress_dropped\":%" PRIu64
             ",\"batches_in\":%" PRIu64 ",\"batch_items_in\":%" PRIu64
             ",\"batches_out\":%" PRIu64 ",\"batch_items_out\":%" PRIu64 "}",
             c->retried, c->cancelled, c->delayed, c->workers_joined, c->workers_lost,
             c->workers_replaced, c->late_results_dropped,
             c->results_undeliverable, c->bad_messages, c->prefetched,
             c->steals, c->stolen, c->heartbeat_overrides,
             c->progress_forwarded, c->progress_dropped, c->batches_in,
             c->batch_items_in, c->batches_out, c->batch_items_out);
}

/* The dispatch latency histogram (per bucket, not cumulative; the last
 * bucket has no bound), for the status page's chart. */
static void
s_latency (FILE *out, const latency_t *latency)
{
    static const double bounds [] = LATENCY_BOUNDS_MS;
    fputs ("\"dispatch_latency\":{\"bounds_ms\":[", out);
    for (size_t i = 0; i < LATENCY_BUCKETS - 1; i++)
        fprintf (out, "%s%g", i? ",": "", bounds [i]);
    fputs ("],\"buckets\":[", out);
    for (size_t i = 0; i < LATENCY_BUCKETS; i++)
        fprintf (out, "%s%" PRIu64, i? ",": "", latency->buckets [i]);
    fprintf (out, "],\"count\":%" PRIu64 ",\"sum_ms\":%.3f}",
             latency->count, latency->sum_ms);
}

/* The local pool, or null without one. */
static void
s_pool (FILE *out, const pool_view_t *pool)
{
    fputs ("\"pool\":", out);
    if (!pool->present) {
        fputs ("null", out);
        return;
    }
    fprintf (out, "{\"running\":%d,\"min\":%d,\"max\":%d,\"grown\":%"
             PRIu64 ",\"shrunk\":%" PRIu64 ",\"max_rss_mb\":%ld"
             ",\"max_rss_hard_mb\":%ld,\"recycled\":{", pool->running,
             pool->min, pool->max, pool->grown, pool->shrunk,
             pool->max_rss_mb, pool->max_rss_hard_mb);
    for (int reason = 0; reason < ZF_POOL_REASONS; reason++)
        fprintf (out, "%s\"%s\":%" PRIu64, reason? ",": "",
                 zf_pool_reason_name (reason), pool->recycled [reason]);
    fputs ("}}", out);
}

static void
s_detached (FILE *out, const detached_view_t *d)
{
    fprintf (out, "\"detached\":{\"waiting\":%" PRIu64 ",\"running\":%" PRIu64
             ",\"finished\":%" PRIu64 ",\"submitted\":%" PRIu64
             ",\"expired\":%" PRIu64 ",\"dead\":%" PRIu64
             ",\"dead_dropped\":%" PRIu64 ",\"journal\":",
             d->waiting, d->running, d->finished, d->submitted, d->expired,
             d->dead, d->dead_dropped);
    if (!d->enabled) {
        fputs ("null}", out);
        return;
    }
    fputs ("{\"dir\":", out);
    status_string (out, d->dir);
    fprintf (out, ",\"sync\":\"%s\",\"bytes\":%" PRIu64 ",\"records\":%"
             PRIu64 ",\"commits\":%" PRIu64 ",\"fsyncs\":%" PRIu64
             ",\"write_errors\":%" PRIu64 ",\"lost\":%" PRIu64
             ",\"damaged\":%s}}", d->sync, d->journal_bytes,
             d->journal_records, d->commits, d->fsyncs, d->write_errors,
             d->lost, d->damaged? "true": "false");
}

char *
status_json (const status_view_t *view)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        zf_die_nomem ();
    fprintf (out, "{\"broker\":{\"version\":\"%s\",\"epoch\":%" PRIu64
             ",\"uptime_ms\":%" PRId64 ",\"host\":",
             ZFARM_VERSION, view->epoch, view->uptime_ms);
    status_string (out, view->host);
    fputs (",\"endpoints\":[", out);
    for (int i = 0; i < view->endpoint_count; i++) {
        if (i)
            fputc (',', out);
        status_string (out, view->endpoints [i]);
    }
    fputs ("],\"http\":", out);
    if (view->http)
        status_string (out, view->http);
    else
        fputs ("null", out);
    fprintf (out, ",\"reserved_routing_ids\":%s",
             view->reserved_ids? "true": "false");
    fputs ("},\"workers\":[", out);
    bool first = true;
    for (const zf_link_t *at = view->workers->next; at != view->workers;
         at = at->next) {
        const worker_t *worker = zf_container_of (at, worker_t, all_link);
        if (worker->gone)
            continue;
        if (!first)
            fputc (',', out);
        s_worker (out, worker, view);
        first = false;
    }
    fputs ("],", out);
    s_services (out, view->services);
    fputc (',', out);
    s_latency (out, &view->counters->dispatch_latency);
    fputc (',', out);
    s_pool (out, &view->pool);
    fputc (',', out);
    s_detached (out, &view->detached);
    fputc (',', out);
    s_counters (out, view->counters);
    fputs ("}", out);
    if (fclose (out) != 0)
        zf_die_nomem ();
    return text;
}
