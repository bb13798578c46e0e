/* zf_retry.h: retry policies as people write them and as the broker
 * applies them: which failures are retried, and the back-off between
 * attempts. Shared by the broker's flags and the client's. */
#ifndef ZF_RETRY_H
#define ZF_RETRY_H

#include <stddef.h>
#include <stdint.h>

/* The codes a policy may retry, as ZF_RETRY_BIT bits: a task that timed
 * out under --max-call-time (TIMEOUT), whose worker died (WORKER_LOST) or
 * whose handler failed (HANDLER_ERROR). Others (CANCELLED, TOO_LARGE...)
 * would fail again the same way, or were asked for. */
#define ZF_RETRY_CODES_ALLOWED  ((1u << 1) | (1u << 2) | (1u << 8))

/* Parses "HANDLER_ERROR,TIMEOUT" (names of the allowed codes, any case,
 * comma-separated) or "none" into ZF_RETRY_BIT bits. Returns 0, or -1
 * with why in error. */
int
    zf_retry_codes_parse (const char *text, uint32_t *bits_p,
                          char *error, size_t error_size);

/* Writes bits as names ("WORKER_LOST,HANDLER_ERROR", or "none"). */
void
    zf_retry_codes_format (uint32_t bits, char *text, size_t size);

/* Parses "MIN..MAX" (milliseconds, 0 <= MIN <= MAX <= ZF_BACKOFF_MAX_MS;
 * "MS" alone is MS..MS). Returns 0, or -1 with why in error. */
int
    zf_backoff_parse (const char *text, uint32_t *min_p, uint32_t *max_p,
                      char *error, size_t error_size);

/* The wait before retry number retry (1 for the first), in ms: a step
 * that doubles from min each retry, capped at max, plus up to half of
 * it again at random (so that tasks failed together do not come back
 * together), never above max. Once the steps reach max the wait is
 * between 3/4 max and max. random01 is uniform in [0, 1). */
uint32_t
    zf_backoff_delay (uint32_t min, uint32_t max, uint32_t retry,
                      double random01);

#endif
