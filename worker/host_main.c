/* host_main.c: zfarm-worker, a worker process whose handler comes from a
 * shared object (--module) or is a command run per task (--exec); with
 * --processes N, the supervisor of N such processes.
 *
 * Parse, then either load the handler and run the worker until a signal or
 * --max-calls-per-worker, or supervise; tear down. Exit status: 0 after
 * SIGINT/SIGTERM/SIGUSR1, --stop-at or --idle-exit (ZF_EXIT_IDLE in a
 * pool's process, which the pool then does not replace),
 * ZF_EXIT_UNREACHABLE after --give-up-after, ZF_EXIT_RECYCLED after --max-calls-per-worker (a
 * supervisor then knows the exit was planned), ZF_EXIT_OVERRAN after a
 * --module handler overran --max-call-time or --cancel-grace,
 * ZF_EXIT_ORPHANED when the
 * supervisor died, 1 on a runtime failure, 2 on bad usage. */
#include "host.h"
#include "zf_endpoints.h"
#include "worker_io.h"
#include "zf_curve.h"
#include "zf_defaults.h"
#include "zf_pool.h"
#include "zf_proto.h"
#include "zf_util.h"

#include <czmq.h>
#include "zf_config.h"
#include "zf_log.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>

#define EXIT_USAGE 2

#define PROCESSES_MAX      1024     /* --processes */
#define RSS_MB_MAX         (1L << 30)   /* --max-rss, MB: a petabyte */
#define SECONDS_MAX        4000000  /* --idle-exit, --give-up-after: 46 days,
                                       whose ms fit a uint32_t */

/* Each worker process runs the supervisor's own program, as the kernel
 * still knows it even if the file was replaced since. */
#define SELF_EXE "/proc/self/exe"

typedef struct {
    const char *broker;         /* NULL: $ZFARM_BROKER, or the default */
    const char *services [ZF_SERVICES_MAX];
    size_t service_count;
    const char *module;         /* --module, or NULL */
    const char *function;       /* --function, or NULL */
    const char *command;        /* --exec, or NULL */
    long capacity;
    long heartbeat_ms;
    long liveness;
    long max_tasks;             /* 0 = never */
    long max_call_ms;           /* 0 = no limit */
    long cancel_grace_ms;       /* a cancelled --module handler's time */
    long processes;             /* supervise this many (at most); 0: be a
                                   worker */
    long processes_min;         /* --processes N..M: N; else processes */
    long idle_timeout_ms;       /* N..M: a spare process idle this long
                                   leaves; -1: not given */
    long drain_timeout_ms;      /* -1: not given */
    long max_rss_mb;            /* --processes: recycle past it; 0 never */
    long max_rss_hard_mb;       /* --processes: kill past it; 0 never */
    long idle_exit_s;           /* --idle-exit; 0: never */
    long give_up_s;             /* --give-up-after; 0: never */
    bool stop_at_given;         /* --stop-at */
    time_t stop_at;             /* then, since the epoch */
    char stop_at_arg [32];      /* "@SECONDS": the workers' --stop-at */
    const char *curve_server_key;   /* --curve-server-key, or NULL */
    const char *curve_cert;     /* --curve-cert, or NULL */
    char **worker_argv;         /* argv without the supervisor's options:
                                   each worker process's command line */
    int worker_argc;
    zf_config_args_t file;      /* --config's settings, as arguments */
    const char *file_path;      /* --config */
    const char *where;          /* "FILE:LINE: " while parsing those */
    char where_buf [300];
    bool broker_from_file;      /* so that $ZFARM_BROKER can win */
    bool flag_services;         /* --service flags replace the file's */
    int log_level;              /* zf_log_level_t */
    bool syslog;                /* log to syslog, not stderr */
} options_t;

