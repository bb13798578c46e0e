/* host_supervisor.c: zfarm-worker --processes N, a supervisor that keeps N
 * worker processes running; with --processes N..M, between N and M.
 *
 * An elastic pool grows by its brokers' backlog (host_watch.c): one
 * process more, at most every ZF_POOL_GROW_MS, while a task of its
 * services has waited ZF_POOL_GROW_WAIT_MS, or at once for the first task
 * when none runs. It shrinks from the other end: each process past N is
 * started with ZF_POOL_SPARE_IDLE_ENV, and leaves by itself once idle for
 * --idle-timeout, as after --idle-exit: it tells its brokers first, so no
 * task is lost to the race, which a kill from here would lose.
 *
 * One thread and one poll loop, on a signalfd: SIGCHLD has the pool reap
 * and replace its children (common/pool.c, which the broker's --spawn uses
 * too, with the same back-off); SIGINT or SIGTERM ends the loop, and the
 * children are stopped. The pool's timer starts the replacements it held
 * back. SIGUSR1 or --stop-at drain the pool; the loop ends once every
 * worker has left. Invariant: the four signals stay blocked from
 * supervisor_new on,
 * so that each one waits in the signalfd, whatever thread czmq starts. */
#include "host.h"
#include "zf_log.h"
#include "zf_defaults.h"
#include "zf_pool.h"
#include "zf_util.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <limits.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIGNALS_PER_WAKE 16     /* reads from the signalfd per wake-up */

struct _supervisor_t {
    int signal_fd;              /* SIGCHLD, SIGINT and SIGTERM */
    zf_pool_t *pool;            /* the worker processes */
    int drain_timeout_ms;       /* on SIGTERM, time for their tasks */
    int heartbeat_ms;           /* how often to check on our supervisor */
    zf_pool_guard_t guard;      /* our own supervisor, if we have one */
    int64_t guard_at;           /* when to check on it next */
    int64_t stop_at;            /* drain then (--stop-at); 0: never */
    long max_rss_hard_kb;       /* --max-rss-hard; 0: no limit */
    int64_t rss_at;             /* when to read the workers' RSS next */
    bool draining;              /* the workers finish and are not replaced */
    bool running;               /* until a signal, or the guard, says stop */
    int status;                 /* what supervisor_run returns */
    watch_t *watch;             /* our link to the brokers: their backlog
                                   (elastic), our workers' deaths */
    bool elastic;               /* --processes N..M */
    const char *brokers;        /* the workers' --broker list, or NULL */
    const char *const *services;
    size_t service_count;
    int64_t idle_exit_ms;       /* elastic with no minimum: see host.h */
    uint64_t capacity;          /* each worker process's slots */
    int64_t empty_since;        /* ... no process, no backlog since; 0 */
};

