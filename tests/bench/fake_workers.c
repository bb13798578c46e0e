/* fake_workers.c: many echo workers in one process, one DEALER socket each,
 * speaking the zfarm protocol (through common/'s codec) or, with --plain,
 * lru_broker's. It stands for a thousand connected workers on a 2-core
 * machine that could not run a thousand processes, so that what is measured
 * is the broker's cost per worker, not the kernel's per process.
 *
 * One thread waits on every socket's ZMQ_FD in one epoll set, so a message
 * costs O(1) however many sockets there are (zmq_poll would scan them all).
 * ZMQ_FD only says "look at ZMQ_EVENTS": a socket is drained until it has
 * no message, after every wake-up and after every send of our own. */
#include "zf_batch.h"
#include "zf_defaults.h"
#include "zf_proto.h"
#include "zf_util.h"
#include "zf_wire.h"

#include <czmq.h>
#include <getopt.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#define READY_PLAIN     "\001"
#define EVENTS_MAX      64
#define COUNT_MAX       4096
/* How often a blocked wait looks at zsys_interrupted: a signal may land on
 * a thread other than the one waiting and so not end its wait. */
#define INTERRUPT_CHECK_MS  100

typedef struct {
    const char *broker;         /* endpoint to connect to */
    const char *service;        /* zfarm: the service offered */
    long count;                 /* sockets, one worker each */
    long capacity;              /* tasks at once per worker */
    long heartbeat_ms;          /* zfarm: HEARTBEAT interval */
    const char *instance;       /* zfarm: worker i says instance "THIS-i"
                                   (NULL: none), so that fakes of two
                                   processes, one per broker, stand for
                                   workers that serve both */
    bool plain;                 /* lru_broker's protocol, not zfarm's */
    bool batch;                 /* zfarm: take TASKs in batches (and 16
                                   per slot ahead), answer in batches */
    bool *broker_batches;       /* per socket: its broker takes DONE
                                   batches (its HEARTBEAT said so) */
    zsock_t **socks;            /* the workers' sockets */
    int epoll_fd;               /* every socket's ZMQ_FD */
    zf_decoder_t *decoder;      /* reused for every header */
    int64_t next_heartbeat;     /* when every socket sends HEARTBEAT */
} fakes_t;

/* ---- one worker --------------------------------------------------------- */

static void
s_send_ready (fakes_t *self, long index)
{
    zsock_t *sock = self->socks [index];
    if (self->plain) {
        for (long i = 0; i < self->capacity; i++)
            zmq_send (zsock_resolve (sock), READY_PLAIN, 1, 0);
        return;
    }
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    zf_header_set_service (&header, self->service);
    memcpy (header.services [0], header.service, sizeof header.services [0]);
    header.service_count = 1;
    header.capacity = (uint32_t) self->capacity;
    header.pid = (uint32_t) getpid ();
    if (self->batch) {
        header.flags = ZF_FLAG_BATCH;
        header.prefetch = ZF_PREFETCH_MAX;
    }
    if (self->instance) {
        snprintf (header.instance, sizeof header.instance, "%s-%ld",
                  self->instance, index);
        header.brokers = 2;
    }
    snprintf (header.host, sizeof header.host, "%s", zf_hostname ());
    zf_header_set_text (&header, ZFARM_VERSION);
    zf_wire_send (sock, &header, NULL);
}

/* Opens socket index, registers it with epoll and sends READY. */
static int
s_open (fakes_t *self, long index)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return -1;
    zsock_set_sndhwm (sock, 0);
    zsock_set_rcvhwm (sock, 0);
    if (zsock_connect (sock, "%s", self->broker) < 0) {
        zsys_error ("fake_workers: connect %s: %s", self->broker,
                    zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return -1;
    }
    struct epoll_event event = { .events = EPOLLIN,
                                 .data.u64 = (uint64_t) index };
    if (epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, zsock_fd (sock), &event)) {
        zsys_error ("fake_workers: epoll_ctl: %s", strerror (errno));
        zsock_destroy (&sock);
        return -1;
    }
    self->socks [index] = sock;
    self->broker_batches [index] = false;
    s_send_ready (self, index);
    return 0;
}

static void
s_close (fakes_t *self, long index)
{
    zsock_t *sock = self->socks [index];
    if (!sock)
        return;
    epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, zsock_fd (sock), NULL);
    zsock_destroy (&self->socks [index]);
}

