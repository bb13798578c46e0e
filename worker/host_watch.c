/* host_watch.c: a zfarm-worker supervisor's own link to its brokers:
 * how it tells them that a worker process died, and how (a DISCONNECT
 * naming the worker's instance), and, for an elastic pool, what it knows
 * of their backlog, which it grows by.
 *
 * The supervisor holds a DEALER to each broker its workers serve, and
 * every ZF_POOL_WATCH_MS sends each a PING that names the pool's services;
 * the PONG says how many of their tasks wait in the broker's queues and
 * how long the oldest has waited. A broker answers any peer that got in
 * (with CURVE, the workers' own key does), so the supervisor needs no
 * role of its own. A broker of an earlier revision answers without a
 * backlog, and one that does not answer is left out after a few
 * intervals: the pool then stays as it is, never grows by stale news.
 *
 * This is the supervisor's only link to the brokers; it holds no task.
 * A task of a broker that is lost is its client's to resubmit, as ever. */
#include "host.h"
#include "zf_curve.h"
#include "zf_defaults.h"
#include "zf_endpoints.h"
#include "zf_log.h"
#include "zf_proto.h"
#include "zf_util.h"

#include <czmq.h>

/* A broker silent for this many intervals tells nothing. */
#define WATCH_STALE_INTERVALS 3

typedef struct {
    zsock_t *socket;
    int64_t answered_at;        /* its last PONG; 0: none yet */
    uint64_t waiting;           /* what that PONG said */
    uint32_t waited_ms;
} watched_t;

struct _watch_t {
    watched_t brokers [ZF_BROKERS_MAX];
    int count;
    zf_buf_t ping;              /* the PING, encoded once */
    zf_decoder_t *decoder;
    int64_t ping_at;            /* the next round of PINGs */
};

watch_t *
watch_new (const char *broker_list, const char *const *services,
           size_t service_count)
{
    assert (services && service_count > 0 && service_count <= ZF_SERVICES_MAX);
    if (!broker_list || !*broker_list)
        broker_list = getenv ("ZFARM_BROKER");
    if (!broker_list || !*broker_list)
        broker_list = ZF_DEFAULT_ENDPOINT;
    zf_endpoints_t endpoints;
    char why [256];
    if (zf_endpoints_parse (&endpoints, broker_list, why, sizeof why) != 0) {
        zf_error ("supervisor: brokers: %s", why);
        return NULL;
    }
    zf_curve_t curve;
    if (zf_curve_setup_from_env (&curve, why, sizeof why) != 0) {
        zf_error ("supervisor: CURVE: %s", why);
        zf_endpoints_clear (&endpoints);
        return NULL;
    }
    zf_header_t ping;
    zf_header_init (&ping, ZF_PING);
    for (size_t i = 0; i < service_count; i++)
        snprintf (ping.services [i], sizeof ping.services [i], "%s",
                  services [i]);
    ping.service_count = (uint32_t) service_count;

    watch_t *self = zf_malloc (sizeof *self);
    self->decoder = zf_decoder_new ();
    int rc = zf_header_encode (&ping, &self->ping);
    assert (rc == 0);
    (void) rc;
    for (int i = 0; i < endpoints.count; i++) {
        zsock_t *socket = zsock_new (ZMQ_DEALER);
        if (!socket)
            zf_die_nomem ();
        zsock_set_linger (socket, 0);
        /* A PING to a broker that is not there is dropped, not queued:
         * the next interval sends a fresh one. */
        zsock_set_immediate (socket, 1);
        zsock_set_sndhwm (socket, 4);
        if (zf_curve_apply (&curve, zsock_resolve (socket)) != 0
        ||  zsock_connect (socket, "%s", endpoints.items [i]) != 0) {
            zf_error ("supervisor: cannot connect to %s: %s",
                      endpoints.items [i], zmq_strerror (zmq_errno ()));
            zsock_destroy (&socket);
            continue;
        }
        self->brokers [self->count++].socket = socket;
    }
    zf_curve_clear (&curve);
    zf_endpoints_clear (&endpoints);
    if (self->count == 0)
        watch_destroy (&self);
    return self;
}

void
watch_destroy (watch_t **self_p)
{
    assert (self_p);
    watch_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->count; i++)
        zsock_destroy (&self->brokers [i].socket);
    zf_decoder_destroy (&self->decoder);
    free (self);
    *self_p = NULL;
}

int
watch_poll_items (watch_t *self, zmq_pollitem_t *items)
{
    for (int i = 0; i < self->count; i++)
        items [i] = (zmq_pollitem_t) {
            .socket = zsock_resolve (self->brokers [i].socket),
            .events = ZMQ_POLLIN };
    return self->count;
}

/* One message: its header, and any frames after it, which no PONG has. */
static void
s_read_one (watch_t *self, watched_t *broker, zmq_msg_t *frame)
{
    zf_header_t header;
    int rc = zf_header_decode (self->decoder, &header, zmq_msg_data (frame),
                               zmq_msg_size (frame));
    void *socket = zsock_resolve (broker->socket);
    while (zmq_msg_more (frame) && zmq_msg_recv (frame, socket, 0) != -1)
        ;
    if (rc != 0 || header.command != ZF_PONG)
        return;                 /* a broker sends nothing else to a PING */
    broker->answered_at = zf_now_ms ();
    broker->waiting = header.waiting;
    broker->waited_ms = header.waited_ms;
}

void
watch_read (watch_t *self, int index)
{
    assert (index >= 0 && index < self->count);
    watched_t *broker = &self->brokers [index];
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    /* Bounded: a broker answers one PONG per PING. */
    for (int reads = 0; reads < 16; reads++) {
        if (zmq_msg_recv (&frame, zsock_resolve (broker->socket),
                          ZMQ_DONTWAIT) == -1)
            break;
        s_read_one (self, broker, &frame);
    }
    zmq_msg_close (&frame);
}

void
watch_ping (watch_t *self, int64_t now)
{
    if (now < self->ping_at)
        return;
    self->ping_at = now + ZF_POOL_WATCH_MS;
    for (int i = 0; i < self->count; i++)
        zmq_send (zsock_resolve (self->brokers [i].socket), self->ping.data,
                  self->ping.size, ZMQ_DONTWAIT);
}

void
watch_report (watch_t *self, const char *instance, const char *how)
{
    zf_header_t header;
    zf_header_init (&header, ZF_DISCONNECT);
    snprintf (header.instance, sizeof header.instance, "%s", instance);
    zf_header_set_text (&header, how);
    zf_buf_t buf;
    if (zf_header_encode (&header, &buf) != 0)
        return;
    for (int i = 0; i < self->count; i++)
        zmq_send (zsock_resolve (self->brokers [i].socket), buf.data,
                  buf.size, ZMQ_DONTWAIT);
}

int
watch_next_timeout (watch_t *self, int64_t now)
{
    return self->ping_at > now? (int) (self->ping_at - now): 0;
}

void
watch_backlog (watch_t *self, int64_t now, uint64_t *waiting,
               uint32_t *waited_ms)
{
    *waiting = 0;
    *waited_ms = 0;
    for (int i = 0; i < self->count; i++) {
        const watched_t *broker = &self->brokers [i];
        if (!broker->answered_at || now - broker->answered_at
                                    > WATCH_STALE_INTERVALS * ZF_POOL_WATCH_MS)
            continue;
        *waiting += broker->waiting;
        if (broker->waited_ms > *waited_ms)
            *waited_ms = broker->waited_ms;
    }
}
