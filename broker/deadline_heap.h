/* deadline_heap.h: a binary min-heap of intrusive nodes keyed by a time.
 *
 * The broker's next timer is always the top node: O(1) to peek, O(log n) to
 * insert or remove any node (each node knows its own index). */
#ifndef DEADLINE_HEAP_H
#define DEADLINE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t deadline;           /* ms on the monotonic clock */
    size_t index;               /* position in the heap; SIZE_MAX if none */
} heap_node_t;

typedef struct _deadline_heap_t deadline_heap_t;

deadline_heap_t *
    deadline_heap_new (void);
void
    deadline_heap_destroy (deadline_heap_t **self_p);

/* Prepares a node that is in no heap. */
void
    heap_node_init (heap_node_t *node);
bool
    heap_node_is_queued (const heap_node_t *node);

/* Inserts node (not yet in the heap) with its deadline already set. */
void
    deadline_heap_insert (deadline_heap_t *self, heap_node_t *node);

/* Removes node; does nothing if it is in no heap. */
void
    deadline_heap_remove (deadline_heap_t *self, heap_node_t *node);

/* The earliest node, or NULL if the heap is empty. */
heap_node_t *
    deadline_heap_first (deadline_heap_t *self);

size_t
    deadline_heap_size (deadline_heap_t *self);

#endif
