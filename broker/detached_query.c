/* detached_query.c: QUERY, the lists of detached tasks and dead
 * letters as JSON, and what an operator does to dead letters: show,
 * retry (as new detached tasks), drop. */
#include "detached_internal.h"
#include "zf_escape.h"
#include "zf_log.h"
#include "zf_util.h"
#include "zfarm_codes.h"

#define LIST_MAX        10000   /* entries in one QUERY's answer */
#define PREVIEW_MAX     256     /* payload bytes shown by "dead show" */

/* ---- queries ------------------------------------------------------------- */

typedef struct {
    broker_t *broker;
    FILE *out;
    const char *owner;          /* the asker's key, "" for none */
    const char *service;        /* filter, or NULL */
    const char *state;          /* filter, or NULL */
    size_t count;
    bool truncated;
} listing_t;

/* Text from a peer (an error, a history line), as a JSON string: readers
 * escape it to show it, as they do the error of a RESULT. */
static void
s_json_text (FILE *out, const char *data, size_t size)
{
    char *text = zf_malloc (size + 1);
    memcpy (text, data, size);
    status_string (out, text);
    free (text);
}

/* Bytes (a payload), escaped here (zf_escape.h) so that binary survives
 * the JSON string: readers show the text as it is. */
static void
s_json_escaped (FILE *out, const char *data, size_t size)
{
    char *text = zf_escape_dup (data, size);
    status_string (out, text);
    free (text);
}

/* A task's state as a listing names it: from memory while it lives. */
static const char *
s_state_name (broker_t *self, const zf_job_t *job)
{
    task_t *task = client_task_lookup (self->detached_owner, job->id);
    if (!task || job->state == ZF_JOB_FINISHED)
        return "finished";
    return task->state == TASK_QUEUED? "queued":
           task->state == TASK_DELAYED? "delayed": "running";
}

static void
s_json_job (FILE *out, const char *state, const zf_job_t *job)
{
    fprintf (out, "\"id\":\"%016" PRIx64 "\",\"service\":", job->id);
    status_string (out, job->service);
    fprintf (out, ",\"state\":\"%s\",\"attempts\":%" PRIu32
             ",\"submitted_ms\":%" PRId64, state, job->attempts,
             job->submitted_at);
    if (job->state == ZF_JOB_FINISHED) {
        fprintf (out, ",\"finished_ms\":%" PRId64 ",\"status\":\"%s\""
                 ",\"error\":", job->finished_at, zfarm_err_name (job->status));
        s_json_text (out, job->text, job->text_size);
    }
}

static bool
s_listing_admits (listing_t *listing, const zf_job_t *job)
{
    if (!detached_owner_may (job->owner, listing->owner)
    ||  (listing->service && !streq (listing->service, job->service)))
        return false;
    if (listing->count == LIST_MAX) {
        listing->truncated = true;
        return false;
    }
    return true;
}

static void
s_list_task (void *arg, int table, uint64_t key, const void *data,
             size_t size)
{
    (void) table;
    (void) key;
    listing_t *listing = arg;
    zf_job_t job;
    char why [64];
    if (zf_record_decode (&job, data, size, why, sizeof why))
        return;
    const char *state = s_state_name (listing->broker, &job);
    if ((listing->state && !streq (listing->state, state))
    ||  !s_listing_admits (listing, &job))
        return;
    fputs (listing->count++? ",{": "{", listing->out);
    s_json_job (listing->out, state, &job);
    fputc ('}', listing->out);
}

static void
s_list_dead (void *arg, int table, uint64_t key, const void *data,
             size_t size)
{
    (void) table;
    listing_t *listing = arg;
    zf_job_t job;
    char why [64];
    if (zf_record_decode (&job, data, size, why, sizeof why)
    ||  !s_listing_admits (listing, &job))
        return;
    fprintf (listing->out, "%s{\"number\":%" PRIu64 ",",
             listing->count++? ",": "", key);
    s_json_job (listing->out, "dead", &job);
    size_t bytes = job.payload_size;
    if (bytes && (job.flags & ZF_FLAG_NUL))
        bytes--;
    fprintf (listing->out, ",\"payload_bytes\":%zu}", bytes);
}

/* Reads dead letter number into job (its bytes in *record_p, which the
 * caller frees); false if there is none the asker may see. */
