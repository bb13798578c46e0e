/* cli_status.c: `zfarm status`: the broker's status as JSON or as tables;
 * of several brokers, each one's and the farm's (cli_status_farm.c makes
 * that document).
 *
 * The tables are read from the JSON with cli_json's forgiving accessors: a
 * field that is missing or of another type shows as "-", never as a crash,
 * so an older or newer broker's document still prints. */
#include "cli.h"
#include "cli_json.h"
#include "cli_status.h"
#include "cli_util.h"
#include "zfarm.h"

#include <assert.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_TIMEOUT_MS 5000  /* default --timeout */
#define CELL_MAX          48    /* bytes shown of one table cell */
#define RAW_MAX (CELL_MAX + 1)  /* bytes gathered for a cell: one more than
                                   it shows, so that a longer text is
                                   marked as cut */

typedef struct {
    const char *broker;         /* NULL: $ZFARM_BROKER or the default */
    long timeout_ms;
    bool json;                  /* print the document as it came */
    bool farm;                  /* the farm's document, even of one broker */
} status_args_t;

/* How a table cell is made from a row's member. */
typedef enum {
    CELL_TEXT,                  /* a string, shown escaped */
    CELL_COUNT,                 /* a number, exactly as sent */
    CELL_UPTIME,                /* milliseconds, shown as a duration */
    CELL_LIST,                  /* an array of strings, joined by ',' */
    CELL_WHERE,                 /* true: "local", false: "remote" */
    CELL_SLOTS,                 /* "running/capacity" of a worker */
    CELL_BROKERS                /* endpoints, as the brokers' numbers */
} cell_kind_t;

typedef struct {
    const char *head;
    const char *member;         /* the row's member shown */
    cell_kind_t kind;
} column_t;

static const column_t s_worker_columns [] = {
    { "WORKER",   "id",         CELL_TEXT },
    { "PID",      "pid",        CELL_COUNT },
    { "HOST",     "host",       CELL_TEXT },
    { "STATE",    "state",      CELL_TEXT },
    { "SLOTS",    "running",    CELL_SLOTS },
    { "AHEAD",    "prefetch_depth", CELL_COUNT },   /* per slot, prefetch */
    { "DONE",     "tasks_done", CELL_COUNT },
    { "UPTIME",   "uptime_ms",  CELL_UPTIME },
    { "WHERE",    "local",      CELL_WHERE },
    { "RSS_KB",   "rss_kb",     CELL_COUNT },       /* local pool's: - */
    { "SERVICES", "services",   CELL_LIST },
};

static const column_t s_service_columns [] = {
    { "SERVICE",  "name",       CELL_TEXT },
    { "QUEUED",   "queued",     CELL_COUNT },
    { "DELAYED",  "delayed",    CELL_COUNT },   /* not due yet */
    { "RUNNING",  "running",    CELL_COUNT },
    { "WORKERS",  "workers",    CELL_COUNT },
};

/* The farm's, of several brokers. */
static const column_t s_farm_worker_columns [] = {
    { "HOST",     "host",       CELL_TEXT },
    { "PID",      "pid",        CELL_COUNT },
    { "STATE",    "state",      CELL_TEXT },
    { "SLOTS",    "running",    CELL_SLOTS },
    { "DONE",     "tasks_done", CELL_COUNT },
    { "UPTIME",   "uptime_ms",  CELL_UPTIME },
    { "SERVICES", "services",   CELL_LIST },
    { "BROKERS",  "brokers",    CELL_BROKERS },
};

static const column_t s_farm_service_columns [] = {
    { "SERVICE",  "name",       CELL_TEXT },
    { "QUEUED",   "queued",     CELL_COUNT },
    { "DELAYED",  "delayed",    CELL_COUNT },   /* not due yet */
    { "RUNNING",  "running",    CELL_COUNT },
    { "WORKERS",  "workers",    CELL_COUNT },
    { "DONE",     "completed",  CELL_COUNT },
    { "BROKERS",  "brokers",    CELL_BROKERS },
};

#define COLUMNS_MAX 12
#define COUNT_OF(array) (sizeof (array) / sizeof (array) [0])

