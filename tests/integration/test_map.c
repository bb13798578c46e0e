/* test_map.c: `zfarm map` against a real zfarm-broker and real
 * `zfarm-worker` processes.
 *
 * Reads as a tour of the command: one task per line, results in input
 * order whatever order they finish in, a window far smaller than the
 * input, files as payloads, failures listed and counted, usage errors, an
 * interrupt, and the progress bar on a pseudo-terminal. */
#include "harness.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 60000           /* bound on one run of zfarm map */

static char s_endpoint [512];

/* text holds needle (or starts with it); else both are shown. */
#define ASSERT_HAS(text, needle) do {                                         \
    if (!strstr ((text), (needle)))                                           \
        TEST_FAIL ("no \"%s\" in \"%s\"", (needle), (text));              \
} while (0)
#define ASSERT_STARTS(text, prefix) do {                                      \
    if (strncmp ((text), (prefix), strlen (prefix)) != 0)                     \
        TEST_FAIL ("\"%s\" does not start \"%s\"", (prefix), (text));     \
} while (0)

/* Runs `zfarm map --broker <farm> ARGS...` with in on stdin. Returns its
 * exit status; *out_p and *err_p (caller frees) get stdout and stderr. */
static int
s_map (const char *const args [], const char *in, size_t in_size,
       char **out_p, size_t *out_size_p, char **err_p)
{
    const char *argv [24] = { th_bin ("zfarm"), "map", "--broker", s_endpoint };
    int argc = 4;
    for (int i = 0; args [i] && argc < 23; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    int status = th_run (argv, in, in_size, out_p, out_size_p, err_p, WAIT_MS);
    if (status == -1 || !WIFEXITED (status))
        TEST_FAIL ("zfarm map %s: status %d, stderr \"%s\"", args [0],
                   status, err_p? *err_p: "");
    return WEXITSTATUS (status);
}

/* Writes text to a file in the test's directory; returns its path (a
 * static buffer per call, 8 in turn). */
static const char *
s_write_file (const char *name, const char *text, size_t size)
{
    static char paths [8][512];
    static int next;
    char *path = paths [next++ % 8];
    snprintf (path, 512, "%s/%s", th_tmpdir (), name);
    FILE *file = fopen (path, "wb");
    if (!file)
        TEST_FAIL ("%s: %s", path, strerror (errno));
    ASSERT_EQ (fwrite (text, 1, size, file), size);
    ASSERT_EQ (fclose (file), 0);
    return path;
}

/* ---- results in order -------------------------------------------------- */

/* Items that finish in the reverse of their order: each sleeps less than
 * the one before, and the window lets many run at once. */
static void
test_order_with_varied_speeds (void)
{
    char in [1024] = "", expected [1024] = "";
    for (int i = 1; i <= 60; i++) {
        snprintf (in + strlen (in), 16, "%d\n", i);
        snprintf (expected + strlen (expected), 16, "r%d\n", i);
    }
    const char *args [] = { "--window", "16", "varied", NULL };
    char *out, *err;
    ASSERT_EQ (s_map (args, in, strlen (in), &out, NULL, &err), 0);
    ASSERT_STR_EQ (out, expected);
    ASSERT_STR_EQ (err, "");
    free (out);
    free (err);
}

/* A line is its bytes without the newline, whatever they are: an empty
 * line is an empty payload, a NUL or a CR is a byte like any other, and a
 * last line without a newline counts. */
static void
test_lines_are_payloads (void)
{
    const char in [] = "a\n\nb\0c\r\n\xff\xfe\nlast";
    const char expected [] = "a\n\nb\0c\r\n\xff\xfe\nlast\n";
    const char *args [] = { "cat", NULL };
    char *out, *err;
    size_t size;
    ASSERT_EQ (s_map (args, in, sizeof in - 1, &out, &size, &err), 0);
    ASSERT_EQ (size, sizeof expected - 1);
    ASSERT_MEM_EQ (out, expected, size);
    free (out);
    free (err);

    /* Results are written as they are, newlines and all; with --null,
     * those that hold newlines are still told apart. */
    const char *twice [] = { "twice", NULL };
    ASSERT_EQ (s_map (twice, "a\nb\n", 4, &out, NULL, &err), 0);
    ASSERT_STR_EQ (out, "a\na\nb\nb\n");
    free (out);
    free (err);
    const char *null [] = { "--null", "twice", NULL };
    ASSERT_EQ (s_map (null, "a\nb\n", 4, &out, &size, &err), 0);
    ASSERT_EQ (size, 8);
    ASSERT_MEM_EQ (out, "a\na\0b\nb\0", 8);
    free (out);
    free (err);
}

/* A command's output that ends with a newline (wc, md5sum, jq...) is one
 * line, not a line and a blank one; --null keeps its bytes. */
static void
test_output_lines (void)
{
    const char *args [] = { "wc", NULL };
    char *out, *err;
    size_t size;
    ASSERT_EQ (s_map (args, "abc\nde\n\n", 8, &out, &size, &err), 0);
    ASSERT_STR_EQ (out, "3\n2\n0\n");
    free (out);
    free (err);
    const char *null [] = { "--null", "wc", NULL };
    ASSERT_EQ (s_map (null, "abc\nde\n", 7, &out, &size, &err), 0);
    ASSERT_EQ (size, 6);
    ASSERT_MEM_EQ (out, "3\n\0" "2\n\0", 6);
    free (out);
    free (err);
}

/* Ten thousand lines through a window of 8: every result, in order. */
static void
test_many_lines (void)
{
    enum { LINES = 10000 };
    char *in = malloc (LINES * 8);
    size_t size = 0;
    for (int i = 0; i < LINES; i++)
        size += (size_t) sprintf (in + size, "%d\n", i * 7);
    const char *args [] = { "--window", "8", "echo", NULL };
    char *out, *err;
    size_t out_size;
    ASSERT_EQ (s_map (args, in, size, &out, &out_size, &err), 0);
    ASSERT_EQ (out_size, size);
    ASSERT_MEM_EQ (out, in, size);
    ASSERT_STR_EQ (err, "");
    free (out);
    free (err);
    free (in);
}

static void
test_empty_input (void)
{
    const char *args [] = { "cat", NULL };
    char *out, *err;
    ASSERT_EQ (s_map (args, "", 0, &out, NULL, &err), 0);
    ASSERT_STR_EQ (out, "");
    ASSERT_STR_EQ (err, "");
    free (out);
    free (err);
}

/* ---- files ------------------------------------------------------------- */

/* Each line names a file whose bytes are the payload. One that cannot be
 * read fails alone, with its errno text; the others go through. */
static void
test_files (void)
{
    char in [2048];
    snprintf (in, sizeof in, "%s\n%s/missing\n%s\n%s\n",
              s_write_file ("a.txt", "AAA", 3), th_tmpdir (),
              s_write_file ("c.txt", "C\nC", 3),
              s_write_file ("empty.txt", "", 0));
    const char *args [] = { "--files", "cat", NULL };
    char *out, *err;
    size_t size;
    ASSERT_EQ (s_map (args, in, strlen (in), &out, &size, &err), 1);
    ASSERT_EQ (size, 10);
    ASSERT_MEM_EQ (out, "AAA\n\nC\nC\n\n", 10);
    ASSERT_EQ (th_count (err, "\n"), 1);
    ASSERT_STARTS (err, "zfarm: item 2 (line 2): UNREADABLE: ");
    ASSERT_HAS (err, "/missing: No such file or directory\n");
    free (out);
    free (err);

    /* A name longer than a path may be fails alone, also when it is longer
     * than what one read of stdin takes. */
    size_t long_size = 100000;
    char *names = malloc (long_size + 8000);
    memset (names, 'x', 5000);
    names [5000] = '\n';
    memset (names + 5001, 'y', long_size);
    size_t size_all = 5001 + long_size;
    size_all += (size_t) sprintf (names + size_all, "\n%s\n",
                                  s_write_file ("a.txt", "AAA", 3));
    ASSERT_EQ (s_map (args, names, size_all, &out, &size, &err), 1);
    ASSERT_HAS (err, "zfarm: item 2 (line 2): ");
    ASSERT_EQ (th_count (err, "UNREADABLE: File name too long\n"), 2);
    ASSERT_EQ (th_count (err, "\n"), 2);
    ASSERT_STR_EQ (out, "\n\nAAA\n");
    free (names);
    free (out);
    free (err);

    /* A directory is no payload either. */
    snprintf (in, sizeof in, "%s\n", th_tmpdir ());
    ASSERT_EQ (s_map (args, in, strlen (in), &out, NULL, &err), 1);
    ASSERT_HAS (err, "item 1 (line 1): UNREADABLE: ");
    ASSERT_HAS (err, ": Is a directory\n");
    ASSERT_STR_EQ (out, "\n");
    free (out);
    free (err);
}

/* ---- failures ---------------------------------------------------------- */

/* A failed item writes an empty line, so that the output stays aligned
 * with the input, and is listed on stderr, one line each. */
static void
test_failed_items (void)
{
    const char *args [] = { "check", NULL };
    char *out, *err;
    const char in [] = "one\nbad two\nthree\n";
    ASSERT_EQ (s_map (args, in, sizeof in - 1, &out, NULL, &err), 1);
    ASSERT_STR_EQ (out, "ok one\n\nok three\n");
    ASSERT_EQ (th_count (err, "\n"), 1);
    ASSERT_STARTS (err, "zfarm: item 2 (line 2): HANDLER_ERROR: ");
    ASSERT_HAS (err, "exit status 3");
    ASSERT_HAS (err, "no good: bad two");
    free (out);
    free (err);
}

/* Twenty failures are listed, then how many more there were. */
static void
test_many_failures (void)
{
    char in [1024] = "";
    for (int i = 1; i <= 25; i++)
        snprintf (in + strlen (in), 16, "bad %d\n", i);
    strcat (in, "fine\n");
    const char *args [] = { "check", NULL };
    char *out, *err;
    ASSERT_EQ (s_map (args, in, strlen (in), &out, NULL, &err), 1);
    ASSERT_STR_EQ (out, "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"
                        "ok fine\n");
    ASSERT_EQ (th_count (err, "\n"), 21);
    ASSERT_HAS (err, "zfarm: item 1 (line 1): HANDLER_ERROR: ");
    ASSERT_HAS (err, "zfarm: item 20 (line 20): HANDLER_ERROR: ");
    ASSERT (!strstr (err, "item 21 "));
    ASSERT_HAS (err, "zfarm: and 5 more\n");
    free (out);
    free (err);
}

/* --timeout bounds each task; the broker's verdict is the item's. */
static void
test_timeout (void)
{
    const char *args [] = { "--timeout", "100", "slow", NULL };
    char *out, *err;
    ASSERT_EQ (s_map (args, "late\n", 5, &out, NULL, &err), 1);
    ASSERT_STR_EQ (out, "\n");
    ASSERT_STARTS (err, "zfarm: item 1 (line 1): TIMEOUT: ");
    free (out);
    free (err);
}

/* ---- usage ------------------------------------------------------------- */

/* Each bad command line: exit 2, one line on stderr, nothing run. */
static void
test_usage (void)
{
    const char *const bad [][6] = {
        { NULL },
        { "--window", "0", "cat", NULL },
        { "--window", "100001", "cat", NULL },
        { "--window", "many", "cat", NULL },
        { "--window", NULL },
        { "--timeout", "-1", "cat", NULL },
        { "--retries", "101", "cat", NULL },
        { "--bogus", "cat", NULL },
        { "-x", "cat", NULL },
        { "cat", "dog", NULL },
        { "two words", NULL },
        { "zfarm.status", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char *out, *err;
        ASSERT_EQ (s_map (bad [i], "x\n", 2, &out, NULL, &err), 2);
        ASSERT_STR_EQ (out, "");
        ASSERT_EQ (th_count (err, "\n"), 1);
        ASSERT_STARTS (err, "zfarm map: ");
        ASSERT_HAS (err, "(try 'zfarm map --help')\n");
        free (out);
        free (err);
    }
    const char *help [] = { "--help", NULL };
    char *out, *err;
    ASSERT_EQ (s_map (help, NULL, 0, &out, NULL, &err), 0);
    ASSERT (strstr (out, "usage: zfarm map"));
    ASSERT (strstr (out, "--window"));
    free (out);
    free (err);
}

/* ---- interrupt --------------------------------------------------------- */

/* SIGINT: what is pending is cancelled, what finished in order is on
 * stdout, and the exit status is 130. */
static void
test_interrupt (void)
{
    char in [2048] = "";
    for (int i = 1; i <= 200; i++)
        snprintf (in + strlen (in), 16, "%d\n", i);
    const char *input = s_write_file ("interrupt.in", in, strlen (in));
    char command [2048], out_path [600];
    snprintf (command, sizeof command, "exec '%s' map --broker '%s' "
              "--window 6 slow < '%s'", th_bin ("zfarm"), s_endpoint, input);
    snprintf (out_path, sizeof out_path, "%s/interrupt.out", th_tmpdir ());
    const char *argv [] = { "/bin/sh", "-c", command, NULL };
    pid_t pid = th_spawn ("interrupt", argv);

    /* Once three results are out, the run is well under way. */
    int64_t deadline = zclock_mono () + WAIT_MS;
    char *out = NULL;
    while (zclock_mono () < deadline) {
        free (out);
        out = th_read_file (out_path, NULL);
        if (out && th_count (out, "\n") >= 3)
            break;
        zclock_sleep (10);
    }
    ASSERT (out && th_count (out, "\n") >= 3);
    free (out);
    th_kill (pid, SIGINT);
    int status = th_reap (pid, WAIT_MS);
    ASSERT (status != -1 && WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 130);

    out = th_read_file (out_path, NULL);
    int written = th_count (out, "\n");
    ASSERT_INT (written, <, 200);
    char expected [2048] = "";
    for (int i = 1; i <= written; i++)
        snprintf (expected + strlen (expected), 16, "s%d\n", i);
    ASSERT_STR_EQ (out, expected);
    free (out);
    char err_path [600], summary [64];
    snprintf (err_path, sizeof err_path, "%s/interrupt.err", th_tmpdir ());
    char *err = th_read_file (err_path, NULL);
    snprintf (summary, sizeof summary, "zfarm: interrupted: %d results "
              "written, ", written);
    ASSERT (err);
    ASSERT_HAS (err, summary);
    free (err);
}

/* ---- the progress bar -------------------------------------------------- */

/* Runs command through /bin/sh with stderr on a pseudo-terminal; returns
 * all the terminal was sent (caller frees) and sets *status_p. */
static char *
s_run_on_tty (const char *command, int *status_p)
{
    int master = posix_openpt (O_RDWR | O_NOCTTY);
    ASSERT (master >= 0);
    ASSERT (grantpt (master) == 0 && unlockpt (master) == 0);
    /* The terminal's side is opened here, before the fork, so that it is
     * open until the child is gone: on Linux, reading the master side
     * fails with EIO while no one holds the other. */
    const char *name = ptsname (master);
    int slave = name? open (name, O_RDWR | O_NOCTTY): -1;
    ASSERT (slave >= 0);
    pid_t pid = fork ();
    ASSERT (pid >= 0);
    if (pid == 0) {
        if (dup2 (slave, STDERR_FILENO) < 0)
            _exit (127);
        close (slave);
        close (master);
        execl ("/bin/sh", "sh", "-c", command, (char *) NULL);
        _exit (127);
    }
    close (slave);
    char *text = malloc (1 << 20);
    size_t size = 0;
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (size < (1 << 20) - 1 && zclock_mono () < deadline) {
        struct pollfd item = { master, POLLIN, 0 };
        if (poll (&item, 1, 100) <= 0)
            continue;
        ssize_t n = read (master, text + size, (1 << 20) - 1 - size);
        if (n <= 0)
            break;
        size += (size_t) n;
    }
    text [size] = 0;
    close (master);
    *status_p = th_reap (pid, 5000);
    if (*status_p == -1) {
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        TEST_FAIL ("'%s' did not end", command);
    }
    return text;
}

/* With stderr a terminal, a bar counts the items done; it is gone at the
 * end. The total is known when stdin is a regular file, and not from a
 * pipe. --quiet shows none. */
static void
test_progress_bar (void)
{
    const char *input = s_write_file ("bar.in", "1\n2\n3\n4\n5\n", 10);
    char command [2048], out_path [600];
    snprintf (out_path, sizeof out_path, "%s/bar.out", th_tmpdir ());
    snprintf (command, sizeof command, "exec '%s' map --broker '%s' cat "
              "< '%s' > '%s'", th_bin ("zfarm"), s_endpoint, input, out_path);
    int status;
    char *tty = s_run_on_tty (command, &status);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    ASSERT (strstr (tty, "\r["));
    ASSERT (strstr (tty, "/5 "));
    ASSERT (strstr (tty, "/s"));
    size_t size = strlen (tty);
    ASSERT (size >= 4 && strcmp (tty + size - 4, "\r\033[K") == 0);
    free (tty);
    char *out = th_read_file (out_path, NULL);
    ASSERT_STR_EQ (out, "1\n2\n3\n4\n5\n");
    free (out);

    snprintf (command, sizeof command, "cat '%s' | '%s' map --broker '%s' "
              "cat > '%s'", input, th_bin ("zfarm"), s_endpoint, out_path);
    tty = s_run_on_tty (command, &status);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    ASSERT (strstr (tty, " done "));
    ASSERT (!strstr (tty, "ETA"));
    free (tty);

    snprintf (command, sizeof command, "exec '%s' map --quiet --broker '%s' "
              "cat < '%s' > '%s'", th_bin ("zfarm"), s_endpoint, input,
              out_path);
    tty = s_run_on_tty (command, &status);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    ASSERT_STR_EQ (tty, "");
    free (tty);
}

/* ---- the farm ---------------------------------------------------------- */

/* The services, each a command run per task (the payload is its stdin, its
 * stdout the result), and echo.so for the long run. */
static void
s_start_farm (void)
{
    snprintf (s_endpoint, sizeof s_endpoint, "%s",
              th_broker_start ("ipc", NULL).endpoint);
    const char *cat [] = { "--service", "cat", "--exec", "cat",
                           "--capacity", "4", NULL };
    /* Item n sleeps (60 - n) ms: later items finish first. */
    const char *varied [] = { "--service", "varied", "--capacity", "8",
        "--exec", "n=$(cat); sleep $(printf '0.%03d' $((60 - n))); "
                  "printf 'r%s' \"$n\"", NULL };
    const char *check [] = { "--service", "check", "--capacity", "4",
        "--exec", "x=$(cat); case \"$x\" in *bad*) echo \"no good: $x\" >&2; "
                  "exit 3;; esac; printf 'ok %s' \"$x\"", NULL };
    const char *slow [] = { "--service", "slow", "--capacity", "4",
        "--exec", "n=$(cat); sleep 0.2; printf 's%s' \"$n\"", NULL };
    const char *twice [] = { "--service", "twice", "--exec",
                             "x=$(cat); printf '%s\\n%s' \"$x\" \"$x\"", NULL };
    const char *wc [] = { "--service", "wc", "--exec", "wc -c", NULL };
    const char *echo [] = { "--service", "echo", "--capacity", "4",
                            "--module", th_module ("echo.so"), NULL };
    th_worker_start (s_endpoint, cat);
    th_worker_start (s_endpoint, varied);
    th_worker_start (s_endpoint, check);
    th_worker_start (s_endpoint, slow);
    th_worker_start (s_endpoint, twice);
    th_worker_start (s_endpoint, wc);
    th_worker_start (s_endpoint, echo);
    th_worker_start (s_endpoint, echo);
    if (!th_wait_workers (s_endpoint, 8, 10000))
        TEST_FAIL ("workers did not register with %s", s_endpoint);
}

int
main (void)
{
    s_start_farm ();
    test_order_with_varied_speeds ();
    test_lines_are_payloads ();
    test_output_lines ();
    test_many_lines ();
    test_empty_input ();
    test_files ();
    test_failed_items ();
    test_many_failures ();
    test_timeout ();
    test_usage ();
    test_interrupt ();
    test_progress_bar ();
    TEST_PASS ("test_map");
    return 0;
}
