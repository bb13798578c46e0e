/* cli_status_farm.c: the status of several brokers as one document.
 *
 * Each broker's own document is kept as it came; the farm's is made from
 * them. A worker that serves several brokers is registered with each, under
 * another routing id each time, but its READY's instance is the same on
 * all: that is the key that makes it one worker of the farm. A worker
 * without one (from before the instance existed) is never merged. Every
 * figure is read with cli_json's forgiving accessors, so a document of an
 * older or newer broker still adds up: what is missing counts as nothing. */
#include "cli_status.h"
#include "cli_json.h"
#include "cli_util.h"

#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define COUNTERS_MAX 128        /* distinct counter names kept */

/* A worker of the farm: one row of each broker that lists it. */
typedef struct {
    const char *instance;       /* NULL: unsaid */
    const json_t *row;          /* its row at the first broker that has it:
                                   host, pid, services, capacity, version */
    const char *state;          /* "ready" if any broker has a slot free */
    double running, tasks_done, uptime_ms;
    const char *ids [ZFARM_BROKERS_MAX];   /* its id at each broker, or NULL */
    size_t order;               /* as first seen: the last sort key */
} farm_worker_t;

typedef struct {
    const char *name;
    double queued, delayed, running, completed;
    size_t workers;             /* of the farm, each counted once */
    bool at [ZFARM_BROKERS_MAX];   /* in that broker's services */
} farm_service_t;

/* A counter summed over the brokers; a nested one (failed_by_code) has
 * the index of its object as parent. */
typedef struct {
    const char *name;
    int parent;                 /* -1: top level */
    bool object;
    double sum;
} farm_counter_t;

typedef struct {
    const cli_answer_t *answers;
    int count;
    json_t *docs [ZFARM_BROKERS_MAX];      /* NULL: no document from it */
    farm_worker_t *workers;
    size_t worker_count, worker_size;
    zhashx_t *by_instance;      /* instance -> farm_worker_t index + 1 */
    farm_service_t *services;
    size_t service_count, service_size;
    zhashx_t *by_name;          /* service name -> index + 1 */
    farm_counter_t counters [COUNTERS_MAX];
    int counter_count;
    double queued;
} farm_t;

/* ---- writing JSON ------------------------------------------------------ */

/* A JSON string. Only what JSON itself requires is escaped here; the
 * document is printed as zfarm status --json prints any, safe on a
 * terminal. */
static void
s_string (FILE *out, const char *text)
{
    if (!text) {
        fputs ("null", out);
        return;
    }
    fputc ('"', out);
    for (const unsigned char *at = (const unsigned char *) text; *at; at++)
        if (*at == '"' || *at == '\\')
            fprintf (out, "\\%c", *at);
        else
        if (*at < 0x20)
            fprintf (out, "\\u%04x", *at);
        else
            fputc (*at, out);
    fputc ('"', out);
}

/* A count: every figure summed here is a whole number. */
static void
s_number (FILE *out, double value)
{
    fprintf (out, "%.0f", value);
}

/* A number as the broker wrote it, or null. */
static void
s_number_text (FILE *out, const json_t *value)
{
    fputs (json_number_text (value, "null"), out);
}

static double
s_count (const json_t *value)
{
    double number = json_number (value, 0);
    return isfinite (number) && number > 0? number: 0;
}

/* ---- merging ----------------------------------------------------------- */

static void *
s_grow (void *array, size_t *size_p, size_t item_size)
{
    *size_p = *size_p? *size_p * 2: 16;
    array = realloc (array, *size_p * item_size);
    if (!array)
        cli_die_nomem ();
    return array;
}

static farm_service_t *
s_service_require (farm_t *self, const char *name)
{
    size_t index = (size_t) zhashx_lookup (self->by_name, name);
    if (index)
        return &self->services [index - 1];
    if (self->service_count == self->service_size)
        self->services = s_grow (self->services, &self->service_size,
                                 sizeof *self->services);
    farm_service_t *service = &self->services [self->service_count++];
    *service = (farm_service_t) { .name = name };
    zhashx_insert (self->by_name, name, (void *) self->service_count);
    return service;
}

