/* cli_detached.c: `zfarm submit`, `result`, `cancel`, `tasks` and `dead`:
 * tasks that the broker keeps for whoever asks later, by id. */
#include "cli.h"
#include "cli_json.h"
#include "cli_retry.h"
#include "cli_when.h"
#include "cli_util.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#define ACK_WAIT_MS     10000   /* default wait for the broker's word */
#define BATCH_MAX       1000    /* --lines: tasks sent before their word */
#define ANSWER_WAIT_MS  5000    /* for an answer that needs no task to end */

/* Options every one of these commands takes. */
typedef struct {
    const char *command;
    const char *broker;
    bool json;                  /* tasks, dead: the answer as it came */
} common_t;

static int
s_parse_id (const char *command, const char *text, uint64_t *id)
{
    char *end;
    size_t size = strlen (text);
    errno = 0;
    unsigned long long value = strtoull (text, &end, 16);
    if (size == 0 || size > 16 || *end || errno || value == 0
    ||  strspn (text, "0123456789abcdefABCDEF") != size)
        return cli_usage_error (command, "bad task id '%s' (16 hex digits,"
                                " as zfarm submit prints)", text);
    *id = value;
    return -1;
}

/* Prints why a call failed, for a code that is not a task's outcome. */
static int
s_failed (int rc)
{
    fprintf (stderr, "zfarm: %s: %s\n", zfarm_err_name (rc),
             zfarm_strerror (rc));
    return CLI_EXIT_FAILED;
}

/* ---- zfarm submit ------------------------------------------------------ */

typedef struct {
    common_t common;
    long timeout_ms;
    long retries;
    long wait_ms;
    cli_retry_t retry;
    cli_when_t when;
    bool lines;                 /* a task per line of stdin */
    const char *service;
    const char *payload;
} submit_args_t;

static void
s_submit_help (void)
{
    printf (
"usage: zfarm submit [OPTIONS] SERVICE [PAYLOAD]\n\n"
"Hands a detached task to the broker, waits only until the broker has\n"
"stored it, prints its id and exits. The broker runs it whether or not\n"
"anyone waits; 'zfarm result ID' fetches the outcome later, from any\n"
"client. Without PAYLOAD the payload is all of stdin.\n\n"
"  -l, --lines        a task per line of stdin (its bytes without the\n"
"                     newline), sent in batches: prints an id per line, in\n"
"                     order, and '-' for a line the broker refused\n"
"  -b, --broker EP    broker endpoint, or several separated by commas\n"
"                     (default $ZFARM_BROKER, else %s)\n"
"  -t, --timeout MS   the task's own time limit once it is due, 0 for none\n"
"                     (default 0)\n"
"  -r, --retries N    retries after a failure, 0..%d, or -1 for the\n"
"                     service's (default -1)\n"
CLI_RETRY_HELP
CLI_WHEN_HELP
"  -w, --wait MS      wait this long for the broker to store it (default\n"
"                     %d)\n"
"  -h, --help         show this help\n\n"
"Exit status: 0 (the id is on stdout); 1 if the broker refused it or did\n"
"not answer (the error on stderr); 2 for a usage error.\n",
            ZFARM_DEFAULT_ENDPOINT, ZFARM_RETRIES_MAX, ACK_WAIT_MS);
}

