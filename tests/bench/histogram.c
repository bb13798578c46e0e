/* histogram.c: log-linear buckets; index arithmetic only, no search. */
#include "histogram.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define SUB_BITS    8                       /* 128 buckets per power of 2 */
#define SUB_COUNT   (1u << SUB_BITS)        /* values counted exactly */
#define HALF_COUNT  (SUB_COUNT / 2)
#define TOP_BIT     41                      /* values < 2^42 ns: 73 minutes */
#define BUCKETS     ((TOP_BIT - SUB_BITS + 3) * HALF_COUNT)

struct _histogram_t {
    uint64_t counts [BUCKETS];  /* values per bucket */
    uint64_t total;             /* values recorded */
    uint64_t max;               /* largest value recorded */
};

histogram_t *
histogram_new (void)
{
    histogram_t *self = calloc (1, sizeof *self);
    if (!self) {
        fprintf (stderr, "histogram: out of memory\n");
        abort ();
    }
    return self;
}

void
histogram_destroy (histogram_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

/* Below SUB_COUNT the index is the value. Above it, `shift` drops the bits
 * below the top SUB_BITS - 1, leaving `sub` in [HALF_COUNT, SUB_COUNT);
 * each shift step adds HALF_COUNT buckets, so indices stay contiguous. */
static unsigned
s_index (uint64_t value)
{
    if (value < SUB_COUNT)
        return (unsigned) value;
    unsigned msb = 63u - (unsigned) __builtin_clzll (value);
    unsigned shift = msb - (SUB_BITS - 1);
    unsigned sub = (unsigned) (value >> shift);
    unsigned index = shift * HALF_COUNT + sub;
    return index < BUCKETS? index: BUCKETS - 1;
}

/* The highest value that falls into bucket index. */
static uint64_t
s_upper_bound (unsigned index)
{
    if (index < SUB_COUNT)
        return index;
    unsigned shift = index / HALF_COUNT - 1;
    uint64_t sub = index % HALF_COUNT + HALF_COUNT;
    return ((sub + 1) << shift) - 1;
}

void
histogram_record (histogram_t *self, uint64_t value)
{
    assert (self);
    self->counts [s_index (value)]++;
    self->total++;
    if (value > self->max)
        self->max = value;
}

uint64_t
histogram_count (const histogram_t *self)
{
    assert (self);
    return self->total;
}

uint64_t
histogram_percentile (const histogram_t *self, double percentile)
{
    assert (self);
    assert (percentile >= 0 && percentile <= 100);
    if (self->total == 0)
        return 0;
    uint64_t rank = (uint64_t) ceil (percentile / 100 * (double) self->total);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned index = 0; index < BUCKETS; index++) {
        seen += self->counts [index];
        if (seen >= rank) {
            uint64_t bound = s_upper_bound (index);
            return bound < self->max? bound: self->max;
        }
    }
    return self->max;
}

uint64_t
histogram_max (const histogram_t *self)
{
    assert (self);
    return self->max;
}
