/* client.c: one DEALER connection to a broker, its pending tasks and their
 * results, used from one thread without a background thread.
 *
 * Invariant: a task is in `pending` (and, if it has a deadline, in
 * `deadlines`) from its SUBMIT until its one result is made. Making the
 * result removes the task and hands the result to exactly one place: the
 * zfarm_client_call waiting for it, the callback queue, or the wait queue.
 * A later RESULT for that id finds no task and is dropped, which is the
 * at-most-once delivery common/PROTOCOL.md promises.
 *
 * The client also holds each task until its result, to survive the broker:
 * when the broker restarts (its PONG brings a new epoch) or comes back after
 * a silence, every pending task is submitted again with the same id, and
 * the broker, which keys tasks by (routing id, task id), ignores those it
 * still holds. The routing id is fixed for the client's life so that a
 * reconnection keeps it. Given several endpoints, a client whose broker
 * falls silent moves to the next one and submits its tasks there. */
#include "zfarm_client.h"
#include "result_internal.h"
#include "zf_curve.h"
#include "zf_defaults.h"
#include "zf_list.h"
#include "zf_log.h"
#include "zf_proto.h"
#include "zf_table.h"
#include "zf_util.h"
#include "zf_wire.h"

#include <czmq.h>
#include <inttypes.h>
#include <limits.h>

/* How long past a task's timeout the client waits for the broker's own
 * verdict before it makes one itself (PROTOCOL.md, Clients). */
#define GRACE_MS        1000
/* Messages handled per dispatch, so that a flood of results cannot keep
 * zfarm_client_dispatch from returning to the caller's event loop. */
#define RECV_BATCH      256
/* How long the CANCELs queued by destroy may take to leave the process. */
#define LINGER_MS       100

typedef struct {
    uint64_t id;                /* the client's task id; key in pending */
    int64_t deadline;           /* when the client gives up (monotonic ms),
                                   0 if the task has no timeout */
    zf_link_t deadline_link;    /* in deadlines, if it has a deadline */
    zfarm_result_fn *callback;  /* where the result goes, if set, ... */
    void *arg;                  /* ... called with this */
    zfarm_result_t **sink;      /* else here, if set (zfarm_client_call) */
    uint32_t timeout_ms;        /* as asked for, 0 for none */
    zmq_msg_t payload;          /* the SUBMIT's payload and service, kept */
    char service [];            /* so that the task can be submitted again;
                                   each SUBMIT shares the payload's buffer */
} task_t;


/* A result whose callback has not run yet. */
typedef struct {
    zfarm_result_t *result;
    zfarm_result_fn *callback;
    void *arg;
} due_t;

#define ENDPOINTS_MAX   16
#define ROUTING_ID_SIZE ZF_ROUTING_ID_SIZE

struct _zfarm_client_t {
    zsock_t *sock;              /* DEALER connected to the broker */
    char *endpoint;             /* the broker's endpoint, for log lines */
    char *endpoints [ENDPOINTS_MAX];    /* all of them, to fail over */
    int endpoint_count;
    int current;                /* index of endpoint in endpoints */
    uint8_t routing_id [ROUTING_ID_SIZE];
    zf_curve_t curve;           /* CURVE keys for every socket, if enabled */
    bool silent;                /* the broker missed liveness intervals */
    bool leaving;               /* the broker is shutting down: move on */
    int64_t unanswered_since;   /* first PING since the broker was last
                                   heard, 0 if none */
    zf_decoder_t *decoder;      /* reused for every header received */
    zf_index_t pending;         /* task_t by id: tasks without a result */
    zf_link_t deadlines;        /* pending tasks with a deadline, earliest
                                   first, by deadline_link */
    zlistx_t *ready;            /* zfarm_result_t for zfarm_client_wait,
                                   in the order they were made */
    zlistx_t *due;              /* due_t: callbacks still to run, in order */
    char *status_json;          /* the broker's STATUS reply, once it came */
    bool unauthorized;          /* the broker refused a message: this key
                                   may not do that (it ends a STATUS wait) */
    uint64_t last_id;           /* the last task id given out */
    uint64_t epoch;             /* the broker's epoch from PONG, 0 = none */
    int retries;                /* SUBMIT's retries field, -1 = broker's */
    int64_t last_heard;         /* when the broker last sent anything,
                                   0 = never */
    int64_t next_ping;          /* when a PING is due if tasks are pending */
};

