/* options.h: the broker's settings, from its command line. */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include "zf_config.h"
#include "zf_defaults.h"

#define OPTIONS_BINDS_MAX 16
#define OPTIONS_POLICIES_MAX 32     /* services with a retry policy */

/* How a service's failed tasks are retried: the default (service ""), or
 * one service's settings, where those not set (-1) are the default's. */
typedef struct {
    char service [ZF_SERVICE_MAX + 1];
    int64_t retry_on;           /* ZF_RETRY_BIT set; -1: not set */
    int max_retries;            /* -1: not set */
    int64_t backoff_min_ms;     /* -1: not set */
    int64_t backoff_max_ms;
} retry_policy_t;

typedef struct {
    const char *binds [OPTIONS_BINDS_MAX];  /* endpoints to bind */
    int bind_count;
    const char *endpoint_file;  /* where to write the bound endpoints */
    int heartbeat_ms;           /* heartbeat interval */
    int liveness;               /* silent intervals before a worker is dead */
    retry_policy_t retry;       /* the default policy, every field set */
    retry_policy_t policies [OPTIONS_POLICIES_MAX];    /* per service */
    int policy_count;
    long max_queue;             /* waiting and delayed tasks per service */
    uint32_t oldest_every;      /* every Nth dispatch of a service takes its
                                   oldest task (task_queue.h); 0: never */
    long long max_msg_size;     /* bytes; larger messages are refused */
    int drain_timeout_ms;       /* how long SIGTERM waits for running tasks */
    const char *http;           /* HOST:PORT for /metrics and /, or NULL */
    int log_level;              /* zf_log_level_t */
    bool syslog;                /* log to syslog, not stderr */
    bool prefetch;              /* send short tasks to busy workers early */
    long prefetch_below_us;     /* "short": average task time under this */
    const char *config_path;    /* --config, or NULL */
    zf_config_args_t file_args; /* its settings; strings above point in */
    int argc;                   /* the command line, to read again on */
    char **argv;                /* SIGHUP */
    int spawn;                  /* local worker processes to keep (the
                                   most, with spawn_max) */
    int spawn_min;              /* elastic pool: never fewer */
    int spawn_max;              /* elastic pool: never more; 0: fixed */
    long idle_timeout_ms;       /* elastic: stop a process idle so long */
    const char *worker_cmd;     /* what each runs, through /bin/sh -c */
    long max_calls_per_worker;  /* retire a local worker after N; 0 never */
    long max_rss_mb;            /* retire a local worker past it; 0 never */
    long max_rss_hard_mb;       /* kill one past it mid-task; 0 never */
    long max_call_time_ms;      /* a task running longer: TIMEOUT, its
                                   worker killed; 0 = no limit */
    const char *curve_secret;   /* the broker's secret certificate, or NULL
                                   for no security */
    const char *authorized_keys;    /* directory of allowed public certs;
                                       set exactly when curve_secret is */
    int ipc_mode;               /* chmod of ipc socket files; -1: default */
    const char *journal;        /* directory of detached tasks, or NULL
                                   (a temporary one, on first use) */
    int journal_sync;           /* journal_sync_t */
    long long journal_max_bytes;    /* detached submits past it: QUEUE_FULL */
    long result_ttl_s;          /* a detached task's result is kept so long */
    bool dead_letter;           /* keep attached tasks' failures too */
    long dead_max;              /* dead letters kept; the oldest go first */
} options_t;

/* Fills options from defaults, then the --config file, then argv (so flags
 * win). Returns 0 to run, 1 if it printed --help or --version (exit 0), or
 * -1 after printing an error that names the flag, or the file and line
 * (exit 2). Call options_free after, whatever it returned. */
int
    options_parse (options_t *options, int argc, char *argv []);

void
    options_free (options_t *options);

/* A reload: copies into now the settings of fresh that may change while
 * the broker runs, and calls refused with the name of each other one that
 * differs. Returns how many did. */
int
    options_reload (options_t *now, const options_t *fresh,
                    void (*refused) (const char *name));

/* The policy of the service called name: its own settings, and the
 * default's where it has none. */
void
    options_retry_policy (const options_t *options, const char *name,
                          retry_policy_t *policy);

#endif