static bool
s_dead_get (broker_t *self, uint64_t number, const char *owner, zf_job_t *job,
            void **record_p)
{
    size_t size = 0;
    char why [64];
    *record_p = journal_get (self->detached->journal, JOURNAL_DEAD, number,
                             &size);
    return *record_p
        && zf_record_decode (job, *record_p, size, why, sizeof why) == 0
        && detached_owner_may (job->owner, owner);
}

static int
s_dead_show (broker_t *self, FILE *out, uint64_t number, const char *owner)
{
    zf_job_t job;
    void *record;
    if (!s_dead_get (self, number, owner, &job, &record)) {
        free (record);
        return ZFARM_ENOT_FOUND;
    }
    fprintf (out, "{\"number\":%" PRIu64 ",", number);
    s_json_job (out, "dead", &job);
    fputs (",\"history\":[", out);
    const char *line = job.history, *end = job.history + job.history_size;
    for (bool first = true; line < end; first = false) {
        const char *stop = memchr (line, '\n', (size_t) (end - line));
        if (!stop)
            stop = end;
        if (!first)
            fputc (',', out);
        s_json_text (out, line, (size_t) (stop - line));
        line = stop + 1;
    }
    size_t shown = job.payload_size;
    if (shown && (job.flags & ZF_FLAG_NUL))
        shown--;                /* the NUL the client library adds */
    fprintf (out, "],\"payload_bytes\":%zu,\"payload\":", shown);
    s_json_escaped (out, job.payload, shown < PREVIEW_MAX? shown: PREVIEW_MAX);
    fprintf (out, ",\"payload_cut\":%s}", shown > PREVIEW_MAX? "true": "false");
    free (record);
    return 0;
}

/* Runs a dead letter again, as a new detached task of the same owner.
 * Returns its id, or 0 if there is no such dead letter. */
static uint64_t
s_dead_retry (broker_t *self, uint64_t number, const char *owner)
{
    struct _detached_t *state = self->detached;
    zf_job_t job;
    void *record;
    if (!s_dead_get (self, number, owner, &job, &record)) {
        free (record);
        return 0;
    }
    job.id = detached_random_id ();
    job.seq = state->next_seq++;
    job.state = ZF_JOB_WAITING;
    job.attempts = 0;
    job.history = NULL;
    job.history_size = 0;
    job.submitted_at = zf_wall_ms ();
    job.due_at = 0;
    job.finished_at = 0;
    job.status = 0;
    job.text_size = 0;
    task_t *task = detached_adopt (self, &job);
    detached_stored_add (state, job.id, job.seq);
    detached_store_task (self, task, ZF_JOB_WAITING);
    journal_delete (state->journal, JOURNAL_DEAD, number);
    detached_ring_remove (&state->dead, number);
    free (record);
    return job.id;
}

static bool
s_dead_drop (broker_t *self, uint64_t number, const char *owner)
{
    zf_job_t job;
    void *record;
    bool found = s_dead_get (self, number, owner, &job, &record);
    free (record);
    if (found) {
        journal_delete (self->detached->journal, JOURNAL_DEAD, number);
        detached_ring_remove (&self->detached->dead, number);
    }
    return found;
}

/* "dead retry|drop N|all": the numbers it names, oldest first. */
static size_t
s_dead_numbers (broker_t *self, const char *which, uint64_t *numbers)
{
    ring_t *dead = &self->detached->dead;
    if (streq (which, "all")) {
        size_t count = dead->count < LIST_MAX? dead->count: LIST_MAX;
        for (size_t i = 0; i < count; i++)
            numbers [i] = dead->items [(dead->head + i) % dead->capacity].key;
        return count;
    }
    long number;
    if (zf_parse_long (which, 1, LONG_MAX, &number))
        return 0;
    numbers [0] = (uint64_t) number;
    return 1;
}

static int
s_dead_act (broker_t *self, FILE *out, const char *verb, const char *which,
            const char *owner)
{
    uint64_t *numbers = zf_malloc (LIST_MAX * sizeof *numbers);
    size_t count = s_dead_numbers (self, which, numbers);
    bool retry = streq (verb, "retry");
    size_t done = 0;
    fprintf (out, "{\"%s\":[", retry? "retried": "dropped");
    for (size_t i = 0; i < count; i++) {
        uint64_t id = retry? s_dead_retry (self, numbers [i], owner): 0;
        if (retry && !id)
            continue;
        if (!retry && !s_dead_drop (self, numbers [i], owner))
            continue;
        fprintf (out, "%s{\"number\":%" PRIu64, done++? ",": "", numbers [i]);
        if (retry)
            fprintf (out, ",\"id\":\"%016" PRIx64 "\"", id);
        fputc ('}', out);
    }
    fputs ("]}", out);
    free (numbers);
    return done || streq (which, "all")? 0: ZFARM_ENOT_FOUND;
}

