/* histogram.h: a log-linear latency histogram, in the manner of HdrHistogram.
 *
 * Values (nanoseconds) below 256 are counted exactly; above that, each power
 * of two is split into 128 equal buckets, so a reported value is never more
 * than 1/128 (0.8 %) above the value recorded. Recording is O(1) and
 * allocates nothing. */
#ifndef HISTOGRAM_H
#define HISTOGRAM_H

#include <stdint.h>

typedef struct _histogram_t histogram_t;

/* Returns an empty histogram (aborts if out of memory). */
histogram_t *
    histogram_new (void);

void
    histogram_destroy (histogram_t **self_p);

/* Counts one value. Values past the top bucket (about 73 minutes) are
 * counted in the top bucket. */
void
    histogram_record (histogram_t *self, uint64_t value);

/* Values recorded. */
uint64_t
    histogram_count (const histogram_t *self);

/* The smallest bucket bound at or below which percentile % (0..100) of the
 * values lie: the highest value equivalent to the one at that rank. 0 if
 * nothing was recorded. */
uint64_t
    histogram_percentile (const histogram_t *self, double percentile);

/* The largest value recorded (exact), or 0. */
uint64_t
    histogram_max (const histogram_t *self);

#endif
