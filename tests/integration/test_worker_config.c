/* test_worker_config.c: zfarm-worker --config: a worker wholly set up by a
 * file, flags and $ZFARM_BROKER over the file, the file passed on to the
 * processes of --processes, and errors that name the line. */
#include "harness.h"
#include "zfarm.h"
#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>

static char s_path [512];

static void
s_write (const char *text)
{
    FILE *file = fopen (s_path, "w");
    ASSERT (file);
    fputs (text, file);
    fclose (file);
}

static pid_t
s_worker (const char *const extra [])
{
    const char *argv [16] = { th_bin ("zfarm-worker"), "--config", s_path };
    int argc = 3;
    for (int i = 0; extra && extra [i]; i++)
        argv [argc++] = extra [i];
    argv [argc] = NULL;
    return th_spawn ("worker", argv);
}

int
main (void)
{
    snprintf (s_path, sizeof s_path, "%s/worker.cfg", th_tmpdir ());
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    unsetenv ("ZFARM_BROKER");

    char text [2048];
    snprintf (text, sizeof text, "# one worker, all in a file\n"
              "worker\n    broker = \"%s\"\n    service = \"loud\"\n"
              "    exec = \"tr a-z A-Z\"\n", endpoint);
    s_write (text);
    pid_t worker = s_worker (NULL);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    char *result;
    ASSERT_EQ (th_call (endpoint, "loud", "quiet", 10000, &result), 0);
    ASSERT_STR_EQ (result, "QUIET");
    free (result);
    th_kill (worker, SIGTERM);
    ASSERT_EQ (th_reap (worker, 10000), 0);
    ASSERT (th_wait_workers (endpoint, 0, 20000));

    /* A --service flag replaces the file's; --processes passes the file on. */
    const char *flags [] = { "--service", "other", "--processes", "2", NULL };
    worker = s_worker (flags);
    ASSERT (th_wait_workers (endpoint, 2, 20000));
    char *json = th_status (endpoint);
    ASSERT_EQ (th_count (json, "\"services\":[\"other\"]"), 2);
    free (json);
    th_kill (worker, SIGTERM);
    ASSERT_EQ (th_reap (worker, 20000), 0);
    ASSERT (th_wait_workers (endpoint, 0, 20000));

    /* $ZFARM_BROKER wins over the file's broker. */
    snprintf (text, sizeof text, "worker\n    broker = \"ipc://%s/nowhere\"\n"
              "    service = \"loud\"\n    exec = \"cat\"\n", th_tmpdir ());
    s_write (text);
    setenv ("ZFARM_BROKER", endpoint, 1);
    worker = s_worker (NULL);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    th_kill (worker, SIGTERM);
    ASSERT_EQ (th_reap (worker, 10000), 0);

    /* --log-level warning: registering is not worth a line any more. */
    const char *quiet [] = { th_bin ("zfarm-worker"), "--config", s_path,
                             "--log-level", "warning", NULL };
    worker = th_spawn ("quiet", quiet);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    th_kill (worker, SIGTERM);
    ASSERT_EQ (th_reap (worker, 10000), 0);
    char log [600];
    snprintf (log, sizeof log, "%s/worker.err", th_tmpdir ());
    char *logged = th_read_file (log, NULL);
    ASSERT (logged && strstr (logged, "READY"));
    free (logged);
    snprintf (log, sizeof log, "%s/quiet.err", th_tmpdir ());
    logged = th_read_file (log, NULL);
    ASSERT (logged && !strstr (logged, "READY"));
    free (logged);
    unsetenv ("ZFARM_BROKER");

    /* A bad value names its line; nothing starts. */
    s_write ("worker\n    service = \"x\"\n    exec = \"cat\"\n\n"
             "    capacity = lots\n");
    const char *argv [] = { th_bin ("zfarm-worker"), "--config", s_path, NULL };
    char *out, *err;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 10000);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 2);
    ASSERT (strstr (err, "worker.cfg:5: --capacity: expected a number"));
    free (out);
    free (err);
    free ((char *) endpoint);
    TEST_PASS ("test_worker_config");
    return 0;
}