enum {
    OPT_MAX_CALLS = 256, OPT_MAX_TASKS, OPT_MAX_CALL_TIME, OPT_PROCESSES,
    OPT_DRAIN_TIMEOUT, OPT_CURVE_SERVER_KEY, OPT_CURVE_CERT, OPT_CONFIG,
    OPT_LOG_LEVEL, OPT_SYSLOG, OPT_CANCEL_GRACE, OPT_IDLE_EXIT, OPT_GIVE_UP,
    OPT_STOP_AT, OPT_MAX_RSS, OPT_MAX_RSS_HARD, OPT_IDLE_TIMEOUT
};

static const struct option s_options [] = {
    { "broker",    required_argument, NULL, 'b' },
    { "service",   required_argument, NULL, 's' },
    { "module",    required_argument, NULL, 'm' },
    { "function",  required_argument, NULL, 'f' },
    { "exec",      required_argument, NULL, 'e' },
    { "capacity",  required_argument, NULL, 'c' },
    { "heartbeat", required_argument, NULL, 'H' },
    { "liveness",  required_argument, NULL, 'l' },
    { "max-calls-per-worker", required_argument, NULL, OPT_MAX_CALLS },
    { "max-tasks", required_argument, NULL, OPT_MAX_TASKS },
    { "max-call-time", required_argument, NULL, OPT_MAX_CALL_TIME },
    { "cancel-grace", required_argument, NULL, OPT_CANCEL_GRACE },
    { "processes", required_argument, NULL, OPT_PROCESSES },
    { "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
    { "max-rss",   required_argument, NULL, OPT_MAX_RSS },
    { "max-rss-hard", required_argument, NULL, OPT_MAX_RSS_HARD },
    { "idle-exit", required_argument, NULL, OPT_IDLE_EXIT },
    { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
    { "give-up-after", required_argument, NULL, OPT_GIVE_UP },
    { "stop-at",   required_argument, NULL, OPT_STOP_AT },
    { "curve-server-key", required_argument, NULL, OPT_CURVE_SERVER_KEY },
    { "curve-cert", required_argument, NULL, OPT_CURVE_CERT },
    { "config",    required_argument, NULL, OPT_CONFIG },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "syslog",    no_argument,       NULL, OPT_SYSLOG },
    { "help",      no_argument,       NULL, 'h' },
    { "version",   no_argument,       NULL, 'V' },
    { NULL, 0, NULL, 0 }
};

static void
s_usage (void)
{
    printf (
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
"\n"
"  --log-level L    error, warning, notice, info (default) or debug\n"
"  --syslog         log to syslog instead of stderr\n"
"  --config FILE    read settings from FILE (zconfig format, section\n"
"                   \"worker\", named like the flags); flags, then\n"
"                   $ZFARM_BROKER, win over it\n"
"  --broker EP[,EP...]  broker endpoint, or several to serve them all\n"
"                   (default: $ZFARM_BROKER, else %s)\n"
"  --service NAME   service to offer; up to %d, all served the same way\n"
"  --module FILE    shared object holding the handler (a zfarm_handler_fn)\n"
"  --function NAME  the handler's name in the module (default zfarm_handler)\n"
"  --exec COMMAND   run COMMAND with /bin/sh -c for each task: the payload on\n"
"                   its stdin, the result from its stdout; a non-zero exit\n"
"                   fails the task with its stderr. ZFARM_SERVICE and\n"
"                   ZFARM_ATTEMPT are set (on a retry, ZFARM_LAST_STATUS and\n"
"                   ZFARM_LAST_ERROR too), and the task's timeout kills it;\n"
"                   exit status 65 is a failure not to retry.\n"
"  --capacity N     tasks run at once, 1 to %d (default 1)\n"
"  --heartbeat MS   heartbeat interval, as the broker's (default %d)\n"
"  --liveness N     silent intervals before reconnecting (default %d)\n"
"  --max-calls-per-worker N\n"
"                   exit after N tasks, to be replaced (default 0: never);\n"
"                   --max-tasks is the same\n"
"  --max-call-time MS\n"
"                   a task whose handler runs longer ends with TIMEOUT: an\n"
"                   --exec command is killed; a --module handler cannot be,\n"
"                   so its process exits to be replaced (default 0: none)\n"
"  --cancel-grace MS\n"
"                   a task its client cancels is stopped: an --exec command\n"
"                   is killed at once; a --module handler is asked\n"
"                   (zfarm_task_cancelled), and if it has not returned\n"
"                   within MS, a pool's worker process exits to be replaced\n"
"                   (elsewhere its slot stays busy until it returns)\n"
"                   (default %d)\n"
"  --processes N    supervise N worker processes (1 to %d), each running\n"
"                   this command line without --processes; one that dies is\n"
"                   replaced at once, or after %d ms doubling to %d s while\n"
"                   they keep dying young; N..M: an elastic pool of N to M\n"
"                   (0 <= N <= M), one more at most every %d ms while a\n"
"                   task of its services has waited %d ms at a broker\n"
"  --idle-timeout MS\n"
"                   with --processes N..M: a process past N idle this long\n"
"                   leaves and is not replaced (default %d)\n"
"  --drain-timeout MS\n"
"                   with --processes, on SIGINT or SIGTERM: how long the\n"
"                   workers may finish their tasks before they are killed\n"
"                   (default %d)\n"
"  --max-rss MB     after a task, a worker process whose resident memory\n"
"                   passed MB drains (finishes its tasks in hand, as after\n"
"                   SIGUSR1) and exits %d, to be replaced (default 0: no\n"
"                   limit)\n"
"  --max-rss-hard MB\n"
"                   with --processes: a worker process past MB is killed\n"
"                   at once (read every %d ms) and replaced; the broker\n"
"                   retries its task as for a lost worker (default 0: no\n"
"                   limit)\n"
"  --idle-exit S    leave (exit 0) after S seconds with no task in hand;\n"
"                   with --processes, each process leaves and is not\n"
"                   replaced, and the supervisor exits 0 after the last\n"
"  --give-up-after S\n"
"                   exit %d if no broker took this worker for S seconds\n"
"                   (from the start, or from the loss of the last one)\n"
"  --stop-at TIME   drain at TIME (+SECONDS from now, @SECONDS since the\n"
"                   epoch, or HH:MM[:SS] local time): take no new task,\n"
"                   finish those in hand, exit 0. SIGUSR1 does the same.\n"
"  --curve-server-key KEY\n"
"                   connect with CURVE: the broker's public key, in Z85 or\n"
"                   as its public certificate file (default\n"
"                   $" ZF_CURVE_SERVER_KEY_ENV ")\n"
"  --curve-cert FILE\n"
"                   our secret certificate, from zfarm keygen (default\n"
"                   $" ZF_CURVE_CERT_ENV ")\n"
"  --help, --version\n"
"\n"
"Exit status: 0 after SIGINT, SIGTERM or SIGUSR1 (tasks in hand finish\n"
"first), --stop-at or --idle-exit; %d when no broker was reachable; %d\n"
"after --max-calls-per-worker; %d when a --module handler overran\n"
"--max-call-time or --cancel-grace; %d when the supervisor of this worker process died; 1 on\n"
"a runtime failure; 2 on bad usage.\n",
            ZF_DEFAULT_ENDPOINT, ZF_SERVICES_MAX, ZF_CAPACITY_MAX,
            ZF_DEFAULT_HEARTBEAT_MS, ZF_DEFAULT_LIVENESS,
            ZF_DEFAULT_CANCEL_GRACE_MS, PROCESSES_MAX,
            ZF_POOL_BACKOFF_MIN_MS, ZF_POOL_BACKOFF_MAX_MS / 1000,
            ZF_POOL_GROW_MS, ZF_POOL_GROW_WAIT_MS, ZF_POOL_IDLE_TIMEOUT_MS,
            ZF_POOL_STOP_GRACE_MS, ZF_EXIT_RSS, ZF_POOL_RSS_CHECK_MS,
            ZF_EXIT_UNREACHABLE, ZF_EXIT_UNREACHABLE,
            ZF_EXIT_RECYCLED, ZF_EXIT_OVERRAN,
            ZF_EXIT_ORPHANED);
}

/* ---- parsing ------------------------------------------------------------ */

static int
s_number (const options_t *self, const char *name, const char *text,
          long min, long max, long *value)
{
    if (zf_parse_long (text, min, max, value) == 0)
        return 0;
    fprintf (stderr, "zfarm-worker: %s%s: expected a number from %ld to %ld, "
             "got '%s'\n", self->where, name, min, max, text);
    return -1;
}

/* --processes N, or N..M: an elastic pool from N (0 allowed) to M. */
static int
s_processes (options_t *self, const char *text)
{
    const char *dots = strstr (text, "..");
    if (!dots) {
        if (s_number (self, "--processes", text, 1, PROCESSES_MAX,
                      &self->processes))
            return -1;
        self->processes_min = self->processes;
        return 0;
    }
    char low [32];
    size_t size = (size_t) (dots - text);
    long min, max;
    if (size >= sizeof low
    ||  (memcpy (low, text, size), low [size] = 0,
         zf_parse_long (low, 0, PROCESSES_MAX, &min) != 0)
    ||  zf_parse_long (dots + 2, 1, PROCESSES_MAX, &max) != 0
    ||  min > max) {
        fprintf (stderr, "zfarm-worker: %s--processes: expected N or N..M "
                 "with 0 <= N <= M, 1 <= M <= %d, got '%s'\n", self->where,
                 PROCESSES_MAX, text);
        return -1;
    }
    self->processes_min = min;
    self->processes = max;
    return 0;
}

static int
s_add_service (options_t *self, const char *name)
{
    if (!zf_service_name_is_valid (name, strlen (name))) {
        fprintf (stderr, "zfarm-worker: %s--service: '%s' is not a service "
                 "name (1 to %d printable ASCII characters, no space, not "
                 "starting with 'zfarm.')\n", self->where, name, ZF_SERVICE_MAX);
        return -1;
    }
    for (size_t i = 0; i < self->service_count; i++)
        if (streq (self->services [i], name)) {
            fprintf (stderr, "zfarm-worker: --service: '%s' given twice\n",
                     name);
            return -1;
        }
    if (self->service_count == ZF_SERVICES_MAX) {
        fprintf (stderr, "zfarm-worker: --service: at most %d services\n",
                 ZF_SERVICES_MAX);
        return -1;
    }
    self->services [self->service_count++] = name;
    return 0;
}

/* --stop-at TIME: "+SECONDS" from now, "@SECONDS" since the epoch, or
 * "HH:MM[:SS]", the next such local time (tomorrow's if today's passed). */
static int
s_stop_at (options_t *self, const char *text)
{
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
        fprintf (stderr, "zfarm-worker: %s--stop-at: expected +SECONDS, "
                 "@SECONDS or HH:MM[:SS], got '%s'\n", self->where, text);
        return -1;
    }
    self->stop_at_given = true;
    return 0;
}