/* A table's cells live on the stack, COLUMNS_MAX wide: a column added
 * past it fails the build, not the table at run time. */
_Static_assert (COUNT_OF (s_worker_columns) <= COLUMNS_MAX, "worker columns");
_Static_assert (COUNT_OF (s_service_columns) <= COLUMNS_MAX, "service columns");
_Static_assert (COUNT_OF (s_farm_worker_columns) <= COLUMNS_MAX,
                "farm worker columns");
_Static_assert (COUNT_OF (s_farm_service_columns) <= COLUMNS_MAX,
                "farm service columns");

/* ---- cells ------------------------------------------------------------- */

/* A cell is gathered as raw text (RAW_MAX + 1 bytes), then escaped into
 * what is shown (CELL_MAX + 1 bytes): a host name, a service, a version
 * come from workers, the whole document from whoever answered, and none
 * of them may drive the terminal. */

/* Appends text to raw, as much as fits. */
static void
s_cell_append (char *raw, const char *text)
{
    size_t at = strlen (raw);
    for (; *text && at < RAW_MAX; text++)
        raw [at++] = *text;
    raw [at] = 0;
}

/* Makes the cell shown from raw, escaped as zfarm_escape does, and cut with
 * ZFARM_ESCAPE_MARKER if it is longer than CELL_MAX. */
static void
s_cell_escape (char *cell, const char *raw)
{
    zfarm_escape (cell, CELL_MAX + 1, raw, strlen (raw));
}

/* Columns a cell takes: its characters (escaped, it is valid UTF-8). East
 * Asian wide characters take two, which this does not know: such a name
 * only shifts the cells after it on its row. */
static size_t
s_cell_width (const char *cell)
{
    size_t width = 0;
    for (; *cell; cell++)
        width += ((unsigned char) *cell & 0xc0) != 0x80;
    return width;
}

