/* test_client.c: the client library and the zfarm tool against a real
 * zfarm-broker and real `zfarm-worker --exec` workers.
 *
 * Reads as a tour of the client API: call, submit and wait, callbacks, the
 * pollable fd in the caller's own poll loop, cancel, the codes a program
 * switches on, and `zfarm call` moving payloads of every size unchanged. */
#include "harness.h"
#include "zfarm.h"

#include <czmq.h>
#include <poll.h>
#include <sys/wait.h>

#define WAIT_MS 10000           /* bound on anything that should be quick */

static char s_endpoint [512];

/* ---- the library ------------------------------------------------------- */

static void
test_call (zfarm_client_t *client)
{
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_call (client, "cat", "hello", 5, WAIT_MS, &result),
               0);
    size_t size;
    const char *data = zfarm_result_data (result, &size);
    ASSERT_EQ (size, 5);
    ASSERT_STR_EQ (data, "hello");
    ASSERT_EQ (zfarm_result_status (result), 0);
    ASSERT_STR_EQ (zfarm_result_error (result), "");
    ASSERT_EQ (zfarm_result_task_id (result), 1);       /* ids count from 1 */
    zfarm_result_destroy (&result);
    zfarm_result_destroy (&result);
    ASSERT (!result);

    /* An empty payload, and a call that does not want its result. */
    ASSERT_EQ (zfarm_client_call (client, "cat", NULL, 0, WAIT_MS, &result), 0);
    ASSERT_STR_EQ (zfarm_result_data (result, &size), "");
    ASSERT_EQ (size, 0);
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_call (client, "cat", "x", 1, WAIT_MS, NULL), 0);
    ASSERT_EQ (zfarm_client_pending (client), 0);
}

static void
test_submit_and_wait (zfarm_client_t *client)
{
    enum { TASKS = 40 };
    uint64_t ids [TASKS];
    for (int i = 0; i < TASKS; i++) {
        char payload [32];
        snprintf (payload, sizeof payload, "task %d", i);
        ASSERT_EQ (zfarm_client_submit (client, "cat", payload,
                                        strlen (payload), WAIT_MS, &ids [i]),
                   0);
    }
    ASSERT_EQ (zfarm_client_pending (client), TASKS);
    bool seen [TASKS] = { false };
    for (int count = 0; count < TASKS; count++) {
        zfarm_result_t *result;
        ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        int i = (int) (zfarm_result_task_id (result) - ids [0]);
        ASSERT (i >= 0 && i < TASKS && !seen [i]);
        seen [i] = true;
        char expected [32];
        snprintf (expected, sizeof expected, "task %d", i);
        ASSERT_STR_EQ (zfarm_result_data (result, NULL), expected);
        zfarm_result_destroy (&result);
    }
    ASSERT_EQ (zfarm_client_pending (client), 0);
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, 0, &result), ZFARM_ENOT_FOUND);
    ASSERT (!result);
}

typedef struct {
    int calls;                  /* callbacks run */
    int ok;                     /* ... with status 0 and the right data */
    int cancelled;              /* ... with CANCELLED */
} tally_t;

static void
s_count (zfarm_result_t *result, void *arg)
{
    tally_t *tally = arg;
    tally->calls++;
    if (zfarm_result_status (result) == ZFARM_ECANCELLED)
        tally->cancelled++;
    else
    if (zfarm_result_status (result) == 0
    &&  strcmp (zfarm_result_data (result, NULL), "cb") == 0)
        tally->ok++;
}

static void
test_callbacks (zfarm_client_t *client)
{
    tally_t tally = { 0, 0, 0 };
    for (int i = 0; i < 10; i++)
        ASSERT_EQ (zfarm_client_submit_cb (client, "cat", "cb", 2, WAIT_MS,
                                           s_count, &tally, NULL), 0);
    /* A plain task among them: wait returns its result, and runs the
     * callbacks that fall due meanwhile. */
    uint64_t plain;
    ASSERT_EQ (zfarm_client_submit (client, "cat", "plain", 5, WAIT_MS,
                                    &plain), 0);
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    ASSERT_EQ (zfarm_result_task_id (result), plain);
    zfarm_result_destroy (&result);

    /* With only callback tasks left, wait runs them all, then says there
     * is nothing more to wait for. */
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), ZFARM_ENOT_FOUND);
    ASSERT_EQ (tally.calls, 10);
    ASSERT_EQ (tally.ok, 10);

    /* A call that fails never calls back. */
    ASSERT_EQ (zfarm_client_submit_cb (client, "no space", "x", 1, 0,
                                       s_count, &tally, NULL), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_submit_cb (client, "cat", "x", 1, 0,
                                       NULL, NULL, NULL), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_dispatch (client), 0);
    ASSERT_EQ (tally.calls, 10);
}

