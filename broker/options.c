/* options.c: command-line parsing for zfarm-broker. */
#include "options.h"
#include "journal.h"
#include "zf_defaults.h"
#include "zf_config.h"
#include "zf_log.h"
#include "zf_util.h"
#include "zf_proto.h"
#include "zf_options.h"
#include "zf_retry.h"
#include "zfarm_codes.h"

#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Numbers in --help from the constants the code uses. */
#define S_STR(x)    S_STR_(x)
#define S_STR_(x)   #x

static const char s_usage_head [] =
"Usage: zfarm-broker [OPTION]...\n"
"Dispatch tasks from zfarm clients to zfarm workers.\n"
"\n";

/* Options the parsing loop itself acts on. */
enum { TAG_BIND = 1, TAG_CONFIG, TAG_HELP, TAG_VERSION };

#define FIELD(f)        .offset = offsetof (options_t, f), \
                        .size = sizeof ((options_t *) 0)->f
#define NUMBER(lo, hi)  .kind = ZF_OPTION_NUMBER, .min = (lo), .max = (hi)
#define STRING          .kind = ZF_OPTION_STRING
#define TRUE_FLAG       .kind = ZF_OPTION_TRUE
#define CUSTOM(fn)      .kind = ZF_OPTION_CUSTOM, .parse = (fn)
#define HEADING(text)   { .name = (text), .kind = ZF_OPTION_HEADING }
/* The three retry options write one range: the default and per service. */
#define RETRY_POLICIES  .offset = offsetof (options_t, retry), \
                        .size = offsetof (options_t, policy_count) \
                              + sizeof (int) - offsetof (options_t, retry)

static zf_option_parse_fn s_retry_option, s_verbose,
                          s_prefetch, s_prefetch_below, s_file_mode,
                          s_journal_sync;
static zf_option_differs_fn s_binds_differ;

/* Every option of zfarm-broker, in --help's order. Strings are
 * ZF_RELOAD_RESTART or NONE: a reload's fresh values point into memory
 * that it frees. */
