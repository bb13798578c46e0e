/* zf_util.h: allocation that never returns NULL, clocks, number parsing. */
#ifndef ZF_UTIL_H
#define ZF_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Out of memory is fatal, as in czmq and Redis: these abort with a message. */
void *
    zf_malloc (size_t size);        /* zeroed */
void *
    zf_realloc (void *ptr, size_t size);
char *
    zf_strdup (const char *s);
void
    zf_die_nomem (void);

/* For a process that zfarm runs (broker, worker host): keeps freed memory
 * for the next task instead of handing it back to the kernel after every
 * large payload (glibc trims anything over twice the last large block, so
 * each 1 MB task would fault its pages in again). Leaves glibc's settings
 * alone if GLIBC_TUNABLES sets malloc tunables. Never call it from the
 * library: a program's allocator is its own business. */
void
    zf_malloc_keep_memory (void);

/* Mixes bytes into a 64-bit FNV-1a hash; start from ZF_FNV_OFFSET. For
 * digests that must agree between processes, which a seeded hash would
 * not. */
#define ZF_FNV_OFFSET 14695981039346656037u
uint64_t
    zf_fnv1a (uint64_t hash, const void *data, size_t size);

/* Milliseconds, and microseconds, on a monotonic clock. */
int64_t
    zf_now_ms (void);
int64_t
    zf_now_us (void);

/* Milliseconds since the epoch (the wall clock): for what outlives the
 * process, as the journal's records do. */
int64_t
    zf_wall_ms (void);

/* Resident memory of process pid (0: this one) in kB, from
 * /proc/PID/statm; -1 if it cannot be read (no such process). */
long
    zf_process_rss_kb (int pid);

/* Parses all of text as a base-10 integer in [min, max]. Returns 0, or -1
 * (value untouched) if text is empty, has trailing bytes or is out of range. */
int
    zf_parse_long (const char *text, long min, long max, long *value);

/* Host name of this machine, never NULL (a static buffer), with any byte
 * that is not printable ASCII, or is a space, replaced by '?'. */
const char *
    zf_hostname (void);

#endif
