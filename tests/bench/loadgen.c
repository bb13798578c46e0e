/* loadgen.c: option parsing, the throughput and latency loops, the report.
 *
 * Throughput keeps `window` tasks in flight: it tops the window up, then
 * collects one reply, until `tasks` replies have come. Latency sends one
 * task, waits for its reply and records the round trip, `tasks` times. Both
 * run `warmup` tasks the same way first, untimed, so that connections,
 * caches and the peers' queues are warm. */
#include "loadgen.h"
#include "histogram.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TASKS       10000
#define DEFAULT_WINDOW      100
#define DEFAULT_SIZE        100
#define DEFAULT_TIMEOUT_MS  10000
#define DEFAULT_DEADLINE_S  300
#define SIZE_MAX_BYTES      (256L << 20)

static const struct option s_options [] = {
    { "broker",       required_argument, NULL, 'b' },
    { "service",      required_argument, NULL, 's' },
    { "tasks",        required_argument, NULL, 'n' },
    { "window",       required_argument, NULL, 'w' },
    { "size",         required_argument, NULL, 'z' },
    { "warmup",       required_argument, NULL, 'W' },
    { "wait-workers", required_argument, NULL, 'k' },
    { "timeout",      required_argument, NULL, 't' },
    { "deadline",     required_argument, NULL, 'D' },
    { "latency",      no_argument,       NULL, 'l' },
    { "json",         no_argument,       NULL, 'j' },
    { "plain",        no_argument,       NULL, 'p' },
    { "priorities",   no_argument,       NULL, 'P' },
    { "delay",        required_argument, NULL, 'd' },
    { "start-at",     required_argument, NULL, 'S' },
    { "batch",        required_argument, NULL, 'B' },
    { "help",         no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};

static void
s_usage (const char *program, unsigned flags)
{
    printf (
"Usage: %s --broker EP [--service NAME] [-n TASKS] [--window N]\n"
"       [--size BYTES] [--latency] [--warmup N] [--wait-workers N]\n"
"       [--timeout MS] [--deadline S] [--json]%s\n"
"\n"
"Throughput (default): keeps --window tasks in flight until -n tasks are\n"
"answered. --latency: one task at a time; p50, p99, p99.9 round trip.\n"
"Both run --warmup tasks first, untimed (default: a tenth of -n).\n"
"\n"
"  --broker EP        where to send tasks\n"
"  --service NAME     service (gearman: function) name (default echo)\n"
"  -n, --tasks N      measured tasks (default %d)\n"
"  --window N         tasks in flight, throughput mode (default %d)\n"
"  --size BYTES       payload size (default %d)\n"
"  --wait-workers N   first wait until N workers are ready (default 0)\n"
"  --timeout MS       longest wait for one reply (default %d)\n"
"  --deadline S       longest whole run (default %d)\n"
"  --start-at MS      after the warm-up, wait until this wall-clock time\n"
"                     (ms since the epoch) to start the timed run, as other\n"
"                     clients do (the JSON's end_ms adds them up)\n"
"  --json             print one JSON object: tasks_per_sec, p50_us, p99_us,\n"
"                     p999_us, errors, ...\n"
"%s%s%s",
            program, flags & LOADGEN_PLAIN? " [--plain]": "",
            DEFAULT_TASKS, DEFAULT_WINDOW, DEFAULT_SIZE, DEFAULT_TIMEOUT_MS,
            DEFAULT_DEADLINE_S,
            flags & LOADGEN_PLAIN?
"  --plain            talk to lru_broker (the plain ZeroMQ LRU broker)\n"
"                     instead of zfarm-broker\n": "",
            flags & LOADGEN_WHEN?
"  --priorities       give the tasks priorities 0..9 in turn\n"
"  --delay MS         delay each task by MS (0: none)\n": "",
            flags & LOADGEN_BATCH?
"  --batch N          send up to N SUBMITs in one message\n"
"                     (zfarm_client_set_batch; default 0: off)\n": "");
}

static int
s_number (const char *program, const char *name, const char *text, long min,
          long max, long *value)
{
    char *end;
    errno = 0;
    long number = strtol (text, &end, 10);
    if (errno == 0 && end != text && *end == 0
    &&  number >= min && number <= max) {
        *value = number;
        return 0;
    }
    fprintf (stderr, "%s: %s: expected a number from %ld to %ld, got '%s'\n",
             program, name, min, max, text);
    return -1;
}

static int
s_take (loadgen_options_t *self, const char *program, int option,
        const char *value)
{
    switch (option) {
        case 'b': self->broker = value; return 0;
        case 's': self->service = value; return 0;
        case 'n': return s_number (program, "-n", value, 1, LONG_MAX / 2,
                                   &self->tasks);
        case 'w': return s_number (program, "--window", value, 1, 1000000,
                                   &self->window);
        case 'z': return s_number (program, "--size", value, 0,
                                   SIZE_MAX_BYTES, &self->size);
        case 'W': return s_number (program, "--warmup", value, 0,
                                   LONG_MAX / 2, &self->warmup);
        case 'k': return s_number (program, "--wait-workers", value, 0,
                                   100000, &self->wait_workers);
        case 't': return s_number (program, "--timeout", value, 1,
                                   INT_MAX, &self->timeout_ms);
        case 'D': return s_number (program, "--deadline", value, 1,
                                   86400, &self->deadline_s);
        case 'l': self->latency = true; return 0;
        case 'j': self->json = true; return 0;
        case 'p': self->plain = true; return 0;
        case 'P': self->priorities = true; return 0;
        case 'd': return s_number (program, "--delay", value, 0, 3600000,
                                   &self->delay_ms);
        case 'B': return s_number (program, "--batch", value, 0, 256,
                                   &self->batch);
        case 'S': {
            long at;
            if (s_number (program, "--start-at", value, 0, LONG_MAX, &at))
                return -1;
            self->start_at_ms = at;
            return 0;
        }
    }
    return -1;
}

int
loadgen_options_parse (loadgen_options_t *self, const char *program,
                       unsigned flags, int argc, char *argv [])
{
    *self = (loadgen_options_t) {
        .service = "echo", .tasks = DEFAULT_TASKS, .window = DEFAULT_WINDOW,
        .size = DEFAULT_SIZE, .warmup = -1, .timeout_ms = DEFAULT_TIMEOUT_MS,
        .deadline_s = DEFAULT_DEADLINE_S };
    opterr = 0;
    int option;
    while ((option = getopt_long (argc, argv, ":n:h", s_options, NULL)) != -1) {
        if (option == 'h') {
            s_usage (program, flags);
            return 1;
        }
        if (option == '?' || option == ':'
        ||  (option == 'p' && !(flags & LOADGEN_PLAIN))
        ||  ((option == 'P' || option == 'd') && !(flags & LOADGEN_WHEN))
        ||  (option == 'B' && !(flags & LOADGEN_BATCH))) {
            fprintf (stderr, "%s: %s '%s' (see --help)\n", program,
                     option == ':'? "missing value for": "unknown option",
                     argv [optind - 1]);
            return -1;
        }
        if (s_take (self, program, option, optarg))
            return -1;
    }
    if (optind < argc || !self->broker) {
        fprintf (stderr, "%s: %s (see --help)\n", program, optind < argc?
                 "unexpected argument": "--broker is required");
        return -1;
    }
    if (self->warmup < 0)
        self->warmup = self->tasks / 10;
    return 0;
}

static long long
s_wall_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

uint64_t
loadgen_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (uint64_t) now.tv_sec * 1000000000u + (uint64_t) now.tv_nsec;
}

