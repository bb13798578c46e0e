/* client_batch.c: SUBMITs held for a broker that takes them in BATCH
 * messages (zfarm_client_set_batch), and sent to it together.
 *
 * Invariant: a broker receives what it would receive without batches, in
 * the same order: a held SUBMIT goes before any other message to its
 * broker (zf_client_send_simple and the detached calls flush first), and
 * before the client receives or sleeps (zf_client_receive and
 * zf_client_poll flush first), so no result is waited for that is still
 * held here. Only tasks move between brokers, never held SUBMITs: a batch
 * that cannot go (its connection replaced, its broker restarted) is
 * dropped, and its tasks are submitted again by the caller's path. */
#include "client_internal.h"
#include "zf_log.h"

#include <inttypes.h>

bool
zf_client_batch_takes (zfarm_client_t *self, const conn_t *conn,
                       zmq_msg_t *payload)
{
    return self->batch_max > 0 && conn->takes_batch
        && zmq_msg_size (payload) <= ZF_BATCH_PAYLOAD_MAX;
}

int
zf_client_batch_hold (zfarm_client_t *self, conn_t *conn,
                      const zf_header_t *header, zmq_msg_t *payload)
{
    if (zf_batch_add_frame (&conn->batch, header, payload) != 0) {
        /* The header came from our own fields: only a bug gets here. */
        zf_error ("zfarm client: cannot add task %" PRIu64 " to a batch",
                  header->task_id);
        return -1;
    }
    if (conn->batch.count >= (uint32_t) self->batch_max
        || zf_batch_full (&conn->batch))
        return zf_client_batch_flush (conn);
    return 0;
}

int
zf_client_batch_flush (conn_t *conn)
{
    if (conn->batch.count == 0)
        return 0;
    uint32_t count = conn->batch.count;
    conn->armed = false; /* a send may take the signal of an input */
    if (zf_batch_send (&conn->batch, zsock_resolve (conn->sock)) == 0)
        return 0;
    zf_warning ("zfarm client: could not send %" PRIu32 " SUBMITs to %s: %s",
                count, conn->endpoint, zmq_strerror (zmq_errno ()));
    return -1;
}

int
zf_client_batch_flush_all (zfarm_client_t *self)
{
    int rc = 0;
    for (int i = 0; i < self->broker_count; i++)
        if (zf_client_batch_flush (&self->brokers [i]) != 0)
            rc = -1;
    return rc;
}

bool
zf_client_batch_is_held (zfarm_client_t *self)
{
    for (int i = 0; i < self->broker_count; i++)
        if (self->brokers [i].batch.count > 0)
            return true;
    return false;
}

void
zf_client_batch_drop (conn_t *conn)
{
    if (conn->batch.count > 0)
        zf_debug ("zfarm client: %" PRIu32 " SUBMITs held for %s dropped,"
                  " to be submitted again",
                  conn->batch.count, conn->endpoint);
    zf_batch_free (&conn->batch);
}

/* ---- the public API ---------------------------------------------------- */

int
zfarm_client_set_batch (zfarm_client_t *self, int max_items)
{
    assert (self);
    if (max_items < 0 || max_items > ZFARM_BATCH_ITEMS_MAX)
        return ZFARM_EINVALID;
    self->batch_max = max_items;
    /* What is held already goes now rather than wait for a count that
     * may no longer come. */
    zf_client_batch_flush_all (self);
    return 0;
}

int
zfarm_client_flush (zfarm_client_t *self)
{
    assert (self);
    return zf_client_batch_flush_all (self) == 0 ? 0 : ZFARM_EBROKER_DOWN;
}
