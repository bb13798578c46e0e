/* worker_io.c: the worker's threads, which share a DEALER to each broker.
 *
 * No thread stands between the brokers and the handlers. The connections'
 * state is io_t, under one mutex, and whichever thread holds the mutex
 * reads and writes the sockets (a ZeroMQ socket may change threads across
 * a full memory barrier, which the mutex is). A task reaches its handler,
 * and its DONE its broker, without a hop between our threads:
 *
 * - Slot threads run handlers; slot 0 is the thread that called
 *   zf_io_serve. A slot that finishes a task sends the DONE itself and
 *   takes the next waiting task at once. A free slot waits for input:
 *   one of them (the poller) in poll(2) on the sockets' ZMQ_FDs, outside
 *   the mutex; the others on their condition variables, until a task or
 *   the poller's role is handed to them.
 * - The watcher thread keeps the timers (each broker's heartbeats, expiry
 *   and reconnection, --max-call-time, the supervisor guard) on a timerfd,
 *   takes zfarm_worker_stop's pipe, sends the handlers' progress reports
 *   when their bell rings (worker_progress.c), and reads the sockets while no slot is
 *   free to, once the oldest running task is WATCH_MS old: a CANCEL for a
 *   prefetched task is then answered while a long task runs, and a stream
 *   of short tasks never wakes it.
 *
 * ZMQ_FD only signals input that arrives after the socket was found empty,
 * so whoever touched the socket receives until it finds nothing
 * (s_service) before it lets go of the mutex.
 *
 * Invariant: a slot is busy from the task it is handed to its DONE;
 * busy_count counts busy slots, whatever broker their tasks came from. A
 * task that came on a connection that has ended (its session has another
 * generation now) still finishes, but its DONE is dropped: that broker has
 * already requeued it. So is the DONE of a task that overran max_call_ms:
 * its TIMEOUT went out when the time was up. */
#include "worker_io_internal.h"
#include "zf_log.h"
#include "task_internal.h"
#include "zf_util.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* While every slot is busy, the watcher reads the socket once the oldest
 * task has run this long: soon enough to give back a prefetched task that
 * waits behind a long one, late enough that short tasks never wake it. */
#define WATCH_MS 2

/* Messages one pass reads before it lets the others have the mutex. */
#define READ_BATCH 64

/* ---- the lock -------------------------------------------------------- */

/* The io whose lock this thread holds, if any: what ZF_IO_HELD checks.
 * A thread's own variable, so the check reads nothing another writes. */
static _Thread_local const io_t *tl_holding;

void
zf_io_lock (io_t *self)
{
    pthread_mutex_lock (&self->lock);
    tl_holding = self;
}

void
zf_io_unlock (io_t *self)
{
    ZF_IO_HELD (self);
    tl_holding = NULL;
    pthread_mutex_unlock (&self->lock);
}

void
zf_io_wait (io_t *self, pthread_cond_t *cond)
{
    ZF_IO_HELD (self);
    tl_holding = NULL;
    pthread_cond_wait (cond, &self->lock);
    tl_holding = self;
}

bool
zf_io_held (const io_t *self)
{
    return tl_holding == self;
}

/* ---- waking threads ------------------------------------------------ */

/* Wakes the watcher at the given time (zf_now_ms's clock), unless its
 * alarm is set for earlier already. */
void
zf_io_arm (io_t *self, int64_t at)
{
    ZF_IO_HELD (self);
    if (self->armed_at && self->armed_at <= at)
        return;
    struct itimerspec alarm = { .it_value = {
        .tv_sec = at / 1000, .tv_nsec = (at % 1000) * 1000000 } };
    if (alarm.it_value.tv_sec == 0 && alarm.it_value.tv_nsec == 0)
        alarm.it_value.tv_nsec = 1;     /* zero would disarm it */
    if (timerfd_settime (self->timer_fd, TFD_TIMER_ABSTIME, &alarm,
                         NULL) == 0)
        self->armed_at = at;
}

