/* test_detached_api.c: detached tasks and dead letters through the C API
 * and the zfarm tool, against real brokers and workers: a FETCH that waits
 * for its task, cancel, the result's time to live, the journal's bound
 * (QUEUE_FULL, while attached tasks go on), dead letters of attached
 * tasks (--dead-letter) shown, retried and dropped, the three sync modes,
 * the temporary journal of a broker without --journal, and the tool's
 * exit statuses. */
#include "harness.h"
#include "testlib.h"
#include "zfarm.h"

#include <czmq.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define WAIT_MS 30000

static char s_endpoint [512];

static pid_t
s_broker (const char *const extra [])
{
    pid_t pid;
    th_broker_t started = th_broker_start ("ipc", extra);
    pid = started.pid;
    snprintf (s_endpoint, sizeof s_endpoint, "%s", started.endpoint);
    return pid;
}

static void
s_stop (pid_t broker)
{
    th_kill (broker, SIGTERM);
    int status = th_reap (broker, 20000);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

static void
s_workers (void)
{
    const char *echo [] = { "--service", "echo", "--module",
                            th_module ("echo.so"), NULL };
    const char *slow [] = { "--service", "slow", "--exec", "sleep 0.5; cat",
                            NULL };
    const char *fail [] = { "--service", "bad", "--module",
                            th_module ("echo.so"), "--function", "zfarm_fail",
                            NULL };
    th_worker_start (s_endpoint, echo);
    th_worker_start (s_endpoint, slow);
    th_worker_start (s_endpoint, fail);
    ASSERT (th_wait_workers (s_endpoint, 3, WAIT_MS));
}

/* Runs the zfarm tool; returns its exit status, stdout in *out_p. */
static int
s_tool (const char *const args [], char **out_p)
{
    /* The broker first: options go before a command's arguments. */
    const char *argv [16] = { th_bin ("zfarm"), args [0], "--broker",
                              s_endpoint };
    int argc = 4;
    for (int i = 1; args [i]; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    char *out = NULL, *err = NULL;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, WAIT_MS);
    free (err);
    if (out_p)
        *out_p = out;
    else
        free (out);
    ASSERT (WIFEXITED (status));
    return WEXITSTATUS (status);
}

static void
test_fetch_waits_and_cancel (zfarm_client_t *client)
{
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit_detached (client, "slow", "tortoise", 8, 0,
                                             WAIT_MS, &id), 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_fetch (client, id, WAIT_MS, &result), 0);
    size_t size;
    ASSERT_STR_EQ (zfarm_result_data (result, &size), "tortoise");
    zfarm_result_destroy (&result);

    /* A task no worker serves waits; cancelled, it stays CANCELLED. */
    ASSERT_EQ (zfarm_client_submit_detached (client, "nobody", "x", 1, 0,
                                             WAIT_MS, &id), 0);
    ASSERT_EQ (zfarm_client_fetch (client, id, 300, &result), ZFARM_EPENDING);
    ASSERT_STR_EQ (zfarm_result_error (result), "waiting");
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_cancel_detached (client, id, WAIT_MS),
               ZFARM_ECANCELLED);
    ASSERT_EQ (zfarm_client_fetch (client, id, 0, &result), ZFARM_ECANCELLED);
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_cancel_detached (client, id, WAIT_MS),
               ZFARM_ECANCELLED);
    ASSERT_EQ (zfarm_client_fetch (client, 12345, 0, &result),
               ZFARM_ENOT_FOUND);
    zfarm_result_destroy (&result);
    TEST_PASS ("a fetch waits for its task; a waiting task is cancelled");
}

