/* util.c: allocation, clock and parsing helpers shared by every part. */
#include "zf_util.h"

#include <errno.h>
#include <stdbool.h>
#include <malloc.h>
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

/* Blocks under this come from the heap, which glibc may reuse; bigger
 * ones are mapped and unmapped each time. glibc's own dynamic threshold
 * stops at the same 32 MiB. */
#define KEEP_MMAP_THRESHOLD (32 << 20)
/* Free memory at the top of the heap kept for reuse, at most. */
#define KEEP_TRIM_THRESHOLD (128 << 20)

void
zf_malloc_keep_memory (void)
{
    const char *tunables = getenv ("GLIBC_TUNABLES");
    if (tunables && strstr (tunables, "glibc.malloc."))
        return;
    mallopt (M_MMAP_THRESHOLD, KEEP_MMAP_THRESHOLD);
    mallopt (M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD);
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
zf_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
zf_fnv1a (uint64_t hash, const void *data, size_t size)
{
    const uint8_t *bytes = data;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ bytes [i]) * 1099511628211u;
    return hash;
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
    if (gethostname (name, sizeof name - 1) != 0 || !*name)
        strcpy (name, "localhost");
    name [sizeof name - 1] = 0;
    /* A READY's host must be printable ASCII without space (PROTOCOL.md):
     * a name that is not, which root can set, must not keep this host's
     * workers from registering. */
    for (char *at = name; *at; at++)
        if (*at <= ' ' || *at > '~')
            *at = '?';
    return name;
}

long
zf_process_rss_kb (int pid)
{
    char path [64];
    if (pid)
        snprintf (path, sizeof path, "/proc/%d/statm", pid);
    else
        snprintf (path, sizeof path, "/proc/self/statm");
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    unsigned long size, resident;
    bool got = fscanf (file, "%lu %lu", &size, &resident) == 2;
    fclose (file);
    if (!got)
        return -1;
    return (long) (resident * (unsigned long) sysconf (_SC_PAGESIZE) / 1024);
}