/* Wakes the polling slot, if one polls. */
void
zf_io_ring (io_t *self)
{
    ZF_IO_HELD (self);
    uint64_t one = 1;
    if (self->poller != NO_SLOT
    &&  write (self->bell_fd, &one, sizeof one) == -1) {
        /* The counter is full: it is ringing already. */
    }
}

static void
s_drain_fd (int fd)
{
    uint64_t count;
    if (read (fd, &count, sizeof count) == -1) {
        /* Nothing to drain: another thread was first. */
    }
}

/* Takes the last free slot off the sleepers stack; NO_SLOT if none. The
 * caller signals its wake once it has given it a task or a role. */
static uint32_t
s_pop_sleeper (io_t *self)
{
    ZF_IO_HELD (self);
    if (self->sleeper_count == 0)
        return NO_SLOT;
    uint32_t index = self->sleepers [--self->sleeper_count];
    self->slots [index].asleep = false;
    return index;
}

/* While no slot polls and caller is about to run a task: hands the
 * poller's role to a sleeping slot, if there is one, so that tasks for
 * the other free slots are read at once. */
static void
s_call_poller (io_t *self, uint32_t caller)
{
    ZF_IO_HELD (self);
    if (self->poller != NO_SLOT || self->finished
    ||  (self->poller_called != NO_SLOT && self->poller_called != caller))
        return;
    uint32_t index = s_pop_sleeper (self);
    self->poller_called = index;
    if (index != NO_SLOT)
        pthread_cond_signal (&self->slots [index].wake);
}

/* Every thread leaves its loop. */
void
zf_io_wake_all (io_t *self)
{
    ZF_IO_HELD (self);
    self->finished = true;
    while (self->sleeper_count > 0)
        pthread_cond_signal (&self->slots [s_pop_sleeper (self)].wake);
    zf_io_ring (self);
    zf_io_arm (self, zf_now_ms ());
}

/* ---- the waiting ring ------------------------------------------------ */

void
zf_io_waiting_push (io_t *self, const waiting_t *entry)
{
    ZF_IO_HELD (self);
    uint32_t size = self->waiting_size;
    assert (self->waiting_count < size);
    self->waiting [(self->waiting_head + self->waiting_count++) % size]
        = *entry;
    self->sessions [entry->session].waiting_count++;
}

bool
zf_io_waiting_pop (io_t *self, waiting_t *entry)
{
    ZF_IO_HELD (self);
    if (self->waiting_count == 0)
        return false;
    *entry = self->waiting [self->waiting_head];
    self->waiting_head = (self->waiting_head + 1) % self->waiting_size;
    self->waiting_count--;
    self->sessions [entry->session].waiting_count--;
    return true;
}

/* Removes the entry i places after the head; the ones behind it move up,
 * keeping their order. */
static void
s_waiting_delete (io_t *self, uint32_t i)
{
    uint32_t size = self->waiting_size;
    uint32_t at = (self->waiting_head + i) % size;
    self->sessions [self->waiting [at].session].waiting_count--;
    for (uint32_t j = i + 1; j < self->waiting_count; j++) {
        uint32_t next = (self->waiting_head + j) % size;
        self->waiting [at] = self->waiting [next];
        at = next;
    }
    self->waiting_count--;
}

zfarm_task_t *
zf_io_waiting_remove (io_t *self, uint32_t session, uint64_t task_id)
{
    ZF_IO_HELD (self);
    for (uint32_t i = 0; i < self->waiting_count; i++) {
        waiting_t *entry = &self->waiting [(self->waiting_head + i)
                                           % self->waiting_size];
        if (entry->session == session && zf_task_id (entry->task) == task_id) {
            zfarm_task_t *task = entry->task;
            s_waiting_delete (self, i);
            return task;
        }
    }
    return NULL;
}

void
zf_io_waiting_purge (io_t *self, uint32_t session)
{
    ZF_IO_HELD (self);
    uint32_t i = 0;
    while (i < self->waiting_count) {
        waiting_t *entry = &self->waiting [(self->waiting_head + i)
                                           % self->waiting_size];
        if (session == ZF_ALL_SESSIONS || entry->session == session) {
            zf_task_destroy (&entry->task);
            s_waiting_delete (self, i);
        }
        else
            i++;
    }
}

