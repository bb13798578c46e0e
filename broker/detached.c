/* detached.c: detached tasks and dead letters (detached.h).
 *
 * In memory, a detached task is a task of the journal's client record
 * (broker->detached_owner), with a live_t beside it for what its record
 * needs that task_t does not keep; a finished one is only in the journal,
 * with its id and end time in a ring for --result-ttl. The journal is the
 * truth across restarts; memory is the truth while the broker runs. */
#include "detached_internal.h"
#include "zf_log.h"
#include "zf_util.h"
#include "zfarm_codes.h"

#include <sys/random.h>

#define TTL_SWEEP_MAX   1000    /* results deleted per pass of the timers */

/* ---- rings ------------------------------------------------------------- */

static void
s_ring_push (ring_t *ring, uint64_t key, int64_t at)
{
    if (ring->count == ring->capacity) {
        size_t capacity = ring->capacity? 2 * ring->capacity: 64;
        ring_item_t *items = zf_malloc (capacity * sizeof *items);
        for (size_t i = 0; i < ring->count; i++)
            items [i] = ring->items [(ring->head + i) % ring->capacity];
        free (ring->items);
        ring->items = items;
        ring->head = 0;
        ring->capacity = capacity;
    }
    size_t at_index = (ring->head + ring->count++) % ring->capacity;
    ring->items [at_index].key = key;
    ring->items [at_index].at = at;
}

static void
s_ring_pop (ring_t *ring)
{
    ring->head = (ring->head + 1) % ring->capacity;
    ring->count--;
}

/* Removes key, wherever it is (dead letters dropped or retried by
 * number): O(n), for an operator's command. */
bool
detached_ring_remove (ring_t *ring, uint64_t key)
{
    for (size_t i = 0; i < ring->count; i++)
        if (ring->items [(ring->head + i) % ring->capacity].key == key) {
            for (size_t j = i; j + 1 < ring->count; j++)
                ring->items [(ring->head + j) % ring->capacity] =
                    ring->items [(ring->head + j + 1) % ring->capacity];
            ring->count--;
            return true;
        }
    return false;
}

/* ---- helpers ------------------------------------------------------------- */

static bool
s_is_detached (const task_t *task)
{
    const client_t *client = task->client;
    return client && client->journal;
}

/* The bytes of frames as one buffer: the frame itself when there is one
 * (the usual case: nothing copied), else a joined copy, which *owned_p
 * gets for the caller to free (NULL if none was made). */
static const void *
s_join (zmq_msg_t *frames, size_t count, size_t *size_p, void **owned_p)
{
    *owned_p = NULL;
    if (count <= 1) {
        *size_p = count? zmq_msg_size (&frames [0]): 0;
        return count? zmq_msg_data (&frames [0]): NULL;
    }
    size_t size = 0;
    for (size_t i = 0; i < count; i++)
        size += zmq_msg_size (&frames [i]);
    char *data = zf_malloc (size? size: 1);
    *owned_p = data;
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy (data + at, zmq_msg_data (&frames [i]), zmq_msg_size (&frames [i]));
        at += zmq_msg_size (&frames [i]);
    }
    *size_p = size;
    return data;
}

uint64_t
detached_random_id (void)
{
    uint64_t id = 0;
    while (id == 0)
        if (getrandom (&id, sizeof id, 0) != sizeof id)
            id = (uint64_t) zf_now_us () * 0x9e3779b97f4a7c15u;
    return id;
}

static void
s_send_result (broker_t *self, const peer_id_t *to, uint64_t id, int code,
               const char *text, const void *data, size_t size,
               uint32_t flags)
{
    zf_header_t header;
    zf_header_init (&header, ZF_RESULT);
    header.task_id = id;
    header.status = code;
    header.flags = ZF_FLAG_DETACHED | (flags & ZF_FLAG_NUL);
    zf_header_set_text (&header, text? text: "");
    zmq_msg_t frame;
    if (data && size) {
        zmq_msg_init_size (&frame, size);
        memcpy (zmq_msg_data (&frame), data, size);
        broker_send (self, to, &header, &frame, 1, false);
        zmq_msg_close (&frame);
    }
    else {
        header.flags &= ~(uint32_t) ZF_FLAG_NUL;
        broker_send_header (self, to, &header);
    }
}

/* ---- the journal ----------------------------------------------------------- */

