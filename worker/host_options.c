/* host_options.c: zfarm-worker's flags, one table (zf_options.h) for
 * getopt, --help, the config file and the worker processes' command line;
 * and the rules that span flags. */
#include "host_options.h"
#include "zf_curve.h"
#include "zf_exit.h"
#include "zf_log.h"
#include "zf_options.h"
#include "zf_pool.h"
#include "zf_proto.h"
#include "zf_util.h"

#include <czmq.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define PROCESSES_MAX      1024     /* --processes */
#define RSS_MB_MAX         (1L << 30)   /* --max-rss, MB: a petabyte */
#define SECONDS_MAX        4000000  /* --idle-exit, --give-up-after: 46 days,
                                       whose ms fit a uint32_t */

/* Numbers in --help from the constants the code uses. */
#define S_STR(x)    S_STR_(x)
#define S_STR_(x)   #x

/* Flags the parsing loop acts on itself; TAG_SUPERVISOR: the supervisor's
 * alone, not passed on to its worker processes. */
enum { TAG_CONFIG = 1, TAG_HELP, TAG_VERSION, TAG_SUPERVISOR };

#define FIELD(f)        .offset = offsetof (options_t, f), \
                        .size = sizeof ((options_t *) 0)->f
#define NUMBER(lo, hi)  .kind = ZF_OPTION_NUMBER, .min = (lo), .max = (hi)
#define STRING          .kind = ZF_OPTION_STRING
#define CUSTOM(fn)      .kind = ZF_OPTION_CUSTOM, .parse = (fn)

static zf_option_parse_fn s_broker, s_service, s_processes,
                          s_stop_at, s_curve_key;

static const char s_usage_head [] =
"Usage: zfarm-worker [--broker EP] --service NAME [--service NAME ...]\n"
"                    (--module FILE [--function NAME] | --exec COMMAND)\n"
"                    [--capacity N] [--heartbeat MS] [--liveness N]\n"
"                    [--max-calls-per-worker N] [--max-call-time MS]\n"
"                    [--cancel-grace MS] [--max-rss MB]\n"
"                    [--processes N|N..M [--idle-timeout MS]\n"
"                     [--drain-timeout MS] [--max-rss-hard MB]]\n"
"                    [--idle-exit S] [--give-up-after S] [--stop-at TIME]\n"
"                    [--curve-server-key KEY --curve-cert FILE]\n"
"                    [--config FILE] [--log-level L] [--syslog]\n"
"\n"
"Serves tasks from a zfarm broker, with a handler function from a shared\n"
"object or by running a command for each task; with --processes, as a\n"
"pool of such worker processes that replaces any that dies.\n"
"\n";

static const char s_usage_tail [] =
"\n"
"Exit status: 0 after SIGINT, SIGTERM or SIGUSR1 (tasks in hand finish\n"
"first), --stop-at or --idle-exit; " S_STR (ZF_EXIT_UNREACHABLE) " when no"
" broker was reachable; " S_STR (ZF_EXIT_RECYCLED) "\n"
"after --max-calls-per-worker; " S_STR (ZF_EXIT_OVERRAN) " when a --module"
" handler overran\n"
"--max-call-time or --cancel-grace; " S_STR (ZF_EXIT_ORPHANED) " when the"
" supervisor of this worker process died; 1 on\n"
"a runtime failure; 2 on bad usage.\n";

