/* primes.c: example handlers for zfarm-worker --module primes.so.
 *
 *   zfarm_handler  payload N (decimal text): replies with the number of
 *                  primes <= N, by a sieve of Eratosthenes (CPU-bound),
 *                  reporting its progress (the sieve's reach) when asked
 *   zfarm_steps    payload "STEPS MS": STEPS steps of MS ms each,
 *                  reporting progress 0..STEPS of STEPS ("step I of N")
 *                  before the first and after each; replies "STEPS steps"
 *   zfarm_sleep    payload MS (decimal text): sleeps that long, then
 *                  replies "slept MS" (for tests of long tasks); it never
 *                  looks whether its task was cancelled
 *   zfarm_nap      the same in steps of 10 ms, and returns early, failing,
 *                  when its task is cancelled (zfarm_task_cancelled) */
#include "zfarm.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PRIMES_MAX    100000000UL   /* bounds the sieve to 6.25 MB */
#define SLEEP_MAX_MS  3600000UL     /* one hour */

ZFARM_EXPORT zfarm_handler_fn zfarm_handler;
ZFARM_EXPORT zfarm_handler_fn zfarm_sleep;
ZFARM_EXPORT zfarm_handler_fn zfarm_nap;
ZFARM_EXPORT zfarm_handler_fn zfarm_steps;

#define NAP_STEP_MS   10            /* zfarm_nap looks this often */
#define STEPS_MAX     1000000UL
#define SIEVE_REPORT  0xFFFFUL      /* the sieve reports every 65536 odd
                                       numbers: the library sends at most
                                       ten a second of them anyway */

/* Parses the payload as a decimal number in [0, max], allowing blanks and
 * a newline around it (as `echo 100 | zfarm call` sends). */
static int
s_parse (zfarm_task_t *task, unsigned long max, unsigned long *value)
{
    size_t size;
    const char *data = zfarm_task_data (task, &size);
    const char *text = data, *end = data + size;
    while (text < end && isspace ((unsigned char) *text))
        text++;
    while (end > text && isspace ((unsigned char) end [-1]))
        end--;
    unsigned long number = 0;
    const char *at = text;
    for (; at < end && isdigit ((unsigned char) *at); at++) {
        number = number * 10 + (unsigned long) (*at - '0');
        if (number > max)
            break;
    }
    if (at == text || at != end || number > max)
        return zfarm_task_fail (task, "expected a whole number from 0 to "
                                "%lu, got '%.*s'", max,
                                (int) (size < 64? size: 64), data);
    *value = number;
    return 0;
}

/* Counts the primes <= n with a sieve over the odd numbers only: bit i
 * stands for 2i + 1. Reports how far it has read, of n, if task's caller
 * asked for progress. */
static unsigned long
s_count_primes (zfarm_task_t *task, unsigned long n, uint8_t *composite)
{
    if (n < 2)
        return 0;
    bool report = zfarm_task_wants_progress (task);
    unsigned long count = 1;                /* 2 */
    for (unsigned long i = 1; 2 * i + 1 <= n; i++) {
        if (report && (i & SIEVE_REPORT) == 0)
            zfarm_task_progress (task, 2 * i + 1, n, "sieving");
        if (composite [i / 8] & (1u << (i % 8)))
            continue;
        count++;
        unsigned long p = 2 * i + 1;
        for (unsigned long m = p * p; m <= n; m += 2 * p)
            composite [m / 16] |= (uint8_t) (1u << ((m / 2) % 8));
    }
    return count;
}

int
zfarm_handler (zfarm_task_t *task, void *arg)
{
    (void) arg;
    unsigned long n;
    if (s_parse (task, PRIMES_MAX, &n) != 0)
        return -1;
    uint8_t *composite = calloc (n / 16 + 1, 1);
    if (!composite)
        return zfarm_task_fail (task, "out of memory for a sieve to %lu", n);
    char text [32];
    int size = snprintf (text, sizeof text, "%lu",
                         s_count_primes (task, n, composite));
    free (composite);
    zfarm_task_progress (task, n, n, "done");
    return zfarm_task_reply (task, text, (size_t) size);
}

int
zfarm_sleep (zfarm_task_t *task, void *arg)
{
    (void) arg;
    unsigned long ms;
    if (s_parse (task, SLEEP_MAX_MS, &ms) != 0)
        return -1;
    struct timespec left = { .tv_sec = (time_t) (ms / 1000),
                             .tv_nsec = (long) (ms % 1000) * 1000000 };
    while (nanosleep (&left, &left) == -1 && errno == EINTR)
        ;
    char text [32];
    int size = snprintf (text, sizeof text, "slept %lu", ms);
    return zfarm_task_reply (task, text, (size_t) size);
}

int
zfarm_nap (zfarm_task_t *task, void *arg)
{
    (void) arg;
    unsigned long ms;
    if (s_parse (task, SLEEP_MAX_MS, &ms) != 0)
        return -1;
    /* One cheap check per step: nobody wants the result of a task that
     * was cancelled, and the slot is worth more free. */
    for (unsigned long slept = 0; slept < ms; slept += NAP_STEP_MS) {
        if (zfarm_task_cancelled (task))
            return zfarm_task_fail (task, "cancelled after %lu ms", slept);
        unsigned long step = ms - slept < NAP_STEP_MS? ms - slept: NAP_STEP_MS;
        struct timespec left = { .tv_sec = 0,
                                 .tv_nsec = (long) step * 1000000 };
        while (nanosleep (&left, &left) == -1 && errno == EINTR)
            ;
    }
    char text [32];
    int size = snprintf (text, sizeof text, "slept %lu", ms);
    return zfarm_task_reply (task, text, (size_t) size);
}

int
zfarm_steps (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const char *data = zfarm_task_data (task, &size);
    unsigned long steps, ms;
    char extra;
    if (sscanf (data, "%lu %lu %c", &steps, &ms, &extra) != 2
    ||  steps > STEPS_MAX || ms > SLEEP_MAX_MS)
        return zfarm_task_fail (task, "expected 'STEPS MS', STEPS up to %lu,"
                                " got '%.*s'", STEPS_MAX,
                                (int) (size < 64? size: 64), data);
    char note [64];
    for (unsigned long i = 0; ; i++) {
        snprintf (note, sizeof note, "step %lu of %lu", i, steps);
        zfarm_task_progress (task, i, steps, note);
        if (i == steps)
            break;
        if (zfarm_task_cancelled (task))
            return zfarm_task_fail (task, "cancelled at step %lu", i);
        struct timespec left = { .tv_sec = (time_t) (ms / 1000),
                                 .tv_nsec = (long) (ms % 1000) * 1000000 };
        while (nanosleep (&left, &left) == -1 && errno == EINTR)
            ;
    }
    char text [32];
    int length = snprintf (text, sizeof text, "%lu steps", steps);
    return zfarm_task_reply (task, text, (size_t) length);
}
