/* table.c: hash tables keyed by 64-bit ids. */
#include "zf_table.h"
#include "zf_util.h"

/* The finaliser of MurmurHash3: sequential ids (a client's) and ids with
 * a generation in their high half (the broker's) both spread evenly. */
static size_t
s_hash (const void *key)
{
    uint64_t x = *(const uint64_t *) key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t) x;
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