/* Every flag of zfarm-worker, in --help's order. */
static const zf_option_t s_options [] = {
    { .name = "log-level", .arg = "L", FIELD (log_level),
      CUSTOM (zf_options_log_level),
      .help = "error, warning, notice, info (default) or debug" },
    { .name = "syslog", FIELD (syslog), .kind = ZF_OPTION_TRUE,
      .help = "log to syslog instead of stderr" },
    { .name = "config", .arg = "FILE", .tag = TAG_CONFIG, STRING,
      .help = "read settings from FILE (zconfig format, section\n"
              "\"worker\", named like the flags); flags, then\n"
              "$ZFARM_BROKER, win over it" },
    { .name = "broker", .arg = "EP", .usage = "--broker EP[,EP...]",
      FIELD (broker), CUSTOM (s_broker),
      .help = "broker endpoint, or several to serve them all\n"
              "(default: $ZFARM_BROKER, else " ZF_DEFAULT_ENDPOINT ")" },
    { .name = "service", .arg = "NAME", FIELD (services),
      CUSTOM (s_service),
      .help = "service to offer; up to " S_STR (ZF_SERVICES_MAX)
              ", all served the same way" },
    { .name = "module", .arg = "FILE", FIELD (module), STRING,
      .help = "shared object holding the handler (a zfarm_handler_fn)" },
    { .name = "function", .arg = "NAME", FIELD (function), STRING,
      .help = "the handler's name in the module (default zfarm_handler)" },
    { .name = "exec", .arg = "COMMAND", FIELD (command), STRING,
      .help = "run COMMAND with /bin/sh -c for each task: the payload on\n"
              "its stdin, the result from its stdout; a non-zero exit\n"
              "fails the task with its stderr. ZFARM_SERVICE and\n"
              "ZFARM_ATTEMPT are set (on a retry, ZFARM_LAST_STATUS and\n"
              "ZFARM_LAST_ERROR too), and the task's timeout kills it;\n"
              "exit status 65 is a failure not to retry." },
    { .name = "capacity", .arg = "N", FIELD (capacity),
      NUMBER (1, ZF_CAPACITY_MAX),
      .help = "tasks run at once, 1 to " S_STR (ZF_CAPACITY_MAX)
              " (default 1)" },
    { .name = "heartbeat", .arg = "MS", FIELD (heartbeat_ms),
      NUMBER (ZF_HEARTBEAT_MIN_MS, ZF_HEARTBEAT_MAX_MS),
      .help = "heartbeat interval, as the broker's (default "
              S_STR (ZF_DEFAULT_HEARTBEAT_MS) ")" },
    { .name = "liveness", .arg = "N", FIELD (liveness),
      NUMBER (1, ZF_LIVENESS_MAX),
      .help = "silent intervals before reconnecting (default "
              S_STR (ZF_DEFAULT_LIVENESS) ")" },
    { .name = "max-calls-per-worker", .arg = "N", FIELD (max_tasks),
      NUMBER (0, LONG_MAX),
      .help = "exit after N tasks, to be replaced (default 0: never);\n"
              "--max-tasks is the same" },
    { .name = "max-tasks", .arg = "N", FIELD (max_tasks),
      NUMBER (0, LONG_MAX) },
    { .name = "max-call-time", .arg = "MS", FIELD (max_call_ms),
      NUMBER (0, UINT32_MAX),
      .help = "a task whose handler runs longer ends with TIMEOUT: an\n"
              "--exec command is killed; a --module handler cannot be,\n"
              "so its process exits to be replaced (default 0: none)" },
    { .name = "cancel-grace", .arg = "MS", FIELD (cancel_grace_ms),
      NUMBER (0, UINT32_MAX),
      .help = "a task its client cancels is stopped: an --exec command\n"
              "is killed at once; a --module handler is asked\n"
              "(zfarm_task_cancelled), and if it has not returned\n"
              "within MS, a pool's worker process exits to be replaced\n"
              "(elsewhere its slot stays busy until it returns)\n"
              "(default " S_STR (ZF_DEFAULT_CANCEL_GRACE_MS) ")" },
    { .name = "processes", .arg = "N", FIELD (processes),
      CUSTOM (s_processes), .tag = TAG_SUPERVISOR,
      .help = "supervise N worker processes (1 to " S_STR (PROCESSES_MAX)
              "), each running\n"
              "this command line without --processes; one that dies is\n"
              "replaced at once, or after " S_STR (ZF_POOL_BACKOFF_MIN_MS)
              " ms doubling to " S_STR (ZF_POOL_BACKOFF_MAX_MS) " ms\n"
              "while they keep dying young; N..M: an elastic pool of\n"
              "N to M (0 <= N <= M), one more at most every "
              S_STR (ZF_POOL_GROW_MS) " ms\n"
              "while a task of its services has waited "
              S_STR (ZF_POOL_GROW_WAIT_MS) " ms at a\n"
              "broker" },
    { .name = "idle-timeout", .arg = "MS", FIELD (idle_timeout_ms),
      NUMBER (1, ZF_IDLE_TIMEOUT_MAX_MS), .tag = TAG_SUPERVISOR,
      .help = "with --processes N..M: a process past N idle this long\n"
              "leaves and is not replaced (default "
              S_STR (ZF_POOL_IDLE_TIMEOUT_MS) ")" },
    { .name = "drain-timeout", .arg = "MS", FIELD (drain_timeout_ms),
      NUMBER (0, ZF_DRAIN_TIMEOUT_MAX_MS), .tag = TAG_SUPERVISOR,
      .help = "with --processes, on SIGINT or SIGTERM: how long the\n"
              "workers may finish their tasks before they are killed\n"
              "(default " S_STR (ZF_POOL_STOP_GRACE_MS) ")" },
    { .name = "max-rss", .arg = "MB", FIELD (max_rss_mb),
      NUMBER (0, RSS_MB_MAX),
      .help = "after a task, a worker process whose resident memory\n"
              "passed MB drains (finishes its tasks in hand, as after\n"
              "SIGUSR1) and exits " S_STR (ZF_EXIT_RSS) ", to be replaced"
              " (default 0: no\n"
              "limit)" },
    { .name = "max-rss-hard", .arg = "MB", FIELD (max_rss_hard_mb),
      NUMBER (0, RSS_MB_MAX), .tag = TAG_SUPERVISOR,
      .help = "with --processes: a worker process past MB is killed\n"
              "at once (read every " S_STR (ZF_POOL_RSS_CHECK_MS)
              " ms) and replaced; the broker\n"
              "retries its task as for a lost worker (default 0: no\n"
              "limit)" },
    { .name = "idle-exit", .arg = "S", FIELD (idle_exit_s),
      NUMBER (0, SECONDS_MAX),
      .help = "leave (exit 0) after S seconds with no task in hand;\n"
              "with --processes, each process leaves and is not\n"
              "replaced, and the supervisor exits 0 after the last" },
    { .name = "give-up-after", .arg = "S", FIELD (give_up_s),
      NUMBER (0, SECONDS_MAX),
      .help = "exit " S_STR (ZF_EXIT_UNREACHABLE) " if no broker took this"
              " worker for S seconds\n"
              "(from the start, or from the loss of the last one)" },
    /* The supervisor passes it on as the time it names (s_check): "+60"
     * again in each new process would move it. */
    { .name = "stop-at", .arg = "TIME", FIELD (stop_at), CUSTOM (s_stop_at),
      .tag = TAG_SUPERVISOR,
      .help = "drain at TIME (+SECONDS from now, @SECONDS since the\n"
              "epoch, or HH:MM[:SS] local time): take no new task,\n"
              "finish those in hand, exit 0. SIGUSR1 does the same." },
    { .name = "curve-server-key", .arg = "KEY", FIELD (curve_server_key),
      CUSTOM (s_curve_key),
      .help = "connect with CURVE: the broker's public key, in Z85 or\n"
              "as its public certificate file (default\n"
              "$" ZF_CURVE_SERVER_KEY_ENV ")" },
    { .name = "curve-cert", .arg = "FILE", FIELD (curve_cert),
      CUSTOM (s_curve_key),
      .help = "our secret certificate, from zfarm keygen (default\n"
              "$" ZF_CURVE_CERT_ENV ")" },
    { .name = "help", .letter = 'h', .tag = TAG_HELP,
      .kind = ZF_OPTION_TRUE, .usage = "--help, --version", .help = "" },
    { .name = "version", .tag = TAG_VERSION, .kind = ZF_OPTION_TRUE },
    { .name = NULL }
};