/* A record of task as it stands, with its payload (in place, or a joined
 * copy in *payload_p, which the caller frees). */
static void
s_job_from_task (broker_t *self, task_t *task, const live_t *live, int state,
                 zf_job_t *job, void **payload_p)
{
    (void) self;
    memset (job, 0, sizeof *job);
    job->id = task->client_task_id;
    job->state = state;
    snprintf (job->service, sizeof job->service, "%s", task->service->name);
    job->flags = task->flags & ZF_FLAG_NUL;
    job->priority = task->priority;
    job->timeout_ms = task->timeout_ms;
    job->retries = task->max_retries;
    if (task->retry) {
        job->retry_on = task->retry->retry_on;
        job->backoff_min_ms = task->retry->backoff_min_ms;
        job->backoff_max_ms = task->retry->backoff_max_ms;
        if (task->retry->history) {
            job->history = task->retry->history;
            job->history_size = strlen (task->retry->history);
        }
    }
    job->attempts = task->attempts;
    if (live) {
        job->seq = live->seq;
        job->submitted_at = live->submitted_at;
        job->due_at = live->due_at;
        snprintf (job->owner, sizeof job->owner, "%s", live->owner);
    }
    else
        job->submitted_at = zf_wall_ms ();
    job->payload = s_join (task_payload (task), task->payload_count,
                           &job->payload_size, payload_p);
}

void
detached_stored_add (struct _detached_t *state, uint64_t id, uint64_t seq)
{
    stored_t *stored = zf_malloc (sizeof *stored);
    stored->id = id;
    stored->seq = seq;
    zf_index_insert (&state->stored, stored);
}

void
detached_stored_remove (struct _detached_t *state, uint64_t id)
{
    free (zf_index_delete (&state->stored, id));
}

uint64_t
detached_seq_of (struct _detached_t *state, uint64_t id)
{
    const stored_t *stored = zf_index_lookup (&state->stored, id);
    return stored? stored->seq: 0;
}

/* A copy of task id's record (caller frees), or NULL. */
static void *
s_task_record (struct _detached_t *state, uint64_t id, size_t *size_p)
{
    uint64_t seq = detached_seq_of (state, id);
    return seq && state->journal
         ? journal_get (state->journal, JOURNAL_TASKS, seq, size_p): NULL;
}

static void
s_store (broker_t *self, int table, uint64_t key, const zf_job_t *job)
{
    size_t size;
    void *record = zf_record_encode (job, &size);
    journal_put (self->detached->journal, table, key, record, size);
}

void
detached_store_task (broker_t *self, task_t *task, int state)
{
    live_t *live = zf_index_lookup (&self->detached->live, task->client_task_id);
    zf_job_t job;
    void *payload;
    s_job_from_task (self, task, live, state, &job, &payload);
    s_store (self, JOURNAL_TASKS, job.seq, &job);
    free (payload);
}

static void
    s_waiters_expire (broker_t *self, struct _detached_t *state, int64_t now);

/* ---- start and stop ---------------------------------------------------- */

typedef struct {
    broker_t *broker;
    zf_job_t *jobs;             /* waiting and running, to queue again */
    void **buffers;             /* their records' bytes */
    size_t count, capacity;
} restore_t;

static void
s_restore_one (void *arg, int table, uint64_t key, const void *data,
               size_t size)
{
    restore_t *restore = arg;
    struct _detached_t *state = restore->broker->detached;
    zf_job_t job;
    char why [64];
    if (zf_record_decode (&job, data, size, why, sizeof why))
        return;                 /* the journal checked it already */
    if (table == JOURNAL_DEAD) {
        s_ring_push (&state->dead, key, job.finished_at);
        if (key >= state->next_dead)
            state->next_dead = key + 1;
        return;
    }
    if (job.seq >= state->next_seq)
        state->next_seq = job.seq + 1;
    if (zf_index_lookup (&state->stored, job.id))
        return;                 /* a second record of one id: not ours */
    detached_stored_add (state, job.id, key);
    if (job.state == ZF_JOB_FINISHED) {
        s_ring_push (&state->finished, job.id, job.finished_at);
        return;
    }
    if (restore->count == restore->capacity) {
        restore->capacity = restore->capacity? 2 * restore->capacity: 256;
        restore->jobs = realloc (restore->jobs,
                                 restore->capacity * sizeof *restore->jobs);
        restore->buffers = realloc (restore->buffers, restore->capacity
                                    * sizeof *restore->buffers);
        if (!restore->jobs || !restore->buffers)
            zf_die_nomem ();
    }
    /* The job points into data, which lasts only for this call. */
    void *copy = zf_malloc (size);
    memcpy (copy, data, size);
    zf_record_decode (&restore->jobs [restore->count], copy, size, why,
                      sizeof why);
    restore->buffers [restore->count++] = copy;
}

