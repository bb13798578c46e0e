/* cli_util.h: the zfarm tool's own small helpers: memory that never comes
 * back NULL, and whole numbers from the command line. */
#ifndef CLI_UTIL_H
#define CLI_UTIL_H

#include <stddef.h>

/* Prints "zfarm: out of memory" and aborts. */
void
cli_die_nomem (void) __attribute__ ((noreturn));

/* malloc (zeroed), realloc and strdup that abort rather than return NULL:
 * the tool has nothing better to do without memory. */
void *
cli_malloc (size_t size);
void *
cli_realloc (void *ptr, size_t size);
char *
cli_strdup (const char *text);

/* Parses text, all of it, as a decimal number in min..max into *value.
 * Returns 0, or -1 (and leaves *value) for anything else: empty, a
 * trailing character, out of range. */
int
cli_parse_long (const char *text, long min, long max, long *value);

#endif