static const zf_option_t s_options [] = {
    { .name = "bind", .letter = 'b', .arg = "ENDPOINT", .tag = TAG_BIND,
      .help = "listen on ENDPOINT (tcp://HOST:PORT or ipc://PATH);\n"
              "repeatable (default " ZF_DEFAULT_ENDPOINT ")",
      .offset = offsetof (options_t, binds), .differs = s_binds_differ,
      .size = sizeof ((options_t *) 0)->binds, .kind = ZF_OPTION_CUSTOM,
      .reload = ZF_RELOAD_RESTART },
    { .name = "endpoint-file", .arg = "FILE", FIELD (endpoint_file), STRING,
      .help = "write the bound endpoints to FILE, one per line",
      .reload = ZF_RELOAD_RESTART },
    { .name = "heartbeat", .arg = "MS", FIELD (heartbeat_ms),
      NUMBER (ZF_HEARTBEAT_MIN_MS, ZF_HEARTBEAT_MAX_MS),
      .help = "heartbeat interval (default " S_STR (ZF_DEFAULT_HEARTBEAT_MS) ")",
      .reload = ZF_RELOAD_RESTART },
    { .name = "liveness", .arg = "N", FIELD (liveness),
      NUMBER (1, ZF_LIVENESS_MAX),
      .help = "missed heartbeats before a worker is dead (default "
              S_STR (ZF_DEFAULT_LIVENESS) ")",
      .reload = ZF_RELOAD_RESTART },
    { .name = "max-retries", .arg = "N", .usage = "--max-retries [SERVICE=]N",
      RETRY_POLICIES, CUSTOM (s_retry_option), .reload = ZF_RELOAD_LIVE,
      .help = "retries of a failed task (default "
              S_STR (ZF_DEFAULT_MAX_RETRIES) ")" },
    { .name = "retry-on", .arg = "CODES", .usage = "--retry-on [SERVICE=]CODES",
      RETRY_POLICIES, CUSTOM (s_retry_option), .reload = ZF_RELOAD_LIVE,
      .help = "which failures are retried: WORKER_LOST,\n"
              "HANDLER_ERROR, TIMEOUT (--max-call-time), comma-\n"
              "separated, or none (default WORKER_LOST)" },
    { .name = "backoff", .arg = "MIN..MAX",
      .usage = "--backoff [SERVICE=]MIN..MAX",
      RETRY_POLICIES, CUSTOM (s_retry_option), .reload = ZF_RELOAD_LIVE,
      .help = "wait before each retry, doubling from\n"
              "MIN ms up to MAX ms, with jitter (default 0: none)\n"
              "(these three: the default, or SERVICE's policy)" },
    { .name = "max-queue", .arg = "N", FIELD (max_queue),
      NUMBER (1, 100000000), .reload = ZF_RELOAD_LIVE,
      .help = "waiting tasks per service before QUEUE_FULL\n"
              "(default " S_STR (ZF_DEFAULT_MAX_QUEUE) ")" },
    { .name = "oldest-every", .arg = "N", FIELD (oldest_every),
      NUMBER (0, 1000000), .reload = ZF_RELOAD_LIVE,
      .help = "every Nth task given out for a service is the one\n"
              "waiting longest, whatever its priority, so that\n"
              "none starves (default " S_STR (ZF_DEFAULT_OLDEST_EVERY)
              "; 0: strict priority)" },
    { .name = "max-msg-size", .arg = "BYTES", FIELD (max_msg_size),
      NUMBER (4096, 1LL << 40), .reload = ZF_RELOAD_RESTART,
      .help = "refuse larger messages (default 268435456)" },
    { .name = "drain-timeout", .arg = "MS", FIELD (drain_timeout_ms),
      NUMBER (0, ZF_DRAIN_TIMEOUT_MAX_MS), .reload = ZF_RELOAD_LIVE,
      .help = "on SIGTERM, wait this long for running tasks\n"
              "(default " S_STR (ZF_POOL_STOP_GRACE_MS) ")" },
    { .name = "prefetch", .arg = "on|off", FIELD (prefetch),
      CUSTOM (s_prefetch), .reload = ZF_RELOAD_LIVE,
      .help = "give busy workers short tasks in advance, taking\n"
              "them back for idle workers (default on)" },
    { .name = "prefetch-below", .arg = "MS", FIELD (prefetch_below_us),
      CUSTOM (s_prefetch_below), .reload = ZF_RELOAD_LIVE,
      .help = "tasks are short if they take less than MS on\n"
              "average (default 5)" },

    HEADING ("Detached tasks and dead letters (zfarm submit, zfarm dead):"),
    { .name = "journal", .arg = "DIR", FIELD (journal), STRING,
      .reload = ZF_RELOAD_RESTART,
      .help = "keep detached tasks and dead letters in DIR\n"
              "(LMDB), across broker restarts (default: a\n"
              "temporary directory, removed at exit)" },
    { .name = "journal-sync", .arg = "MODE", FIELD (journal_sync),
      CUSTOM (s_journal_sync), .reload = ZF_RELOAD_RESTART,
      .help = "always (fsync before each acknowledgement),\n"
              "batch (one fsync per loop turn; default) or off\n"
              "(the kernel writes when it will)" },
    { .name = "journal-max-bytes", .arg = "N", FIELD (journal_max_bytes),
      NUMBER (1LL << 20, 1LL << 40), .reload = ZF_RELOAD_RESTART,
      .help = "detached submits beyond N bytes of journal get\n"
              "QUEUE_FULL (default 1073741824)" },
    { .name = "result-ttl", .arg = "SECONDS", FIELD (result_ttl_s),
      NUMBER (1, 1LL << 31), .reload = ZF_RELOAD_LIVE,
      .help = "keep a detached task's result so long (default\n"
              "86400)" },
    { .name = "dead-letter", FIELD (dead_letter), TRUE_FLAG,
      .reload = ZF_RELOAD_LIVE,
      .help = "keep failed attached tasks as dead letters too\n"
              "(detached ones always are)" },
    { .name = "dead-max", .arg = "N", FIELD (dead_max),
      NUMBER (1, 100000000), .reload = ZF_RELOAD_LIVE,
      .help = "dead letters kept; the oldest go first (default\n"
              "10000)" },

    HEADING ("Security (CURVE on every tcp:// endpoint; see zfarm-broker(1)):"),
    { .name = "curve-secret", .arg = "FILE", FIELD (curve_secret), STRING,
      .reload = ZF_RELOAD_RESTART,
      .help = "the broker's secret certificate (zfarm keygen)" },
    /* A reload reads the keys again from the directory named now. */
    { .name = "authorized-keys", .arg = "DIR", FIELD (authorized_keys),
      STRING, .reload = ZF_RELOAD_NONE,
      .help = "public certificates of the clients and workers\n"
              "allowed in, with their roles; read again when\n"
              "the directory changes and on SIGHUP" },
    { .name = "ipc-mode", .arg = "OCTAL", FIELD (ipc_mode),
      CUSTOM (s_file_mode), .reload = ZF_RELOAD_RESTART,
      .help = "file mode of ipc:// socket files, which are open\n"
              "to local processes without keys (default 0600\n"
              "with --curve-secret, else as the umask leaves it)" },

    HEADING ("Local worker pool:"),
    { .name = "spawn", .arg = "N", FIELD (spawn), NUMBER (0, 1024),
      .reload = ZF_RELOAD_RESTART,
      .help = "keep N local worker processes running" },
    { .name = "spawn-min", .arg = "N", FIELD (spawn_min), NUMBER (0, 1024),
      .reload = ZF_RELOAD_RESTART,
      .usage = "--spawn-min N, --spawn-max M",
      .help = "an elastic pool instead: start N (0\n"
              "allowed), add one process at most every "
              S_STR (ZF_POOL_GROW_MS) " ms\n"
              "while a task has waited over "
              S_STR (ZF_POOL_GROW_WAIT_MS) " ms, up to M" },
    { .name = "spawn-max", .arg = "M", FIELD (spawn_max), NUMBER (1, 1024),
      .reload = ZF_RELOAD_RESTART },
    { .name = "idle-timeout", .arg = "MS", FIELD (idle_timeout_ms),
      NUMBER (1, ZF_IDLE_TIMEOUT_MAX_MS), .reload = ZF_RELOAD_LIVE,
      .help = "elastic pool: stop a process idle this long,\n"
              "never going below N (default "
              S_STR (ZF_POOL_IDLE_TIMEOUT_MS) ")" },
    { .name = "worker-cmd", .arg = "CMD", FIELD (worker_cmd), STRING,
      .reload = ZF_RELOAD_RESTART,
      .help = "what each runs (as /bin/sh -c would), with\n"
              "ZFARM_BROKER set to the broker's own endpoint" },
    { .name = "max-calls-per-worker", .arg = "N",
      FIELD (max_calls_per_worker), NUMBER (0, 1LL << 40),
      .reload = ZF_RELOAD_LIVE,
      .help = "retire and replace a local worker after N\n"
              "tasks (default 0: never)" },
    { .name = "max-rss", .arg = "MB", FIELD (max_rss_mb),
      NUMBER (0, 1LL << 30), .reload = ZF_RELOAD_LIVE,
      .help = "retire and replace a local worker whose resident\n"
              "memory passed MB, once its tasks end (default 0:\n"
              "no limit); read at each task end and heartbeat" },
    { .name = "max-rss-hard", .arg = "MB", FIELD (max_rss_hard_mb),
      NUMBER (0, 1LL << 30), .reload = ZF_RELOAD_LIVE,
      .help = "a local worker past MB is killed at once, its\n"
              "tasks ending with TIMEOUT (default 0: no limit)" },
    { .name = "max-call-time", .arg = "MS", FIELD (max_call_time_ms),
      NUMBER (0, 1LL << 40), .reload = ZF_RELOAD_LIVE,
      .help = "a task that runs longer ends with TIMEOUT and its\n"
              "worker is killed (local) or dropped (remote)\n"
              "(default 0: no limit)" },

    HEADING ("Operation:"),
    { .name = "config", .letter = 'c', .arg = "FILE", .tag = TAG_CONFIG,
      .kind = ZF_OPTION_STRING,
      .help = "read settings from FILE (zconfig format, section\n"
              "\"broker\"); flags given here override it; SIGHUP\n"
              "reads it again" },
    { .name = "http", .arg = "HOST:PORT", FIELD (http), STRING,
      .reload = ZF_RELOAD_RESTART,
      .help = "serve Prometheus metrics at /metrics and a live\n"
              "status page at / (e.g. 127.0.0.1:9464)" },
    { .name = "log-level", .arg = "LEVEL", FIELD (log_level),
      CUSTOM (zf_options_log_level), .reload = ZF_RELOAD_LIVE,
      .help = "error, warning, notice, info (default) or debug" },
    { .name = "syslog", FIELD (syslog), TRUE_FLAG,
      .reload = ZF_RELOAD_RESTART,
      .help = "log to syslog instead of stderr" },
    { .name = "verbose", .letter = 'v', FIELD (log_level),
      CUSTOM (s_verbose), .reload = ZF_RELOAD_LIVE,
      .help = "log every task event (--log-level debug)" },
    { .name = "help", .letter = 'h', .tag = TAG_HELP, TRUE_FLAG,
      .help = "show this help and exit" },
    { .name = "version", .tag = TAG_VERSION, TRUE_FLAG,
      .help = "show the version and exit" },
    { .name = NULL }
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

/* ---- values that are more than a number or a string ------------------- */

static int
s_file_mode (void *settings, const zf_option_t *option, const char *text,
             char *error, size_t error_size)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul (text, &end, 8);
    if (*text >= '0' && *text <= '7' && *end == 0 && errno == 0
    &&  value <= 0777) {
        *ZF_OPTION_FIELD (settings, option, int) = (int) value;
        return 0;
    }
    snprintf (error, error_size, "expected an octal file mode such as 0600"
              " or 0660, got '%s'", text);
    return -1;
}

