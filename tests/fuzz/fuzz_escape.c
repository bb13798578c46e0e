/* fuzz_escape.c: libFuzzer target for zf_escape, which every log line and
 * every peer string the zfarm tool shows go through.
 *
 * Any bytes, into an output of any size: never a byte written past it
 * (the output is a heap block of exactly its size, under ASan), and
 * always one safe line that gives the input, or a prefix of it, back. */
#include "escape_check.h"

#include <stdint.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *src = (const char *) data;
    /* Every size around the marker's, a few in between, and the size
     * that always holds all of it. */
    static const size_t sizes [] = { 1, 2, 3, 5, 6, 7, 8, 9, 13, 64, 901 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes [0]; i++)
        escape_check (src, size, sizes [i]);
    for (size_t dest_size = 1; dest_size <= size + 9 && dest_size < 128;
         dest_size++)
        escape_check (src, size, dest_size);
    ESCAPE_CHECK (escape_check (src, size, 4 * size + 1));
    char *whole = zf_escape_dup (src, size);
    free (whole);
    return 0;
}