/* ---- values that are more than a number or a string ------------------- */

/* The file's broker loses to $ZFARM_BROKER (host_options_parse). */
static int
s_broker (void *settings, const zf_option_t *option, const char *text,
          char *error, size_t error_size)
{
    (void) option, (void) error, (void) error_size;
    options_t *self = settings;
    self->broker = text;
    self->broker_from_file = *self->where != 0;
    return 0;
}

static int
s_service (void *settings, const zf_option_t *option, const char *name,
           char *error, size_t error_size)
{
    (void) option;
    options_t *self = settings;
    if (!*self->where && !self->flag_services) {
        self->service_count = 0;    /* flags replace the file's */
        self->flag_services = true;
    }
    if (!zf_service_name_is_valid (name, strlen (name)))
        snprintf (error, error_size, "'%s' is not a service name (1 to %d"
                  " printable ASCII characters, no space, not starting with"
                  " 'zfarm.')", name, ZF_SERVICE_MAX);
    else
    if (self->service_count == ZF_SERVICES_MAX)
        snprintf (error, error_size, "at most %d services", ZF_SERVICES_MAX);
    else {
        for (size_t i = 0; i < self->service_count; i++)
            if (streq (self->services [i], name)) {
                snprintf (error, error_size, "'%s' given twice", name);
                return -1;
            }
        self->services [self->service_count++] = name;
        return 0;
    }
    return -1;
}

