/* cli_when.c: --priority, --delay and --at for `zfarm call` and `map`.
 *
 * The broker takes a delay, not a time, so that its clock and ours need
 * not agree; --at is turned into one at each submit. */
#include "cli_when.h"
#include "cli.h"
#include "cli_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

void
cli_when_init (cli_when_t *self)
{
    memset (self, 0, sizeof *self);
    self->priority = -1;
}

static int64_t
s_wall_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Digits only, at most count of them, into *value. */
static const char *
s_digits (const char *at, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++, at++) {
        if (*at < '0' || *at > '9')
            return NULL;
        *value = *value * 10 + (*at - '0');
    }
    return at;
}

/* RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SS[.fff...](Z|+00:00). */
static int
s_parse_rfc3339 (const char *text, int64_t *ms_p)
{
    int year, month, day, hour, minute, second, ms = 0;
    const char *at = text;
    if (!(at = s_digits (at, 4, &year)) || *at++ != '-'
    ||  !(at = s_digits (at, 2, &month)) || *at++ != '-'
    ||  !(at = s_digits (at, 2, &day)) || (*at != 'T' && *at != 't')
    ||  !(at = s_digits (at + 1, 2, &hour)) || *at++ != ':'
    ||  !(at = s_digits (at, 2, &minute)) || *at++ != ':'
    ||  !(at = s_digits (at, 2, &second)))
        return -1;
    if (*at == '.') {
        int scale = 100, digit;
        for (at++; *at >= '0' && *at <= '9'; at++, scale /= 10)
            if (s_digits (at, 1, &digit))
                ms += digit * scale;
    }
    if (strcmp (at, "Z") != 0 && strcmp (at, "z") != 0
    &&  strcmp (at, "+00:00") != 0)
        return -1;              /* other offsets: say it in UTC */
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23
    ||  minute > 59 || second > 60)
        return -1;
    struct tm tm = { .tm_year = year - 1900, .tm_mon = month - 1,
                     .tm_mday = day, .tm_hour = hour, .tm_min = minute,
                     .tm_sec = second };
    time_t seconds = timegm (&tm);
    if (tm.tm_mday != day && second != 60)
        return -1;              /* February 30th, and the like */
    *ms_p = (int64_t) seconds * 1000 + ms;
    return 0;
}

int
cli_when_parse_time (const char *text, int64_t *ms_p)
{
    long seconds;
    if (cli_parse_long (text, 0, 1L << 40, &seconds) == 0) {
        *ms_p = (int64_t) seconds * 1000;
        return 0;
    }
    return s_parse_rfc3339 (text, ms_p);
}

int
cli_when_parse (cli_when_t *self, const char *command, int code,
                const char *arg)
{
    long value;
    if (code == CLI_WHEN_PRIORITY) {
        if (cli_parse_long (arg, 0, ZFARM_PRIORITY_MAX, &value) != 0)
            return cli_usage_error (command, "bad --priority '%s' (0..%d)",
                                    arg, ZFARM_PRIORITY_MAX);
        self->priority = (int) value;
        return -1;
    }
    if (code == CLI_WHEN_DELAY) {
        if (self->has_at)
            return cli_usage_error (command, "--delay and --at together");
        if (cli_parse_long (arg, 0, UINT32_MAX, &value) != 0)
            return cli_usage_error (command, "bad --delay '%s' (0..%u ms)",
                                    arg, UINT32_MAX);
        self->delay_ms = value;
        return -1;
    }
    if (self->delay_ms)
        return cli_usage_error (command, "--delay and --at together");
    if (cli_when_parse_time (arg, &self->at_ms) != 0)
        return cli_usage_error (command, "bad --at '%s' (unix seconds, or"
                                " RFC 3339 UTC: 2030-01-02T15:04:05Z)", arg);
    if (self->at_ms - s_wall_ms () > (int64_t) UINT32_MAX)
        return cli_usage_error (command, "--at '%s' is more than 49 days"
                                " ahead", arg);
    self->has_at = true;
    return -1;
}

void
cli_when_apply (const cli_when_t *self, zfarm_client_t *client)
{
    if (self->priority >= 0)
        zfarm_client_set_priority (client, self->priority);
    long long delay = self->delay_ms;
    if (self->has_at) {
        int64_t left = self->at_ms - s_wall_ms ();
        delay = left > 0? left: 0;
    }
    zfarm_client_set_delay (client, delay);
}
