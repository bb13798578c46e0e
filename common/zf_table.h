/* zf_table.h: czmq hash tables keyed by 64-bit ids (task ids, mostly). */
#ifndef ZF_TABLE_H
#define ZF_TABLE_H

#include <czmq.h>

/* A table keyed by pointers to uint64_t values that live inside the items,
 * so keys are neither copied nor freed. Never NULL (out of memory aborts). */
zhashx_t *
    zf_u64_table_new (void);

#endif
