/* test_status_brokers.c: `zfarm status` of several brokers.
 *
 * Two real brokers; two zfarm-workers serve both, a third only the second.
 * Through the real zfarm binary: --json lists each worker once, with the
 * brokers it serves, and the services' totals; the text shows both brokers
 * and the farm; one broker, as ever, prints its own document; ZFARM_BROKER
 * may hold the list. A fake broker answers with a document whose worker
 * host has control characters (escaped in the text, the same string in the
 * JSON) and then with one that is not JSON. Then a broker is SIGKILLed: it
 * is shown as down, the other's figures are still there, and the exit
 * status is 3; with both gone, 1. */
#include "harness.h"
#include "cli_json.h"
#include "zf_proto.h"
#include "zf_wire.h"

#include <czmq.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>

#define EXIT_PARTIAL    3       /* some brokers answered, not all */
#define EVIL_HOST       "evil\nW: forged line\x1b[31m"

typedef struct {
    char endpoint [256];
    pid_t pid;
} broker_t;

static broker_t s_a, s_b;
static char s_both [600];       /* "a,b" */
static pid_t s_shared_1, s_shared_2, s_only_b;
static zf_decoder_t *s_decoder;

/* ---- running zfarm status ---------------------------------------------- */

/* Runs zfarm status with these arguments (NULL-terminated); returns its
 * exit status and its stdout (caller frees). */
static int
s_status (char **out_p, const char *arg, ...)
{
    const char *argv [16] = { th_bin ("zfarm"), "status" };
    int argc = 2;
    va_list args;
    va_start (args, arg);
    for (; arg && argc < 15; arg = va_arg (args, const char *))
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    char *err;
    size_t size;
    int status = th_run (argv, NULL, 0, out_p, &size, &err, 30000);
    ASSERT (status != -1 && WIFEXITED (status));
    if (WEXITSTATUS (status) != 0 && WEXITSTATUS (status) != EXIT_PARTIAL)
        fprintf (stderr, "zfarm status: %s", err);
    free (err);
    return WEXITSTATUS (status);
}

static json_t *
s_parse (const char *text)
{
    json_t *doc = json_parse (text, strlen (text));
    ASSERT (doc);
    return doc;
}

static const json_t *
s_at (const json_t *array, int index)
{
    const json_t *item = json_first (array);
    for (int i = 0; item && i < index; i++)
        item = json_next (item);
    ASSERT (item);
    return item;
}

static int
s_length (const json_t *array)
{
    int count = 0;
    for (const json_t *item = json_first (array); item;
         item = json_next (item))
        count++;
    return count;
}

/* The farm's worker with this pid, or NULL. */
static const json_t *
s_farm_worker (const json_t *doc, pid_t pid)
{
    const json_t *workers = json_member (json_member (doc, "farm"), "workers");
    for (const json_t *worker = json_first (workers); worker;
         worker = json_next (worker))
        if (json_number (json_member (worker, "pid"), -1) == pid)
            return worker;
    return NULL;
}

static const json_t *
s_farm_service (const json_t *doc, const char *name)
{
    const json_t *services = json_member (json_member (doc, "farm"),
                                          "services");
    for (const json_t *service = json_first (services); service;
         service = json_next (service))
        if (strcmp (json_string (json_member (service, "name"), ""), name)
            == 0)
            return service;
    TEST_FAIL ("no service %s in the farm", name);
    return NULL;
}

/* True if array holds exactly these strings, in this order. */
static bool
s_strings_are (const json_t *array, const char *first, const char *second)
{
    const json_t *item = json_first (array);
    if (!item || strcmp (json_string (item, ""), first) != 0)
        return false;
    item = json_next (item);
    if (!second)
        return item == NULL;
    return item && strcmp (json_string (item, ""), second) == 0
        && !json_next (item);
}

static bool
s_has_control (const char *text)
{
    for (const unsigned char *at = (const unsigned char *) text; *at; at++)
        if ((*at < 0x20 && *at != '\n') || *at == 0x7f
        ||  (at [0] == 0xc2 && at [1] >= 0x80 && at [1] < 0xa0))
            return true;
    return false;
}

/* The line of text that contains needle (a static copy), or NULL. */
static const char *
s_line_with (const char *text, const char *needle)
{
    static char line [1024];
    const char *at = strstr (text, needle);
    if (!at)
        return NULL;
    const char *start = at, *end = strchr (at, '\n');
    while (start > text && start [-1] != '\n')
        start--;
    size_t size = (end? (size_t) (end - start): strlen (start));
    snprintf (line, sizeof line, "%.*s", (int) size, start);
    return line;
}

