/* test_retry.c: retries by failure kind, with back-off.
 *
 * echo.so's zfarm_flaky fails its first N attempts and records each one
 * (attempt, pid, time, the failure it was told of) in a file. Through a
 * real broker and two real workers: a call that retries HANDLER_ERROR
 * with a back-off of 100..400 ms returns the third attempt's result; the
 * attempts were spaced at least by the back-off's lower bounds (read from
 * the times the handler recorded), each retry ran on the other worker and
 * was told how the attempt before failed. Without a policy a handler's
 * failure is final; a permanent failure is never retried; retries run
 * out; a service's policy in the broker's flags applies to calls that set
 * none; a task backing off shows in the status and can be cancelled;
 * --max-call-time's TIMEOUT is retried when asked; an --exec command sees
 * ZFARM_LAST_ERROR and fails permanently with exit status 65; and the
 * zfarm tool's --retry-on and --backoff work, and refuse what they
 * cannot do. */
#include "harness.h"
#include "testlib.h"
#include "zfarm.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 20000           /* workers to register */
#define CALL_MS 30000           /* a call's timeout */

typedef struct {
    unsigned attempt;
    int pid;
    long long ms;               /* CLOCK_REALTIME, when it started */
    char last_code [32];        /* "-" on the first */
    char last_error [256];
} attempt_t;

/* Reads the attempts zfarm_flaky recorded in path; returns how many. */
static int
s_attempts (const char *path, attempt_t *attempts, int max)
{
    char *text = th_read_file (path, NULL);
    int count = 0;
    for (char *line = text; line && *line && count < max; ) {
        char *end = strchr (line, '\n');
        if (end)
            *end = 0;
        attempt_t *a = &attempts [count];
        int used = 0;
        if (sscanf (line, "%u %d %lld %31s %n", &a->attempt, &a->pid, &a->ms,
                    a->last_code, &used) >= 4) {
            snprintf (a->last_error, sizeof a->last_error, "%s", line + used);
            count++;
        }
        line = end? end + 1: NULL;
    }
    free (text);
    return count;
}

/* A fresh file for one call's attempts. */
static char *
s_record (const char *name)
{
    char *path = zsys_sprintf ("%s/%s.attempts", th_tmpdir (), name);
    remove (path);
    return path;
}

/* Calls flaky once with the client's policy; returns the code, with the
 * result's text in *text_p (caller frees). */
static int
s_call (const char *endpoint, const char *service, const char *payload,
        unsigned codes, int backoff_min, int backoff_max, int retries,
        char **text_p)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    if (codes || backoff_max)
        ASSERT_EQ (zfarm_client_set_retry (client, codes, backoff_min,
                                           backoff_max), 0);
    zfarm_client_set_retries (client, retries);
    zfarm_result_t *result = NULL;
    int rc = zfarm_client_call (client, service, payload, strlen (payload),
                                CALL_MS, &result);
    ASSERT (result);
    const char *text = rc == 0? zfarm_result_data (result, NULL)
                              : zfarm_result_error (result);
    *text_p = strdup (text? text: "");
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    return rc;
}

static pid_t
s_flaky_worker (const char *endpoint, const char *service)
{
    const char *extra [] = { "--service", service, "--module",
                             th_module ("echo.so"), "--function",
                             "zfarm_flaky", NULL };
    return th_worker_start (endpoint, extra);
}

/* Two failures, a back-off of 100..400 ms, and the third attempt's reply.
 * The waits are at least 100 and 200 ms (each step, at the least); the
 * attempts alternate between the two workers; each retry knows the
 * failure before it. */
