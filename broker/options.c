/* options.c: command-line parsing for zfarm-broker. */
#include "options.h"
#include "journal.h"
#include "zf_defaults.h"
#include "zf_config.h"
#include "zf_log.h"
#include "zf_util.h"
#include "zf_proto.h"
#include "zf_retry.h"
#include "zfarm_codes.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
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
"      --max-retries [SERVICE=]N  retries of a failed task (default 2)\n"
"      --retry-on [SERVICE=]CODES  which failures are retried: WORKER_LOST,\n"
"                            HANDLER_ERROR, TIMEOUT (--max-call-time), comma-\n"
"                            separated, or none (default WORKER_LOST)\n"
"      --backoff [SERVICE=]MIN..MAX  wait before each retry, doubling from\n"
"                            MIN ms up to MAX ms, with jitter (default 0: none)\n"
"                            (these three: the default, or SERVICE's policy)\n"
"      --max-queue N         waiting tasks per service before QUEUE_FULL\n"
"                            (default 100000)\n"
"      --oldest-every N      every Nth task given out for a service is the one\n"
"                            waiting longest, whatever its priority, so that\n"
"                            none starves (default 16; 0: strict priority)\n"
"      --max-msg-size BYTES  refuse larger messages (default 268435456)\n"
"      --drain-timeout MS    on SIGTERM, wait this long for running tasks\n"
"                            (default 5000)\n"
"      --prefetch on|off     give busy workers short tasks in advance, taking\n"
"                            them back for idle workers (default on)\n"
"      --prefetch-below MS   tasks are short if they take less than MS on\n"
"                            average (default 5)\n"
"\n"
"Detached tasks and dead letters (zfarm submit, zfarm dead):\n"
"      --journal DIR         keep detached tasks and dead letters in DIR\n"
"                            (LMDB), across broker restarts (default: a\n"
"                            temporary directory, removed at exit)\n"
"      --journal-sync MODE   always (fsync before each acknowledgement),\n"
"                            batch (one fsync per loop turn; default) or off\n"
"                            (the kernel writes when it will)\n"
"      --journal-max-bytes N detached submits beyond N bytes of journal get\n"
"                            QUEUE_FULL (default 1073741824)\n"
"      --result-ttl SECONDS  keep a detached task's result so long (default\n"
"                            86400)\n"
"      --dead-letter         keep failed attached tasks as dead letters too\n"
"                            (detached ones always are)\n"
"      --dead-max N          dead letters kept; the oldest go first (default\n"
"                            10000)\n"
"\n"
"Security (CURVE on every tcp:// endpoint; see zfarm-broker(1)):\n"
"      --curve-secret FILE   the broker's secret certificate (zfarm keygen)\n"
"      --authorized-keys DIR public certificates of the clients and workers\n"
"                            allowed in, with their roles; read again when\n"
"                            the directory changes and on SIGHUP\n"
"      --ipc-mode OCTAL      file mode of ipc:// socket files, which are open\n"
"                            to local processes without keys (default 0600\n"
"                            with --curve-secret, else as the umask leaves it)\n"
"\n"
"Local worker pool:\n"
"      --spawn N             keep N local worker processes running\n"
"      --spawn-min N, --spawn-max M  an elastic pool instead: start N (0\n"
"                            allowed), add one process at most every 200 ms\n"
"                            while a task has waited over 100 ms, up to M\n"
"      --idle-timeout MS     elastic pool: stop a process idle this long,\n"
"                            never going below N (default 10000)\n"
"      --worker-cmd CMD      what each runs (as /bin/sh -c would), with\n"
"                            ZFARM_BROKER set to the broker's own endpoint\n"
"      --max-calls-per-worker N  retire and replace a local worker after N\n"
"                            tasks (default 0: never)\n"
"      --max-rss MB          retire and replace a local worker whose resident\n"
"                            memory passed MB, once its tasks end (default 0:\n"
"                            no limit); read at each task end and heartbeat\n"
"      --max-rss-hard MB     a local worker past MB is killed at once, its\n"
"                            tasks ending with TIMEOUT (default 0: no limit)\n"
"      --max-call-time MS    a task that runs longer ends with TIMEOUT and its\n"
"                            worker is killed (local) or dropped (remote)\n"
"                            (default 0: no limit)\n"
"  -c, --config FILE         read settings from FILE (zconfig format, section\n"
"                            \"broker\"); flags given here override it\n"
"      --http HOST:PORT      serve Prometheus metrics at /metrics and a live\n"
"                            status page at / (e.g. 127.0.0.1:9464)\n"
"      --log-level LEVEL     error, warning, notice, info (default) or debug\n"
"      --syslog              log to syslog instead of stderr\n"
"  -v, --verbose             log every task event (--log-level debug)\n"
"  -h, --help                show this help and exit\n"
"      --version             show the version and exit\n";

