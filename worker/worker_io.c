/* worker_io.c: the worker's threads, which share one DEALER to the broker.
 *
 * No thread stands between the broker and the handlers. The connection's
 * state is io_t, under one mutex, and whichever thread holds the mutex
 * reads and writes the socket (a ZeroMQ socket may change threads across a
 * full memory barrier, which the mutex is). A task reaches its handler,
 * and its DONE the broker, without a hop between our threads:
 *
 * - Slot threads run handlers; slot 0 is the thread that called
 *   zf_io_serve. A slot that finishes a task sends the DONE itself and
 *   takes the next waiting task at once. A free slot waits for input:
 *   one of them (the poller) in poll(2) on the socket's ZMQ_FD, outside
 *   the mutex; the others on their condition variables, until a task or
 *   the poller's role is handed to them.
 * - The watcher thread keeps the timers (heartbeats, the broker's expiry,
 *   reconnection, --max-call-time, the supervisor guard) on a timerfd,
 *   takes zfarm_worker_stop's pipe, and reads the socket while no slot is
 *   free to, once the oldest running task is WATCH_MS old: a CANCEL for a
 *   prefetched task is then answered while a long task runs, and a stream
 *   of short tasks never wakes it.
 *
 * ZMQ_FD only signals input that arrives after a ZMQ_EVENTS check found
 * none, so whoever touched the socket checks ZMQ_EVENTS (s_service) before
 * it lets go of the mutex.
 *
 * Invariant: a slot is busy from the task it is handed to its DONE;
 * busy_count counts busy slots. A task that came on an earlier connection
 * (a generation ago) still finishes, but its DONE is dropped: the broker
 * has already requeued it. So is the DONE of a task that overran
 * max_call_ms: its TIMEOUT went out when the time was up. */
#include "worker_io.h"
#include "zf_log.h"
#include "task_internal.h"
#include "zf_proto.h"
#include "zf_util.h"
#include "zf_wire.h"
#include "zfarm_codes.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* A handler that overran max_call_ms has this long to return before the
 * process is given up on: ample for one that stops its own work at the
 * limit (zfarm-worker --exec kills its command); a hung one holds its slot
 * no longer than this. */
#define OVERRUN_GRACE_MS 1000

/* While every slot is busy, the watcher reads the socket once the oldest
 * task has run this long: soon enough to give back a prefetched task that
 * waits behind a long one, late enough that short tasks never wake it. */
#define WATCH_MS 2

/* Messages one pass reads before it lets the others have the mutex. */
#define READ_BATCH 64

#define NO_SLOT UINT32_MAX

typedef struct {
    pthread_t thread;           /* slots 1.. only: slot 0 is the caller */
    pthread_cond_t wake;        /* a task, the poller's role, or the end */
    zfarm_task_t *task;         /* while busy: the task it runs */
    bool busy;                  /* handed a task, and its DONE not sent */
    bool asleep;                /* on the sleepers stack */
    uint64_t generation;        /* the connection that task came on */
    uint64_t task_id;           /* the broker's id for that task */
    int64_t started;            /* when it was handed the task */
    int64_t call_end;           /* its handler overruns then; 0: no limit */
    bool overran;               /* its TIMEOUT went out at call_end */
    bool stuck;                 /* still running after the grace too */
} slot_t;