static task_t *
s_task_new (zfarm_client_t *self, const char *service,
            const void *data, size_t size, int timeout_ms)
{
    size_t service_size = strlen (service) + 1;
    task_t *task = zf_malloc (sizeof *task + service_size);
    memcpy (task->service, service, service_size);
    task->id = ++self->last_id;
    /* The one copy of the caller's bytes: the API takes them as const, and
     * they must outlive the call for a resubmission. A NUL goes after them
     * (ZF_FLAG_NUL), so that the handler can read them in place. */
    if (zmq_msg_init_size (&task->payload, size + 1) != 0)
        zf_die_nomem ();
    if (size)
        memcpy (zmq_msg_data (&task->payload), data, size);
    ((char *) zmq_msg_data (&task->payload)) [size] = 0;
    zf_link_init (&task->deadline_link);
    task->timeout_ms = (uint32_t) timeout_ms;
    if (timeout_ms > 0)
        task->deadline = zf_now_ms () + timeout_ms + GRACE_MS;
    return task;
}

static void
s_task_destroy (task_t **task_p)
{
    task_t *task = *task_p;
    if (!task)
        return;
    zmq_msg_close (&task->payload);
    free (task);
    *task_p = NULL;
}

static task_t *
s_deadline_task (zf_link_t *link)
{
    return zf_container_of (link, task_t, deadline_link);
}

/* Tasks mostly share one timeout, so a new deadline is usually the latest:
 * the search for its place starts at the end. */
static void
s_deadline_insert (zfarm_client_t *self, task_t *task)
{
    zf_link_t *at = self->deadlines.prev;
    while (at != &self->deadlines && s_deadline_task (at)->deadline
                                     > task->deadline)
        at = at->prev;
    zf_list_insert_after (at, &task->deadline_link);
}

static task_t *
s_deadline_first (zfarm_client_t *self)
{
    zf_link_t *first = zf_list_first (&self->deadlines);
    return first? s_deadline_task (first): NULL;
}

static void
s_result_destroy (void **item)
{
    zfarm_result_destroy ((zfarm_result_t **) item);
}

static void
s_due_destroy (void **item)
{
    due_t *due = *item;
    if (!due)
        return;
    zfarm_result_destroy (&due->result);
    free (due);
    *item = NULL;
}

/* Ends a pending task with its one result, which it hands on (takes
 * ownership), and forgets the task. */
static void
s_finish (zfarm_client_t *self, task_t *task, zfarm_result_t *result)
{
    if (task->sink)
        *task->sink = result;
    else
    if (task->callback) {
        due_t *due = zf_malloc (sizeof *due);
        due->result = result;
        due->callback = task->callback;
        due->arg = task->arg;
        zlistx_add_end (self->due, due);
    }
    else
        zlistx_add_end (self->ready, result);

    zf_list_remove (&task->deadline_link);
    zf_index_delete (&self->pending, task->id);
    s_task_destroy (&task);
}

/* ---- sending ----------------------------------------------------------- */

static int
s_send_submit (zfarm_client_t *self, task_t *task, uint32_t timeout_ms)
{
    zf_header_t header;
    zf_header_init (&header, ZF_SUBMIT);
    header.task_id = task->id;
    zf_header_set_service (&header, task->service);
    header.timeout_ms = timeout_ms;
    header.retries = self->retries;
    header.flags = ZF_FLAG_NUL;
    return zf_wire_send_shared (self->sock, &header, &task->payload);
}

/* Sends a command that has at most a task id. A send can fail only if the
 * context is being terminated (the socket has no send limit and no send
 * timeout), and then the broker cannot be told anything anyway. */
static void
s_send_simple (zfarm_client_t *self, int command, uint64_t task_id)
{
    zf_header_t header;
    zf_header_init (&header, command);
    header.task_id = task_id;
    if (zf_wire_send_shared (self->sock, &header, NULL) != 0)
        zsys_debug ("zfarm client: could not send %s to %s: %s",
                    zf_command_name (command), self->endpoint,
                    zmq_strerror (zmq_errno ()));
}

/* Enters a new task in the table and sends its SUBMIT. If even queueing the
 * SUBMIT fails, the task ends at once with BROKER_DOWN, so that it still
 * gets its one result. */
