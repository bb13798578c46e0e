/* zf_table.h: tables keyed by 64-bit ids (task ids, mostly): czmq hash
 * tables, and an index that allocates nothing per item. */
#ifndef ZF_TABLE_H
#define ZF_TABLE_H

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

/* A table keyed by pointers to uint64_t values that live inside the items,
 * so keys are neither copied nor freed. Never NULL (out of memory aborts). */
zhashx_t *
    zf_u64_table_new (void);

/* An index of items by a uint64_t key that each item holds, key_offset
 * bytes into it (offsetof). Open addressing with linear probing over an
 * array of item pointers: nothing is allocated per item, and an index is
 * embedded by value in its owner. The index never owns its items. */
typedef struct {
    void **slots;               /* items or NULL; capacity a power of two */
    size_t mask;                /* capacity - 1; 0 before the first insert */
    size_t size;                /* items indexed */
    size_t key_offset;          /* where an item keeps its key */
} zf_index_t;

/* Prepares an empty index (it allocates on its first insert). */
void
    zf_index_init (zf_index_t *self, size_t key_offset);

/* Frees the index's memory (not the items); it is empty and usable again. */
void
    zf_index_clear (zf_index_t *self);

/* The item with this key, or NULL. */
void *
    zf_index_lookup (const zf_index_t *self, uint64_t key);

/* Indexes item under the key it holds, which must not be indexed yet. */
void
    zf_index_insert (zf_index_t *self, void *item);

/* Forgets the item with this key; returns it, or NULL if there was none. */
void *
    zf_index_delete (zf_index_t *self, uint64_t key);

/* The next item at or after *cursor (start at 0), or NULL at the end; the
 * index must not change during a walk. */
void *
    zf_index_next (const zf_index_t *self, size_t *cursor);

/* Items indexed. */
static inline size_t
zf_index_size (const zf_index_t *self)
{
    return self->size;
}

#endif
