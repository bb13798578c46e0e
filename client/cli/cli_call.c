/* cli_call.c: `zfarm call`: run one task, write its result bytes exactly. */
#include "cli.h"
#include "cli_progress.h"
#include "cli_when.h"
#include "cli_retry.h"
#include "cli_util.h"
#include "zfarm.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>

/* The most that is read from stdin: what fits in a message under the
 * broker's default --max-msg-size, past which it would drop the connection
 * rather than take the task. */
#define STDIN_MAX ((size_t) (ZFARM_DEFAULT_MAX_MSG_SIZE - ZFARM_HEADER_MAX))

typedef struct {
    const char *broker;         /* NULL: $ZFARM_BROKER or the default */
    long timeout_ms;            /* 0: no limit */
    long retries;               /* -1: the broker's default */
    cli_retry_t retry;          /* --retry-on, --backoff */
    const char *service;
    const char *payload;        /* NULL: read stdin */
    bool progress;              /* show the task's progress reports */
    cli_when_t when;            /* --priority, --delay, --at */
} call_args_t;

static void
s_print_help (void)
{
    printf (
"usage: zfarm call [OPTIONS] SERVICE [PAYLOAD]\n\n"
"Runs one task on SERVICE and writes its result to stdout, byte for byte.\n"
"Without PAYLOAD the task's payload is all of stdin. Options come before\n"
"SERVICE, so a PAYLOAD may start with '-'.\n\n"
"  -b, --broker EP    broker endpoint, or several separated by commas,\n"
"                     to use them all (default $ZFARM_BROKER, else\n"
"                     %s)\n"
"  -t, --timeout MS   give up after MS milliseconds, 0 for never\n"
"                     (default %d)\n"
"  -r, --retries N    retries after a failure, 0..%d, or -1 for the\n"
"                     service's (the broker's --max-retries) (default -1)\n"
CLI_RETRY_HELP
"  -p, --progress     show the task's progress as its worker reports it,\n"
"                     on stderr: a bar redrawn in place on a terminal,\n"
"                     else a line 'progress DONE/TOTAL PCT%% NOTE' per\n"
"                     report (at most ten a second); the note escaped\n"
CLI_WHEN_HELP
"  -h, --help         show this help\n\n"
"The timeout starts when the task is due (after --delay, at --at).\n"
"Ctrl-C (SIGINT) cancels the task, which stops its work on the worker,\n"
"and exits 130 with 'zfarm: CANCELLED: ...' on stderr; a second Ctrl-C\n"
"exits at once.\n\n"
"Exit status: 0 if the task succeeded; 1 if it failed (the error is on\n"
"stderr: 'zfarm: NAME: text (details)', control characters in the details\n"
"escaped as \\n, \\x1b...); 2 for a usage error; 130 if interrupted.\n",
            ZFARM_DEFAULT_ENDPOINT, CLI_CALL_TIMEOUT_MS, ZFARM_RETRIES_MAX);
}

/* Fills args from argv. Returns -1 to go on, or the exit status. */
static int
s_parse_args (int argc, char *argv [], call_args_t *args)
{
    static const struct option options [] = {
        { "broker",  required_argument, NULL, 'b' },
        { "timeout", required_argument, NULL, 't' },
        { "retries", required_argument, NULL, 'r' },
        { "progress", no_argument,      NULL, 'p' },
        CLI_RETRY_OPTIONS,
        { "help",    no_argument,       NULL, 'h' },
        CLI_WHEN_OPTIONS,
        { NULL, 0, NULL, 0 }
    };
    opterr = 0;
    int code;
    while ((code = getopt_long (argc, argv, "+:b:t:r:ph", options, NULL)) != -1) {
        if (code == 'h') {
            s_print_help ();
            return CLI_EXIT_OK;
        }
        if (code == 'b')
            args->broker = optarg;
        else
        if (code == 'p')
            args->progress = true;
        else
        if (code == 't') {
            if (cli_parse_long (optarg, 0, INT_MAX, &args->timeout_ms) != 0)
                return cli_usage_error ("call", "bad --timeout '%s'", optarg);
        }
        else
        if (code == 'r') {
            if (cli_parse_long (optarg, -1, ZFARM_RETRIES_MAX, &args->retries) != 0)
                return cli_usage_error ("call", "bad --retries '%s'", optarg);
        }
        else
        if (code >= CLI_WHEN_PRIORITY && code <= CLI_WHEN_AT) {
            int rc = cli_when_parse (&args->when, "call", code, optarg);
            if (rc >= 0)
                return rc;
        }
        else
        if (code == CLI_OPT_RETRY_ON || code == CLI_OPT_BACKOFF) {
            int status = cli_retry_option ("call", code, optarg, &args->retry);
            if (status >= 0)
                return status;
        }
        else
            return cli_bad_option ("call", code, argv);
    }
    if (optind == argc)
        return cli_usage_error ("call", "missing SERVICE");
    if (argc - optind > 2)
        return cli_usage_error ("call", "too many arguments");
    args->service = argv [optind];
    args->payload = argc - optind == 2? argv [optind + 1]: NULL;
    return -1;
}

