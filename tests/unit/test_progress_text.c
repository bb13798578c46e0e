/* test_progress_text.c: the lines an --exec command writes to its progress
 * descriptor (worker/progress_line.c), and the text zfarm call --progress
 * shows for a report (client/cli/cli_progress.c). */
#include "testlib.h"
#include "progress_line.h"
#include "cli_progress.h"
#include "zf_defaults.h"

#include <stdbool.h>

#define REPORTS_MAX 16

typedef struct {
    int count;
    uint64_t done [REPORTS_MAX], total [REPORTS_MAX];
    char note [REPORTS_MAX][ZF_PROGRESS_LINE_MAX + 1];
} seen_t;

static void
s_seen (void *arg, uint64_t done, uint64_t total, const char *note)
{
    seen_t *seen = arg;
    ASSERT_INT (seen->count, <, REPORTS_MAX);
    seen->done [seen->count] = done;
    seen->total [seen->count] = total;
    snprintf (seen->note [seen->count], sizeof seen->note [0], "%s", note);
    seen->count++;
}

/* Parses text as one line: true and the values if it is well formed. */
static bool
s_parse (const char *text, uint64_t *done, uint64_t *total, char *note)
{
    char line [ZF_PROGRESS_LINE_MAX + 1];
    size_t size = strlen (text);
    memcpy (line, text, size + 1);
    const char *at;
    if (!zf_progress_line_parse (line, size, done, total, &at))
        return false;
    strcpy (note, at);
    return true;
}

static void
test_parse (void)
{
    uint64_t done, total;
    char note [ZF_PROGRESS_LINE_MAX + 1];
    ASSERT (s_parse ("progress 5 10", &done, &total, note));
    ASSERT (done == 5 && total == 10);
    ASSERT_STR_EQ (note, "");
    ASSERT (s_parse ("progress 0 0 copying a.txt", &done, &total, note));
    ASSERT (done == 0 && total == 0);
    ASSERT_STR_EQ (note, "copying a.txt");
    ASSERT (s_parse ("progress\t7  \t9   spaced  note \r", &done, &total,
                     note));
    ASSERT (done == 7 && total == 9);
    ASSERT_STR_EQ (note, "spaced  note ");
    ASSERT (s_parse ("progress 18446744073709551615 18446744073709551615 x",
                     &done, &total, note));
    ASSERT (done == UINT64_MAX && total == UINT64_MAX);
    /* More done than in all is the command's business: as it came. */
    ASSERT (s_parse ("progress 12 10", &done, &total, note));
    ASSERT (done == 12 && total == 10);
    /* Bytes of any kind in the note: shown escaped, later. */
    ASSERT (s_parse ("progress 1 2 \x1b[31mred\x7f \xff", &done, &total,
                     note));
    ASSERT_STR_EQ (note, "\x1b[31mred\x7f \xff");

    static const char *const malformed [] = {
        "", "progress", "progress ", "progress 5", "progress 5 ",
        "progress x 10", "progress 5 x", "progress 5 10x", "progress -1 10",
        "progress 5 -10", "progress 1.5 10", "progress +5 10",
        "progress 18446744073709551616 1",        /* 2^64 */
        "progress 1 99999999999999999999",
        "Progress 5 10", "progressed 5 10", "progress5 10", " progress 5 10",
        "step 5 10", "5 10",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed [0]; i++)
        if (s_parse (malformed [i], &done, &total, note))
            TEST_FAIL ("'%s' was taken as a progress line", malformed [i]);
    /* A NUL byte inside the line. */
    char line [] = "progress 1 2 a\0b";
    const char *at;
    ASSERT (!zf_progress_line_parse (line, sizeof line - 1, &done, &total,
                                     &at));
}

