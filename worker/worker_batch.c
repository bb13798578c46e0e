/* worker_batch.c: the batches a worker exchanges with a broker (BATCH,
 * common/PROTOCOL.md): the TASK batches it takes, split into tasks, and
 * the DONEs it holds for a broker that takes DONE batches. Called by
 * worker_io.c's threads with the lock held.
 *
 * Invariant: a DONE is held only while the flush rule says so: another
 * task of its broker waits here to start, the oldest DONE held is younger
 * than HOLD_US, and the batch has room. Whatever else goes to that broker
 * sends the batch first (worker_session.c's s_send), so order is kept; and
 * every thread applies the rule (zf_outbox_settle) before it may block. */
#include "worker_io_internal.h"
#include "zf_log.h"
#include "zf_util.h"

#include <inttypes.h>

/* A held DONE waits at most this long for the next one: short tasks fill
 * a batch much sooner, and a long one never makes its neighbour's DONE
 * wait. */
#define HOLD_US 1000

/* ---- TASK batches from a broker ------------------------------------- */

/* One item, handled as the message it holds would be alone. */
static void
s_on_item (io_t *self, session_t *session, const zf_batch_item_t *item,
           uint32_t index)
{
    zf_header_t header;
    int rc = zf_header_decode (self->decoder, &header, item->header,
                               item->header_size);
    if (rc != 0) {
        zf_warning ("worker: broker %s sent a bad header (batch item %" PRIu32
                    "): %s",
                    session->endpoint, index, header.text);
        return;
    }
    if (header.command != ZF_TASK) {
        zf_warning ("worker: broker %s sent %s in a batch, which a worker "
                    "does not take",
                    session->endpoint, zf_command_name (header.command));
        return;
    }
    zf_frames_t payload = { .count = 0 };
    if (item->payload) {
        zf_batch_item_frame (item, &payload.first);
        payload.count = 1;
    }
    zf_session_on_task (self, session, &header, &payload);
    zf_frames_close (&payload);
}

void
zf_batch_on_broker (io_t *self, session_t *session, zf_header_t *header,
                    zf_frames_t *payload)
{
    ZF_IO_HELD (self);
    if (payload->count != 1) {
        zf_warning ("worker: broker %s sent a bad batch: %zu frames, not 1",
                    session->endpoint, payload->count);
        return;
    }
    zmq_msg_t *items = zf_frames_at (payload, 0);
    zf_batch_reader_t reader;
    zf_batch_reader_init (&reader, zmq_msg_data (items), zmq_msg_size (items),
                          header->count);
    zf_batch_item_t item;
    uint32_t index = 0;
    int rc;
    while ((rc = zf_batch_next (&reader, &item)) == 1)
        s_on_item (self, session, &item, index++);
    /* The items before stand: they were whole. */
    if (rc == -1)
        zf_warning ("worker: broker %s sent a bad batch: its %" PRIu32
                    " items do not parse after the first %" PRIu32 "; the "
                    "rest dropped",
                    session->endpoint, header->count, index);
}

/* ---- DONE batches to a broker ---------------------------------------- */

/* The flush rule: true while the session's DONEs may wait for more. */
static bool
s_may_hold (io_t *self, session_t *session, int64_t now_us)
{
    return session->waiting_count > 0 && !self->stopping
        && !zf_batch_full (&session->outbox)
        && (session->outbox.count == 0
            || now_us < session->held_since_us + HOLD_US);
}

/* The watcher's alarm, for when the oldest held DONE is due to go (the
 * alarm's clock counts milliseconds: the first one not before). */
static void
s_arm (io_t *self, session_t *session)
{
    zf_io_arm (self, (session->held_since_us + HOLD_US + 999) / 1000);
}

bool
zf_outbox_hold (io_t *self, session_t *session, const zf_header_t *header,
                zmq_msg_t *result)
{
    ZF_IO_HELD (self);
    if (!session->takes_batches
        || (result && zmq_msg_size (result) > ZF_BATCH_PAYLOAD_MAX))
        return false;
    int64_t now_us = zf_now_us ();
    bool hold = s_may_hold (self, session, now_us);
    /* A DONE that would go at once alone goes as it always did: at
     * capacity 1, with nothing waiting, nothing changes. */
    if (!hold && session->outbox.count == 0)
        return false;
    if (session->outbox.count == 0) {
        session->held_since_us = now_us;
        s_arm (self, session);
    }
    int rc = zf_batch_add_frame (&session->outbox, header, result);
    assert (rc == 0); /* our own DONE always encodes */
    (void) rc;
    if (!hold || zf_batch_full (&session->outbox))
        zf_outbox_flush (session);
    return true;
}

void
zf_outbox_flush (session_t *session)
{
    if (session->outbox.count == 0)
        return;
    if (!session->sock) {
        zf_batch_free (&session->outbox); /* its connection has ended */
        return;
    }
    uint32_t count = session->outbox.count;
    /* Never blocks, as s_send does not: the socket's send timeout is 0. */
    if (zf_batch_send (&session->outbox, zsock_resolve (session->sock)) == -1)
        zf_warning ("worker: broker %s is not reading; %" PRIu32 " DONEs "
                    "dropped",
                    session->endpoint, count);
    else
        session->heartbeat_at = zf_now_ms () + session->heartbeat_ms;
}

void
zf_outbox_settle (io_t *self)
{
    ZF_IO_HELD (self);
    int64_t now_us = 0;
    for (uint32_t i = 0; i < self->session_count; i++) {
        session_t *session = &self->sessions [i];
        if (session->outbox.count == 0)
            continue;
        now_us = now_us ? now_us : zf_now_us ();
        if (s_may_hold (self, session, now_us))
            s_arm (self, session);
        else
            zf_outbox_flush (session);
    }
}