int
cli_read_stdin (char **data_p, size_t *size_p)
{
    size_t size = 0, capacity = 65536;
    char *data = cli_malloc (capacity);
    while (true) {
        if (size == capacity) {
            if (capacity >= STDIN_MAX) {
                fprintf (stderr, "zfarm: the payload on stdin is larger than "
                         "%zu bytes\n", STDIN_MAX);
                free (data);
                return -1;
            }
            capacity = capacity * 2 < STDIN_MAX? capacity * 2: STDIN_MAX + 1;
            data = cli_realloc (data, capacity);
        }
        size_t n = fread (data + size, 1, capacity - size, stdin);
        size += n;
        if (n == 0)
            break;
    }
    if (ferror (stdin)) {
        fprintf (stderr, "zfarm: reading stdin: %s\n", strerror (errno));
        free (data);
        return -1;
    }
    *data_p = data;
    *size_p = size;
    return 0;
}

int
cli_report_result (const zfarm_result_t *result)
{
    int status = zfarm_result_status (result);
    if (status != 0) {
        /* The details, unless there are none beyond the code's own text;
         * escaped, since a handler's stderr may hold anything. */
        const char *text = zfarm_result_error (result);
        bool details = *text && strcmp (text, zfarm_strerror (status)) != 0;
        char *shown = zfarm_escape_dup (text, strlen (text));
        fprintf (stderr, "zfarm: %s: %s%s%s%s\n", zfarm_err_name (status),
                 zfarm_strerror (status), details? " (": "",
                 details? shown: "", details? ")": "");
        free (shown);
        return status == ZFARM_ECANCELLED && zsys_interrupted?
               CLI_EXIT_INTERRUPTED: CLI_EXIT_FAILED;
    }
    size_t size;
    const void *data = zfarm_result_data (result, &size);
    if (fwrite (data, 1, size, stdout) != size || fflush (stdout) != 0) {
        fprintf (stderr, "zfarm: writing the result: %s\n", strerror (errno));
        return CLI_EXIT_FAILED;
    }
    return CLI_EXIT_OK;
}

/* zfarm_client_call, showing the task's progress reports meanwhile: the
 * task is submitted and its events waited for. Interrupted, it cancels
 * the task, whose result is then CANCELLED, as a call's is. */
static int
s_call_with_progress (zfarm_client_t *client, const call_args_t *args,
                      const void *data, size_t size,
                      zfarm_result_t **result_p)
{
    zfarm_client_set_progress_events (client, 1);
    uint64_t task_id;
    int rc = zfarm_client_submit (client, args->service, data, size,
                                  (int) args->timeout_ms, &task_id);
    if (rc != 0)
        return rc;
    progress_t *progress = progress_new_task ();
    zfarm_result_t *result = NULL;
    while (!result) {
        zfarm_event_t event;
        rc = zfarm_client_wait_event (client, -1, &event);
        if (rc == 0 && event.type == ZFARM_EVENT_PROGRESS)
            progress_report (progress, event.done, event.total, event.note);
        else
        if (rc == 0)
            result = event.result;
        else
        if (rc == ZFARM_ETIMEOUT)       /* interrupted */
            zfarm_client_cancel (client, task_id);
        else {
            /* Never: the task is pending until its result is taken. */
            result = NULL;
            break;
        }
    }
    progress_flush (progress);
    progress_destroy (&progress);       /* a bar leaves the screen */
    *result_p = result;
    return result? zfarm_result_status (result): rc;
}

static int
s_run (const call_args_t *args, const void *data, size_t size)
{
    zfarm_client_t *client = cli_connect ("call", args->broker);
    if (!client)
        return CLI_EXIT_USAGE;
    zfarm_client_set_retries (client, (int) args->retries);
    cli_when_apply (&args->when, client);
    cli_retry_apply (client, &args->retry);
    zfarm_result_t *result = NULL;
    int rc = args->progress
           ? s_call_with_progress (client, args, data, size, &result)
           : zfarm_client_call (client, args->service, data, size,
                                (int) args->timeout_ms, &result);
    int exit_status;
    if (rc == ZFARM_EINVALID && !result)
        exit_status = cli_usage_error ("call", "bad service name '%s'",
                                       args->service);
    else
    if (!result) {
        fprintf (stderr, "zfarm: %s: %s\n", zfarm_err_name (rc),
                 zfarm_strerror (rc));
        exit_status = CLI_EXIT_FAILED;
    }
    else
        exit_status = cli_report_result (result);
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    return exit_status;
}

int
cli_call (int argc, char *argv [])
{
    call_args_t args = { .timeout_ms = CLI_CALL_TIMEOUT_MS,
                         .retries = -1 };
    cli_when_init (&args.when);
    int rc = s_parse_args (argc, argv, &args);
    if (rc >= 0)
        return rc;
    if (args.payload)
        return s_run (&args, args.payload, strlen (args.payload));
    char *data;
    size_t size;
    if (cli_read_stdin (&data, &size) != 0)
        return CLI_EXIT_FAILED;
    rc = s_run (&args, data, size);
    free (data);
    return rc;
}
