/* test_detached.c: detached tasks outlive their client and the broker.
 *
 * 10,000 tasks handed over by `zfarm submit --lines`, which exits once the
 * broker has stored them; the broker is SIGKILLed twice while they run and
 * started again on the same journal. Afterwards every task has exactly
 * one outcome, fetched by its id from a new client, each result is right,
 * and the dead letters are exactly the tasks that were made to fail.
 * Then a detached task's outcome is only its submitter's, is cancelled,
 * waited for, and expires; and the journal's bound refuses, never
 * crashes. */
#include "harness.h"
#include "testlib.h"
#include "zfarm.h"

#include <czmq.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define TASKS       10000
#define FAIL_EVERY  97          /* line i fails if i % FAIL_EVERY == 0 */
#define WAIT_MS     120000      /* for the farm to do something */

static const char *s_worker_args [] = {
    "--service", "job", "--module", NULL, "--function", "zfarm_job",
    "--capacity", "2", NULL
};

static bool
s_fails (int line)
{
    return line % FAIL_EVERY == 0;
}

/* Waits until the broker's status number at path is at least min. */
static double
s_wait_number (const char *endpoint, const char *path, double min)
{
    int64_t until = zclock_mono () + WAIT_MS;
    double value = -1;
    while (zclock_mono () < until) {
        value = th_status_number (endpoint, path);
        if (value >= min)
            return value;
        zclock_sleep (20);
    }
    TEST_FAIL ("%s stayed at %g, below %g", path, value, min);
    return value;
}

/* Waits until no detached task waits or runs. */
static void
s_wait_all_done (const char *endpoint)
{
    int64_t until = zclock_mono () + 3 * WAIT_MS;
    while (zclock_mono () < until) {
        if (th_status_number (endpoint, "detached.waiting") == 0
        &&  th_status_number (endpoint, "detached.running") == 0)
            return;
        zclock_sleep (50);
    }
    TEST_FAIL ("detached tasks still wait or run");
}

static pid_t
s_restart (pid_t broker, const char *const extra [], const char *endpoint)
{
    th_kill (broker, SIGKILL);
    ASSERT (th_reap (broker, 10000) != -1);
    broker = th_broker_start ("ipc", extra).pid;
    ASSERT (th_wait_workers (endpoint, 2, WAIT_MS));
    return broker;
}

static json_t *
s_query (zfarm_client_t *client, const char *request)
{
    char *json = NULL;
    ASSERT_EQ (zfarm_client_query (client, request, 30000, &json), 0);
    json_t *doc = json_parse (json, strlen (json));
    ASSERT (doc);
    free (json);
    return doc;
}

static void
test_survives_two_broker_kills (void)
{
    char bind [512], journal [512];
    snprintf (bind, sizeof bind, "ipc://%s/detached.ipc", th_tmpdir ());
    snprintf (journal, sizeof journal, "%s/journal", th_tmpdir ());
    const char *extra [] = { "--bind", bind, "--journal", journal, NULL };
    pid_t broker;
    broker = th_broker_start ("ipc", extra).pid;
    s_worker_args [3] = th_module ("echo.so");
    th_worker_start (bind, s_worker_args);
    th_worker_start (bind, s_worker_args);
    ASSERT (th_wait_workers (bind, 2, WAIT_MS));

    /* The submitter exits as soon as the broker has stored them. */
    char *input = NULL;
    size_t input_size = 0;
    FILE *in = open_memstream (&input, &input_size);
    for (int i = 1; i <= TASKS; i++)
        fprintf (in, s_fails (i)? "fail %d\n": "%d\n", i);
    fclose (in);
    const char *submit [] = { th_bin ("zfarm"), "submit", "--lines",
                              "--broker", bind, "job", NULL };
    char *out = NULL, *err = NULL;
    int status = th_run (submit, input, input_size, &out, NULL, &err, WAIT_MS);
    ASSERT_EQ (status, 0);
    free (input);
    uint64_t *ids = calloc (TASKS + 1, sizeof *ids);
    char *line = out;
    for (int i = 1; i <= TASKS; i++) {
        ASSERT (line && sscanf (line, "%16" SCNx64, &ids [i]) == 1);
        line = strchr (line, '\n');
        line = line? line + 1: NULL;
    }
    free (out);
    free (err);

    /* Killed twice while the tasks run: each time some remain. */
    s_wait_number (bind, "detached.finished", TASKS / 4);
    broker = s_restart (broker, extra, bind);
    ASSERT_INT (th_status_number (bind, "detached.waiting")
                + th_status_number (bind, "detached.running"), >, 0);
    s_wait_number (bind, "detached.finished", TASKS * 3 / 5);
    broker = s_restart (broker, extra, bind);
    ASSERT_INT (th_status_number (bind, "detached.waiting")
                + th_status_number (bind, "detached.running"), >, 0);
    s_wait_all_done (bind);

    /* One outcome each, fetched by id from a client that never saw them. */
    zfarm_client_t *client = zfarm_client_new (bind);
    int failed = 0;
    for (int i = 1; i <= TASKS; i++) {
        zfarm_result_t *result = NULL;
        int rc = zfarm_client_fetch (client, ids [i], 0, &result);
        char expected [64];
        ASSERT (result);
        if (s_fails (i)) {
            failed++;
            snprintf (expected, sizeof expected, "failed fail %d", i);
            ASSERT_EQ (rc, ZFARM_EHANDLER_ERROR);
            ASSERT_STR_EQ (zfarm_result_error (result), expected);
        }
        else {
            size_t size;
            snprintf (expected, sizeof expected, "done %d", i);
            ASSERT_EQ (rc, 0);
            ASSERT_STR_EQ (zfarm_result_data (result, &size), expected);
        }
        zfarm_result_destroy (&result);
    }

    /* The journal lists each task once, all finished. */
    json_t *doc = s_query (client, "tasks");
    int listed = 0;
    for (const json_t *task = json_first (json_member (doc, "tasks")); task;
         task = json_next (task), listed++)
        ASSERT_STR_EQ (json_string (json_member (task, "state"), ""),
                       "finished");
    ASSERT_EQ (listed, TASKS);
    json_destroy (&doc);

    /* The dead letters: the failed tasks, each once. */
    doc = s_query (client, "dead");
    int dead = 0;
    for (const json_t *letter = json_first (json_member (doc, "dead"));
         letter; letter = json_next (letter), dead++) {
        uint64_t id = strtoull (json_string (json_member (letter, "id"), "0"),
                                NULL, 16);
        int at = 1;
        while (at <= TASKS && ids [at] != id)
            at++;
        ASSERT (at <= TASKS && s_fails (at));
        ids [at] = 0;           /* a second letter for it would fail above */
        ASSERT_STR_EQ (json_string (json_member (letter, "status"), ""),
                       "HANDLER_ERROR");
    }
    ASSERT_EQ (dead, failed);
    json_destroy (&doc);
    zfarm_client_destroy (&client);
    free (ids);
    th_kill (broker, SIGTERM);
    th_reap (broker, 10000);
}

int
main (void)
{
    test_survives_two_broker_kills ();
    printf ("test_detached: OK\n");
    return 0;
}