static int
s_submit_parse (int argc, char *argv [], submit_args_t *args)
{
    static const struct option options [] = {
        { "broker",  required_argument, NULL, 'b' },
        { "timeout", required_argument, NULL, 't' },
        { "retries", required_argument, NULL, 'r' },
        { "wait",    required_argument, NULL, 'w' },
        { "lines",   no_argument,       NULL, 'l' },
        { "help",    no_argument,       NULL, 'h' },
        CLI_RETRY_OPTIONS,
        CLI_WHEN_OPTIONS,
        { NULL, 0, NULL, 0 }
    };
    opterr = 0;
    int code;
    while ((code = getopt_long (argc, argv, "+:b:t:r:w:lh", options, NULL))
           != -1) {
        long *number = code == 't'? &args->timeout_ms:
                       code == 'r'? &args->retries:
                       code == 'w'? &args->wait_ms: NULL;
        long min = code == 'r'? -1: 0;
        long max = code == 'r'? ZFARM_RETRIES_MAX: INT_MAX;
        if (code == 'h') {
            s_submit_help ();
            return CLI_EXIT_OK;
        }
        if (code == 'b')
            args->common.broker = optarg;
        else
        if (code == 'l')
            args->lines = true;
        else
        if (number) {
            if (cli_parse_long (optarg, min, max, number) != 0)
                return cli_usage_error ("submit", "bad -%c value '%s'",
                                        code, optarg);
        }
        else
        if (code >= CLI_WHEN_PRIORITY && code <= CLI_WHEN_AT) {
            int rc = cli_when_parse (&args->when, "submit", code, optarg);
            if (rc >= 0)
                return rc;
        }
        else
        if (code == CLI_OPT_RETRY_ON || code == CLI_OPT_BACKOFF) {
            int rc = cli_retry_option ("submit", code, optarg, &args->retry);
            if (rc >= 0)
                return rc;
        }
        else
            return cli_bad_option ("submit", code, argv);
    }
    if (optind == argc)
        return cli_usage_error ("submit", "missing SERVICE");
    if (argc - optind > 2)
        return cli_usage_error ("submit", "too many arguments");
    args->service = argv [optind];
    args->payload = argc - optind == 2? argv [optind + 1]: NULL;
    if (args->lines && args->payload)
        return cli_usage_error ("submit", "--lines takes its tasks from"
                                " stdin, not PAYLOAD");
    return -1;
}

/* --lines: the lines of data, in batches; prints an id per line. Returns
 * the first failure's code, or 0. */
static int
s_submit_lines (zfarm_client_t *client, const submit_args_t *args,
                char *data, size_t size)
{
    const void **lines = cli_malloc (BATCH_MAX * sizeof *lines);
    size_t *sizes = cli_malloc (BATCH_MAX * sizeof *sizes);
    uint64_t *ids = cli_malloc (BATCH_MAX * sizeof *ids);
    int *codes = cli_malloc (BATCH_MAX * sizeof *codes);
    int first_failure = 0;
    char *at = data, *end = data + size;
    while (at < end && !zsys_interrupted) {
        size_t count = 0;
        while (at < end && count < BATCH_MAX) {
            char *newline = memchr (at, '\n', (size_t) (end - at));
            char *stop = newline? newline: end;
            lines [count] = at;
            sizes [count++] = (size_t) (stop - at);
            at = newline? newline + 1: end;
        }
        int rc = zfarm_client_submit_detached_batch (
            client, args->service, count, lines, sizes,
            (int) args->timeout_ms, (int) args->wait_ms, ids, codes);
        if (rc == ZFARM_EINVALID) {
            first_failure = rc;
            break;
        }
        for (size_t i = 0; i < count; i++) {
            if (codes [i] == 0)
                printf ("%016" PRIx64 "\n", ids [i]);
            else
                printf ("-\n");
            if (codes [i] && !first_failure)
                first_failure = codes [i];
        }
    }
    fflush (stdout);
    free (lines);
    free (sizes);
    free (ids);
    free (codes);
    return first_failure;
}