/* lru_broker's protocol: every message is a task; send it back as is. */
static void
s_plain_echo (void *socket)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    int rc = zmq_msg_recv (&frame, socket, ZMQ_DONTWAIT);
    while (rc >= 0) {
        bool more = zmq_msg_more (&frame);
        zmq_msg_send (&frame, socket, more? ZMQ_SNDMORE: 0);
        if (!more)
            break;
        rc = zmq_msg_recv (&frame, socket, 0);
    }
    zmq_msg_close (&frame);
}

/* A BATCH of TASKs: their DONEs, echoing each payload, in one BATCH if
 * the broker takes them, else one by one. */
static void
s_zfarm_batch (fakes_t *self, long index, zmsg_t *payload, uint32_t count)
{
    zframe_t *items = zmsg_first (payload);
    if (!items || zmsg_size (payload) != 1)
        return;
    zf_batch_reader_t reader;
    zf_batch_reader_init (&reader, zframe_data (items), zframe_size (items),
                          count);
    zf_batch_t out;
    zf_batch_init (&out);
    zf_batch_item_t item;
    zf_header_t header;
    while (zf_batch_next (&reader, &item) == 1) {
        if (zf_header_decode (self->decoder, &header, item.header,
                              item.header_size) != 0
        ||  header.command != ZF_TASK)
            continue;
        uint64_t task_id = header.task_id;
        uint32_t flags = header.flags;
        zf_header_init (&header, ZF_DONE);
        header.task_id = task_id;
        header.flags = flags;
        if (self->broker_batches [index]) {
            if (zf_batch_full (&out))
                zf_batch_send (&out, zsock_resolve (self->socks [index]));
            zf_batch_add (&out, &header, item.payload, item.payload_size);
        }
        else
            zf_wire_send_data (self->socks [index], &header, item.payload,
                               item.payload_size);
    }
    zf_batch_send (&out, zsock_resolve (self->socks [index]));
}

/* zfarm's protocol: a TASK gets its DONE with the payload frames moved back,
 * and its flags (a NUL after the payload stays one). DISCONNECT means the broker forgot this worker: register again on a new
 * socket (PROTOCOL.md, Workers). Anything else needs no answer. */
static void
s_zfarm_handle (fakes_t *self, long index)
{
    zf_header_t header;
    zmsg_t *payload = NULL;
    int rc = zf_wire_recv (self->socks [index], self->decoder, &header,
                           &payload);
    if (rc == 0 && header.command == ZF_TASK) {
        uint64_t task_id = header.task_id;
        uint32_t flags = header.flags;
        zf_header_init (&header, ZF_DONE);
        header.task_id = task_id;
        header.flags = flags;
        zf_wire_send (self->socks [index], &header, &payload);
    }
    else
    if (rc == 0 && header.command == ZF_BATCH)
        s_zfarm_batch (self, index, payload, header.count);
    else
    if (rc == 0 && header.command == ZF_HEARTBEAT)
        self->broker_batches [index] = (header.flags & ZF_FLAG_BATCH) != 0;
    else
    if (rc == 0 && header.command == ZF_DISCONNECT) {
        zsys_warning ("fake_workers: worker %ld: DISCONNECT (%s), READY "
                      "again", index, header.text);
        s_close (self, index);
        s_open (self, index);
    }
    else
    if (rc < -1)
        zsys_warning ("fake_workers: bad message: %s", header.text);
    zmsg_destroy (&payload);
}

/* Handles every message waiting on socket index. */
static void
s_drain (fakes_t *self, long index)
{
    while (self->socks [index]
       &&  zsock_events (self->socks [index]) & ZMQ_POLLIN) {
        if (self->plain)
            s_plain_echo (zsock_resolve (self->socks [index]));
        else
            s_zfarm_handle (self, index);
    }
}

/* ---- all of them -------------------------------------------------------- */

static void
s_heartbeat (fakes_t *self)
{
    zf_header_t header;
    zf_header_init (&header, ZF_HEARTBEAT);
    for (long i = 0; i < self->count; i++)
        if (self->socks [i]) {
            zf_wire_send (self->socks [i], &header, NULL);
            s_drain (self, i);
        }
    self->next_heartbeat = zf_now_ms () + self->heartbeat_ms;
}