/* --processes N, or N..M: an elastic pool from N (0 allowed) to M. */
static int
s_processes (void *settings, const zf_option_t *option, const char *text,
             char *error, size_t error_size)
{
    (void) option;
    options_t *self = settings;
    const char *dots = strstr (text, "..");
    if (!dots) {
        if (zf_parse_long (text, 1, PROCESSES_MAX, &self->processes) == 0) {
            self->processes_min = self->processes;
            return 0;
        }
        snprintf (error, error_size, "expected a number from 1 to %d, got"
                  " '%s'", PROCESSES_MAX, text);
        return -1;
    }
    char low [32];
    size_t size = (size_t) (dots - text);
    long min, max;
    if (size >= sizeof low
    ||  (memcpy (low, text, size), low [size] = 0,
         zf_parse_long (low, 0, PROCESSES_MAX, &min) != 0)
    ||  zf_parse_long (dots + 2, 1, PROCESSES_MAX, &max) != 0
    ||  min > max) {
        snprintf (error, error_size, "expected N or N..M with 0 <= N <= M,"
                  " 1 <= M <= %d, got '%s'", PROCESSES_MAX, text);
        return -1;
    }
    self->processes_min = min;
    self->processes = max;
    return 0;
}

/* --stop-at TIME: "+SECONDS" from now, "@SECONDS" since the epoch, or
 * "HH:MM[:SS]", the next such local time (tomorrow's if today's passed). */
static int
s_stop_at (void *settings, const zf_option_t *option, const char *text,
           char *error, size_t error_size)
{
    (void) option;
    options_t *self = settings;
    time_t now = time (NULL);
    long value;
    int hours, minutes, seconds = 0, used = 0;
    if ((*text == '+' || *text == '@')
    &&  zf_parse_long (text + 1, 0, LONG_MAX / 2, &value) == 0)
        self->stop_at = *text == '+'? now + value: (time_t) value;
    else
    if ((sscanf (text, "%2d:%2d:%2d%n", &hours, &minutes, &seconds, &used) == 3
         || sscanf (text, "%2d:%2d%n", &hours, &minutes, &used) == 2)
    &&  !text [used] && hours < 24 && minutes < 60 && seconds < 60
    &&  hours >= 0 && minutes >= 0 && seconds >= 0) {
        struct tm local;
        localtime_r (&now, &local);
        local.tm_hour = hours;
        local.tm_min = minutes;
        local.tm_sec = seconds;
        local.tm_isdst = -1;
        self->stop_at = mktime (&local);
        if (self->stop_at <= now) {
            local.tm_mday++;
            local.tm_isdst = -1;
            self->stop_at = mktime (&local);
        }
    }
    else {
        snprintf (error, error_size, "expected +SECONDS, @SECONDS or"
                  " HH:MM[:SS], got '%s'", text);
        return -1;
    }
    self->stop_at_given = true;
    return 0;
}

/* The CURVE settings: the environment's own value wins over the file's,
 * as flags win over both. */
static int
s_curve_key (void *settings, const zf_option_t *option, const char *text,
             char *error, size_t error_size)
{
    (void) error, (void) error_size;
    options_t *self = settings;
    const char *env = getenv (streq (option->name, "curve-cert")
                              ? ZF_CURVE_CERT_ENV: ZF_CURVE_SERVER_KEY_ENV);
    if (!*self->where || !env || !*env)
        *ZF_OPTION_FIELD (settings, option, const char *) = text;
    return 0;
}

/* ---- parsing ------------------------------------------------------------ */

/* The rules that span options. */
static int
s_check (options_t *self)
{
    const char *error = NULL;
    if (self->service_count == 0)
        error = "--service is required";
    else
    if (self->module && self->command)
        error = "give --module or --exec, not both";
    else
    if (!self->module && !self->command)
        error = "--module or --exec is required";
    else
    if (self->function && !self->module)
        error = "--function goes with --module";
    else
    if (self->drain_timeout_ms >= 0 && !self->processes)
        error = "--drain-timeout goes with --processes";
    else
    if (self->idle_timeout_ms >= 0 && self->processes_min == self->processes)
        error = "--idle-timeout goes with --processes N..M";
    if (error) {
        fprintf (stderr, "zfarm-worker: %s (see --help)\n", error);
        return -1;
    }
    if (!self->function)
        self->function = "zfarm_handler";
    if (self->drain_timeout_ms < 0)
        self->drain_timeout_ms = ZF_POOL_STOP_GRACE_MS;
    if (self->idle_timeout_ms < 0)
        self->idle_timeout_ms = ZF_POOL_IDLE_TIMEOUT_MS;
    if (self->stop_at_given) {
        /* Flags win over the file, which the workers read too. */
        snprintf (self->stop_at_arg, sizeof self->stop_at_arg, "@%lld",
                  (long long) self->stop_at);
        self->worker_argv [self->worker_argc++] = "--stop-at";
        self->worker_argv [self->worker_argc++] = self->stop_at_arg;
    }
    return 0;
}