static void
test_backoff (const char *endpoint)
{
    char *path = s_record ("backoff");
    char payload [512];
    snprintf (payload, sizeof payload, "%s 2", path);
    char *text;
    ASSERT_EQ (s_call (endpoint, "flaky", payload,
                       ZFARM_RETRY_ON (ZFARM_EHANDLER_ERROR), 100, 400, 3,
                       &text), 0);
    ASSERT_STR_EQ (text, "ok after 3");
    free (text);
    attempt_t a [8];
    ASSERT_EQ (s_attempts (path, a, 8), 3);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ (a [i].attempt, (unsigned) i + 1);
    ASSERT_STR_EQ (a [0].last_code, "-");
    ASSERT_STR_EQ (a [1].last_code, "HANDLER_ERROR");
    ASSERT_STR_EQ (a [1].last_error, "transient failure 1");
    ASSERT_STR_EQ (a [2].last_code, "HANDLER_ERROR");
    ASSERT_STR_EQ (a [2].last_error, "transient failure 2");
    if (a [1].ms - a [0].ms < 100 || a [2].ms - a [1].ms < 200)
        TEST_FAIL ("attempts at %lld, %lld, %lld ms: closer than the"
                   " back-off's 100 and 200 ms", a [0].ms, a [1].ms, a [2].ms);
    ASSERT (a [1].pid != a [0].pid);
    ASSERT (a [2].pid != a [1].pid);
    free (path);
}

/* A retry never runs on the worker that just failed it while another
 * exists: with that other worker busy (1.5 s), the retry waits for it
 * rather than take the idle one it failed on. */
static void
test_avoid (const char *endpoint)
{
    char *busy_path = s_record ("busy"), *path = s_record ("avoid");
    char busy [512], payload [512];
    snprintf (busy, sizeof busy, "%s 0 sleep=1500", busy_path);
    snprintf (payload, sizeof payload, "%s 1", path);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_set_retry (client,
                                       ZFARM_RETRY_ON (ZFARM_EHANDLER_ERROR),
                                       0, 0), 0);
    ASSERT_EQ (zfarm_client_submit (client, "flaky", busy, strlen (busy),
                                    CALL_MS, NULL), 0);
    /* Only once the busy task runs, so that the other worker takes this. */
    attempt_t a [4], b [4];
    for (int i = 0; i < 500 && s_attempts (busy_path, b, 4) == 0; i++)
        zclock_sleep (10);
    ASSERT_EQ (zfarm_client_submit (client, "flaky", payload, strlen (payload),
                                    CALL_MS, NULL), 0);
    for (int results = 0; results < 2; results++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, CALL_MS, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (s_attempts (busy_path, b, 4), 1);
    ASSERT_EQ (s_attempts (path, a, 4), 2);
    ASSERT (a [0].pid != b [0].pid);
    ASSERT_EQ (a [1].pid, b [0].pid);
    zfarm_client_destroy (&client);
    free (busy_path);
    free (path);
}

/* No policy: a handler's failure is the result, after one attempt. */
static void
test_no_policy (const char *endpoint)
{
    char *path = s_record ("nopolicy");
    char payload [512];
    snprintf (payload, sizeof payload, "%s 1", path);
    char *text;
    ASSERT_EQ (s_call (endpoint, "flaky", payload, 0, 0, 0, -1, &text),
               ZFARM_EHANDLER_ERROR);
    ASSERT_STR_EQ (text, "transient failure 1");
    free (text);
    attempt_t a [4];
    ASSERT_EQ (s_attempts (path, a, 4), 1);
    free (path);
}

/* A permanent failure ends the task whatever its policy says. */
static void
test_permanent (const char *endpoint)
{
    char *path = s_record ("permanent");
    char payload [512];
    snprintf (payload, sizeof payload, "%s 5 permanent", path);
    char *text;
    ASSERT_EQ (s_call (endpoint, "flaky", payload,
                       ZFARM_RETRY_ON (ZFARM_EHANDLER_ERROR), 10, 20, 3, &text),
               ZFARM_EHANDLER_ERROR);
    ASSERT_STR_EQ (text, "permanent failure 1");
    free (text);
    attempt_t a [4];
    ASSERT_EQ (s_attempts (path, a, 4), 1);
    free (path);
}

/* One retry allowed, and both attempts fail: the last failure is the
 * result. */