/* True while parsing the file if the environment has its own value of
 * name, which wins over the file's, as flags win over both. */
static bool
s_file_loses (const options_t *self, const char *name)
{
    const char *value = getenv (name);
    return *self->where && value && *value;
}

static int
s_take_option (options_t *self, int option, const char *value)
{
    switch (option) {
        case 'b':
            self->broker = value;
            self->broker_from_file = *self->where != 0;
            return 0;
        case 's':
            if (!*self->where && !self->flag_services) {
                self->service_count = 0;    /* flags replace the file's */
                self->flag_services = true;
            }
            return s_add_service (self, value);
        case OPT_CONFIG: return 0;          /* read before the flags */
        case OPT_LOG_LEVEL:
            if (zf_log_parse_level (value, &self->log_level) == 0)
                return 0;
            fprintf (stderr, "zfarm-worker: %s--log-level: expected error, "
                     "warning, notice, info or debug, got '%s'\n",
                     self->where, value);
            return -1;
        case OPT_SYSLOG: self->syslog = true; return 0;
        case 'm': self->module = value; return 0;
        case 'f': self->function = value; return 0;
        case 'e': self->command = value; return 0;
        case 'c': return s_number (self, "--capacity", value, 1, ZF_CAPACITY_MAX,
                                   &self->capacity);
        case 'H': return s_number (self, "--heartbeat", value,
                                   ZF_HEARTBEAT_MIN_MS,
                                   ZF_HEARTBEAT_MAX_MS,
                                   &self->heartbeat_ms);
        case 'l': return s_number (self, "--liveness", value, 1,
                                   ZF_LIVENESS_MAX, &self->liveness);
        case OPT_MAX_CALLS:
            return s_number (self, "--max-calls-per-worker", value, 0, LONG_MAX,
                             &self->max_tasks);
        case OPT_MAX_TASKS:
            return s_number (self, "--max-tasks", value, 0, LONG_MAX,
                             &self->max_tasks);
        case OPT_MAX_CALL_TIME:
            return s_number (self, "--max-call-time", value, 0, (long) UINT32_MAX,
                             &self->max_call_ms);
        case OPT_CANCEL_GRACE:
            return s_number (self, "--cancel-grace", value, 0, (long) UINT32_MAX,
                             &self->cancel_grace_ms);
        case OPT_PROCESSES:
            return s_processes (self, value);
        case OPT_IDLE_TIMEOUT:
            return s_number (self, "--idle-timeout", value, 1,
                             ZF_IDLE_TIMEOUT_MAX_MS, &self->idle_timeout_ms);
        case OPT_DRAIN_TIMEOUT:
            return s_number (self, "--drain-timeout", value, 0, ZF_DRAIN_TIMEOUT_MAX_MS,
                             &self->drain_timeout_ms);
        case OPT_MAX_RSS:
            return s_number (self, "--max-rss", value, 0, RSS_MB_MAX,
                             &self->max_rss_mb);
        case OPT_MAX_RSS_HARD:
            return s_number (self, "--max-rss-hard", value, 0, RSS_MB_MAX,
                             &self->max_rss_hard_mb);
        case OPT_IDLE_EXIT:
            return s_number (self, "--idle-exit", value, 0, SECONDS_MAX,
                             &self->idle_exit_s);
        case OPT_GIVE_UP:
            return s_number (self, "--give-up-after", value, 0, SECONDS_MAX,
                             &self->give_up_s);
        case OPT_STOP_AT:
            return s_stop_at (self, value);
        case OPT_CURVE_SERVER_KEY:
            if (!s_file_loses (self, ZF_CURVE_SERVER_KEY_ENV))
                self->curve_server_key = value;
            return 0;
        case OPT_CURVE_CERT:
            if (!s_file_loses (self, ZF_CURVE_CERT_ENV))
                self->curve_cert = value;
            return 0;
    }
    return -1;
}