/* ---- the farm ---------------------------------------------------------- */

static void
s_start_farm (void)
{
    th_broker_t a = th_broker_start ("ipc", NULL);
    th_broker_t b = th_broker_start ("ipc", NULL);
    s_a.pid = a.pid;
    s_b.pid = b.pid;
    snprintf (s_a.endpoint, sizeof s_a.endpoint, "%s", a.endpoint);
    snprintf (s_b.endpoint, sizeof s_b.endpoint, "%s", b.endpoint);
    snprintf (s_both, sizeof s_both, "%s,%s", s_a.endpoint, s_b.endpoint);
    const char *echo [] = { "--service", "echo", "--module",
                            th_module ("echo.so"), "--capacity", "2", NULL };
    const char *upper [] = { "--service", "echo", "--service", "upper",
                             "--exec", "tr a-z A-Z", NULL };
    const char *solo [] = { "--service", "solo", "--exec", "cat", NULL };
    s_shared_1 = th_worker_start (s_both, echo);
    s_shared_2 = th_worker_start (s_both, upper);
    s_only_b = th_worker_start (s_b.endpoint, solo);
    ASSERT (th_wait_workers (s_a.endpoint, 2, 20000));
    ASSERT (th_wait_workers (s_b.endpoint, 3, 20000));
    /* A task done at each broker, so that the totals add something up. */
    char *text = NULL;
    ASSERT_EQ (th_call (s_a.endpoint, "echo", "hi", 10000, &text), 0);
    free (text);
    ASSERT_EQ (th_call (s_b.endpoint, "solo", "x", 10000, &text), 0);
    free (text);
}

/* --json: each worker once, with the brokers it serves; the totals. */
static void
test_farm_json (void)
{
    char *out;
    ASSERT_EQ (s_status (&out, "--broker", s_both, "--json", NULL), 0);
    ASSERT (!s_has_control (out));
    json_t *doc = s_parse (out);
    ASSERT_EQ (json_number (json_member (doc, "version"), 0), 1);
    const json_t *brokers = json_member (doc, "brokers");
    ASSERT_EQ (s_length (brokers), 2);
    for (int i = 0; i < 2; i++) {
        const json_t *broker = s_at (brokers, i);
        ASSERT_STR_EQ (json_string (json_member (broker, "endpoint"), NULL),
                       i == 0? s_a.endpoint: s_b.endpoint);
        ASSERT (json_bool (json_member (broker, "up"), false));
        ASSERT_EQ (json_type (json_member (broker, "error")), JSON_NULL);
        /* Its own document, whole. */
        const json_t *status = json_member (broker, "status");
        ASSERT_EQ (s_length (json_member (status, "workers")), i == 0? 2: 3);
        ASSERT (json_member (status, "counters"));
    }
    const json_t *farm = json_member (doc, "farm");
    ASSERT_EQ (json_number (json_member (farm, "brokers"), 0), 2);
    ASSERT_EQ (json_number (json_member (farm, "brokers_up"), 0), 2);
    ASSERT_EQ (s_length (json_member (farm, "workers")), 3);

    const json_t *one = s_farm_worker (doc, s_shared_1),
                 *two = s_farm_worker (doc, s_shared_2),
                 *solo = s_farm_worker (doc, s_only_b);
    ASSERT (one && two && solo);
    ASSERT (s_strings_are (json_member (one, "brokers"), s_a.endpoint,
                           s_b.endpoint));
    ASSERT (s_strings_are (json_member (two, "brokers"), s_a.endpoint,
                           s_b.endpoint));
    ASSERT (s_strings_are (json_member (solo, "brokers"), s_b.endpoint, NULL));
    ASSERT_EQ (s_length (json_member (one, "ids")), 2);
    ASSERT_EQ (json_number (json_member (one, "capacity"), 0), 2);
    ASSERT_EQ (json_number (json_member (one, "tasks_done"), 0)
               + json_number (json_member (two, "tasks_done"), 0), 1);
    ASSERT_EQ (json_number (json_member (solo, "tasks_done"), 0), 1);
    ASSERT (s_strings_are (json_member (two, "services"), "echo", "upper"));
    /* The instance is the worker's, the same in each broker's document. */
    const char *instance = json_string (json_member (one, "instance"), NULL);
    ASSERT (instance && strlen (instance) == 32);
    for (int i = 0; i < 2; i++) {
        const json_t *status = json_member (s_at (brokers, i), "status");
        int found = 0;
        for (const json_t *row = json_first (json_member (status, "workers"));
             row; row = json_next (row))
            found += strcmp (json_string (json_member (row, "instance"), ""),
                             instance) == 0;
        ASSERT_EQ (found, 1);
    }
    ASSERT (strcmp (instance, json_string (json_member (two, "instance"),
                                           "")) != 0);

    const json_t *echo = s_farm_service (doc, "echo"),
                 *upper = s_farm_service (doc, "upper"),
                 *solo_service = s_farm_service (doc, "solo");
    ASSERT_EQ (json_number (json_member (echo, "workers"), 0), 2);
    ASSERT_EQ (json_number (json_member (echo, "completed"), 0), 1);
    ASSERT (s_strings_are (json_member (echo, "brokers"), s_a.endpoint,
                           s_b.endpoint));
    ASSERT_EQ (json_number (json_member (upper, "workers"), 0), 1);
    ASSERT_EQ (json_number (json_member (solo_service, "workers"), 0), 1);
    ASSERT_EQ (json_number (json_member (solo_service, "completed"), 0), 1);
    ASSERT (s_strings_are (json_member (solo_service, "brokers"),
                           s_b.endpoint, NULL));
    const json_t *totals = json_member (farm, "totals");
    ASSERT_EQ (json_number (json_member (totals, "workers"), 0), 3);
    ASSERT_EQ (json_number (json_member (totals, "capacity"), 0), 4);
    const json_t *counters = json_member (farm, "counters");
    ASSERT_EQ (json_number (json_member (counters, "submitted"), 0), 2);
    ASSERT_EQ (json_number (json_member (counters, "completed"), 0), 2);
    json_destroy (&doc);
    free (out);
}