static int
s_by_seq (const void *a, const void *b)
{
    const zf_job_t *x = a, *y = b;
    return x->seq < y->seq? -1: x->seq > y->seq;
}

static int
s_by_time (const void *a, const void *b)
{
    const ring_item_t *x = a, *y = b;
    return x->at < y->at? -1: x->at > y->at;
}

/* Queues a stored task (from the journal, or a dead letter retried). */
task_t *
detached_adopt (broker_t *self, const zf_job_t *job)
{
    struct _detached_t *state = self->detached;
    service_t *service = service_require (self->services, job->service);
    task_t *task = task_table_alloc (self->tasks);
    task->client = self->detached_owner;
    task->client_task_id = job->id;
    task->service = service;
    task->timeout_ms = job->timeout_ms;
    task->flags = (uint8_t) (job->flags & ZF_FLAG_NUL);
    task->priority = (uint8_t) job->priority;
    task->max_retries = job->retries;
    task->attempts = job->attempts;
    if (job->retry_on || job->backoff_max_ms || job->history_size) {
        task_retry_t *retry = task_require_retry (task);
        retry->retry_on = job->retry_on;
        retry->backoff_min_ms = job->backoff_min_ms;
        retry->backoff_max_ms = job->backoff_max_ms;
        if (job->history_size) {
            retry->history = zf_malloc (job->history_size + 1);
            memcpy (retry->history, job->history, job->history_size);
        }
    }
    zmq_msg_t frame;
    zmq_msg_init_size (&frame, job->payload_size);
    if (job->payload_size)
        memcpy (zmq_msg_data (&frame), job->payload, job->payload_size);
    task_take_payload (task, &frame, 1);
    client_task_insert (self->detached_owner, task);

    live_t *live = zf_malloc (sizeof *live);
    live->id = job->id;
    live->seq = job->seq;
    live->submitted_at = job->submitted_at;
    live->due_at = job->due_at;
    snprintf (live->owner, sizeof live->owner, "%s", job->owner);
    zf_index_insert (&state->live, live);

    int64_t now = zf_now_ms ();
    int64_t wait = job->due_at - zf_wall_ms ();
    dispatch_adopt (self, task, wait > 0? now + wait: now);
    return task;
}

static void
s_restore (broker_t *self, restore_t *restore)
{
    struct _detached_t *state = self->detached;
    if (restore->count)
        qsort (restore->jobs, restore->count, sizeof *restore->jobs,
               s_by_seq);
    for (size_t i = 0; i < restore->count; i++)
        detached_adopt (self, &restore->jobs [i]);
    /* Rings came in key order, from index 0; results expire by time. */
    if (state->finished.count)
        qsort (state->finished.items, state->finished.count,
               sizeof *state->finished.items, s_by_time);
    zf_info ("journal %s: %zu tasks to run, %zu results kept, %zu dead"
             " letters", journal_dir (state->journal), restore->count,
             state->finished.count, state->dead.count);
    for (size_t i = 0; i < restore->count; i++)
        free (restore->buffers [i]);
    free (restore->buffers);
    free (restore->jobs);
}

static int
s_open (broker_t *self, const char *dir)
{
    struct _detached_t *state = self->detached;
    restore_t restore = { .broker = self };
    state->next_seq = 1;
    state->next_dead = 1;
    state->journal = journal_new (dir, self->options.journal_sync,
                                  (uint64_t) self->options.journal_max_bytes,
                                  s_restore_one, &restore);
    if (!state->journal) {
        free (restore.jobs);
        free (restore.buffers);
        return -1;
    }
    s_restore (self, &restore);
    return 0;
}