/* One run of count tasks with at most window in flight. Returns 0, or -1
 * if a reply did not come in time or the deadline passed; then *done_p says
 * how many were answered. */
static int
s_windowed (const loadgen_options_t *options, const loadgen_ops_t *ops,
            void *backend, const char *payload, long count, long window,
            uint64_t deadline, long *done_p, long *errors_p)
{
    long sent = 0, done = 0;
    int rc = 0;
    while (done < count) {
        for (; sent < count && sent - done < window && rc == 0; sent++)
            rc = ops->submit (backend, payload, (size_t) options->size);
        int outcome = rc? -1: ops->collect (backend, (int) options->timeout_ms,
                                           (size_t) options->size);
        if (outcome < 0 || loadgen_now_ns () > deadline) {
            rc = -1;
            break;
        }
        done++;
        *errors_p += outcome == 0;
    }
    *done_p = done;
    return rc;
}

/* count tasks one at a time; each round trip goes into histogram if given. */
static int
s_one_by_one (const loadgen_options_t *options, const loadgen_ops_t *ops,
              void *backend, const char *payload, long count,
              uint64_t deadline, histogram_t *histogram, long *done_p,
              long *errors_p)
{
    long done = 0;
    int rc = 0;
    while (done < count) {
        uint64_t start = loadgen_now_ns ();
        int outcome = -1;
        if (ops->submit (backend, payload, (size_t) options->size) == 0)
            outcome = ops->collect (backend, (int) options->timeout_ms,
                                    (size_t) options->size);
        uint64_t end = loadgen_now_ns ();
        if (outcome < 0 || end > deadline) {
            rc = -1;
            break;
        }
        if (histogram)
            histogram_record (histogram, end - start);
        done++;
        *errors_p += outcome == 0;
    }
    *done_p = done;
    return rc;
}