static int
s_verbose (void *settings, const zf_option_t *option, const char *text,
           char *error, size_t error_size)
{
    (void) text, (void) error, (void) error_size;
    *ZF_OPTION_FIELD (settings, option, int) = ZF_LOG_DEBUG;
    return 0;
}

static int
s_prefetch (void *settings, const zf_option_t *option, const char *text,
            char *error, size_t error_size)
{
    if (streq (text, "on") || streq (text, "off")) {
        *ZF_OPTION_FIELD (settings, option, bool) = streq (text, "on");
        return 0;
    }
    snprintf (error, error_size, "expected on or off, got '%s'", text);
    return -1;
}

/* Given in ms, kept in µs, as the averages it is compared with. */
static int
s_prefetch_below (void *settings, const zf_option_t *option,
                  const char *text, char *error, size_t error_size)
{
    long ms;
    if (zf_parse_long (text, 1, 3600000, &ms) == 0) {
        *ZF_OPTION_FIELD (settings, option, long) = ms * 1000;
        return 0;
    }
    snprintf (error, error_size, "expected a number from 1 to 3600000,"
              " got '%s'", text);
    return -1;
}

static int
s_journal_sync (void *settings, const zf_option_t *option, const char *text,
                char *error, size_t error_size)
{
    int mode = journal_sync_from_name (text);
    if (mode) {
        *ZF_OPTION_FIELD (settings, option, int) = mode;
        return 0;
    }
    snprintf (error, error_size, "expected always, batch or off, got '%s'",
              text);
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
 * if need be), with *value_p at VALUE; or NULL with why in error. */
