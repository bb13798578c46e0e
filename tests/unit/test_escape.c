/* test_escape.c: zf_escape turns a peer's bytes into one safe line, and
 * every log line goes through it.
 *
 * Examples of each kind of byte, cuts at every size, a bounded run of
 * random inputs through the checks the fuzz target makes (under ASan, a
 * write past the output stops the test), and the log layer end to end:
 * czmq's stream into a file, and a forged line looked for. */
#include "testlib.h"
#include "fuzz/escape_check.h"
#include "zf_escape.h"
#include "zf_log.h"

#include <czmq.h>
#include <stdbool.h>

/* Escapes a NUL-terminated src into a buffer of dest_size bytes. */
static const char *
s_escape (const char *src, size_t dest_size)
{
    static char dest [4096];
    ASSERT (dest_size <= sizeof dest);
    zf_escape (dest, dest_size, src, strlen (src));
    return dest;
}

static void
test_examples (void)
{
    static const struct { const char *in, *out; } examples [] = {
        { "", "" },
        { "worker-7.example.org", "worker-7.example.org" },
        { "evil\nW: forged line\x1b[31m", "evil\\nW: forged line\\x1b[31m" },
        { "tab\there\r\n", "tab\\there\\r\\n" },
        { "back\\slash", "back\\\\slash" },
        { "\x01\x7f\x1f", "\\x01\\x7f\\x1f" },
        { "bell\a and title \x1b]0;pwned\a", "bell\\x07 and title \\x1b]0;pwned\\x07" },
        /* Valid UTF-8 stays as it is. */
        { "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80", "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80" },
        /* C1 controls, valid UTF-8 but controls: CSI and NEL. */
        { "\xc2\x9b" "31m \xc2\x85", "\\xc2\\x9b31m \\xc2\\x85" },
        /* U+00A0, the first code point after C1, is not a control. */
        { "\xc2\xa0", "\xc2\xa0" },
        /* Not UTF-8: a lone continuation, a stray lead, an overlong NUL,
         * a surrogate, past U+10FFFF, a sequence cut short. */
        { "\x80", "\\x80" },
        { "\xff\xfe", "\\xff\\xfe" },
        { "\xc0\x80", "\\xc0\\x80" },
        { "\xed\xa0\x80", "\\xed\\xa0\\x80" },
        { "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
        { "\xe2\x98", "\\xe2\\x98" },
        { "\xe2\x98x", "\\xe2\\x98x" },
        /* '%' is just a byte. */
        { "100% %s %n", "100% %s %n" },
    };
    for (size_t i = 0; i < sizeof examples / sizeof examples [0]; i++) {
        ASSERT_STR_EQ (s_escape (examples [i].in, 4096), examples [i].out);
        escape_check (examples [i].in, strlen (examples [i].in),
                      strlen (examples [i].out) + 1);
    }
    /* A NUL byte in the middle is a byte too. */
    char dest [32];
    ASSERT (zf_escape (dest, sizeof dest, "a\0b", 3));
    ASSERT_STR_EQ (dest, "a\\x00b");
}

static void
test_utf8_char (void)
{
    const unsigned char *ascii = (const unsigned char *) "A";
    ASSERT_EQ (zf_utf8_char (ascii, 1), 1);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xc3\xa9", 2), 2);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xe2\x98\x83", 3), 3);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xf0\x9f\x98\x80", 4), 4);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xf4\x8f\xbf\xbf", 4), 4);
    /* The same, with one byte missing at the end of what is there. */
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xf0\x9f\x98\x80", 3), 0);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xc1\xbf", 2), 0);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xe0\x9f\xbf", 3), 0);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xf0\x8f\xbf\xbf", 4), 0);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xed\xbf\xbf", 3), 0);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xf5\x80\x80\x80", 4), 0);
    ASSERT_EQ (zf_utf8_char ((const unsigned char *) "\xe2\x28\xa1", 3), 0);
}

static void
test_cuts (void)
{
    /* Fits exactly: no marker. */
    ASSERT_STR_EQ (s_escape ("abcdef", 7), "abcdef");
    /* One byte short: as much as fits with the marker after it. */
    ASSERT_STR_EQ (s_escape ("abcdefghij", 10), "abcd" ZF_ESCAPE_MARKER);
    /* Never inside an escape, nor inside a UTF-8 character. */
    ASSERT_STR_EQ (s_escape ("ab\x1b" "cdefghij", 11), "ab" ZF_ESCAPE_MARKER);
    ASSERT_STR_EQ (s_escape ("ab\xf0\x9f\x98\x80" "cdefghij", 11),
                   "ab" ZF_ESCAPE_MARKER);
    /* Too small even for the marker: what fits of it. */
    ASSERT_STR_EQ (s_escape ("abcdefghij", 1), "");
    ASSERT_STR_EQ (s_escape ("abcdefghij", 4), "[..");
    /* Every size, for an input with every kind of character. */
    const char *mixed = "a\\b\n\x1b[1m\xc2\x9b\xc3\xa9\xff\xf0\x9f\x98\x80z";
    size_t whole = 0;
    for (size_t dest_size = 1; dest_size < 64; dest_size++)
        if (escape_check (mixed, strlen (mixed), dest_size) && !whole)
            whole = dest_size;
    ASSERT_EQ (whole, strlen (s_escape (mixed, 4096)) + 1);
}