static void
s_task_start (zfarm_client_t *self, task_t *task)
{
    zf_index_insert (&self->pending, task);
    if (task->deadline)
        s_deadline_insert (self, task);
    if (s_send_submit (self, task, task->timeout_ms) != 0) {
        char text [256];
        snprintf (text, sizeof text, "could not queue the task for %s: %s",
                  self->endpoint, zmq_strerror (zmq_errno ()));
        s_finish (self, task, zf_result_new (task->id, ZFARM_EBROKER_DOWN,
                                             text));
    }
}

/* Ends a pending task with CANCELLED. The broker sends no RESULT for a
 * cancelled task; should one cross the CANCEL, it finds no task. */
static void
s_cancel (zfarm_client_t *self, task_t *task, const char *why)
{
    s_send_simple (self, ZF_CANCEL, task->id);
    s_finish (self, task, zf_result_new (task->id, ZFARM_ECANCELLED, why));
}

static bool
s_args_are_valid (const char *service, const void *data, size_t size,
                  int timeout_ms)
{
    return service
        && zf_service_name_is_valid (service,
                                     strnlen (service, ZF_SERVICE_MAX + 1))
        && (data || size == 0)
        && timeout_ms >= 0;
}

/* ---- receiving --------------------------------------------------------- */

/* A message handler returns the number of results it made (0 or 1). */
typedef int (handler_fn) (zfarm_client_t *self, const zf_header_t *header,
                          zf_frames_t *payload);

static int
s_on_result (zfarm_client_t *self, const zf_header_t *header,
             zf_frames_t *payload)
{
    task_t *task = zf_index_lookup (&self->pending, header->task_id);
    if (!task) {
        zsys_debug ("zfarm client: dropped a RESULT for task %" PRIu64
                    ", which is not pending", header->task_id);
        return 0;
    }
    /* A broker that is stopping hands its tasks to the client's failover,
     * when there is another broker to go to. */
    if (header->status == -ZFARM_ESHUTDOWN && self->endpoint_count > 1) {
        self->leaving = true;
        return 0;
    }
    s_finish (self, task, zf_result_from_wire (header, payload));
    return 1;
}

/* Submits every pending task again, with the time it has left; a task
 * whose time is up is left to expire. */
static void
s_resubmit_all (zfarm_client_t *self, const char *why)
{
    int64_t now = zf_now_ms ();
    size_t count = 0, cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor))) {
        uint32_t timeout_ms = task->timeout_ms;
        if (task->deadline) {
            int64_t left = task->deadline - GRACE_MS - now;
            if (left <= 0)
                continue;
            timeout_ms = (uint32_t) left;
        }
        if (s_send_submit (self, task, timeout_ms) == 0)
            count++;
    }
    if (count)
        zsys_notice ("zfarm client: %s: submitted %zu pending tasks again to %s",
                     why, count, self->endpoint);
}

static int
s_on_pong (zfarm_client_t *self, const zf_header_t *header,
          zf_frames_t *payload)
{
    (void) payload;
    bool restarted = self->epoch && header->epoch != self->epoch;
    self->epoch = header->epoch;
    if (restarted)
        s_resubmit_all (self, "the broker restarted");
    return 0;
}

static int
s_on_error (zfarm_client_t *self, const zf_header_t *header,
           zf_frames_t *payload)
{
    (void) payload;
    zsys_warning ("zfarm client: broker %s refused a message: %s: %s",
                  self->endpoint, zfarm_err_name (-header->status),
                  header->text);
    if (header->status == -ZFARM_EUNAUTHORIZED)
        self->unauthorized = true;
    return 0;
}

static int
s_on_status (zfarm_client_t *self, const zf_header_t *header,
            zf_frames_t *payload)
{
    (void) header;
    size_t size = zf_frames_size (payload);
    free (self->status_json);
    self->status_json = zf_malloc (size + 1);
    zf_frames_copy (payload, self->status_json);
    return 0;
}

static handler_fn *const s_handlers [ZF_COMMAND_LIMIT] = {
    [ZF_RESULT] = s_on_result,
    [ZF_PONG]   = s_on_pong,
    [ZF_ERROR]  = s_on_error,
    [ZF_STATUS] = s_on_status,
};

