/* worker_session.c: what a worker says to its brokers and does with what
 * it hears: each broker's connection (READY, heartbeats, reconnection with
 * back-off), the tasks' DONEs and call-time limits, the free slots it
 * tells brokers when it serves several (SLOTS), and stopping. Called by
 * worker_io.c's threads with the lock held. */
#include "worker_io_internal.h"
#include "zf_log.h"
#include "zf_pool.h"
#include "task_internal.h"
#include "zf_util.h"
#include "zf_wire.h"
#include "zfarm_codes.h"

#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

/* A handler that overran max_call_ms has this long to return before the
 * process is given up on: ample for one that stops its own work at the
 * limit (zfarm-worker --exec kills its command); a hung one holds its slot
 * no longer than this. */
#define OVERRUN_GRACE_MS 1000
/* How long a change of our free slots may wait to be told to the brokers
 * that share them (zf_session_announce). */
#define SLOTS_DELAY_MS   1

/* ---- the connections to the brokers --------------------------------- */

/* Sends header and payload (NULL for none; the caller keeps it) to the
 * session's broker, after the DONEs held for it: nothing overtakes them. */
static void
s_send (session_t *session, const zf_header_t *header, zmq_msg_t *payload)
{
    zf_outbox_flush (session);
    /* Never blocks with the mutex held (the socket's send timeout is 0): a
     * broker that takes nothing for a whole send queue is about to be
     * given up on by the liveness check. */
    if (zf_wire_send_shared (session->sock, header, payload) == -1) {
        if (header->command != ZF_HEARTBEAT)
            zf_warning ("worker: broker %s is not reading; %s dropped",
                        session->endpoint, zf_command_name (header->command));
        return;
    }
    session->heartbeat_at = zf_now_ms () + session->heartbeat_ms;
}

bool
zf_session_any_connected (io_t *self)
{
    ZF_IO_HELD (self);
    for (uint32_t i = 0; i < self->session_count; i++)
        if (self->sessions [i].sock)
            return true;
    return false;
}

