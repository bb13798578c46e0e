/* client_monitor.c: a client given several brokers hears soon that a
 * broker's process is gone, from libzmq's socket monitor, rather than
 * after the broker's silence (its liveness: 1.5 s by default). When the
 * connection closes (ZMQ_EVENT_DISCONNECTED), libzmq connects again every
 * 100 to 200 ms: a connect that fails (ZMQ_EVENT_CLOSED: refused, nothing
 * listens there) means the process is gone, and its tasks move to the
 * other brokers at once; a handshake that succeeds means it lives (it
 * dropped the connection, over its --max-msg-size say, or it restarted,
 * which its PONG's epoch tells). That matters most when a client keeps to
 * one broker of a pool (zf_client_pick). Silence still finds what refuses
 * no connect: a cut link, a paused broker, a host that is gone.
 *
 * A client given one broker has no monitor: its tasks have nowhere else
 * to go, and its hot path keeps one socket. */
#include "client_internal.h"
#include "zf_log.h"

#include <stdatomic.h>
#include <stdio.h>

/* inproc endpoints are per context, which czmq shares in a process: each
 * monitor gets a number of its own. */
static atomic_uint s_monitors;

static bool
s_read_events (conn_t *conn);

int
zf_client_monitor_open (conn_t *conn)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://zfarm-client-monitor-%u",
              atomic_fetch_add (&s_monitors, 1));
    if (zmq_socket_monitor (zsock_resolve (conn->sock), endpoint,
                            ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED
                                | ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        != 0)
        return -1;
    conn->monitor = zsock_new (ZMQ_PAIR);
    if (!conn->monitor || zsock_connect (conn->monitor, "%s", endpoint) != 0) {
        zmq_socket_monitor (zsock_resolve (conn->sock), NULL, 0);
        zsock_destroy (&conn->monitor);
        return -1;
    }
    /* A pipe's reader is woken only once a read has found it empty: one
     * read now, so that the first event makes the fd readable. */
    s_read_events (conn);
    return 0;
}

void
zf_client_monitor_close (conn_t *conn)
{
    if (!conn->monitor)
        return;
    zmq_socket_monitor (zsock_resolve (conn->sock), NULL, 0);
    zsock_set_linger (conn->monitor, 0);
    zsock_destroy (&conn->monitor);
}

/* Reads every event of conn's monitor (two frames each: the event, then
 * the endpoint) and follows the connection's state. True if they say the
 * broker is gone: after its connection closed, a connect failed, and no
 * handshake succeeded since. */
static bool
s_read_events (conn_t *conn)
{
    bool refused = false;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (zmq_msg_recv (&frame, zsock_resolve (conn->monitor), ZMQ_DONTWAIT)
           != -1) {
        if (zmq_msg_size (&frame) >= 2) {
            uint16_t event;
            memcpy (&event, zmq_msg_data (&frame), sizeof event);
            if (event == ZMQ_EVENT_DISCONNECTED)
                conn->closed = true;
            else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                conn->closed = refused = false;
            else if (event == ZMQ_EVENT_CLOSED) /* a connect's socket, failed */
                refused |= conn->closed;
        }
        while (zmq_msg_more (&frame)
               && zmq_msg_recv (&frame, zsock_resolve (conn->monitor),
                                ZMQ_DONTWAIT)
                      != -1)
            ;
    }
    zmq_msg_close (&frame);
    return refused;
}

/* Reading the monitors at least this often bounds how late a close is
 * heard when nothing woke a wait for it. */
#define MONITOR_READ_MS 20

void
zf_client_monitor_read (zfarm_client_t *self, int64_t now)
{
    if (!self->monitors_due && now - self->monitors_read_at < MONITOR_READ_MS)
        return;
    self->monitors_due = false;
    self->monitors_read_at = now;
    for (int i = 0; i < self->broker_count; i++) {
        conn_t *conn = &self->brokers [i];
        if (!conn->monitor || !s_read_events (conn) || conn->silent)
            continue;
        /* Down until a new connection is open and it answers a PING. */
        conn->silent = true;
        zf_warning ("zfarm client: %s is gone: its connection closed, and "
                    "its address refuses a new one",
                    conn->endpoint);
        zf_client_broker_lost (self, conn, "is gone");
    }
}
