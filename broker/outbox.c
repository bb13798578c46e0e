/* outbox.c: messages held for the peers that read BATCH (outbox.h).
 *
 * An outbox that holds anything is on the table's held list, so that the
 * flush at the end of the broker's turn walks those alone, never every
 * peer. Its first message stays a plain one (header kept, frame moved)
 * until a second comes: at capacity 1 nothing is encoded twice or copied,
 * and the peer gets exactly what it got before batches. */
#include "outbox.h"
#include "zf_batch.h"
#include "zf_list.h"
#include "zf_log.h"
#include "zf_util.h"

#include <assert.h>
#include <string.h>

typedef struct {
    peer_id_t id;          /* first: the table's key */
    zf_link_t held_link;   /* in the table's held list, while count */
    uint32_t count;        /* messages held */
    uint32_t results;      /* of them RESULTs: undeliverable if the
                                   send fails */
    zf_buf_t first_buf;    /* count 1: the message's header, encoded
                              (its item when a second comes) */
    zmq_msg_t first_frame; /* ... its payload, if first_has_frame */
    bool first_has_frame;
    zf_batch_t batch;                    /* count 2 on: every message held */
    bool releasing;                      /* its client record is gone: close it
                                   once it has sent what it holds */
    uint64_t tasks [ZF_BATCH_ITEMS_MAX]; /* the TASKs held: their ids */
    uint32_t task_count;
} outbox_t;

/* A peer a send found gone, and the TASKs that did not go to it. */
typedef struct {
    peer_id_t id;
    uint64_t *tasks;
    uint32_t task_count;
} failure_t;

struct _outbox_table_t {
    peer_table_t *outboxes; /* peer_id_t -> outbox_t */
    zf_link_t held;         /* outbox_t.held_link */
    void *socket;           /* the broker's ROUTER */
    counters_t *counters;   /* the broker's */
    failure_t *failed;      /* peers found gone, for take_failed */
    size_t failed_count, failed_capacity;
};

outbox_table_t *
outbox_table_new (void *socket, counters_t *counters)
{
    outbox_table_t *self = zf_malloc (sizeof *self);
    self->outboxes = peer_table_new ();
    zf_list_init (&self->held);
    self->socket = socket;
    self->counters = counters;
    return self;
}

/* Drops what an outbox holds; counts RESULTs lost. */
static void
s_drop (outbox_table_t *self, outbox_t *outbox)
{
    if (outbox->count == 1 && outbox->first_has_frame)
        zmq_msg_close (&outbox->first_frame);
    outbox->first_has_frame = false;
    zf_batch_free (&outbox->batch);
    self->counters->results_undeliverable += outbox->results;
    outbox->count = outbox->results = outbox->task_count = 0;
    zf_list_remove (&outbox->held_link);
}

static void
s_destroy (outbox_table_t *self, outbox_t *outbox)
{
    s_drop (self, outbox);
    peer_table_delete (self->outboxes, &outbox->id);
    free (outbox);
}

void
outbox_table_destroy (outbox_table_t **self_p)
{
    outbox_table_t *self = *self_p;
    if (!self)
        return;
    outbox_t *outbox;
    while ((outbox = peer_table_pop (self->outboxes))) {
        s_drop (self, outbox);
        free (outbox);
    }
    peer_table_destroy (&self->outboxes);
    for (size_t i = 0; i < self->failed_count; i++)
        free (self->failed [i].tasks);
    free (self->failed);
    free (self);
    *self_p = NULL;
}

void
outbox_open (outbox_table_t *self, const peer_id_t *id)
{
    outbox_t *outbox = peer_table_lookup (self->outboxes, id);
    if (outbox) {
        outbox->releasing = false;
        return;
    }
    outbox = zf_malloc (sizeof *outbox);
    outbox->id = *id;
    zf_link_init (&outbox->held_link);
    zf_batch_init (&outbox->batch);
    peer_table_insert (self->outboxes, outbox);
}

bool
outbox_is_open (const outbox_table_t *self, const peer_id_t *id)
{
    return peer_table_lookup (self->outboxes, id) != NULL;
}

static void
s_note_failed (outbox_table_t *self, const outbox_t *outbox)
{
    if (self->failed_count == self->failed_capacity) {
        self->failed_capacity = self->failed_capacity * 2 + 4;
        self->failed = zf_realloc (self->failed, self->failed_capacity
                                                     * sizeof *self->failed);
    }
    failure_t *failure = &self->failed [self->failed_count++];
    failure->id = outbox->id;
    failure->task_count = outbox->task_count;
    size_t size = outbox->task_count * sizeof *failure->tasks;
    failure->tasks = size ? zf_malloc (size) : NULL;
    if (size)
        memcpy (failure->tasks, outbox->tasks, size);
}

/* Sends the one message held as the plain message it is. */
static int
s_send_plain (outbox_table_t *self, outbox_t *outbox)
{
    const zf_buf_t *buf = &outbox->first_buf;
    const peer_id_t *id = &outbox->id;
    if (zmq_send (self->socket, id->data, id->size, ZMQ_SNDMORE | ZMQ_DONTWAIT)
        == -1)
        return -1;
    bool frame = outbox->first_has_frame;
    zmq_send (self->socket, buf->data, buf->size, frame ? ZMQ_SNDMORE : 0);
    if (frame && zmq_msg_send (&outbox->first_frame, self->socket, 0) == -1)
        zmq_msg_close (&outbox->first_frame);
    outbox->first_has_frame = false;
    return 0;
}

/* Sends the BATCH held. With mandatory routing only the routing id frame
 * can fail; the rest of the message always goes (no send limit). */