static farm_worker_t *
s_worker_require (farm_t *self, const json_t *row)
{
    const char *instance = json_string (json_member (row, "instance"), NULL);
    if (instance && !*instance)
        instance = NULL;
    size_t index = instance?
                   (size_t) zhashx_lookup (self->by_instance, instance): 0;
    if (index)
        return &self->workers [index - 1];
    if (self->worker_count == self->worker_size)
        self->workers = s_grow (self->workers, &self->worker_size,
                                sizeof *self->workers);
    farm_worker_t *worker = &self->workers [self->worker_count++];
    *worker = (farm_worker_t) { .instance = instance, .row = row,
                                .order = self->worker_count };
    if (instance)
        zhashx_insert (self->by_instance, instance,
                       (void *) self->worker_count);
    return worker;
}

static void
s_add_worker (farm_t *self, int broker, const json_t *row)
{
    farm_worker_t *worker = s_worker_require (self, row);
    const char *state = json_string (json_member (row, "state"), NULL);
    if (!worker->state || (state && strcmp (state, "ready") == 0))
        worker->state = state;
    worker->running += s_count (json_member (row, "running"));
    worker->tasks_done += s_count (json_member (row, "tasks_done"));
    double uptime = s_count (json_member (row, "uptime_ms"));
    worker->uptime_ms = uptime > worker->uptime_ms? uptime: worker->uptime_ms;
    worker->ids [broker] = json_string (json_member (row, "id"), "");
}

static void
s_add_service (farm_t *self, int broker, const json_t *row)
{
    const char *name = json_string (json_member (row, "name"), NULL);
    if (!name)
        return;
    farm_service_t *service = s_service_require (self, name);
    service->queued += s_count (json_member (row, "queued"));
    service->delayed += s_count (json_member (row, "delayed"));
    service->running += s_count (json_member (row, "running"));
    service->completed += s_count (json_member (row, "completed"));
    service->at [broker] = true;
    self->queued += s_count (json_member (row, "queued"));
}

static int
s_counter_require (farm_t *self, const char *name, int parent, bool object)
{
    for (int i = 0; i < self->counter_count; i++)
        if (self->counters [i].parent == parent
        &&  self->counters [i].object == object
        &&  strcmp (self->counters [i].name, name) == 0)
            return i;
    if (self->counter_count == COUNTERS_MAX)
        return -1;
    self->counters [self->counter_count] = (farm_counter_t) {
        .name = name, .parent = parent, .object = object };
    return self->counter_count++;
}

/* Sums the numeric counters, and those of objects one level down. */
static void
s_add_counters (farm_t *self, const json_t *counters, int parent)
{
    for (const json_t *counter = json_first (counters); counter;
         counter = json_next (counter)) {
        const char *name = json_name (counter);
        bool object = json_type (counter) == JSON_OBJECT;
        if (!name || (!object && json_type (counter) != JSON_NUMBER)
        ||  (object && parent >= 0))
            continue;
        int index = s_counter_require (self, name, parent, object);
        if (index < 0)
            continue;
        if (object)
            s_add_counters (self, counter, index);
        else
            self->counters [index].sum += s_count (counter);
    }
}

static void
s_add_broker (farm_t *self, int broker)
{
    const json_t *doc = self->docs [broker];
    for (const json_t *row = json_first (json_member (doc, "workers")); row;
         row = json_next (row))
        s_add_worker (self, broker, row);
    for (const json_t *row = json_first (json_member (doc, "services")); row;
         row = json_next (row))
        s_add_service (self, broker, row);
    s_add_counters (self, json_member (doc, "counters"), -1);
}

/* Each service's workers, each worker of the farm counted once. */
static void
s_count_service_workers (farm_t *self)
{
    for (size_t i = 0; i < self->worker_count; i++) {
        const json_t *services = json_member (self->workers [i].row,
                                              "services");
        for (const json_t *name = json_first (services); name;
             name = json_next (name))
            if (json_string (name, NULL))
                s_service_require (self, json_string (name, NULL))->workers++;
    }
}