enum {
    OPT_ENDPOINT_FILE = 256, OPT_HEARTBEAT, OPT_LIVENESS, OPT_MAX_RETRIES,
    OPT_MAX_QUEUE, OPT_MAX_MSG_SIZE, OPT_DRAIN_TIMEOUT, OPT_VERSION,
    OPT_SPAWN, OPT_WORKER_CMD, OPT_MAX_CALLS, OPT_MAX_CALL_TIME,
    OPT_LOG_LEVEL, OPT_SYSLOG, OPT_HTTP, OPT_PREFETCH, OPT_PREFETCH_BELOW, OPT_CURVE_SECRET,
    OPT_AUTHORIZED_KEYS, OPT_IPC_MODE, OPT_OLDEST_EVERY, OPT_RETRY_ON,
    OPT_BACKOFF, OPT_MAX_RSS, OPT_MAX_RSS_HARD, OPT_SPAWN_MIN, OPT_SPAWN_MAX,
    OPT_IDLE_TIMEOUT, OPT_JOURNAL, OPT_JOURNAL_SYNC, OPT_JOURNAL_MAX_BYTES,
    OPT_RESULT_TTL, OPT_DEAD_LETTER, OPT_DEAD_MAX
};

static const struct option s_long_options [] = {
    { "bind",          required_argument, NULL, 'b' },
    { "endpoint-file", required_argument, NULL, OPT_ENDPOINT_FILE },
    { "heartbeat",     required_argument, NULL, OPT_HEARTBEAT },
    { "liveness",      required_argument, NULL, OPT_LIVENESS },
    { "max-retries",   required_argument, NULL, OPT_MAX_RETRIES },
    { "retry-on",      required_argument, NULL, OPT_RETRY_ON },
    { "backoff",       required_argument, NULL, OPT_BACKOFF },
    { "max-queue",     required_argument, NULL, OPT_MAX_QUEUE },
    { "oldest-every",  required_argument, NULL, OPT_OLDEST_EVERY },
    { "max-msg-size",  required_argument, NULL, OPT_MAX_MSG_SIZE },
    { "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
    { "spawn",         required_argument, NULL, OPT_SPAWN },
    { "worker-cmd",    required_argument, NULL, OPT_WORKER_CMD },
    { "spawn-min",     required_argument, NULL, OPT_SPAWN_MIN },
    { "spawn-max",     required_argument, NULL, OPT_SPAWN_MAX },
    { "idle-timeout",  required_argument, NULL, OPT_IDLE_TIMEOUT },
    { "max-calls-per-worker", required_argument, NULL, OPT_MAX_CALLS },
    { "max-call-time", required_argument, NULL, OPT_MAX_CALL_TIME },
    { "max-rss",       required_argument, NULL, OPT_MAX_RSS },
    { "max-rss-hard",  required_argument, NULL, OPT_MAX_RSS_HARD },
    { "config",        required_argument, NULL, 'c' },
    { "log-level",     required_argument, NULL, OPT_LOG_LEVEL },
    { "http",          required_argument, NULL, OPT_HTTP },
    { "prefetch",      required_argument, NULL, OPT_PREFETCH },
    { "prefetch-below", required_argument, NULL, OPT_PREFETCH_BELOW },
    { "curve-secret",  required_argument, NULL, OPT_CURVE_SECRET },
    { "authorized-keys", required_argument, NULL, OPT_AUTHORIZED_KEYS },
    { "ipc-mode",      required_argument, NULL, OPT_IPC_MODE },
    { "syslog",        no_argument,       NULL, OPT_SYSLOG },
    { "journal",       required_argument, NULL, OPT_JOURNAL },
    { "journal-sync",  required_argument, NULL, OPT_JOURNAL_SYNC },
    { "journal-max-bytes", required_argument, NULL, OPT_JOURNAL_MAX_BYTES },
    { "result-ttl",    required_argument, NULL, OPT_RESULT_TTL },
    { "dead-letter",   no_argument,       NULL, OPT_DEAD_LETTER },
    { "dead-max",      required_argument, NULL, OPT_DEAD_MAX },
    { "verbose",       no_argument,       NULL, 'v' },
    { "help",          no_argument,       NULL, 'h' },
    { "version",       no_argument,       NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 }
};

/* Where the arguments being parsed came from, for error messages. */
typedef struct {
    const char *file;           /* the config file, or NULL for argv */
    const int *lines;           /* line of each argument in the file */
    int index;                  /* the argument being parsed */
    bool flag_binds;            /* a --bind came from the command line */
} source_t;

static void
s_error (const source_t *source, const char *format, const char *flag,
         const char *text)
{
    if (source->file)
        fprintf (stderr, "zfarm-broker: %s:%d: ", source->file,
                 source->lines [source->index]);
    else
        fputs ("zfarm-broker: ", stderr);
    fprintf (stderr, format, flag, text);
    fputc ('\n', stderr);
}

/* Parses a numeric option into *value, or prints why it is wrong. */
static int
s_number (const source_t *source, const char *flag, const char *text,
          long min, long max, long *value)
{
    if (zf_parse_long (text, min, max, value) == 0)
        return 0;
    char expected [96];
    snprintf (expected, sizeof expected, "--%%s: expected a number from %ld"
              " to %ld, got '%%s'", min, max);
    s_error (source, expected, flag, text);
    return -1;
}

/* Parses an octal file mode (0600) into *mode, or prints why it is wrong. */
static int
s_file_mode (const source_t *source, const char *text, int *mode)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul (text, &end, 8);
    if (*text >= '0' && *text <= '7' && *end == 0 && errno == 0
    &&  value <= 0777) {
        *mode = (int) value;
        return 0;
    }
    s_error (source, "--%s: expected an octal file mode such as 0600 or 0660,"
             " got '%s'", "ipc-mode", text);
    return -1;
}