/* ---- handing out tasks --------------------------------------------- */

/* Hands the slot a task; its thread runs it. */
static void
s_slot_start (io_t *self, uint32_t index, const waiting_t *entry)
{
    ZF_IO_HELD (self);
    slot_t *slot = &self->slots [index];
    slot->task = entry->task;
    slot->busy = true;
    slot->session = entry->session;
    slot->generation = entry->generation;
    slot->started = zf_now_ms ();
    zf_session_slot_time (self, slot, zf_task_id (entry->task));
    self->busy_count++;
    /* No slot may be left to read the socket: the watcher will. */
    zf_io_arm (self, slot->started + WATCH_MS);
}

/* A free slot that neither sleeps nor polls, or NO_SLOT: its thread is on
 * its way into its loop (starting, or called to poll and waiting for the
 * mutex), whose first turn runs what it was handed. */
static uint32_t
s_slot_in_transit (io_t *self)
{
    if (self->busy_count == self->capacity)
        return NO_SLOT;         /* the common case: no scan */
    for (uint32_t i = 0; i < self->capacity; i++)
        if (!self->slots [i].busy && !self->slots [i].asleep
        &&  i != self->poller)
            return i;
    return NO_SLOT;
}

/* Hands waiting tasks to free slots, oldest first: to the calling slot
 * (no hop to another thread), then to sleeping ones, then to the polling
 * one (which the bell wakes), then to one on its way into its loop. A task
 * read is a task started, whoever read it: a stop that comes after lets it
 * finish. What is left waits for the first slot to finish. */
static void
s_dispatch (io_t *self, uint32_t caller)
{
    ZF_IO_HELD (self);
    while (!self->stopping && self->waiting_count > 0) {
        uint32_t index = caller;
        if (index == NO_SLOT || self->slots [index].busy)
            index = s_pop_sleeper (self);
        if (index == NO_SLOT && self->poller != NO_SLOT
        &&  !self->slots [self->poller].busy)
            index = self->poller;
        if (index == NO_SLOT)
            index = s_slot_in_transit (self);
        if (index == NO_SLOT)
            break;
        waiting_t entry;
        zf_io_waiting_pop (self, &entry);
        s_slot_start (self, index, &entry);
        if (index == self->poller)
            zf_io_ring (self);
        else
        if (index != caller)
            pthread_cond_signal (&self->slots [index].wake);
        if (self->max_tasks && ++self->tasks_started == self->max_tasks) {
            self->end = ZF_IO_MAX_TASKS;
            zf_session_begin_stop (self, "max tasks reached");
        }
    }
    zf_session_announce (self);
    /* Every thread's service ends here before it may block, and a task
     * just started may be the last its broker had waiting here. */
    zf_outbox_settle (self);
}

/* Reads what the brokers sent, each in turn. Each ends with a receive that
 * found nothing, which is what lets the pollers sleep on ZMQ_FD; after a
 * full batch, with the watcher woken to read on. */
static void
s_read (io_t *self)
{
    ZF_IO_HELD (self);
    for (uint32_t i = 0; i < self->session_count; i++) {
        session_t *session = &self->sessions [i];
        for (int reads = 0; session->sock; reads++) {
            if (reads == READ_BATCH) {
                zf_io_arm (self, zf_now_ms ());
                break;
            }
            if (!zf_session_on_broker (self, session))
                break;
        }
    }
}

/* Reads, then hands out the waiting tasks (caller: the calling slot, or
 * NO_SLOT). A stop is taken before the read, never between the read and
 * the hand-out: a signal that comes as a task is read (after the worker
 * answered what came before it) would otherwise drop a task a free slot
 * was to run. */
static void
s_service (io_t *self, uint32_t caller)
{
    ZF_IO_HELD (self);
    zf_session_check_stop (self);
    s_read (self);
    s_dispatch (self, caller);
}