struct _zf_io_t {
    pthread_mutex_t lock;       /* everything below, and the socket */
    char *endpoint;             /* the broker */
    zf_service_t services [ZF_SERVICES_MAX];
    size_t service_count;
    uint32_t capacity;          /* slots */
    int heartbeat_ms;           /* heartbeat interval */
    int liveness;               /* silent intervals before reconnecting */
    uint64_t max_tasks;         /* stop after starting this many; 0 = never */
    uint64_t tasks_started;     /* tasks handed to slots */
    uint32_t max_call_ms;       /* a handler may run this long; 0 = ever */
    int64_t call_check_at;      /* the earliest call_end (or call_end plus
                                   grace) of a busy slot; 0: none */
    uint32_t stuck_count;       /* slots whose handler is stuck */
    int exit_status;            /* non-zero: _exit with it once idle */
    zf_pool_guard_t guard;      /* the supervisor we must not outlive */
    int64_t guard_at;           /* when to check on it next */
    int wakeup_fd;              /* readable after zfarm_worker_stop */
    const atomic_int *stop_requested;   /* set by zfarm_worker_stop */
    zsock_t *broker;            /* DEALER; NULL between connections */
    int broker_fd;              /* its ZMQ_FD, or -1 */
    zf_curve_t curve;           /* CURVE keys for each new DEALER */
    zf_decoder_t *decoder;      /* for the broker's headers */
    uint64_t generation;        /* connections opened so far */
    int64_t heartbeat_at;       /* the next HEARTBEAT is due */
    int64_t expiry_at;          /* the broker is presumed gone after this */
    int64_t reconnect_at;       /* next connection, while broker is NULL */
    int reconnect_ms;           /* back-off before the next connection */
    slot_t *slots;              /* capacity of them */
    uint32_t threads_started;   /* slots 1.. with a thread */
    uint32_t busy_count;
    uint32_t *sleepers;         /* stack of free slots waiting on wake */
    uint32_t sleeper_count;
    bool polling;               /* a slot is in poll(2) on broker_fd */
    uint32_t poller_called;     /* the sleeper told to poll; NO_SLOT */
    int bell_fd;                /* eventfd that wakes the polling slot */
    pthread_t watcher;
    bool watcher_started;
    int timer_fd;               /* the watcher's alarm clock */
    int64_t armed_at;           /* when timer_fd fires; 0: not armed */
    zlistx_t *waiting;          /* tasks received that no slot runs yet */
    const char *stop_reason;    /* the DISCONNECT text */
    bool stopping;              /* start no task; leave once idle */
    bool finished;              /* every thread leaves its loop */
};

typedef zf_io_t io_t;

/* ---- waking threads ----------------------------------------------------- */

/* Wakes the watcher at the given time (zf_now_ms's clock), unless its
 * alarm is set for earlier already. */
