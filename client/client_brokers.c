/* client_brokers.c: a client's connections, one DEALER per broker it was
 * given, and what it knows of each broker: whether it is alive (PING and
 * PONG, silence, a new epoch, SHUTDOWN), its load, and which tasks it
 * holds. Here the client chooses the broker for each task, and moves a lost
 * broker's tasks to the others.
 *
 * Invariant: every pending task is held by exactly one broker (its
 * `broker`), which counts it in its in_flight; a RESULT from any other
 * broker is dropped. A task moves only here, in s_move, and the broker it
 * leaves is sent CANCEL for it, so that a broker that was only paused does
 * not run it for nothing when it wakes.
 *
 * Connections live as long as the client: a lost broker keeps its socket,
 * which ZeroMQ reconnects, and the client keeps pinging it to hear it come
 * back. So no connection is freed while a caller up the stack holds it
 * (only zfarm_client_set_curve replaces sockets, from the public API). */
#include "client_internal.h"
#include "zf_defaults.h"
#include "zf_log.h"
#include "zf_util.h"

#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

/* ---- connections ------------------------------------------------------- */

zsock_t *
zf_client_connect (zfarm_client_t *self, const char *endpoint)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock) {
        zf_error ("zfarm client: cannot create a socket: %s",
                  zmq_strerror (zmq_errno ()));
        return NULL;
    }
    /* A client is sent only what it asked for (a RESULT per SUBMIT, a PONG
     * per PING) and holds its pending tasks anyway, so neither queue needs a
     * limit; with one, a slow reader would make the broker's ROUTER drop
     * results, and a broker that is not up yet would block a submit. */
    zsock_set_sndhwm (sock, 0);
    zsock_set_rcvhwm (sock, 0);
    zsock_set_sndtimeo (sock, 0);
    zsock_set_rcvtimeo (sock, 0);
    zmq_setsockopt (zsock_resolve (sock), ZMQ_ROUTING_ID, self->routing_id,
                    ROUTING_ID_SIZE);
    if (zf_curve_apply (&self->curve, zsock_resolve (sock)) != 0) {
        zf_error ("zfarm client: CURVE keys refused: %s",
                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        zf_error ("zfarm client: connect %s: %s", endpoint,
                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

/* What is known of a broker is forgotten when its connection is new. */
static void
s_conn_reset (conn_t *conn)
{
    conn->silent = false;
    conn->leaving = false;
    conn->epoch = 0;
    conn->unanswered_since = 0;
    conn->heartbeat_ms = ZF_DEFAULT_HEARTBEAT_MS;   /* until it says */
    conn->liveness = ZF_DEFAULT_LIVENESS;
    conn->waiting = 0;
    conn->free_slots = 0;
    conn->sent_since_pong = 0;
    conn->closed = false;
    conn->pool = 0;
    conn->busy = 0;
    conn->takes_batch = false;      /* until its PONG says it */
}

/* Splits "ep1,ep2,..." into the brokers' endpoints. Returns 0, or -1 if
 * the list names none. */
static int
s_parse_endpoints (zfarm_client_t *self, const char *list)
{
    char *copy = zf_strdup (list), *save = NULL;
    for (char *item = strtok_r (copy, ",", &save);
         item && self->broker_count < ENDPOINTS_MAX;
         item = strtok_r (NULL, ",", &save))
        if (*item) {
            conn_t *conn = &self->brokers [self->broker_count];
            conn->endpoint = zf_strdup (item);
            conn->index = self->broker_count++;
            conn->monitor = NULL;
            zf_batch_init (&conn->batch);
            s_conn_reset (conn);
        }
    free (copy);
    return self->broker_count? 0: -1;
}

static int
s_watch (zfarm_client_t *self, conn_t *conn, int op)
{
    struct epoll_event event = { .events = EPOLLIN,
                                 .data.u32 = (uint32_t) conn->index };
    if (epoll_ctl (self->poll_fd, op, (int) zsock_fd (conn->sock), &event))
        return -1;
    if (!conn->monitor)
        return 0;
    event.data.u32 += ENDPOINTS_MAX;
    return epoll_ctl (self->poll_fd, op, (int) zsock_fd (conn->monitor),
                      &event);
}

/* With several brokers, each connection's monitor; without one, the
 * broker's silence is what tells it is gone. */
static void
s_monitor_open (zfarm_client_t *self, conn_t *conn)
{
    if (self->broker_count > 1 && zf_client_monitor_open (conn) != 0)
        zf_warning ("zfarm client: cannot monitor the connection to %s: %s",
                    conn->endpoint, zmq_strerror (zmq_errno ()));
}

/* One fd for the caller's loop: with one broker, its socket's own; with
 * several, an epoll set that is readable when any of theirs is. */
static int
s_poll_fd_open (zfarm_client_t *self)
{
    if (self->broker_count == 1)
        return 0;
    self->poll_fd = epoll_create1 (EPOLL_CLOEXEC);
    if (self->poll_fd == -1) {
        zf_error ("zfarm client: epoll_create1: %s", strerror (errno));
        return -1;
    }
    for (int i = 0; i < self->broker_count; i++)
        if (s_watch (self, &self->brokers [i], EPOLL_CTL_ADD) != 0) {
            zf_error ("zfarm client: epoll_ctl: %s", strerror (errno));
            return -1;
        }
    return 0;
}

int
zf_client_brokers_open (zfarm_client_t *self, const char *list)
{
    if (s_parse_endpoints (self, list) != 0)
        return -1;
    /* The first scan starts at the first broker of the list: an
     * operator lists the nearest first. */
    self->last_pick = self->broker_count - 1;
    for (int i = 0; i < self->broker_count; i++) {
        conn_t *conn = &self->brokers [i];
        conn->sock = zf_client_connect (self, conn->endpoint);
        if (!conn->sock)
            return -1;
        conn->fd = (int) zsock_fd (conn->sock);
        conn->armed = false;
        s_monitor_open (self, conn);
    }
    return s_poll_fd_open (self);
}

void
zf_client_brokers_close (zfarm_client_t *self, int linger_ms)
{
    for (int i = 0; i < self->broker_count; i++) {
        conn_t *conn = &self->brokers [i];
        if (conn->sock) {
            zf_client_monitor_close (conn);
            zsock_set_linger (conn->sock, linger_ms);
        }
        zsock_destroy (&conn->sock);
        zf_batch_free (&conn->batch);
        zstr_free (&conn->endpoint);
    }
    if (self->poll_fd != -1)
        close (self->poll_fd);
    self->poll_fd = -1;
    self->broker_count = 0;
}

int
zf_client_brokers_reconnect (zfarm_client_t *self)
{
    zsock_t *socks [ENDPOINTS_MAX];
    for (int i = 0; i < self->broker_count; i++) {
        socks [i] = zf_client_connect (self, self->brokers [i].endpoint);
        if (!socks [i]) {
            while (i-- > 0)
                zsock_destroy (&socks [i]);
            return -1;
        }
    }
    for (int i = 0; i < self->broker_count; i++) {
        conn_t *conn = &self->brokers [i];
        if (self->poll_fd != -1)
            s_watch (self, conn, EPOLL_CTL_DEL);
        zf_client_monitor_close (conn);
        zsock_set_linger (conn->sock, 0);
        zsock_destroy (&conn->sock);
        zf_client_batch_drop (conn);    /* the caller submits again */
        conn->sock = socks [i];
        conn->fd = (int) zsock_fd (conn->sock);
        conn->armed = false;
        s_monitor_open (self, conn);
        if (self->poll_fd != -1 && s_watch (self, conn, EPOLL_CTL_ADD) != 0)
            zf_error ("zfarm client: epoll_ctl: %s", strerror (errno));
        s_conn_reset (conn);
        conn->lost = NULL;
    }
    self->moving = false;
    self->spilling = false;
    return 0;
}

int
zf_client_fd_of (zfarm_client_t *self)
{
    return self->poll_fd != -1? self->poll_fd
                              : (int) zsock_fd (self->brokers [0].sock);
}

/* ZMQ_EVENTS leaves a socket armed when it says no input (libzmq has
 * taken its commands and marked its empty pipes to signal). */
static bool
s_has_input (conn_t *conn)
{
    bool input = (zsock_events (conn->sock) & ZMQ_POLLIN) != 0;
    conn->armed = !input;
    return input;
}

bool
zf_client_has_input (zfarm_client_t *self)
{
    for (int i = 0; i < self->broker_count; i++)
        if (s_has_input (&self->brokers [i]))
            return true;
    return false;
}

/* Sleeps on the sockets' ZMQ_FDs, asking ZMQ_EVENTS only of those that
 * are not armed: a wait that follows a receive costs one poll(2), where
 * zmq_poll asks every socket's ZMQ_EVENTS before and after it (each a
 * poll(2) and a getpid(2) inside libzmq), a cost that grew with each
 * broker the client was given. */
int
zf_client_poll_sockets (zfarm_client_t *self, long wait)
{
    struct pollfd fds [2 * ENDPOINTS_MAX];
    nfds_t count = 0, monitors = 0;
    for (int i = 0; i < self->broker_count; i++) {
        conn_t *conn = &self->brokers [i];
        if (!conn->armed && s_has_input (conn))
            return 1;
        fds [count++] = (struct pollfd) { .fd = conn->fd, .events = POLLIN };
    }
    for (int i = 0; i < self->broker_count; i++)
        if (self->brokers [i].monitor)
            fds [count + monitors++] = (struct pollfd) {
                .fd = (int) zsock_fd (self->brokers [i].monitor),
                .events = POLLIN };
    int timeout = wait < 0? -1: wait > INT_MAX? INT_MAX: (int) wait;
    int rc = poll (fds, count + monitors, timeout);
    for (nfds_t i = count; rc > 0 && i < count + monitors; i++)
        self->monitors_due |= (fds [i].revents & POLLIN) != 0;
    return rc;
}

/* ---- choosing a broker ------------------------------------------------- */

static bool
s_is_usable (const conn_t *conn)
{
    return !conn->silent && !conn->leaving;
}

/* A PONG's free slots are spent by the tasks sent since: counted as
 * free still, one PONG that found the broker idle would draw every task
 * to it until the next, half a second later, while shared workers left
 * the other broker with none free in its own PONG. */
static int64_t
s_free_slots (const conn_t *conn)
{
    return conn->free_slots > conn->sent_since_pong
         ? (int64_t) (conn->free_slots - conn->sent_since_pong): 0;
}

/* A broker's queue as a task of ours would join it: the client's own tasks
 * there, the others waiting there, less its free slots. */
static int64_t
s_load (const conn_t *conn)
{
    return (int64_t) conn->in_flight + conn->waiting - s_free_slots (conn);
}

/* At brokers that share their workers, what a task of ours waits behind
 * at one and not at another: the other clients' tasks waiting there. Our
 * own run no sooner at one than at another, and the free slots are the
 * same slots at each (counted down only at the broker given tasks, they
 * would draw the next ones to the other). */
static int64_t
s_load_of_others (const conn_t *conn)
{
    return conn->waiting;
}

/* A broker whose loop is at work this much of the time may be what holds
 * the tasks back; once one is, its pool's brokers share the tasks until
 * every one is below the lower mark. */
#define BUSY_SPILL      700
#define BUSY_SETTLED    400

static void
s_update_spilling (zfarm_client_t *self)
{
    bool any_busy = false, all_settled = true;
    for (int i = 0; i < self->broker_count; i++) {
        const conn_t *conn = &self->brokers [i];
        if (!s_is_usable (conn))
            continue;
        any_busy |= conn->busy >= BUSY_SPILL;
        all_settled &= conn->busy < BUSY_SETTLED;
    }
    self->spilling = any_busy || (self->spilling && !all_settled);
}

/* True if the usable brokers are doors to one pool of workers: each has
 * answered, and all say the same pool. */
static bool
s_is_one_pool (const zfarm_client_t *self)
{
    uint64_t pool = 0;
    int usable = 0;
    for (int i = 0; i < self->broker_count; i++) {
        const conn_t *conn = &self->brokers [i];
        if (!s_is_usable (conn))
            continue;
        if (!conn->epoch || !conn->pool || (usable && conn->pool != pool))
            return false;
        pool = conn->pool;
        usable++;
    }
    return usable > 1;
}

/* Join the shortest queue. Brokers that say they have different workers
 * (or say nothing of them) are queues of their own: a broker's length is
 * the client's own tasks there, plus the others waiting there, less its
 * free slots, as of its last PONG. Brokers that share one pool of workers
 * are doors to one queue: a task of ours starts no sooner behind one than
 * the other, so their length is the other clients' tasks, and a lone client
 * keeps to one broker, where spreading would cost each connection, broker
 * and worker socket a wakeup per task for nothing. Many clients still
 * spread, as each counts the others' tasks. Unless one of them is busy
 * (BUSY_SPILL): then the broker may be what the tasks wait for, and they
 * are shared as for different workers.
 *
 * The broker chosen last keeps the tasks while no other is shorter by
 * more than an eighth of the client's tasks in flight: runs of tasks to
 * one broker leave its connection in batches (one write for many). With
 * fewer than 8 in flight, the scan starting after the last broker chosen,
 * brokers alike take turns. The first scan starts at the first broker of
 * the list; the first broker of a pool to keep to is chosen at random. */
int
zf_client_pick (zfarm_client_t *self)
{
    if (self->broker_count == 1)
        return s_is_usable (&self->brokers [0])? 0: -1;
    int64_t (*load_of) (const conn_t *) =
        !self->spilling && s_is_one_pool (self)? s_load_of_others: s_load;
    if (load_of == s_load_of_others && !self->home_chosen) {
        /* The first broker of a pool to keep to comes from the random
         * routing id, so that clients alike do not all keep to the first
         * of the list: they spread even while nothing waits. */
        self->home_chosen = true;
        int home = (self->routing_id [0] | self->routing_id [1] << 8)
                 % self->broker_count;
        if (s_is_usable (&self->brokers [home]))
            self->last_pick = home;
    }
    int best = -1;
    int64_t best_load = 0, in_flight = 0;
    for (int i = 0; i < self->broker_count; i++) {
        int at = (self->last_pick + 1 + i) % self->broker_count;
        const conn_t *conn = &self->brokers [at];
        in_flight += (int64_t) conn->in_flight;
        if (!s_is_usable (conn))
            continue;
        int64_t load = load_of (conn);
        if (best == -1 || load < best_load) {
            best = at;
            best_load = load;
        }
    }
    const conn_t *last = &self->brokers [self->last_pick];
    int64_t margin = in_flight / 8;
    if (load_of == s_load_of_others && margin < 1)
        margin = 1;                 /* one client's count is not exact */
    if (best != -1 && margin > 0 && s_is_usable (last)
    &&  load_of (last) - best_load <= margin)
        best = self->last_pick;
    if (best != -1)
        self->last_pick = best;
    return best;
}

int
zf_client_pick_any (zfarm_client_t *self)
{
    int at = zf_client_pick (self);
    if (at == -1) {
        /* No broker is known to be up: the task waits at one of them, in
         * turn, as it would at the only one. */
        at = (self->last_pick + 1) % self->broker_count;
        self->last_pick = at;
    }
    return at;
}

conn_t *
zf_client_status_broker (zfarm_client_t *self)
{
    conn_t *best = &self->brokers [0];
    for (int i = 1; i < self->broker_count; i++) {
        conn_t *conn = &self->brokers [i];
        if (s_is_usable (conn) > s_is_usable (best)
        ||  (s_is_usable (conn) == s_is_usable (best)
             && conn->last_heard > best->last_heard))
            best = conn;
    }
    return best;
}

/* ---- liveness ---------------------------------------------------------- */

void
zf_client_broker_lost (zfarm_client_t *self, conn_t *conn, const char *why)
{
    if (!conn->lost)
        conn->lost = why;
    self->moving = true;
    s_update_spilling (self);       /* a busy broker that is gone is not */
}

/* A broker is up again: the tasks that stayed with brokers that are down,
 * for want of one that was up, can go to it now. */
static void
s_take_from_down (zfarm_client_t *self)
{
    for (int i = 0; i < self->broker_count; i++)
        if (!s_is_usable (&self->brokers [i]))
            zf_client_broker_lost (self, &self->brokers [i], "is down");
}

void
zf_client_broker_heard (zfarm_client_t *self, conn_t *conn, int64_t now)
{
    conn->last_heard = now;
    conn->unanswered_since = 0;
    /* A broker found gone by its closed connection is back only once a
     * new one is open: what is read meanwhile is what the old one left. */
    if (conn->silent && !conn->closed) {
        conn->silent = false;
        zf_client_resubmit (self, conn, "the broker is back");
        s_take_from_down (self);
    }
}

/* Whether the broker takes SUBMITs in batches is what its latest PONG
 * says. SUBMITs held for a broker that restarted, or that no longer takes
 * batches, are dropped rather than sent: its tasks are all submitted
 * again (moving a lost broker's tasks), as the messages they were. */
static void
s_pong_batch (zfarm_client_t *self, conn_t *conn, const zf_header_t *header,
              bool restarted)
{
    conn->takes_batch = (header->flags & ZF_FLAG_BATCH) != 0;
    if (conn->batch.count == 0 || (conn->takes_batch && !restarted))
        return;
    zf_client_batch_drop (conn);
    if (!restarted)
        zf_client_broker_lost (self, conn, "no longer takes batches");
}

void
zf_client_broker_pong (zfarm_client_t *self, conn_t *conn,
                       const zf_header_t *header)
{
    bool restarted = conn->epoch && header->epoch != conn->epoch;
    conn->epoch = header->epoch;
    /* The broker's own heartbeat settings say when its silence means it is
     * down (a broker that does not say them leaves the defaults). */
    if (header->heartbeat_ms && header->liveness) {
        conn->heartbeat_ms = (int) header->heartbeat_ms;
        conn->liveness = (int) header->liveness;
    }
    /* Its queues hold our tasks too: those are counted in in_flight. */
    int64_t others = (int64_t) (header->queued > INT64_MAX? INT64_MAX
                                                          : header->queued)
                   - (int64_t) conn->in_flight;
    conn->waiting = others > 0? others: 0;
    conn->free_slots = header->free_slots;
    conn->sent_since_pong = 0;
    conn->pool = header->pool;
    conn->busy = header->busy;
    s_update_spilling (self);
    s_pong_batch (self, conn, header, restarted);
    if (restarted) {
        conn->leaving = false;      /* a new broker: it takes tasks again */
        zf_client_broker_lost (self, conn, "restarted");
        s_take_from_down (self);
    }
}

/* A broker that has said nothing for liveness intervals while tasks wait
 * is down: its tasks move to the others, or, if none is up, wait for it
 * and are submitted again when it is heard from. */
static void
s_check_silence (zfarm_client_t *self, conn_t *conn, int64_t now)
{
    if (!conn->unanswered_since)
        conn->unanswered_since = now;   /* the PING about to go out */
    if (conn->silent
    ||  now - conn->unanswered_since <= ZF_CONN_SILENCE_MS (conn))
        return;
    conn->silent = true;
    if (self->broker_count > 1) {
        zf_warning ("zfarm client: %s is silent for %" PRId64 " ms",
                    conn->endpoint, now - conn->unanswered_since);
        zf_client_broker_lost (self, conn, "is silent");
    }
}

void
zf_client_heartbeat (zfarm_client_t *self, int64_t now)
{
    if (zf_index_size (&self->pending) == 0 || now < self->next_ping)
        return;
    int64_t next = INT64_MAX;
    for (int i = 0; i < self->broker_count; i++) {
        conn_t *conn = &self->brokers [i];
        if (now >= conn->next_ping) {
            s_check_silence (self, conn, now);
            zf_client_send_simple (self, conn, ZF_PING, 0);
            conn->next_ping = now + conn->heartbeat_ms;
        }
        if (conn->next_ping < next)
            next = conn->next_ping;
    }
    self->next_ping = next;
}

/* ---- moving tasks ------------------------------------------------------ */

/* The timeout a task has left to send again: 0 for none, -1 if it is up
 * (then it is left to expire where it is). A task not due yet has all of
 * it: its timeout starts when it is due. */
static int64_t
s_time_left (const task_t *task, int64_t now)
{
    if (!task->deadline)
        return task->timeout_ms;
    int64_t from = task->due > now? task->due: now;
    int64_t left = task->deadline - GRACE_MS - from;
    return left > 0? left: -1;
}

void
zf_client_resubmit (zfarm_client_t *self, conn_t *conn, const char *why)
{
    int64_t now = zf_now_ms ();
    size_t count = 0, cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor))) {
        int64_t left = s_time_left (task, now);
        if (task->broker == conn->index && left >= 0
        &&  zf_client_send_submit (self, task, (uint32_t) left) == 0)
            count++;
    }
    if (count)
        zf_notice ("zfarm client: %s: submitted %zu pending tasks again to %s",
                   why, count, conn->endpoint);
}