/* Copies one option's arguments, argv [first..last), into the worker
 * processes' command line, unless it is the supervisor's alone. */
static void
s_keep (options_t *self, char *argv [], int option, int first, int last)
{
    /* --stop-at goes to them as the time it names (s_check): "+60"
     * again in each new process would move it. */
    if (option == OPT_PROCESSES || option == OPT_DRAIN_TIMEOUT
    ||  option == OPT_STOP_AT || option == OPT_MAX_RSS_HARD
    ||  option == OPT_IDLE_TIMEOUT)
        return;
    for (int i = first; i < last; i++)
        self->worker_argv [self->worker_argc++] = argv [i];
}

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

static int s_parse_list (options_t *self, int argc, char *argv [], bool keep);
static int s_parse_file (options_t *self, const char *path);

/* Returns 0 to run, 1 if --help or --version did the job, -1 on error
 * (already reported). Caller frees self->worker_argv in every case. */
static int
s_parse (options_t *self, int argc, char *argv [])
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

/* Parses one list of arguments: the file's, or the command line (keep: copy
 * the worker options into the worker processes' command line; a worker
 * process reads the same --config itself). Returns as s_parse. */
static int
s_parse_list (options_t *self, int argc, char *argv [], bool keep)
{
    optind = 1;
    opterr = 0;                 /* we say it ourselves, on one line */
    /* "+": stop at the first non-option, so that getopt never permutes
     * argv and each option's arguments are the ones it just stepped over. */
    int option, first = optind;
    while ((option = getopt_long (argc, argv, "+:h", s_options, NULL))
           != -1) {
        if (option == 'h' || option == 'V') {
            if (option == 'h')
                s_usage ();
            else
                puts ("zfarm-worker " ZFARM_VERSION);
            return 1;
        }
        if (option == '?' || option == ':') {
            fprintf (stderr, "zfarm-worker: %s%s '%s' (see --help)\n",
                     self->where, option == '?'? "unknown option"
                                                : "missing value for",
                     argv [optind - 1]);
            return -1;
        }
        if (!keep)
            snprintf (self->where_buf, sizeof self->where_buf, "%s:%d: ",
                      self->file_path, self->file.lines [optind - 1]);
        if (s_take_option (self, option, optarg) == -1)
            return -1;
        if (keep)
            s_keep (self, argv, option, first, optind);
        first = optind;
    }
    if (optind < argc) {
        fprintf (stderr, "zfarm-worker: unexpected argument '%s' (see "
                 "--help)\n", argv [optind]);
        return -1;
    }
    return 0;
}