static int
s_send_batch (outbox_table_t *self, outbox_t *outbox)
{
    const peer_id_t *id = &outbox->id;
    if (zmq_send (self->socket, id->data, id->size, ZMQ_SNDMORE | ZMQ_DONTWAIT)
        == -1)
        return -1;
    uint32_t items = outbox->batch.count;
    if (zf_batch_send (&outbox->batch, self->socket) != 0)
        zf_error ("cannot send a batch: %s", zmq_strerror (zmq_errno ()));
    self->counters->batches_out++;
    self->counters->batch_items_out += items;
    return 0;
}

/* Sends what outbox holds and empties it; one released is then closed
 * (the caller must not touch it again). */
static int
s_flush (outbox_table_t *self, outbox_t *outbox)
{
    int rc = 0;
    if (outbox->count) {
        rc = outbox->count == 1 ? s_send_plain (self, outbox)
                                : s_send_batch (self, outbox);
        if (rc == 0)
            outbox->results = 0; /* sent: none is lost */
        else
            s_note_failed (self, outbox);
        s_drop (self, outbox);
    }
    if (outbox->releasing)
        s_destroy (self, outbox);
    return rc;
}

/* The held message becomes the batch's first item. */
static void
s_begin_batch (outbox_t *outbox)
{
    zmq_msg_t *frame = outbox->first_has_frame ? &outbox->first_frame : NULL;
    zf_batch_add_encoded (&outbox->batch, outbox->first_buf.data,
                          outbox->first_buf.size,
                          frame ? zmq_msg_data (frame) : NULL,
                          frame ? zmq_msg_size (frame) : 0);
    if (frame)
        zmq_msg_close (frame);
    outbox->first_has_frame = false;
}

/* Holds the first message as it is. */
static int
s_hold_first (outbox_t *outbox, const zf_header_t *header, zmq_msg_t *frame,
              bool copy)
{
    if (zf_header_encode (header, &outbox->first_buf) != 0)
        return -1;
    outbox->first_has_frame = frame != NULL;
    if (frame) {
        zmq_msg_init (&outbox->first_frame);
        if (copy)
            zmq_msg_copy (&outbox->first_frame, frame);
        else
            zmq_msg_move (&outbox->first_frame, frame);
    }
    return 0;
}

/* Adds a message to a batch of two or more. */
static int
s_hold_next (outbox_t *outbox, const zf_header_t *header, zmq_msg_t *frame,
             bool copy)
{
    if (outbox->count == 1)
        s_begin_batch (outbox);
    if (zf_batch_add (&outbox->batch, header,
                      frame ? zmq_msg_data (frame) : NULL,
                      frame ? zmq_msg_size (frame) : 0)
        != 0)
        return -1;
    if (frame && !copy) {
        /* Its bytes are in the batch: the caller's frame is sent away. */
        zmq_msg_close (frame);
        zmq_msg_init (frame);
    }
    return 0;
}

int
outbox_add (outbox_table_t *self, const peer_id_t *id,
            const zf_header_t *header, zmq_msg_t *frame, bool copy)
{
    outbox_t *outbox = peer_table_lookup (self->outboxes, id);
    assert (outbox);
    int rc = outbox->count == 0 ? s_hold_first (outbox, header, frame, copy)
                                : s_hold_next (outbox, header, frame, copy);
    if (rc != 0)
        return -1;
    if (outbox->count++ == 0)
        zf_list_push_back (&self->held, &outbox->held_link);
    if (header->command == ZF_RESULT)
        outbox->results++;
    if (header->command == ZF_TASK)
        outbox->tasks [outbox->task_count++] = header->task_id;
    if (outbox->count > 1 && zf_batch_full (&outbox->batch))
        s_flush (self, outbox); /* a failure is noted: see outbox.h */
    return 0;
}

int
outbox_flush (outbox_table_t *self, const peer_id_t *id)
{
    /* Every message the broker sends comes here first: nothing held, no
     * lookup. */
    if (zf_list_is_empty (&self->held))
        return 0;
    outbox_t *outbox = peer_table_lookup (self->outboxes, id);
    return outbox ? s_flush (self, outbox) : 0;
}

void
outbox_flush_all (outbox_table_t *self)
{
    zf_link_t *link;
    while ((link = zf_list_first (&self->held)))
        s_flush (self, zf_container_of (link, outbox_t, held_link));
}

bool
outbox_take_failed (outbox_table_t *self, peer_id_t *id, uint64_t *tasks,
                    uint32_t *task_count)
{
    if (!self->failed_count)
        return false;
    /* Oldest first: the order the sends failed in. */
    failure_t *failure = &self->failed [0];
    *id = failure->id;
    *task_count = failure->task_count;
    if (failure->task_count)
        memcpy (tasks, failure->tasks, failure->task_count * sizeof *tasks);
    free (failure->tasks);
    memmove (self->failed, self->failed + 1,
             --self->failed_count * sizeof *self->failed);
    return true;
}

void
outbox_release (outbox_table_t *self, const peer_id_t *id)
{
    outbox_t *outbox = peer_table_lookup (self->outboxes, id);
    if (!outbox)
        return;
    outbox->releasing = true;
    if (!outbox->count)
        s_destroy (self, outbox);
}

uint32_t
outbox_close (outbox_table_t *self, const peer_id_t *id, uint64_t *unsent)
{
    outbox_t *outbox = peer_table_lookup (self->outboxes, id);
    if (!outbox)
        return 0;
    uint32_t count = unsent ? outbox->task_count : 0;
    if (count)
        memcpy (unsent, outbox->tasks, count * sizeof *unsent);
    s_destroy (self, outbox);
    return count;
}