static void
test_retries_spent (const char *endpoint)
{
    char *path = s_record ("spent");
    char payload [512];
    snprintf (payload, sizeof payload, "%s 5", path);
    char *text;
    ASSERT_EQ (s_call (endpoint, "flaky", payload,
                       ZFARM_RETRY_ON (ZFARM_EHANDLER_ERROR), 0, 0, 1, &text),
               ZFARM_EHANDLER_ERROR);
    ASSERT_STR_EQ (text, "transient failure 2");
    free (text);
    attempt_t a [4];
    ASSERT_EQ (s_attempts (path, a, 4), 2);
    free (path);
}

/* The broker's --retry-on flaky2=HANDLER_ERROR: a call that sets no policy
 * is retried on flaky2, and not on flaky. */
static void
test_service_policy (const char *endpoint)
{
    char *path = s_record ("service");
    char payload [512];
    snprintf (payload, sizeof payload, "%s 1", path);
    char *text;
    ASSERT_EQ (s_call (endpoint, "flaky2", payload, 0, 0, 0, -1, &text), 0);
    ASSERT_STR_EQ (text, "ok after 2");
    free (text);
    free (path);
}

/* A task that waits out a long back-off is counted as backing_off in the
 * status, and a cancel ends it there. */
static void
test_cancel_backing_off (const char *endpoint)
{
    char *path = s_record ("cancel");
    char payload [512];
    snprintf (payload, sizeof payload, "%s 5", path);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_set_retry (client,
                                       ZFARM_RETRY_ON (ZFARM_EHANDLER_ERROR),
                                       600000, 600000), 0);
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "flaky", payload, strlen (payload),
                                    CALL_MS, &id), 0);
    bool seen = false;
    for (int i = 0; i < 500 && !seen; i++) {
        seen = th_status_number (endpoint,
                                 "services[name=flaky].backing_off") == 1;
        if (!seen)
            zclock_sleep (20);
    }
    ASSERT (seen);
    ASSERT_EQ (zfarm_client_cancel (client, id), 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 5000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), ZFARM_ECANCELLED);
    zfarm_result_destroy (&result);
    bool gone = false;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = th_status_number (endpoint,
                                 "services[name=flaky].backing_off") == 0;
        if (!gone)
            zclock_sleep (20);
    }
    ASSERT (gone);
    attempt_t a [4];
    ASSERT_EQ (s_attempts (path, a, 4), 1);
    zfarm_client_destroy (&client);
    free (path);
}

/* A task over the broker's --max-call-time ends TIMEOUT (its local worker
 * killed and replaced), unless asked to retry TIMEOUT: then the next
 * attempt, which is quick, gives the result. */
static void
test_timeout_retried (void)
{
    char *script = zsys_sprintf ("%s/slow.sh", th_tmpdir ());
    FILE *file = fopen (script, "w");
    ASSERT (file);
    fputs ("if [ \"$ZFARM_ATTEMPT\" -ge 2 ]; then\n"
           "    echo \"quick after $ZFARM_LAST_STATUS\"\n"
           "else\n"
           "    exec sleep 30\n"
           "fi\n", file);
    fclose (file);
    char command [1024];
    snprintf (command, sizeof command, "%s --service slow --exec 'sh %s'",
              th_bin ("zfarm-worker"), script);
    const char *extra [] = { "--max-call-time", "1000", "--spawn", "2",
                             "--worker-cmd", command, NULL };
    char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    ASSERT (th_wait_workers (endpoint, 2, WAIT_MS));
    char *text;
    ASSERT_EQ (s_call (endpoint, "slow", "", 0, 0, 0, -1, &text),
               ZFARM_ETIMEOUT);
    free (text);
    ASSERT_EQ (s_call (endpoint, "slow", "", ZFARM_RETRY_ON (ZFARM_ETIMEOUT),
                       0, 0, 1, &text), 0);
    ASSERT_STR_EQ (text, "quick after TIMEOUT\n");
    free (text);
    free (endpoint);
    free (script);
}

/* An --exec command is told the failure before, and exit status 65 is a
 * permanent failure. */
