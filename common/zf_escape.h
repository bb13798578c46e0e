/* zf_escape.h: a peer's bytes made safe to show on one line of a log or a
 * terminal.
 *
 * Host names, versions, error texts and reasons come from peers: shown as
 * they are, a newline would forge a log line and an escape sequence would
 * drive the operator's terminal. The escaped form keeps valid UTF-8 as it
 * is and writes everything else visibly:
 *
 *     newline, tab, carriage return    \n  \t  \r
 *     backslash                        \\   (so that the form is unambiguous)
 *     other C0 controls, DEL           \xNN (ESC is \x1b)
 *     C1 controls (U+0080..U+009F)     \xc2\xNN, the bytes of their UTF-8
 *     bytes that are not valid UTF-8   \xNN, each byte
 *
 * Any bytes go in; the output is valid UTF-8 without control characters. */
#ifndef ZF_ESCAPE_H
#define ZF_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include "zfarm_limits.h"

/* What ends a text that did not fit. */
#define ZF_ESCAPE_MARKER ZFARM_ESCAPE_MARKER

/* Writes size bytes of src, escaped, into dest (dest_size >= 1 bytes) and
 * NUL-terminates it. Never writes past dest_size. If the escaped text does
 * not fit, dest holds as much of it as fits before ZF_ESCAPE_MARKER, cut
 * between two characters, never inside an escape or a UTF-8 sequence (in a
 * dest too small for the marker, as much of the marker as fits). Returns
 * true if all of src is in dest, false if it was cut. */
bool
    zf_escape (char *dest, size_t dest_size, const char *src, size_t size);

/* All size bytes of src, escaped, as a new string; caller frees. */
char *
    zf_escape_dup (const char *src, size_t size);

/* The length (1..4) of the valid UTF-8 character that starts at src, which
 * has size >= 1 bytes, or 0 if the bytes there are not one: a stray
 * continuation byte, an overlong form, a surrogate, a code point above
 * U+10FFFF, or a sequence cut short by the end of src. */
size_t
    zf_utf8_char (const unsigned char *src, size_t size);

#endif