static retry_policy_t *
s_policy_for (options_t *options, const char *arg, const char **value_p,
              char *error, size_t error_size)
{
    const char *equals = strchr (arg, '=');
    *value_p = equals? equals + 1: arg;
    if (!equals)
        return &options->retry;
    size_t length = (size_t) (equals - arg);
    if (!zf_service_name_is_valid (arg, length)) {
        snprintf (error, error_size, "'%s' does not start with a service"
                  " name and '='", arg);
        return NULL;
    }
    for (int i = 0; i < options->policy_count; i++) {
        retry_policy_t *policy = &options->policies [i];
        if (strlen (policy->service) == length
        &&  memcmp (policy->service, arg, length) == 0)
            return policy;
    }
    if (options->policy_count == OPTIONS_POLICIES_MAX) {
        snprintf (error, error_size, "more than %d services with a policy"
                  " of their own, at '%s'", OPTIONS_POLICIES_MAX, arg);
        return NULL;
    }
    retry_policy_t *policy = &options->policies [options->policy_count++];
    memcpy (policy->service, arg, length);
    policy->service [length] = 0;
    s_policy_unset (policy);
    return policy;
}

/* --max-retries, --retry-on, --backoff: [SERVICE=]VALUE. */
static int
s_retry_option (void *settings, const zf_option_t *option, const char *arg,
                char *error, size_t error_size)
{
    const char *value;
    retry_policy_t *policy = s_policy_for (settings, arg, &value, error,
                                           error_size);
    if (!policy)
        return -1;
    if (streq (option->name, "max-retries")) {
        long retries;
        if (zf_parse_long (value, 0, ZF_RETRIES_MAX, &retries) == 0) {
            policy->max_retries = (int) retries;
            return 0;
        }
        snprintf (error, error_size, "expected a number from 0 to %d, got"
                  " '%s'", ZF_RETRIES_MAX, value);
        return -1;
    }
    if (streq (option->name, "retry-on")) {
        uint32_t bits;
        if (zf_retry_codes_parse (value, &bits, error, error_size) != 0)
            return -1;
        policy->retry_on = bits;
        return 0;
    }
    uint32_t min, max;
    if (zf_backoff_parse (value, &min, &max, error, error_size) != 0)
        return -1;
    policy->backoff_min_ms = min;
    policy->backoff_max_ms = max;
    return 0;
}