static void
test_dup (void)
{
    char all [256];
    for (int i = 0; i < 256; i++)
        all [i] = (char) i;
    char *text = zf_escape_dup (all, sizeof all);
    escape_check_text (text, strlen (text));
    char undone [1024];
    ASSERT_EQ (escape_check_undo (text, strlen (text), undone), 256);
    ASSERT_MEM_EQ (undone, all, 256);
    free (text);
    /* The worst case: every byte a C1 control's half or a \xNN. */
    char c1 [64];
    for (size_t i = 0; i < sizeof c1; i += 2) {
        c1 [i] = '\xc2';
        c1 [i + 1] = '\x9b';
    }
    text = zf_escape_dup (c1, sizeof c1);
    ASSERT_EQ (strlen (text), 4 * sizeof c1);
    free (text);
}

/* xorshift: the same inputs on every run. */
static uint32_t
s_random (uint32_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

static void
test_random_inputs (void)
{
    /* Bytes from the interesting ranges far more often than chance. */
    static const unsigned char picks [] = {
        'a', ' ', '\\', '\n', '\t', '\r', 0x00, 0x1b, 0x7f, 0x80, 0x9b, 0xbf,
        0xc0, 0xc2, 0xc3, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, '['
    };
    uint32_t state = 2463534242u;
    char src [96];
    for (int round = 0; round < 20000; round++) {
        size_t size = s_random (&state) % sizeof src;
        for (size_t i = 0; i < size; i++) {
            uint32_t r = s_random (&state);
            src [i] = (char) (r & 0x100? picks [(r >> 9) % sizeof picks]
                                       : r & 0xff);
        }
        size_t dest_size = 1 + s_random (&state) % (4 * size + 2);
        escape_check (src, size, dest_size);
        ASSERT (escape_check (src, size, 4 * size + 1));
    }
}

/* ---- the log layer ----------------------------------------------------- */

static int s_evaluated;

static int
s_count_evaluation (void)
{
    return ++s_evaluated;
}

/* Runs the log lines of test_log with czmq's stream in a file, and returns
 * what was written (caller frees). */
static char *
s_capture_log (void (*lines) (void))
{
    char path [] = "/tmp/zfarm-test-log-XXXXXX";
    int fd = mkstemp (path);
    ASSERT (fd >= 0);
    FILE *file = fdopen (fd, "w+");
    zf_log_open ("test_escape", ZF_LOG_DEBUG, false);
    zsys_set_logstream (file);
    lines ();
    zsys_set_logstream (stderr);
    fflush (file);
    rewind (file);
    char *text = calloc (1, 65536);
    size_t size = fread (text, 1, 65535, file);
    text [size] = 0;
    fclose (file);
    unlink (path);
    return text;
}

static void
s_log_lines (void)
{
    zf_info ("worker %d@%s joined", 42, "evil\nW: forged line\x1b[31m");
    zf_warning ("task failed: %s", "100% \x1b]0;title\a done");
    char long_text [3000];
    memset (long_text, 'x', sizeof long_text - 1);
    long_text [sizeof long_text - 1] = 0;
    zf_error ("long: %s", long_text);
    zf_log_set_level (ZF_LOG_WARNING);
    zf_info ("hidden %d", s_count_evaluation ());
    zf_log_set_level (ZF_LOG_DEBUG);
    zf_debug ("shown %d", s_count_evaluation ());
}

static void
test_log (void)
{
    char *text = s_capture_log (s_log_lines);
    /* One line per call that passed the level: the newline in the host
     * name made none of its own. */
    int lines = 0;
    for (const char *at = text; (at = strchr (at, '\n')); at++)
        lines++;
    ASSERT_EQ (lines, 4);
    ASSERT (strstr (text, "worker 42@evil\\nW: forged line\\x1b[31m joined\n"));
    ASSERT (!strstr (text, "\nW: forged"));
    ASSERT (!strchr (text, '\x1b'));
    ASSERT (strstr (text, "task failed: 100% \\x1b]0;title\\x07 done\n"));
    /* A long message is cut, visibly, and czmq does not cut it again. */
    const char *cut = strstr (text, "long: xxx");
    ASSERT (cut);
    const char *end = strchr (cut, '\n');
    ASSERT_EQ (end - cut, ZF_LOG_LINE_MAX);
    ASSERT (strncmp (end - strlen (ZF_ESCAPE_MARKER), ZF_ESCAPE_MARKER,
                     strlen (ZF_ESCAPE_MARKER)) == 0);
    /* Below the level, the arguments are not even evaluated. */
    ASSERT (!strstr (text, "hidden"));
    ASSERT (strstr (text, "shown 1\n"));
    ASSERT_EQ (s_evaluated, 1);
    free (text);
}

int
main (void)
{
    test_examples ();
    test_utf8_char ();
    test_cuts ();
    test_dup ();
    test_random_inputs ();
    test_log ();
    TEST_PASS ("test_escape");
    return 0;
}
