/* cli_util.c: the zfarm tool's allocation and number helpers. */
#include "cli_util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cli_die_nomem (void)
{
    fputs ("zfarm: out of memory\n", stderr);
    abort ();
}

/* A zero size still gets a block of its own, so NULL always means no
 * memory. */
void *
cli_malloc (size_t size)
{
    void *block = calloc (1, size > 0 ? size : 1);
    if (block == NULL)
        cli_die_nomem ();
    return block;
}

void *
cli_realloc (void *ptr, size_t size)
{
    void *block = realloc (ptr, size > 0 ? size : 1);
    if (block == NULL)
        cli_die_nomem ();
    return block;
}

char *
cli_strdup (const char *text)
{
    size_t size = strlen (text) + 1;
    return memcpy (cli_malloc (size), text, size);
}

int
cli_parse_long (const char *text, long min, long max, long *value)
{
    if (text == NULL || text [0] == 0)
        return -1;
    char *rest = NULL;
    errno = 0;
    long number = strtol (text, &rest, 10);
    bool whole = errno == 0 && *rest == 0;
    if (!whole || number < min || number > max)
        return -1;
    *value = number;
    return 0;
}