static void
test_stream (void)
{
    zf_progress_lines_t lines;
    seen_t seen = { 0 };
    zf_progress_lines_init (&lines);
    /* Lines split anywhere across reads, empty lines, a malformed one. */
    const char *chunks [] = { "progr", "ess 1 4 a\nprogress 2 4",
                              " b\n\n\nnot a line\nprogress 3 4 c\r\n",
                              "progress 4 4 last, no newline" };
    for (size_t i = 0; i < 4; i++)
        zf_progress_lines_feed (&lines, chunks [i], strlen (chunks [i]),
                                s_seen, &seen);
    ASSERT_EQ (seen.count, 3);
    zf_progress_lines_end (&lines, s_seen, &seen);
    ASSERT_EQ (seen.count, 4);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ (seen.done [i], (uint64_t) i + 1);
        ASSERT_EQ (seen.total [i], 4);
    }
    ASSERT_STR_EQ (seen.note [1], "b");
    ASSERT_STR_EQ (seen.note [2], "c");
    ASSERT_STR_EQ (seen.note [3], "last, no newline");
    ASSERT_EQ (lines.reports, 4);
    ASSERT_EQ (lines.malformed, 1);
    ASSERT_STR_EQ (lines.first_bad, "not a line");

    /* A line longer than the bound is malformed, whatever it says, and
     * costs no more than the bound; the lines after it are read. */
    zf_progress_lines_init (&lines);
    seen.count = 0;
    char big [3 * ZF_PROGRESS_LINE_MAX];
    memset (big, 'x', sizeof big);
    memcpy (big, "progress 1 2 ", 13);
    zf_progress_lines_feed (&lines, big, sizeof big, s_seen, &seen);
    zf_progress_lines_feed (&lines, big, sizeof big, s_seen, &seen);
    zf_progress_lines_feed (&lines, "\nprogress 2 2\n", 14, s_seen, &seen);
    ASSERT_EQ (seen.count, 1);
    ASSERT_EQ (seen.done [0], 2);
    ASSERT_EQ (lines.malformed, 1);
    ASSERT_EQ (strlen (lines.first_bad), ZF_PROGRESS_LINE_MAX);
    ASSERT (strncmp (lines.first_bad, "progress 1 2 xxx", 16) == 0);

    /* A line of exactly the bound still counts. */
    zf_progress_lines_init (&lines);
    seen.count = 0;
    char exact [ZF_PROGRESS_LINE_MAX + 1];
    memset (exact, 'y', ZF_PROGRESS_LINE_MAX);
    memcpy (exact, "progress 3 3 ", 13);
    exact [ZF_PROGRESS_LINE_MAX] = '\n';
    zf_progress_lines_feed (&lines, exact, sizeof exact, s_seen, &seen);
    ASSERT_EQ (seen.count, 1);
    ASSERT_EQ (strlen (seen.note [0]), ZF_PROGRESS_LINE_MAX - 13);
    ASSERT_EQ (lines.malformed, 0);

    /* Nothing at all, or only a newline: no report, nothing malformed. */
    zf_progress_lines_init (&lines);
    seen.count = 0;
    zf_progress_lines_feed (&lines, "\n", 1, s_seen, &seen);
    zf_progress_lines_end (&lines, s_seen, &seen);
    ASSERT (seen.count == 0 && lines.malformed == 0);
}

static void
test_format (void)
{
    char line [1400];
    progress_format_report (line, sizeof line, false, 40, 100, "half way");
    ASSERT_STR_EQ (line, "progress 40/100 40% half way");
    progress_format_report (line, sizeof line, false, 7, 0, "");
    ASSERT_STR_EQ (line, "progress 7");
    progress_format_report (line, sizeof line, true, 50, 100, "x");
    ASSERT_STR_EQ (line, "[##########          ] 50/100 50% x");
    progress_format_report (line, sizeof line, true, 150, 100, "");
    ASSERT_STR_EQ (line, "[####################] 150/100 100%");
    progress_format_report (line, sizeof line, true, 3, 0, "n");
    ASSERT_STR_EQ (line, "3 done n");
    /* A hostile note: no control byte reaches the terminal. */
    progress_format_report (line, sizeof line, false, 1, 1,
                            "a\nb\x1b[2J\r\\\x9b" "c");
    ASSERT_STR_EQ (line, "progress 1/1 100% a\\nb\\x1b[2J\\r\\\\\\x9bc");
    char worst [ZF_NOTE_MAX + 1];
    memset (worst, 0x1b, ZF_NOTE_MAX);
    worst [ZF_NOTE_MAX] = 0;
    progress_format_report (line, sizeof line, true, 1, 2, worst);
    ASSERT (strstr (line, "[...]") == NULL);    /* all of it fits */
    ASSERT_EQ (strlen (line), strlen ("[##########          ] 1/2 50% ")
                              + 4 * ZF_NOTE_MAX);
}

int
main (void)
{
    test_parse ();
    test_stream ();
    test_format ();
    TEST_PASS ("test_progress_text");
    return 0;
}