static int
s_handle (zfarm_client_t *self, const zf_header_t *header,
          zf_frames_t *payload)
{
    /* The decoder only returns commands in 1 .. ZF_COMMAND_LIMIT - 1. */
    handler_fn *handler = s_handlers [header->command];
    if (handler)
        return handler (self, header, payload);
    zsys_warning ("zfarm client: broker %s sent %s, which a client does not "
                  "expect; dropped", self->endpoint,
                  zf_command_name (header->command));
    return 0;
}

/* Handles the messages that have arrived, at most RECV_BATCH of them; any
 * message, even a malformed one, shows that the broker is alive. Returns
 * the number of results made. */
static int
s_receive (zfarm_client_t *self)
{
    int made = 0;
    for (int count = 0; count < RECV_BATCH; count++) {
        zf_header_t header;
        zf_frames_t payload;
        int rc = zf_wire_recv_frames (self->sock, self->decoder, &header,
                                      &payload);
        if (rc == -1) {
            zf_frames_close (&payload);
            break;                  /* nothing more has arrived */
        }
        self->last_heard = zf_now_ms ();
        self->unanswered_since = 0;
        if (self->silent) {
            self->silent = false;
            s_resubmit_all (self, "the broker is back");
        }
        if (rc == 0)
            made += s_handle (self, &header, &payload);
        else
            zsys_warning ("zfarm client: dropped a message from %s: %s: %s",
                          self->endpoint, zfarm_err_name (rc), header.text);
        zf_frames_close (&payload);
    }
    return made;
}

/* ---- time -------------------------------------------------------------- */

/* The result of a task whose deadline passed without a RESULT: TIMEOUT if
 * the broker has been heard within liveness intervals (it is alive, so the
 * task really overran), BROKER_DOWN if not. */
static zfarm_result_t *
s_expiry_result (zfarm_client_t *self, const task_t *task, int64_t now)
{
    char text [256];
    int64_t silence = now - self->last_heard;
    if (self->last_heard
    &&  silence <= (int64_t) ZF_DEFAULT_LIVENESS * ZF_DEFAULT_HEARTBEAT_MS) {
        snprintf (text, sizeof text, "no result from the broker %d ms "
                  "after the task's timeout of %" PRIu32 " ms",
                  GRACE_MS, task->timeout_ms);
        s_send_simple (self, ZF_CANCEL, task->id);
        return zf_result_new (task->id, ZFARM_ETIMEOUT, text);
    }
    if (self->last_heard)
        snprintf (text, sizeof text, "no answer from %s for %" PRId64 " ms",
                  self->endpoint, silence);
    else
        snprintf (text, sizeof text, "no answer from %s", self->endpoint);
    return zf_result_new (task->id, ZFARM_EBROKER_DOWN, text);
}

/* Ends the tasks whose deadline has passed. Each turn removes one task, so
 * the loop ends. Returns the number of results made. */
static int
s_expire (zfarm_client_t *self, int64_t now)
{
    int made = 0;
    task_t *task;
    while ((task = s_deadline_first (self)) && task->deadline <= now) {
        s_finish (self, task, s_expiry_result (self, task, now));
        made++;
    }
    return made;
}

/* Milliseconds until the client's own next deadline or PING is due, or -1
 * if no task is pending. */
static int
s_next_due (zfarm_client_t *self)
{
    if (zf_index_size (&self->pending) == 0)
        return -1;
    int64_t next = self->next_ping;
    task_t *first = s_deadline_first (self);
    if (first && first->deadline < next)
        next = first->deadline;
    int64_t left = next - zf_now_ms ();
    return left < 0? 0: left > INT_MAX? INT_MAX: (int) left;
}

static zsock_t *s_connect (zfarm_client_t *self, const char *endpoint);

/* Moves to the next endpoint: a new socket, the same routing id. */
static void
s_fail_over (zfarm_client_t *self, int64_t now, const char *why)
{
    int next = (self->current + 1) % self->endpoint_count;
    zsock_t *sock = s_connect (self, self->endpoints [next]);
    if (!sock)
        return;                     /* logged; try again next interval */
    zsys_warning ("zfarm client: %s %s; failing over to %s",
                  self->endpoint, why, self->endpoints [next]);
    zsock_set_linger (self->sock, 0);
    zsock_destroy (&self->sock);
    self->sock = sock;
    self->current = next;
    free (self->endpoint);
    self->endpoint = zf_strdup (self->endpoints [next]);
    self->unanswered_since = now;
    self->silent = false;
    self->epoch = 0;
    s_resubmit_all (self, "failed over");
}