int
detached_start (broker_t *self)
{
    struct _detached_t *state = zf_malloc (sizeof *state);
    zf_index_init (&state->live, offsetof (live_t, id));
    zf_index_init (&state->stored, offsetof (stored_t, id));
    zf_index_init (&state->waiters, offsetof (waiter_t, id));
    state->next_waiter_deadline = INT64_MAX;
    self->detached = state;
    self->detached_owner = client_require_journal ();
    if (self->options.journal)
        return s_open (self, self->options.journal);
    return 0;
}

/* The journal, opened on first use when --journal did not name one. */
static journal_t *
s_journal (broker_t *self)
{
    struct _detached_t *state = self->detached;
    if (!state->journal && !state->open_failed && s_open (self, NULL))
        state->open_failed = true;
    return state->journal;
}

void
detached_stop (broker_t *self)
{
    struct _detached_t *state = self->detached;
    if (!state)
        return;
    /* Pending changes are committed; a STORED not sent yet is not needed:
     * the client sends its SUBMIT again, and learns it is stored. */
    journal_destroy (&state->journal);
    size_t cursor = 0;
    live_t *live;
    while ((live = zf_index_next (&state->live, &cursor)))
        free (live);
    zf_index_clear (&state->live);
    cursor = 0;
    stored_t *stored;
    while ((stored = zf_index_next (&state->stored, &cursor)))
        free (stored);
    zf_index_clear (&state->stored);
    free (state->acks);
    s_waiters_expire (NULL, state, INT64_MAX);
    zf_index_clear (&state->waiters);
    free (state->finished.items);
    free (state->dead.items);
    free (state);
    self->detached = NULL;
    /* Its tasks are freed with the task table. */
    client_destroy (&self->detached_owner);
}

/* ---- outcomes ------------------------------------------------------------ */

/* True for a peer that may see a task of owner: its submitter's key, or
 * any peer that has no key (no security, or a local endpoint). */
bool
detached_owner_may (const char *owner, const char *requester)
{
    return !*requester || streq (owner, requester);
}

static bool
s_is_dead_kind (int code)
{
    return code == ZFARM_EWORKER_LOST || code == ZFARM_ETIMEOUT
        || code == ZFARM_EHANDLER_ERROR;
}

/* Appends "attempt N: CODE: text" to the task's history, cut to fit. */
static void
s_history_add (task_t *task, int code, const char *text)
{
    task_retry_t *retry = task_require_retry (task);
    size_t used = retry->history? strlen (retry->history): 0;
    char line [ZF_TEXT_MAX + 64];
    int size = snprintf (line, sizeof line, "attempt %" PRIu32 ": %s%s%s\n",
                         task->attempts, zfarm_err_name (code),
                         *text? ": ": "", text);
    if (size <= 0 || used + (size_t) size > ZF_HISTORY_MAX)
        return;
    retry->history = realloc (retry->history, used + (size_t) size + 1);
    if (!retry->history)
        zf_die_nomem ();
    memcpy (retry->history + used, line, (size_t) size + 1);
}

void
detached_note_attempt (broker_t *self, task_t *task, int code,
                       const char *text)
{
    if (s_is_detached (task) || self->options.dead_letter)
        s_history_add (task, code, text);
}

/* Keeps a failed task's record (payload and history included) as the
 * next dead letter, dropping the oldest past --dead-max. */
static void
s_dead_letter (broker_t *self, const zf_job_t *job)
{
    struct _detached_t *state = self->detached;
    if (!s_journal (self))
        return;
    uint64_t number = state->next_dead++;
    s_store (self, JOURNAL_DEAD, number, job);
    s_ring_push (&state->dead, number, job->finished_at);
    zf_info ("task %s/%" PRIx64 " is dead letter %" PRIu64 " (%s)",
             job->service, job->id, number, zfarm_err_name (job->status));
    while (state->dead.count > (size_t) self->options.dead_max) {
        journal_delete (state->journal, JOURNAL_DEAD,
                        state->dead.items [state->dead.head].key);
        s_ring_pop (&state->dead);
        state->dead_dropped++;
    }
}

/* Answers the FETCHes that wait for id. */
static void
s_answer_waiters (broker_t *self, uint64_t id, int code, const char *text,
                  const void *data, size_t size, uint32_t flags)
{
    struct _detached_t *state = self->detached;
    waiter_t *waiter = zf_index_delete (&state->waiters, id);
    while (waiter) {
        waiter_t *next = waiter->next;
        s_send_result (self, &waiter->to, id, code, text, data, size, flags);
        free (waiter);
        state->waiter_count--;
        waiter = next;
    }
}

