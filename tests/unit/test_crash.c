/* test_crash.c: how a worker process ended, in words (zf_crash.h): wait
 * statuses, the stderr tail's last lines, escaped and cut from the front,
 * and the bound on a report's size at every buffer size. */
#include "testlib.h"
#include "zf_crash.h"

#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>

/* A wait status as the kernel makes it (Linux): exit code in bits 8..15;
 * a signal in 0..6, 0x80 for a core. */
#define EXITED(code)        ((code) << 8)
#define SIGNALED(sig, core) ((sig) | ((core)? 0x80: 0))

static void
test_status (void)
{
    char text [128];
    zf_crash_status (EXITED (3), text, sizeof text);
    ASSERT_STR_EQ (text, "exited with status 3");
    zf_crash_status (EXITED (76), text, sizeof text);
    ASSERT (strstr (text, "exited with status 76: a handler would not stop"));
    zf_crash_status (SIGNALED (SIGSEGV, true), text, sizeof text);
    ASSERT_STR_EQ (text, "killed by signal 11 (SIGSEGV, core dumped)");
    zf_crash_status (SIGNALED (SIGKILL, false), text, sizeof text);
    ASSERT_STR_EQ (text, "killed by signal 9 (SIGKILL, no core dump)");
}

static const char *
s_lines (const char *bytes, size_t size)
{
    static char text [2048];
    zf_tail_t tail = { .size = 0 };
    zf_tail_append (&tail, bytes, strlen (bytes));
    zf_tail_lines (&tail, text, size);
    return text;
}

static void
test_tail (void)
{
    ASSERT_STR_EQ (s_lines ("", 100), "");
    ASSERT_STR_EQ (s_lines ("one\n", 100), "one");
    ASSERT_STR_EQ (s_lines ("one\ntwo", 100), "one | two");
    /* The last four lines, a forged log line and a terminal escape made
     * visible. */
    ASSERT_STR_EQ (s_lines ("a\nb\nc\nd\ne\n\n", 100), "b | c | d | e");
    ASSERT_STR_EQ (s_lines ("x\rW: forged\x1b[2J\n", 100),
                   "x\\rW: forged\\x1b[2J");
    /* Cut from the front: whole lines while they fit. */
    ASSERT_STR_EQ (s_lines ("first line\nlast\n", 8), "last");
    /* A last line too long for the buffer: its end, marked. */
    ASSERT_STR_EQ (s_lines ("0123456789abcdefghijklmnopqrstuvwxyz\n", 15),
                   "[...]yz");    /* 4 bytes per escaped byte, at worst */

    /* Only the last ZF_CRASH_TAIL_MAX bytes are kept, in any slices. */
    zf_tail_t tail = { .size = 0 };
    char chunk [700];
    for (int i = 0; i < 10; i++) {
        memset (chunk, 'a' + i, sizeof chunk);
        zf_tail_append (&tail, chunk, (size_t) (i * 70 + 1));
    }
    ASSERT_EQ (tail.size, (size_t) ZF_CRASH_TAIL_MAX);
    ASSERT_EQ (tail.data [ZF_CRASH_TAIL_MAX - 1], 'j');
    char big [5000];
    memset (big, 'z', sizeof big);
    zf_tail_append (&tail, big, sizeof big);
    ASSERT_EQ (tail.size, (size_t) ZF_CRASH_TAIL_MAX);
    ASSERT_EQ (tail.data [0], 'z');
}

/* Every buffer size: NUL-terminated inside it, valid as a cut. */
static void
test_bounds (void)
{
    zf_tail_t tail = { .size = 0 };
    for (int i = 0; i < 40; i++)
        zf_tail_append (&tail, "\xc3\xa9t\xc3\xa9 \x01\x02 line\n", 15);
    char text [ZF_CRASH_REPORT_MAX + 16];
    for (size_t size = 1; size <= ZF_CRASH_REPORT_MAX; size++) {
        memset (text, 0x55, sizeof text);
        zf_crash_report (SIGNALED (SIGSEGV, false), 9999, &tail, text, size);
        ASSERT (strlen (text) < size);
        ASSERT_EQ ((unsigned char) text [size], 0x55);
    }
    ASSERT (strstr (text, "; peak RSS 9.8 MiB; stderr: "));
    ASSERT (strstr (text, "\xc3\xa9t\xc3\xa9 \\x01\\x02 line | "));
    zf_crash_report (EXITED (3), 0, NULL, text, sizeof text);
    ASSERT_STR_EQ (text, "exited with status 3");
}

int
main (void)
{
    test_status ();
    test_tail ();
    test_bounds ();
    TEST_PASS ("test_crash");
    return 0;
}
