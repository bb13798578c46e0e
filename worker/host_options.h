/* host_options.h: zfarm-worker's settings, from its config file, its flags
 * and the environment; host_options.c's table describes each flag. */
#ifndef HOST_OPTIONS_H
#define HOST_OPTIONS_H

#include "zf_config.h"
#include "zf_defaults.h"

#include <stdbool.h>
#include <time.h>

#define EXIT_USAGE 2

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

/* Fills options from defaults, then the --config file, then argv (flags
 * win; $ZFARM_BROKER wins over the file's broker). Returns 0 to run, 1 if
 * it printed --help or --version (exit 0), or -1 after printing an error
 * that names the flag, or the file and line (exit EXIT_USAGE). Free
 * options->worker_argv and options->file after, whatever it returned. */
int
    host_options_parse (options_t *options, int argc, char *argv []);

#endif