/* Parks a FETCH until its task ends, or until deadline. */
static void
s_waiter_add (struct _detached_t *state, const peer_id_t *to, uint64_t id,
              int64_t deadline)
{
    waiter_t *waiter = zf_malloc (sizeof *waiter);
    waiter->id = id;
    waiter->to = *to;
    waiter->deadline = deadline;
    waiter_t *first = zf_index_lookup (&state->waiters, id);
    if (first) {
        waiter->next = first->next;
        first->next = waiter;
    }
    else
        zf_index_insert (&state->waiters, waiter);
    state->waiter_count++;
    if (deadline < state->next_waiter_deadline)
        state->next_waiter_deadline = deadline;
}

/* Answers PENDING to the FETCHes whose wait is over (or all, with now
 * INT64_MAX, and frees them without a word when self is NULL). */
static void
s_waiters_expire (broker_t *self, struct _detached_t *state, int64_t now)
{
    /* The index must not change during a walk: take the chains out. */
    size_t count = zf_index_size (&state->waiters), cursor = 0;
    waiter_t **chains = zf_malloc ((count? count: 1) * sizeof *chains);
    for (size_t i = 0; i < count; i++)
        chains [i] = zf_index_next (&state->waiters, &cursor);
    zf_index_clear (&state->waiters);
    zf_index_init (&state->waiters, offsetof (waiter_t, id));
    state->waiter_count = 0;
    state->next_waiter_deadline = INT64_MAX;
    for (size_t i = 0; i < count; i++)
        for (waiter_t *waiter = chains [i], *next; waiter; waiter = next) {
            next = waiter->next;
            if (now < waiter->deadline)
                s_waiter_add (state, &waiter->to, waiter->id,
                              waiter->deadline);
            else
            if (self) {
                task_t *task = client_task_lookup (self->detached_owner,
                                                   waiter->id);
                s_send_result (self, &waiter->to, waiter->id, ZFARM_EPENDING,
                               task && task->state == TASK_RUNNING
                               ? "running": "waiting", NULL, 0, 0);
            }
            free (waiter);
        }
    free (chains);
}

bool
detached_finished (broker_t *self, task_t *task, int code, const char *text,
                   zmq_msg_t *frames, size_t count, uint32_t flags)
{
    bool detached = s_is_detached (task);
    bool dead = s_is_dead_kind (code);
    if (!detached && !(dead && self->options.dead_letter))
        return false;
    struct _detached_t *state = self->detached;
    if (code)
        s_history_add (task, code, text);
    live_t *live = detached? zf_index_delete (&state->live,
                                              task->client_task_id): NULL;
    zf_job_t job;
    void *payload;
    s_job_from_task (self, task, live, ZF_JOB_FINISHED, &job, &payload);
    job.status = code;
    job.text = text;
    job.text_size = strnlen (text, ZF_TEXT_MAX);
    job.finished_at = zf_wall_ms ();
    if (dead)
        s_dead_letter (self, &job);
    if (detached) {
        void *result = NULL;
        if (code == 0 && count) {
            job.result = s_join (frames, count, &job.result_size, &result);
            job.result_flags = flags & ZF_FLAG_NUL;
        }
        job.payload = NULL;     /* a result needs no payload */
        job.payload_size = 0;
        s_store (self, JOURNAL_TASKS, job.seq, &job);
        s_ring_push (&state->finished, job.id, job.finished_at);
        s_answer_waiters (self, job.id, code, text, job.result,
                          job.result_size, job.result_flags);
        free (result);
    }
    free (payload);
    free (live);
    return detached;
}

void
detached_started (broker_t *self, task_t *task)
{
    if (s_is_detached (task))
        detached_store_task (self, task, ZF_JOB_RUNNING);
}

/* ---- commands ---------------------------------------------------------- */

static void
s_ack_push (struct _detached_t *state, const peer_id_t *to, uint64_t id,
            bool fresh)
{
    if (state->ack_count == state->ack_capacity) {
        state->ack_capacity = state->ack_capacity? 2 * state->ack_capacity: 64;
        state->acks = realloc (state->acks,
                               state->ack_capacity * sizeof *state->acks);
        if (!state->acks)
            zf_die_nomem ();
    }
    state->acks [state->ack_count++] = (ack_t) { *to, id, fresh };
}