int
loadgen_run (const loadgen_options_t *options, const loadgen_ops_t *ops,
             void *backend, loadgen_report_t *report)
{
    assert (options && ops && backend && report);
    *report = (loadgen_report_t) { 0 };
    char *payload = malloc ((size_t) options->size + 1);
    histogram_t *histogram = histogram_new ();
    if (!payload) {
        fprintf (stderr, "loadgen: out of memory\n");
        abort ();
    }
    memset (payload, 'x', (size_t) options->size);
    uint64_t deadline = loadgen_now_ns ()
                      + (uint64_t) options->deadline_s * 1000000000u;
    long done = 0, warm_errors = 0;
    int rc = options->latency
        ? s_one_by_one (options, ops, backend, payload, options->warmup,
                        deadline, NULL, &done, &warm_errors)
        : s_windowed (options, ops, backend, payload, options->warmup,
                      options->window, deadline, &done, &warm_errors);
    if (rc == 0 && options->start_at_ms) {
        long long wait_ms = options->start_at_ms - s_wall_ms ();
        if (wait_ms > 0)
            usleep ((useconds_t) (wait_ms < 60000? wait_ms: 60000) * 1000);
    }
    uint64_t start = loadgen_now_ns ();
    if (rc == 0)
        rc = options->latency
            ? s_one_by_one (options, ops, backend, payload, options->tasks,
                            deadline, histogram, &done, &report->errors)
            : s_windowed (options, ops, backend, payload, options->tasks,
                          options->window, deadline, &done, &report->errors);
    else
        done = 0;
    report->seconds = (double) (loadgen_now_ns () - start) / 1e9;
    report->end_ms = s_wall_ms ();
    report->completed = done;
    report->errors += warm_errors + (options->tasks - done);
    report->tasks_per_sec = report->seconds > 0
                          ? (double) done / report->seconds: 0;
    report->p50_ns = histogram_percentile (histogram, 50);
    report->p99_ns = histogram_percentile (histogram, 99);
    report->p999_ns = histogram_percentile (histogram, 99.9);
    report->max_ns = histogram_max (histogram);
    histogram_destroy (&histogram);
    free (payload);
    return rc;
}

/* A latency in microseconds, or null where none was measured. */
static const char *
s_micros (char *text, size_t size, bool measured, uint64_t ns)
{
    if (measured)
        snprintf (text, size, "%.1f", (double) ns / 1e3);
    else
        snprintf (text, size, "null");
    return text;
}

void
loadgen_print (const loadgen_options_t *options, const char *system,
               const loadgen_report_t *report)
{
    if (options->json) {
        bool timed = options->latency && report->completed > 0;
        char p50 [32], p99 [32], p999 [32], max [32];
        printf ("{\"system\":\"%s\",\"mode\":\"%s\",\"tasks\":%ld,"
                "\"window\":%ld,\"size\":%ld,\"completed\":%ld,"
                "\"seconds\":%.6f,\"tasks_per_sec\":%.1f,"
                "\"mb_per_sec\":%.3f,\"p50_us\":%s,\"p99_us\":%s,"
                "\"p999_us\":%s,\"max_us\":%s,\"end_ms\":%lld,"
                "\"errors\":%ld}\n",
                system, options->latency? "latency": "throughput",
                options->tasks, options->latency? 1: options->window,
                options->size, report->completed, report->seconds,
                report->tasks_per_sec,
                report->tasks_per_sec * (double) options->size / 1e6,
                s_micros (p50, sizeof p50, timed, report->p50_ns),
                s_micros (p99, sizeof p99, timed, report->p99_ns),
                s_micros (p999, sizeof p999, timed, report->p999_ns),
                s_micros (max, sizeof max, timed, report->max_ns),
                report->end_ms, report->errors);
        return;
    }
    printf ("%s: %ld tasks of %ld bytes in %.3f s: %.0f tasks/s", system,
            report->completed, options->size, report->seconds,
            report->tasks_per_sec);
    if (options->latency)
        printf (", round trip p50 %.1f us, p99 %.1f us, p99.9 %.1f us",
                (double) report->p50_ns / 1e3, (double) report->p99_ns / 1e3,
                (double) report->p999_ns / 1e3);
    printf (", %ld errors\n", report->errors);
}