static void
test_dead_letters_of_attached_tasks (zfarm_client_t *client)
{
    zfarm_client_set_retries (client, 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_call (client, "bad", "poison\n", 7, WAIT_MS,
                                  &result), ZFARM_EHANDLER_ERROR);
    zfarm_result_destroy (&result);
    char *json = NULL;
    ASSERT_EQ (zfarm_client_query (client, "dead", WAIT_MS, &json), 0);
    json_t *doc = json_parse (json, strlen (json));
    const json_t *letter = json_first (json_member (doc, "dead"));
    ASSERT (letter && !json_next (letter));
    ASSERT_STR_EQ (json_string (json_member (letter, "status"), ""),
                   "HANDLER_ERROR");
    long number = (long) json_number (json_member (letter, "number"), 0);
    json_destroy (&doc);
    free (json);

    /* Shown by the tool: each attempt, and the payload, escaped. */
    char text [32];
    snprintf (text, sizeof text, "%ld", number);
    const char *show [] = { "dead", "show", text, NULL };
    char *out;
    ASSERT_EQ (s_tool (show, &out), 0);
    ASSERT (strstr (out, "attempt 1: HANDLER_ERROR: failed on purpose"));
    ASSERT (strstr (out, "payload (7 bytes): poison\\n"));
    free (out);

    /* Retried as a detached task, which fails too: a new letter. */
    const char *retry [] = { "dead", "retry", "--all", NULL };
    ASSERT_EQ (s_tool (retry, &out), 0);
    uint64_t id = 0;
    ASSERT (sscanf (out, "%*d %16" SCNx64, &id) == 1 && id);
    free (out);
    ASSERT_EQ (zfarm_client_fetch (client, id, WAIT_MS, &result),
               ZFARM_EHANDLER_ERROR);
    zfarm_result_destroy (&result);
    const char *list [] = { "dead", NULL };
    ASSERT_EQ (s_tool (list, &out), 0);
    snprintf (text, sizeof text, "%016" PRIx64, id);
    ASSERT (strstr (out, text));
    free (out);
    const char *drop [] = { "dead", "drop", "--all", NULL };
    ASSERT_EQ (s_tool (drop, &out), 0);
    ASSERT_STR_EQ (out, "dropped 1\n");
    free (out);
    ASSERT_EQ (zfarm_client_query (client, "dead", WAIT_MS, &json), 0);
    ASSERT_STR_EQ (json, "{\"dead\":[],\"truncated\":false}");
    free (json);
    zfarm_client_set_retries (client, -1);
    TEST_PASS ("--dead-letter keeps failed attached tasks: shown, retried,"
               " dropped");
}

static void
test_tool (void)
{
    char *out;
    const char *submit [] = { "submit", "echo", "from the tool", NULL };
    ASSERT_EQ (s_tool (submit, &out), 0);
    char id [17];
    ASSERT (sscanf (out, "%16s", id) == 1 && strlen (id) == 16);
    free (out);
    const char *result [] = { "result", "--wait", "--timeout", "20000", id,
                              NULL };
    ASSERT_EQ (s_tool (result, &out), 0);
    ASSERT_STR_EQ (out, "from the tool");
    free (out);
    const char *later [] = { "submit", "nobody", "x", NULL };
    ASSERT_EQ (s_tool (later, &out), 0);
    ASSERT (sscanf (out, "%16s", id) == 1);
    free (out);
    const char *pending [] = { "result", id, NULL };
    ASSERT_EQ (s_tool (pending, NULL), 4);
    const char *tasks [] = { "tasks", "--state", "queued", NULL };
    ASSERT_EQ (s_tool (tasks, &out), 0);
    ASSERT (strstr (out, id) && strstr (out, "nobody"));
    free (out);
    const char *cancel [] = { "cancel", id, NULL };
    ASSERT_EQ (s_tool (cancel, &out), 0);
    ASSERT_STR_EQ (out, "CANCELLED\n");
    free (out);
    const char *bad_id [] = { "result", "xyz", NULL };
    ASSERT_EQ (s_tool (bad_id, NULL), 2);
    const char *bad_dead [] = { "dead", "bury", NULL };
    ASSERT_EQ (s_tool (bad_dead, NULL), 2);
    const char *bad_state [] = { "tasks", "--state", "asleep", NULL };
    ASSERT_EQ (s_tool (bad_state, NULL), 2);
    const char *unknown [] = { "result", "00000000000000ff", NULL };
    ASSERT_EQ (s_tool (unknown, NULL), 1);
    TEST_PASS ("zfarm submit, result, tasks, cancel and their exit statuses");
}

/* Results go after --result-ttl; the journal's bound refuses detached
 * submits with QUEUE_FULL while attached tasks still run. */