/* The owner of a stored task, or false if there is none with id. */
static bool
s_stored_owner (broker_t *self, uint64_t id, char *owner)
{
    live_t *live = zf_index_lookup (&self->detached->live, id);
    if (live) {
        strcpy (owner, live->owner);
        return true;
    }
    size_t size = 0;
    void *record = s_task_record (self->detached, id, &size);
    zf_job_t job;
    char why [64];
    bool found = record && zf_record_decode (&job, record, size, why,
                                             sizeof why) == 0;
    if (found)
        strcpy (owner, job.owner);
    free (record);
    return found;
}

void
detached_submit (broker_t *self, inbound_t *in, const char *owner)
{
    struct _detached_t *state = self->detached;
    const zf_header_t *submit = &in->header;
    uint64_t id = submit->task_id;
    journal_t *journal = s_journal (self);
    if (!journal) {
        s_send_result (self, &in->from, id, ZFARM_EINTERNAL,
                       "the broker cannot open a journal", NULL, 0, 0);
        return;
    }
    char stored_owner [ZF_OWNER_MAX + 1];
    if (s_stored_owner (self, id, stored_owner)) {
        /* A SUBMIT sent again (its STORED was lost): stored already. */
        if (streq (stored_owner, owner))
            s_ack_push (state, &in->from, id, false);
        else
            s_send_result (self, &in->from, id, ZFARM_EBAD_REQUEST,
                           "task id in use", NULL, 0, 0);
        return;
    }
    size_t size = 512 + strlen (submit->service);
    for (size_t i = 0; i < in->payload_count; i++)
        size += zmq_msg_size (&in->payload [i]);
    if (!journal_has_room (journal, size)) {
        char text [128];
        snprintf (text, sizeof text, "journal full (--journal-max-bytes %lld)",
                  self->options.journal_max_bytes);
        s_send_result (self, &in->from, id, ZFARM_EQUEUE_FULL, text, NULL, 0,
                       0);
        return;
    }
    in->header.flags &= ~(uint32_t) ZF_FLAG_PROGRESS;
    dispatch_submit (self, self->detached_owner, NULL, in);
    live_t *live = zf_malloc (sizeof *live);
    live->id = id;
    live->seq = state->next_seq++;
    live->submitted_at = zf_wall_ms ();
    live->due_at = submit->delay_ms? live->submitted_at + submit->delay_ms: 0;
    snprintf (live->owner, sizeof live->owner, "%s", owner);
    zf_index_insert (&state->live, live);
    detached_stored_add (state, id, live->seq);
    task_t *task = client_task_lookup (self->detached_owner, id);
    detached_store_task (self, task, ZF_JOB_WAITING);
    state->submitted++;
    s_ack_push (state, &in->from, id, true);
}

void
detached_fetch (broker_t *self, inbound_t *in, const char *owner)
{
    struct _detached_t *state = self->detached;
    uint64_t id = in->header.task_id;
    size_t size = 0;
    void *record = s_task_record (state, id, &size);
    zf_job_t job;
    char why [64];
    if (!record || zf_record_decode (&job, record, size, why, sizeof why)
    ||  !detached_owner_may (job.owner, owner))
        s_send_result (self, &in->from, id, ZFARM_ENOT_FOUND, NULL, NULL, 0,
                       0);
    else
    if (job.state == ZF_JOB_FINISHED) {
        char text [ZF_TEXT_MAX + 1];
        snprintf (text, sizeof text, "%.*s", (int) job.text_size, job.text);
        s_send_result (self, &in->from, id, job.status, text, job.result,
                       job.result_size, job.result_flags);
    }
    else
    if (in->header.timeout_ms && state->waiter_count < WAITERS_MAX)
        s_waiter_add (state, &in->from, id,
                      zf_now_ms () + in->header.timeout_ms);
    else
        s_send_result (self, &in->from, id, ZFARM_EPENDING,
                       job.state == ZF_JOB_RUNNING? "running": "waiting",
                       NULL, 0, 0);
    free (record);
}

