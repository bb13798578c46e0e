/* loadgen.h: the options, measurement loops and report shared by every load
 * generator of the benchmark suite (zfarm, the plain ZeroMQ broker,
 * gearmand), so that each system is measured by the same code.
 *
 * A backend sends requests and collects replies; the loops here decide how
 * many are in flight and what is timed. Every loop is bounded in count (the
 * task count) and in time (a per-reply timeout and an overall deadline). */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the command line asked for. */
typedef struct {
    const char *broker;         /* endpoint, or host:port for gearmand */
    const char *service;        /* service (gearman: function) name */
    long tasks;                 /* measured tasks */
    long window;                /* tasks in flight at once (throughput) */
    long size;                  /* payload bytes */
    long warmup;                /* untimed tasks first */
    long wait_workers;          /* wait for this many workers first, 0: no */
    long timeout_ms;            /* longest wait for one reply */
    long deadline_s;            /* longest whole run */
    bool latency;               /* one in flight, percentiles */
    bool json;                  /* one JSON object on stdout */
    bool plain;                 /* zfarm-bench: the plain ZeroMQ broker */
    bool priorities;            /* zfarm-bench: each task a priority 0..9,
                                   in turn (--priorities) */
    long delay_ms;              /* zfarm-bench: each task's delay */
    long batch;                 /* zfarm-bench: zfarm_client_set_batch */
    long long start_at_ms;      /* wall clock (ms since the epoch) before
                                   which the timed run does not start, so
                                   that many clients start it together;
                                   0: at once */
} loadgen_options_t;

/* Parses argv for program. Options that this program does not support
 * (LOADGEN_PLAIN without the flag) are refused. Prints usage or the error
 * itself. Returns 0 to run, 1 after --help, -1 on bad usage. */
#define LOADGEN_PLAIN   1       /* accepts --plain */
#define LOADGEN_WHEN    2       /* accepts --priorities and --delay */
#define LOADGEN_BATCH   4       /* accepts --batch */
int
    loadgen_options_parse (loadgen_options_t *self, const char *program,
                           unsigned flags, int argc, char *argv []);

/* A backend: submit sends one request; collect waits at most timeout_ms
 * for one reply and returns 1 if it came and is the echo of a request, 0 if
 * it came as an error (or not an echo), -1 if none came in time or the
 * connection failed. */
typedef struct {
    int (*submit) (void *backend, const void *data, size_t size);
    int (*collect) (void *backend, int timeout_ms, size_t size);
} loadgen_ops_t;

/* What a run measured. Latencies are in nanoseconds (latency mode). */
typedef struct {
    long completed;             /* replies collected, errors included */
    long errors;                /* error replies, and tasks never answered */
    double seconds;             /* measured time (warm-up excluded) */
    double tasks_per_sec;       /* completed / seconds */
    uint64_t p50_ns, p99_ns, p999_ns, max_ns;
    long long end_ms;           /* wall clock at the end (ms since the
                                   epoch), to add up clients run at once */
} loadgen_report_t;

/* Runs the warm-up and the measurement the options ask for. Returns 0 if
 * every task was answered (errors counted in report), -1 if the run stalled
 * or passed its deadline (report still filled in). */
int
    loadgen_run (const loadgen_options_t *options, const loadgen_ops_t *ops,
                 void *backend, loadgen_report_t *report);

/* Prints the report: one JSON object (--json) or a line for people. */
void
    loadgen_print (const loadgen_options_t *options, const char *system,
                   const loadgen_report_t *report);

/* Nanoseconds on the monotonic clock. */
uint64_t
    loadgen_now_ns (void);

#endif