/* The tables: both brokers, the farm, each worker on one line. */
static void
test_farm_text (void)
{
    char *out;
    ASSERT_EQ (s_status (&out, "--broker", s_both, NULL), 0);
    ASSERT (!s_has_control (out));
    char head [400];
    snprintf (head, sizeof head, "broker 1 %s: up, ", s_a.endpoint);
    ASSERT (strstr (out, head));
    snprintf (head, sizeof head, "broker 2 %s: up, ", s_b.endpoint);
    ASSERT (strstr (out, head));
    ASSERT (strstr (out, "  workers 2, slots 0/3 running, queued 0,"
                         " submitted 1, completed 1, failed 0\n"));
    ASSERT (strstr (out, "  workers 3, slots 0/4 running, queued 0,"
                         " submitted 1, completed 1, failed 0\n"));
    ASSERT (strstr (out, "\nfarm: 2 of 2 brokers up, workers 3,"
                         " slots 0/4 running, queued 0\n"));
    struct { pid_t pid; const char *brokers; } rows [] = {
        { s_shared_1, "  1,2\n" }, { s_shared_2, "  1,2\n" },
        { s_only_b, "  2\n" },
    };
    for (int i = 0; i < 3; i++) {
        char pid [32];
        snprintf (pid, sizeof pid, " %d ", (int) rows [i].pid);
        ASSERT_EQ (th_count (out, pid), 1);
        char line [1100];
        snprintf (line, sizeof line, "%s\n", s_line_with (out, pid));
        ASSERT (strstr (line, rows [i].brokers));
    }
    ASSERT (strstr (out, "\nsolo "));
    free (out);
}

/* One broker: its own document, as zfarm status always printed it;
 * --farm asks for the farm's. $ZFARM_BROKER may hold a list. */