/* Notices a broker that has said nothing for liveness intervals while tasks
 * wait: with other endpoints, the client moves on; with one, it submits
 * again when the broker is heard from. */
static void
s_check_silence (zfarm_client_t *self, int64_t now)
{
    if (!self->unanswered_since)
        self->unanswered_since = now;   /* the PING about to go out */
    if (now - self->unanswered_since
        <= (int64_t) ZF_DEFAULT_LIVENESS * ZF_DEFAULT_HEARTBEAT_MS)
        return;
    if (self->endpoint_count > 1)
        s_fail_over (self, now, "is silent");
    else
        self->silent = true;
}

static void
s_heartbeat (zfarm_client_t *self, int64_t now)
{
    if (zf_index_size (&self->pending) == 0 || now < self->next_ping)
        return;
    s_check_silence (self, now);
    s_send_simple (self, ZF_PING, 0);
    self->next_ping = now + ZF_DEFAULT_HEARTBEAT_MS;
}

/* Handles what has arrived and what has fallen due, without blocking and
 * without running callbacks. Receiving comes first, so that a result that
 * arrived by the deadline wins over its expiry. Returns results made. */
static int
s_pump (zfarm_client_t *self)
{
    int made = s_receive (self);
    int64_t now = zf_now_ms ();
    if (self->leaving) {
        self->leaving = false;
        s_fail_over (self, now, "is shutting down");
    }
    made += s_expire (self, now);
    s_heartbeat (self, now);
    return made;
}

/* Waits until input arrives, the client's own next deadline, or `until`,
 * whichever comes first. Queued callbacks do not cut the wait short: inside
 * call and status they cannot run, and wait runs them before it polls. Returns 0, or -1 if `until` has passed or the
 * process was interrupted (czmq's SIGINT/SIGTERM handler sets
 * zsys_interrupted; it is checked first, so that a signal that came while
 * the client was busy is not slept through). */
static int
s_poll (zfarm_client_t *self, int64_t until)
{
    if (zsys_interrupted)
        return -1;
    int64_t now = zf_now_ms ();
    if (now >= until)
        return -1;
    int64_t wait = until == INT64_MAX? -1: until - now;
    int next = s_next_due (self);
    if (next >= 0 && (wait < 0 || next < wait))
        wait = next;
    zmq_pollitem_t item = { zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, (long) wait) == -1
    &&  (zsys_interrupted || zmq_errno () != EINTR))
        return -1;
    return 0;
}

/* Runs the callbacks of finished tasks, oldest first. A callback may submit,
 * cancel or wait; the results it finishes join the end of the queue, and
 * the count taken at the start bounds this run. */
static void
s_run_callbacks (zfarm_client_t *self)
{
    size_t count = zlistx_size (self->due);
    while (count-- > 0) {
        due_t *due = zlistx_detach (self->due, NULL);
        if (!due)
            break;                  /* a nested wait already ran the rest */
        due->callback (due->result, due->arg);
        s_due_destroy ((void **) &due);
    }
}

/* ---- the public API ---------------------------------------------------- */