static void
s_policy_unset (retry_policy_t *policy)
{
    policy->retry_on = -1;
    policy->max_retries = -1;
    policy->backoff_min_ms = -1;
    policy->backoff_max_ms = -1;
}

/* The policy that "[SERVICE=]VALUE" sets (the default, or SERVICE's, new
 * if need be), with *value_p at VALUE; or NULL after an error. */
static retry_policy_t *
s_policy_for (options_t *options, const source_t *source, const char *flag,
              const char *arg, const char **value_p)
{
    const char *equals = strchr (arg, '=');
    *value_p = equals? equals + 1: arg;
    if (!equals)
        return &options->retry;
    size_t length = (size_t) (equals - arg);
    if (!zf_service_name_is_valid (arg, length)) {
        s_error (source, "--%s: '%s' does not start with a service name"
                 " and '='", flag, arg);
        return NULL;
    }
    for (int i = 0; i < options->policy_count; i++) {
        retry_policy_t *policy = &options->policies [i];
        if (strlen (policy->service) == length
        &&  memcmp (policy->service, arg, length) == 0)
            return policy;
    }
    if (options->policy_count == OPTIONS_POLICIES_MAX) {
        s_error (source, "--%s: more than 32 services with a policy of"
                 " their own, at '%s'", flag, arg);
        return NULL;
    }
    retry_policy_t *policy = &options->policies [options->policy_count++];
    memcpy (policy->service, arg, length);
    policy->service [length] = 0;
    s_policy_unset (policy);
    return policy;
}