static void
s_format_duration (char *raw, double ms)
{
    if (!(ms >= 0 && ms < 1e15)) {
        s_cell_append (raw, "-");
        return;
    }
    long long s = (long long) (ms / 1000);
    char text [32];
    if (ms < 1000)
        snprintf (text, sizeof text, "%lldms", (long long) ms);
    else if (s < 60)
        snprintf (text, sizeof text, "%.1fs", ms / 1000);
    else if (s < 3600)
        snprintf (text, sizeof text, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf (text, sizeof text, "%lldh%02lldm", s / 3600, s / 60 % 60);
    else
        snprintf (text, sizeof text, "%lldd%02lldh", s / 86400, s / 3600 % 24);
    s_cell_append (raw, text);
}

static void
s_format_list (char *raw, const json_t *array)
{
    const json_t *item = json_first (array);
    if (!item)
        s_cell_append (raw, "-");
    for (; item; item = json_next (item)) {
        if (*raw)
            s_cell_append (raw, ",");
        s_cell_append (raw, json_string (item, "?"));
    }
}

/* The brokers' numbers (1 for the first of brokers, the farm document's)
 * of the endpoints in array. */
static void
s_format_brokers (char *raw, const json_t *array, const json_t *brokers)
{
    if (!json_first (array))
        s_cell_append (raw, "-");
    for (const json_t *item = json_first (array); item;
         item = json_next (item)) {
        const char *endpoint = json_string (item, "");
        int number = 1;
        const json_t *broker = json_first (brokers);
        for (; broker; broker = json_next (broker), number++)
            if (strcmp (json_string (json_member (broker, "endpoint"), ""),
                        endpoint) == 0)
                break;
        char text [16];
        snprintf (text, sizeof text, "%s%d", *raw? ",": "", number);
        s_cell_append (raw, broker? text: *raw? ",?": "?");
    }
}

/* Fills cell (CELL_MAX + 1 bytes) with a row's column; brokers is the
 * farm document's, for CELL_BROKERS. */
static void
s_format_cell (char *cell, const json_t *row, const column_t *column,
               const json_t *brokers)
{
    const json_t *value = json_member (row, column->member);
    char raw [RAW_MAX + 1] = "";
    switch (column->kind) {
        case CELL_TEXT:
            s_cell_append (raw, json_string (value, "-"));
            break;
        case CELL_COUNT:
            s_cell_append (raw, json_number_text (value, "-"));
            break;
        case CELL_UPTIME:
            s_format_duration (raw, json_number (value, -1));
            break;
        case CELL_LIST:
            s_format_list (raw, value);
            break;
        case CELL_WHERE:
            s_cell_append (raw, json_type (value) != JSON_BOOL? "-":
                                json_bool (value, false)? "local": "remote");
            break;
        case CELL_SLOTS:
            s_cell_append (raw, json_number_text (value, "-"));
            s_cell_append (raw, "/");
            s_cell_append (raw, json_number_text (
                json_member (row, "capacity"), "-"));
            break;
        case CELL_BROKERS:
            s_format_brokers (raw, value, brokers);
            break;
    }
    s_cell_escape (cell, raw);
}

/* ---- tables ------------------------------------------------------------ */

static bool
s_column_is_numeric (const column_t *column)
{
    return column->kind == CELL_COUNT || column->kind == CELL_UPTIME
        || column->kind == CELL_SLOTS;
}

static void
s_print_row (const column_t *columns, size_t count, const size_t *widths,
             char cells [][CELL_MAX + 1])
{
    for (size_t i = 0; i < count; i++) {
        size_t width = s_cell_width (cells [i]);
        int pad = widths [i] > width? (int) (widths [i] - width): 0;
        bool numeric = s_column_is_numeric (&columns [i]);
        if (i + 1 == count && !numeric)
            pad = 0;                /* no trailing blanks */
        printf ("%*s%s%*s%s", numeric? pad: 0, "", cells [i],
                numeric? 0: pad, "", i + 1 < count? "  ": "");
    }
    printf ("\n");
}

/* Prints an array of objects as a table, one row per element; each column
 * is as wide as its widest cell. brokers: as s_format_cell. Returns the
 * number of rows. */
static size_t
s_print_table (const json_t *rows, const column_t *columns, size_t count,
               const json_t *brokers)
{
    assert (count <= COLUMNS_MAX);
    char cells [COLUMNS_MAX][CELL_MAX + 1];
    size_t widths [COLUMNS_MAX], row_count = 0;
    for (size_t i = 0; i < count; i++)
        widths [i] = strlen (columns [i].head);
    for (const json_t *row = json_first (rows); row; row = json_next (row)) {
        for (size_t i = 0; i < count; i++) {
            s_format_cell (cells [i], row, &columns [i], brokers);
            if (s_cell_width (cells [i]) > widths [i])
                widths [i] = s_cell_width (cells [i]);
        }
        row_count++;
    }
    if (row_count == 0)
        return 0;
    for (size_t i = 0; i < count; i++)
        snprintf (cells [i], sizeof cells [i], "%s", columns [i].head);
    s_print_row (columns, count, widths, cells);
    for (const json_t *row = json_first (rows); row; row = json_next (row)) {
        for (size_t i = 0; i < count; i++)
            s_format_cell (cells [i], row, &columns [i], brokers);
        s_print_row (columns, count, widths, cells);
    }
    return row_count;
}

static void
s_print_broker (const json_t *broker)
{
    char raw [4][RAW_MAX + 1] = { "", "", "", "" };
    s_cell_append (raw [0], json_string (json_member (broker, "version"), "-"));
    s_format_duration (raw [1],
                       json_number (json_member (broker, "uptime_ms"), -1));
    s_cell_append (raw [2],
                   json_number_text (json_member (broker, "epoch"), "-"));
    s_format_list (raw [3], json_member (broker, "endpoints"));
    char cells [4][CELL_MAX + 1];
    for (int i = 0; i < 4; i++)
        s_cell_escape (cells [i], raw [i]);
    printf ("broker %s, up %s, epoch %s, endpoints %s\n",
            cells [0], cells [1], cells [2], cells [3]);
}

/* Prints the counters, and one level of nested counters indented under
 * theirs (failed_by_code). */
static void
s_print_counters (const json_t *counters, int indent)
{
    for (const json_t *counter = json_first (counters); counter;
         counter = json_next (counter)) {
        char raw [RAW_MAX + 1] = "", name [CELL_MAX + 1], value [CELL_MAX + 1];
        s_cell_append (raw, json_name (counter)? json_name (counter): "?");
        s_cell_escape (name, raw);
        if (json_type (counter) == JSON_OBJECT) {
            printf ("%*s%s\n", indent, "", name);
            if (indent == 2)
                s_print_counters (counter, indent + 2);
            continue;
        }
        *raw = 0;
        s_cell_append (raw, json_number_text (counter, "-"));
        s_cell_escape (value, raw);
        int width = 24 - indent, pad = width - (int) s_cell_width (name);
        printf ("%*s%s%*s %12s\n", indent, "", name, pad > 0? pad: 0, "",
                value);
    }
}

/* Detached tasks and the journal, once the broker has any. */
static void
s_print_detached (const json_t *detached)
{
    const json_t *journal = json_member (detached, "journal");
    if (json_type (journal) != JSON_OBJECT)
        return;
    char raw [RAW_MAX + 1] = "", dir [CELL_MAX + 1];
    s_cell_append (raw, json_string (json_member (journal, "dir"), "?"));
    s_cell_escape (dir, raw);
    printf ("\ndetached (journal %s, sync %s, %s bytes, %s fsyncs%s)\n", dir,
            json_string (json_member (journal, "sync"), "?"),
            json_number_text (json_member (journal, "bytes"), "?"),
            json_number_text (json_member (journal, "fsyncs"), "?"),
            json_bool (json_member (journal, "damaged"), false)
            ? ", DAMAGED at start": "");
    for (const json_t *counter = json_first (detached); counter;
         counter = json_next (counter))
        if (json_type (counter) == JSON_NUMBER)
            printf ("  %-22s %12s\n", json_name (counter),
                    json_number_text (counter, "-"));
}

static void
s_print_status (const json_t *status)
{
    s_print_broker (json_member (status, "broker"));
    printf ("\n");
    if (s_print_table (json_member (status, "workers"), s_worker_columns,
                       COUNT_OF (s_worker_columns), NULL) == 0)
        printf ("no workers\n");
    printf ("\n");
    if (s_print_table (json_member (status, "services"), s_service_columns,
                       COUNT_OF (s_service_columns), NULL) == 0)
        printf ("no services\n");
    printf ("\ncounters\n");
    s_print_counters (json_member (status, "counters"), 2);
    const json_t *pool = json_member (status, "pool");
    if (pool && json_type (pool) == JSON_OBJECT) {
        printf ("\npool\n");
        s_print_counters (pool, 2);
    }
    s_print_detached (json_member (status, "detached"));
}

/* ---- several brokers --------------------------------------------------- */

/* Prints a line made from a format whose every %s is one of count texts,
 * each escaped and cut as a cell is. */
static void
s_print_line (const char *format, const char **texts, int count)
{
    char cells [8][CELL_MAX + 1];
    assert (count <= 8);
    for (int i = 0; i < count; i++) {
        char raw [RAW_MAX + 1] = "";
        s_cell_append (raw, texts [i]);
        s_cell_escape (cells [i], raw);
    }
    printf (format, cells [0], cells [1], cells [2], cells [3], cells [4],
            cells [5], cells [6], cells [7]);
}

/* The sum of a member over an array of objects, as text. */
static void
s_sum (char *text, size_t size, const json_t *rows, const char *member)
{
    double sum = 0;
    for (const json_t *row = json_first (rows); row; row = json_next (row))
        sum += json_number (json_member (row, member), 0);
    snprintf (text, size, "%.0f", sum);
}

/* "broker N ENDPOINT: up, ..." and its own figures, or why it is down. */
static void
s_print_farm_broker (const json_t *broker, int number, long timeout_ms)
{
    char head [32];
    snprintf (head, sizeof head, "broker %d", number);
    const char *endpoint = json_string (json_member (broker, "endpoint"), "-");
    const json_t *status = json_member (broker, "status");
    if (!json_bool (json_member (broker, "up"), false)
    ||  json_type (status) != JSON_OBJECT) {
        const char *error = json_string (json_member (broker, "error"), "-");
        char why [64] = "";
        if (strcmp (error, "BROKER_DOWN") == 0)
            snprintf (why, sizeof why, " (no status within %ld ms)",
                      timeout_ms);
        else
        if (strcmp (error, "BAD_STATUS") == 0)
            snprintf (why, sizeof why, " (its answer is not a JSON object)");
        const char *texts [] = { head, endpoint, error, why };
        s_print_line ("%s %s: down, %s%s\n", texts, 4);
        return;
    }
    const json_t *about = json_member (status, "broker");
    char uptime [RAW_MAX + 1] = "";
    s_format_duration (uptime, json_number (json_member (about, "uptime_ms"),
                                            -1));
    const char *texts [] = { head, endpoint,
        json_string (json_member (about, "version"), "-"), uptime,
        json_number_text (json_member (about, "epoch"), "-") };
    s_print_line ("%s %s: up, version %s, uptime %s, epoch %s\n", texts, 5);

    const json_t *workers = json_member (status, "workers"),
                 *counters = json_member (status, "counters");
    char count [32], running [32], capacity [32], queued [32];
    size_t worker_count = 0;
    for (const json_t *row = json_first (workers); row; row = json_next (row))
        worker_count++;
    snprintf (count, sizeof count, "%zu", worker_count);
    s_sum (running, sizeof running, workers, "running");
    s_sum (capacity, sizeof capacity, workers, "capacity");
    s_sum (queued, sizeof queued, json_member (status, "services"), "queued");
    const char *figures [] = { count, running, capacity, queued,
        json_number_text (json_member (counters, "submitted"), "-"),
        json_number_text (json_member (counters, "completed"), "-"),
        json_number_text (json_member (counters, "failed"), "-") };
    s_print_line ("  workers %s, slots %s/%s running, queued %s, submitted %s,"
                  " completed %s, failed %s\n", figures, 7);
}

/* The farm document (cli_status_farm.c) as text: each broker, then the
 * farm's workers, services and counters. */
static void
s_print_farm (const json_t *doc, long timeout_ms)
{
    const json_t *brokers = json_member (doc, "brokers"),
                 *farm = json_member (doc, "farm"),
                 *totals = json_member (farm, "totals");
    int number = 0;
    for (const json_t *broker = json_first (brokers); broker;
         broker = json_next (broker))
        s_print_farm_broker (broker, ++number, timeout_ms);
    const char *texts [] = {
        json_number_text (json_member (farm, "brokers_up"), "-"),
        json_number_text (json_member (farm, "brokers"), "-"),
        json_number_text (json_member (totals, "workers"), "-"),
        json_number_text (json_member (totals, "running"), "-"),
        json_number_text (json_member (totals, "capacity"), "-"),
        json_number_text (json_member (totals, "queued"), "-") };
    s_print_line ("\nfarm: %s of %s brokers up, workers %s, slots %s/%s"
                  " running, queued %s\n\n", texts, 6);
    if (s_print_table (json_member (farm, "workers"), s_farm_worker_columns,
                       COUNT_OF (s_farm_worker_columns), brokers) == 0)
        printf ("no workers\n");
    printf ("\n");
    if (s_print_table (json_member (farm, "services"), s_farm_service_columns,
                       COUNT_OF (s_farm_service_columns), brokers) == 0)
        printf ("no services\n");
    printf ("\ncounters\n");
    s_print_counters (json_member (farm, "counters"), 2);
}

/* ---- the command ------------------------------------------------------- */

static void
s_print_help (void)
{
    printf (
"usage: zfarm status [OPTIONS]\n\n"
"Shows the broker's workers, services and counters. Of several brokers\n"
"(EP,EP,...), each broker and the farm as a whole: a worker that serves\n"
"several of them is listed once, with the brokers it serves.\n\n"
"  -b, --broker EP    broker endpoint, or a list EP,EP,... (default\n"
"                     $ZFARM_BROKER, else %s)\n"
"  -t, --timeout MS   wait at most MS milliseconds for each broker's\n"
"                     answer, all asked at once; 0 for no limit\n"
"                     (default %d)\n"
"  -j, --json         print the JSON document (of one broker: its own, as\n"
"                     it is; of several: the farm's), control characters\n"
"                     in it escaped as JSON allows\n"
"  -f, --farm         the farm's view and document even of one broker\n"
"  -h, --help         show this help\n\n"
"Exit status: 0 when every broker answered, 1 if none did, 3 if some did\n"
"and some did not, 2 for a usage error.\n",
            ZFARM_DEFAULT_ENDPOINT, STATUS_TIMEOUT_MS);
}

/* Fills args from argv. Returns -1 to go on, or the exit status. */
static int
s_parse_args (int argc, char *argv [], status_args_t *args)
{
    static const struct option options [] = {
        { "broker",  required_argument, NULL, 'b' },
        { "timeout", required_argument, NULL, 't' },
        { "json",    no_argument,       NULL, 'j' },
        { "farm",    no_argument,       NULL, 'f' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    opterr = 0;
    int code;
    while ((code = getopt_long (argc, argv, "+:b:t:jfh", options, NULL))
           != -1) {
        if (code == 'h') {
            s_print_help ();
            return CLI_EXIT_OK;
        }
        if (code == 'b')
            args->broker = optarg;
        else
        if (code == 'j')
            args->json = true;
        else
        if (code == 'f')
            args->farm = true;
        else
        if (code == 't') {
            if (cli_parse_long (optarg, 0, INT_MAX, &args->timeout_ms) != 0)
                return cli_usage_error ("status", "bad --timeout '%s'", optarg);
        }
        else
            return cli_bad_option ("status", code, argv);
    }
    if (optind < argc)
        return cli_usage_error ("status", "unexpected argument '%s'",
                                argv [optind]);
    return -1;
}

/* True for a character that must not reach a terminal as it is: C0 and
 * C1 controls, DEL, and U+2028/U+2029 (line breaks to some readers). */
static bool
s_json_char_is_unsafe (const unsigned char *at, size_t length)
{
    return (length == 1 && (*at < 0x20 || *at == 0x7f))
        || (length == 2 && at [0] == 0xc2 && at [1] < 0xa0)
        || (length == 3 && at [0] == 0xe2 && at [1] == 0x80
            && (at [2] == 0xa8 || at [2] == 0xa9));
}

/* Prints a JSON text as it came, but safe on a terminal. Inside strings, an
 * unsafe character is written as its \uXXXX escape, which JSON reads as the
 * same string (a raw control byte there was not valid JSON anyway); a
 * byte that is not UTF-8, as U+FFFD. Between tokens, JSON whitespace stays
 * (a carriage return as a space, which reads the same), and anything else
 * unsafe is escaped visibly: the text was not valid JSON there. So a valid
 * document prints as valid JSON of the same value. */
static void
s_print_json (const char *text)
{
    const unsigned char *at = (const unsigned char *) text;
    size_t left = strlen (text);
    bool in_string = false, escaped = false;
    while (left) {
        size_t length = zfarm_utf8_char (at, left);
        bool unsafe = length && s_json_char_is_unsafe (at, length);
        if (length == 0)
            fputs ("\\ufffd", stdout);
        else
        if (!in_string && (*at == '\n' || *at == '\t' || *at == '\r'))
            putchar (*at == '\r'? ' ': *at);
        else
        if (unsafe)
            printf ("\\u%04x", length == 1? *at: length == 2? at [1]
                                : 0x2028u + at [2] - 0xa8);
        else
            fwrite (at, 1, length, stdout);
        if (escaped)
            escaped = false;
        else
        if (in_string && *at == '\\')
            escaped = true;
        else
        if (*at == '"')
            in_string = !in_string;
        length += length == 0;
        at += length;
        left -= length;
    }
    putchar ('\n');
}

/* Prints the document as asked. Returns the exit status. */
static int
s_print (const status_args_t *args, const char *json)
{
    if (args->json) {
        s_print_json (json);
        return CLI_EXIT_OK;
    }
    json_t *status = json_parse (json, strlen (json));
    if (json_type (status) != JSON_OBJECT) {
        fprintf (stderr, "zfarm: the broker's status is not a JSON object "
                 "(zfarm status --json shows it)\n");
        json_destroy (&status);
        return CLI_EXIT_FAILED;
    }
    s_print_status (status);
    json_destroy (&status);
    return CLI_EXIT_OK;
}

/* One broker, as zfarm status always did: its own document. */
static int
s_status_one (const status_args_t *args)
{
    zfarm_client_t *client = cli_connect ("status", args->broker);
    if (!client)
        return CLI_EXIT_USAGE;
    char *json = NULL;
    int timeout_ms = args->timeout_ms? (int) args->timeout_ms: -1;
    int rc = zfarm_client_status (client, timeout_ms, &json);
    zfarm_client_destroy (&client);
    if (rc == ZFARM_EBROKER_DOWN) {
        fprintf (stderr, "zfarm: %s: %s (no status within %ld ms)\n",
                 zfarm_err_name (rc), zfarm_strerror (rc), args->timeout_ms);
        return CLI_EXIT_FAILED;
    }
    if (rc != 0) {
        fprintf (stderr, "zfarm: %s: %s\n", zfarm_err_name (rc),
                 zfarm_strerror (rc));
        return CLI_EXIT_FAILED;
    }
    rc = s_print (args, json);
    free (json);
    return rc;
}

/* Prints the farm document as asked. Returns -1 if the tables cannot be
 * read from it: cli_status_farm writes JSON, but a broker's document
 * nested as deep as the reader allows is one level too deep in it. */
static int
s_print_farm_document (const status_args_t *args, const char *json)
{
    if (args->json) {
        s_print_json (json);
        return 0;
    }
    json_t *doc = json_parse (json, strlen (json));
    if (!doc) {
        fprintf (stderr, "zfarm: the farm's status cannot be read as JSON "
                 "(zfarm status --json shows it)\n");
        return -1;
    }
    s_print_farm (doc, args->timeout_ms);
    json_destroy (&doc);
    return 0;
}

/* Several brokers (or --farm): all asked at once, each within the
 * timeout; one that does not answer is shown as down. */
static int
s_status_farm (const status_args_t *args, const char *list)
{
    char *endpoints [ZFARM_BROKERS_MAX];
    char why [256];
    int count = zfarm_endpoints_split (list, endpoints, why, sizeof why);
    if (count < 0)
        return cli_usage_error ("status", "bad %s '%s': %s", args->broker?
                                "--broker": "ZFARM_BROKER", list, why);
    zfarm_client_t *clients [ZFARM_BROKERS_MAX] = { NULL };
    cli_answer_t answers [ZFARM_BROKERS_MAX];
    int rc = CLI_EXIT_USAGE;
    for (int i = 0; i < count; i++) {
        answers [i] = (cli_answer_t) { .endpoint = endpoints [i] };
        clients [i] = cli_connect ("status", endpoints [i]);
        if (!clients [i])
            goto done;
    }
    cli_status_ask (clients, answers, count,
                    args->timeout_ms? (int) args->timeout_ms: -1);
    int up = 0;
    char *json = cli_status_farm (answers, count, &up);
    rc = up == count? CLI_EXIT_OK: up == 0? CLI_EXIT_FAILED: CLI_EXIT_PARTIAL;
    if (s_print_farm_document (args, json) != 0)
        rc = CLI_EXIT_FAILED;
    free (json);
    for (int i = 0; i < count; i++)
        free (answers [i].json);
done:
    for (int i = 0; i < count; i++) {
        zfarm_client_destroy (&clients [i]);
        free (endpoints [i]);
    }
    return rc;
}

int
cli_status (int argc, char *argv [])
{
    status_args_t args = { NULL, STATUS_TIMEOUT_MS, false, false };
    int rc = s_parse_args (argc, argv, &args);
    if (rc >= 0)
        return rc;
    /* A list is the farm's view; one endpoint keeps the broker's own
     * document, which scripts read, unless --farm asks for the farm's. */
    const char *list = args.broker? args.broker: getenv ("ZFARM_BROKER");
    if (!list || !*list)
        list = ZFARM_DEFAULT_ENDPOINT;
    if (args.farm || strchr (list, ','))
        rc = s_status_farm (&args, list);
    else
        rc = s_status_one (&args);
    if (fflush (stdout) != 0)
        rc = CLI_EXIT_FAILED;
    return rc;
}