static void
test_ttl_and_bound (void)
{
    char journal [512];
    snprintf (journal, sizeof journal, "%s/bounded", th_tmpdir ());
    const char *extra [] = { "--journal", journal, "--result-ttl", "1",
                             "--journal-max-bytes", "1048576",
                             "--heartbeat", "100", "--dead-max", "2", NULL };
    pid_t broker = s_broker (extra);
    s_workers ();
    zfarm_client_t *client = zfarm_client_new (s_endpoint);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit_detached (client, "echo", "brief", 5, 0,
                                             WAIT_MS, &id), 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_fetch (client, id, WAIT_MS, &result), 0);
    zfarm_result_destroy (&result);
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++) {
        zclock_sleep (50);
        rc = zfarm_client_fetch (client, id, 0, &result);
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (rc, ZFARM_ENOT_FOUND);
    ASSERT_INT (th_status_number (s_endpoint, "detached.expired"), >=, 1);

    /* Three dead letters past --dead-max 2: the oldest goes, counted. */
    uint64_t failed [3];
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ (zfarm_client_submit_detached (client, "bad", "x", 1, 0,
                                                 WAIT_MS, &failed [i]), 0);
        ASSERT_EQ (zfarm_client_fetch (client, failed [i], WAIT_MS, &result),
                   ZFARM_EHANDLER_ERROR);
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ ((long) th_status_number (s_endpoint, "detached.dead"), 2);
    ASSERT_EQ ((long) th_status_number (s_endpoint, "detached.dead_dropped"), 1);
    char *json = NULL, hex [17];
    ASSERT_EQ (zfarm_client_query (client, "dead", WAIT_MS, &json), 0);
    snprintf (hex, sizeof hex, "%016" PRIx64, failed [0]);
    ASSERT (!strstr (json, hex));
    snprintf (hex, sizeof hex, "%016" PRIx64, failed [2]);
    ASSERT (strstr (json, hex));
    free (json);

    /* 64 KiB each, to a service no one serves, so that they stay. */
    size_t size = 64 * 1024;
    char *big = calloc (1, size);
    int stored = 0;
    for (rc = 0; rc == 0 && stored < 64; stored++)
        rc = zfarm_client_submit_detached (client, "nobody", big, size, 0,
                                           WAIT_MS, &id);
    ASSERT_EQ (rc, ZFARM_EQUEUE_FULL);
    ASSERT_INT (stored, >, 8);
    free (big);
    char *text = NULL;
    ASSERT_EQ (th_call (s_endpoint, "echo", "attached", WAIT_MS, &text), 0);
    ASSERT_STR_EQ (text, "attached");
    free (text);
    zfarm_client_destroy (&client);
    s_stop (broker);
    TEST_PASS ("results expire; --dead-max drops the oldest; a full journal"
               " refuses detached tasks only");
}

/* Each sync mode stores and serves; "always" and "batch" fsync, "off"
 * never; without --journal the journal is temporary. */
static void
test_sync_modes (void)
{
    const char *modes [] = { "always", "batch", "off" };
    for (int i = 0; i < 3; i++) {
        char journal [512];
        snprintf (journal, sizeof journal, "%s/sync-%s", th_tmpdir (),
                  modes [i]);
        const char *extra [] = { "--journal", journal, "--journal-sync",
                                 modes [i], NULL };
        pid_t broker = s_broker (extra);
        s_workers ();
        zfarm_client_t *client = zfarm_client_new (s_endpoint);
        uint64_t id;
        ASSERT_EQ (zfarm_client_submit_detached (client, "echo", "m", 1, 0,
                                                 WAIT_MS, &id), 0);
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_fetch (client, id, WAIT_MS, &result), 0);
        zfarm_result_destroy (&result);
        json_t *doc = th_status_doc (s_endpoint);
        ASSERT_STR_EQ (json_string (th_json_path (doc, "detached.journal.sync"),
                                    ""), modes [i]);
        double fsyncs = json_number (th_json_path (doc,
                                     "detached.journal.fsyncs"), -1);
        ASSERT (i == 2? fsyncs == 0: fsyncs > 0);
        json_destroy (&doc);
        zfarm_client_destroy (&client);
        s_stop (broker);
    }

    pid_t broker = s_broker (NULL);
    s_workers ();
    ASSERT (th_status_number (s_endpoint, "detached.submitted") == 0);
    zfarm_client_t *client = zfarm_client_new (s_endpoint);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit_detached (client, "echo", "t", 1, 0,
                                             WAIT_MS, &id), 0);
    json_t *doc = th_status_doc (s_endpoint);
    char *dir = strdup (json_string (th_json_path (doc,
                                     "detached.journal.dir"), ""));
    json_destroy (&doc);
    struct stat info;
    ASSERT (*dir && stat (dir, &info) == 0);
    zfarm_client_destroy (&client);
    s_stop (broker);
    ASSERT (stat (dir, &info) != 0);
    free (dir);
    TEST_PASS ("sync modes always, batch and off; a temporary journal");
}

int
main (void)
{
    char journal [512];
    snprintf (journal, sizeof journal, "%s/journal", th_tmpdir ());
    const char *extra [] = { "--journal", journal, "--dead-letter", NULL };
    pid_t broker = s_broker (extra);
    s_workers ();
    zfarm_client_t *client = zfarm_client_new (s_endpoint);
    test_fetch_waits_and_cancel (client);
    test_dead_letters_of_attached_tasks (client);
    test_tool ();
    zfarm_client_destroy (&client);
    s_stop (broker);
    test_ttl_and_bound ();
    test_sync_modes ();
    return 0;
}
