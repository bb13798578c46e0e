/* test_cli_status_farm.c: the farm document of `zfarm status` of several
 * brokers, made from answers written here: workers merged by instance and
 * only by it, figures summed, brokers down, strings of any bytes; and
 * whatever the brokers said, the document is JSON the reader takes back. */
#include "testlib.h"
#include "cli_json.h"
#include "cli_status_farm.c"
#include "zfarm_codes.h"

#include <stdlib.h>

static json_t *
s_farm (const cli_answer_t *answers, int count, int *up_p)
{
    char *text = cli_status_farm (answers, count, up_p);
    json_t *doc = json_parse (text, strlen (text));
    if (!doc)
        TEST_FAIL ("not JSON: %s", text);
    free (text);
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

static double
s_num (const json_t *object, const char *name)
{
    return json_number (json_member (object, name), -1);
}

static const char s_doc_a [] =
    "{\"broker\":{},\"workers\":["
    "{\"id\":\"a1\",\"instance\":\"X\",\"host\":\"h\",\"pid\":5,"
    "\"services\":[\"s\"],\"state\":\"busy\",\"capacity\":2,\"running\":1,"
    "\"tasks_done\":2,\"uptime_ms\":10}],"
    "\"services\":[{\"name\":\"s\",\"queued\":2,\"running\":1,"
    "\"workers\":1,\"completed\":1}],"
    "\"counters\":{\"submitted\":1,\"failed_by_code\":{\"TIMEOUT\":1}}}";

static const char s_doc_b [] =
    "{\"broker\":{},\"workers\":["
    "{\"id\":\"b1\",\"instance\":\"X\",\"host\":\"h\",\"pid\":5,"
    "\"services\":[\"s\"],\"state\":\"ready\",\"capacity\":2,\"running\":1,"
    "\"tasks_done\":3,\"uptime_ms\":30},"
    "{\"id\":\"b2\",\"instance\":null,\"host\":\"a-host\",\"pid\":9,"
    "\"services\":[\"s\",\"t\"],\"state\":\"ready\",\"capacity\":1,"
    "\"running\":0,\"tasks_done\":0,\"uptime_ms\":1}],"
    "\"services\":[{\"name\":\"t\",\"queued\":0,\"running\":0,"
    "\"workers\":1,\"completed\":4},{\"name\":\"s\",\"queued\":1,"
    "\"running\":1,\"workers\":2,\"completed\":0}],"
    "\"counters\":{\"submitted\":2,\"failed_by_code\":{\"TIMEOUT\":2,"
    "\"NO_WORKERS\":1}}}";

/* A worker on two brokers is one; one without an instance is its own. */
static void
test_merge (void)
{
    cli_answer_t answers [] = {
        { "tcp://a", 0, strdup (s_doc_a) }, { "tcp://b", 0, strdup (s_doc_b) },
    };
    int up;
    json_t *doc = s_farm (answers, 2, &up);
    ASSERT_EQ (up, 2);
    ASSERT_EQ (s_num (doc, "version"), CLI_FARM_VERSION);
    const json_t *farm = json_member (doc, "farm"),
                 *workers = json_member (farm, "workers");
    ASSERT_EQ (s_length (workers), 2);
    const json_t *other = s_at (workers, 0), *x = s_at (workers, 1);
    ASSERT_STR_EQ (json_string (json_member (other, "host"), NULL), "a-host");
    ASSERT_EQ (json_type (json_member (other, "instance")), JSON_NULL);
    ASSERT_STR_EQ (json_string (json_first (json_member (other, "brokers")),
                                NULL), "tcp://b");
    ASSERT_STR_EQ (json_string (json_member (x, "instance"), NULL), "X");
    ASSERT_EQ (s_num (x, "running"), 2);
    ASSERT_EQ (s_num (x, "tasks_done"), 5);
    ASSERT_EQ (s_num (x, "uptime_ms"), 30);
    ASSERT_EQ (s_num (x, "capacity"), 2);
    ASSERT_STR_EQ (json_string (json_member (x, "state"), NULL), "ready");
    ASSERT_STR_EQ (json_string (s_at (json_member (x, "brokers"), 1), NULL),
                   "tcp://b");
    ASSERT_STR_EQ (json_string (s_at (json_member (x, "ids"), 0), NULL), "a1");
    ASSERT_STR_EQ (json_string (s_at (json_member (x, "ids"), 1), NULL), "b1");

    const json_t *services = json_member (farm, "services"),
                 *s = s_at (services, 0), *t = s_at (services, 1);
    ASSERT_STR_EQ (json_string (json_member (s, "name"), NULL), "s");
    ASSERT_EQ (s_num (s, "queued"), 3);
    ASSERT_EQ (s_num (s, "running"), 2);
    ASSERT_EQ (s_num (s, "workers"), 2);
    ASSERT_EQ (s_length (json_member (s, "brokers")), 2);
    ASSERT_STR_EQ (json_string (json_member (t, "name"), NULL), "t");
    ASSERT_EQ (s_num (t, "workers"), 1);
    ASSERT_EQ (s_num (t, "completed"), 4);
    ASSERT_EQ (s_length (json_member (t, "brokers")), 1);

    const json_t *totals = json_member (farm, "totals");
    ASSERT_EQ (s_num (totals, "workers"), 2);
    ASSERT_EQ (s_num (totals, "capacity"), 3);
    ASSERT_EQ (s_num (totals, "running"), 2);
    ASSERT_EQ (s_num (totals, "queued"), 3);
    const json_t *counters = json_member (farm, "counters"),
                 *by_code = json_member (counters, "failed_by_code");
    ASSERT_EQ (s_num (counters, "submitted"), 3);
    ASSERT_EQ (s_num (by_code, "TIMEOUT"), 3);
    ASSERT_EQ (s_num (by_code, "NO_WORKERS"), 1);
    /* Each broker's own document, as it came. */
    const json_t *status = json_member (s_at (json_member (doc, "brokers"), 1),
                                        "status");
    ASSERT_STR_EQ (json_string (json_member (s_at (json_member (status,
                   "workers"), 1), "id"), NULL), "b2");
    json_destroy (&doc);
    free (answers [0].json);
    free (answers [1].json);
}

/* No answer, a refusal, an answer that is no JSON object: each broker is
 * down, with its reason, and the farm is empty. */
static void
test_down (void)
{
    cli_answer_t answers [] = {
        { "tcp://a", ZFARM_EBROKER_DOWN, NULL },
        { "tcp://b", ZFARM_EUNAUTHORIZED, NULL },
        { "tcp://c", 0, "[1,2]" },
        { "tcp://d", 0, "{\"broker\":" },
    };
    int up = -1;
    json_t *doc = s_farm (answers, 4, &up);
    ASSERT_EQ (up, 0);
    const char *errors [] = { "BROKER_DOWN", "UNAUTHORIZED", "BAD_STATUS",
                              "BAD_STATUS" };
    for (int i = 0; i < 4; i++) {
        const json_t *broker = s_at (json_member (doc, "brokers"), i);
        ASSERT_STR_EQ (json_string (json_member (broker, "endpoint"), NULL),
                       answers [i].endpoint);
        ASSERT_EQ (json_type (json_member (broker, "up")), JSON_BOOL);
        ASSERT (!json_bool (json_member (broker, "up"), true));
        ASSERT_STR_EQ (json_string (json_member (broker, "error"), NULL),
                       errors [i]);
        ASSERT_EQ (json_type (json_member (broker, "status")), JSON_NULL);
    }
    const json_t *farm = json_member (doc, "farm");
    ASSERT_EQ (s_num (farm, "brokers"), 4);
    ASSERT_EQ (s_num (farm, "brokers_up"), 0);
    ASSERT_EQ (s_length (json_member (farm, "workers")), 0);
    ASSERT_EQ (s_num (json_member (farm, "totals"), "workers"), 0);
    json_destroy (&doc);
}

/* Strings of any bytes (as JSON escapes) come back the same. */
static void
test_strings (void)
{
    char *evil = strdup (
        "{\"workers\":[{\"id\":\"\\\"\\\\\",\"instance\":\"i\\n\\u001b\","
        "\"host\":\"h\\u0000cut\",\"version\":\"\\ud800\","
        "\"services\":[\"a\\\"b\",7],\"pid\":\"x\"}],"
        "\"services\":[{\"name\":\"\\u2028\\u0085\",\"queued\":\"many\"}],"
        "\"counters\":{\"we\\\"ird\":1,\"deep\":{\"deeper\":{\"x\":1}}}}");
    cli_answer_t answers [] = { { "tcp://\"a\"", 0, evil } };
    int up;
    json_t *doc = s_farm (answers, 1, &up);
    ASSERT_EQ (up, 1);
    const json_t *farm = json_member (doc, "farm"),
                 *worker = s_at (json_member (farm, "workers"), 0);
    ASSERT_STR_EQ (json_string (json_member (worker, "instance"), NULL),
                   "i\n\x1b");
    ASSERT_STR_EQ (json_string (json_member (worker, "host"), NULL), "h");
    ASSERT_STR_EQ (json_string (s_at (json_member (worker, "ids"), 0), NULL),
                   "\"\\");
    ASSERT_STR_EQ (json_string (s_at (json_member (worker, "services"), 0),
                                NULL), "a\"b");
    ASSERT_EQ (json_type (json_member (worker, "pid")), JSON_NULL);
    ASSERT_STR_EQ (json_string (s_at (json_member (worker, "brokers"), 0),
                                NULL), "tcp://\"a\"");
    /* Sorted by name: the worker's service, which no broker listed, first. */
    const json_t *service = s_at (json_member (farm, "services"), 0);
    ASSERT_STR_EQ (json_string (json_member (service, "name"), NULL), "a\"b");
    ASSERT_EQ (s_num (service, "workers"), 1);
    service = s_at (json_member (farm, "services"), 1);
    ASSERT_STR_EQ (json_string (json_member (service, "name"), NULL),
                   "\xe2\x80\xa8\xc2\x85");
    ASSERT_EQ (s_num (service, "queued"), 0);
    ASSERT_EQ (s_num (json_member (farm, "counters"), "we\"ird"), 1);
    json_destroy (&doc);
    free (evil);
}

/* Bytes changed at random in a document: the farm's is still JSON (the
 * reader nests 64 deep; these never come near). */
static void
test_mutations (void)
{
    srand (12345);
    size_t size = strlen (s_doc_b);
    char *text = malloc (size + 1);
    for (int round = 0; round < 2000; round++) {
        memcpy (text, s_doc_b, size + 1);
        int changes = 1 + rand () % 4;
        for (int i = 0; i < changes; i++)
            text [rand () % size] = (char) (1 + rand () % 255);
        cli_answer_t answers [] = { { "tcp://a", 0, strdup (s_doc_a) },
                                    { "tcp://b", 0, text } };
        int up;
        json_t *doc = s_farm (answers, 2, &up);
        ASSERT (up == 1 || up == 2);
        json_destroy (&doc);
        free (answers [0].json);
    }
    free (text);
}

int
main (void)
{
    test_merge ();
    test_down ();
    test_strings ();
    test_mutations ();
    TEST_PASS ("test_cli_status_farm");
    return 0;
}
