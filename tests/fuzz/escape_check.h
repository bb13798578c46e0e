/* escape_check.h: what zf_escape promises, checked for any input and any
 * size of output; shared by the fuzz target and the unit test.
 *
 * The output goes to a heap block of exactly dest_size bytes, so that
 * AddressSanitizer stops a write past it. Then: the text ends within the
 * block; it is valid UTF-8 without a control character; and unescaped it
 * gives back all of the input (true) or a prefix of it before the marker
 * (false). */
#ifndef ESCAPE_CHECK_H
#define ESCAPE_CHECK_H

#include "zf_escape.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ESCAPE_CHECK(expr) do {                                               \
    if (!(expr)) {                                                            \
        fprintf (stderr, "%s:%d: escape check failed: %s\n", __FILE__,        \
                 __LINE__, #expr);                                            \
        abort ();                                                             \
    }                                                                         \
} while (0)

static int
escape_check_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reverses the escapes of text (size bytes) into out (size bytes at least).
 * Returns the bytes written, or -1 if an escape is not one zf_escape
 * writes (or is cut). */
static long
escape_check_undo (const char *text, size_t size, char *out)
{
    size_t at = 0;
    for (size_t i = 0; i < size; i++) {
        if (text [i] != '\\') {
            out [at++] = text [i];
            continue;
        }
        if (++i == size)
            return -1;
        char kind = text [i];
        if (kind == 'n' || kind == 't' || kind == 'r' || kind == '\\')
            out [at++] = kind == 'n'? '\n': kind == 't'? '\t'
                       : kind == 'r'? '\r': '\\';
        else
        if (kind == 'x' && size - i > 2 && escape_check_hex (text [i + 1]) >= 0
        &&  escape_check_hex (text [i + 2]) >= 0) {
            out [at++] = (char) (escape_check_hex (text [i + 1]) * 16
                               + escape_check_hex (text [i + 2]));
            i += 2;
        }
        else
            return -1;
    }
    return (long) at;
}

static void
escape_check_text (const char *text, size_t length)
{
    for (size_t i = 0; i < length;) {
        const unsigned char *at = (const unsigned char *) text + i;
        size_t n = zf_utf8_char (at, length - i);
        ESCAPE_CHECK (n > 0);
        ESCAPE_CHECK (at [0] >= 0x20 && at [0] != 0x7f);
        ESCAPE_CHECK (!(at [0] == 0xc2 && at [1] < 0xa0));     /* C1 */
        i += n;
    }
}

/* Escapes src (size bytes) into dest_size (>= 1) bytes and checks the
 * result. Returns what zf_escape returned. */
static bool
escape_check (const char *src, size_t size, size_t dest_size)
{
    size_t marker = strlen (ZF_ESCAPE_MARKER);
    char *dest = malloc (dest_size);
    ESCAPE_CHECK (dest);
    bool whole = zf_escape (dest, dest_size, src, size);
    size_t length = strnlen (dest, dest_size);
    ESCAPE_CHECK (length < dest_size);
    escape_check_text (dest, length);
    if (!whole && dest_size - 1 < marker) {
        /* Too small for the marker: as much of it as fits. */
        ESCAPE_CHECK (length == dest_size - 1);
        ESCAPE_CHECK (memcmp (dest, ZF_ESCAPE_MARKER, length) == 0);
        free (dest);
        return whole;
    }
    if (!whole) {
        ESCAPE_CHECK (length >= marker);
        ESCAPE_CHECK (memcmp (dest + length - marker, ZF_ESCAPE_MARKER,
                              marker) == 0);
        length -= marker;
    }
    char *undone = malloc (length + 1);
    long undone_size = escape_check_undo (dest, length, undone);
    ESCAPE_CHECK (undone_size >= 0);
    if (whole)
        ESCAPE_CHECK ((size_t) undone_size == size);
    else
        ESCAPE_CHECK ((size_t) undone_size < size);
    ESCAPE_CHECK (memcmp (undone, src, (size_t) undone_size) == 0);
    free (undone);
    free (dest);
    return whole;
}

#endif
