/* broker.c: the broker's socket, event loop, timers and signals.
 *
 * One thread: zmq_poll waits on the ROUTER socket and a signalfd, for at
 * most the time until the next heartbeat or task deadline. Messages are
 * read with libzmq's zmq_msg_* calls so that payload frames move from the
 * receiving message to the sending one without being copied. */
#include "broker_internal.h"
#include "detached.h"
#include "libzmq_info.h"
#include "listen.h"
#ifdef ZFARM_TEST_HOOKS
#include "faults.h"
#endif
#include "metrics.h"
#include "status_page.h"
#include "zap.h"
#include "zf_batch.h"
#include "zf_curve.h"
#include "zf_log.h"
#include "zf_util.h"
#include "zfarm_codes.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define RECV_BATCH 256          /* messages per wake-up before timers run */

static int
s_signals_open (void)
{
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGCHLD);
    sigaddset (&signals, SIGHUP);
    /* Blocked, they wait in the signalfd for the loop to read them. */
    if (sigprocmask (SIG_BLOCK, &signals, NULL) != 0)
        return -1;
    return signalfd (-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
}

static uint64_t
s_random_epoch (void)
{
    uint64_t epoch = 0;
    FILE *urandom = fopen ("/dev/urandom", "rb");
    if (!urandom || fread (&epoch, sizeof epoch, 1, urandom) != 1)
        epoch = (uint64_t) zclock_time () ^ ((uint64_t) getpid () << 32);
    if (urandom)
        fclose (urandom);
    return epoch? epoch: 1;
}

static int
s_write_endpoint_file (broker_t *self)
{
    const char *path = self->options.endpoint_file;
    if (!path)
        return 0;
    char temp [4096];
    snprintf (temp, sizeof temp, "%s.tmp", path);
    FILE *file = fopen (temp, "w");
    if (!file) {
        zf_error ("cannot write %s: %s", temp, strerror (errno));
        return -1;
    }
    for (int i = 0; i < self->endpoint_count; i++)
        fprintf (file, "%s\n", self->endpoints [i]);
    /* Renamed whole, so a reader never sees half the list. */
    if (fclose (file) != 0 || rename (temp, path) != 0) {
        zf_error ("cannot write %s: %s", path, strerror (errno));
        return -1;
    }
    return 0;
}

/* A pool child exited: its worker, if it had registered, is lost, and the
 * reason says how it died (its tasks' errors and the log carry it). */
static void
s_on_child_exit (void *arg, const zf_pool_exit_t *ended)
{
    broker_t *self = arg;
    for (zf_link_t *at = self->all_workers.next; at != &self->all_workers;
         at = at->next) {
        worker_t *worker = zf_container_of (at, worker_t, all_link);
        if (worker->gone || worker->pool_child != ended->pid)
            continue;
        char reason [ZF_CRASH_REPORT_MAX + 16];
        memcpy (reason, "process ", 8);
        zf_crash_report (ended->status, ended->max_rss_kb, ended->tail,
                         reason + 8, ZF_CRASH_REPORT_MAX);
        dispatch_worker_delete (self, worker, reason, true);
        return;
    }
}

/* Binds a private ipc:// endpoint for local workers and prepares the pool
 * that runs them. */
static int
s_pool_create (broker_t *self)
{
    char dir [] = "/tmp/zfarm-broker-XXXXXX";
    if (!mkdtemp (dir)) {
        zf_error ("cannot create a directory for local workers: %s",
                    strerror (errno));
        return -1;
    }
    self->pool_dir = zf_strdup (dir);
    self->pool_endpoint = zsys_sprintf ("ipc://%s/workers.ipc", dir);
    /* Local workers connect to this ipc endpoint, which takes no keys: a
     * CURVE setting inherited from the broker's environment would make
     * their handshake fail. The broker itself never reads these. */
    unsetenv (ZF_CURVE_SERVER_KEY_ENV);
    unsetenv (ZF_CURVE_CERT_ENV);
    if (zsock_bind (self->router, "%s", self->pool_endpoint) == -1) {
        zf_error ("cannot bind %s: %s", self->pool_endpoint,
                    zmq_strerror (zmq_errno ()));
        return -1;
    }
    zf_pool_config_t config = {
        .name = "worker", .size = self->options.spawn,
        .command = self->options.worker_cmd,
        .env_name = "ZFARM_BROKER", .env_value = self->pool_endpoint,
        .backoff_min_ms = ZF_POOL_BACKOFF_MIN_MS,
        .backoff_max_ms = ZF_POOL_BACKOFF_MAX_MS,
        .young_ms = ZF_POOL_YOUNG_MS,
        .elastic = self->options.spawn_max > 0,
        .min = self->options.spawn_min,
        .on_exit = s_on_child_exit, .on_exit_arg = self
    };
    self->pool = zf_pool_new (&config);
    return 0;
}