static void
test_exec (void)
{
    char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    const char *command = "if [ \"$ZFARM_ATTEMPT\" -ge 2 ]; then"
                          " echo \"$ZFARM_LAST_STATUS: $ZFARM_LAST_ERROR\";"
                          " else echo \"no luck\" >&2; exit \"$(cat)\"; fi";
    const char *worker [] = { "--service", "cmd", "--exec", command, NULL };
    th_worker_start (endpoint, worker);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));
    char *text;
    unsigned handler = ZFARM_RETRY_ON (ZFARM_EHANDLER_ERROR);
    ASSERT_EQ (s_call (endpoint, "cmd", "3", handler, 0, 0, 2, &text), 0);
    ASSERT_STR_EQ (text, "HANDLER_ERROR: exit status 3: no luck\n");
    free (text);
    ASSERT_EQ (s_call (endpoint, "cmd", "65", handler, 0, 0, 2, &text),
               ZFARM_EHANDLER_ERROR);
    ASSERT_STR_EQ (text, "exit status 65: no luck");
    free (text);
    free (endpoint);
}

/* zfarm call --retry-on --backoff (with --priority and --delay, whose
 * option codes must not be taken for theirs), and what it refuses. */
static void
test_cli (const char *endpoint)
{
    char *path = s_record ("cli");
    char payload [512];
    snprintf (payload, sizeof payload, "%s 1", path);
    const char *ok [] = { th_bin ("zfarm"), "call", "--broker", endpoint,
                          "--retry-on", "handler_error,WORKER_LOST",
                          "--backoff", "10..20", "-r", "2", "--priority", "7",
                          "--delay", "20", "flaky", payload, NULL };
    char *out = NULL;
    ASSERT_EQ (th_run (ok, NULL, 0, &out, NULL, NULL, CALL_MS), 0);
    ASSERT_STR_EQ (out, "ok after 2");
    free (out);
    const char *bad_code [] = { th_bin ("zfarm"), "call", "--broker", endpoint,
                                "--retry-on", "CANCELLED", "flaky", payload,
                                NULL };
    char *out_bad = NULL, *err = NULL;
    ASSERT_EQ (th_run (bad_code, NULL, 0, &out_bad, NULL, &err, CALL_MS),
               2 << 8);
    free (out_bad);
    ASSERT (strstr (err, "--retry-on"));
    free (err);
    const char *bad_backoff [] = { th_bin ("zfarm"), "call", "--broker",
                                   endpoint, "--backoff", "400..100", "flaky",
                                   payload, NULL };
    ASSERT_EQ (th_run (bad_backoff, NULL, 0, &out_bad, NULL, &err, CALL_MS),
               2 << 8);
    free (out_bad);
    ASSERT (strstr (err, "--backoff"));
    free (err);
    free (path);
}

/* The C API refuses what the broker would not do. */
static void
test_api_bounds (const char *endpoint)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_set_retry (client,
                                       ZFARM_RETRY_ON (ZFARM_ECANCELLED), 0, 0),
               ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_set_retry (client, 0, 500, 100), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_set_retry (client, 0, 0, 3600001), ZFARM_EINVALID);
    zfarm_client_destroy (&client);
}

int
main (void)
{
    const char *extra [] = { "--retry-on", "flaky2=HANDLER_ERROR",
                             "--backoff", "flaky2=20..40", NULL };
    char *endpoint = strdup (th_broker_start ("ipc", extra).endpoint);
    s_flaky_worker (endpoint, "flaky");
    s_flaky_worker (endpoint, "flaky");
    s_flaky_worker (endpoint, "flaky2");
    ASSERT (th_wait_workers (endpoint, 3, WAIT_MS));
    test_backoff (endpoint);
    test_avoid (endpoint);
    test_no_policy (endpoint);
    test_permanent (endpoint);
    test_retries_spent (endpoint);
    test_service_policy (endpoint);
    test_cancel_backing_off (endpoint);
    test_cli (endpoint);
    test_api_bounds (endpoint);
    free (endpoint);
    test_timeout_retried ();
    test_exec ();
    TEST_PASS ("test_retry");
    return 0;
}
