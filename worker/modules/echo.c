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
 *   zfarm_leak     leaks 10 MB, every page written so that it is resident
 *                  (for --max-rss tests), then replies with its payload;
 *                  a payload "MB:hold" leaks MB instead, then sleeps a
 *                  minute (for --max-rss-hard tests) */
#include "zfarm.h"

#include <signal.h>
#include <stdio.h>
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
ZFARM_EXPORT zfarm_handler_fn zfarm_leak;

int
zfarm_handler (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const void *data = zfarm_task_data (task, &size);
    return zfarm_task_reply (task, data, size);
}

int
zfarm_fail (zfarm_task_t *task, void *arg)
{
    (void) arg;
    return zfarm_task_fail (task, "failed on purpose");
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