/* Parses one list of arguments: the file's, or the command line (keep: copy
 * the worker options into the worker processes' command line; a worker
 * process reads the same --config itself). Returns as host_options_parse. */
static int
s_parse_list (options_t *self, int argc, char *argv [], bool keep)
{
    zf_getopt_t getopt;
    /* "+": stop at the first non-option, so that getopt never permutes
     * argv and each option's arguments are the ones it just stepped over. */
    zf_options_getopt (s_options, "+:", &getopt);
    optind = 1;
    opterr = 0;                 /* we say it ourselves, on one line */
    int value, first = optind, rc = 0;
    while (rc == 0 && (value = getopt_long (argc, argv, getopt.shortopts,
                                            getopt.longopts, NULL)) != -1) {
        const zf_option_t *option = zf_options_find (s_options, value);
        char error [256];
        if (!option) {
            fprintf (stderr, "zfarm-worker: %s%s '%s' (see --help)\n",
                     self->where, value == ':'? "missing value for"
                                              : "unknown option",
                     argv [optind - 1]);
            rc = -1;
            break;
        }
        if (option->tag == TAG_HELP) {
            fputs (s_usage_head, stdout);
            zf_options_usage (s_options, 19, stdout);
            fputs (s_usage_tail, stdout);
            rc = 1;
            break;
        }
        if (option->tag == TAG_VERSION) {
            puts ("zfarm-worker " ZFARM_VERSION);
            rc = 1;
            break;
        }
        if (!keep)
            snprintf (self->where_buf, sizeof self->where_buf, "%s:%d: ",
                      self->file_path, self->file.lines [optind - 1]);
        if (zf_options_set (option, self, optarg, error, sizeof error)) {
            fprintf (stderr, "zfarm-worker: %s--%s: %s\n", self->where,
                     option->name, error);
            rc = -1;
            break;
        }
        if (keep && option->tag != TAG_SUPERVISOR)
            for (int i = first; i < optind; i++)
                self->worker_argv [self->worker_argc++] = argv [i];
        first = optind;
    }
    if (rc == 0 && optind < argc) {
        fprintf (stderr, "zfarm-worker: unexpected argument '%s' (see "
                 "--help)\n", argv [optind]);
        rc = -1;
    }
    zf_options_getopt_free (&getopt);
    return rc;
}

/* Reads the "worker" section of path and parses it, before the flags. */
static int
s_parse_file (options_t *self, const char *path)
{
    char error [512];
    zf_getopt_t getopt;
    zf_options_getopt (s_options, "", &getopt);
    int rc = zf_config_args (path, "worker", getopt.longopts, &self->file,
                             error, sizeof error);
    zf_options_getopt_free (&getopt);
    if (rc != 0) {
        fprintf (stderr, "zfarm-worker: %s:%s\n", path, error);
        return -1;
    }
    self->file_path = path;
    self->where = self->where_buf;
    rc = s_parse_list (self, self->file.argc, self->file.argv, false);
    self->where = "";
    return rc;
}

int
host_options_parse (options_t *self, int argc, char *argv [])
{
    *self = (options_t) { .capacity = 1, .log_level = ZF_LOG_INFO,
                          .heartbeat_ms = ZF_DEFAULT_HEARTBEAT_MS,
                          .liveness = ZF_DEFAULT_LIVENESS,
                          .cancel_grace_ms = ZF_DEFAULT_CANCEL_GRACE_MS,
                          .drain_timeout_ms = -1,
                          .idle_timeout_ms = -1 };
    /* Zeroed, so NULL-terminated however many arguments are kept. */
    self->worker_argv = zf_malloc ((size_t) (argc + 3)
                                   * sizeof *self->worker_argv);
    self->worker_argv [self->worker_argc++] = argv [0];
    self->where = "";
    const char *path = zf_config_path (argc, argv, 0, NULL);
    int rc = path? s_parse_file (self, path): 0;
    if (rc == 0)
        rc = s_parse_list (self, argc, argv, true);
    if (rc != 0)
        return rc;
    /* The environment's broker wins over the file's, as flags win over both. */
    const char *env = getenv ("ZFARM_BROKER");
    if (self->broker_from_file && env && *env)
        self->broker = NULL;
    return s_check (self);
}
