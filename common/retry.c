/* retry.c: retry policies' text forms and the back-off schedule. */
#include "zf_retry.h"
#include "zf_defaults.h"
#include "zf_proto.h"
#include "zfarm_codes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int code;                   /* ZFARM_E* */
} s_codes [] = {
    { "TIMEOUT",       ZFARM_ETIMEOUT },
    { "WORKER_LOST",   ZFARM_EWORKER_LOST },
    { "HANDLER_ERROR", ZFARM_EHANDLER_ERROR },
};
#define CODE_COUNT (sizeof s_codes / sizeof s_codes [0])

int
zf_retry_codes_parse (const char *text, uint32_t *bits_p, char *error,
                      size_t error_size)
{
    if (strcasecmp (text, "none") == 0) {
        *bits_p = 0;
        return 0;
    }
    uint32_t bits = 0;
    const char *at = text;
    while (true) {
        size_t length = strcspn (at, ",");
        size_t i = 0;
        while (i < CODE_COUNT && !(strlen (s_codes [i].name) == length
                                   && strncasecmp (at, s_codes [i].name,
                                                   length) == 0))
            i++;
        if (i == CODE_COUNT) {
            snprintf (error, error_size, "expected TIMEOUT, WORKER_LOST or"
                      " HANDLER_ERROR, comma-separated, or none; got '%.*s'",
                      (int) (length < 64? length: 64), at);
            return -1;
        }
        bits |= ZF_RETRY_BIT (s_codes [i].code);
        if (at [length] == 0)
            break;
        at += length + 1;
    }
    *bits_p = bits;
    return 0;
}

void
zf_retry_codes_format (uint32_t bits, char *text, size_t size)
{
    size_t used = 0;
    text [0] = 0;
    for (size_t i = 0; i < CODE_COUNT; i++)
        if (bits & ZF_RETRY_BIT (s_codes [i].code)) {
            int n = snprintf (text + used, size - used, "%s%s",
                              used? ",": "", s_codes [i].name);
            if (n < 0 || (size_t) n >= size - used)
                break;
            used += (size_t) n;
        }
    if (!used)
        snprintf (text, size, "none");
}

/* A count of milliseconds up to ZF_BACKOFF_MAX_MS, ending at *end_p. */
static int
s_ms (const char *text, uint32_t *ms_p, const char **end_p)
{
    if (*text < '0' || *text > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long value = strtoul (text, &end, 10);
    if (errno || value > ZF_BACKOFF_MAX_MS)
        return -1;
    *ms_p = (uint32_t) value;
    *end_p = end;
    return 0;
}

int
zf_backoff_parse (const char *text, uint32_t *min_p, uint32_t *max_p,
                  char *error, size_t error_size)
{
    uint32_t min, max;
    const char *end;
    if (s_ms (text, &min, &end) == 0) {
        if (*end == 0)
            max = min;
        else
        if (strncmp (end, "..", 2) != 0 || s_ms (end + 2, &max, &end) != 0
        ||  *end != 0)
            goto bad;
        if (min <= max) {
            *min_p = min;
            *max_p = max;
            return 0;
        }
    }
bad:
    snprintf (error, error_size, "expected MIN..MAX in milliseconds, MIN <="
              " MAX <= %d, got '%.64s'", ZF_BACKOFF_MAX_MS, text);
    return -1;
}

uint32_t
zf_backoff_delay (uint32_t min, uint32_t max, uint32_t retry, double random01)
{
    if (max == 0)
        return 0;
    double step = min;
    for (uint32_t i = 1; i < retry && step < max; i++)
        step *= 2;
    if (step >= max)
        return (uint32_t) (0.75 * max + 0.25 * max * random01);
    double delay = step + 0.5 * step * random01;
    return (uint32_t) (delay < max? delay: max);
}
