/* util.c: allocation, clock and parsing helpers shared by every part. */
#include "zf_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void
zf_die_nomem (void)
{
    fputs ("zfarm: out of memory\n", stderr);
    abort ();
}

void *
zf_malloc (size_t size)
{
    void *ptr = calloc (1, size? size: 1);
    if (!ptr)
        zf_die_nomem ();
    return ptr;
}

void *
zf_realloc (void *ptr, size_t size)
{
    ptr = realloc (ptr, size? size: 1);
    if (!ptr)
        zf_die_nomem ();
    return ptr;
}

char *
zf_strdup (const char *s)
{
    char *copy = strdup (s);
    if (!copy)
        zf_die_nomem ();
    return copy;
}

int64_t
zf_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
zf_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
zf_parse_long (const char *text, long min, long max, long *value)
{
    if (!text || !*text)
        return -1;
    char *end;
    errno = 0;
    long parsed = strtol (text, &end, 10);
    if (errno || *end || parsed < min || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

const char *
zf_hostname (void)
{
    static char name [256];
    if (gethostname (name, sizeof name - 1) != 0)
        strcpy (name, "localhost");
    name [sizeof name - 1] = 0;
    return name;
}
