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
#include "host_options.h"
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
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>

/* Each worker process runs the supervisor's own program, as the kernel
 * still knows it even if the file was replaced since. */
#define SELF_EXE "/proc/self/exe"

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
    int rc = host_options_parse (&options, argc, argv);
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
