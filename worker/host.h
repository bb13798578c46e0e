/* host.h: the parts of zfarm-worker (internal to the binary).
 *
 * A worker process gets its handler either from a shared object
 * (host_module.c) or by running a command per task (host_exec.c). With
 * --processes, zfarm-worker is instead the supervisor of such worker
 * processes (host_supervisor.c). */
#ifndef HOST_H
#define HOST_H

#include "zfarm_worker.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/* ---- --module ---------------------------------------------------------- */

typedef struct _module_t module_t;

/* Loads the shared object at path and finds function in it (a
 * zfarm_handler_fn). Returns NULL after printing why to stderr. */
module_t *
    module_new (const char *path, const char *function);

/* Unloads the object: call it only once no handler runs. */
void
    module_destroy (module_t **self_p);

zfarm_handler_fn *
    module_handler (module_t *self);

/* ---- --max-rss -------------------------------------------------------- */

/* A handler wrapped so that the process drains once its resident memory
 * passed max_rss_kb after a task. */
typedef struct {
    zfarm_handler_fn *handler;  /* the real one */
    void *arg;                  /* its argument */
    long max_rss_kb;            /* the limit */
    zfarm_worker_t *worker;     /* stopped once past it; set before run */
    atomic_bool passed;         /* it was: the exit status is ZF_EXIT_RSS */
} rss_guard_t;

/* Runs the real handler, then reads the process's RSS (arg: an
 * rss_guard_t). */
int
    rss_guard_handler (zfarm_task_t *task, void *arg);

/* ---- --exec ------------------------------------------------------------ */

/* What exec_handler runs, and for how long at most. */
typedef struct {
    const char *command;        /* a command line for /bin/sh -c */
    uint32_t max_call_ms;       /* kill it after this long; 0: never */
} exec_config_t;

/* A handler that runs the command of arg (an exec_config_t) through
 * /bin/sh -c: the payload goes to its stdin and its stdout is the result.
 * A non-zero exit or a signal fails the task with its stderr. The command
 * is killed, with all it started, once it has run max_call_ms, if it is
 * still running one second past the task's timeout, or at once when the
 * task is cancelled. Thread-safe; the
 * process must ignore SIGPIPE. */
int
    exec_handler (zfarm_task_t *task, void *arg);

/* ---- --processes -------------------------------------------------------- */

typedef struct _supervisor_t supervisor_t;

typedef struct {
    int processes;              /* worker processes to keep running; the
                                   most, if processes_min is less */
    int processes_min;          /* elastic: never fewer (0 allowed) */
    int capacity;               /* elastic: each process's --capacity */
    int idle_timeout_ms;        /* elastic: a spare process idle this long
                                   leaves */
    int64_t idle_exit_ms;       /* --idle-exit: with a minimum of 0, the
                                   supervisor leaves after this long with
                                   no process and no backlog; 0: never */
    const char *brokers;        /* elastic: the workers' --broker list, or
                                   NULL ($ZFARM_BROKER, the default) */
    const char *const *services;    /* elastic: the workers' services */
    size_t service_count;
    const char *path;           /* the program they run ... */
    char *const *argv;          /* ... with this command line */
    int drain_timeout_ms;       /* on SIGTERM, time for their tasks */
    int heartbeat_ms;           /* how often to check on our supervisor */
    int64_t stop_in_ms;         /* drain after this long (--stop-at);
                                   -1: never */
    long max_rss_hard_kb;       /* kill a process past it; 0: never */
} supervisor_config_t;

/* ---- a supervisor's link to its brokers ------------------------------- */

typedef struct _watch_t watch_t;

/* Connects to each broker of broker_list (NULL: $ZFARM_BROKER, else the
 * default), with CURVE from $ZFARM_CURVE_SERVER_KEY and $ZFARM_CURVE_CERT
 * if set, to ask for the backlog of services. Returns NULL after logging
 * why. */
watch_t *
    watch_new (const char *broker_list, const char *const *services,
               size_t service_count);

void
    watch_destroy (watch_t **self_p);

/* Fills items with one entry per broker (ZF_BROKERS_MAX at most) and
 * returns how many. */
int
    watch_poll_items (watch_t *self, zmq_pollitem_t *items);

/* Reads what broker index (as in watch_poll_items) sent. */
void
    watch_read (watch_t *self, int index);

/* Sends each broker a PING, if the interval is up. */
void
    watch_ping (watch_t *self, int64_t now);

/* Tells every broker that the worker process of instance died, and how:
 * a DISCONNECT that names the instance (PROTOCOL.md, Crash reports). */
void
    watch_report (watch_t *self, const char *instance, const char *how);

/* Milliseconds until watch_ping has work. */
int
    watch_next_timeout (watch_t *self, int64_t now);

/* Tasks of the services waiting at the brokers that answered lately, and
 * how long the oldest of them has waited (ms). */
void
    watch_backlog (watch_t *self, int64_t now, uint64_t *waiting,
                   uint32_t *waited_ms);

/* Prepares a supervisor: blocks SIGCHLD, SIGINT, SIGTERM and SIGUSR1 (call it
 * before any thread exists, so that they all inherit the mask) and reads
 * them from a signalfd. Starts no process yet. Returns NULL after logging
 * why. */
supervisor_t *
    supervisor_new (const supervisor_config_t *config);

void
    supervisor_destroy (supervisor_t **self_p);

/* Starts the worker processes and keeps them running: a dead one is
 * replaced at once, or with growing delays if they keep dying young. On
 * SIGINT or SIGTERM, stops them (SIGTERM; SIGKILL for those still running
 * after drain_timeout_ms) and returns 0. If our own supervisor dies
 * (ZFARM_SUPERVISOR_PID), kills them and returns ZF_EXIT_ORPHANED. On
 * SIGUSR1 or at stop_in_ms, drains them (each gets SIGUSR1, finishes its
 * tasks and exits; none is replaced) and returns 0 once all are gone; so
 * too once every one has left after its --idle-exit. If one gave up on the
 * brokers (ZF_EXIT_UNREACHABLE), stops them all and returns that. Returns
 * 1 if the signalfd fails. */
int
    supervisor_run (supervisor_t *self);

#endif
