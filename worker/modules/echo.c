/* echo.c: example handlers for zfarm-worker --module echo.so.
 *
 *   zfarm_handler  replies with its payload, unchanged
 *   zfarm_fail     always fails, with the text "failed on purpose"
 *   zfarm_crash    aborts the worker process (for crash tests)
 *   zfarm_segv     writes a line to stderr, then dies of SIGSEGV
 *   zfarm_exit     writes a line to stderr, then ends the process with the
 *                  exit status in its payload (for crash report tests)
 *   zfarm_note     reports progress 1 of 1 with its payload as the note
 *                  (cut to 255 bytes), then replies with its payload
 *   zfarm_record   appends "PAYLOAD MS\n" to the file $ZFARM_RECORD, MS
 *                  the CLOCK_MONOTONIC ms it started at, and replies MS
 *                  (for order and delay tests)
 *   zfarm_flaky    payload "FILE FAILS [permanent|sleep=MS]": appends a
 *                  line to FILE for each attempt ("attempt pid realtime-ms
 *                  last-code last-error"), and fails (permanently if asked)
 *                  on the first FAILS attempts; then, after MS ms if
 *                  asked, replies "ok after N"
 *   zfarm_job      replies "done PAYLOAD" after a millisecond, or, for a
 *                  payload that starts with "fail", fails permanently
 *                  with "failed PAYLOAD" (for detached task tests)
 *   zfarm_poison   payload "die": kills its own process (SIGKILL), as a
 *                  crash would, whatever it holds; anything else: replies
 *                  with its payload (for batch fault tests)
 *   zfarm_leak     leaks 10 MB, every page written so that it is resident
 *                  (for --max-rss tests), then replies with its payload;
 *                  a payload "MB:hold" leaks MB instead, then sleeps a
 *                  minute (for --max-rss-hard tests) */
#include "zfarm.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

ZFARM_EXPORT zfarm_handler_fn zfarm_handler;
ZFARM_EXPORT zfarm_handler_fn zfarm_fail;
ZFARM_EXPORT zfarm_handler_fn zfarm_crash;
ZFARM_EXPORT zfarm_handler_fn zfarm_segv;
ZFARM_EXPORT zfarm_handler_fn zfarm_exit;
ZFARM_EXPORT zfarm_handler_fn zfarm_note;
ZFARM_EXPORT zfarm_handler_fn zfarm_record;
ZFARM_EXPORT zfarm_handler_fn zfarm_flaky;
ZFARM_EXPORT zfarm_handler_fn zfarm_leak;
ZFARM_EXPORT zfarm_handler_fn zfarm_job;
ZFARM_EXPORT zfarm_handler_fn zfarm_poison;

int
zfarm_handler (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const void *data = zfarm_task_data (task, &size);
    return zfarm_task_reply (task, data, size);
}

int
zfarm_poison (zfarm_task_t *task, void *arg)
{
    size_t size;
    const char *data = zfarm_task_data (task, &size);
    if (size == 3 && memcmp (data, "die", 3) == 0)
        kill (getpid (), SIGKILL);
    return zfarm_handler (task, arg);
}

int
zfarm_fail (zfarm_task_t *task, void *arg)
{
    (void) arg;
    return zfarm_task_fail (task, "failed on purpose");
}

int
zfarm_job (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const char *data = zfarm_task_data (task, &size);
    nanosleep (&(struct timespec) { 0, 1000000 }, NULL);
    if (size >= 4 && memcmp (data, "fail", 4) == 0)
        return zfarm_task_fail_permanent (task, "failed %.*s", (int) size,
                                          data);
    char reply [256];
    int length = snprintf (reply, sizeof reply, "done %.*s", (int) size, data);
    return zfarm_task_reply (task, reply, (size_t) length < sizeof reply
                                          ? (size_t) length: sizeof reply - 1);
}

int
zfarm_crash (zfarm_task_t *task, void *arg)
{
    (void) task;
    (void) arg;
    abort ();
}

/* The line names the payload, so that a test finds its own. */
static void
s_last_words (zfarm_task_t *task, const char *what)
{
    size_t size;
    const char *data = zfarm_task_data (task, &size);
    fprintf (stderr, "echo.so: %s on purpose: %.*s\n", what,
             (int) (size < 200? size: 200), data);
    fflush (stderr);
}

