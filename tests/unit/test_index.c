/* test_index.c: zf_index_t (common/zf_table.h), the index by 64-bit key:
 * lookups, inserts and deletes against a plain array, through growth,
 * shrinking and keys that share their home slot. */
#include "testlib.h"
#include "zf_table.h"

#include <stddef.h>

typedef struct {
    int payload;
    uint64_t key;               /* not first: the offset is honoured */
    int live;
} item_t;

#define ITEMS 5000

static uint64_t
s_random (uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state >> 17;
}

/* Every live item is found, every dead one is not, and the size agrees. */
static void
s_check (const zf_index_t *index, const item_t *items, size_t count)
{
    size_t live = 0;
    for (size_t i = 0; i < count; i++) {
        void *found = zf_index_lookup (index, items [i].key);
        ASSERT (found == (items [i].live? &items [i]: NULL));
        live += items [i].live;
    }
    ASSERT_EQ (zf_index_size (index), live);
}

static void
test_empty (void)
{
    zf_index_t index;
    zf_index_init (&index, offsetof (item_t, key));
    ASSERT (zf_index_lookup (&index, 1) == NULL);
    ASSERT (zf_index_delete (&index, 1) == NULL);
    ASSERT_EQ (zf_index_size (&index), 0);
    zf_index_clear (&index);
    zf_index_clear (&index);
}

/* Sequential keys (a client's task ids), random ones, and keys that
 * differ only in their high half (the broker's dispatch ids), mixed with
 * deletes, so that runs form and are shifted back. */
static void
test_against_array (void)
{
    static item_t items [ITEMS];
    uint64_t state = 42;
    for (size_t i = 0; i < ITEMS; i++) {
        uint64_t kind = i % 3;
        items [i].key = kind == 0? i + 1
                      : kind == 1? s_random (&state) << 20 | i
                      : ((uint64_t) i << 32) | 7;
        items [i].payload = (int) i;
    }
    zf_index_t index;
    zf_index_init (&index, offsetof (item_t, key));
    for (int round = 0; round < 200000; round++) {
        item_t *item = &items [s_random (&state) % ITEMS];
        if (item->live) {
            ASSERT (zf_index_delete (&index, item->key) == item);
            item->live = 0;
        }
        else {
            zf_index_insert (&index, item);
            item->live = 1;
        }
        if (round % 20000 == 0)
            s_check (&index, items, ITEMS);
    }
    s_check (&index, items, ITEMS);
    /* Everything out, in order: the index shrinks and ends empty. */
    for (size_t i = 0; i < ITEMS; i++)
        if (items [i].live) {
            ASSERT (zf_index_delete (&index, items [i].key) == &items [i]);
            items [i].live = 0;
            if (i % 500 == 0)
                s_check (&index, items, ITEMS);
        }
    ASSERT_EQ (zf_index_size (&index), 0);
    ASSERT (index.slots == NULL);
    /* Then all in, and a key next to each that is absent. */
    for (size_t i = 0; i < ITEMS; i++) {
        zf_index_insert (&index, &items [i]);
        items [i].live = 1;
    }
    s_check (&index, items, ITEMS);
    ASSERT (2 * zf_index_size (&index) <= index.mask + 1);
    ASSERT (zf_index_lookup (&index, ITEMS + 100) == NULL);
    zf_index_clear (&index);
    ASSERT_EQ (zf_index_size (&index), 0);
    ASSERT (zf_index_lookup (&index, items [0].key) == NULL);
}

int
main (void)
{
    test_empty ();
    test_against_array ();
    TEST_PASS ("test_index");
    return 0;
}
