/* peer.c: routing ids as keys, the tables keyed by them, client records.
 *
 * peer_table_t is open addressing with linear probing, at most half full;
 * each slot keeps its item's hash beside the pointer, so a probe compares
 * ids only when the hashes agree, and a resize never hashes again. */
#include "peer.h"
#include "task_table.h"
#include "zf_util.h"

#include <assert.h>
#include <string.h>

#define PEER_TABLE_MIN 16       /* slots of a new table */

typedef struct {
    void *item;                 /* NULL: empty */
    uint64_t hash;
} slot_t;

struct _peer_table_t {
    slot_t *slots;              /* a power of two of them */
    size_t mask;                /* slot count - 1 */
    size_t size;                /* items */
};

/* Eight bytes at a time, each folded in with a multiply: routing ids are
 * 16 random bytes (zfarm's peers) or 5 bytes counting up (libzmq's own).
 * The finaliser of MurmurHash3 then spreads every bit to the low ones that
 * pick the slot. */
static uint64_t
s_hash (const peer_id_t *id)
{
    uint64_t hash = id->size * 0x9E3779B97F4A7C15ULL;
    size_t at = 0;
    for (; at + 8 <= id->size; at += 8) {
        uint64_t word;
        memcpy (&word, id->data + at, sizeof word);
        hash = (hash ^ word) * 0xff51afd7ed558ccdULL;
        hash ^= hash >> 32;
    }
    uint64_t tail = 0;
    memcpy (&tail, id->data + at, id->size - at);
    hash = (hash ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    return hash ^ (hash >> 33);
}

static bool
s_same (const peer_id_t *a, const peer_id_t *b)
{
    return a->size == b->size && memcmp (a->data, b->data, a->size) == 0;
}

peer_table_t *
peer_table_new (void)
{
    peer_table_t *self = zf_malloc (sizeof *self);
    self->slots = zf_malloc (PEER_TABLE_MIN * sizeof *self->slots);
    self->mask = PEER_TABLE_MIN - 1;
    return self;
}

void
peer_table_destroy (peer_table_t **self_p)
{
    peer_table_t *self = *self_p;
    if (!self)
        return;
    free (self->slots);
    free (self);
    *self_p = NULL;
}

/* The slot that holds id, or the empty slot where it would go. */
static size_t
s_find (const peer_table_t *self, const peer_id_t *id, uint64_t hash)
{
    size_t at = (size_t) hash & self->mask;
    for (;; at = (at + 1) & self->mask) {
        const slot_t *slot = &self->slots [at];
        if (!slot->item
        || (slot->hash == hash && s_same (slot->item, id)))
            return at;
    }
}

void *
peer_table_lookup (const peer_table_t *self, const peer_id_t *id)
{
    return self->slots [s_find (self, id, s_hash (id))].item;
}

static void
s_grow (peer_table_t *self)
{
    slot_t *old = self->slots;
    size_t old_count = self->mask + 1;
    self->slots = zf_malloc (2 * old_count * sizeof *self->slots);
    self->mask = 2 * old_count - 1;
    for (size_t i = 0; i < old_count; i++) {
        if (!old [i].item)
            continue;
        size_t at = (size_t) old [i].hash & self->mask;
        while (self->slots [at].item)
            at = (at + 1) & self->mask;
        self->slots [at] = old [i];
    }
    free (old);
}

void
peer_table_insert (peer_table_t *self, void *item)
{
    if (2 * (self->size + 1) > self->mask + 1)
        s_grow (self);
    const peer_id_t *id = item;
    uint64_t hash = s_hash (id);
    size_t at = s_find (self, id, hash);
    assert (!self->slots [at].item);
    self->slots [at] = (slot_t) { .item = item, .hash = hash };
    self->size++;
}

void
peer_table_delete (peer_table_t *self, const peer_id_t *id)
{
    size_t hole = s_find (self, id, s_hash (id));
    if (!self->slots [hole].item)
        return;
    /* Shift back each later item of the run whose home slot is not
     * cyclically within (hole, where it is]: no tombstones. */
    for (size_t next = (hole + 1) & self->mask; self->slots [next].item;
         next = (next + 1) & self->mask) {
        size_t home = (size_t) self->slots [next].hash & self->mask;
        if (((next - home) & self->mask) >= ((next - hole) & self->mask)) {
            self->slots [hole] = self->slots [next];
            hole = next;
        }
    }
    self->slots [hole] = (slot_t) { .item = NULL };
    self->size--;
}

void *
peer_table_pop (peer_table_t *self)
{
    for (size_t i = 0; i <= self->mask && self->size; i++)
        if (self->slots [i].item) {
            void *item = self->slots [i].item;
            peer_table_delete (self, item);
            return item;
        }
    return NULL;
}

size_t
peer_table_size (const peer_table_t *self)
{
    return self->size;
}

int
peer_id_set (peer_id_t *id, const void *data, size_t size)
{
    if (size == 0 || size > PEER_ID_MAX)
        return -1;
    id->size = (uint8_t) size;
    memcpy (id->data, data, size);
    return 0;
}

void
peer_id_hex (const peer_id_t *id, char *hex)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < id->size; i++) {
        hex [2 * i] = digits [id->data [i] >> 4];
        hex [2 * i + 1] = digits [id->data [i] & 15];
    }
    hex [2 * id->size] = 0;
}

/* ---- client records ------------------------------------------------------ */

client_t *
client_require (peer_table_t *clients, const peer_id_t *id)
{
    client_t *self = peer_table_lookup (clients, id);
    if (self)
        return self;
    self = zf_malloc (sizeof *self);
    self->id = *id;
    zf_index_init (&self->tasks, offsetof (task_t, client_task_id));
    zf_link_init (&self->unused_link);
    peer_table_insert (clients, self);
    return self;
}

client_t *
client_require_journal (void)
{
    client_t *self = zf_malloc (sizeof *self);
    zf_index_init (&self->tasks, offsetof (task_t, client_task_id));
    zf_link_init (&self->unused_link);
    self->journal = true;
    return self;
}

void
client_destroy (client_t **self_p)
{
    client_t *self = *self_p;
    if (!self)
        return;
    zf_index_clear (&self->tasks);
    free (self);
    *self_p = NULL;
}

task_t *
client_task_lookup (client_t *self, uint64_t task_id)
{
    return zf_index_lookup (&self->tasks, task_id);
}

void
client_task_insert (client_t *self, task_t *task)
{
    zf_index_insert (&self->tasks, task);
}

void
client_task_remove (client_t *self, uint64_t task_id)
{
    zf_index_delete (&self->tasks, task_id);
}

size_t
client_task_count (const client_t *self)
{
    return zf_index_size (&self->tasks);
}