static void
test_one_broker_and_env (void)
{
    char *out;
    ASSERT_EQ (s_status (&out, "--broker", s_a.endpoint, "--json", NULL), 0);
    json_t *doc = s_parse (out);
    ASSERT (json_member (doc, "broker") && json_member (doc, "workers"));
    ASSERT (!json_member (doc, "farm"));
    json_destroy (&doc);
    free (out);

    ASSERT_EQ (s_status (&out, "--broker", s_a.endpoint, "--json", "--farm",
                         NULL), 0);
    doc = s_parse (out);
    ASSERT_EQ (s_length (json_member (doc, "brokers")), 1);
    ASSERT_EQ (s_length (json_member (json_member (doc, "farm"), "workers")),
               2);
    json_destroy (&doc);
    free (out);

    setenv ("ZFARM_BROKER", s_both, 1);
    ASSERT_EQ (s_status (&out, "--json", NULL), 0);
    unsetenv ("ZFARM_BROKER");
    doc = s_parse (out);
    ASSERT_EQ (s_length (json_member (json_member (doc, "farm"), "workers")),
               3);
    json_destroy (&doc);
    free (out);

    /* A list named twice is a usage error. */
    char both_twice [1200];
    snprintf (both_twice, sizeof both_twice, "%s,%s", s_both, s_a.endpoint);
    ASSERT_EQ (s_status (&out, "--broker", both_twice, NULL), 2);
    free (out);
}

/* ---- a fake broker ----------------------------------------------------- */

/* A document whose worker's host has control characters (JSON escapes:
 * a real broker refuses such a READY, but whoever answers may say it). */
static const char s_evil_status [] =
    "{\"broker\":{\"version\":\"0.1.0\",\"epoch\":7,\"uptime_ms\":1000},"
    "\"workers\":[{\"id\":\"ab\",\"pid\":1,\"host\":\"evil\\nW: forged"
    " line\\u001b[31m\",\"services\":[\"s\\u0007vc\"],\"state\":\"ready\","
    "\"capacity\":1,\"running\":0,\"tasks_done\":0,\"uptime_ms\":5,"
    "\"instance\":\"i\\u001b]0;x\\u0007\"}],"
    "\"services\":[{\"name\":\"s\\u0007vc\",\"queued\":0,\"running\":0,"
    "\"workers\":1}],\"counters\":{\"submitted\":1}}";

static zframe_t *
s_router_expect_status (zsock_t *router)
{
    for (int i = 0; i < 100; i++) {
        zmsg_t *msg = zmsg_recv (router);
        if (!msg)
            TEST_FAIL ("the fake broker heard nothing within 10 s");
        zframe_t *id = zmsg_pop (msg);
        zframe_t *head = zmsg_pop (msg);
        zf_header_t header;
        int rc = head? zf_header_decode (s_decoder, &header,
                                         zframe_data (head),
                                         zframe_size (head)): -1;
        zframe_destroy (&head);
        zmsg_destroy (&msg);
        if (rc == 0 && header.command == ZF_STATUS)
            return id;
        zframe_destroy (&id);
    }
    TEST_FAIL ("no STATUS");
    return NULL;
}

/* Runs zfarm status of broker a and the fake, which answers with answer;
 * returns the exit status and the output (caller frees). */
static int
s_status_with_fake (zsock_t *router, const char *fake, const char *answer,
                    bool json, char **out_p)
{
    static int runs;
    char log [32], command [2048];
    snprintf (log, sizeof log, "fake%d", ++runs);
    snprintf (command, sizeof command, "exec '%s' status -b '%s,%s' %s",
              th_bin ("zfarm"), s_a.endpoint, fake, json? "--json": "");
    const char *argv [] = { "/bin/sh", "-c", command, NULL };
    pid_t pid = th_spawn (log, argv);
    zframe_t *id = s_router_expect_status (router);
    zf_header_t header;
    zf_header_init (&header, ZF_STATUS);
    th_send_header (router, id, &header, answer);
    zframe_destroy (&id);
    int status = th_reap (pid, 20000);
    ASSERT (status != -1 && WIFEXITED (status));
    char path [512];
    snprintf (path, sizeof path, "%s/%s.out", th_tmpdir (), log);
    *out_p = th_read_file (path, NULL);
    ASSERT (*out_p);
    return WEXITSTATUS (status);
}