static void
s_pool_destroy (broker_t *self)
{
    zf_pool_destroy (&self->pool);
    if (self->pool_dir) {
        char path [300];
        snprintf (path, sizeof path, "%s/workers.ipc", self->pool_dir);
        unlink (path);
        rmdir (self->pool_dir);
    }
    zstr_free (&self->pool_endpoint);
    free (self->pool_dir);
    self->pool_dir = NULL;
}

/* Reads the broker's keypair and starts the ZAP handler, before any
 * endpoint is bound (without a handler, libzmq would let every key in).
 * The secret key goes into self->secret_key for the binds. */
static int
s_security_start (broker_t *self)
{
    char public_key [ZF_CURVE_KEY_TEXT], error [512];
    if (zf_curve_keypair_read (self->options.curve_secret, public_key,
                               self->secret_key, error, sizeof error) != 0) {
        zf_error ("--curve-secret: %s", error);
        return -1;
    }
    self->zap = zap_new (self->options.authorized_keys);
    if (!self->zap)
        return -1;
    zf_notice ("CURVE on network endpoints; the broker's public key is %s",
               public_key);
    return 0;
}

static void
s_router_configure (broker_t *self)
{
    /* Unlimited send queue: a slow peer costs memory, never a stall of the
     * loop or a silently dropped result. Mandatory routing: a send to a peer
     * that has gone fails at once, so a dead worker is found early. */
    zsock_set_sndhwm (self->router, 0);
    zsock_set_router_mandatory (self->router, 1);
    /* A client that reconnects keeps its routing id (the library fixes it)
     * and takes its results over from the connection that broke. */
    zsock_set_router_handover (self->router, 1);
    if (self->zap) {
        /* With keys, a routing id must not pass to another connection: a
         * worker's id is in the status page, and a client key that took it
         * over would receive that worker's tasks. Without handover libzmq
         * gives a live id to no second connection; ZMTP heartbeats close a
         * dead connection within the liveness window, so that its id is
         * not held long. */
        zsock_set_router_handover (self->router, 0);
        zsock_set_heartbeat_ivl (self->router, self->options.heartbeat_ms);
        zsock_set_heartbeat_timeout (self->router, self->options.heartbeat_ms
                                                   * self->options.liveness);
    }
    zsock_set_linger (self->router, 1000);
    int64_t max_size = self->options.max_msg_size;
    zmq_setsockopt (self->router_handle, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
}

/* Says at start, once, when the broker runs on a libzmq that a peer can
 * make abort (libzmq_info.h). */
static bool
s_libzmq_check (void)
{
    if (libzmq_has_reserved_ids ())
        return true;
    zf_warning ("%s is not zfarm's patched libzmq: a peer that claims the"
                " next routing id the broker's ROUTER generates can make"
                " the broker abort (deploy/libzmq/README.md)", libzmq_path ());
    return false;
}

static http_render_fn s_render_page;

broker_t *
broker_new (const options_t *options)
{
    broker_t *self = zf_malloc (sizeof *self);
    self->options = *options;
    self->signal_fd = -1;
    self->decoder = zf_decoder_new ();
    self->workers = peer_table_new ();
    self->clients = peer_table_new ();
    self->services = service_table_new ();
    self->tasks = task_table_new ();
    self->deadlines = deadline_heap_new ();
    zf_list_init (&self->all_workers);
    zf_list_init (&self->pending_services);
    zf_list_init (&self->refill_workers);
    zf_list_init (&self->gone_workers);
    zf_list_init (&self->unused_clients);
    /* First: reading a journal forks a child, best done while the
     * process has one thread (before libzmq starts its own). */
    if (detached_start (self))
        goto fail;
    self->reserved_ids = s_libzmq_check ();
    self->signal_fd = s_signals_open ();
    zsys_handler_set (NULL);
    self->router = zsock_new (ZMQ_ROUTER);
    if (self->signal_fd < 0 || !self->router)
        goto fail;
    self->router_handle = zsock_resolve (self->router);
    self->outboxes = outbox_table_new (self->router_handle, &self->counters);
    if (options->curve_secret && s_security_start (self))
        goto fail;
    s_router_configure (self);
    /* The pool's ipc endpoint is local, so it goes before the secure ones
     * (listen.h). */
    if ((options->spawn && s_pool_create (self))
    ||  listen_bind_all (self->router, options,
                         self->zap? self->secret_key: NULL, self->endpoints))
        goto fail;
    self->endpoint_count = options->bind_count;
    if ((options->http
        && !(self->http = http_new (options->http, s_render_page, self)))
    ||  s_write_endpoint_file (self))
        goto fail;
    self->epoch = s_random_epoch ();
    self->jitter = self->epoch | 1;
    self->started_at = zf_now_ms ();
    self->liveness_ms = (int64_t) options->heartbeat_ms * options->liveness;
#ifdef ZFARM_TEST_HOOKS
    self->faults = faults_new ();
#endif
    self->next_heartbeat = self->started_at + options->heartbeat_ms;
    return self;
fail:
    broker_destroy (&self);
    return NULL;
}

static void
s_clients_destroy (peer_table_t **clients_p)
{
    if (!*clients_p)
        return;
    client_t *client;
    while ((client = peer_table_pop (*clients_p)))
        client_destroy (&client);
    peer_table_destroy (clients_p);
}

void
broker_destroy (broker_t **self_p)
{
    broker_t *self = *self_p;
    if (!self)
        return;
    if (self->workers) {
        while (!zf_list_is_empty (&self->all_workers)) {
            worker_t *worker = zf_container_of (self->all_workers.next,
                                                worker_t, all_link);
            zf_list_remove (&worker->all_link);
            zf_list_remove (&worker->refill_link);
            zf_list_remove (&worker->gone_link);
            if (!worker->gone)
                worker_mark_gone (worker);
            zf_list_init (&worker->tasks);  /* the table frees the tasks */
            worker_destroy (&worker);
        }
        peer_table_destroy (&self->workers);
    }
    s_clients_destroy (&self->clients);
    outbox_table_destroy (&self->outboxes);
    detached_stop (self);
#ifdef ZFARM_TEST_HOOKS
    faults_destroy (&self->faults);
#endif
    zhashx_destroy (&self->services);
    task_table_destroy (&self->tasks);
    deadline_heap_destroy (&self->deadlines);
    zf_decoder_destroy (&self->decoder);
    for (int i = 0; i < OPTIONS_BINDS_MAX; i++)
        zstr_free (&self->endpoints [i]);   /* some, if a bind failed */
    if (self->options.endpoint_file && self->endpoint_count)
        unlink (self->options.endpoint_file);
    zsock_destroy (&self->router);
    zactor_destroy (&self->zap);
    explicit_bzero (self->secret_key, sizeof self->secret_key);
    http_destroy (&self->http);
    s_pool_destroy (self);
    if (self->signal_fd >= 0)
        close (self->signal_fd);
    free (self);
    *self_p = NULL;
}

/* ---- state for STATUS and HTTP ------------------------------------------ */

static void
s_pool_view (broker_t *self, pool_view_t *pool)
{
    *pool = (pool_view_t) {
        .present = true, .running = zf_pool_running (self->pool),
        .min = self->options.spawn_max? self->options.spawn_min
                                       : self->options.spawn,
        .max = self->options.spawn,
        .grown = zf_pool_grown (self->pool),
        .shrunk = zf_pool_shrunk (self->pool),
        .max_rss_mb = self->options.max_rss_mb,
        .max_rss_hard_mb = self->options.max_rss_hard_mb
    };
    for (int reason = 0; reason < ZF_POOL_REASONS; reason++)
        pool->recycled [reason] = zf_pool_recycled (self->pool, reason);
}

void
broker_status_view (broker_t *self, status_view_t *view)
{
    int64_t now = zf_now_ms ();
    if (self->pool)
        self->counters.workers_replaced = zf_pool_replaced (self->pool);
    *view = (status_view_t) {
        .epoch = self->epoch, .uptime_ms = now - self->started_at,
        .now = now, .endpoints = (const char *const *) self->endpoints,
        .endpoint_count = self->endpoint_count,
        .workers = &self->all_workers, .services = self->services,
        .counters = &self->counters, .host = zf_hostname (),
        .http = self->http? http_url (self->http): NULL,
        .reserved_ids = self->reserved_ids
    };
    if (self->pool)
        s_pool_view (self, &view->pool);
    detached_view (self, &view->detached);
}

static char *
s_render_page (void *arg, const char *path, const char **content_type)
{
    broker_t *self = arg;
    status_view_t view;
    broker_status_view (self, &view);
    if (strcmp (path, "/metrics") == 0) {
        *content_type = "text/plain; version=0.0.4; charset=utf-8";
        return metrics_text (&view);
    }
    if (strcmp (path, "/status.json") == 0) {
        *content_type = "application/json";
        return status_json (&view);
    }
    if (strcmp (path, "/") == 0) {
        *content_type = "text/html; charset=utf-8";
        return zf_strdup (status_page_html ());
    }
    return NULL;
}

/* ---- sending ----------------------------------------------------------- */

/* Whether the tests want this send to fail as if the peer had gone. */
static bool
s_send_fails (broker_t *self, const peer_id_t *to, const zf_header_t *header)
{
#ifdef ZFARM_TEST_HOOKS
    worker_t *worker = self->faults? peer_table_lookup (self->workers, to)
                                   : NULL;
    return worker && faults_unreachable (self->faults, header->command,
                                         worker->host);
#else
    (void) self, (void) to, (void) header;
    return false;
#endif
}

/* Whether the message goes into the peer's outbox: a TASK or a RESULT of
 * at most one payload frame that fits in a batch, to a peer that reads
 * batches. */
static bool
s_may_hold (broker_t *self, const peer_id_t *to, const zf_header_t *header,
            const zmq_msg_t *frames, size_t count)
{
    bool fits = count == 0
             || (count == 1 && zmq_msg_size (&frames [0]) <= ZF_BATCH_PAYLOAD_MAX);
    return (header->command == ZF_TASK || header->command == ZF_RESULT)
        && fits && outbox_is_open (self->outboxes, to);
}

int
broker_send (broker_t *self, const peer_id_t *to, const zf_header_t *header,
             zmq_msg_t *frames, size_t count, bool copy)
{
    if (s_send_fails (self, to, header))
        return -1;
    if (s_may_hold (self, to, header, frames, count)) {
        if (outbox_add (self->outboxes, to, header, count? frames: NULL,
                        copy) != 0)
            zf_error ("cannot encode a %s header",
                      zf_command_name (header->command));
        return 0;               /* a failure at its flush comes later */
    }
    zf_buf_t buf;
    if (zf_header_encode (header, &buf) != 0) {
        zf_error ("cannot encode a %s header", zf_command_name (header->command));
        return 0;               /* a bug of ours, not the peer's absence */
    }
    /* What is held for the peer goes first: no CANCEL overtakes its TASK.
     * If it cannot go, the peer has gone, and this message cannot either. */
    if (outbox_flush (self->outboxes, to) != 0)
        return -1;
    void *socket = self->router_handle;
    /* With mandatory routing only the first frame can fail (EHOSTUNREACH);
     * with no send limit, later frames of the message always go. */
    if (zmq_send (socket, to->data, to->size, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
        return -1;
    zmq_send (socket, buf.data, buf.size, count? ZMQ_SNDMORE: 0);
    for (size_t i = 0; i < count; i++) {
        int flags = i + 1 < count? ZMQ_SNDMORE: 0;
        if (copy) {
            zmq_msg_t clone;
            zmq_msg_init (&clone);
            zmq_msg_copy (&clone, &frames [i]);
            if (zmq_msg_send (&clone, socket, flags) == -1)
                zmq_msg_close (&clone);
        }
        else
        if (zmq_msg_send (&frames [i], socket, flags) == -1)
            zmq_msg_close (&frames [i]);
    }
    return 0;
}

int
broker_send_header (broker_t *self, const peer_id_t *to,
                    const zf_header_t *header)
{
    return broker_send (self, to, header, NULL, 0, false);
}

void
broker_heartbeat_init (broker_t *self, zf_header_t *header, int command)
{
    zf_header_init (header, command);
    header->heartbeat_ms = (uint32_t) self->options.heartbeat_ms;
    header->liveness = (uint32_t) self->options.liveness;
    /* The broker reads batches: DONEs from a worker, SUBMITs from a
     * client. */
    header->flags = ZF_FLAG_BATCH;
}

void
broker_log_bad (broker_t *self, const char *format, ...)
{
    int64_t now = zf_now_ms ();
    if (now - self->bad_log_at < 1000) {
        self->bad_unlogged++;
        return;
    }
    char text [256];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    if (self->bad_unlogged)
        zf_warning ("%s (and %" PRIu64 " more refused since)", text,
                      self->bad_unlogged);
    else
        zf_warning ("%s", text);
    self->bad_log_at = now;
    self->bad_unlogged = 0;
}

/* ---- receiving --------------------------------------------------------- */

static void
s_inbound_clear (inbound_t *in)
{
    for (size_t i = 0; i < in->payload_count; i++)
        zmq_msg_close (&in->payload [i]);
    in->payload_count = 0;
}

/* Reads the rest of a message into in->payload (more: the last frame read
 * said more follow). Returns false if it had more frames than FRAMES_MAX
 * (the rest are read and dropped). */
static bool
s_recv_payload (void *socket, inbound_t *in, bool more)
{
    bool fits = true;
    while (more) {
        zmq_msg_t *frame = &in->payload [in->payload_count];
        zmq_msg_t spare;
        if (in->payload_count == FRAMES_MAX) {
            frame = &spare;
            fits = false;
        }
        zmq_msg_init (frame);
        if (zmq_msg_recv (frame, socket, 0) == -1) {
            zmq_msg_close (frame);
            return false;
        }
        more = zmq_msg_more (frame);
        if (frame == &spare)
            zmq_msg_close (frame);
        else
            in->payload_count++;
    }
    return fits;
}

/* What follows a message, and each item of a batch, as its own event. */
static void
s_event_end (broker_t *self)
{
    dispatch_settle (self);
    /* With --journal-sync always, a SUBMIT's STORED waits for no other. */
    if (detached_flush (self, false))
        dispatch_settle (self);
}

/* A BATCH that does not hold what its header says: the items read stand,
 * the rest is dropped. */
static void
s_bad_batch (broker_t *self, const inbound_t *in, const char *why)
{
    self->counters.bad_messages++;
    broker_log_bad (self, "refused the rest of a batch: %s", why);
    zf_header_t header;
    zf_header_init (&header, ZF_ERROR);
    header.status = ZFARM_EBAD_REQUEST;
    zf_header_set_text (&header, "bad batch");
    broker_send_header (self, &in->from, &header);
}

/* Handles an item of a batch as the message [header][payload] alone. */
static void
s_on_item (broker_t *self, inbound_t *in, const zf_batch_item_t *item)
{
    self->counters.batch_items_in++;
    int rc = zf_header_decode (self->decoder, &in->header, item->header,
                               item->header_size);
    if (item->payload) {
        zf_batch_item_frame (item, &in->payload [0]);
        in->payload_count = 1;
    }
    commands_handle_item (self, in, rc);
    s_inbound_clear (in);
    s_event_end (self);
}

/* A BATCH: its items, one event each. in->header_frame, the BATCH's, stays
 * open for them all: it carries the connection's metadata (auth.h). A
 * client that sends one reads them (PROTOCOL.md): its RESULTs are held in
 * an outbox, for as long as it has a client record. */
static void
s_on_batch (broker_t *self, inbound_t *in)
{
    self->counters.batches_in++;
    bool client = !peer_table_lookup (self->workers, &in->from);
    if (client)
        outbox_open (self->outboxes, &in->from);
    if (in->payload_count != 1)
        s_bad_batch (self, in, in->payload_count? "more than one frame"
                                                : "no items frame");
    else {
        zmq_msg_t items;        /* out of in->payload, which items reuse */
        zmq_msg_init (&items);
        zmq_msg_move (&items, &in->payload [0]);
        in->payload_count = 0;
        zf_batch_reader_t reader;
        zf_batch_reader_init (&reader, zmq_msg_data (&items),
                              zmq_msg_size (&items), in->header.count);
        zf_batch_item_t item;
        int rc;
        while ((rc = zf_batch_next (&reader, &item)) == 1)
            s_on_item (self, in, &item);
        if (rc != 0)
            s_bad_batch (self, in, "its items frame does not hold what its"
                                   " count says");
        zmq_msg_close (&items);
    }
    if (client && !peer_table_lookup (self->clients, &in->from))
        outbox_release (self->outboxes, &in->from);
}

/* Receives and handles one message. Returns 1, or 0 if none was waiting. */
static int
s_recv_one (broker_t *self)
{
    void *socket = self->router_handle;
    inbound_t *in = &self->inbound;
    zmq_msg_t identity, *header = &in->header_frame;
    zmq_msg_init (&identity);
    if (zmq_msg_recv (&identity, socket, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&identity);
        return 0;
    }
    peer_id_set (&in->from, zmq_msg_data (&identity), zmq_msg_size (&identity));
    bool more = zmq_msg_more (&identity);
    zmq_msg_close (&identity);
    zmq_msg_init (header);
    bool complete = more && zmq_msg_recv (header, socket, 0) != -1;
    bool fits = complete && s_recv_payload (socket, in, zmq_msg_more (header));
    int rc;
    if (!complete) {
        zf_header_init (&in->header, 0);
        zf_header_set_text (&in->header, "message has no header frame");
        rc = ZFARM_EBAD_REQUEST;
    }
    else
    if (!fits) {
        zf_header_init (&in->header, 0);
        zf_header_set_text (&in->header, "message has too many frames");
        rc = ZFARM_ETOO_LARGE;
    }
    else
        rc = zf_header_decode (self->decoder, &in->header,
                               zmq_msg_data (header), zmq_msg_size (header));
    if (rc == 0 && in->header.command == ZF_BATCH)
        s_on_batch (self, in);
    else
        commands_handle (self, in, rc);
    s_inbound_clear (in);
    zmq_msg_close (header);
    s_event_end (self);
    return 1;
}

/* ---- timers and signals ------------------------------------------------ */

#define GROW_CHECK_MS  50       /* an elastic pool's look at the queues */

/* A pass overdue by more than an interval means the broker itself did not
 * run meanwhile (a stopped process, a starved machine): what its workers
 * sent in that time still waits unread in its sockets (its I/O thread may
 * not even have read it from the kernel yet), so their silence is its own.
 * Each worker's expiry moves on by the time the pass is late, as though
 * the pass had run when it was due: a worker silent by then still goes,
 * and none gets more than liveness from now. */
static void
s_forgive_stall (broker_t *self, int64_t now)
{
    int64_t late = now - self->next_heartbeat;
    if (late <= self->options.heartbeat_ms)
        return;
    size_t count = 0;
    for (zf_link_t *at = self->all_workers.next; at != &self->all_workers;
         at = at->next) {
        worker_t *worker = zf_container_of (at, worker_t, all_link);
        if (!worker->gone) {
            worker->expiry += late;
            count++;
        }
    }
    if (count)
        zf_warning ("the heartbeat pass ran %" PRId64 " ms late (the broker"
                    " did not run): %zu worker%s given that long to be"
                    " heard", late, count, count == 1? "": "s");
}

static void
s_heartbeat (broker_t *self, int64_t now)
{
    zf_header_t header;
    broker_heartbeat_init (self, &header, ZF_HEARTBEAT);
    s_forgive_stall (self, now);
    /* Deleted workers stay on the list until the event ends (dispatch.c),
     * so the walk never loses its place. */
    for (zf_link_t *at = self->all_workers.next; at != &self->all_workers;
         at = at->next) {
        worker_t *worker = zf_container_of (at, worker_t, all_link);
        if (worker->gone)
            continue;
        if (now >= worker->expiry) {
            char reason [64];
            if (worker->closed)
                snprintf (reason, sizeof reason, "connection closed");
            else
                snprintf (reason, sizeof reason, "silent for %" PRId64
                          " ms", now - worker->expiry + self->liveness_ms);
            dispatch_worker_delete (self, worker, reason, true);
        }
        else
        if (worker->closed)
            continue;
        else
        if (broker_send_header (self, &worker->id, &header) != 0) {
            /* A local child's connection closes as it dies, a moment
             * before the pool reaps it and s_on_child_exit deletes it with
             * the crash report: deleted here, its task would end without
             * one. Should it live on, silent, its expiry deletes it. A
             * remote pool's supervisor sends its report (DISCONNECT with
             * the instance), for which the worker waits a heartbeat. */
            dispatch_worker_unreachable (self, worker);
        }
        else {
            dispatch_check_rss (self, worker);
            dispatch_check_idle (self, worker, now);
        }
    }
}

/* Elastic pool: one process more (the pool limits the rate) while a task
 * has waited past ZF_POOL_GROW_WAIT_MS, or at once for the first task of
 * a pool with no process. The broker cannot tell which services a new
 * process will offer: any waiting task counts. */
static void
s_pool_grow (broker_t *self, int64_t now)
{
    if (!self->pool || !self->options.spawn_max || self->draining
    ||  now < self->grow_check_at)
        return;
    self->grow_check_at = now + GROW_CHECK_MS;
    int64_t waited = dispatch_oldest_wait (self, now);
    if (waited >= ZF_POOL_GROW_WAIT_MS
    || (waited >= 0 && zf_pool_active (self->pool) == 0))
        zf_pool_grow (self->pool);
}

static void
s_on_timers (broker_t *self)
{
    int64_t now = zf_now_ms ();
    if (now >= self->next_heartbeat) {
        s_heartbeat (self, now);
        self->next_heartbeat += self->options.heartbeat_ms;
        if (self->next_heartbeat <= now)
            self->next_heartbeat = now + self->options.heartbeat_ms;
    }
    dispatch_expire (self, now);
    detached_on_timers (self, now);
    s_pool_grow (self, now);
    if (self->pool && !self->draining)
        zf_pool_tick (self->pool);
    if (self->draining
    && (dispatch_running (self) == 0 || now >= self->drain_deadline)) {
        dispatch_fail_all (self, ZFARM_ESHUTDOWN);
        self->stopped = true;
    }
}

/* A setting that differs in the file but cannot change while the broker
 * runs. */
static void
s_cannot_change (const char *name)
{
    zf_warning ("reload: %s cannot change while the broker runs; restart to"
                " apply it", name);
}

/* SIGHUP: reads the configuration again (file, then the same flags) and
 * applies what can change at run time (options.c's table says which),
 * and, with security, the authorized keys, from the directory the
 * configuration names now. */
static void
s_reload (broker_t *self)
{
    options_t fresh;
    options_t *now = &self->options;
    if (options_parse (&fresh, now->argc, now->argv) != 0) {
        zf_error ("reload: the configuration has errors (above); keeping"
                  " the running one");
        options_free (&fresh);
        return;
    }
    int kept = options_reload (now, &fresh, s_cannot_change);
    if (self->zap && fresh.authorized_keys
    &&  zap_reload (self->zap, fresh.authorized_keys) != 0)
        zf_error ("reload: keeping the authorized keys read before");
    zf_log_set_level (now->log_level);
    zf_notice ("reloaded%s%s: log-level %s, max-retries %d, max-queue %ld,"
               " max-call-time %ld, max-calls-per-worker %ld, max-rss %ld,"
               " max-rss-hard %ld, drain-timeout %d%s",
               now->config_path? " ": "",
               now->config_path? now->config_path: "",
               zf_log_level_name (now->log_level), now->retry.max_retries,
               now->max_queue, now->max_call_time_ms,
               now->max_calls_per_worker, now->max_rss_mb,
               now->max_rss_hard_mb, now->drain_timeout_ms,
               kept? " (some settings need a restart, see above)": "");
    options_free (&fresh);
}

static void
s_on_signal (broker_t *self)
{
    struct signalfd_siginfo info;
    while (read (self->signal_fd, &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGCHLD) {
            if (self->pool)
                zf_pool_reap (self->pool);
            continue;
        }
        if (info.ssi_signo == SIGHUP) {
            s_reload (self);
            continue;
        }
        if (self->draining) {
            zf_notice ("second signal: stopping now");
            self->drain_deadline = 0;
            continue;
        }
        zf_notice ("%s: draining (up to %d ms for %zu running tasks)",
                     strsignal ((int) info.ssi_signo),
                     self->options.drain_timeout_ms, dispatch_running (self));
        self->draining = true;
        self->drain_deadline = zf_now_ms () + self->options.drain_timeout_ms;
        dispatch_fail_queued (self, ZFARM_ESHUTDOWN);
    }
}

/* Milliseconds until the next timer is due (0 if one is due now). */
static long
s_next_timeout (broker_t *self)
{
    int64_t next = self->next_heartbeat;
    heap_node_t *first = deadline_heap_first (self->deadlines);
    if (first && first->deadline < next)
        next = first->deadline;
    if (self->draining && self->drain_deadline < next)
        next = self->drain_deadline;
    if (detached_next_timer (self) < next)
        next = detached_next_timer (self);
    int64_t now = zf_now_ms ();
    if (self->pool && self->options.spawn_max && self->grow_check_at < next)
        next = self->grow_check_at;
    int pool_wait = self->pool? zf_pool_next_timeout (self->pool): -1;
    if (pool_wait >= 0 && now + pool_wait < next)
        next = now + pool_wait;
    long http_wait = self->http? http_timeout (self->http): -1;
    if (http_wait >= 0 && now + http_wait < next)
        next = now + http_wait;
    int64_t wait = next - now;
    return wait > 0? (long) wait: 0;
}

/* Sends what every outbox holds, at the end of a turn, before the loop
 * waits again. A peer found gone is handled as broker_send's failure is
 * (dispatch_peer_unreachable): what that requeues is dispatched, and
 * held, and sent in the next round; each round with a failure deletes a
 * worker, so the rounds end. */
static void
s_outboxes_flush (broker_t *self)
{
    bool failed = true;
    while (failed) {
        outbox_flush_all (self->outboxes);
        failed = false;
        peer_id_t id;
        uint64_t unsent [ZF_BATCH_ITEMS_MAX];
        uint32_t unsent_count;
        while (outbox_take_failed (self->outboxes, &id, unsent, &unsent_count)) {
            dispatch_peer_unreachable (self, &id, unsent, unsent_count);
            failed = true;
        }
        if (failed)
            dispatch_settle (self);
    }
}

static void
s_say_goodbye (broker_t *self)
{
    zf_header_t header;
    zf_header_init (&header, ZF_DISCONNECT);
    zf_header_set_text (&header, "broker stopping");
    for (zf_link_t *at = self->all_workers.next; at != &self->all_workers;
         at = at->next) {
        worker_t *worker = zf_container_of (at, worker_t, all_link);
        if (!worker->gone && !worker->pool_child)  /* local ones: by signal */
            broker_send_header (self, &worker->id, &header);
    }
}

int
broker_run (broker_t *self)
{
    zmq_pollitem_t items [4] = {
        { self->router_handle, 0, ZMQ_POLLIN, 0 },
        { NULL, self->signal_fd, ZMQ_POLLIN, 0 },
    };
    int item_count = 2, pool_item = -1;
    if (self->http)
        items [item_count++] = (zmq_pollitem_t) { NULL, http_fd (self->http),
                                                  ZMQ_POLLIN, 0 };
    if (self->pool && zf_pool_fd (self->pool) != -1) {
        pool_item = item_count;     /* the local workers' stderr */
        items [item_count++] = (zmq_pollitem_t) { NULL, zf_pool_fd (self->pool),
                                                  ZMQ_POLLIN, 0 };
    }
    if (self->pool) {
        if (self->options.spawn_max)
            zf_info ("starting %d local workers (elastic, up to %d): %s",
                     self->options.spawn_min, self->options.spawn_max,
                     self->options.worker_cmd);
        else
            zf_info ("starting %d local workers: %s", self->options.spawn,
                     self->options.worker_cmd);
        zf_pool_start (self->pool);
    }
    while (!self->stopped) {
        if (zmq_poll (items, item_count, s_next_timeout (self)) == -1) {
            if (zmq_errno () == EINTR)
                continue;
            zf_error ("poll: %s", zmq_strerror (zmq_errno ()));
            return -1;
        }
        /* Before the signals: a child reaped now has its last words read. */
        if (pool_item != -1 && (items [pool_item].revents & ZMQ_POLLIN))
            zf_pool_read (self->pool);
        if (items [1].revents & ZMQ_POLLIN) {
            s_on_signal (self);
            dispatch_settle (self);
        }
        for (int i = 0; i < RECV_BATCH && s_recv_one (self); i++)
            ;
        if (self->http)
            http_run (self->http);  /* cheap when idle; also runs its timers */
        s_on_timers (self);
        dispatch_settle (self);
        /* The turn's journal changes, in one commit (and one fsync). */
        if (detached_flush (self, true))
            dispatch_settle (self);
        s_outboxes_flush (self);
    }
    s_say_goodbye (self);
    if (self->pool)
        zf_pool_stop (self->pool, ZF_POOL_STOP_GRACE_MS);
    zf_notice ("stopped");
    return 0;
}