/* The session's broker's silence window, from now. */
static void
s_heard (session_t *session)
{
    session->expiry_at = zf_now_ms () + (int64_t) session->heartbeat_ms
                                      * session->liveness;
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

/* A pool supervisor that reports its children's deaths (zfarm-worker
 * --processes) names each child's instance in its environment: the
 * brokers then know which worker its report is about. */
static bool
s_supervised_instance (char instance [ZF_INSTANCE_MAX + 1])
{
    const char *given = getenv (ZF_POOL_INSTANCE_ENV);
    const char *supervisor = getenv (ZF_POOL_SUPERVISOR_ENV);
    if (!given || !supervisor || !*supervisor
    ||  strlen (given) != 32 || strspn (given, "0123456789abcdef") != 32)
        return false;
    memcpy (instance, given, 33);
    return true;
}

/* 128 random bits as 32 lowercase hex digits. */
static void
s_make_instance (char instance [ZF_INSTANCE_MAX + 1])
{
    zuuid_t *uuid = zuuid_new ();
    if (!uuid)
        zf_die_nomem ();
    const byte *bits = zuuid_data (uuid);
    for (int i = 0; i < 16; i++)
        snprintf (instance + 2 * i, 3, "%02x", bits [i]);
    zuuid_destroy (&uuid);
}

static void
s_send_ready (io_t *self, session_t *session)
{
    ZF_IO_HELD (self);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    for (size_t i = 0; i < self->service_count; i++)
        memcpy (header.services [i], self->services [i].name,
                sizeof header.services [i]);
    header.service_count = (uint32_t) self->service_count;
    header.capacity = self->capacity;
    header.pid = (uint32_t) getpid ();
    header.prefetch = ZF_PREFETCH_MAX;
    header.heartbeat_ms = (uint32_t) self->own_heartbeat_ms;
    header.liveness = (uint32_t) self->own_liveness;
    header.brokers = self->session_count;
    if (!self->instance [0]) {
        self->supervised = s_supervised_instance (self->instance);
        if (!self->supervised)
            s_make_instance (self->instance);
    }
    memcpy (header.instance, self->instance, sizeof header.instance);
    /* Every broker may send us TASK batches: we read them all. */
    header.flags = ZF_FLAG_BATCH;
    if (self->supervised)
        header.flags |= ZF_FLAG_SUPERVISED;
    snprintf (header.host, sizeof header.host, "%s", zf_hostname ());
    zf_header_set_text (&header, ZFARM_VERSION);
    s_send (session, &header, NULL);

    char names [ZF_SERVICES_MAX * (ZF_SERVICE_MAX + 1)];
    s_service_names (self, names, sizeof names);
    zf_info ("worker: READY to %s: %s (capacity %u)",
             session->endpoint, names, self->capacity);
}

static void
s_backoff (io_t *self, session_t *session)
{
    session->reconnect_at = zf_now_ms () + session->reconnect_ms;
    session->reconnect_ms = session->reconnect_ms * 2 > ZF_RECONNECT_MAX_MS?
                            ZF_RECONNECT_MAX_MS: session->reconnect_ms * 2;
    zf_io_arm (self, session->reconnect_at);
}

void
zf_session_connect (io_t *self, session_t *session)
{
    ZF_IO_HELD (self);
    assert (!session->sock);
    session->sock = zsock_new (ZMQ_DEALER);
    /* Keys and routing id go on before the connect: libzmq takes them from
     * the socket as the connection is made. A fresh id per connection. */
    uint8_t routing_id [ZF_ROUTING_ID_SIZE];
    zf_random_routing_id (routing_id);
    if (!session->sock
    ||  zmq_setsockopt (zsock_resolve (session->sock), ZMQ_ROUTING_ID,
                        routing_id, sizeof routing_id) != 0
    ||  zf_curve_apply (&self->curve, zsock_resolve (session->sock)) != 0
    ||  zsock_connect (session->sock, "%s", session->endpoint) == -1) {
        zf_error ("worker: cannot connect to %s: %s; retrying in %d ms",
                  session->endpoint, zmq_strerror (zmq_errno ()),
                  session->reconnect_ms);
        zsock_destroy (&session->sock);
        s_backoff (self, session);
        return;
    }
    /* No call on it may wait: threads hold the lock while they use it, and
     * a receive that finds nothing is how they learn the socket is empty. */
    zsock_set_rcvtimeo (session->sock, 0);
    zsock_set_sndtimeo (session->sock, 0);
    session->generation = ++self->connections;
    /* Until this broker says its own settings (an older one never does). */
    session->heartbeat_ms = self->own_heartbeat_ms;
    session->liveness = self->own_liveness;
    session->takes_slots = false;
    session->takes_batches = false;     /* until its HEARTBEAT says so */
    session->believed_free = self->capacity;
    session->fd = zsock_fd (session->sock);
    session->served = false;
    s_heard (session);
    s_send_ready (self, session);
    /* The pollers wait on the old sockets' descriptors. */
    zf_io_ring (self);
    zf_io_arm (self, zf_now_ms ());
}

/* Closes the session's connection. Its tasks not started yet are dropped:
 * the broker requeues them when it forgets this connection. */
static void
s_disconnect (io_t *self, session_t *session)
{
    ZF_IO_HELD (self);
    zf_outbox_flush (session);
    zsock_destroy (&session->sock);
    session->fd = -1;
    session->served = false;
    zf_io_waiting_purge (self, session->index);
    zf_io_ring (self);
    zf_io_arm (self, zf_now_ms ());
}

/* Gives up on the session's connection and schedules the next, unless
 * stopping. The other brokers are served meanwhile. */
static void
s_reconnect (io_t *self, session_t *session, const char *why)
{
    ZF_IO_HELD (self);
    s_disconnect (self, session);
    if (self->stopping)
        return;
    zf_warning ("worker: %s; registering again in %d ms", why,
                session->reconnect_ms);
    s_backoff (self, session);
}

/* ---- free slots, when several brokers share them ------------------- */

/* Slots free for a new task: none while tasks wait, or while stopping. */
static uint32_t
s_free_slots (io_t *self)
{
    if (self->stopping || self->waiting_count > 0
    ||  self->busy_count >= self->capacity)
        return 0;
    return self->capacity - self->busy_count;
}

static bool
s_shares_slots (io_t *self, session_t *session)
{
    return self->session_count > 1 && session->sock && session->takes_slots;
}

/* Tells the session's broker our free slots, and, if not 0, a task of its
 * that waits here for one. */
static void
s_send_slots (io_t *self, session_t *session, uint32_t free,
              uint64_t waiting_id)
{
    (void) self;
    zf_header_t header;
    zf_header_init (&header, ZF_SLOTS);
    header.free_slots = free;
    header.task_id = waiting_id;
    s_send (session, &header, NULL);
    session->believed_free = free;
}

/* Sends SLOTS to each broker whose count of our free slots is off. */
static void
s_send_due_slots (io_t *self)
{
    self->slots_due_at = 0;
    uint32_t free = s_free_slots (self);
    for (uint32_t i = 0; i < self->session_count; i++) {
        session_t *session = &self->sessions [i];
        if (s_shares_slots (self, session) && session->believed_free != free)
            s_send_slots (self, session, free, 0);
    }
}

/* Our free slots changed in a way some broker cannot see. It hears within
 * SLOTS_DELAY_MS, of the count then: a slot that a short task takes and
 * frees many times a millisecond costs the brokers that share it one
 * message a millisecond, not two a task. A broker that sends a task for a
 * slot taken meanwhile hears so at once (zf_session_on_task), as when two
 * brokers race for one slot. */
void
zf_session_announce (io_t *self)
{
    ZF_IO_HELD (self);
    if (self->session_count < 2 || self->slots_due_at)
        return;
    uint32_t free = s_free_slots (self);
    for (uint32_t i = 0; i < self->session_count; i++) {
        session_t *session = &self->sessions [i];
        if (s_shares_slots (self, session) && session->believed_free != free) {
            self->slots_due_at = zf_now_ms () + SLOTS_DELAY_MS;
            zf_io_arm (self, self->slots_due_at);
            return;
        }
    }
}

/* ---- stopping ------------------------------------------------------ */

/* Sends each broker DISCONNECT, then a HEARTBEAT, which the broker
 * answers with DISCONNECT since it no longer knows us (PROTOCOL.md): once
 * that answer is in, all we sent it before has arrived, and _exit loses
 * nothing. Waits at most one heartbeat interval (the longest of the
 * brokers') for all the answers. */
static void
s_say_goodbye (io_t *self, const char *reason)
{
    zmq_pollitem_t items [ZF_BROKERS_MAX];
    session_t *waiting_for [ZF_BROKERS_MAX];
    int count = 0, longest = 0;
    for (uint32_t i = 0; i < self->session_count; i++) {
        session_t *session = &self->sessions [i];
        if (!session->sock)
            continue;
        zf_header_t header;
        zf_header_init (&header, ZF_DISCONNECT);
        zf_header_set_text (&header, reason);
        s_send (session, &header, NULL);
        zf_header_init (&header, ZF_HEARTBEAT);
        s_send (session, &header, NULL);
        waiting_for [count] = session;
        items [count++] = (zmq_pollitem_t) {
            .socket = zsock_resolve (session->sock), .events = ZMQ_POLLIN };
        if (session->heartbeat_ms > longest)
            longest = session->heartbeat_ms;
    }
    int64_t deadline = zf_now_ms () + longest, left;
    int answered = 0;
    while (answered < count && (left = deadline - zf_now_ms ()) > 0) {
        int rc = zmq_poll (items, count, (long) left);
        if (rc == -1 && zmq_errno () != EINTR)
            return;
        for (int i = 0; rc > 0 && i < count; i++) {
            if (!(items [i].revents & ZMQ_POLLIN))
                continue;
            zf_header_t header;
            zf_frames_t payload;
            int got = zf_wire_recv_frames (waiting_for [i]->sock,
                                           self->decoder, &header, &payload);
            zf_frames_close (&payload);
            if (got == 0 && header.command == ZF_DISCONNECT) {
                items [i].events = 0;   /* this one is done */
                answered++;
            }
        }
    }
}

/* Ends the process at once, for a reason no handler may delay: a normal
 * exit would wait for handler threads that may never return. The broker
 * hears DISCONNECT first (it requeues what we held without spending a
 * retry), and the commands that handlers started die with us. */
static void
s_exit_process (io_t *self, int status, const char *reason)
{
    ZF_IO_HELD (self);
    zf_error ("worker: %s; exiting with status %d", reason, status);
    s_say_goodbye (self, reason);
    zf_pool_kill_strays (NULL);
    _exit (status);
}

/* Once no slot is busy but the stuck ones: DISCONNECT, and every thread
 * leaves, or the process ends if a handler is stuck. */
static void
s_finish_if_idle (io_t *self)
{
    ZF_IO_HELD (self);
    if (!self->stopping || self->finished
    ||  self->busy_count > self->stuck_count)
        return;
    if (self->exit_status)
        s_exit_process (self, self->exit_status, self->stop_reason);
    for (uint32_t i = 0; i < self->session_count; i++) {
        session_t *session = &self->sessions [i];
        if (!session->sock)
            continue;
        zf_header_t header;
        zf_header_init (&header, ZF_DISCONNECT);
        zf_header_set_text (&header, self->stop_reason);
        s_send (session, &header, NULL);
        /* Give the last DONE and the DISCONNECT one interval to leave. */
        zsock_set_linger (session->sock, session->heartbeat_ms);
        s_disconnect (self, session);
    }
    zf_io_waiting_purge (self, ZF_ALL_SESSIONS);
    zf_io_wake_all (self);
}

/* Tells each broker that we take no new task (HEARTBEAT with DRAIN), so
 * that it sends none while the tasks in hand finish, and asks back those
 * it sent in advance. An older broker ignores the flag: what it sends
 * waits here for the DISCONNECT, which requeues it. */
static void
s_send_drain (io_t *self)
{
    for (uint32_t i = 0; i < self->session_count; i++) {
        session_t *session = &self->sessions [i];
        if (!session->sock)
            continue;
        zf_header_t header;
        zf_header_init (&header, ZF_HEARTBEAT);
        header.flags = ZF_FLAG_DRAIN;
        s_send (session, &header, NULL);
    }
}

void
zf_session_begin_stop (io_t *self, const char *reason)
{
    ZF_IO_HELD (self);
    if (self->stopping)
        return;
    self->stopping = true;
    self->stop_reason = reason;
    s_finish_if_idle (self);
    if (!self->finished)
        s_send_drain (self);
}

/* A stop asked for by zfarm_worker_stop or a signal. A handler that calls
 * zfarm_worker_stop sets the flag before its DONE goes out, so the stop
 * is taken before the next task could start. */
void
zf_session_check_stop (io_t *self)
{
    ZF_IO_HELD (self);
    if (atomic_load (self->stop_requested))
        zf_session_begin_stop (self, "worker stopped");
    else
    if (zsys_interrupted)
        zf_session_begin_stop (self, "worker interrupted");
}

void
zf_session_on_wakeup (io_t *self)
{
    ZF_IO_HELD (self);
    /* Bounded: whatever is left wakes the next poll, and stop is
     * idempotent anyway. */
    char bytes [64];
    for (int reads = 0; reads < 16; reads++)
        if (read (self->wakeup_fd, bytes, sizeof bytes) <= 0)
            break;
    zf_session_begin_stop (self, "worker stopped");
}

/* ---- a slot's clock, and its DONE ---------------------------------- */

/* Starts the clock on a slot's task, when calls have a time limit. */
void
zf_session_slot_time (io_t *self, slot_t *slot, uint64_t task_id)
{
    ZF_IO_HELD (self);
    slot->task_id = task_id;
    slot->overran = slot->stuck = slot->cancelled = false;
    slot->call_end = slot->cancel_end = slot->overrun_end = 0;
    if (!self->max_call_ms)
        return;
    slot->call_end = slot->started + self->max_call_ms;
    if (!self->call_check_at || slot->call_end < self->call_check_at)
        self->call_check_at = slot->call_end;
    zf_io_arm (self, slot->call_end);
}

/* The session of the connection the slot's task came on, or NULL if that
 * connection has ended. */
static session_t *
s_slot_session (io_t *self, const slot_t *slot)
{
    session_t *session = &self->sessions [slot->session];
    return session->sock && session->generation == slot->generation
         ? session: NULL;
}

/* The slot's time is up: the broker hears TIMEOUT now, whenever the
 * handler returns. The handler's grace runs from now: a watcher that
 * wakes late (a process starved of CPU, or stopped) must not take the
 * overrun and the end of its grace in one look, which would end the
 * process while the handler, late too, was about to return. */
static void
s_slot_overran (io_t *self, slot_t *slot, int64_t now)
{
    slot->overran = true;
    slot->overrun_end = now + OVERRUN_GRACE_MS;
    zf_warning ("worker: task %" PRIu64 " ran longer than --max-call-time "
                "%" PRIu32 " ms", slot->task_id, self->max_call_ms);
    session_t *session = s_slot_session (self, slot);
    if (session) {
        zf_header_t header;
        zf_task_overran_done (&header, slot->task_id, self->max_call_ms);
        s_send (session, &header, NULL);
    }
}

/* The slot's handler did not come back within the grace (past its call
 * time, or after its task was cancelled): it never may, and only the end
 * of the process frees its slot. Tasks in hand on the other slots finish
 * first (each within its own time limit). */
static void
s_slot_stuck (io_t *self, slot_t *slot, bool cancelled)
{
    slot->stuck = true;
    self->stuck_count++;
    self->exit_status = ZF_EXIT_OVERRAN;
    if (cancelled)
        zf_error ("worker: the handler of task %" PRIu64 " is still running "
                  "%" PRIu32 " ms after it was cancelled; ending the process",
                  slot->task_id, self->cancel_grace_ms);
    else
        zf_error ("worker: the handler of task %" PRIu64 " is still running "
                  "%d ms past --max-call-time; ending the process",
                  slot->task_id, OVERRUN_GRACE_MS);
    if (self->stopping)
        s_finish_if_idle (self);
    else
        zf_session_begin_stop (self, cancelled
                               ? "a cancelled handler did not return"
                               : "a handler overran --max-call-time");
}

/* One busy slot's clocks: its call time, the grace after it, and the
 * grace of a cancelled handler. Returns when the slot next needs a look,
 * or 0 for never. */
static int64_t
s_slot_check (io_t *self, slot_t *slot, int64_t now)
{
    if (slot->call_end && !slot->overran && now >= slot->call_end)
        s_slot_overran (self, slot, now);
    int64_t due = slot->overran? slot->overrun_end: slot->call_end;
    bool cancel_first = slot->cancel_end && (!due || slot->cancel_end < due);
    if (cancel_first)
        due = slot->cancel_end;
    if (!due || now < due)
        return due;
    s_slot_stuck (self, slot, cancel_first);
    return 0;
}

/* Finds the slots whose time is up, or whose grace is, and when the next
 * one's will be. */
static void
s_check_calls (io_t *self, int64_t now)
{
    int64_t next = 0;
    for (uint32_t i = 0; i < self->capacity; i++) {
        slot_t *slot = &self->slots [i];
        if (!slot->busy || slot->stuck)
            continue;
        int64_t due = s_slot_check (self, slot, now);
        if (due && (!next || due < next))
            next = due;
    }
    self->call_check_at = next;
}

/* ---- progress reports ---------------------------------------------- */

/* The slot's task's waiting progress report, if it is due (or force) and
 * its broker still wants it: sent; else *due_p says when it will be due
 * (0: never). */
static void
s_slot_progress (io_t *self, slot_t *slot, int64_t now, bool force,
                 int64_t *due_p)
{
    *due_p = 0;
    zf_progress_t *progress = zf_task_progress (slot->task);
    /* A task stopped, or past its time, has no caller left to tell. */
    if (!progress || slot->overran || slot->cancelled || slot->stuck)
        return;
    zf_header_t header;
    if (!zf_progress_take (progress, now, force, &header, due_p))
        return;
    session_t *session = s_slot_session (self, slot);
    if (session) {
        header.task_id = slot->task_id;
        s_send (session, &header, NULL);
    }
}

/* A scan of the slots, when a handler rang the bell or a waiting report
 * fell due: at most ten times a second per reporting task, so it may cost
 * O(capacity). */
void
zf_session_send_progress (io_t *self)
{
    ZF_IO_HELD (self);
    int64_t now = zf_now_ms (), next = 0;
    for (uint32_t i = 0; i < self->capacity; i++) {
        slot_t *slot = &self->slots [i];
        if (!slot->busy || !slot->task)
            continue;
        int64_t due;
        s_slot_progress (self, slot, now, false, &due);
        if (due && (!next || due < next))
            next = due;
    }
    self->progress_due_at = next;
    if (next)
        zf_io_arm (self, next);
}

/* The slot's handler returned: its DONE goes out from this thread, after
 * the last progress report it made, if that is still waiting, so that the
 * caller sees the final value, and in order (one socket, one order). */
void
zf_session_on_done (io_t *self, uint32_t index)
{
    ZF_IO_HELD (self);
    slot_t *slot = &self->slots [index];
    assert (slot->busy && slot->task);
    zfarm_task_t *task = slot->task;
    int64_t due;
    s_slot_progress (self, slot, zf_now_ms (), true, &due);
    slot->task = NULL;
    slot->busy = false;
    self->busy_count--;
    if (slot->stuck)
        self->stuck_count--;
    session_t *session = s_slot_session (self, slot);
    if (session && !slot->overran) {
        zf_header_t header;
        zmq_msg_t *result = zf_task_done (task, &header);
        /* Read just before: a TASK already in a socket is not waited for.
         * IDLE also tells a broker that shares us that the slot is free. */
        if (self->waiting_count == 0) {
            header.flags |= ZF_FLAG_IDLE;
            if (session->believed_free < self->capacity)
                session->believed_free++;
        }
        if (!zf_outbox_hold (self, session, &header, result))
            s_send (session, &header, result);
    }
    zf_task_destroy (&task);
    if (self->busy_count == 0 && self->waiting_count == 0) {
        self->idle_since = zf_now_ms ();
        if (self->idle_exit_ms)
            zf_io_arm (self, self->idle_since + self->idle_exit_ms);
    }
    zf_session_announce (self);
    s_finish_if_idle (self);
}

/* ---- what the broker says ------------------------------------------ */

/* Answers a TASK that will not run with a DONE that says why: status
 * CANCELLED tells the broker the task never started (it may run it
 * elsewhere); HANDLER_ERROR that it cannot run here. */
static void
s_refuse (session_t *session, uint64_t task_id, int code, const char *why)
{
    zf_header_t header;
    zf_header_init (&header, ZF_DONE);
    header.task_id = task_id;
    header.status = code;
    zf_header_set_text (&header, why);
    s_send (session, &header, NULL);
}

static const zf_service_t *
s_service_lookup (io_t *self, const char *name)
{
    for (size_t i = 0; i < self->service_count; i++)
        if (streq (self->services [i].name, name))
            return &self->services [i];
    return NULL;
}

void
zf_session_on_task (io_t *self, session_t *session, zf_header_t *header,
                    zf_frames_t *payload)
{
    ZF_IO_HELD (self);
    /* Each broker sends at most one task per slot, and with prefetch at
     * most READY's prefetch more per slot in advance, so only a broken
     * broker can fill the ring: it holds all of them, so that slots still
     * busy with a task a broker no longer counts (from an earlier
     * connection, or past its time limit) never make us refuse one.
     * While stopping, tasks wait there for the DISCONNECT, which has the
     * broker requeue them without spending a retry. */
    const zf_service_t *service = s_service_lookup (self, header->service);
    char why [ZF_SERVICE_MAX + 64] = "";
    if (!service)
        snprintf (why, sizeof why, "service '%s' is not offered by this "
                  "worker", header->service);
    else
    if (self->waiting_count == self->waiting_size)
        snprintf (why, sizeof why, "worker holds all the tasks it takes "
                  "(%u)", self->waiting_size);
    if (*why) {
        zf_warning ("worker: task %" PRIu64 " from %s refused: %s",
                    header->task_id, session->endpoint, why);
        s_refuse (session, header->task_id, ZFARM_EHANDLER_ERROR, why);
        return;
    }
    bool for_a_slot = !(header->flags & ZF_FLAG_AHEAD);
    if (for_a_slot && session->believed_free)
        session->believed_free--;   /* as the broker counts */
    /* A task sent for a slot that another broker's task took meanwhile
     * waits like one sent in advance; its broker hears so, and may ask for
     * it back for a worker that is free. */
    if (for_a_slot && s_shares_slots (self, session)
    &&  self->busy_count + self->waiting_count >= self->capacity)
        s_send_slots (self, session, 0, header->task_id);
    waiting_t entry = {
        .task = zf_task_new (header, service->handler, service->arg,
                             self->max_call_ms, self->progress_fd, payload),
        .session = session->index, .generation = session->generation };
    zf_io_waiting_push (self, &entry);
}

/* The busy slot that runs the session's task_id, or NULL. */
static slot_t *
s_slot_lookup (io_t *self, const session_t *session, uint64_t task_id)
{
    for (uint32_t i = 0; i < self->capacity; i++) {
        slot_t *slot = &self->slots [i];
        if (slot->busy && slot->task_id == task_id
        &&  slot->session == session->index
        &&  slot->generation == session->generation)
            return slot;
    }
    return NULL;
}

/* Asks a running handler to stop (an --exec command is killed at once).
 * In a process that a pool replaces, a handler that has not returned
 * within the cancel grace ends the process (s_slot_check); elsewhere the
 * slot stays busy until it returns, for nobody would start the process
 * again. Its DONE, CANCELLED, tells the broker the slot is free. */
static void
s_slot_cancel (io_t *self, slot_t *slot)
{
    if (slot->cancelled || slot->overran || slot->stuck)
        return;                 /* stopping already */
    slot->cancelled = true;
    zf_task_cancel (slot->task);
    if (!self->guard.pid)
        return;
    slot->cancel_end = zf_now_ms () + self->cancel_grace_ms;
    if (!self->call_check_at || slot->cancel_end < self->call_check_at)
        self->call_check_at = slot->cancel_end;
    zf_io_arm (self, slot->cancel_end);
}

/* CANCEL: a task not started yet ends now. A running one is stopped when
 * the CANCEL says STOP (its client cancelled it); otherwise (the broker
 * wanted it back for another worker, or an older broker) it runs on, and
 * its DONE comes when it ends. */
static void
s_on_cancel (io_t *self, session_t *session, zf_header_t *header,
             zf_frames_t *payload)
{
    ZF_IO_HELD (self);
    (void) payload;
    zfarm_task_t *task = zf_io_waiting_remove (self, session->index,
                                               header->task_id);
    if (task) {
        zf_task_destroy (&task);
        s_refuse (session, header->task_id, ZFARM_ECANCELLED,
                  "cancelled before it started");
        return;
    }
    slot_t *slot = (header->flags & ZF_FLAG_STOP)
                 ? s_slot_lookup (self, session, header->task_id): NULL;
    if (slot)
        s_slot_cancel (self, slot);
}

/* Counted as liveness in zf_session_on_broker, like every message. A
 * broker that says its heartbeat interval and liveness is obeyed: it
 * declares us dead by its settings, not ours. */
static void
s_on_heartbeat (io_t *self, session_t *session, zf_header_t *header,
                zf_frames_t *payload)
{
    ZF_IO_HELD (self);
    (void) payload;
    /* Remembered for this connection: the broker says it on every
     * HEARTBEAT, and a new connection may reach another broker. */
    if (header->flags & ZF_FLAG_BATCH)
        session->takes_batches = true;
    if (!header->heartbeat_ms || !header->liveness)
        return;
    /* A broker that says its settings understands SLOTS too. */
    if (!session->takes_slots) {
        session->takes_slots = true;
        zf_session_announce (self);
    }
    if ((int) header->heartbeat_ms == session->heartbeat_ms
    &&  (int) header->liveness == session->liveness)
        return;
    if ((int) header->heartbeat_ms != self->own_heartbeat_ms
    ||  (int) header->liveness != self->own_liveness)
        zf_info ("worker: broker %s sets heartbeats every %" PRIu32 " ms,"
                 " liveness %" PRIu32 " (ours were %d ms, %d)",
                 session->endpoint, header->heartbeat_ms, header->liveness,
                 self->own_heartbeat_ms, self->own_liveness);
    session->heartbeat_ms = (int) header->heartbeat_ms;
    session->liveness = (int) header->liveness;
    s_heard (session);
    int64_t now = zf_now_ms ();
    if (session->heartbeat_at > now + session->heartbeat_ms)
        session->heartbeat_at = now + session->heartbeat_ms;
    zf_io_arm (self, session->heartbeat_at);
}

static void
s_on_disconnect (io_t *self, session_t *session, zf_header_t *header,
                 zf_frames_t *payload)
{
    ZF_IO_HELD (self);
    (void) payload;
    char why [ZF_TEXT_MAX + 64];
    snprintf (why, sizeof why, "broker %s sent DISCONNECT (%s)",
              session->endpoint, header->text);
    s_reconnect (self, session, why);
    s_finish_if_idle (self);
}

static void
s_on_error (io_t *self, session_t *session, zf_header_t *header,
            zf_frames_t *payload)
{
    ZF_IO_HELD (self);
    (void) self;
    (void) payload;
    zf_warning ("worker: broker %s answered ERROR %s: %s", session->endpoint,
                zfarm_err_name (header->status), header->text);
}

typedef void (command_fn) (io_t *self, session_t *session,
                           zf_header_t *header, zf_frames_t *payload);

static command_fn *const s_commands [ZF_COMMAND_LIMIT] = {
    [ZF_TASK]       = zf_session_on_task,
    [ZF_BATCH]      = zf_batch_on_broker,
    [ZF_CANCEL]     = s_on_cancel,
    [ZF_HEARTBEAT]  = s_on_heartbeat,
    [ZF_DISCONNECT] = s_on_disconnect,
    [ZF_ERROR]      = s_on_error,
};

bool
zf_session_on_broker (io_t *self, session_t *session)
{
    ZF_IO_HELD (self);
    zf_header_t header;
    zf_frames_t payload;
    int rc = zf_wire_recv_frames (session->sock, self->decoder, &header,
                                  &payload);
    if (rc == -1) {
        zf_frames_close (&payload);
        return false;           /* nothing there (receive timeout 0) */
    }
    /* Anything from the broker, even garbage, shows that it is alive. */
    s_heard (session);
    if (rc != 0)
        zf_warning ("worker: broker %s sent a bad header: %s",
                    session->endpoint, header.text);
    else
    if (!s_commands [header.command])
        zf_warning ("worker: broker %s sent %s, which a worker does not "
                    "take", session->endpoint,
                    zf_command_name (header.command));
    else {
        /* Only a broker that serves us resets the back-off: one that keeps
         * refusing us (ERROR, DISCONNECT) gets ever slower retries. */
        if (header.command != ZF_DISCONNECT && header.command != ZF_ERROR) {
            session->reconnect_ms = ZF_RECONNECT_MIN_MS;
            session->served = true;
            self->unserved_since = 0;
        }
        s_commands [header.command] (self, session, &header, &payload);
    }
    zf_frames_close (&payload);
    return true;
}

/* ---- timers -------------------------------------------------------- */

/* Once a heartbeat interval: a worker whose supervisor died ends at once,
 * wherever PR_SET_PDEATHSIG did not reach it. */
static void
s_check_guard (io_t *self, int64_t now)
{
    self->guard_at = now + self->own_heartbeat_ms;
    if (!zf_pool_guard_orphaned (&self->guard))
        return;
    char why [64];
    snprintf (why, sizeof why, "supervisor %d is gone",
              (int) self->guard.pid);
    s_exit_process (self, ZF_EXIT_ORPHANED, why);
}

/* One broker's timers: its silence, our heartbeat, a new connection. */
static void
s_session_timers (io_t *self, session_t *session, int64_t now)
{
    if (session->sock && now >= session->expiry_at) {
        char why [ZF_TEXT_MAX];
        snprintf (why, sizeof why, "no word from broker %s for %d ms",
                  session->endpoint,
                  session->heartbeat_ms * session->liveness);
        s_reconnect (self, session, why);
        s_finish_if_idle (self);
    }
    if (session->sock && now >= session->heartbeat_at) {
        zf_header_t header;
        zf_header_init (&header, ZF_HEARTBEAT);
        /* For the broker's status: a remote worker's memory is ours to
         * tell. */
        long rss_kb = zf_process_rss_kb (0);
        header.rss_kb = rss_kb > 0? (uint64_t) rss_kb: 0;
        s_send (session, &header, NULL);
    }
    if (!session->sock && !self->stopping && now >= session->reconnect_at)
        zf_session_connect (self, session);
}

/* --idle-exit: no task in hand (running or waiting) for idle_exit_ms. */
static void
s_check_idle (io_t *self, int64_t now)
{
    if (self->busy_count || self->waiting_count)
        return;
    int64_t due = self->idle_since + self->idle_exit_ms;
    if (now < due) {
        zf_io_arm (self, due);
        return;
    }
    zf_notice ("worker: no task for %" PRIu32 " ms (--idle-exit or the pool's --idle-timeout); leaving",
               self->idle_exit_ms);
    self->end = ZF_IO_IDLE;
    zf_session_begin_stop (self, "idle");
}

/* --give-up-after: no broker has served us (taken our READY, heartbeated
 * us) for give_up_ms, counted from the start or from the loss of the last
 * one. The brokers are named, so that a typo or a firewall is plain. */
static void
s_check_unserved (io_t *self, int64_t now)
{
    for (uint32_t i = 0; i < self->session_count; i++)
        if (self->sessions [i].served)
            return;
    if (!self->unserved_since)
        self->unserved_since = now;
    int64_t due = self->unserved_since + self->give_up_ms;
    if (now < due) {
        zf_io_arm (self, due);
        return;
    }
    char names [512];
    size_t used = 0;
    names [0] = 0;
    for (uint32_t i = 0; i < self->session_count && used < sizeof names; i++)
        used += snprintf (names + used, sizeof names - used, "%s%s",
                          i? ", ": "", self->sessions [i].endpoint);
    zf_error ("worker: no broker reachable for %" PRIu32 " ms "
              "(--give-up-after): %s; giving up", self->give_up_ms, names);
    self->end = ZF_IO_UNREACHABLE;
    zf_session_begin_stop (self, "no broker reachable");
}

void
zf_session_on_timers (io_t *self)
{
    ZF_IO_HELD (self);
    int64_t now = zf_now_ms ();
    if (self->idle_exit_ms && !self->stopping)
        s_check_idle (self, now);
    if (self->give_up_ms && !self->stopping)
        s_check_unserved (self, now);
    if (self->guard.pid && now >= self->guard_at)
        s_check_guard (self, now);
    if (self->call_check_at && now >= self->call_check_at)
        s_check_calls (self, now);
    if (self->slots_due_at && now >= self->slots_due_at)
        s_send_due_slots (self);
    if (self->progress_due_at && now >= self->progress_due_at)
        zf_session_send_progress (self);
    for (uint32_t i = 0; i < self->session_count && !self->finished; i++)
        s_session_timers (self, &self->sessions [i], now);
}