void
detached_cancel (broker_t *self, inbound_t *in, const char *owner)
{
    uint64_t id = in->header.task_id;
    task_t *task = client_task_lookup (self->detached_owner, id);
    live_t *live = zf_index_lookup (&self->detached->live, id);
    if (task && live && detached_owner_may (live->owner, owner)) {
        const char *text = zfarm_strerror (ZFARM_ECANCELLED);
        detached_finished (self, task, ZFARM_ECANCELLED, text, NULL, 0, 0);
        dispatch_cancel (self, task);
        s_send_result (self, &in->from, id, ZFARM_ECANCELLED, text, NULL, 0,
                       0);
    }
    else {
        /* Ended already, or never here: its outcome says which. */
        in->header.timeout_ms = 0;
        detached_fetch (self, in, owner);
    }
}

/* ---- the journal's turn, and timers ------------------------------------ */

static void
s_refuse_unstored (broker_t *self, const ack_t *ack)
{
    struct _detached_t *state = self->detached;
    task_t *task = client_task_lookup (self->detached_owner, ack->id);
    journal_forget (state->journal, JOURNAL_TASKS,
                    detached_seq_of (state, ack->id));
    detached_stored_remove (state, ack->id);
    free (zf_index_delete (&state->live, ack->id));
    if (task)
        dispatch_cancel (self, task);
    s_send_result (self, &ack->to, ack->id, ZFARM_EQUEUE_FULL,
                   journal_error (state->journal), NULL, 0, 0);
}

bool
detached_flush (broker_t *self, bool end_of_turn)
{
    struct _detached_t *state = self->detached;
    if (!state || !state->journal
    ||  (!end_of_turn && self->options.journal_sync != JOURNAL_SYNC_ALWAYS)
    ||  (!journal_is_dirty (state->journal) && state->ack_count == 0))
        return false;
    int rc = journal_commit (state->journal);
    bool refused = false;
    for (size_t i = 0; i < state->ack_count; i++) {
        const ack_t *ack = &state->acks [i];
        /* A SUBMIT sent again was stored in an earlier turn. */
        if (rc == 0 || !ack->fresh) {
            zf_header_t header;
            zf_header_init (&header, ZF_STORED);
            header.task_id = ack->id;
            broker_send_header (self, &ack->to, &header);
        }
        else {
            s_refuse_unstored (self, ack);
            refused = true;
        }
    }
    state->ack_count = 0;
    return refused;
}

void
detached_on_timers (broker_t *self, int64_t now)
{
    struct _detached_t *state = self->detached;
    if (!state)
        return;
    if (now >= state->next_waiter_deadline)
        s_waiters_expire (self, state, now);
    int64_t wall = zf_wall_ms ();
    int64_t ttl = (int64_t) self->options.result_ttl_s * 1000;
    for (int swept = 0; swept < TTL_SWEEP_MAX && state->finished.count
         && state->finished.items [state->finished.head].at + ttl <= wall;
         swept++) {
        uint64_t id = state->finished.items [state->finished.head].key;
        journal_delete (state->journal, JOURNAL_TASKS,
                        detached_seq_of (state, id));
        detached_stored_remove (state, id);
        s_ring_pop (&state->finished);
        state->expired++;
    }
}

int64_t
detached_next_timer (broker_t *self)
{
    return self->detached? self->detached->next_waiter_deadline: INT64_MAX;
}

void
detached_view (broker_t *self, detached_view_t *view)
{
    struct _detached_t *state = self->detached;
    memset (view, 0, sizeof *view);
    if (!state)
        return;
    size_t cursor = 0;
    live_t *live;
    while ((live = zf_index_next (&state->live, &cursor))) {
        task_t *task = client_task_lookup (self->detached_owner, live->id);
        if (task && task->state == TASK_RUNNING)
            view->running++;
        else
            view->waiting++;
    }
    view->finished = state->finished.count;
    view->submitted = state->submitted;
    view->dead = state->dead.count;
    view->dead_dropped = state->dead_dropped;
    view->expired = state->expired;
    if (!state->journal)
        return;
    const journal_stats_t *stats = journal_stats (state->journal);
    view->enabled = true;
    view->dir = journal_dir (state->journal);
    view->sync = journal_sync_name (self->options.journal_sync);
    view->journal_bytes = stats->bytes;
    view->journal_records = stats->records;
    view->commits = stats->commits;
    view->fsyncs = stats->fsyncs;
    view->write_errors = stats->write_errors;
    view->lost = stats->lost;
    view->damaged = stats->damaged;
}