static void
test_hostile_strings (void)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    ASSERT (router);
    ASSERT (zsock_bind (router, "tcp://127.0.0.1:*") > 0);
    zsock_set_rcvtimeo (router, 10000);
    char *fake = zsock_last_endpoint (router);
    char *out;

    ASSERT_EQ (s_status_with_fake (router, fake, s_evil_status, false, &out),
               0);
    ASSERT (!s_has_control (out));
    ASSERT (!strstr (out, "\nW: forged"));
    ASSERT (strstr (out, "evil\\nW: forged line\\x1b[31m "));
    ASSERT (strstr (out, "s\\x07vc"));
    ASSERT (strstr (out, "farm: 2 of 2 brokers up, workers 3,"));
    free (out);

    ASSERT_EQ (s_status_with_fake (router, fake, s_evil_status, true, &out),
               0);
    ASSERT (!s_has_control (out));
    json_t *doc = s_parse (out);
    const json_t *worker = s_farm_worker (doc, 1);
    ASSERT (worker);
    ASSERT_STR_EQ (json_string (json_member (worker, "host"), NULL), EVIL_HOST);
    ASSERT_STR_EQ (json_string (json_member (worker, "instance"), NULL),
                   "i\x1b]0;x\x07");
    ASSERT (s_strings_are (json_member (worker, "brokers"), fake, NULL));
    json_destroy (&doc);
    free (out);

    /* An answer that is not JSON: that broker is down, the other shown. */
    ASSERT_EQ (s_status_with_fake (router, fake, "not json\x1b[2J", true,
                                   &out), EXIT_PARTIAL);
    ASSERT (!s_has_control (out));
    doc = s_parse (out);
    const json_t *broker = s_at (json_member (doc, "brokers"), 1);
    ASSERT (!json_bool (json_member (broker, "up"), true));
    ASSERT_STR_EQ (json_string (json_member (broker, "error"), NULL),
                   "BAD_STATUS");
    ASSERT_EQ (json_type (json_member (broker, "status")), JSON_NULL);
    ASSERT_EQ (s_length (json_member (json_member (doc, "farm"), "workers")),
               2);
    json_destroy (&doc);
    free (out);
    zstr_free (&fake);
    zsock_destroy (&router);
}

/* ---- brokers down ------------------------------------------------------ */

static void
test_broker_down (void)
{
    th_kill (s_b.pid, SIGKILL);
    ASSERT (th_reap (s_b.pid, 10000) != -1);
    char *out;
    ASSERT_EQ (s_status (&out, "--broker", s_both, "--json", "--timeout",
                         "1000", NULL), EXIT_PARTIAL);
    json_t *doc = s_parse (out);
    const json_t *brokers = json_member (doc, "brokers"),
                 *down = s_at (brokers, 1);
    ASSERT (json_bool (json_member (s_at (brokers, 0), "up"), false));
    ASSERT_STR_EQ (json_string (json_member (down, "endpoint"), NULL),
                   s_b.endpoint);
    ASSERT (!json_bool (json_member (down, "up"), true));
    ASSERT_STR_EQ (json_string (json_member (down, "error"), NULL),
                   "BROKER_DOWN");
    ASSERT_EQ (json_type (json_member (down, "status")), JSON_NULL);
    const json_t *farm = json_member (doc, "farm");
    ASSERT_EQ (json_number (json_member (farm, "brokers_up"), 0), 1);
    ASSERT_EQ (s_length (json_member (farm, "workers")), 2);
    ASSERT (s_strings_are (json_member (s_farm_worker (doc, s_shared_1),
                                        "brokers"), s_a.endpoint, NULL));
    ASSERT (!s_farm_worker (doc, s_only_b));
    json_destroy (&doc);
    free (out);

    ASSERT_EQ (s_status (&out, "--broker", s_both, "--timeout", "1000", NULL),
               EXIT_PARTIAL);
    char line [400];
    snprintf (line, sizeof line, "broker 1 %s: up, ", s_a.endpoint);
    ASSERT (strstr (out, line));
    snprintf (line, sizeof line, "broker 2 %s: down, BROKER_DOWN (no status"
              " within 1000 ms)\n", s_b.endpoint);
    ASSERT (strstr (out, line));
    ASSERT (strstr (out, "farm: 1 of 2 brokers up, workers 2,"));
    free (out);

    /* Every broker down: as one broker down always was, 1. */
    th_kill (s_a.pid, SIGKILL);
    ASSERT (th_reap (s_a.pid, 10000) != -1);
    ASSERT_EQ (s_status (&out, "--broker", s_both, "--timeout", "500", NULL),
               1);
    ASSERT (strstr (out, "farm: 0 of 2 brokers up, workers 0,"));
    ASSERT (strstr (out, "\nno workers\n"));
    free (out);
}

int
main (void)
{
    s_decoder = zf_decoder_new ();
    s_start_farm ();
    test_farm_json ();
    test_farm_text ();
    test_one_broker_and_env ();
    test_hostile_strings ();
    test_broker_down ();
    zf_decoder_destroy (&s_decoder);
    TEST_PASS ("test_status_brokers");
    return 0;
}
