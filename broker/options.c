/* options.c: command-line parsing for zfarm-broker. */
#include "options.h"
#include "zf_defaults.h"
#include "zf_util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char s_usage [] =
"Usage: zfarm-broker [OPTION]...\n"
"Dispatch tasks from zfarm clients to zfarm workers.\n"
"\n"
"  -b, --bind ENDPOINT       listen on ENDPOINT (tcp://HOST:PORT or ipc://PATH);\n"
"                            repeatable (default " ZF_DEFAULT_ENDPOINT ")\n"
"      --endpoint-file FILE  write the bound endpoints to FILE, one per line\n"
"      --heartbeat MS        heartbeat interval (default 500)\n"
"      --liveness N          missed heartbeats before a worker is dead (default 3)\n"
"      --max-retries N       re-dispatches of a task whose worker died (default 2)\n"
"      --max-queue N         waiting tasks per service before QUEUE_FULL\n"
"                            (default 100000)\n"
"      --max-msg-size BYTES  refuse larger messages (default 268435456)\n"
"      --drain-timeout MS    on SIGTERM, wait this long for running tasks\n"
"                            (default 5000)\n"
"\n"
"Local worker pool:\n"
"      --spawn N             keep N local worker processes running\n"
"      --worker-cmd CMD      what each runs (through /bin/sh -c), with\n"
"                            ZFARM_BROKER set to the broker's own endpoint\n"
"      --max-calls-per-worker N  retire and replace a local worker after N\n"
"                            tasks (default 0: never)\n"
"      --max-call-time MS    a task that runs longer ends with TIMEOUT and its\n"
"                            worker is killed (local) or dropped (remote)\n"
"                            (default 0: no limit)\n"
"  -v, --verbose             log every task event\n"
"  -h, --help                show this help and exit\n"
"      --version             show the version and exit\n";

enum {
    OPT_ENDPOINT_FILE = 256, OPT_HEARTBEAT, OPT_LIVENESS, OPT_MAX_RETRIES,
    OPT_MAX_QUEUE, OPT_MAX_MSG_SIZE, OPT_DRAIN_TIMEOUT, OPT_VERSION,
    OPT_SPAWN, OPT_WORKER_CMD, OPT_MAX_CALLS, OPT_MAX_CALL_TIME
};