/* A new DEALER to endpoint with the client's routing id and keys. */
static zsock_t *
s_connect (zfarm_client_t *self, const char *endpoint)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock) {
        zsys_error ("zfarm client: cannot create a socket: %s",
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
        zsys_error ("zfarm client: CURVE keys refused: %s",
                    zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        zsys_error ("zfarm client: connect %s: %s", endpoint,
                    zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

/* Splits "ep1,ep2,..." into self->endpoints. Returns 0, or -1 if empty. */
static int
s_parse_endpoints (zfarm_client_t *self, const char *list)
{
    char *copy = zf_strdup (list), *save = NULL;
    for (char *item = strtok_r (copy, ",", &save);
         item && self->endpoint_count < ENDPOINTS_MAX;
         item = strtok_r (NULL, ",", &save))
        if (*item)
            self->endpoints [self->endpoint_count++] = zf_strdup (item);
    free (copy);
    return self->endpoint_count? 0: -1;
}

static void
s_endpoints_free (zfarm_client_t *self)
{
    for (int i = 0; i < self->endpoint_count; i++)
        free (self->endpoints [i]);
}

zfarm_client_t *
zfarm_client_new (const char *endpoint)
{
    if (!endpoint)
        endpoint = getenv ("ZFARM_BROKER");
    if (!endpoint || !*endpoint)
        endpoint = ZF_DEFAULT_ENDPOINT;
    zf_log_library ();
    zfarm_client_t *self = zf_malloc (sizeof *self);
    zf_random_routing_id (self->routing_id);
    char error [512];
    zsock_t *sock = NULL;
    if (zf_curve_setup_from_env (&self->curve, error, sizeof error) != 0)
        zsys_error ("zfarm client: %s", error);
    else
    if (s_parse_endpoints (self, endpoint) == 0)
        sock = s_connect (self, self->endpoints [0]);
    if (!sock) {
        s_endpoints_free (self);
        zf_curve_clear (&self->curve);
        free (self);
        return NULL;
    }
    self->sock = sock;
    self->endpoint = zf_strdup (self->endpoints [0]);
    self->decoder = zf_decoder_new ();
    zf_index_init (&self->pending, offsetof (task_t, id));
    zf_list_init (&self->deadlines);
    self->ready = zlistx_new ();
    zlistx_set_destructor (self->ready, s_result_destroy);
    self->due = zlistx_new ();
    zlistx_set_destructor (self->due, s_due_destroy);
    self->retries = -1;
    return self;
}

/* Tells the broker that the tasks still pending are not wanted any more,
 * so that their workers are freed, and gives the CANCELs a moment to leave
 * after the socket is closed. */
static void
s_abandon (zfarm_client_t *self)
{
    size_t cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor)))
        s_send_simple (self, ZF_CANCEL, task->id);
    zsock_set_linger (self->sock, LINGER_MS);
}

void
zfarm_client_destroy (zfarm_client_t **self_p)
{
    assert (self_p);
    zfarm_client_t *self = *self_p;
    if (!self)
        return;
    s_abandon (self);
    zsock_destroy (&self->sock);
    size_t cursor = 0;
    task_t *task;
    while ((task = zf_index_next (&self->pending, &cursor)))
        s_task_destroy (&task);
    zf_index_clear (&self->pending);
    zlistx_destroy (&self->ready);
    zlistx_destroy (&self->due);
    zf_decoder_destroy (&self->decoder);
    free (self->status_json);
    free (self->endpoint);
    s_endpoints_free (self);
    zf_curve_clear (&self->curve);
    free (self);
    *self_p = NULL;
}

int
zfarm_client_set_curve (zfarm_client_t *self, const char *server_key,
                        const char *cert_path)
{
    assert (self);
    zf_curve_t curve = { .enabled = false };
    char error [512];
    if ((server_key || cert_path)
    &&  zf_curve_setup (&curve, server_key, cert_path, error,
                        sizeof error) != 0) {
        zsys_error ("zfarm client: %s", error);
        return ZFARM_EINVALID;
    }
    zf_curve_t previous = self->curve;
    self->curve = curve;
    zf_curve_clear (&curve);
    zsock_t *sock = s_connect (self, self->endpoint);
    if (!sock) {
        self->curve = previous;     /* keep the socket we have */
        zf_curve_clear (&previous);
        return ZFARM_EINVALID;
    }
    zf_curve_clear (&previous);
    zsock_set_linger (self->sock, 0);
    zsock_destroy (&self->sock);
    self->sock = sock;
    self->unanswered_since = 0;
    self->epoch = 0;
    s_resubmit_all (self, "CURVE keys changed");
    return 0;
}

void
zfarm_client_set_retries (zfarm_client_t *self, int retries)
{
    assert (self);
    self->retries = retries < -1? -1:
                    retries > ZF_RETRIES_MAX? ZF_RETRIES_MAX: retries;
}

int
zfarm_client_submit (zfarm_client_t *self, const char *service,
                     const void *data, size_t size, int timeout_ms,
                     uint64_t *task_id_p)
{
    assert (self);
    if (!s_args_are_valid (service, data, size, timeout_ms))
        return ZFARM_EINVALID;
    task_t *task = s_task_new (self, service, data, size, timeout_ms);
    if (task_id_p)
        *task_id_p = task->id;
    s_task_start (self, task);
    return 0;
}

int
zfarm_client_submit_cb (zfarm_client_t *self, const char *service,
                        const void *data, size_t size, int timeout_ms,
                        zfarm_result_fn *callback, void *arg,
                        uint64_t *task_id_p)
{
    assert (self);
    if (!callback || !s_args_are_valid (service, data, size, timeout_ms))
        return ZFARM_EINVALID;
    task_t *task = s_task_new (self, service, data, size, timeout_ms);
    task->callback = callback;
    task->arg = arg;
    if (task_id_p)
        *task_id_p = task->id;
    s_task_start (self, task);
    return 0;
}

/* Other tasks' results that arrive meanwhile are kept; their callbacks run
 * at the next wait or dispatch, never inside a call. An interrupted call
 * cancels its task and returns CANCELLED. */
int
zfarm_client_call (zfarm_client_t *self, const char *service,
                   const void *data, size_t size, int timeout_ms,
                   zfarm_result_t **result_p)
{
    assert (self);
    if (result_p)
        *result_p = NULL;
    if (!s_args_are_valid (service, data, size, timeout_ms))
        return ZFARM_EINVALID;
    zfarm_result_t *result = NULL;
    task_t *task = s_task_new (self, service, data, size, timeout_ms);
    uint64_t task_id = task->id;
    task->sink = &result;
    s_task_start (self, task);
    while (!result) {
        s_pump (self);
        if (!result && s_poll (self, INT64_MAX) != 0)
            s_cancel (self, zf_index_lookup (&self->pending, task_id),
                      "interrupted");
    }
    int status = zfarm_result_status (result);
    if (result_p)
        *result_p = result;
    else
        zfarm_result_destroy (&result);
    return status;
}

int
zfarm_client_wait (zfarm_client_t *self, int timeout_ms,
                   zfarm_result_t **result_p)
{
    assert (self);
    if (!result_p)
        return ZFARM_EINVALID;
    *result_p = NULL;
    int64_t until = timeout_ms < 0? INT64_MAX: zf_now_ms () + timeout_ms;
    while (true) {
        zfarm_client_dispatch (self);
        *result_p = zlistx_detach (self->ready, NULL);
        if (*result_p)
            return 0;
        if (zfarm_client_pending (self) == 0)
            return ZFARM_ENOT_FOUND;
        if (s_poll (self, until) != 0)
            return ZFARM_ETIMEOUT;
    }
}

int
zfarm_client_cancel (zfarm_client_t *self, uint64_t task_id)
{
    assert (self);
    task_t *task = zf_index_lookup (&self->pending, task_id);
    if (!task)
        return ZFARM_ENOT_FOUND;
    s_cancel (self, task, "cancelled by the client");
    return 0;
}

size_t
zfarm_client_pending (zfarm_client_t *self)
{
    assert (self);
    return zf_index_size (&self->pending) + zlistx_size (self->ready)
         + zlistx_size (self->due);
}

int
zfarm_client_fd (zfarm_client_t *self)
{
    assert (self);
    return (int) zsock_fd (self->sock);
}

/* Input left over from a bounded batch, and callbacks queued outside
 * dispatch (by cancel, call or status), need a dispatch at once: ZMQ_FD
 * signals edges, so it will not report them again. */
int
zfarm_client_next_timeout (zfarm_client_t *self)
{
    assert (self);
    if (zlistx_size (self->due) > 0
    ||  (zsock_events (self->sock) & ZMQ_POLLIN))
        return 0;
    return s_next_due (self);
}

int
zfarm_client_dispatch (zfarm_client_t *self)
{
    assert (self);
    int made = s_pump (self);
    s_run_callbacks (self);
    return made;
}

/* A reply that comes after an earlier request gave up is dropped before the
 * request is sent; one still in flight would be taken as this request's
 * answer, which is harmless: it is a status document a little older. */
int
zfarm_client_status (zfarm_client_t *self, int timeout_ms, char **json_p)
{
    assert (self);
    if (!json_p)
        return ZFARM_EINVALID;
    *json_p = NULL;
    s_receive (self);
    zstr_free (&self->status_json);
    self->unauthorized = false;
    s_send_simple (self, ZF_STATUS, 0);
    int64_t until = timeout_ms < 0? INT64_MAX: zf_now_ms () + timeout_ms;
    while (!self->status_json) {
        s_pump (self);
        if (self->unauthorized)
            return ZFARM_EUNAUTHORIZED;
        if (!self->status_json && s_poll (self, until) != 0)
            return ZFARM_EBROKER_DOWN;
    }
    *json_p = self->status_json;
    self->status_json = NULL;
    return 0;
}
