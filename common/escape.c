/* escape.c: a peer's bytes made safe to show (see zf_escape.h).
 *
 * Invariant: the output never has more than dest_size bytes, the NUL
 * included, and is cut only between two escaped characters. */
#include "zf_escape.h"
#include "zf_util.h"

#include <assert.h>
#include <string.h>

#define MARKER_SIZE (sizeof ZF_ESCAPE_MARKER - 1)
#define UNIT_MAX    8           /* the longest escape: a C1 control's */

size_t
zf_utf8_char (const unsigned char *src, size_t size)
{
    /* Unicode's table of well-formed sequences (3-7): the second byte's
     * range depends on the first, which rules out overlong forms,
     * surrogates and code points past U+10FFFF. */
    unsigned char first = src [0], low = 0x80, high = 0xbf;
    size_t length;
    if (first < 0x80)
        return 1;
    if (first >= 0xc2 && first <= 0xdf)
        length = 2;
    else
    if (first >= 0xe0 && first <= 0xef) {
        length = 3;
        low = first == 0xe0? 0xa0: 0x80;
        high = first == 0xed? 0x9f: 0xbf;
    }
    else
    if (first >= 0xf0 && first <= 0xf4) {
        length = 4;
        low = first == 0xf0? 0x90: 0x80;
        high = first == 0xf4? 0x8f: 0xbf;
    }
    else
        return 0;
    if (size < length || src [1] < low || src [1] > high)
        return 0;
    for (size_t i = 2; i < length; i++)
        if ((src [i] & 0xc0) != 0x80)
            return 0;
    return length;
}

static size_t
s_hex (char *unit, unsigned char byte)
{
    static const char digits [] = "0123456789abcdef";
    unit [0] = '\\';
    unit [1] = 'x';
    unit [2] = digits [byte >> 4];
    unit [3] = digits [byte & 15];
    return 4;
}

/* Escapes the character at src (size >= 1 bytes) into unit (UNIT_MAX
 * bytes). Returns the bytes written; *used is the bytes of src taken. */
static size_t
s_escape_char (const unsigned char *src, size_t size, char *unit, size_t *used)
{
    unsigned char byte = src [0];
    *used = 1;
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
        unit [0] = (char) byte;
        return 1;
    }
    if (byte == '\\' || byte == '\n' || byte == '\t' || byte == '\r') {
        unit [0] = '\\';
        unit [1] = byte == '\n'? 'n': byte == '\t'? 't': byte == '\r'? 'r'
                                                                     : '\\';
        return 2;
    }
    size_t length = byte < 0x80? 0: zf_utf8_char (src, size);
    if (length == 0)
        return s_hex (unit, byte);      /* C0, DEL, or not UTF-8 */
    *used = length;
    if (byte == 0xc2 && src [1] < 0xa0) {   /* U+0080..U+009F: C1 */
        s_hex (unit, byte);
        return 4 + s_hex (unit + 4, src [1]);
    }
    memcpy (unit, src, length);
    return length;
}

bool
zf_escape (char *dest, size_t dest_size, const char *src, size_t size)
{
    assert (dest && dest_size > 0);
    assert (src || size == 0);
    const unsigned char *in = (const unsigned char *) src;
    size_t room = dest_size - 1;    /* for text; the NUL comes after */
    size_t at = 0, done = 0;
    size_t mark_at = 0;             /* the last cut that leaves room for
                                       the marker */
    while (done < size) {
        char unit [UNIT_MAX];
        size_t used, length = s_escape_char (in + done, size - done, unit,
                                             &used);
        if (length > room - at)
            break;
        memcpy (dest + at, unit, length);
        at += length;
        done += used;
        if (room - at >= MARKER_SIZE)
            mark_at = at;
    }
    if (done < size) {
        size_t marker = room - mark_at < MARKER_SIZE? room - mark_at
                                                    : MARKER_SIZE;
        memcpy (dest + mark_at, ZF_ESCAPE_MARKER, marker);
        at = mark_at + marker;
    }
    dest [at] = 0;
    return done == size;
}

char *
zf_escape_dup (const char *src, size_t size)
{
    /* Every byte of src becomes at most four (\xNN); a C1 control's two
     * become eight. */
    size_t dest_size = 4 * size + 1;
    char *dest = zf_malloc (dest_size);
    bool whole = zf_escape (dest, dest_size, src, size);
    assert (whole);
    (void) whole;
    return zf_realloc (dest, strlen (dest) + 1);
}