int
cli_submit (int argc, char *argv [])
{
    submit_args_t args = { .common = { "submit", NULL, false },
                           .retries = -1, .wait_ms = ACK_WAIT_MS };
    cli_when_init (&args.when);
    int rc = s_submit_parse (argc, argv, &args);
    if (rc >= 0)
        return rc;
    char *data = NULL;
    size_t size = 0;
    if (args.payload)
        size = strlen (args.payload);
    else
    if (cli_read_stdin (&data, &size) != 0)
        return CLI_EXIT_FAILED;
    zfarm_client_t *client = cli_connect ("submit", args.common.broker);
    if (!client) {
        free (data);
        return CLI_EXIT_USAGE;
    }
    zfarm_client_set_retries (client, (int) args.retries);
    cli_when_apply (&args.when, client);
    cli_retry_apply (client, &args.retry);
    uint64_t id = 0;
    if (args.lines)
        rc = s_submit_lines (client, &args, data, size);
    else
        rc = zfarm_client_submit_detached (client, args.service,
                                           args.payload? args.payload: data,
                                           size, (int) args.timeout_ms,
                                           (int) args.wait_ms, &id);
    free (data);
    zfarm_client_destroy (&client);
    if (rc == ZFARM_EINVALID)
        return cli_usage_error ("submit", "bad service name '%s'",
                                args.service);
    if (rc != 0)
        return s_failed (rc);
    if (!args.lines)
        printf ("%016" PRIx64 "\n", id);
    return CLI_EXIT_OK;
}

/* ---- zfarm result, zfarm cancel ------------------------------------------ */

static void
s_result_help (void)
{
    printf (
"usage: zfarm result [OPTIONS] ID\n\n"
"Writes the result of the detached task ID to stdout, byte for byte, or\n"
"its error to stderr, as 'zfarm call' does.\n\n"
"  -b, --broker EP    broker endpoint(s) (default $ZFARM_BROKER, else %s);\n"
"                     with several, each is asked\n"
"  -w, --wait         wait for the task to finish\n"
"  -t, --timeout MS   with --wait, wait at most MS milliseconds (default 0:\n"
"                     no limit)\n"
"  -h, --help         show this help\n\n"
"Exit status: 0 if the task succeeded; 1 if it failed, or no broker has it\n"
"(NOT_FOUND: never stored, or its result expired), or no broker answered;\n"
"4 if it has not finished yet (PENDING on stderr); 2 for a usage error.\n",
            ZFARM_DEFAULT_ENDPOINT);
}

static void
s_cancel_help (void)
{
    printf (
"usage: zfarm cancel [OPTIONS] ID\n\n"
"Cancels the detached task ID if it has not finished: a waiting task is\n"
"dropped, a running one stopped. Prints its outcome: CANCELLED, or the\n"
"code it had already finished with.\n\n"
"  -b, --broker EP    broker endpoint(s) (default $ZFARM_BROKER, else %s)\n"
"  -h, --help         show this help\n\n"
"Exit status: 0 if the task is cancelled (now or before); 1 if it had\n"
"finished otherwise, no broker has it, or none answered; 2 for a usage\n"
"error.\n", ZFARM_DEFAULT_ENDPOINT);
}