int
zfarm_segv (zfarm_task_t *task, void *arg)
{
    (void) arg;
    s_last_words (task, "segfault");
    /* The default action, even where a sanitizer catches SIGSEGV. */
    signal (SIGSEGV, SIG_DFL);
    raise (SIGSEGV);
    return -1;
}

int
zfarm_exit (zfarm_task_t *task, void *arg)
{
    (void) arg;
    s_last_words (task, "exit");
    size_t size;
    /* _exit, as a handler's exit () would end: at once, whatever the
     * other threads hold (exit () would run the library's destructors
     * under them). */
    _exit (atoi (zfarm_task_data (task, &size)));
}

int
zfarm_note (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const char *data = zfarm_task_data (task, &size);
    zfarm_task_progress (task, 1, 1, data);
    return zfarm_task_reply (task, data, size);
}

int
zfarm_record (zfarm_task_t *task, void *arg)
{
    (void) arg;
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
    size_t size;
    const char *data = zfarm_task_data (task, &size);
    char line [256];
    int length = snprintf (line, sizeof line, "%.*s %" PRId64 "\n",
                           (int) (size < 200? size: 200), data, ms);
    const char *path = getenv ("ZFARM_RECORD");
    int fd = path? open (path, O_WRONLY | O_APPEND | O_CREAT, 0600): -1;
    if (fd < 0 || write (fd, line, (size_t) length) != length) {
        if (fd >= 0)
            close (fd);
        return zfarm_task_fail (task, "cannot write $ZFARM_RECORD");
    }
    close (fd);
    /* The reply is the start time alone. */
    length = snprintf (line, sizeof line, "%" PRId64, ms);
    return zfarm_task_reply (task, line, (size_t) length);
}

int
zfarm_flaky (zfarm_task_t *task, void *arg)
{
    (void) arg;
    char path [256];
    unsigned fails = 0;
    char how [16] = "";
    if (sscanf (zfarm_task_data (task, NULL), "%255s %u %15s", path, &fails,
                how) < 2)
        return zfarm_task_fail_permanent (task, "payload: FILE FAILS [permanent]");
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    int last_code = 0;
    const char *last_error = zfarm_task_last_error (task, &last_code);
    unsigned attempt = zfarm_task_attempt (task);
    FILE *file = fopen (path, "a");
    if (!file)
        return zfarm_task_fail (task, "cannot open %s", path);
    fprintf (file, "%u %d %lld %s %s\n", attempt, (int) getpid (),
             (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000,
             last_error? zfarm_err_name (last_code): "-",
             last_error? last_error: "-");
    fclose (file);
    if (attempt <= fails && strcmp (how, "permanent") == 0)
        return zfarm_task_fail_permanent (task, "permanent failure %u", attempt);
    if (attempt <= fails)
        return zfarm_task_fail (task, "transient failure %u", attempt);
    unsigned nap_ms;
    if (sscanf (how, "sleep=%u", &nap_ms) == 1)
        usleep (nap_ms * 1000u);
    char reply [32];
    snprintf (reply, sizeof reply, "ok after %u", attempt);
    return zfarm_task_reply (task, reply, strlen (reply));
}

#define LEAK_MB 10

int
zfarm_leak (zfarm_task_t *task, void *arg)
{
    (void) arg;
    /* Never unmapped, on purpose; mmap, not malloc, so that a leak
     * checker at exit (after the module is unloaded) does not count it.
     * memset makes every page resident. */
    size_t size;
    const char *data = zfarm_task_data (task, &size);
    char text [32] = "";
    memcpy (text, data, size < sizeof text - 1? size: sizeof text - 1);
    int mb = atoi (text);
    size_t bytes = (size_t) (mb > 0 && mb < 4096? mb: LEAK_MB) << 20;
    char *leak = mmap (NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (leak == MAP_FAILED)
        return zfarm_task_fail (task, "out of memory");
    memset (leak, 0x5a, bytes);
    if (strstr (text, ":hold"))
        sleep (60);
    return zfarm_handler (task, arg);
}