/* Reads the "worker" section of path and parses it, before the flags. */
static int
s_parse_file (options_t *self, const char *path)
{
    char error [512];
    if (zf_config_args (path, "worker", s_options, &self->file, error,
                        sizeof error) != 0) {
        fprintf (stderr, "zfarm-worker: %s:%s\n", path, error);
        return -1;
    }
    self->file_path = path;
    self->where = self->where_buf;
    int rc = s_parse_list (self, self->file.argc, self->file.argv, false);
    self->where = "";
    return rc;
}

/* ---- the process -------------------------------------------------------- */

/* The CURVE flags go into the environment, where the library reads them
 * (flags over what was there), and the keys are checked now, so that a bad
 * one is a usage error that names the options. Returns 0 or -1 (said). */
static int
s_curve_setup (const options_t *options)
{
    if (options->curve_server_key)
        setenv (ZF_CURVE_SERVER_KEY_ENV, options->curve_server_key, 1);
    if (options->curve_cert)
        setenv (ZF_CURVE_CERT_ENV, options->curve_cert, 1);
    zf_curve_t curve;
    char error [512];
    int rc = zf_curve_setup_from_env (&curve, error, sizeof error);
    zf_curve_clear (&curve);
    if (rc != 0)
        fprintf (stderr, "zfarm-worker: --curve-server-key, --curve-cert: %s\n",
                 error);
    return rc;
}