static void
s_run (fakes_t *self)
{
    self->next_heartbeat = zf_now_ms () + self->heartbeat_ms;
    for (long i = 0; i < self->count; i++)
        s_drain (self, i);
    while (!zsys_interrupted) {
        int wait_ms = INTERRUPT_CHECK_MS;
        if (!self->plain) {
            int64_t left = self->next_heartbeat - zf_now_ms ();
            wait_ms = left < 0? 0: left < wait_ms? (int) left: wait_ms;
        }
        struct epoll_event events [EVENTS_MAX];
        int ready = epoll_wait (self->epoll_fd, events, EVENTS_MAX, wait_ms);
        if (ready < 0 && errno != EINTR)
            break;
        for (int i = 0; i < ready; i++)
            s_drain (self, (long) events [i].data.u64);
        if (!self->plain && zf_now_ms () >= self->next_heartbeat)
            s_heartbeat (self);
    }
}

/* One socket costs two descriptors (its mailbox and its connection). */
static void
s_raise_fd_limit (long count)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0
    &&  limit.rlim_cur < (rlim_t) (count * 2 + 64)) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit (RLIMIT_NOFILE, &limit))
            zsys_warning ("fake_workers: setrlimit: %s", strerror (errno));
    }
}

static void
s_usage (void)
{
    printf (
"Usage: fake_workers --broker EP [--count K] [--capacity N] [--plain]\n"
"                    [--service NAME] [--heartbeat MS] [--batch]\n"
"                    [--instance PREFIX]\n"
"\n"
"K echo workers (default 1000) in one process, one socket each, N tasks at\n"
"once each (default 1), for zfarm-broker (service NAME, default echo) or,\n"
"with --plain, for lru_broker's backend. --batch: take TASKs in batches,\n"
"16 per slot ahead, and answer in batches. --instance: worker i says the\n"
"instance PREFIX-i, so that the same PREFIX in two processes, one per\n"
"broker, stands for workers that serve both brokers (the brokers say the\n"
"same pool). Stops on SIGINT or SIGTERM.\n");
}

static int
s_parse (fakes_t *self, int argc, char *argv [])
{
    static const struct option options [] = {
        { "broker",    required_argument, NULL, 'b' },
        { "service",   required_argument, NULL, 's' },
        { "count",     required_argument, NULL, 'k' },
        { "capacity",  required_argument, NULL, 'c' },
        { "heartbeat", required_argument, NULL, 'H' },
        { "plain",     no_argument,       NULL, 'p' },
        { "batch",     no_argument,       NULL, 'B' },
        { "instance",  required_argument, NULL, 'i' },
        { "help",      no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    int option;
    while ((option = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        if (option == 'b') self->broker = optarg;
        else if (option == 's') self->service = optarg;
        else if (option == 'p') self->plain = true;
        else if (option == 'B') self->batch = true;
        else if (option == 'i' && *optarg && strlen (optarg) <= 32)
            self->instance = optarg;
        else if (option == 'k'
             &&  zf_parse_long (optarg, 1, COUNT_MAX, &self->count) == 0) ;
        else if (option == 'c'
             &&  zf_parse_long (optarg, 1, ZF_CAPACITY_MAX,
                                &self->capacity) == 0) ;
        else if (option == 'H'
             &&  zf_parse_long (optarg, 10, 3600000,
                                &self->heartbeat_ms) == 0) ;
        else {
            s_usage ();
            return option == 'h'? 1: -1;
        }
    }
    if (!self->broker || optind < argc
    ||  !zf_service_name_is_valid (self->service, strlen (self->service))) {
        s_usage ();
        return -1;
    }
    return 0;
}

int
main (int argc, char *argv [])
{
    fakes_t self = { .service = "echo", .count = 1000, .capacity = 1,
                     .heartbeat_ms = ZF_DEFAULT_HEARTBEAT_MS };
    int rc = s_parse (&self, argc, argv);
    if (rc)
        return rc < 0? 2: 0;
    s_raise_fd_limit (self.count);
    zsys_set_max_sockets ((size_t) self.count + 16);
    zsys_init ();
    self.socks = zf_malloc ((size_t) self.count * sizeof *self.socks);
    self.broker_batches = zf_malloc ((size_t) self.count
                                     * sizeof *self.broker_batches);
    self.decoder = zf_decoder_new ();
    self.epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    rc = self.epoll_fd < 0? -1: 0;
    for (long i = 0; i < self.count && rc == 0; i++)
        rc = s_open (&self, i);
    if (rc == 0)
        s_run (&self);
    for (long i = 0; i < self.count; i++)
        s_close (&self, i);
    if (self.epoll_fd >= 0)
        close (self.epoll_fd);
    zf_decoder_destroy (&self.decoder);
    free (self.socks);
    free (self.broker_batches);
    return rc == 0? 0: 1;
}
