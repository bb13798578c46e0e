/* test_journal_full.c: a full disk ends detached submits with a clear
 * error and the broker keeps serving attached tasks.
 *
 * The broker runs in a mount namespace of its own (unshare -m) whose
 * journal directory is a 2 MiB tmpfs: detached tasks of 64 KiB fill it
 * long before --journal-max-bytes would. Needs root (to mount); skipped
 * (77) without it. */
#include "harness.h"
#include "testlib.h"
#include "zfarm.h"

#include <czmq.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 30000

int
main (void)
{
    if (geteuid () != 0 || access ("/usr/bin/unshare", X_OK) != 0) {
        printf ("test_journal_full: skipped: needs root and unshare(1)\n");
        return 77;
    }
    char endpoint [512], journal [512], script [2048];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/full.ipc", th_tmpdir ());
    snprintf (journal, sizeof journal, "%s/small", th_tmpdir ());
    ASSERT_EQ (zsys_dir_create ("%s", journal), 0);
    snprintf (script, sizeof script,
              "mount -t tmpfs -o size=2m zfarm-test '%s' && exec '%s'"
              " --bind '%s' --journal '%s'", journal, th_bin ("zfarm-broker"),
              endpoint, journal);
    const char *argv [] = { "/usr/bin/unshare", "--mount",
                            "--propagation", "private", "/bin/sh", "-c",
                            script, NULL };
    pid_t broker = th_spawn ("broker", argv);
    int64_t until = zclock_mono () + WAIT_MS;
    char *status = NULL;
    while (!status && zclock_mono () < until && th_alive (broker))
        status = th_status (endpoint);
    if (!status) {
        th_kill (broker, SIGKILL);
        th_reap (broker, 5000);
        printf ("test_journal_full: skipped: cannot mount a tmpfs here\n");
        return 77;
    }
    free (status);
    const char *echo [] = { "--service", "echo", "--module",
                            th_module ("echo.so"), NULL };
    th_worker_start (endpoint, echo);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));

    zfarm_client_t *client = zfarm_client_new (endpoint);
    size_t size = 64 * 1024;
    char *big = calloc (1, size);
    uint64_t id;
    int rc = 0, stored = 0;
    for (; rc == 0 && stored < 100; stored++)
        rc = zfarm_client_submit_detached (client, "nobody", big, size, 0,
                                           WAIT_MS, &id);
    ASSERT_EQ (rc, ZFARM_EQUEUE_FULL);
    ASSERT_INT (th_status_number (endpoint, "detached.journal.write_errors"),
                >, 0);
    /* The next is refused as clearly, and says why. */
    const void *data [1] = { big };
    int code;
    ASSERT_EQ (zfarm_client_submit_detached_batch (client, "nobody", 1, data,
                                                   &size, 0, WAIT_MS, &id,
                                                   &code), ZFARM_EQUEUE_FULL);
    free (big);
    char *text = NULL;
    ASSERT_EQ (th_call (endpoint, "echo", "still here", WAIT_MS, &text), 0);
    ASSERT_STR_EQ (text, "still here");
    free (text);
    /* What was stored before the disk filled is still there. */
    ASSERT_INT (th_status_number (endpoint, "detached.waiting"), >, 0);
    zfarm_client_destroy (&client);
    char log [600];
    snprintf (log, sizeof log, "%s/broker.err", th_tmpdir ());
    char *err = th_read_file (log, NULL);
    ASSERT (err && strstr (err, "journal: cannot write")
            && strstr (err, "No space left on device"));
    free (err);
    th_kill (broker, SIGTERM);
    int exit_status = th_reap (broker, 20000);
    ASSERT (WIFEXITED (exit_status) && WEXITSTATUS (exit_status) == 0);
    printf ("test_journal_full: OK (%d stored before the disk was full)\n",
            stored - 1);
    return 0;
}