/* Each slot may run a command (--exec) with three pipes to it: make room
 * for their descriptors. */
static void
s_reserve_descriptors (long capacity)
{
    struct rlimit limit;
    rlim_t files = (rlim_t) (3 * capacity + 64);
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < files) {
        limit.rlim_cur = files < limit.rlim_max? files: limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
}

/* Descriptors and logging, before anything is opened or logged. */
static void
s_prepare_process (const options_t *options)
{
    /* With 0, 1 or 2 closed, a pipe could take their place and be closed
     * by dup2 in a child: point them at /dev/null. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl (fd, F_GETFD) == -1 && errno == EBADF
        &&  open ("/dev/null", O_RDWR) == -1)
            break;
    /* czmq logs to stdout by default; a worker's stdout is not a log. */
    zf_log_open ("zfarm-worker", options->log_level, options->syslog);
}

/* zfarm_worker_new refuses a list of endpoints with one that ZeroMQ
 * cannot connect to, an empty or repeated one, or too many; says why and
 * which setting held it. */
static void
s_report_endpoint (const options_t *options)
{
    bool from_flag = options->broker != NULL;
    const char *list = from_flag? options->broker: getenv ("ZFARM_BROKER");
    zf_endpoints_t endpoints;
    char why [512] = "invalid endpoint";
    if (zf_endpoints_parse (&endpoints, list, why, sizeof why) == 0)
        zf_endpoints_clear (&endpoints);
    fprintf (stderr, "zfarm-worker: %s: %s\n",
             from_flag? "--broker": "ZFARM_BROKER", why);
}