/* Runs the request in text; writes the JSON answer to out. Returns 0, or
 * a code (text in why). */
static int
s_run_query (broker_t *self, FILE *out, char *text, const char *owner,
             char *why, size_t why_size)
{
    char *words [4] = { NULL };
    int count = 0;
    for (char *word = strtok (text, " "); word && count < 4;
         word = strtok (NULL, " "))
        words [count++] = word;
    if (count == 0) {
        snprintf (why, why_size, "empty query");
        return ZFARM_EBAD_REQUEST;
    }
    if (!self->detached->journal) {
        /* Nothing stored yet: an empty answer, not an error. */
        if (streq (words [0], "tasks") || (streq (words [0], "dead")
            && count == 1)) {
            fputs (streq (words [0], "tasks")? "{\"tasks\":[],\"truncated\":false}"
                                             : "{\"dead\":[],\"truncated\":false}", out);
            return 0;
        }
        if (streq (words [0], "dead") && count == 3)
            return ZFARM_ENOT_FOUND;
    }
    if (streq (words [0], "tasks")) {
        listing_t listing = { self, out, owner, NULL, NULL, 0, false };
        for (int i = 1; i < count; i++)
            if (strncmp (words [i], "service=", 8) == 0)
                listing.service = words [i] + 8;
            else
            if (strncmp (words [i], "state=", 6) == 0)
                listing.state = words [i] + 6;
            else {
                snprintf (why, why_size, "unknown filter '%.64s'", words [i]);
                return ZFARM_EBAD_REQUEST;
            }
        fputs ("{\"tasks\":[", out);
        journal_each (self->detached->journal, JOURNAL_TASKS, s_list_task,
                      &listing);
        fprintf (out, "],\"truncated\":%s}", listing.truncated? "true": "false");
        return 0;
    }
    if (streq (words [0], "dead") && count == 1) {
        listing_t listing = { self, out, owner, NULL, NULL, 0, false };
        fputs ("{\"dead\":[", out);
        journal_each (self->detached->journal, JOURNAL_DEAD, s_list_dead,
                      &listing);
        fprintf (out, "],\"truncated\":%s}", listing.truncated? "true": "false");
        return 0;
    }
    if (streq (words [0], "dead") && count == 3 && streq (words [1], "show")) {
        long number;
        if (zf_parse_long (words [2], 1, LONG_MAX, &number) == 0)
            return s_dead_show (self, out, (uint64_t) number, owner);
    }
    if (streq (words [0], "dead") && count == 3
    && (streq (words [1], "retry") || streq (words [1], "drop")))
        return s_dead_act (self, out, words [1], words [2], owner);
    snprintf (why, why_size, "unknown query (tasks [service=S] [state=S],"
              " dead, dead show N, dead retry N|all, dead drop N|all)");
    return ZFARM_EBAD_REQUEST;
}

static void
s_free_text (void *data, void *hint)
{
    (void) hint;
    free (data);
}

void
detached_query (broker_t *self, inbound_t *in, const char *owner)
{
    char request [ZF_TEXT_MAX + 1];
    snprintf (request, sizeof request, "%s", in->header.text);
    char *json = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&json, &size);
    if (!out)
        zf_die_nomem ();
    char why [256] = "";
    int code = s_run_query (self, out, request, owner, why, sizeof why);
    if (fclose (out))
        zf_die_nomem ();
    zf_header_t header;
    zf_header_init (&header, ZF_QUERY);
    header.status = code;
    zf_header_set_text (&header, *why? why: code? zfarm_strerror (code): "");
    if (code) {
        free (json);
        broker_send_header (self, &in->from, &header);
        return;
    }
    zmq_msg_t frame;
    zmq_msg_init_data (&frame, json, size, s_free_text, NULL);
    broker_send (self, &in->from, &header, &frame, 1, false);
    zmq_msg_close (&frame);
}
