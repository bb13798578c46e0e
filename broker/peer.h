/* peer.h: ROUTER identities, and the client records that tasks point to.
 *
 * A client record lives while the client has tasks in the broker; its
 * index of task ids lets a CANCEL or a resubmission find the task. */
#ifndef PEER_H
#define PEER_H

#include <czmq.h>
#include <stdint.h>

#define PEER_ID_MAX 255         /* ZeroMQ routing ids are 1..255 bytes */

typedef struct {
    uint8_t size;
    uint8_t data [PEER_ID_MAX];
} peer_id_t;

/* A hash table keyed by peer_id_t pointers (keys are not copied: each key
 * must live inside its item). Items are not destroyed by the table. */
zhashx_t *
    peer_table_new (void);

/* Copies a routing id; returns -1 if size is 0 or over PEER_ID_MAX. */
int
    peer_id_set (peer_id_t *id, const void *data, size_t size);

/* Writes the id as lower-case hex, NUL-terminated, into hex (2*size+1). */
void
    peer_id_hex (const peer_id_t *id, char *hex);

typedef struct task task_t;

typedef struct {
    peer_id_t id;               /* first: the table's key */
    zhashx_t *tasks;            /* client task id -> task_t */
} client_t;

/* Finds or creates the client with this id in clients. */
client_t *
    client_require (zhashx_t *clients, const peer_id_t *id);

/* The client's task with this id, or NULL. */
task_t *
    client_task_lookup (client_t *self, uint64_t task_id);

/* Indexes task under task_id (which must live in the task). */
void
    client_task_insert (client_t *self, const uint64_t *task_id, task_t *task);

/* Forgets task_id; destroys the client record when it has no task left. */
void
    client_task_remove (zhashx_t *clients, client_t *self, uint64_t task_id);

#endif