/* --idle-exit, or sooner for a spare process of an elastic pool, which
 * leaves after the pool's --idle-timeout (ZF_POOL_SPARE_IDLE_ENV); 0:
 * never. */
static uint32_t
s_idle_exit_ms (const options_t *options)
{
    uint32_t idle_ms = (uint32_t) options->idle_exit_s * 1000;
    const char *spare = getenv (ZF_POOL_SPARE_IDLE_ENV);
    long spare_ms;
    if (spare && zf_parse_long (spare, 1, ZF_IDLE_TIMEOUT_MAX_MS,
                                &spare_ms) == 0
    &&  (idle_ms == 0 || (uint32_t) spare_ms < idle_ms))
        idle_ms = (uint32_t) spare_ms;
    return idle_ms;
}

static zfarm_worker_t *
s_worker_new (const options_t *options, zfarm_handler_fn *handler,
              void *arg)
{
    zfarm_worker_t *worker = zfarm_worker_new (options->broker);
    if (!worker) {
        s_report_endpoint (options);
        return NULL;
    }
    /* The options were checked against the same limits, so this fails
     * only if the two disagree. */
    int rc = zfarm_worker_set_capacity (worker, (int) options->capacity)
           | zfarm_worker_set_heartbeat (worker, (int) options->heartbeat_ms,
                                         (int) options->liveness);
    for (size_t i = 0; i < options->service_count; i++)
        rc |= zfarm_worker_register (worker, options->services [i],
                                     handler, arg);
    if (rc != 0) {
        fprintf (stderr, "zfarm-worker: the library refused the options\n");
        zfarm_worker_destroy (&worker);
        return NULL;
    }
    zfarm_worker_set_max_tasks (worker, (uint64_t) options->max_tasks);
    zfarm_worker_set_max_call_time (worker, (uint32_t) options->max_call_ms);
    zfarm_worker_set_cancel_grace (worker, (uint32_t) options->cancel_grace_ms);
    zfarm_worker_set_idle_exit (worker, s_idle_exit_ms (options));
    zfarm_worker_set_give_up (worker, (uint32_t) options->give_up_s * 1000);
    return worker;
}

/* SIGUSR1 and --stop-at's SIGALRM drain the worker: zfarm_worker_stop is
 * safe in a signal handler. The one global of the program: a handler has
 * no other way to find the worker. A signal before the worker exists is
 * remembered and taken after. */
static zfarm_worker_t *volatile s_drained_worker;
static volatile sig_atomic_t s_drain_asked;

static void
s_on_drain_signal (int signo)
{
    (void) signo;
    s_drain_asked = 1;
    if (s_drained_worker)
        zfarm_worker_stop (s_drained_worker);
}

static void
s_drain_signals (const options_t *options, zfarm_worker_t *worker)
{
    struct sigaction action = { .sa_handler = s_on_drain_signal };
    sigemptyset (&action.sa_mask);
    sigaction (SIGUSR1, &action, NULL);
    sigaction (SIGALRM, &action, NULL);
    s_drained_worker = worker;
    if (options->stop_at_given) {
        time_t left = options->stop_at - time (NULL);
        if (left <= 0)
            s_drain_asked = 1;
        else
            alarm ((unsigned) (left < UINT_MAX? left: UINT_MAX));
    }
    if (s_drain_asked)
        zfarm_worker_stop (worker);
}

/* The exit status that says why run returned (see the file's comment). */
static int
s_exit_status (zfarm_worker_t *worker)
{
    switch (zf_worker_end (worker)) {
        case ZF_IO_UNREACHABLE: return ZF_EXIT_UNREACHABLE;
        case ZF_IO_MAX_TASKS:   return ZF_EXIT_RECYCLED;
        case ZF_IO_IDLE: {
            /* A pool must not start this one again. */
            const char *supervisor = getenv (ZF_POOL_SUPERVISOR_ENV);
            return supervisor && *supervisor? ZF_EXIT_IDLE: EXIT_SUCCESS;
        }
        case ZF_IO_STOPPED:     break;
    }
    return EXIT_SUCCESS;
}