static int
s_retry_option (options_t *options, source_t *source, int opt,
                const char *arg)
{
    const char *flag = opt == OPT_MAX_RETRIES? "max-retries"
                     : opt == OPT_RETRY_ON? "retry-on": "backoff";
    const char *value;
    retry_policy_t *policy = s_policy_for (options, source, flag, arg, &value);
    if (!policy)
        return -1;
    char error [160];
    if (opt == OPT_MAX_RETRIES) {
        long retries;
        if (s_number (source, flag, value, 0, ZF_RETRIES_MAX, &retries))
            return -1;
        policy->max_retries = (int) retries;
        return 0;
    }
    if (opt == OPT_RETRY_ON) {
        uint32_t bits;
        if (zf_retry_codes_parse (value, &bits, error, sizeof error) == 0) {
            policy->retry_on = bits;
            return 0;
        }
    }
    else {
        uint32_t min, max;
        if (zf_backoff_parse (value, &min, &max, error, sizeof error) == 0) {
            policy->backoff_min_ms = min;
            policy->backoff_max_ms = max;
            return 0;
        }
    }
    s_error (source, "--%s: %s", flag, error);
    return -1;
}

static int
s_option (options_t *options, source_t *source, int opt, const char *arg)
{
    long value;
    switch (opt) {
        case 'b':
            if (!source->file && !source->flag_binds) {
                options->bind_count = 0;    /* flags replace the file's */
                source->flag_binds = true;
            }
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
            if (s_number (source, "heartbeat", arg, ZF_HEARTBEAT_MIN_MS,
                          ZF_HEARTBEAT_MAX_MS, &value)) return -1;
            options->heartbeat_ms = (int) value;
            return 0;
        case OPT_LIVENESS:
            if (s_number (source, "liveness", arg, 1, ZF_LIVENESS_MAX,
                          &value)) return -1;
            options->liveness = (int) value;
            return 0;
        case OPT_MAX_RETRIES:
        case OPT_RETRY_ON:
        case OPT_BACKOFF:
            return s_retry_option (options, source, opt, arg);
        case OPT_MAX_QUEUE:
            if (s_number (source, "max-queue", arg, 1, 100000000, &value)) return -1;
            options->max_queue = value;
            return 0;
        case OPT_OLDEST_EVERY:
            if (s_number (source, "oldest-every", arg, 0, 1000000, &value))
                return -1;
            options->oldest_every = (uint32_t) value;
            return 0;
        case OPT_MAX_MSG_SIZE:
            if (s_number (source, "max-msg-size", arg, 4096, 1L << 40, &value)) return -1;
            options->max_msg_size = value;
            return 0;
        case OPT_DRAIN_TIMEOUT:
            if (s_number (source, "drain-timeout", arg, 0,
                          ZF_DRAIN_TIMEOUT_MAX_MS, &value)) return -1;
            options->drain_timeout_ms = (int) value;
            return 0;
        case OPT_SPAWN:
            if (s_number (source, "spawn", arg, 0, 1024, &value)) return -1;
            options->spawn = (int) value;
            return 0;
        case OPT_WORKER_CMD:
            options->worker_cmd = arg;
            return 0;
        case OPT_SPAWN_MIN:
            if (s_number (source, "spawn-min", arg, 0, 1024, &value)) return -1;
            options->spawn_min = (int) value;
            return 0;
        case OPT_SPAWN_MAX:
            if (s_number (source, "spawn-max", arg, 1, 1024, &value)) return -1;
            options->spawn_max = (int) value;
            return 0;
        case OPT_IDLE_TIMEOUT:
            if (s_number (source, "idle-timeout", arg, 1,
                          ZF_IDLE_TIMEOUT_MAX_MS, &value))
                return -1;
            options->idle_timeout_ms = value;
            return 0;
        case OPT_MAX_CALLS:
            return s_number (source, "max-calls-per-worker", arg, 0, 1L << 40,
                             &options->max_calls_per_worker);
        case OPT_MAX_CALL_TIME:
            return s_number (source, "max-call-time", arg, 0, 1L << 40,
                             &options->max_call_time_ms);
        case OPT_MAX_RSS:
            return s_number (source, "max-rss", arg, 0, 1L << 30,
                             &options->max_rss_mb);
        case OPT_MAX_RSS_HARD:
            return s_number (source, "max-rss-hard", arg, 0, 1L << 30,
                             &options->max_rss_hard_mb);
        case OPT_LOG_LEVEL:
            if (zf_log_parse_level (arg, &options->log_level) == 0)
                return 0;
            s_error (source, "--%s: expected error, warning, notice, info or"
                     " debug, got '%s'", "log-level", arg);
            return -1;
        case OPT_PREFETCH:
            if (strcmp (arg, "on") == 0 || strcmp (arg, "off") == 0) {
                options->prefetch = strcmp (arg, "on") == 0;
                return 0;
            }
            s_error (source, "--%s: expected on or off, got '%s'", "prefetch", arg);
            return -1;
        case OPT_PREFETCH_BELOW:
            if (s_number (source, "prefetch-below", arg, 1, 3600000, &value))
                return -1;
            options->prefetch_below_us = value * 1000;
            return 0;
        case OPT_HTTP:
            options->http = arg;
            return 0;
        case OPT_CURVE_SECRET:
            options->curve_secret = arg;
            return 0;
        case OPT_AUTHORIZED_KEYS:
            options->authorized_keys = arg;
            return 0;
        case OPT_IPC_MODE:
            return s_file_mode (source, arg, &options->ipc_mode);
        case OPT_SYSLOG:
            options->syslog = true;
            return 0;
        case OPT_JOURNAL:
            options->journal = arg;
            return 0;
        case OPT_JOURNAL_SYNC:
            if ((options->journal_sync = journal_sync_from_name (arg)))
                return 0;
            s_error (source, "--%s: expected always, batch or off, got '%s'",
                     "journal-sync", arg);
            return -1;
        case OPT_JOURNAL_MAX_BYTES:
            if (s_number (source, "journal-max-bytes", arg, 1L << 20, 1L << 40,
                          &value)) return -1;
            options->journal_max_bytes = value;
            return 0;
        case OPT_RESULT_TTL:
            return s_number (source, "result-ttl", arg, 1, 1L << 31,
                             &options->result_ttl_s);
        case OPT_DEAD_LETTER:
            options->dead_letter = true;
            return 0;
        case OPT_DEAD_MAX:
            return s_number (source, "dead-max", arg, 1, 100000000,
                             &options->dead_max);
        case 'c':
            return 0;                   /* read before everything else */
        case 'v':
            options->log_level = ZF_LOG_DEBUG;
            return 0;
    }
    return -1;
}

