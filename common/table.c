/* table.c: hash tables keyed by 64-bit ids.
 *
 * zf_index_t invariant: every item sits in the first free-or-its-own slot
 * of the probe sequence that starts at its key's hash, with no empty slot
 * between; deletion shifts later items back to keep that so (no
 * tombstones). The index is at most half full, so a probe that misses
 * usually meets an empty slot at once. */
#include "zf_table.h"
#include "zf_util.h"

#include <assert.h>

#define INDEX_MIN_CAPACITY 8

/* The finaliser of MurmurHash3: sequential ids (a client's) and ids with
 * a generation in their high half (the broker's) both spread evenly. */
static uint64_t
s_mix (uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static size_t
s_hash (const void *key)
{
    return (size_t) s_mix (*(const uint64_t *) key);
}

static int
s_compare (const void *key1, const void *key2)
{
    uint64_t a = *(const uint64_t *) key1, b = *(const uint64_t *) key2;
    return (a > b) - (a < b);
}

zhashx_t *
zf_u64_table_new (void)
{
    zhashx_t *table = zhashx_new ();
    if (!table)
        zf_die_nomem ();
    zhashx_set_key_hasher (table, s_hash);
    zhashx_set_key_comparator (table, s_compare);
    zhashx_set_key_duplicator (table, NULL);
    zhashx_set_key_destructor (table, NULL);
    return table;
}

/* ---- zf_index_t -------------------------------------------------------- */

void
zf_index_init (zf_index_t *self, size_t key_offset)
{
    *self = (zf_index_t) { .key_offset = key_offset };
}

void
zf_index_clear (zf_index_t *self)
{
    free (self->slots);
    zf_index_init (self, self->key_offset);
}

static uint64_t
s_key (const zf_index_t *self, const void *item)
{
    uint64_t key;
    memcpy (&key, (const char *) item + self->key_offset, sizeof key);
    return key;
}

/* Puts item in the first empty slot of its probe sequence. */
static void
s_place (zf_index_t *self, void *item)
{
    size_t at = (size_t) s_mix (s_key (self, item)) & self->mask;
    while (self->slots [at])
        at = (at + 1) & self->mask;
    self->slots [at] = item;
}

static void
s_resize (zf_index_t *self, size_t capacity)
{
    void **old = self->slots;
    size_t old_capacity = old? self->mask + 1: 0;
    self->slots = zf_malloc (capacity * sizeof *self->slots);
    self->mask = capacity - 1;
    for (size_t i = 0; i < old_capacity; i++)
        if (old [i])
            s_place (self, old [i]);
    free (old);
}

void *
zf_index_lookup (const zf_index_t *self, uint64_t key)
{
    if (!self->slots)
        return NULL;
    size_t at = (size_t) s_mix (key) & self->mask;
    void *item;
    while ((item = self->slots [at]) && s_key (self, item) != key)
        at = (at + 1) & self->mask;
    return item;
}

void
zf_index_insert (zf_index_t *self, void *item)
{
    assert (!zf_index_lookup (self, s_key (self, item)));
    size_t capacity = self->slots? self->mask + 1: 0;
    if (2 * (self->size + 1) > capacity)
        s_resize (self, capacity? 2 * capacity: INDEX_MIN_CAPACITY);
    s_place (self, item);
    self->size++;
}

void *
zf_index_delete (zf_index_t *self, uint64_t key)
{
    if (!self->slots)
        return NULL;
    size_t at = (size_t) s_mix (key) & self->mask;
    void *found;
    while ((found = self->slots [at]) && s_key (self, found) != key)
        at = (at + 1) & self->mask;
    if (!found)
        return NULL;
    /* Shift back each later item of the run that may sit in the hole: one
     * whose home slot is not cyclically within (hole, where it is]. */
    size_t hole = at;
    for (size_t next = (hole + 1) & self->mask; self->slots [next];
         next = (next + 1) & self->mask) {
        size_t home = (size_t) s_mix (s_key (self, self->slots [next]))
                    & self->mask;
        if (((next - home) & self->mask) >= ((next - hole) & self->mask)) {
            self->slots [hole] = self->slots [next];
            hole = next;
        }
    }
    self->slots [hole] = NULL;
    self->size--;
    size_t capacity = self->mask + 1;
    if (self->size == 0)
        zf_index_clear (self);  /* an idle owner keeps no memory */
    else
    if (capacity > INDEX_MIN_CAPACITY && 8 * self->size < capacity)
        s_resize (self, capacity / 2);
    return found;
}

void *
zf_index_next (const zf_index_t *self, size_t *cursor)
{
    size_t capacity = self->slots? self->mask + 1: 0;
    for (; *cursor < capacity; (*cursor)++)
        if (self->slots [*cursor])
            return self->slots [(*cursor)++];
    return NULL;
}
