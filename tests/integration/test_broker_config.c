/* test_broker_config.c: zfarm-broker --config: settings from a file,
 * flags over the file, errors that name the line (before anything is
 * bound), and SIGHUP reloading what can change at run time. */
#include "harness.h"
#include "zfarm.h"
#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>

static char s_path [512], s_ipc [512], s_ready [512];

static void
s_write (const char *text)
{
    FILE *file = fopen (s_path, "w");
    ASSERT (file);
    fputs (text, file);
    fclose (file);
}

/* Starts the broker with the config file and extra flags; waits until it
 * has written its endpoint file. */
static pid_t
s_start (const char *const extra [])
{
    const char *argv [16] = { th_bin ("zfarm-broker"), "--config", s_path };
    int argc = 3;
    for (int i = 0; extra && extra [i]; i++)
        argv [argc++] = extra [i];
    argv [argc] = NULL;
    unlink (s_ready);
    pid_t pid = th_spawn ("broker", argv);
    for (int i = 0; i < 1000 && !zsys_file_exists (s_ready); i++) {
        ASSERT (th_alive (pid));
        zclock_sleep (10);
    }
    ASSERT (zsys_file_exists (s_ready));
    return pid;
}

/* How many tasks for a service with no worker are queued before
 * QUEUE_FULL (at most 10). */
static int
s_queue_limit (void)
{
    zfarm_client_t *client = zfarm_client_new (s_ipc);
    int accepted = 0;
    for (int i = 0; i < 10; i++) {
        ASSERT_EQ (zfarm_client_submit (client, "none", "x", 1, 5000, NULL), 0);
        zfarm_result_t *result = NULL;
        if (zfarm_client_wait (client, 500, &result) == 0) {
            ASSERT_EQ (zfarm_result_status (result), ZFARM_EQUEUE_FULL);
            zfarm_result_destroy (&result);
            break;
        }
        accepted++;
    }
    zfarm_client_destroy (&client);
    return accepted;
}

/* Runs the broker expecting it to refuse to start; returns its stderr. */
static char *
s_refused (const char *const extra [])
{
    const char *argv [16] = { th_bin ("zfarm-broker"), "--config", s_path };
    int argc = 3;
    for (int i = 0; extra && extra [i]; i++)
        argv [argc++] = extra [i];
    argv [argc] = NULL;
    char *out, *err;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 10000);
    ASSERT (WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), 2);
    ASSERT (!zsys_file_exists (s_ready));   /* nothing was bound */
    free (out);
    return err;
}

static void
test_file_and_flags (void)
{
    char text [2048];
    snprintf (text, sizeof text,
              "# a comment\n\n"
              "broker\n"
              "    bind = \"%s\"\n"
              "    endpoint-file = \"%s\"\n"
              "    max-queue = 2\n"
              "    log-level = \"notice\"\n"
              "worker\n"
              "    service = \"ignored by the broker\"\n", s_ipc, s_ready);
    s_write (text);
    pid_t broker = s_start (NULL);
    ASSERT_EQ (s_queue_limit (), 2);
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 10000), 0);

    const char *flags [] = { "--max-queue", "4", NULL };
    broker = s_start (flags);
    ASSERT_EQ (s_queue_limit (), 4);
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 10000), 0);
}

static void
test_errors (void)
{
    char text [2048];
    snprintf (text, sizeof text, "broker\n    endpoint-file = \"%s\"\n"
              "    heartbeat = fast\n", s_ready);
    s_write (text);
    char *err = s_refused (NULL);
    ASSERT (strstr (err, ":3: --heartbeat: expected a number"));
    free (err);

    snprintf (text, sizeof text, "broker\n    endpoint-file = \"%s\"\n"
              "\n    max-queue = 5\n    colour = blue\n", s_ready);
    s_write (text);
    err = s_refused (NULL);
    ASSERT (strstr (err, ":5: unknown setting 'colour'"));
    free (err);

    s_write ("broker\n  half-indented = 1\n");
    err = s_refused (NULL);
    ASSERT (strstr (err, "cannot read it"));
    free (err);

    s_write ("broker\n    syslog = maybe\n");
    err = s_refused (NULL);
    ASSERT (strstr (err, ":2: syslog: expected true or false"));
    free (err);

    const char *bad_level [] = { "--log-level", "loud", NULL };
    s_write ("broker\n");
    err = s_refused (bad_level);
    ASSERT (strstr (err, "--log-level: expected error, warning"));
    free (err);

    char missing [600];
    snprintf (missing, sizeof missing, "%s.missing", s_path);
    const char *argv [] = { th_bin ("zfarm-broker"), "--config", missing, NULL };
    char *out;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 10000);
    ASSERT_EQ (WEXITSTATUS (status), 2);
    ASSERT (strstr (err, "cannot read it"));
    free (out);
    free (err);
}

static void
test_reload (void)
{
    char text [2048];
    snprintf (text, sizeof text, "broker\n    bind = \"%s\"\n"
              "    endpoint-file = \"%s\"\n    max-queue = 2\n", s_ipc, s_ready);
    s_write (text);
    pid_t broker = s_start (NULL);
    ASSERT_EQ (s_queue_limit (), 2);

    snprintf (text, sizeof text, "broker\n    bind = \"%s\"\n"
              "    endpoint-file = \"%s\"\n    max-queue = 3\n"
              "    heartbeat = 200\n    http = \"127.0.0.1:1\"\n", s_ipc,
              s_ready);
    s_write (text);
    th_kill (broker, SIGHUP);
    char log [600];
    snprintf (log, sizeof log, "%s/broker.err", th_tmpdir ());
    char *logged = NULL;
    for (int i = 0; i < 1000; i++) {
        free (logged);
        logged = th_read_file (log, NULL);
        if (logged && strstr (logged, "reloaded"))
            break;
        zclock_sleep (10);
    }
    ASSERT (logged && strstr (logged, "reloaded"));
    ASSERT (strstr (logged, "heartbeat cannot change while the broker runs"));
    ASSERT (strstr (logged, "http cannot change while the broker runs"));
    free (logged);
    /* The first round's client cancelled its tasks as it went. */
    ASSERT_EQ (s_queue_limit (), 3);
    th_kill (broker, SIGTERM);
    ASSERT_EQ (th_reap (broker, 10000), 0);
}

int
main (void)
{
    snprintf (s_path, sizeof s_path, "%s/zfarm.cfg", th_tmpdir ());
    snprintf (s_ipc, sizeof s_ipc, "ipc://%s/config.ipc", th_tmpdir ());
    snprintf (s_ready, sizeof s_ready, "%s/endpoints", th_tmpdir ());
    test_file_and_flags ();
    test_errors ();
    test_reload ();
    TEST_PASS ("test_broker_config");
    return 0;
}