/* One worker process: load the handler, serve until a signal,
 * --max-calls-per-worker, --idle-exit or --give-up-after. */
static int
s_serve (const options_t *options)
{
    /* A command that stops reading its stdin must cost an EPIPE, not us. */
    signal (SIGPIPE, SIG_IGN);
    s_reserve_descriptors (options->capacity);
    module_t *module = NULL;
    exec_config_t exec = { .command = options->command,
                           .max_call_ms = (uint32_t) options->max_call_ms };
    zfarm_handler_fn *handler = exec_handler;
    void *arg = &exec;
    if (options->module) {
        module = module_new (options->module, options->function);
        if (!module)
            return EXIT_FAILURE;
        handler = module_handler (module);
        arg = NULL;
    }
    rss_guard_t guard = { .handler = handler, .arg = arg,
                          .max_rss_kb = options->max_rss_mb * 1024 };
    atomic_init (&guard.passed, false);
    if (guard.max_rss_kb) {
        handler = rss_guard_handler;
        arg = &guard;
    }
    zfarm_worker_t *worker = s_worker_new (options, handler, arg);
    if (!worker) {
        module_destroy (&module);
        return EXIT_USAGE;
    }
    s_drain_signals (options, worker);
    guard.worker = worker;
    int rc = zfarm_worker_run (worker);
    alarm (0);
    s_drained_worker = NULL;
    int status = rc == 0 || rc == ZFARM_EBROKER_DOWN
               ? s_exit_status (worker): EXIT_FAILURE;
    if (status == EXIT_SUCCESS && atomic_load (&guard.passed))
        status = ZF_EXIT_RSS;
    zfarm_worker_destroy (&worker);
    module_destroy (&module);
    return status;
}

/* The supervisor of --processes worker processes. Its signals are blocked
 * before the endpoint check makes czmq start its threads. The handler is
 * not loaded here: each worker process loads its own. */
static int
s_supervise (const options_t *options)
{
    supervisor_config_t config = {
        .processes = (int) options->processes,
        .processes_min = (int) options->processes_min,
        .idle_timeout_ms = (int) options->idle_timeout_ms,
        .capacity = (int) options->capacity,
        .idle_exit_ms = (int64_t) options->idle_exit_s * 1000,
        .brokers = options->broker,
        .services = options->services,
        .service_count = options->service_count,
        .path = SELF_EXE,
        .argv = options->worker_argv,
        .drain_timeout_ms = (int) options->drain_timeout_ms,
        .heartbeat_ms = (int) options->heartbeat_ms,
        .stop_in_ms = -1,
        .max_rss_hard_kb = options->max_rss_hard_mb * 1024,
    };
    if (options->stop_at_given) {
        time_t left = options->stop_at - time (NULL);
        config.stop_in_ms = left > 0? (int64_t) left * 1000: 0;
    }
    supervisor_t *supervisor = supervisor_new (&config);
    if (!supervisor)
        return EXIT_FAILURE;
    int rc = EXIT_USAGE;
    zfarm_worker_t *probe = zfarm_worker_new (options->broker);
    if (probe) {
        zfarm_worker_destroy (&probe);
        rc = supervisor_run (supervisor);
    }
    else
        s_report_endpoint (options);
    supervisor_destroy (&supervisor);
    return rc;
}

int
main (int argc, char *argv [])
{
    options_t options;
    int rc = s_parse (&options, argc, argv);
    if (rc == 0 && s_curve_setup (&options) != 0)
        rc = EXIT_USAGE;
    else
    if (rc == 0) {
        zf_malloc_keep_memory ();
        s_prepare_process (&options);
        rc = options.processes? s_supervise (&options): s_serve (&options);
    }
    else
        rc = rc > 0? EXIT_SUCCESS: EXIT_USAGE;
    free (options.worker_argv);
    zf_config_args_free (&options.file);
    return rc;
}
