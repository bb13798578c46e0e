/* deadline_heap.c: binary min-heap; invariant: a parent's deadline is never
 * later than its children's, and nodes [i]->index == i. */
#include "deadline_heap.h"
#include "zf_util.h"

#include <assert.h>

struct _deadline_heap_t {
    heap_node_t **nodes;        /* nodes [0] is the earliest */
    size_t size;                /* nodes in use */
    size_t capacity;            /* nodes allocated */
};

deadline_heap_t *
deadline_heap_new (void)
{
    deadline_heap_t *self = zf_malloc (sizeof *self);
    self->capacity = 64;
    self->nodes = zf_malloc (self->capacity * sizeof *self->nodes);
    return self;
}

void
deadline_heap_destroy (deadline_heap_t **self_p)
{
    if (!*self_p)
        return;
    free ((*self_p)->nodes);
    free (*self_p);
    *self_p = NULL;
}

void
heap_node_init (heap_node_t *node)
{
    node->deadline = 0;
    node->index = SIZE_MAX;
}

bool
heap_node_is_queued (const heap_node_t *node)
{
    return node->index != SIZE_MAX;
}

static void
s_place (deadline_heap_t *self, heap_node_t *node, size_t index)
{
    self->nodes [index] = node;
    node->index = index;
}

static void
s_sift_up (deadline_heap_t *self, size_t index)
{
    heap_node_t *node = self->nodes [index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (self->nodes [parent]->deadline <= node->deadline)
            break;
        s_place (self, self->nodes [parent], index);
        index = parent;
    }
    s_place (self, node, index);
}

static void
s_sift_down (deadline_heap_t *self, size_t index)
{
    heap_node_t *node = self->nodes [index];
    while (true) {
        size_t child = 2 * index + 1;
        if (child >= self->size)
            break;
        if (child + 1 < self->size
        &&  self->nodes [child + 1]->deadline < self->nodes [child]->deadline)
            child++;
        if (node->deadline <= self->nodes [child]->deadline)
            break;
        s_place (self, self->nodes [child], index);
        index = child;
    }
    s_place (self, node, index);
}

void
deadline_heap_insert (deadline_heap_t *self, heap_node_t *node)
{
    assert (!heap_node_is_queued (node));
    if (self->size == self->capacity) {
        self->capacity *= 2;
        self->nodes = zf_realloc (self->nodes,
                                  self->capacity * sizeof *self->nodes);
    }
    s_place (self, node, self->size++);
    s_sift_up (self, node->index);
}

void
deadline_heap_remove (deadline_heap_t *self, heap_node_t *node)
{
    if (!heap_node_is_queued (node))
        return;
    size_t index = node->index;
    heap_node_t *last = self->nodes [--self->size];
    node->index = SIZE_MAX;
    if (last == node)
        return;
    s_place (self, last, index);
    /* The moved node may belong above or below its new place. */
    s_sift_up (self, index);
    s_sift_down (self, last->index);
}

heap_node_t *
deadline_heap_first (deadline_heap_t *self)
{
    return self->size? self->nodes [0]: NULL;
}

size_t
deadline_heap_size (deadline_heap_t *self)
{
    return self->size;
}