/* The caller's own poll loop: wait on the fd for input and on
 * next_timeout for the client's deadlines, then dispatch. */
static void
test_pollable_fd (zfarm_client_t *client)
{
    tally_t tally = { 0, 0, 0 };
    enum { TASKS = 20 };
    for (int i = 0; i < TASKS; i++)
        ASSERT_EQ (zfarm_client_submit_cb (client, "cat", "cb", 2, WAIT_MS,
                                           s_count, &tally, NULL), 0);
    int fd = zfarm_client_fd (client);
    ASSERT_INT (fd, >=, 0);
    int64_t deadline = zclock_mono () + WAIT_MS;
    int made = 0;
    while (tally.calls < TASKS && zclock_mono () < deadline) {
        struct pollfd item = { fd, POLLIN, 0 };
        int timeout = zfarm_client_next_timeout (client);
        ASSERT_INT (timeout, >=, 0);    /* tasks are pending: PINGs are due */
        ASSERT_INT (poll (&item, 1, timeout), >=, 0);
        made += zfarm_client_dispatch (client);
    }
    ASSERT_EQ (tally.calls, TASKS);
    ASSERT_EQ (tally.ok, TASKS);
    ASSERT_EQ (made, TASKS);
    ASSERT_EQ (zfarm_client_pending (client), 0);
    ASSERT_EQ (zfarm_client_next_timeout (client), -1);
}

static void
test_cancel (zfarm_client_t *client)
{
    /* A task that is running: its result is CANCELLED, at once. */
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (client, "slow", "x", 1, WAIT_MS, &id), 0);
    ASSERT_EQ (zfarm_client_wait (client, 300, NULL), ZFARM_EINVALID);
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, 300, &result), ZFARM_ETIMEOUT);
    ASSERT_EQ (zfarm_client_cancel (client, id), 0);
    ASSERT_EQ (zfarm_client_cancel (client, id), ZFARM_ENOT_FOUND);
    ASSERT_EQ (zfarm_client_wait (client, 0, &result), 0);
    ASSERT_EQ (zfarm_result_task_id (result), id);
    ASSERT_EQ (zfarm_result_status (result), ZFARM_ECANCELLED);
    zfarm_result_destroy (&result);

    /* A task cancelled right after submit, whose result the broker may
     * already have sent: the client still delivers exactly one result. */
    tally_t tally = { 0, 0, 0 };
    ASSERT_EQ (zfarm_client_submit_cb (client, "cat", "cb", 2, WAIT_MS,
                                       s_count, &tally, &id), 0);
    ASSERT_EQ (zfarm_client_cancel (client, id), 0);
    ASSERT_EQ (tally.calls, 0);         /* callbacks run only in dispatch */
    ASSERT_EQ (zfarm_client_call (client, "cat", "after", 5, WAIT_MS, NULL), 0);
    ASSERT_EQ (zfarm_client_dispatch (client), 0);
    ASSERT_EQ (tally.calls, 1);
    ASSERT_EQ (tally.cancelled, 1);
    ASSERT_EQ (zfarm_client_cancel (client, 12345678), ZFARM_ENOT_FOUND);
    ASSERT_EQ (zfarm_client_pending (client), 0);
}

static void
test_error_codes (zfarm_client_t *client)
{
    /* The broker's verdicts, well inside the client's own grace second. */
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_call (client, "nosuch", "x", 1, 200, &result),
               ZFARM_ENO_SUCH_SERVICE);
    ASSERT_EQ (zfarm_result_status (result), ZFARM_ENO_SUCH_SERVICE);
    ASSERT_INT (strlen (zfarm_result_error (result)), >, 0);
    size_t size;
    zfarm_result_data (result, &size);
    ASSERT_EQ (size, 0);
    zfarm_result_destroy (&result);

    ASSERT_EQ (zfarm_client_call (client, "slow", "x", 1, 300, &result),
               ZFARM_ETIMEOUT);
    zfarm_result_destroy (&result);
    ASSERT_EQ (zfarm_client_call (client, "fail", "x", 1, WAIT_MS, &result),
               ZFARM_EHANDLER_ERROR);
    zfarm_result_destroy (&result);
}