/* ---- the watcher --------------------------------------------------- */

/* The next timer, at most one interval away, so that a signal caught on
 * a busy thread is noticed within one interval. */
static int64_t
s_next_timer (io_t *self, int64_t now)
{
    int64_t next = now + self->own_heartbeat_ms;
    if (self->guard.pid && self->guard_at < next)
        next = self->guard_at;
    if (self->call_check_at && self->call_check_at < next)
        next = self->call_check_at;
    if (self->slots_due_at && self->slots_due_at < next)
        next = self->slots_due_at;
    if (self->progress_due_at && self->progress_due_at < next)
        next = self->progress_due_at;
    for (uint32_t i = 0; i < self->session_count; i++) {
        session_t *session = &self->sessions [i];
        if (session->sock) {
            next = session->heartbeat_at < next? session->heartbeat_at: next;
            next = session->expiry_at < next? session->expiry_at: next;
        }
        else
        if (!self->stopping)
            next = session->reconnect_at < next? session->reconnect_at: next;
    }
    return next;
}

/* Fills fds with the connected sessions' descriptors, from index at;
 * returns the new count. */
static int
s_session_fds (io_t *self, struct pollfd *fds, int at)
{
    for (uint32_t i = 0; i < self->session_count; i++)
        if (self->sessions [i].sock)
            fds [at++] = (struct pollfd) { .fd = self->sessions [i].fd,
                                           .events = POLLIN };
    return at;
}

/* True if the watcher should read the socket now: no slot can, and the
 * oldest task has run WATCH_MS. Otherwise *next_p may move to when that
 * will be. */
static bool
s_watching (io_t *self, int64_t now, int64_t *next_p)
{
    if (!zf_session_any_connected (self) || self->poller != NO_SLOT
    ||  self->busy_count == 0)
        return false;
    int64_t oldest = now;
    for (uint32_t i = 0; i < self->capacity; i++)
        if (self->slots [i].busy && self->slots [i].started < oldest)
            oldest = self->slots [i].started;
    if (now >= oldest + WATCH_MS)
        return true;
    if (oldest + WATCH_MS < *next_p)
        *next_p = oldest + WATCH_MS;
    return false;
}

static void *
s_watcher (void *args)
{
    io_t *self = args;
    zf_io_lock (self);
    while (!self->finished) {
        /* Input first: a heartbeat waiting in the socket keeps the broker
         * alive for the expiry check. */
        s_service (self, NO_SLOT);
        zf_session_on_timers (self);
        s_service (self, NO_SLOT);
        if (self->finished)
            break;
        int64_t now = zf_now_ms ();
        int64_t next = s_next_timer (self, now);
        bool watching = s_watching (self, now, &next);
        zf_io_arm (self, next);
        struct pollfd fds [3 + ZF_BROKERS_MAX] = {
            { .fd = self->timer_fd, .events = POLLIN },
            { .fd = self->wakeup_fd, .events = POLLIN },
            { .fd = self->progress_fd, .events = POLLIN },
        };
        int count = watching? s_session_fds (self, fds, 3): 3;
        zf_io_unlock (self);
        int rc = poll (fds, (nfds_t) count, -1);
        zf_io_lock (self);
        if (rc > 0 && (fds [0].revents & POLLIN)) {
            s_drain_fd (self->timer_fd);
            self->armed_at = 0;
        }
        if (rc > 0 && (fds [1].revents & POLLIN))
            zf_session_on_wakeup (self);
        if (rc > 0 && (fds [2].revents & POLLIN)) {
            s_drain_fd (self->progress_fd);
            zf_session_send_progress (self);
        }
        zf_session_check_stop (self);
    }
    zf_io_unlock (self);
    return NULL;
}

/* ---- slots: the threads that run handlers -------------------------- */