typedef enum { STAYED, SENT_AGAIN, MOVED } move_t;

/* Hands a task of a lost broker to the broker the pick gives (which may be
 * the same one, if it restarted). A task whose time is up, or that has no
 * broker to go to, stays where it is. */
static move_t
s_move (zfarm_client_t *self, task_t *task, int64_t now)
{
    conn_t *from = &self->brokers [task->broker];
    int64_t left = s_time_left (task, now);
    if (left < 0)
        return STAYED;
    from->in_flight--;
    int to = zf_client_pick (self);
    if (to == -1) {
        from->in_flight++;
        return STAYED;
    }
    if (to != from->index)
        zf_client_send_simple (self, from, ZF_CANCEL, task->id);
    task->broker = to;
    self->brokers [to].in_flight++;
    self->brokers [to].sent_since_pong++;
    zf_client_send_submit (self, task, (uint32_t) left);
    return to == from->index? SENT_AGAIN: MOVED;
}

/* One pass over the pending tasks for all the brokers lost since the last:
 * a loss is rare, and the tasks are not indexed by broker, so that the
 * path of every task stays free of it. */
void
zf_client_move_lost (zfarm_client_t *self, int64_t now)
{
    if (!self->moving)
        return;
    self->moving = false;
    size_t counts [ENDPOINTS_MAX][3] = { { 0 } };
    size_t cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor))) {
        int from = task->broker;
        if (self->brokers [from].lost)
            counts [from][s_move (self, task, now)]++;
    }
    for (int i = 0; i < self->broker_count; i++) {
        conn_t *conn = &self->brokers [i];
        if (conn->lost && (counts [i][MOVED] || counts [i][SENT_AGAIN]))
            zf_notice ("zfarm client: %s %s: %zu pending tasks moved to "
                       "other brokers, %zu submitted to it again",
                       conn->endpoint, conn->lost, counts [i][MOVED],
                       counts [i][SENT_AGAIN]);
        conn->lost = NULL;
    }
}