static void
test_invalid_arguments (zfarm_client_t *client)
{
    zfarm_result_t *result = (zfarm_result_t *) &result;   /* not NULL */
    ASSERT_EQ (zfarm_client_call (client, NULL, "x", 1, 0, &result),
               ZFARM_EINVALID);
    ASSERT (!result);
    const char *bad [] = { "", "two words", "zfarm.status", "tab\t" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        ASSERT_EQ (zfarm_client_submit (client, bad [i], "x", 1, 0, NULL),
                   ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_submit (client, "cat", "x", 1, -1, NULL),
               ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_submit (client, "cat", NULL, 1, 0, NULL),
               ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_status (client, 0, NULL), ZFARM_EINVALID);
    ASSERT_EQ (zfarm_client_pending (client), 0);
}

static void
test_status (zfarm_client_t *client)
{
    char *json;
    ASSERT_EQ (zfarm_client_status (client, WAIT_MS, &json), 0);
    ASSERT (json [0] == '{');
    ASSERT (strstr (json, "\"workers\""));
    ASSERT (strstr (json, "\"cat\""));
    free (json);
}

static void
test_broker_down (void)
{
    char endpoint [600];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/nobody.ipc", th_tmpdir ());
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_call (client, "cat", "x", 1, 100, &result),
               ZFARM_EBROKER_DOWN);
    ASSERT (strstr (zfarm_result_error (result), endpoint));
    zfarm_result_destroy (&result);
    char *json;
    ASSERT_EQ (zfarm_client_status (client, 100, &json), ZFARM_EBROKER_DOWN);
    /* Abandoned tasks are fine at destroy. */
    ASSERT_EQ (zfarm_client_submit (client, "cat", "x", 1, 0, NULL), 0);
    zfarm_client_destroy (&client);
    zfarm_client_destroy (&client);

    ASSERT (!zfarm_client_new ("nonsense"));
    ASSERT (!zfarm_client_new ("tcp://"));
    setenv ("ZFARM_BROKER", s_endpoint, 1);
    client = zfarm_client_new (NULL);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_call (client, "cat", "env", 3, WAIT_MS, NULL), 0);
    zfarm_client_destroy (&client);
    unsetenv ("ZFARM_BROKER");
}

/* ---- the zfarm tool ---------------------------------------------------- */

static int
s_zfarm (const char *const args [], const void *in, size_t in_size,
         char **out_p, size_t *out_size_p, char **err_p)
{
    const char *argv [16] = { th_bin ("zfarm") };
    int argc = 1;
    for (; args [argc - 1]; argc++)
        argv [argc] = args [argc - 1];
    argv [argc] = NULL;
    int status = th_run (argv, in, in_size, out_p, out_size_p, err_p, 60000);
    ASSERT (status != -1 && WIFEXITED (status));
    return WEXITSTATUS (status);
}

/* Payloads of every size, random bytes with NULs, through stdin and back. */
static void
test_cli_payload_sizes (void)
{
    const size_t sizes [] = { 0, 1, 1000, 65536, 65537, 1 << 20, 10 << 20 };
    char *payload = malloc (10 << 20);
    uint32_t state = 12345;
    for (size_t i = 0; i < (size_t) 10 << 20; i++) {
        state = state * 1103515245 + 12345;
        payload [i] = (char) (state >> 16);
    }
    const char *args [] = { "call", "--broker", s_endpoint, "cat", NULL };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes [0]; i++) {
        char *out, *err;
        size_t out_size;
        ASSERT_EQ (s_zfarm (args, payload, sizes [i], &out, &out_size, &err),
                   0);
        ASSERT_EQ (out_size, sizes [i]);
        ASSERT_MEM_EQ (out, payload, sizes [i]);
        ASSERT_STR_EQ (err, "");
        free (out);
        free (err);
    }
    free (payload);

    const char *arg_payload [] = { "call", "-b", s_endpoint, "cat", "-x y",
                                   NULL };
    char *out, *err;
    ASSERT_EQ (s_zfarm (arg_payload, NULL, 0, &out, NULL, &err), 0);
    ASSERT_STR_EQ (out, "-x y");
    free (out);
    free (err);
}

static void
test_cli_errors (void)
{
    const char *args [] = { "call", "--broker", s_endpoint, "--timeout", "200",
                            "nosuch", "x", NULL };
    char *out, *err;
    ASSERT_EQ (s_zfarm (args, NULL, 0, &out, NULL, &err), 1);
    ASSERT_STR_EQ (out, "");
    ASSERT (strncmp (err, "zfarm: NO_SUCH_SERVICE: ", 24) == 0);
    ASSERT_EQ (th_count (err, "\n"), 1);
    free (out);
    free (err);

    const char *failing [] = { "call", "-b", s_endpoint, "fail", "x", NULL };
    ASSERT_EQ (s_zfarm (failing, NULL, 0, &out, NULL, &err), 1);
    ASSERT (strncmp (err, "zfarm: HANDLER_ERROR: ", 22) == 0);
    free (out);
    free (err);
}