/* Parses one list of arguments (the file's, then the command line's).
 * Returns 0, 1 after --help or --version, or -1 after an error. */
static int
s_parse_args (options_t *options, source_t *source, int argc, char *argv [])
{
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":b:c:vh", s_long_options, NULL)) != -1) {
        source->index = optind - 1;
        if (opt == 'h') {
            fputs (s_usage, stdout);
            return 1;
        }
        if (opt == OPT_VERSION) {
            printf ("zfarm-broker %s\n", ZFARM_VERSION);
            return 1;
        }
        if (opt == '?' || opt == ':') {
            s_error (source, "%s '%s'\nTry 'zfarm-broker --help'.",
                     opt == '?'? "unknown option": "missing value for",
                     argv [optind - 1]);
            return -1;
        }
        if (s_option (options, source, opt, optarg))
            return -1;
    }
    if (optind < argc) {
        s_error (source, "%s '%s'\nTry 'zfarm-broker --help'.",
                 "unexpected argument", argv [optind]);
        return -1;
    }
    return 0;
}

static void
s_defaults (options_t *options)
{
    memset (options, 0, sizeof *options);
    options->heartbeat_ms = ZF_DEFAULT_HEARTBEAT_MS;
    options->liveness = ZF_DEFAULT_LIVENESS;
    options->retry.max_retries = ZF_DEFAULT_MAX_RETRIES;
    options->retry.retry_on = ZF_RETRY_BIT (ZFARM_EWORKER_LOST);
    options->retry.backoff_min_ms = 0;
    options->retry.backoff_max_ms = 0;
    options->max_queue = ZF_DEFAULT_MAX_QUEUE;
    options->oldest_every = ZF_DEFAULT_OLDEST_EVERY;
    options->max_msg_size = ZF_DEFAULT_MAX_MSG_SIZE;
    options->drain_timeout_ms = 5000;
    options->log_level = ZF_LOG_INFO;
    options->prefetch = true;
    options->prefetch_below_us = 5000;
    options->ipc_mode = -1;
    options->idle_timeout_ms = ZF_POOL_IDLE_TIMEOUT_MS;
    options->journal_sync = JOURNAL_SYNC_BATCH;
    options->journal_max_bytes = 1LL << 30;
    options->result_ttl_s = 86400;
    options->dead_max = 10000;
}