/* The free slot waits for the brokers, outside the mutex. */
static void
s_poll (io_t *self, uint32_t index)
{
    ZF_IO_HELD (self);
    self->poller = index;
    self->poller_called = NO_SLOT;
    struct pollfd fds [1 + ZF_BROKERS_MAX] = {
        { .fd = self->bell_fd, .events = POLLIN },
    };
    int count = s_session_fds (self, fds, 1);
    zf_io_unlock (self);
    int rc = poll (fds, (nfds_t) count, -1);
    zf_io_lock (self);
    self->poller = NO_SLOT;
    if (rc > 0 && (fds [0].revents & POLLIN))
        s_drain_fd (self->bell_fd);
    zf_session_check_stop (self);
}

/* The free slot waits until another thread hands it a task or the
 * poller's role, or all leave. */
static void
s_sleep (io_t *self, uint32_t index)
{
    ZF_IO_HELD (self);
    slot_t *slot = &self->slots [index];
    if (self->poller_called == index)
        self->poller_called = NO_SLOT;  /* another slot polls already */
    slot->asleep = true;
    self->sleepers [self->sleeper_count++] = index;
    while (slot->asleep && !self->finished)
        zf_io_wait (self, &slot->wake);
}

static void
s_slot_loop (io_t *self, uint32_t index)
{
    slot_t *slot = &self->slots [index];
    zf_io_lock (self);
    while (!self->finished) {
        s_service (self, index);
        if (slot->busy) {
            s_call_poller (self, index);
            zfarm_task_t *task = slot->task;
            zf_io_unlock (self);
            zf_task_run (task);
            zf_io_lock (self);
            /* What came meanwhile first: the DONE says whether a task
             * waits for this slot (ZF_FLAG_IDLE). */
            s_read (self);
            zf_session_on_done (self, index);
        }
        else
        if (self->finished)
            break;
        else
        if (self->poller == NO_SLOT)
            s_poll (self, index);
        else
            s_sleep (self, index);
    }
    zf_io_unlock (self);
}

typedef struct {
    io_t *io;
    uint32_t index;
} slot_args_t;

static void *
s_slot_thread (void *args)
{
    slot_args_t *slot_args = args;
    io_t *self = slot_args->io;
    uint32_t index = slot_args->index;
    free (slot_args);
    s_slot_loop (self, index);
    return NULL;
}

/* ---- the whole ----------------------------------------------------- */

static void
s_io_free (io_t *self)
{
    for (uint32_t i = 0; i < self->session_count; i++) {
        zsock_destroy (&self->sessions [i].sock);
        zf_batch_free (&self->sessions [i].outbox);
        free (self->sessions [i].endpoint);
    }
    /* No other thread is left, but the purge's contract is the lock. */
    zf_io_lock (self);
    zf_io_waiting_purge (self, ZF_ALL_SESSIONS);
    zf_io_unlock (self);
    free (self->waiting);
    zf_decoder_destroy (&self->decoder);
    zf_curve_clear (&self->curve);
    for (uint32_t i = 0; i < self->capacity; i++)
        pthread_cond_destroy (&self->slots [i].wake);
    if (self->bell_fd >= 0)
        close (self->bell_fd);
    if (self->timer_fd >= 0)
        close (self->timer_fd);
    if (self->progress_fd >= 0)
        close (self->progress_fd);
    pthread_mutex_destroy (&self->lock);
    free (self->slots);
    free (self->sleepers);
    free (self);
}

/* Ends the threads that were started; the lock is not held. */
static void
s_threads_join (io_t *self)
{
    zf_io_lock (self);
    zf_io_wake_all (self);
    zf_io_unlock (self);
    for (uint32_t i = 1; i <= self->threads_started; i++)
        pthread_join (self->slots [i].thread, NULL);
    if (self->watcher_started)
        pthread_join (self->watcher, NULL);
}

/* Starts the watcher and slots 1..; false (with the reason logged) if
 * the system would not give us a thread. */