static int
s_signals_open (void)
{
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGCHLD);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGUSR1);
    if (sigprocmask (SIG_BLOCK, &signals, NULL) != 0)
        return -1;
    return signalfd (-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void s_stop (supervisor_t *self, int status);

/* A worker that gave up on the brokers: the others will too, for they
 * reach the same ones; the supervisor ends with its status, so that the
 * scheduler's job fails visibly. Its log line named the brokers. */
static void
s_on_exit (void *arg, const zf_pool_exit_t *ended)
{
    supervisor_t *self = (supervisor_t *) arg;
    /* A worker that died with tasks in hand: its brokers hear how, which
     * each puts in its tasks' WORKER_LOST, as for a broker's own pool. */
    if (!ended->planned && ended->instance && self->watch) {
        char report [ZF_CRASH_REPORT_MAX];
        zf_crash_report (ended->status, ended->max_rss_kb, ended->tail,
                         report, sizeof report);
        watch_report (self->watch, ended->instance, report);
    }
    if (self->running && WIFEXITED (ended->status)
    &&  WEXITSTATUS (ended->status) == ZF_EXIT_UNREACHABLE) {
        zf_error ("supervisor: worker %d found no broker; giving up",
                  (int) ended->pid);
        self->drain_timeout_ms = 0;
        s_stop (self, ZF_EXIT_UNREACHABLE);
    }
}

supervisor_t *
supervisor_new (const supervisor_config_t *config)
{
    assert (config && config->processes > 0 && config->argv);
    int signal_fd = s_signals_open ();
    if (signal_fd == -1) {
        zf_error ("supervisor: signalfd: %s", strerror (errno));
        return NULL;
    }
    supervisor_t *self = zf_malloc (sizeof *self);
    self->signal_fd = signal_fd;
    self->drain_timeout_ms = config->drain_timeout_ms;
    self->heartbeat_ms = config->heartbeat_ms;
    zf_pool_guard_init (&self->guard);
    self->max_rss_hard_kb = config->max_rss_hard_kb;
    self->stop_at = config->stop_in_ms >= 0
                  ? zf_now_ms () + config->stop_in_ms: 0;
    bool elastic = config->processes_min < config->processes;
    char spare_env [64];
    snprintf (spare_env, sizeof spare_env, ZF_POOL_SPARE_IDLE_ENV "=%d",
              config->idle_timeout_ms);
    self->elastic = elastic;
    self->brokers = config->brokers;
    self->services = config->services;
    self->service_count = config->service_count;
    if (elastic) {
        self->idle_exit_ms = config->processes_min? 0: config->idle_exit_ms;
        self->capacity = (uint64_t) config->capacity;
    }
    zf_pool_config_t pool = {
        .name = "worker", .size = config->processes,
        .elastic = elastic, .min = config->processes_min,
        .spare_env = spare_env, .instance_env = true,
        .path = config->path, .argv = config->argv,
        .backoff_min_ms = ZF_POOL_BACKOFF_MIN_MS,
        .backoff_max_ms = ZF_POOL_BACKOFF_MAX_MS,
        .young_ms = ZF_POOL_YOUNG_MS,
        .on_exit = s_on_exit, .on_exit_arg = self,
    };
    self->pool = zf_pool_new (&pool);
    if (elastic)
        zf_notice ("supervisor: elastic pool of %d to %d processes; a spare "
                   "one leaves after %d ms idle", config->processes_min,
                   config->processes, config->idle_timeout_ms);
    return self;
}

void
supervisor_destroy (supervisor_t **self_p)
{
    assert (self_p);
    supervisor_t *self = *self_p;
    if (!self)
        return;
    zf_pool_destroy (&self->pool);
    watch_destroy (&self->watch);
    close (self->signal_fd);
    free (self);
    *self_p = NULL;
}

static void
s_stop (supervisor_t *self, int status)
{
    self->running = false;
    self->status = status;
}

/* Each worker takes no new task, finishes those in hand and leaves; the
 * loop ends when the last has. */
static void
s_drain (supervisor_t *self, const char *why)
{
    if (self->draining)
        return;
    self->draining = true;
    zf_notice ("supervisor: %s: draining %d worker processes", why,
               zf_pool_running (self->pool));
    zf_pool_drain (self->pool);
}

static void
s_on_signals (supervisor_t *self)
{
    /* Whatever is left past the bound wakes the next poll. */
    struct signalfd_siginfo info;
    for (int reads = 0; reads < SIGNALS_PER_WAKE
         && read (self->signal_fd, &info, sizeof info) == sizeof info;
         reads++) {
        int signo = (int) info.ssi_signo;
        if (signo == SIGCHLD)
            zf_pool_reap (self->pool);
        else
        if (signo == SIGUSR1)
            s_drain (self, "SIGUSR1");
        else
        if (self->running) {
            zf_notice ("supervisor: %s: stopping %d worker processes (up "
                         "to %d ms for their tasks)", strsignal (signo),
                         zf_pool_running (self->pool),
                         self->drain_timeout_ms);
            s_stop (self, EXIT_SUCCESS);
        }
    }
}

/* Our own supervisor (when a pool started us) must not be outlived: not
 * by us, nor by our workers, whose guard watches us, not it. */
static void
s_check_guard (supervisor_t *self, int64_t now)
{
    self->guard_at = now + self->heartbeat_ms;
    if (!zf_pool_guard_orphaned (&self->guard))
        return;
    zf_error ("supervisor: supervisor %d is gone; stopping the workers "
                "now", (int) self->guard.pid);
    self->drain_timeout_ms = 0;
    s_stop (self, ZF_EXIT_ORPHANED);
}

static bool
s_limits_rss (supervisor_t *self)
{
    return self->max_rss_hard_kb != 0;
}

/* --max-rss is each worker's own check, at its task ends (host_rss.c);
 * we see no task end here, so --max-rss-hard is read on a short timer. */
static void
s_check_rss (supervisor_t *self, int64_t now)
{
    self->rss_at = now + ZF_POOL_RSS_CHECK_MS;
    if (!self->draining)
        zf_pool_check_rss (self->pool, 0, self->max_rss_hard_kb);
}

/* Milliseconds until the pool's timer, the guard or the stop is due;
 * -1: never. */
static int
s_next_timeout (supervisor_t *self)
{
    int timeout = zf_pool_next_timeout (self->pool);
    if (self->stop_at && !self->draining) {
        int64_t left = self->stop_at - zf_now_ms ();
        int stop = left > 0? (left > INT_MAX? INT_MAX: (int) left): 0;
        if (timeout < 0 || stop < timeout)
            timeout = stop;
    }
    if (self->guard.pid) {
        int64_t left = self->guard_at - zf_now_ms ();
        int guard = left > 0? (int) left: 0;
        if (timeout < 0 || guard < timeout)
            timeout = guard;
    }
    if (s_limits_rss (self)) {
        int64_t left = self->rss_at - zf_now_ms ();
        int rss = left > 0? (int) left: 0;
        if (timeout < 0 || rss < timeout)
            timeout = rss;
    }
    if (self->elastic) {
        int watch = watch_next_timeout (self->watch, zf_now_ms ());
        if (timeout < 0 || watch < timeout)
            timeout = watch;
    }
    return timeout;
}

/* An elastic pool follows its brokers' backlog; with no minimum and
 * --idle-exit, it leaves once it had neither process nor backlog for
 * that long, as a fixed pool leaves after its last process. */
static void
s_follow_backlog (supervisor_t *self, int64_t now)
{
    watch_ping (self->watch, now);
    uint64_t waiting;
    uint32_t waited_ms;
    watch_backlog (self->watch, now, &waiting, &waited_ms);
    /* A process just started takes its tasks only once it has
     * registered: the backlog it will take is not one to grow for. */
    uint64_t starting = (uint64_t) zf_pool_young (self->pool,
                                                  ZF_POOL_STARTUP_MS)
                      * self->capacity;
    int active = zf_pool_active (self->pool);
    if ((waited_ms >= ZF_POOL_GROW_WAIT_MS || active == 0)
    &&  waiting > starting && zf_pool_grow (self->pool) == 0)
        zf_info ("supervisor: %" PRIu64 " tasks waiting, the oldest for %u "
                 "ms: %d worker processes now", waiting, waited_ms,
                 zf_pool_active (self->pool));
    if (!self->idle_exit_ms)
        return;
    if (waiting || zf_pool_running (self->pool))
        self->empty_since = 0;
    else
    if (!self->empty_since)
        self->empty_since = now;
    else
    if (now - self->empty_since >= self->idle_exit_ms) {
        zf_notice ("supervisor: no worker process and no task for %" PRId64
                   " ms (--idle-exit)", self->idle_exit_ms);
        s_stop (self, EXIT_SUCCESS);
    }
}

int
supervisor_run (supervisor_t *self)
{
    assert (self);
    self->watch = watch_new (self->brokers, self->services,
                             self->service_count);
    if (!self->watch)
        return EXIT_FAILURE;
    self->running = true;
    zf_pool_start (self->pool);
    while (self->running) {
        zmq_pollitem_t items [2 + ZF_BROKERS_MAX] = {
            { .fd = self->signal_fd, .events = ZMQ_POLLIN },
            { .fd = zf_pool_fd (self->pool), .events = ZMQ_POLLIN },
        };
        int brokers = self->watch? watch_poll_items (self->watch, items + 2)
                                 : 0;
        if (zmq_poll (items, 2 + brokers, s_next_timeout (self)) == -1
        &&  zmq_errno () != EINTR) {
            zf_error ("supervisor: poll: %s", zmq_strerror (zmq_errno ()));
            s_stop (self, EXIT_FAILURE);
            break;
        }
        /* Before the signals: a child reaped now has its last words read. */
        if (items [1].revents & ZMQ_POLLIN)
            zf_pool_read (self->pool);
        if (items [0].revents & ZMQ_POLLIN)
            s_on_signals (self);
        for (int i = 0; i < brokers; i++)
            if (items [2 + i].revents & ZMQ_POLLIN)
                watch_read (self->watch, i);
        int64_t now = zf_now_ms ();
        if (self->running && self->elastic && !self->draining)
            s_follow_backlog (self, now);
        if (self->running && self->guard.pid && now >= self->guard_at)
            s_check_guard (self, now);
        if (self->running && s_limits_rss (self) && now >= self->rss_at)
            s_check_rss (self, now);
        if (self->running && self->stop_at && now >= self->stop_at)
            s_drain (self, "--stop-at");
        if (self->running && zf_pool_parked (self->pool)) {
            zf_notice ("supervisor: every worker process has left");
            s_stop (self, EXIT_SUCCESS);
        }
        if (self->running)
            zf_pool_tick (self->pool);
    }
    zf_pool_stop (self->pool, self->drain_timeout_ms);
    return self->status;
}