/* Reads the config file's arguments (kept in options: it points into
 * them) and parses them. */
static int
s_parse_file (options_t *options, const char *path)
{
    char error [512];
    options->config_path = path;
    if (zf_config_args (path, "broker", s_long_options, &options->file_args,
                        error, sizeof error) != 0) {
        fprintf (stderr, "zfarm-broker: %s:%s\n", path, error);
        return -1;
    }
    source_t source = { .file = path, .lines = options->file_args.lines };
    return s_parse_args (options, &source, options->file_args.argc,
                         options->file_args.argv);
}

int
options_parse (options_t *options, int argc, char *argv [])
{
    s_defaults (options);
    options->argc = argc;
    options->argv = argv;
    const char *path = zf_config_path (argc, argv, 'c', NULL);
    int rc = path? s_parse_file (options, path): 0;
    source_t source = { .file = NULL };
    if (rc == 0)
        rc = s_parse_args (options, &source, argc, argv);
    if (rc != 0)
        return rc;
    if (options->spawn_max || options->spawn_min) {
        if (options->spawn || !options->spawn_max
        ||  options->spawn_min > options->spawn_max) {
            fprintf (stderr, "zfarm-broker: --spawn-max M (with --spawn-min"
                     " N <= M) replaces --spawn\n");
            return -1;
        }
        /* The pool has M slots; the broker grows and shrinks it. */
        options->spawn = options->spawn_max;
    }
    if (options->spawn && !options->worker_cmd) {
        fprintf (stderr, "zfarm-broker: --spawn needs --worker-cmd\n");
        return -1;
    }
    if ((options->curve_secret == NULL) != (options->authorized_keys == NULL)) {
        fprintf (stderr, "zfarm-broker: --curve-secret and --authorized-keys"
                 " go together: CURVE without a list of allowed keys would"
                 " let any key in\n");
        return -1;
    }
    if (options->bind_count == 0)
        options->binds [options->bind_count++] = ZF_DEFAULT_ENDPOINT;
    return 0;
}

void
options_free (options_t *options)
{
    zf_config_args_free (&options->file_args);
}

void
options_retry_policy (const options_t *options, const char *name,
                      retry_policy_t *policy)
{
    *policy = options->retry;
    for (int i = 0; i < options->policy_count; i++) {
        const retry_policy_t *own = &options->policies [i];
        if (strcmp (own->service, name) != 0)
            continue;
        if (own->retry_on >= 0)
            policy->retry_on = own->retry_on;
        if (own->max_retries >= 0)
            policy->max_retries = own->max_retries;
        if (own->backoff_max_ms >= 0) {
            policy->backoff_min_ms = own->backoff_min_ms;
            policy->backoff_max_ms = own->backoff_max_ms;
        }
        break;
    }
}