/* Parses [-b EP] [-w] [-t MS] ID (result), or [-b EP] ID (cancel). */
static int
s_id_parse (int argc, char *argv [], common_t *common, bool *wait,
            long *timeout_ms, uint64_t *id)
{
    static const struct option options [] = {
        { "broker",  required_argument, NULL, 'b' },
        { "wait",    no_argument,       NULL, 'w' },
        { "timeout", required_argument, NULL, 't' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    bool result = streq (common->command, "result");
    opterr = 0;
    int code;
    while ((code = getopt_long (argc, argv, result? "+:b:wt:h": "+:b:h",
                                options, NULL)) != -1) {
        if (code == 'h') {
            (result? s_result_help: s_cancel_help) ();
            return CLI_EXIT_OK;
        }
        if (code == 'b')
            common->broker = optarg;
        else
        if (code == 'w' && result)
            *wait = true;
        else
        if (code == 't' && result) {
            if (cli_parse_long (optarg, 0, INT_MAX, timeout_ms) != 0)
                return cli_usage_error (common->command, "bad --timeout '%s'",
                                        optarg);
        }
        else
            return cli_bad_option (common->command, code, argv);
    }
    if (optind == argc)
        return cli_usage_error (common->command, "missing ID");
    if (argc - optind > 1)
        return cli_usage_error (common->command, "too many arguments");
    return s_parse_id (common->command, argv [optind], id);
}

int
cli_result (int argc, char *argv [])
{
    common_t common = { "result", NULL, false };
    bool wait = false;
    long timeout_ms = 0;
    uint64_t id;
    int rc = s_id_parse (argc, argv, &common, &wait, &timeout_ms, &id);
    if (rc >= 0)
        return rc;
    zfarm_client_t *client = cli_connect ("result", common.broker);
    if (!client)
        return CLI_EXIT_USAGE;
    zfarm_result_t *result = NULL;
    int wait_ms = !wait? 0: timeout_ms? (int) timeout_ms: -1;
    rc = zfarm_client_fetch (client, id, wait_ms, &result);
    int exit_status;
    if (rc == ZFARM_EPENDING) {
        const char *state = result? zfarm_result_error (result): "";
        fprintf (stderr, "zfarm: PENDING: %s%s%s%s\n", zfarm_strerror (rc),
                 *state? " (": "", state, *state? ")": "");
        exit_status = CLI_EXIT_PENDING;
    }
    else
    if (result)
        exit_status = cli_report_result (result);
    else
        exit_status = s_failed (rc);
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    return exit_status;
}

int
cli_cancel (int argc, char *argv [])
{
    common_t common = { "cancel", NULL, false };
    uint64_t id;
    int rc = s_id_parse (argc, argv, &common, NULL, NULL, &id);
    if (rc >= 0)
        return rc;
    zfarm_client_t *client = cli_connect ("cancel", common.broker);
    if (!client)
        return CLI_EXIT_USAGE;
    rc = zfarm_client_cancel_detached (client, id, ANSWER_WAIT_MS);
    zfarm_client_destroy (&client);
    if (rc == ZFARM_ENOT_FOUND || rc == ZFARM_EBROKER_DOWN
    ||  rc == ZFARM_EUNAUTHORIZED)
        return s_failed (rc);
    printf ("%s\n", zfarm_err_name (rc));
    return rc == ZFARM_ECANCELLED? CLI_EXIT_OK: CLI_EXIT_FAILED;
}

/* ---- zfarm tasks, zfarm dead --------------------------------------------- */

static void
s_tasks_help (void)
{
    printf (
"usage: zfarm tasks [OPTIONS]\n\n"
"Lists the broker's detached tasks: waiting, running, and finished ones\n"
"whose results it keeps (at most 10000; the broker says if it cut the\n"
"list). With CURVE keys, only the tasks this key submitted.\n\n"
"  -b, --broker EP    broker endpoint (default $ZFARM_BROKER, else %s)\n"
"  -s, --service S    only the tasks of service S\n"
"      --state STATE  only those queued, delayed, running or finished\n"
"      --json         the broker's answer as it came (see README.md)\n"
"  -h, --help         show this help\n", ZFARM_DEFAULT_ENDPOINT);
}

static void
s_dead_help (void)
{
    printf (
"usage: zfarm dead [OPTIONS] [list | show N | retry N|--all | drop N|--all]\n\n"
"The dead letters: tasks that ended WORKER_LOST, TIMEOUT or HANDLER_ERROR\n"
"after their retries (detached ones always; attached ones when the broker\n"
"runs with --dead-letter), with their payload and every attempt's error.\n\n"
"  list               list them, oldest first (the default)\n"
"  show N             dead letter N: its attempts' errors and its payload\n"
"                     (the first 256 bytes, escaped)\n"
"  retry N, --all     run it (them) again, as new detached tasks: prints\n"
"                     each new task id\n"
"  drop N, --all      forget it (them)\n\n"
"  -b, --broker EP    broker endpoint (default $ZFARM_BROKER, else %s)\n"
"      --json         the broker's answer as it came (see README.md)\n"
"  -h, --help         show this help\n", ZFARM_DEFAULT_ENDPOINT);
}

/* Sends request and prints the answer (as JSON with --json). Returns
 * the exit status; *doc_p gets the parsed answer unless NULL. */
static int
s_query (const common_t *common, const char *request, json_t **doc_p)
{
    zfarm_client_t *client = cli_connect (common->command, common->broker);
    if (!client)
        return CLI_EXIT_USAGE;
    char *json = NULL;
    int rc = zfarm_client_query (client, request, ANSWER_WAIT_MS, &json);
    zfarm_client_destroy (&client);
    if (rc == ZFARM_EBAD_REQUEST)
        return cli_usage_error (common->command, "the broker does not know"
                                " this request (an older broker?)");
    if (rc)
        return s_failed (rc);
    if (common->json)
        printf ("%s\n", json);
    else {
        *doc_p = json_parse (json, strlen (json));
        if (!*doc_p) {
            free (json);
            fprintf (stderr, "zfarm: the broker's answer is not JSON\n");
            return CLI_EXIT_FAILED;
        }
    }
    free (json);
    return CLI_EXIT_OK;
}

/* A string of the answer, escaped for the terminal (it came from peers). */
static void
s_print_field (const json_t *item, const char *name, int width)
{
    const char *text = json_string (json_member (item, name), "-");
    char shown [512];
    zfarm_escape (shown, sizeof shown, text, strlen (text));
    printf ("%-*s", width, shown);
}

static void
s_print_list (const json_t *list, bool dead)
{
    if (dead)
        printf ("%-7s ", "NUMBER");
    printf ("%-16s  %-20s %-9s %-8s %s\n", "ID", "SERVICE", "STATE",
            "ATTEMPTS", "OUTCOME");
    for (const json_t *item = json_first (list); item;
         item = json_next (item)) {
        if (dead)
            printf ("%-7s ", json_number_text (json_member (item, "number"),
                                               "?"));
        s_print_field (item, "id", 16);
        fputs ("  ", stdout);
        s_print_field (item, "service", 20);
        putchar (' ');
        s_print_field (item, "state", 9);
        putchar (' ');
        printf ("%-8s ", json_number_text (json_member (item, "attempts"),
                                           "?"));
        s_print_field (item, "status", 0);
        const char *error = json_string (json_member (item, "error"), "");
        if (*error) {
            char shown [256];
            zfarm_escape (shown, sizeof shown, error, strlen (error));
            printf (": %s", shown);
        }
        putchar ('\n');
    }
}

int
cli_tasks (int argc, char *argv [])
{
    static const struct option options [] = {
        { "broker",  required_argument, NULL, 'b' },
        { "service", required_argument, NULL, 's' },
        { "state",   required_argument, NULL, 'S' },
        { "json",    no_argument,       NULL, 'j' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    common_t common = { "tasks", NULL, false };
    char request [ZFARM_TEXT_MAX + 1] = "tasks";
    opterr = 0;
    int code;
    while ((code = getopt_long (argc, argv, "+:b:s:h", options, NULL)) != -1) {
        if (code == 'h') {
            s_tasks_help ();
            return CLI_EXIT_OK;
        }
        if (code == 'b')
            common.broker = optarg;
        else
        if (code == 'j')
            common.json = true;
        else
        if (code == 's' || code == 'S') {
            const char *value = optarg;
            if (code == 'S' && !streq (value, "queued")
            &&  !streq (value, "delayed") && !streq (value, "running")
            &&  !streq (value, "finished"))
                return cli_usage_error ("tasks", "bad --state '%s' (queued,"
                                        " delayed, running or finished)",
                                        value);
            if (!zfarm_service_name_is_valid (value, strlen (value))
            &&  code == 's')
                return cli_usage_error ("tasks", "bad --service '%s'", value);
            size_t used = strlen (request);
            snprintf (request + used, sizeof request - used, " %s=%s",
                      code == 's'? "service": "state", value);
        }
        else
            return cli_bad_option ("tasks", code, argv);
    }
    if (optind < argc)
        return cli_usage_error ("tasks", "unexpected argument '%s'",
                                argv [optind]);
    json_t *doc = NULL;
    int rc = s_query (&common, request, &doc);
    if (doc) {
        s_print_list (json_member (doc, "tasks"), false);
        if (json_bool (json_member (doc, "truncated"), false))
            printf ("(cut at 10000 tasks)\n");
        json_destroy (&doc);
    }
    return rc;
}

static int
s_dead_show (const json_t *doc)
{
    printf ("dead letter %s: task ", json_number_text (json_member (doc,
                                                       "number"), "?"));
    s_print_field (doc, "id", 0);
    fputs (" of ", stdout);
    s_print_field (doc, "service", 0);
    printf (", %s attempts, ", json_number_text (json_member (doc,
                                                 "attempts"), "?"));
    s_print_field (doc, "status", 0);
    putchar ('\n');
    /* One attempt per line, each escaped (a handler's words). */
    for (const json_t *line = json_first (json_member (doc, "history"));
         line; line = json_next (line)) {
        const char *text = json_string (line, "");
        char shown [2048];
        zfarm_escape (shown, sizeof shown, text, strlen (text));
        printf ("  %s\n", shown);
    }
    /* Escaped by the broker already (as zfarm_escape does). */
    const char *shown = json_string (json_member (doc, "payload"), "");
    printf ("payload (%s bytes%s): %s\n",
            json_number_text (json_member (doc, "payload_bytes"), "?"),
            json_bool (json_member (doc, "payload_cut"), false)
            ? ", the first 256 shown": "", shown);
    return CLI_EXIT_OK;
}

int
cli_dead (int argc, char *argv [])
{
    static const struct option options [] = {
        { "broker",  required_argument, NULL, 'b' },
        { "json",    no_argument,       NULL, 'j' },
        { "all",     no_argument,       NULL, 'a' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    common_t common = { "dead", NULL, false };
    bool all = false;
    opterr = 0;
    int code;
    /* Options may follow the action ("dead retry --all"). */
    while ((code = getopt_long (argc, argv, ":b:h", options, NULL)) != -1) {
        if (code == 'h') {
            s_dead_help ();
            return CLI_EXIT_OK;
        }
        if (code == 'b')
            common.broker = optarg;
        else
        if (code == 'j')
            common.json = true;
        else
        if (code == 'a')
            all = true;
        else
            return cli_bad_option ("dead", code, argv);
    }
    const char *action = optind < argc? argv [optind++]: "list";
    const char *which = optind < argc? argv [optind++]: NULL;
    if (optind < argc)
        return cli_usage_error ("dead", "too many arguments");
    char request [128];
    long number = 0;
    if (streq (action, "list") && !which && !all)
        snprintf (request, sizeof request, "dead");
    else
    if ((streq (action, "show") || streq (action, "retry")
         || streq (action, "drop"))
    &&  (which? !all && cli_parse_long (which, 1, LONG_MAX, &number) == 0
              : all && !streq (action, "show")))
        snprintf (request, sizeof request, "dead %s %s", action,
                  all? "all": which);
    else
        return cli_usage_error ("dead", "expected list, show N, retry N|--all"
                                " or drop N|--all");
    json_t *doc = NULL;
    int rc = s_query (&common, request, &doc);
    if (!doc)
        return rc;
    if (streq (action, "list"))
        s_print_list (json_member (doc, "dead"), true);
    else
    if (streq (action, "show"))
        s_dead_show (doc);
    else {
        const json_t *list = json_member (doc, streq (action, "retry")
                                               ? "retried": "dropped");
        size_t count = 0;
        for (const json_t *item = json_first (list); item;
             item = json_next (item), count++)
            if (streq (action, "retry"))
                printf ("%s %s\n", json_number_text (json_member (item,
                        "number"), "?"), json_string (json_member (item,
                        "id"), "?"));
        if (streq (action, "drop"))
            printf ("dropped %zu\n", count);
    }
    json_destroy (&doc);
    return rc;
}