/* ---- order ------------------------------------------------------------- */

static int
s_strcmp_nullable (const char *a, const char *b)
{
    return a && b? strcmp (a, b): (a != NULL) - (b != NULL);
}

/* By host, pid and instance, then as first seen: the same farm prints
 * the same way each time. */
static int
s_worker_compare (const void *a_, const void *b_)
{
    const farm_worker_t *a = a_, *b = b_;
    const char *host_a = json_string (json_member (a->row, "host"), NULL),
               *host_b = json_string (json_member (b->row, "host"), NULL);
    int rc = s_strcmp_nullable (host_a, host_b);
    double pid_a = json_number (json_member (a->row, "pid"), -1),
           pid_b = json_number (json_member (b->row, "pid"), -1);
    if (rc == 0)
        rc = (pid_a > pid_b) - (pid_a < pid_b);
    if (rc == 0)
        rc = s_strcmp_nullable (a->instance, b->instance);
    return rc? rc: (a->order > b->order) - (a->order < b->order);
}

static int
s_service_compare (const void *a_, const void *b_)
{
    const farm_service_t *a = a_, *b = b_;
    return strcmp (a->name, b->name);
}

/* ---- the document ------------------------------------------------------ */

/* The endpoints of the brokers marked in at. */
static void
s_endpoints (FILE *out, const farm_t *self, const bool *at)
{
    fputc ('[', out);
    bool first = true;
    for (int i = 0; i < self->count; i++)
        if (at [i]) {
            fputs (first? "": ",", out);
            s_string (out, self->answers [i].endpoint);
            first = false;
        }
    fputc (']', out);
}

static void
s_write_broker (FILE *out, const farm_t *self, int broker)
{
    const cli_answer_t *answer = &self->answers [broker];
    fputs ("{\"endpoint\":", out);
    s_string (out, answer->endpoint);
    if (self->docs [broker]) {
        /* The document as it came: it parsed, so it is JSON. */
        fprintf (out, ",\"up\":true,\"error\":null,\"status\":%s}",
                 answer->json);
        return;
    }
    fputs (",\"up\":false,\"error\":", out);
    s_string (out, answer->rc? zfarm_err_name (answer->rc): "BAD_STATUS");
    fputs (",\"status\":null}", out);
}

static void
s_write_worker (FILE *out, const farm_t *self, const farm_worker_t *worker)
{
    const json_t *row = worker->row;
    bool at [ZFARM_BROKERS_MAX];
    for (int i = 0; i < self->count; i++)
        at [i] = worker->ids [i] != NULL;
    fputs ("{\"instance\":", out);
    s_string (out, worker->instance);
    fputs (",\"host\":", out);
    s_string (out, json_string (json_member (row, "host"), NULL));
    fputs (",\"pid\":", out);
    s_number_text (out, json_member (row, "pid"));
    fputs (",\"version\":", out);
    s_string (out, json_string (json_member (row, "version"), NULL));
    fputs (",\"services\":[", out);
    for (const json_t *name = json_first (json_member (row, "services"));
         name; name = json_next (name)) {
        fputs (name == json_first (json_member (row, "services"))? "": ",",
               out);
        s_string (out, json_string (name, ""));
    }
    fputs ("],\"state\":", out);
    s_string (out, worker->state);
    fputs (",\"capacity\":", out);
    s_number_text (out, json_member (row, "capacity"));
    fputs (",\"running\":", out);
    s_number (out, worker->running);
    fputs (",\"tasks_done\":", out);
    s_number (out, worker->tasks_done);
    fputs (",\"uptime_ms\":", out);
    s_number (out, worker->uptime_ms);
    fputs (",\"brokers\":", out);
    s_endpoints (out, self, at);
    fputs (",\"ids\":[", out);
    bool first = true;
    for (int i = 0; i < self->count; i++)
        if (worker->ids [i]) {
            fputs (first? "": ",", out);
            s_string (out, worker->ids [i]);
            first = false;
        }
    fputs ("]}", out);
}

