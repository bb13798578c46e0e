/* peer.h: ROUTER identities, the tables keyed by them, and the client
 * records that tasks point to.
 *
 * A client record lives while the client has tasks in the broker; its
 * index of task ids lets a CANCEL or a resubmission find the task. One
 * left with no task is destroyed at the end of the event (dispatch.c), not
 * by the call that removed its last task. */
#ifndef PEER_H
#define PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zf_list.h"
#include "zf_table.h"

#define PEER_ID_MAX 255         /* ZeroMQ routing ids are 1..255 bytes */

typedef struct {
    uint8_t size;
    uint8_t data [PEER_ID_MAX];
} peer_id_t;

/* Copies a routing id; returns -1 if size is 0 or over PEER_ID_MAX. */
int
    peer_id_set (peer_id_t *id, const void *data, size_t size);

/* Writes the id as lower-case hex, NUL-terminated, into hex (2*size+1). */
void
    peer_id_hex (const peer_id_t *id, char *hex);

/* A table of items by routing id: each item begins with its peer_id_t,
 * which is the key (not copied). Open addressing, so a lookup costs a hash
 * of the id and, usually, one comparison. The table never owns its items. */
typedef struct _peer_table_t peer_table_t;

peer_table_t *
    peer_table_new (void);

/* Destroys the table, not its items. */
void
    peer_table_destroy (peer_table_t **self_p);

/* The item with this id, or NULL. */
void *
    peer_table_lookup (const peer_table_t *self, const peer_id_t *id);

/* Adds item under the id it begins with, which must not be in the table. */
void
    peer_table_insert (peer_table_t *self, void *item);

/* Removes the item with this id, if there is one. */
void
    peer_table_delete (peer_table_t *self, const peer_id_t *id);

/* Removes and returns some item, or NULL if the table is empty. */
void *
    peer_table_pop (peer_table_t *self);

size_t
    peer_table_size (const peer_table_t *self);

typedef struct task task_t;

typedef struct {
    peer_id_t id;               /* first: the table's key */
    zf_index_t tasks;           /* task_t by client_task_id */
    zf_link_t unused_link;      /* in the broker's list of clients that
                                   had their last task removed */
    bool journal;               /* stands for the journal: owns the
                                   detached tasks, is in no table, and
                                   lives as long as the broker */
} client_t;

/* The client with this id in clients, created (and added) if new. */
client_t *
    client_require (peer_table_t *clients, const peer_id_t *id);

/* The record that owns detached tasks (detached.h): in no table. */
client_t *
    client_require_journal (void);

/* Frees a client record (its table entry is the caller's business). */
void
    client_destroy (client_t **self_p);

/* The client's task with this id, or NULL. */
task_t *
    client_task_lookup (client_t *self, uint64_t task_id);

/* Indexes task under its client_task_id, which it must not share with
 * another of the client's tasks. */
void
    client_task_insert (client_t *self, task_t *task);

/* Forgets task_id. */
void
    client_task_remove (client_t *self, uint64_t task_id);

/* Tasks the client has in the broker. */
size_t
    client_task_count (const client_t *self);

#endif