/* Each bad command line: exit 2 and one line on stderr. */
static void
test_cli_usage (void)
{
    const char *const bad [][8] = {
        { NULL },
        { "--bogus", NULL },
        { "bogus", NULL },
        { "call", NULL },
        { "call", "--timeout", "soon", "cat", NULL },
        { "call", "--timeout", NULL },
        { "call", "--retries", "101", "cat", NULL },
        { "call", "-q", "cat", NULL },
        { "call", "cat", "one", "two", NULL },
        { "status", "extra", NULL },
        { "status", "--bogus", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char *out, *err;
        ASSERT_EQ (s_zfarm (bad [i], NULL, 0, &out, NULL, &err), 2);
        ASSERT_STR_EQ (out, "");
        ASSERT_EQ (th_count (err, "\n"), 1);
        ASSERT (strncmp (err, "zfarm", 5) == 0 && strstr (err, "--help')\n"));
        free (out);
        free (err);
    }
    /* A bad endpoint: the library's log line, then the tool's. */
    const char *endpoint [] = { "call", "--broker", "nonsense", "cat", "x",
                                NULL };
    char *out, *err;
    ASSERT_EQ (s_zfarm (endpoint, NULL, 0, &out, NULL, &err), 2);
    ASSERT (strstr (err, "zfarm call: bad --broker endpoint 'nonsense'"));
    free (out);
    free (err);
    setenv ("ZFARM_BROKER", "nonsense", 1);
    const char *from_env [] = { "call", "cat", "x", NULL };
    ASSERT_EQ (s_zfarm (from_env, NULL, 0, &out, NULL, &err), 2);
    ASSERT (strstr (err, "zfarm call: bad ZFARM_BROKER endpoint 'nonsense'"));
    free (out);
    free (err);
    unsetenv ("ZFARM_BROKER");

    const char *version [] = { "--version", NULL };
    ASSERT_EQ (s_zfarm (version, NULL, 0, &out, NULL, &err), 0);
    ASSERT_STR_EQ (out, "zfarm " ZFARM_VERSION "\n");
    free (out);
    free (err);
    const char *help [] = { "call", "--help", NULL };
    ASSERT_EQ (s_zfarm (help, NULL, 0, &out, NULL, &err), 0);
    ASSERT (strstr (out, "usage: zfarm call"));
    free (out);
    free (err);
}

static void
test_cli_status (void)
{
    const char *table [] = { "status", "--broker", s_endpoint, NULL };
    char *out, *err;
    ASSERT_EQ (s_zfarm (table, NULL, 0, &out, NULL, &err), 0);
    ASSERT (strstr (out, "WORKER"));
    ASSERT (strstr (out, "AHEAD"));         /* prefetch depth */
    ASSERT (strstr (out, "SERVICE"));
    ASSERT (strstr (out, "submitted"));
    free (out);
    free (err);
    const char *json [] = { "status", "--json", "-b", s_endpoint, NULL };
    ASSERT_EQ (s_zfarm (json, NULL, 0, &out, NULL, &err), 0);
    ASSERT (out [0] == '{');
    ASSERT (out [strlen (out) - 1] == '\n');
    free (out);
    free (err);
}

/* ---- the farm ---------------------------------------------------------- */

static void
s_start_farm (const char *transport)
{
    snprintf (s_endpoint, sizeof s_endpoint, "%s",
              th_broker_start (transport, NULL).endpoint);
    const char *cat [] = { "--service", "cat", "--exec", "cat", NULL };
    const char *slow [] = { "--service", "slow", "--exec", "sleep 30", NULL };
    const char *fail [] = { "--service", "fail", "--exec", "false", NULL };
    th_worker_start (s_endpoint, cat);
    th_worker_start (s_endpoint, cat);
    th_worker_start (s_endpoint, slow);
    th_worker_start (s_endpoint, slow);
    th_worker_start (s_endpoint, fail);
    if (!th_wait_workers (s_endpoint, 5, WAIT_MS))
        TEST_FAIL ("workers did not register with %s", s_endpoint);
}

int
main (void)
{
    s_start_farm ("ipc");
    zfarm_client_t *client = zfarm_client_new (s_endpoint);
    ASSERT (client);
    test_call (client);
    test_submit_and_wait (client);
    test_callbacks (client);
    test_pollable_fd (client);
    test_cancel (client);
    test_error_codes (client);
    test_invalid_arguments (client);
    test_status (client);
    zfarm_client_destroy (&client);
    test_broker_down ();
    test_cli_payload_sizes ();
    test_cli_errors ();
    test_cli_usage ();
    test_cli_status ();

    s_start_farm ("tcp");
    client = zfarm_client_new (s_endpoint);
    test_call (client);
    test_submit_and_wait (client);
    zfarm_client_destroy (&client);
    test_cli_payload_sizes ();
    TEST_PASS ("test_client");
    return 0;
}