static void
s_write_service (FILE *out, const farm_t *self, const farm_service_t *service)
{
    fputs ("{\"name\":", out);
    s_string (out, service->name);
    fputs (",\"queued\":", out);
    s_number (out, service->queued);
    fputs (",\"delayed\":", out);
    s_number (out, service->delayed);
    fputs (",\"running\":", out);
    s_number (out, service->running);
    fprintf (out, ",\"workers\":%zu,\"completed\":", service->workers);
    s_number (out, service->completed);
    fputs (",\"brokers\":", out);
    s_endpoints (out, self, service->at);
    fputc ('}', out);
}

static void
s_write_counters (FILE *out, const farm_t *self, int parent)
{
    fputc ('{', out);
    bool first = true;
    for (int i = 0; i < self->counter_count; i++) {
        const farm_counter_t *counter = &self->counters [i];
        if (counter->parent != parent)
            continue;
        fputs (first? "": ",", out);
        s_string (out, counter->name);
        fputc (':', out);
        if (counter->object)
            s_write_counters (out, self, i);
        else
            s_number (out, counter->sum);
        first = false;
    }
    fputc ('}', out);
}

static void
s_write_farm (FILE *out, const farm_t *self, int up)
{
    double capacity = 0, running = 0;
    for (size_t i = 0; i < self->worker_count; i++) {
        capacity += s_count (json_member (self->workers [i].row, "capacity"));
        running += self->workers [i].running;
    }
    fprintf (out, "\"farm\":{\"brokers\":%d,\"brokers_up\":%d,\"workers\":[",
             self->count, up);
    for (size_t i = 0; i < self->worker_count; i++) {
        fputs (i? ",": "", out);
        s_write_worker (out, self, &self->workers [i]);
    }
    fputs ("],\"services\":[", out);
    for (size_t i = 0; i < self->service_count; i++) {
        fputs (i? ",": "", out);
        s_write_service (out, self, &self->services [i]);
    }
    fprintf (out, "],\"totals\":{\"workers\":%zu,\"capacity\":",
             self->worker_count);
    s_number (out, capacity);
    fputs (",\"running\":", out);
    s_number (out, running);
    fputs (",\"queued\":", out);
    s_number (out, self->queued);
    fputs ("},\"counters\":", out);
    s_write_counters (out, self, -1);
    fputc ('}', out);
}

char *
cli_status_farm (const cli_answer_t *answers, int count, int *up_p)
{
    assert (count >= 0 && count <= ZFARM_BROKERS_MAX);
    farm_t self = { .answers = answers, .count = count,
                    .by_instance = zhashx_new (), .by_name = zhashx_new () };
    int up = 0;
    for (int i = 0; i < count; i++) {
        const char *json = answers [i].json;
        self.docs [i] = answers [i].rc == 0 && json?
                        json_parse (json, strlen (json)): NULL;
        if (json_type (self.docs [i]) != JSON_OBJECT)
            json_destroy (&self.docs [i]);
        if (self.docs [i]) {
            up++;
            s_add_broker (&self, i);
        }
    }
    s_count_service_workers (&self);
    if (self.worker_count)
        qsort (self.workers, self.worker_count, sizeof *self.workers,
               s_worker_compare);
    if (self.service_count)
        qsort (self.services, self.service_count, sizeof *self.services,
               s_service_compare);

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        cli_die_nomem ();
    fprintf (out, "{\"version\":%d,\"brokers\":[", CLI_FARM_VERSION);
    for (int i = 0; i < count; i++) {
        fputs (i? ",": "", out);
        s_write_broker (out, &self, i);
    }
    fputs ("],", out);
    s_write_farm (out, &self, up);
    fputc ('}', out);
    if (fclose (out) != 0)
        cli_die_nomem ();

    for (int i = 0; i < count; i++)
        json_destroy (&self.docs [i]);
    free (self.workers);
    free (self.services);
    zhashx_destroy (&self.by_instance);
    zhashx_destroy (&self.by_name);
    *up_p = up;
    return text;
}
