/* outbox.h: messages held for the peers that read BATCH, sent together.
 *
 * A peer that reads batches (a worker whose READY said BATCH, a client
 * that sent one) has an outbox in this broker-level table, keyed by its
 * routing id: never inside its client_t or worker_t, so that destroying a
 * record neither loses what is held nor leaves a pointer to it. An outbox
 * holding one message holds it as it is (its header, its frame moved) and
 * sends it so, as the plain message; a second turns them into a BATCH.
 * A send that fails (the peer has gone) is noted, not reported to whoever
 * held the message: the broker takes the failures at the end of its turn
 * (outbox_take_failed) and handles them as broker_send's. */
#ifndef OUTBOX_H
#define OUTBOX_H

#include <stdbool.h>
#include <zmq.h>
#include "counters.h"
#include "peer.h"
#include "zf_proto.h"

typedef struct _outbox_table_t outbox_table_t;

/* A table of outboxes that send on socket (the ROUTER's libzmq handle)
 * and count in counters (batches_out, batch_items_out,
 * results_undeliverable), both the caller's. */
outbox_table_t *
outbox_table_new (void *socket, counters_t *counters);

/* Drops what every outbox holds, and frees the table. */
void
outbox_table_destroy (outbox_table_t **self_p);

/* The peer reads batches from now on: opens its outbox (if not open). */
void
outbox_open (outbox_table_t *self, const peer_id_t *id);

/* Whether the peer has an outbox. */
bool
outbox_is_open (const outbox_table_t *self, const peer_id_t *id);

/* Holds header and its one payload frame (NULL: none) for the peer, which
 * must have an outbox. The frame is moved, or with copy kept (shared or
 * copied, as zmq_msg_copy does). A full outbox is sent at once. Returns 0,
 * or -1 if the header does not encode (a bug of the caller; nothing is
 * held). */
int
outbox_add (outbox_table_t *self, const peer_id_t *id,
            const zf_header_t *header, zmq_msg_t *frame, bool copy);

/* Sends what the peer's outbox holds, if it has one. Returns 0, or -1 if
 * the peer has gone (the failure is noted too). */
int
outbox_flush (outbox_table_t *self, const peer_id_t *id);

/* Sends what every outbox holds. */
void
outbox_flush_all (outbox_table_t *self);

/* A peer that a send of held messages found gone, since the last call:
 * sets id, and the ids of the TASKs held for it that never left into
 * tasks (room for ZF_BATCH_ITEMS_MAX) and *task_count, and returns true,
 * once per failure; false when none is left. */
bool
outbox_take_failed (outbox_table_t *self, peer_id_t *id, uint64_t *tasks,
                    uint32_t *task_count);

/* The peer's client record is gone: its outbox closes once it has sent
 * what it holds (at once if it holds nothing). */
void
outbox_release (outbox_table_t *self, const peer_id_t *id);

/* The peer is gone, or reads no batches: closes its outbox, dropping what
 * it holds (RESULTs counted as undeliverable). Returns how many TASKs it
 * held, which never left, and their ids into unsent (room for
 * ZF_BATCH_ITEMS_MAX; NULL: not wanted, returns 0). */
uint32_t
outbox_close (outbox_table_t *self, const peer_id_t *id, uint64_t *unsent);

#endif