static bool
s_binds_differ (const void *now_p, const void *fresh_p,
                const zf_option_t *option)
{
    (void) option;
    const options_t *now = now_p, *fresh = fresh_p;
    bool differ = fresh->bind_count != now->bind_count;
    for (int i = 0; !differ && i < fresh->bind_count; i++)
        differ = !streq (fresh->binds [i], now->binds [i]);
    return differ;
}

/* Flags replace the file's endpoints; each list may add up to the most. */
static int
s_bind (options_t *options, source_t *source, const char *endpoint)
{
    if (!source->file && !source->flag_binds) {
        options->bind_count = 0;
        source->flag_binds = true;
    }
    if (options->bind_count == OPTIONS_BINDS_MAX) {
        s_error (source, "--%s: at most %s endpoints", "bind",
                 S_STR (OPTIONS_BINDS_MAX));
        return -1;
    }
    options->binds [options->bind_count++] = endpoint;
    return 0;
}

/* ---- parsing -------------------------------------------------------------- */

/* --help, ending with what SIGHUP applies, from the table. */
static void
s_usage (void)
{
    fputs (s_usage_head, stdout);
    zf_options_usage (s_options, 28, stdout);
    fputs ("\nSIGHUP reads the settings again and applies", stdout);
    const char *separator = ":";
    int column = 44;
    for (const zf_option_t *row = s_options; row->name; row++) {
        if (row->reload != ZF_RELOAD_LIVE || !row->help)
            continue;
        int width = (int) strlen (row->name) + 2;
        if (column + width > 76) {
            printf ("%s\n ", separator);
            column = 1;
        }
        else
            fputs (separator, stdout);
        printf (" %s", row->name);
        column += width;
        separator = ",";
    }
    puts (";\nit reads the --authorized-keys directory again; the others"
          " need a restart,\nand it names each one that changed.");
}

/* Parses one list of arguments (the file's, then the command line's).
 * Returns 0, 1 after --help or --version, or -1 after an error. */
static int
s_parse_args (options_t *options, source_t *source, int argc, char *argv [])
{
    zf_getopt_t getopt;
    zf_options_getopt (s_options, ":", &getopt);
    optind = 1;
    opterr = 0;
    int value, rc = 0;
    while (rc == 0 && (value = getopt_long (argc, argv, getopt.shortopts,
                                            getopt.longopts, NULL)) != -1) {
        source->index = optind - 1;
        const zf_option_t *option = zf_options_find (s_options, value);
        char error [256];
        if (!option) {
            s_error (source, "%s '%s'\nTry 'zfarm-broker --help'.",
                     value == ':'? "missing value for": "unknown option",
                     argv [optind - 1]);
            rc = -1;
        }
        else
        if (option->tag == TAG_HELP) {
            s_usage ();
            rc = 1;
        }
        else
        if (option->tag == TAG_VERSION) {
            printf ("zfarm-broker %s\n", ZFARM_VERSION);
            rc = 1;
        }
        else
        if (option->tag == TAG_BIND)
            rc = s_bind (options, source, optarg);
        else
        if (zf_options_set (option, options, optarg, error, sizeof error)) {
            s_error (source, "--%s: %s", option->name, error);
            rc = -1;
        }
    }
    if (rc == 0 && optind < argc) {
        s_error (source, "%s '%s'\nTry 'zfarm-broker --help'.",
                 "unexpected argument", argv [optind]);
        rc = -1;
    }
    zf_options_getopt_free (&getopt);
    return rc;
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
    zf_getopt_t getopt;
    zf_options_getopt (s_options, "", &getopt);
    int rc = zf_config_args (path, "broker", getopt.longopts,
                             &options->file_args, error, sizeof error);
    zf_options_getopt_free (&getopt);
    if (rc != 0) {
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

int
options_reload (options_t *now, const options_t *fresh,
                void (*refused) (const char *name))
{
    return zf_options_reload (s_options, now, fresh, refused);
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
