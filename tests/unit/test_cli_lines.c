/* test_cli_lines.c: the line reader behind `zfarm map` takes every line of
 * its input, whatever its bytes, as they arrive, and drops a line over its
 * limit without holding more than the limit.
 *
 * The reader is part of the zfarm tool, not of a library, so the test
 * compiles its source in. */
#include "testlib.h"
#include "cli_lines.c"

#include <fcntl.h>
#include <stdbool.h>

/* Takes every line that is at hand into out, as "[line]"; returns how many
 * lines were too long. */
static int
s_take_all (lines_t *lines, char *out, size_t size)
{
    int too_long = 0;
    const char *line;
    size_t line_size;
    lines_kind_t kind;
    while ((kind = lines_take (lines, &line, &line_size)) != LINES_NONE) {
        if (kind == LINES_TOO_LONG) {
            too_long++;
            strncat (out, "[!]", size - strlen (out) - 1);
            continue;
        }
        size_t at = strlen (out);
        ASSERT (at + line_size + 3 <= size);
        out [at] = '[';
        memcpy (out + at + 1, line, line_size);
        strcpy (out + at + 1 + line_size, "]");
    }
    return too_long;
}

/* Feeds text to a pipe, and the reader reads it once per write. */
static void
s_feed (int fd, lines_t *lines, const char *text)
{
    ASSERT_EQ (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    lines_read (lines);
}

static void
test_lines_as_they_come (void)
{
    int fds [2];
    ASSERT_EQ (pipe (fds), 0);
    lines_t *lines = lines_new (fds [0], 100);
    char out [256] = "";

    s_feed (fds [1], lines, "one\ntw");
    s_take_all (lines, out, sizeof out);
    ASSERT_STR_EQ (out, "[one]");           /* "tw" waits for its newline */
    s_feed (fds [1], lines, "o\n\n\r\nlast");
    s_take_all (lines, out, sizeof out);
    ASSERT_STR_EQ (out, "[one][two][][\r]");
    ASSERT (lines_is_open (lines));
    ASSERT (!lines_is_exhausted (lines));

    close (fds [1]);
    lines_read (lines);                     /* end of file */
    ASSERT (!lines_is_open (lines));
    s_take_all (lines, out, sizeof out);
    ASSERT_STR_EQ (out, "[one][two][][\r][last]");
    ASSERT (lines_is_exhausted (lines));
    ASSERT_EQ (lines_error (lines), 0);
    lines_destroy (&lines);
    lines_destroy (&lines);
    ASSERT (!lines);
    close (fds [0]);
}

/* A NUL is a byte like any other. */
static void
test_binary_line (void)
{
    int fds [2];
    ASSERT_EQ (pipe (fds), 0);
    lines_t *lines = lines_new (fds [0], 100);
    ASSERT_EQ (write (fds [1], "a\0b\n", 4), 4);
    lines_read (lines);
    const char *line;
    size_t size;
    ASSERT_EQ (lines_take (lines, &line, &size), LINES_LINE);
    ASSERT_EQ (size, 3);
    ASSERT_MEM_EQ (line, "a\0b", 3);
    ASSERT_EQ (lines_take (lines, &line, &size), LINES_NONE);
    lines_destroy (&lines);
    close (fds [0]);
    close (fds [1]);
}

/* A line over the limit is one LINES_TOO_LONG, however it is cut by the
 * reads, and the lines around it are whole; the buffer does not grow to
 * hold the long line. */
static void
test_line_over_the_limit (void)
{
    int fds [2];
    ASSERT_EQ (pipe (fds), 0);
    fcntl (fds [0], F_SETFL, O_NONBLOCK);
    lines_t *lines = lines_new (fds [0], 4);
    char out [256] = "";
    int too_long = 0;
    const char *chunks [] = { "ok\n1234\n", "12345", "6789", "0123",
                              "\nfine\n1234", "5\nx" };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks [0]; i++) {
        ASSERT_EQ (write (fds [1], chunks [i], strlen (chunks [i])),
                   (ssize_t) strlen (chunks [i]));
        for (int reads = 0; reads < 8; reads++) {
            lines_read (lines);
            too_long += s_take_all (lines, out, sizeof out);
        }
        ASSERT_INT (lines->capacity, <=, 65536);
    }
    close (fds [1]);
    lines_read (lines);
    too_long += s_take_all (lines, out, sizeof out);
    ASSERT_STR_EQ (out, "[ok][1234][!][fine][!][x]");
    ASSERT_EQ (too_long, 2);
    ASSERT (lines_is_exhausted (lines));
    lines_destroy (&lines);
    close (fds [0]);
}

/* A line longer than one read's buffer, up to the limit, is taken whole. */
static void
test_long_line_within_the_limit (void)
{
    enum { SIZE = 200000 };
    char path [] = "/tmp/test_cli_lines-XXXXXX";
    int fd = mkstemp (path);
    ASSERT (fd >= 0);
    unlink (path);
    char *text = malloc (SIZE + 1);
    memset (text, 'x', SIZE);
    text [SIZE] = '\n';
    ASSERT_EQ (write (fd, text, SIZE + 1), SIZE + 1);
    ASSERT_EQ (write (fd, "tail", 4), 4);
    ASSERT_EQ (lseek (fd, 0, SEEK_SET), 0);
    ASSERT_EQ (lines_count_left (fd), 2);
    lines_t *lines = lines_new (fd, SIZE);
    const char *line;
    size_t size;
    lines_kind_t kind = LINES_NONE;
    for (int reads = 0; reads < 100 && kind == LINES_NONE; reads++) {
        lines_read (lines);
        kind = lines_take (lines, &line, &size);
    }
    ASSERT_EQ (kind, LINES_LINE);
    ASSERT_EQ (size, SIZE);
    ASSERT_MEM_EQ (line, text, SIZE);
    lines_read (lines);
    lines_read (lines);
    ASSERT_EQ (lines_take (lines, &line, &size), LINES_LINE);
    ASSERT_EQ (size, 4);
    ASSERT (lines_is_exhausted (lines));
    lines_destroy (&lines);
    free (text);
    close (fd);
}

/* Counting leaves the reading offset where it is. */
static void
test_count_left (void)
{
    char path [] = "/tmp/test_cli_lines-XXXXXX";
    int fd = mkstemp (path);
    ASSERT (fd >= 0);
    unlink (path);
    ASSERT_EQ (lines_count_left (fd), 0);
    ASSERT_EQ (write (fd, "a\nb\n\nc", 6), 6);
    ASSERT_EQ (lseek (fd, 2, SEEK_SET), 2);
    ASSERT_EQ (lines_count_left (fd), 3);   /* "b", "", "c" */
    ASSERT_EQ (lseek (fd, 0, SEEK_CUR), 2);
    close (fd);
    int fds [2];
    ASSERT_EQ (pipe (fds), 0);
    ASSERT_EQ (lines_count_left (fds [0]), -1);
    close (fds [0]);
    close (fds [1]);
}

int
main (void)
{
    test_lines_as_they_come ();
    test_binary_line ();
    test_line_over_the_limit ();
    test_long_line_within_the_limit ();
    test_count_left ();
    TEST_PASS ("test_cli_lines");
    return 0;
}