static bool
s_threads_start (io_t *self)
{
    int rc = pthread_create (&self->watcher, NULL, s_watcher, self);
    self->watcher_started = rc == 0;
    for (uint32_t i = 1; rc == 0 && i < self->capacity; i++) {
        slot_args_t *args = zf_malloc (sizeof *args);
        *args = (slot_args_t) { .io = self, .index = i };
        rc = pthread_create (&self->slots [i].thread, NULL, s_slot_thread,
                             args);
        if (rc == 0)
            self->threads_started = i;
        else
            free (args);
    }
    if (rc != 0)
        zf_error ("worker: cannot start a thread (capacity %u): %s",
                    self->capacity, strerror (rc));
    return rc == 0;
}

zf_io_t *
zf_io_new (const zf_io_config_t *config)
{
    assert (config->service_count >= 1
            && config->service_count <= ZF_SERVICES_MAX);
    assert (config->capacity >= 1 && config->capacity <= ZF_CAPACITY_MAX);
    assert (config->endpoint_count >= 1
            && config->endpoint_count <= ZF_BROKERS_MAX);
    assert (config->stop_requested);
    io_t *self = zf_malloc (sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    self->session_count = config->endpoint_count;
    for (uint32_t i = 0; i < self->session_count; i++)
        self->sessions [i] = (session_t) {
            .endpoint = zf_strdup (config->endpoints [i]), .index = i,
            .fd = -1, .reconnect_ms = ZF_RECONNECT_MIN_MS };
    for (uint32_t i = 0; i < self->session_count; i++)
        zf_batch_init (&self->sessions [i].outbox);
    memcpy (self->services, config->services,
            config->service_count * sizeof *config->services);
    self->service_count = config->service_count;
    self->capacity = config->capacity;
    self->own_heartbeat_ms = config->heartbeat_ms;
    self->own_liveness = config->liveness;
    self->max_tasks = config->max_tasks;
    self->max_call_ms = config->max_call_ms;
    self->cancel_grace_ms = config->cancel_grace_ms;
    self->idle_exit_ms = config->idle_exit_ms;
    self->give_up_ms = config->give_up_ms;
    self->idle_since = self->unserved_since = zf_now_ms ();
    self->guard = config->guard;
    self->wakeup_fd = config->wakeup_fd;
    self->stop_requested = config->stop_requested;
    self->curve = config->curve;
    self->decoder = zf_decoder_new ();
    /* Each broker may send a task per slot, and prefetch more. */
    self->waiting_size = self->capacity * (1 + ZF_PREFETCH_MAX)
                       * self->session_count;
    self->waiting = zf_malloc (self->waiting_size * sizeof *self->waiting);
    self->stop_reason = "worker stopped";
    self->slots = zf_malloc (self->capacity * sizeof *self->slots);
    for (uint32_t i = 0; i < self->capacity; i++)
        pthread_cond_init (&self->slots [i].wake, NULL);
    self->sleepers = zf_malloc (self->capacity * sizeof *self->sleepers);
    self->poller_called = NO_SLOT;
    self->poller = NO_SLOT;
    self->bell_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->timer_fd = timerfd_create (CLOCK_MONOTONIC,
                                     TFD_NONBLOCK | TFD_CLOEXEC);
    self->progress_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->bell_fd == -1 || self->timer_fd == -1
    ||  self->progress_fd == -1) {
        zf_error ("worker: eventfd/timerfd: %s", strerror (errno));
        s_io_free (self);
        return NULL;
    }
    /* Threads wait for the mutex until the first READY is out. */
    zf_io_lock (self);
    bool started = s_threads_start (self);
    if (started)
        for (uint32_t i = 0; i < self->session_count; i++)
            zf_session_connect (self, &self->sessions [i]);
    else
        self->finished = true;  /* the watcher must not connect either */
    zf_io_unlock (self);
    if (!started) {
        s_threads_join (self);
        s_io_free (self);
        return NULL;
    }
    return self;
}

zf_io_end_t
zf_io_serve (zf_io_t *self)
{
    assert (self);
    s_slot_loop (self, 0);
    return self->end;
}

void
zf_io_destroy (zf_io_t **self_p)
{
    assert (self_p);
    io_t *self = *self_p;
    if (!self)
        return;
    s_threads_join (self);
    s_io_free (self);
    *self_p = NULL;
}
