/* task_table.c: tasks in chunks that never move, with a free list.
 *
 * Chunks keep task addresses stable (lists and the heap point into them)
 * and let the table grow without copying; a freed slot is reused first, so
 * a steady load allocates nothing per task after warm-up. The free list
 * runs through the free tasks' own links, so it costs no memory. */
#include "task_table.h"
#include "zf_util.h"

#include <assert.h>
#include <string.h>

#define CHUNK_BITS 10
#define CHUNK_SIZE (1u << CHUNK_BITS)

struct _task_table_t {
    task_t **chunks;            /* chunks [i] holds slots i*CHUNK_SIZE.. */
    size_t chunk_count;
    zf_link_t free;             /* free tasks by their link; the head is
                                   reused first */
    size_t size;                /* tasks in use */
};

task_table_t *
task_table_new (void)
{
    task_table_t *self = zf_malloc (sizeof *self);
    zf_list_init (&self->free);
    return self;
}

static task_t *
s_slot (task_table_t *self, uint32_t slot)
{
    return &self->chunks [slot >> CHUNK_BITS][slot & (CHUNK_SIZE - 1)];
}

zmq_msg_t *
task_payload (task_t *task)
{
    return task->payload_count > 1? task->payload.many: &task->payload.one;
}

size_t
task_payload_size (task_t *task)
{
    zmq_msg_t *frames = task_payload (task);
    size_t size = 0;
    for (size_t i = 0; i < task->payload_count; i++)
        size += zmq_msg_size (&frames [i]);
    return size;
}

static void
s_close_payload (task_t *task)
{
    zmq_msg_t *frames = task_payload (task);
    for (size_t i = 0; i < task->payload_count; i++)
        zmq_msg_close (&frames [i]);
    if (task->payload_count > 1)
        free (frames);
    task->payload_count = 0;
}

static void
s_free_retry (task_t *task)
{
    if (task->retry) {
        free (task->retry->last_text);
        free (task->retry->history);
        free (task->retry);
        task->retry = NULL;
    }
}

task_retry_t *
task_require_retry (task_t *task)
{
    if (!task->retry)
        task->retry = zf_malloc (sizeof *task->retry);    /* zeroed */
    return task->retry;
}

void
task_table_destroy (task_table_t **self_p)
{
    task_table_t *self = *self_p;
    if (!self)
        return;
    for (size_t c = 0; c < self->chunk_count; c++) {
        for (size_t i = 0; i < CHUNK_SIZE; i++)
            if (self->chunks [c][i].state) {
                s_close_payload (&self->chunks [c][i]);
                s_free_retry (&self->chunks [c][i]);
            }
        free (self->chunks [c]);
    }
    free (self->chunks);
    free (self);
    *self_p = NULL;
}

static void
s_grow (task_table_t *self)
{
    if (self->chunk_count == (UINT32_MAX >> CHUNK_BITS))
        zf_die_nomem ();        /* four billion tasks: memory is gone first */
    size_t count = self->chunk_count + 1;
    self->chunks = zf_realloc (self->chunks, count * sizeof *self->chunks);
    task_t *chunk = zf_malloc (CHUNK_SIZE * sizeof *chunk);
    self->chunks [self->chunk_count] = chunk;
    /* In order, so the lowest slot is handed out first. */
    uint32_t base = (uint32_t) (self->chunk_count << CHUNK_BITS);
    for (uint32_t i = 0; i < CHUNK_SIZE; i++) {
        chunk [i].slot = base + i;
        zf_list_push_back (&self->free, &chunk [i].link);
    }
    self->chunk_count = count;
}

task_t *
task_table_alloc (task_table_t *self)
{
    if (zf_list_is_empty (&self->free))
        s_grow (self);
    task_t *task = zf_container_of (self->free.next, task_t, link);
    zf_list_remove (&task->link);
    uint32_t slot = task->slot, generation = task->generation;
    memset (task, 0, sizeof *task);
    task->slot = slot;
    task->generation = generation;
    zf_link_init (&task->link);
    zf_link_init (&task->prefetch_link);
    heap_node_init (&task->timer);
    self->size++;
    return task;
}

void
task_table_free (task_table_t *self, task_t *task)
{
    assert (task->state);
    assert (!zf_link_is_linked (&task->link));
    assert (!zf_link_is_linked (&task->prefetch_link));
    assert (!heap_node_is_queued (&task->timer));
    s_close_payload (task);
    s_free_retry (task);
    task->state = 0;
    task->generation++;
    zf_list_push_front (&self->free, &task->link);
    self->size--;
}

task_t *
task_table_lookup (task_table_t *self, uint64_t dispatch_id)
{
    uint64_t slot = (dispatch_id & 0xFFFFFFFFu);
    if (slot == 0 || slot > self->chunk_count * CHUNK_SIZE)
        return NULL;
    task_t *task = s_slot (self, (uint32_t) (slot - 1));
    if (task->state != TASK_RUNNING && task->state != TASK_ABANDONED)
        return NULL;
    return task->generation == (uint32_t) (dispatch_id >> 32)? task: NULL;
}

size_t
task_table_size (task_table_t *self)
{
    return self->size;
}

void
task_begin_attempt (task_t *task)
{
    task->generation++;
    task->attempts++;
}

uint64_t
task_dispatch_id (const task_t *task)
{
    return ((uint64_t) task->generation << 32) | (task->slot + 1u);
}

void
task_take_payload (task_t *task, zmq_msg_t *frames, size_t count)
{
    assert (task->payload_count == 0);
    assert (count <= UINT8_MAX);
    if (count > 1)
        task->payload.many = zf_malloc (count * sizeof (zmq_msg_t));
    task->payload_count = (uint8_t) count;
    zmq_msg_t *payload = task_payload (task);
    for (size_t i = 0; i < count; i++) {
        zmq_msg_init (&payload [i]);
        zmq_msg_move (&payload [i], &frames [i]);
    }
}

int64_t
task_dispatched_ms (const task_t *task)
{
    return task->dispatched_us / 1000;
}