static const struct option s_long_options [] = {
    { "bind",          required_argument, NULL, 'b' },
    { "endpoint-file", required_argument, NULL, OPT_ENDPOINT_FILE },
    { "heartbeat",     required_argument, NULL, OPT_HEARTBEAT },
    { "liveness",      required_argument, NULL, OPT_LIVENESS },
    { "max-retries",   required_argument, NULL, OPT_MAX_RETRIES },
    { "max-queue",     required_argument, NULL, OPT_MAX_QUEUE },
    { "max-msg-size",  required_argument, NULL, OPT_MAX_MSG_SIZE },
    { "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
    { "spawn",         required_argument, NULL, OPT_SPAWN },
    { "worker-cmd",    required_argument, NULL, OPT_WORKER_CMD },
    { "max-calls-per-worker", required_argument, NULL, OPT_MAX_CALLS },
    { "max-call-time", required_argument, NULL, OPT_MAX_CALL_TIME },
    { "verbose",       no_argument,       NULL, 'v' },
    { "help",          no_argument,       NULL, 'h' },
    { "version",       no_argument,       NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 }
};

/* Parses a numeric flag into *value, or prints why it is wrong. */
static int
s_number (const char *flag, const char *text, long min, long max, long *value)
{
    if (zf_parse_long (text, min, max, value) == 0)
        return 0;
    fprintf (stderr, "zfarm-broker: --%s: expected a number from %ld to %ld,"
             " got '%s'\n", flag, min, max, text);
    return -1;
}

static int
s_option (options_t *options, int opt, const char *arg)
{
    long value;
    switch (opt) {
        case 'b':
            if (options->bind_count == OPTIONS_BINDS_MAX) {
                fprintf (stderr, "zfarm-broker: at most %d --bind\n",
                         OPTIONS_BINDS_MAX);
                return -1;
            }
            options->binds [options->bind_count++] = arg;
            return 0;
        case OPT_ENDPOINT_FILE:
            options->endpoint_file = arg;
            return 0;
        case OPT_HEARTBEAT:
            if (s_number ("heartbeat", arg, 10, 600000, &value)) return -1;
            options->heartbeat_ms = (int) value;
            return 0;
        case OPT_LIVENESS:
            if (s_number ("liveness", arg, 1, 100, &value)) return -1;
            options->liveness = (int) value;
            return 0;
        case OPT_MAX_RETRIES:
            if (s_number ("max-retries", arg, 0, ZF_RETRIES_MAX, &value)) return -1;
            options->max_retries = (int) value;
            return 0;
        case OPT_MAX_QUEUE:
            if (s_number ("max-queue", arg, 1, 100000000, &value)) return -1;
            options->max_queue = value;
            return 0;
        case OPT_MAX_MSG_SIZE:
            if (s_number ("max-msg-size", arg, 4096, 1L << 40, &value)) return -1;
            options->max_msg_size = value;
            return 0;
        case OPT_DRAIN_TIMEOUT:
            if (s_number ("drain-timeout", arg, 0, 3600000, &value)) return -1;
            options->drain_timeout_ms = (int) value;
            return 0;
        case OPT_SPAWN:
            if (s_number ("spawn", arg, 0, 1024, &value)) return -1;
            options->spawn = (int) value;
            return 0;
        case OPT_WORKER_CMD:
            options->worker_cmd = arg;
            return 0;
        case OPT_MAX_CALLS:
            return s_number ("max-calls-per-worker", arg, 0, 1L << 40,
                             &options->max_calls_per_worker);
        case OPT_MAX_CALL_TIME:
            return s_number ("max-call-time", arg, 0, 1L << 40,
                             &options->max_call_time_ms);
        case 'v':
            options->verbose = true;
            return 0;
    }
    return -1;
}

int
options_parse (options_t *options, int argc, char *argv [])
{
    memset (options, 0, sizeof *options);
    options->heartbeat_ms = ZF_DEFAULT_HEARTBEAT_MS;
    options->liveness = ZF_DEFAULT_LIVENESS;
    options->max_retries = ZF_DEFAULT_MAX_RETRIES;
    options->max_queue = ZF_DEFAULT_MAX_QUEUE;
    options->max_msg_size = ZF_DEFAULT_MAX_MSG_SIZE;
    options->drain_timeout_ms = 5000;

    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":b:vh", s_long_options, NULL)) != -1) {
        if (opt == 'h') {
            fputs (s_usage, stdout);
            return 1;
        }
        if (opt == OPT_VERSION) {
            printf ("zfarm-broker %s\n", ZFARM_VERSION);
            return 1;
        }
        if (opt == '?' || opt == ':') {
            fprintf (stderr, "zfarm-broker: %s '%s'\n"
                     "Try 'zfarm-broker --help'.\n",
                     opt == '?'? "unknown option": "missing value for",
                     argv [optind - 1]);
            return -1;
        }
        if (s_option (options, opt, optarg))
            return -1;
    }
    if (optind < argc) {
        fprintf (stderr, "zfarm-broker: unexpected argument '%s'\n"
                 "Try 'zfarm-broker --help'.\n", argv [optind]);
        return -1;
    }
    if (options->spawn && !options->worker_cmd) {
        fprintf (stderr, "zfarm-broker: --spawn needs --worker-cmd\n");
        return -1;
    }
    if (options->bind_count == 0)
        options->binds [options->bind_count++] = ZF_DEFAULT_ENDPOINT;
    return 0;
}