static void
s_arm (io_t *self, int64_t at)
{
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
static void
s_ring (io_t *self)
{
    uint64_t one = 1;
    if (self->polling && write (self->bell_fd, &one, sizeof one) == -1) {
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
    if (self->polling || self->finished
    ||  (self->poller_called != NO_SLOT && self->poller_called != caller))
        return;
    uint32_t index = s_pop_sleeper (self);
    self->poller_called = index;
    if (index != NO_SLOT)
        pthread_cond_signal (&self->slots [index].wake);
}

/* Every thread leaves its loop. */
static void
s_wake_all (io_t *self)
{
    self->finished = true;
    while (self->sleeper_count > 0)
        pthread_cond_signal (&self->slots [s_pop_sleeper (self)].wake);
    s_ring (self);
    s_arm (self, zf_now_ms ());
}

/* ---- the connection to the broker -------------------------------------- */

static void
s_send (io_t *self, const zf_header_t *header, zmsg_t **payload_p)
{
    /* Never block with the mutex held: a broker that takes nothing for a
     * whole send queue is about to be given up on by the liveness check. */
    if (!(zsock_events (self->broker) & ZMQ_POLLOUT)) {
        if (header->command != ZF_HEARTBEAT)
            zf_warning ("worker: broker %s is not reading; %s dropped",
                          self->endpoint, zf_command_name (header->command));
        if (payload_p)
            zmsg_destroy (payload_p);
        return;
    }
    zf_wire_send (self->broker, header, payload_p);
    self->heartbeat_at = zf_now_ms () + self->heartbeat_ms;
}

/* Writes "name name ..." for the log. */
static void
s_service_names (io_t *self, char *text, size_t size)
{
    size_t used = 0;
    text [0] = 0;
    for (size_t i = 0; i < self->service_count && used < size; i++)
        used += snprintf (text + used, size - used, "%s%s",
                          i? " ": "", self->services [i].name);
}

static void
s_send_ready (io_t *self)
{
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    for (size_t i = 0; i < self->service_count; i++)
        memcpy (header.services [i], self->services [i].name,
                sizeof header.services [i]);
    header.service_count = (uint32_t) self->service_count;
    header.capacity = self->capacity;
    header.pid = (uint32_t) getpid ();
    snprintf (header.host, sizeof header.host, "%s", zf_hostname ());
    zf_header_set_text (&header, ZFARM_VERSION);
    s_send (self, &header, NULL);

    char names [ZF_SERVICES_MAX * (ZF_SERVICE_MAX + 1)];
    s_service_names (self, names, sizeof names);
    zf_info ("worker: READY to %s: %s (capacity %u)",
               self->endpoint, names, self->capacity);
}

static void
s_backoff (io_t *self)
{
    self->reconnect_at = zf_now_ms () + self->reconnect_ms;
    self->reconnect_ms = self->reconnect_ms * 2 > ZF_RECONNECT_MAX_MS?
                         ZF_RECONNECT_MAX_MS: self->reconnect_ms * 2;
    s_arm (self, self->reconnect_at);
}

static void
s_connect (io_t *self)
{
    assert (!self->broker);
    self->broker = zsock_new (ZMQ_DEALER);
    /* Keys and routing id go on before the connect: libzmq takes them from
     * the socket as the connection is made. A fresh id per connection. */
    uint8_t routing_id [ZF_ROUTING_ID_SIZE];
    zf_random_routing_id (routing_id);
    if (!self->broker
    ||  zmq_setsockopt (zsock_resolve (self->broker), ZMQ_ROUTING_ID,
                        routing_id, sizeof routing_id) != 0
    ||  zf_curve_apply (&self->curve, zsock_resolve (self->broker)) != 0
    ||  zsock_connect (self->broker, "%s", self->endpoint) == -1) {
        zf_error ("worker: cannot connect to %s: %s; retrying in %d ms",
                    self->endpoint, zmq_strerror (zmq_errno ()),
                    self->reconnect_ms);
        zsock_destroy (&self->broker);
        s_backoff (self);
        return;
    }
    self->generation++;
    self->broker_fd = zsock_fd (self->broker);
    self->expiry_at = zf_now_ms () + (int64_t) self->heartbeat_ms
                                   * self->liveness;
    s_send_ready (self);
    /* The pollers wait on the old socket's descriptor, or on none. */
    s_ring (self);
    s_arm (self, zf_now_ms ());
}

/* Closes the connection. Tasks not started yet are dropped: the broker
 * requeues them when it forgets this connection. */
static void
s_disconnect (io_t *self)
{
    zsock_destroy (&self->broker);
    self->broker_fd = -1;
    zlistx_purge (self->waiting);
    s_ring (self);
    s_arm (self, zf_now_ms ());
}

/* Gives up on this connection and schedules the next, unless stopping. */
static void
s_reconnect (io_t *self, const char *why)
{
    s_disconnect (self);
    if (self->stopping)
        return;
    zf_warning ("worker: %s; registering again in %d ms",
                  why, self->reconnect_ms);
    s_backoff (self);
}

/* ---- stopping ----------------------------------------------------------- */

/* Sends DISCONNECT, then a HEARTBEAT, which the broker answers with
 * DISCONNECT since it no longer knows us (PROTOCOL.md): once that answer
 * is in, all we sent before it has arrived, and _exit loses nothing. Waits
 * at most one heartbeat interval for it. */
static void
s_say_goodbye (io_t *self, const char *reason)
{
    zf_header_t header;
    zf_header_init (&header, ZF_DISCONNECT);
    zf_header_set_text (&header, reason);
    s_send (self, &header, NULL);
    zf_header_init (&header, ZF_HEARTBEAT);
    s_send (self, &header, NULL);
    zmq_pollitem_t item = { .socket = zsock_resolve (self->broker),
                            .events = ZMQ_POLLIN };
    int64_t deadline = zf_now_ms () + self->heartbeat_ms, left;
    while ((left = deadline - zf_now_ms ()) > 0) {
        int rc = zmq_poll (&item, 1, (long) left);
        if (rc == -1 && zmq_errno () != EINTR)
            return;
        if (rc <= 0)
            continue;           /* interrupted, or out of time */
        zmsg_t *payload = NULL;
        rc = zf_wire_recv (self->broker, self->decoder, &header, &payload);
        zmsg_destroy (&payload);
        if (rc == 0 && header.command == ZF_DISCONNECT)
            return;
    }
}

/* Ends the process at once, for a reason no handler may delay: a normal
 * exit would wait for handler threads that may never return. The broker
 * hears DISCONNECT first (it requeues what we held without spending a
 * retry), and the commands that handlers started die with us. */
static void
s_exit_process (io_t *self, int status, const char *reason)
{
    zf_error ("worker: %s; exiting with status %d", reason, status);
    if (self->broker)
        s_say_goodbye (self, reason);
    zf_pool_kill_strays (NULL);
    _exit (status);
}

/* Once no slot is busy but the stuck ones: DISCONNECT, and every thread
 * leaves, or the process ends if a handler is stuck. */
static void
s_finish_if_idle (io_t *self)
{
    if (!self->stopping || self->finished
    ||  self->busy_count > self->stuck_count)
        return;
    if (self->exit_status)
        s_exit_process (self, self->exit_status, self->stop_reason);
    if (self->broker) {
        zf_header_t header;
        zf_header_init (&header, ZF_DISCONNECT);
        zf_header_set_text (&header, self->stop_reason);
        s_send (self, &header, NULL);
        /* Give the last DONE and the DISCONNECT one interval to leave. */
        zsock_set_linger (self->broker, self->heartbeat_ms);
        s_disconnect (self);
    }
    zlistx_purge (self->waiting);
    s_wake_all (self);
}

static void
s_begin_stop (io_t *self, const char *reason)
{
    if (self->stopping)
        return;
    self->stopping = true;
    self->stop_reason = reason;
    s_finish_if_idle (self);
}

/* A stop asked for by zfarm_worker_stop or a signal. A handler that calls
 * zfarm_worker_stop sets the flag before its DONE goes out, so the stop
 * is taken before the next task could start. */
static void
s_check_stop (io_t *self)
{
    if (atomic_load (self->stop_requested))
        s_begin_stop (self, "worker stopped");
    else
    if (zsys_interrupted)
        s_begin_stop (self, "worker interrupted");
}

static void
s_on_wakeup (io_t *self)
{
    /* Bounded: whatever is left wakes the next poll, and stop is
     * idempotent anyway. */
    char bytes [64];
    for (int reads = 0; reads < 16; reads++)
        if (read (self->wakeup_fd, bytes, sizeof bytes) <= 0)
            break;
    s_begin_stop (self, "worker stopped");
}

/* ---- tasks -------------------------------------------------------------- */

/* Starts the clock on a slot's task, when calls have a time limit. */
static void
s_slot_time (io_t *self, slot_t *slot, uint64_t task_id)
{
    slot->task_id = task_id;
    slot->overran = slot->stuck = false;
    slot->call_end = 0;
    if (!self->max_call_ms)
        return;
    slot->call_end = slot->started + self->max_call_ms;
    if (!self->call_check_at || slot->call_end < self->call_check_at)
        self->call_check_at = slot->call_end;
    s_arm (self, slot->call_end);
}

/* The slot's time is up: the broker hears TIMEOUT now, whenever the
 * handler returns. */
static void
s_slot_overran (io_t *self, slot_t *slot)
{
    slot->overran = true;
    zf_warning ("worker: task %" PRIu64 " ran longer than --max-call-time "
                  "%" PRIu32 " ms", slot->task_id, self->max_call_ms);
    if (self->broker && slot->generation == self->generation) {
        zf_header_t header;
        zf_task_overran_done (&header, slot->task_id, self->max_call_ms);
        s_send (self, &header, NULL);
    }
}

/* The slot's handler did not come back within the grace: it never may,
 * and only the end of the process frees its slot. Tasks in hand on the
 * other slots finish first (each within its own time limit). */
static void
s_slot_stuck (io_t *self, slot_t *slot)
{
    slot->stuck = true;
    self->stuck_count++;
    self->exit_status = ZF_EXIT_OVERRAN;
    zf_error ("worker: the handler of task %" PRIu64 " is still running "
                "%d ms past --max-call-time; ending the process",
                slot->task_id, OVERRUN_GRACE_MS);
    if (self->stopping)
        s_finish_if_idle (self);
    else
        s_begin_stop (self, "a handler overran --max-call-time");
}

/* Finds the slots whose time is up, or whose grace is, and when the next
 * one's will be. */
static void
s_check_calls (io_t *self, int64_t now)
{
    int64_t next = 0;
    for (uint32_t i = 0; i < self->capacity; i++) {
        slot_t *slot = &self->slots [i];
        if (!slot->busy || !slot->call_end || slot->stuck)
            continue;
        if (!slot->overran && now >= slot->call_end)
            s_slot_overran (self, slot);
        int64_t due = slot->call_end + (slot->overran? OVERRUN_GRACE_MS: 0);
        if (now >= due)
            s_slot_stuck (self, slot);
        else
        if (!next || due < next)
            next = due;
    }
    self->call_check_at = next;
}

/* Hands the slot a task; its thread runs it. */
static void
s_slot_start (io_t *self, uint32_t index, zfarm_task_t *task)
{
    slot_t *slot = &self->slots [index];
    slot->task = task;
    slot->busy = true;
    slot->generation = self->generation;
    slot->started = zf_now_ms ();
    s_slot_time (self, slot, zf_task_id (task));
    self->busy_count++;
    /* No slot may be left to read the socket: the watcher will. */
    s_arm (self, slot->started + WATCH_MS);
}

/* Hands waiting tasks to free slots, oldest first: to the calling slot
 * (no hop to another thread), then to sleeping ones. What is left waits
 * for the first slot to finish. */
static void
s_dispatch (io_t *self, uint32_t caller)
{
    s_check_stop (self);
    while (!self->stopping && zlistx_size (self->waiting) > 0) {
        uint32_t index = caller;
        if (index == NO_SLOT || self->slots [index].busy)
            index = s_pop_sleeper (self);
        if (index == NO_SLOT)
            break;
        s_slot_start (self, index, zlistx_detach (self->waiting, NULL));
        if (index != caller)
            pthread_cond_signal (&self->slots [index].wake);
        if (self->max_tasks && ++self->tasks_started == self->max_tasks)
            s_begin_stop (self, "max tasks reached");
    }
    /* The polling slot is free: it takes the rest. */
    if (!self->stopping && zlistx_size (self->waiting) > 0)
        s_ring (self);
}

/* The slot's handler returned: its DONE goes out from this thread. */
static void
s_on_done (io_t *self, uint32_t index)
{
    slot_t *slot = &self->slots [index];
    assert (slot->busy && slot->task);
    zfarm_task_t *task = slot->task;
    slot->task = NULL;
    slot->busy = false;
    self->busy_count--;
    if (slot->stuck)
        self->stuck_count--;
    if (self->broker && slot->generation == self->generation
    &&  !slot->overran) {
        zf_header_t header;
        zmsg_t *result = zf_task_done (task, &header);
        s_send (self, &header, &result);
    }
    zf_task_destroy (&task);
    s_finish_if_idle (self);
}
/* ---- what the broker says ---------------------------------------------- */

/* Answers a TASK that will not run with a DONE that says why: status
 * CANCELLED tells the broker the task never started (it may run it
 * elsewhere); HANDLER_ERROR that it cannot run here. */
static void
s_refuse (io_t *self, uint64_t task_id, int code, const char *why)
{
    zf_header_t header;
    zf_header_init (&header, ZF_DONE);
    header.task_id = task_id;
    header.status = -code;
    zf_header_set_text (&header, why);
    s_send (self, &header, NULL);
}

static const zf_service_t *
s_service_lookup (io_t *self, const char *name)
{
    for (size_t i = 0; i < self->service_count; i++)
        if (streq (self->services [i].name, name))
            return &self->services [i];
    return NULL;
}

static void
s_on_task (io_t *self, zf_header_t *header, zmsg_t **payload_p)
{
    /* The broker sends at most one task per slot, and with prefetch one
     * more per slot in advance, so only a broken broker can hold more than
     * 2 x capacity here. While stopping, tasks wait
     * there for the DISCONNECT, which has the broker requeue them without
     * spending a retry. */
    const zf_service_t *service = s_service_lookup (self, header->service);
    char why [ZF_SERVICE_MAX + 64] = "";
    if (!service)
        snprintf (why, sizeof why, "service '%s' is not offered by this "
                  "worker", header->service);
    else
    if (self->busy_count + zlistx_size (self->waiting) >= 2 * self->capacity)
        snprintf (why, sizeof why, "worker has no free slot (capacity %u)",
                  self->capacity);
    if (*why) {
        zf_warning ("worker: task %" PRIu64 " from %s refused: %s",
                      header->task_id, self->endpoint, why);
        s_refuse (self, header->task_id, ZFARM_EHANDLER_ERROR, why);
        return;
    }
    zlistx_add_end (self->waiting,
        zf_task_new (header, service->handler, service->arg,
                     self->max_call_ms, payload_p));
}

/* CANCEL: a task not started yet ends now; a running one cannot be
 * stopped from here, and its DONE will simply be dropped by the broker. */
static void
s_on_cancel (io_t *self, zf_header_t *header, zmsg_t **payload_p)
{
    (void) payload_p;
    zfarm_task_t *task = zlistx_first (self->waiting);
    for (; task; task = zlistx_next (self->waiting))
        if (zf_task_id (task) == header->task_id) {
            zlistx_delete (self->waiting, zlistx_cursor (self->waiting));
            s_refuse (self, header->task_id, ZFARM_ECANCELLED,
                      "cancelled before it started");
            return;
        }
}

static void
s_on_heartbeat (io_t *self, zf_header_t *header, zmsg_t **payload_p)
{
    /* Counted as liveness in s_on_broker, like every message. */
    (void) self;
    (void) header;
    (void) payload_p;
}

static void
s_on_disconnect (io_t *self, zf_header_t *header, zmsg_t **payload_p)
{
    (void) payload_p;
    char why [ZF_TEXT_MAX + 64];
    snprintf (why, sizeof why, "broker %s sent DISCONNECT (%s)",
              self->endpoint, header->text);
    s_reconnect (self, why);
    s_finish_if_idle (self);
}

static void
s_on_error (io_t *self, zf_header_t *header, zmsg_t **payload_p)
{
    (void) payload_p;
    zf_warning ("worker: broker %s answered ERROR %s: %s", self->endpoint,
                  zfarm_err_name (-header->status), header->text);
}

typedef void (command_fn) (io_t *self, zf_header_t *header,
                           zmsg_t **payload_p);

static command_fn *const s_commands [ZF_COMMAND_LIMIT] = {
    [ZF_TASK]       = s_on_task,
    [ZF_CANCEL]     = s_on_cancel,
    [ZF_HEARTBEAT]  = s_on_heartbeat,
    [ZF_DISCONNECT] = s_on_disconnect,
    [ZF_ERROR]      = s_on_error,
};

static void
s_on_broker (io_t *self)
{
    zf_header_t header;
    zmsg_t *payload = NULL;
    int rc = zf_wire_recv (self->broker, self->decoder, &header, &payload);
    if (rc == -1)
        return;                 /* interrupted: poll again */
    /* Anything from the broker, even garbage, shows that it is alive. */
    self->expiry_at = zf_now_ms () + (int64_t) self->heartbeat_ms
                                   * self->liveness;
    if (rc != 0)
        zf_warning ("worker: broker %s sent a bad header: %s",
                      self->endpoint, header.text);
    else
    if (!s_commands [header.command])
        zf_warning ("worker: broker %s sent %s, which a worker does not "
                      "take", self->endpoint, zf_command_name (header.command));
    else {
        /* Only a broker that serves us resets the back-off: one that keeps
         * refusing us (ERROR, DISCONNECT) gets ever slower retries. */
        if (header.command != ZF_DISCONNECT && header.command != ZF_ERROR)
            self->reconnect_ms = ZF_RECONNECT_MIN_MS;
        s_commands [header.command] (self, &header, &payload);
    }
    zmsg_destroy (&payload);
}

/* Reads what the broker sent, then hands out the waiting tasks (caller:
 * the calling slot, or NO_SLOT). Ends with a ZMQ_EVENTS check that found
 * no input, which is what lets the pollers sleep on ZMQ_FD; after a full
 * batch, with the watcher woken to read on. */
static void
s_service (io_t *self, uint32_t caller)
{
    for (int reads = 0; self->broker
         && (zsock_events (self->broker) & ZMQ_POLLIN); reads++) {
        if (reads == READ_BATCH) {
            s_arm (self, zf_now_ms ());
            break;
        }
        s_on_broker (self);
    }
    s_dispatch (self, caller);
}

/* ---- timers: the watcher's ---------------------------------------------- */

/* Once a heartbeat interval: a worker whose supervisor died ends at once,
 * wherever PR_SET_PDEATHSIG did not reach it. */
static void
s_check_guard (io_t *self, int64_t now)
{
    self->guard_at = now + self->heartbeat_ms;
    if (!zf_pool_guard_orphaned (&self->guard))
        return;
    char why [64];
    snprintf (why, sizeof why, "supervisor %d is gone",
              (int) self->guard.pid);
    s_exit_process (self, ZF_EXIT_ORPHANED, why);
}

static void
s_on_timers (io_t *self)
{
    int64_t now = zf_now_ms ();
    if (self->guard.pid && now >= self->guard_at)
        s_check_guard (self, now);
    if (self->call_check_at && now >= self->call_check_at)
        s_check_calls (self, now);
    if (self->broker && now >= self->expiry_at) {
        char why [ZF_TEXT_MAX];
        snprintf (why, sizeof why, "no word from broker %s for %d ms",
                  self->endpoint, self->heartbeat_ms * self->liveness);
        s_reconnect (self, why);
        s_finish_if_idle (self);
    }
    if (self->broker && now >= self->heartbeat_at) {
        zf_header_t header;
        zf_header_init (&header, ZF_HEARTBEAT);
        s_send (self, &header, NULL);
    }
    if (!self->broker && !self->stopping && now >= self->reconnect_at)
        s_connect (self);
}

/* The next timer, at most one interval away, so that a signal caught on
 * a busy thread is noticed within one interval. */
static int64_t
s_next_timer (io_t *self, int64_t now)
{
    int64_t next = now + self->heartbeat_ms;
    if (self->guard.pid && self->guard_at < next)
        next = self->guard_at;
    if (self->call_check_at && self->call_check_at < next)
        next = self->call_check_at;
    if (self->broker) {
        next = self->heartbeat_at < next? self->heartbeat_at: next;
        next = self->expiry_at < next? self->expiry_at: next;
    }
    else
    if (!self->stopping)
        next = self->reconnect_at < next? self->reconnect_at: next;
    return next;
}

/* True if the watcher should read the socket now: no slot can, and the
 * oldest task has run WATCH_MS. Otherwise *next_p may move to when that
 * will be. */
static bool
s_watching (io_t *self, int64_t now, int64_t *next_p)
{
    if (!self->broker || self->polling || self->busy_count == 0)
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
    pthread_mutex_lock (&self->lock);
    while (!self->finished) {
        /* Input first: a heartbeat waiting in the socket keeps the broker
         * alive for the expiry check. */
        s_service (self, NO_SLOT);
        s_on_timers (self);
        s_service (self, NO_SLOT);
        if (self->finished)
            break;
        int64_t now = zf_now_ms ();
        int64_t next = s_next_timer (self, now);
        bool watching = s_watching (self, now, &next);
        s_arm (self, next);
        struct pollfd fds [3] = {
            { .fd = self->timer_fd, .events = POLLIN },
            { .fd = self->wakeup_fd, .events = POLLIN },
            { .fd = watching? self->broker_fd: -1, .events = POLLIN },
        };
        pthread_mutex_unlock (&self->lock);
        int rc = poll (fds, 3, -1);
        pthread_mutex_lock (&self->lock);
        if (rc > 0 && (fds [0].revents & POLLIN)) {
            s_drain_fd (self->timer_fd);
            self->armed_at = 0;
        }
        if (rc > 0 && (fds [1].revents & POLLIN))
            s_on_wakeup (self);
        s_check_stop (self);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

/* ---- slots: the threads that run handlers ------------------------------- */

/* The free slot waits for the broker, outside the mutex. */
static void
s_poll (io_t *self)
{
    self->polling = true;
    self->poller_called = NO_SLOT;
    struct pollfd fds [2] = {
        { .fd = self->bell_fd, .events = POLLIN },
        { .fd = self->broker_fd, .events = POLLIN },
    };
    pthread_mutex_unlock (&self->lock);
    int rc = poll (fds, 2, -1);
    pthread_mutex_lock (&self->lock);
    self->polling = false;
    if (rc > 0 && (fds [0].revents & POLLIN))
        s_drain_fd (self->bell_fd);
    s_check_stop (self);
}

/* The free slot waits until another thread hands it a task or the
 * poller's role, or all leave. */
static void
s_sleep (io_t *self, uint32_t index)
{
    slot_t *slot = &self->slots [index];
    if (self->poller_called == index)
        self->poller_called = NO_SLOT;  /* another slot polls already */
    slot->asleep = true;
    self->sleepers [self->sleeper_count++] = index;
    while (slot->asleep && !self->finished)
        pthread_cond_wait (&slot->wake, &self->lock);
}

static void
s_slot_loop (io_t *self, uint32_t index)
{
    slot_t *slot = &self->slots [index];
    pthread_mutex_lock (&self->lock);
    while (!self->finished) {
        s_service (self, index);
        if (slot->busy) {
            s_call_poller (self, index);
            zfarm_task_t *task = slot->task;
            pthread_mutex_unlock (&self->lock);
            zf_task_run (task);
            pthread_mutex_lock (&self->lock);
            s_on_done (self, index);
        }
        else
        if (self->finished)
            break;
        else
        if (!self->polling)
            s_poll (self);
        else
            s_sleep (self, index);
    }
    pthread_mutex_unlock (&self->lock);
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

/* ---- the whole -------------------------------------------------------- */

static void
s_task_destructor (void **item)
{
    zf_task_destroy ((zfarm_task_t **) item);
}

static void
s_io_free (io_t *self)
{
    zsock_destroy (&self->broker);
    zlistx_destroy (&self->waiting);
    zf_decoder_destroy (&self->decoder);
    zf_curve_clear (&self->curve);
    for (uint32_t i = 0; i < self->capacity; i++)
        pthread_cond_destroy (&self->slots [i].wake);
    if (self->bell_fd >= 0)
        close (self->bell_fd);
    if (self->timer_fd >= 0)
        close (self->timer_fd);
    pthread_mutex_destroy (&self->lock);
    free (self->endpoint);
    free (self->slots);
    free (self->sleepers);
    free (self);
}

/* Ends the threads that were started; the lock is not held. */
static void
s_threads_join (io_t *self)
{
    pthread_mutex_lock (&self->lock);
    s_wake_all (self);
    pthread_mutex_unlock (&self->lock);
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
    assert (config->stop_requested);
    io_t *self = zf_malloc (sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    self->endpoint = zf_strdup (config->endpoint);
    memcpy (self->services, config->services,
            config->service_count * sizeof *config->services);
    self->service_count = config->service_count;
    self->capacity = config->capacity;
    self->heartbeat_ms = config->heartbeat_ms;
    self->liveness = config->liveness;
    self->max_tasks = config->max_tasks;
    self->max_call_ms = config->max_call_ms;
    self->guard = config->guard;
    self->wakeup_fd = config->wakeup_fd;
    self->stop_requested = config->stop_requested;
    self->curve = config->curve;
    self->broker_fd = -1;
    self->decoder = zf_decoder_new ();
    self->reconnect_ms = ZF_RECONNECT_MIN_MS;
    self->waiting = zlistx_new ();
    zlistx_set_destructor (self->waiting, s_task_destructor);
    self->stop_reason = "worker stopped";
    self->slots = zf_malloc (self->capacity * sizeof *self->slots);
    for (uint32_t i = 0; i < self->capacity; i++)
        pthread_cond_init (&self->slots [i].wake, NULL);
    self->sleepers = zf_malloc (self->capacity * sizeof *self->sleepers);
    self->poller_called = NO_SLOT;
    self->bell_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->timer_fd = timerfd_create (CLOCK_MONOTONIC,
                                     TFD_NONBLOCK | TFD_CLOEXEC);
    if (self->bell_fd == -1 || self->timer_fd == -1) {
        zf_error ("worker: eventfd/timerfd: %s", strerror (errno));
        s_io_free (self);
        return NULL;
    }
    /* Threads wait for the mutex until the first READY is out. */
    pthread_mutex_lock (&self->lock);
    bool started = s_threads_start (self);
    if (started)
        s_connect (self);
    pthread_mutex_unlock (&self->lock);
    if (!started) {
        s_threads_join (self);
        s_io_free (self);
        return NULL;
    }
    return self;
}

void
zf_io_serve (zf_io_t *self)
{
    assert (self);
    s_slot_loop (self, 0);
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
