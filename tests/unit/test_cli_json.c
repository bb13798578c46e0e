/* test_cli_json.c: the JSON reader behind `zfarm status` reads the broker's
 * document, and turns every malformed text into NULL, never a crash.
 *
 * The reader is part of the zfarm tool, not of a library, so the test
 * compiles its source in. */
#include "testlib.h"
#include "cli_json.c"

static const char s_status [] =
    "{\"broker\":{\"version\":\"0.1.0\",\"epoch\":12478900436417078981,"
    "\"uptime_ms\":61216,\"endpoints\":[\"tcp://127.0.0.1:5555\"]},"
    "\"workers\":[{\"id\":\"0005946e06\",\"pid\":6904,\"host\":\"h\","
    "\"services\":[\"echo\",\"cat\"],\"state\":\"ready\",\"capacity\":4,"
    "\"running\":0,\"tasks_done\":3,\"uptime_ms\":469,\"local\":false}],"
    "\"services\":[{\"name\":\"echo\",\"queued\":0,\"running\":0,"
    "\"workers\":1}],\"counters\":{\"submitted\":6,\"failed_by_code\":"
    "{\"TIMEOUT\":1}}}";

static json_t *
s_parse (const char *text)
{
    return json_parse (text, strlen (text));
}

static void
test_status_document (void)
{
    json_t *status = s_parse (s_status);
    ASSERT (status);
    ASSERT_EQ (json_type (status), JSON_OBJECT);
    const json_t *broker = json_member (status, "broker");
    ASSERT_STR_EQ (json_string (json_member (broker, "version"), NULL), "0.1.0");
    /* A 64-bit epoch is kept exactly as written. */
    ASSERT_STR_EQ (json_number_text (json_member (broker, "epoch"), NULL),
                   "12478900436417078981");
    const json_t *worker = json_first (json_member (status, "workers"));
    ASSERT (worker);
    ASSERT (!json_next (worker));
    ASSERT_EQ (json_number (json_member (worker, "pid"), 0), 6904);
    ASSERT (!json_bool (json_member (worker, "local"), true));
    const json_t *service = json_first (json_member (worker, "services"));
    ASSERT_STR_EQ (json_string (service, NULL), "echo");
    ASSERT_STR_EQ (json_string (json_next (service), NULL), "cat");
    ASSERT (!json_name (service));
    const json_t *counter = json_first (json_member (status, "counters"));
    ASSERT_STR_EQ (json_name (counter), "submitted");
    json_destroy (&status);
    json_destroy (&status);
    ASSERT (!status);
}

/* Missing members and wrong types give the fallback. */
static void
test_forgiving_accessors (void)
{
    ASSERT_EQ (json_type (NULL), JSON_NULL);
    ASSERT (!json_member (NULL, "x"));
    ASSERT (!json_first (NULL));
    ASSERT (!json_next (NULL));
    ASSERT (!json_name (NULL));
    ASSERT_STR_EQ (json_string (NULL, "-"), "-");
    ASSERT_STR_EQ (json_number_text (NULL, "-"), "-");
    ASSERT_EQ (json_number (NULL, -1), -1);
    ASSERT (json_bool (NULL, true));

    json_t *doc = s_parse ("[\"text\", 5, true, null, {}]");
    ASSERT (doc);
    const json_t *text = json_first (doc);
    ASSERT_EQ (json_number (text, -1), -1);
    ASSERT (!json_member (text, "x"));
    ASSERT (!json_first (text));
    const json_t *five = json_next (text);
    ASSERT_STR_EQ (json_string (five, "-"), "-");
    ASSERT_STR_EQ (json_number_text (five, "-"), "5");
    ASSERT (json_bool (json_next (five), false));
    ASSERT_EQ (json_type (json_next (json_next (five))), JSON_NULL);
    ASSERT (!json_member (doc, "x"));
    json_destroy (&doc);
}

static void
test_strings (void)
{
    json_t *doc = s_parse ("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9"
                           "\\u20ac\\ud83d\\ude00\\ud800x\"");
    ASSERT (doc);
    ASSERT_STR_EQ (json_string (doc, NULL),
                   "a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac"
                   "\xf0\x9f\x98\x80\xef\xbf\xbdx");
    json_destroy (&doc);
}

static void
test_numbers (void)
{
    const char *good [] = { "0", "-0", "12", "-3.25", "1e3", "1E+3", "2.5e-3" };
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++) {
        json_t *doc = s_parse (good [i]);
        ASSERT (doc);
        ASSERT_STR_EQ (json_number_text (doc, NULL), good [i]);
        json_destroy (&doc);
    }
    json_t *doc = s_parse ("-3.25");
    ASSERT (json_number (doc, 0) == -3.25);
    json_destroy (&doc);
}

static void
test_malformed (void)
{
    const char *bad [] = {
        "", " ", "{", "}", "[", "]", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\"}",
        "{\"a\" 1}", "{1:2}", "{\"a\":1 \"b\":2}", "[1 2]", "\"open",
        "\"tab\there\"", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\",
        "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "tru", "nul",
        "True", "truex", "1 2", "{} {}", "[]]", "nan", "\"a\"\"b\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        json_t *doc = s_parse (bad [i]);
        if (doc)
            TEST_FAIL ("parsed bad JSON '%s'", bad [i]);
    }
    ASSERT (!json_parse (NULL, 0));
    ASSERT (!json_parse ("[1]\0", 4));          /* a NUL is trailing junk */
}

/* Every proper prefix of an object is incomplete. */
static void
test_truncated_at_every_byte (void)
{
    for (size_t size = 0; size < strlen (s_status); size++) {
        json_t *doc = json_parse (s_status, size);
        ASSERT (!doc);
    }
}

static void
test_depth (void)
{
    char text [2 * JSON_DEPTH_MAX + 3];
    memset (text, '[', JSON_DEPTH_MAX);
    memset (text + JSON_DEPTH_MAX, ']', JSON_DEPTH_MAX);
    json_t *doc = json_parse (text, 2 * JSON_DEPTH_MAX);
    ASSERT (doc);
    json_destroy (&doc);
    memset (text, '[', JSON_DEPTH_MAX + 1);
    memset (text + JSON_DEPTH_MAX + 1, ']', JSON_DEPTH_MAX + 1);
    ASSERT (!json_parse (text, 2 * JSON_DEPTH_MAX + 2));

    /* Far too deep, in arrays and objects: refused, and the stack is fine. */
    size_t size = 1000000;
    char *deep = malloc (size);
    memset (deep, '[', size);
    ASSERT (!json_parse (deep, size));
    for (size_t i = 0; i + 5 <= size; i += 5)
        memcpy (deep + i, "{\"a\":", 5);
    ASSERT (!json_parse (deep, size));
    free (deep);
}

/* Random bytes, and the status document with random bytes changed. */
static void
test_garbage (void)
{
    uint64_t state = 42;
    char text [sizeof s_status];
    for (int round = 0; round < 100000; round++) {
        size_t size = sizeof s_status - 1;
        memcpy (text, s_status, size);
        int changes = round % 2? 1: 8;
        for (int i = 0; i < changes; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            text [(state >> 33) % size] = (char) (state >> 13);
        }
        if (round % 3 == 0)
            size = (state >> 20) % size;
        json_t *doc = json_parse (text, size);
        json_destroy (&doc);
    }
}

int
main (void)
{
    test_status_document ();
    test_forgiving_accessors ();
    test_strings ();
    test_numbers ();
    test_malformed ();
    test_truncated_at_every_byte ();
    test_depth ();
    test_garbage ();
    TEST_PASS ("test_cli_json");
    return 0;
}
