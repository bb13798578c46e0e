/* client_monitor.c: a client given several brokers hears at once that a
 * broker's connection closed, from libzmq's socket monitor. It then PINGs
 * that broker at once and gives it ZF_CONN_CLOSED_GRACE_MS to answer
 * instead of its liveness (1.5 s by default): a broker that lives (one
 * that dropped a message over its --max-msg-size, or restarted) is back
 * on the connection libzmq opens again within its reconnect interval
 * (100 ms); one whose process is gone is found so a few hundred ms after
 * its SIGKILL, and its tasks move to the others, which matters most when a
 * client keeps to one broker of a pool (zf_client_pick). Silence still
 * finds what closes no connection: a cut link, a paused broker, a host
 * that is gone.
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

int
zf_client_monitor_open (conn_t *conn)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://zfarm-client-monitor-%u",
              atomic_fetch_add (&s_monitors, 1));
    if (zmq_socket_monitor (zsock_resolve (conn->sock), endpoint,
                            ZMQ_EVENT_DISCONNECTED)
        != 0)
        return -1;
    conn->monitor = zsock_new (ZMQ_PAIR);
    if (!conn->monitor || zsock_connect (conn->monitor, "%s", endpoint) != 0) {
        zsock_destroy (&conn->monitor);
        return -1;
    }
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

/* True if an event of conn's monitor says its connection closed. Reads
 * every event waiting: each is two frames, the event and the endpoint. */
static bool
s_read_events (conn_t *conn)
{
    bool closed = false;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (zmq_msg_recv (&frame, zsock_resolve (conn->monitor), ZMQ_DONTWAIT)
           != -1) {
        if (zmq_msg_size (&frame) >= 2) {
            uint16_t event;
            memcpy (&event, zmq_msg_data (&frame), sizeof event);
            closed |= event == ZMQ_EVENT_DISCONNECTED;
        }
        while (zmq_msg_more (&frame)
               && zmq_msg_recv (&frame, zsock_resolve (conn->monitor),
                                ZMQ_DONTWAIT)
                      != -1)
            ;
    }
    zmq_msg_close (&frame);
    return closed;
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
        /* A PING now (it waits in the socket for the new connection); the
         * heartbeat finds the broker silent if no answer comes in time. */
        conn->closed = true;
        conn->unanswered_since = 0;
        conn->next_ping = 0;
        self->next_ping = 0;
        zf_debug ("zfarm client: %s closed the connection", conn->endpoint);
    }
}
