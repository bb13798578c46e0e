/* peer.c: routing ids as hash keys, and client records. */
#include "peer.h"
#include "zf_table.h"
#include "zf_util.h"

static size_t
s_peer_hash (const void *key)
{
    /* FNV-1a: routing ids are short and often sequential. */
    const peer_id_t *id = key;
    size_t hash = 2166136261u;
    for (size_t i = 0; i < id->size; i++)
        hash = (hash ^ id->data [i]) * 16777619u;
    return hash;
}

static int
s_peer_compare (const void *a, const void *b)
{
    const peer_id_t *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size? -1: 1;
    return memcmp (x->data, y->data, x->size);
}

zhashx_t *
peer_table_new (void)
{
    zhashx_t *table = zhashx_new ();
    if (!table)
        zf_die_nomem ();
    zhashx_set_key_hasher (table, s_peer_hash);
    zhashx_set_key_comparator (table, s_peer_compare);
    zhashx_set_key_duplicator (table, NULL);
    zhashx_set_key_destructor (table, NULL);
    return table;
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

client_t *
client_require (zhashx_t *clients, const peer_id_t *id)
{
    client_t *self = zhashx_lookup (clients, id);
    if (self)
        return self;
    self = zf_malloc (sizeof *self);
    self->id = *id;
    self->tasks = zf_u64_table_new ();
    zhashx_insert (clients, &self->id, self);
    return self;
}

task_t *
client_task_lookup (client_t *self, uint64_t task_id)
{
    return zhashx_lookup (self->tasks, &task_id);
}

void
client_task_insert (client_t *self, const uint64_t *task_id, task_t *task)
{
    zhashx_insert (self->tasks, task_id, task);
}

void
client_task_remove (zhashx_t *clients, client_t *self, uint64_t task_id)
{
    zhashx_delete (self->tasks, &task_id);
    if (zhashx_size (self->tasks) == 0) {
        zhashx_delete (clients, &self->id);
        zhashx_destroy (&self->tasks);
        free (self);
    }
}
