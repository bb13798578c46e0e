/* zf_pool.h: a supervised pool of local worker processes.
 *
 * Used by the broker (--spawn) and by zfarm-worker (--processes). Each child
 * runs a command through /bin/sh -c (or an argv), in its own process group,
 * with PR_SET_PDEATHSIG so it dies with its supervisor. The owner's event
 * loop tells the pool when SIGCHLD arrived (zf_pool_reap) and when its timer
 * is due (zf_pool_tick); the pool replaces dead children at once, or after
 * an exponential back-off when they keep dying young (a crash loop).
 *
 * Each child's stderr is a pipe to the pool, which copies what comes to its
 * own stderr (where the child's went before) and keeps the last bytes, for
 * the report of how the child ended (zf_crash.h). The owner polls
 * zf_pool_fd and calls zf_pool_read when it is readable.
 *
 * The pool owns every child process of its supervisor: it reaps them all,
 * and kills any child that is not one of its slots (a stray left by a dead
 * worker; see pool.c). One pool per process. */
#ifndef ZF_POOL_H
#define ZF_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "zf_crash.h"
#include "zf_exit.h"

typedef struct _zf_pool_t zf_pool_t;

/* How a child ended. */
typedef struct {
    pid_t pid;
    int status;                 /* its wait status */
    int64_t lived_ms;           /* from its start */
    long max_rss_kb;            /* peak resident memory (wait4's rusage) */
    const zf_tail_t *tail;      /* the last bytes it wrote to stderr */
    const char *instance;       /* its ZF_POOL_INSTANCE_ENV, or NULL */
    bool planned;               /* retired, recycled or left on purpose:
                                   not a death to report */
} zf_pool_exit_t;

/* Called for each child that exited. */
typedef void (zf_pool_exit_fn) (void *arg, const zf_pool_exit_t *ended);

typedef struct {
    const char *name;           /* for log lines: "worker" */
    int size;                   /* children to keep running */
    const char *command;        /* run through /bin/sh -c (plain words:
                                   exec'd as the shell would), or NULL ... */
    char *const *argv;          /* ... run this argv directly */
    const char *path;           /* the file argv runs; NULL: argv [0] */
    const char *env_name;       /* set in each child's environment, */
    const char *env_value;      /* e.g. ZFARM_BROKER=ipc://... (or NULL) */
    int backoff_min_ms;         /* first delay after a young death */
    int backoff_max_ms;         /* ceiling of the doubling delay */
    int young_ms;               /* a child dying sooner was a crash loop */
    bool elastic;               /* size is the most; start with min */
    int min;                    /* elastic: never fewer (0 allowed) */
    bool instance_env;          /* give each child a fresh instance in
                                   ZF_POOL_INSTANCE_ENV */
    const char *spare_env;      /* elastic: "NAME=VALUE" in the environment
                                   of the children past min only, which
                                   leave by themselves (ZF_EXIT_IDLE) when
                                   idle; the pool counts that a shrink.
                                   NULL: none */
    zf_pool_exit_fn *on_exit;   /* may be NULL */
    void *on_exit_arg;
} zf_pool_config_t;

/* A pool with no children yet; config strings are copied. */
zf_pool_t *
    zf_pool_new (const zf_pool_config_t *config);

/* Stops every child (see zf_pool_stop with a 0 grace) and frees the pool. */
void
    zf_pool_destroy (zf_pool_t **self_p);

/* Starts children until size are running. Returns 0, or -1 if fork
 * failed (the pool retries on its timer). */
int
    zf_pool_start (zf_pool_t *self);

/* Reaps every child that has exited, calls on_exit for each, and schedules
 * replacements. Call it when SIGCHLD arrives. Returns the number reaped. */
int
    zf_pool_reap (zf_pool_t *self);

/* A file descriptor that polls readable while a child's stderr has bytes
 * to read. */
int
    zf_pool_fd (zf_pool_t *self);

/* Copies what the children wrote to stderr to ours, and keeps its tail. */
void
    zf_pool_read (zf_pool_t *self);

/* Starts the replacements that are due. */
void
    zf_pool_tick (zf_pool_t *self);

/* Milliseconds until zf_pool_tick has work, or -1 if none is scheduled. */
int
    zf_pool_next_timeout (zf_pool_t *self);

/* The pool child whose process group holds pid (a child, or a process the
 * child's shell started), or 0 if none. */
pid_t
    zf_pool_owner (zf_pool_t *self, pid_t pid);

/* Sends sig to a child's whole process group. Returns 0, or -1 if pid is
 * not a running child of this pool. */
int
    zf_pool_kill (zf_pool_t *self, pid_t child, int sig);

/* SIGTERMs every child, waits at most grace_ms for them, SIGKILLs the rest
 * and reaps them all. No replacement is started after this. */
void
    zf_pool_stop (zf_pool_t *self, int grace_ms);

/* Drains the pool: no child is started or replaced from now on, and each
 * running child gets SIGUSR1 (a zfarm worker then takes no new task,
 * finishes those in hand and exits 0). zf_pool_parked tells when all are
 * gone. */
void
    zf_pool_drain (zf_pool_t *self);

/* True once no child runs and none will start: each slot's child has
 * left for good (ZF_EXIT_IDLE, or exited after zf_pool_drain). Never for
 * an elastic pool with a minimum of 0 that is not drained: it is only
 * idle, and grows again with work. */
bool
    zf_pool_parked (zf_pool_t *self);

/* Why a child was retired and replaced: a recycle, not a crash. */
typedef enum {
    ZF_POOL_TASKS,              /* it ran its --max-calls-per-worker */
    ZF_POOL_RSS,                /* its memory passed --max-rss */
    ZF_POOL_RSS_HARD,           /* passed --max-rss-hard: killed mid-task */
    ZF_POOL_REASONS
} zf_pool_reason_t;

/* "tasks", "rss", "rss_hard": the names status and metrics show. */
const char *
    zf_pool_reason_name (zf_pool_reason_t reason);

/* The resident memory of a running child (the process the pool forked,
 * not what it started), in kB, read from /proc/PID/statm now; -1 if pid
 * is not a running child or /proc cannot tell. */
long
    zf_pool_rss_kb (zf_pool_t *self, pid_t child);

/* Retires a running child for reason: counts the recycle, marks its exit
 * as planned (replaced at once, no back-off), and sends it sig: SIGUSR1
 * to the child alone (a zfarm worker drains: it finishes its tasks and
 * exits), any other signal to its process group. Returns 0, or -1 if pid
 * is not a running child, or was retired already. */
int
    zf_pool_retire (zf_pool_t *self, pid_t child, zf_pool_reason_t reason,
                    int sig);

/* Reads every running child's RSS; one past hard_kb is retired with
 * SIGKILL (ZF_POOL_RSS_HARD), else one past soft_kb with SIGUSR1
 * (ZF_POOL_RSS). 0 turns a limit off. Returns the children retired. */
int
    zf_pool_check_rss (zf_pool_t *self, long soft_kb, long hard_kb);

/* Recycles for reason since the pool began: those zf_pool_retire counted,
 * and children that exited ZF_EXIT_RECYCLED (tasks) or ZF_EXIT_RSS (rss)
 * by themselves. */
uint64_t
    zf_pool_recycled (zf_pool_t *self, zf_pool_reason_t reason);

/* Elastic pools. Starts one more child, if the pool has room, is not
 * stopped or drained, and none was added in the last ZF_POOL_GROW_MS (so
 * that a burst does not fork-bomb the host). Returns 0, or -1. */
int
    zf_pool_grow (zf_pool_t *self);

/* Stops an idle child for good (SIGTERM to its group; its slot is not
 * restarted), unless that would leave fewer than min. Returns 0, or -1. */
int
    zf_pool_shrink (zf_pool_t *self, pid_t child);

/* Children running that started less than ms ago: those that may not
 * have taken work yet. */
int
    zf_pool_young (zf_pool_t *self, int ms);

/* Children wanted now (running or to be restarted), and the children
 * added by zf_pool_grow and removed by zf_pool_shrink so far. */
int
    zf_pool_active (zf_pool_t *self);
uint64_t
    zf_pool_grown (zf_pool_t *self);
uint64_t
    zf_pool_shrunk (zf_pool_t *self);

/* Children running now, and replacements started since the pool began. */
int
    zf_pool_running (zf_pool_t *self);
uint64_t
    zf_pool_replaced (zf_pool_t *self);

/* Kills every child of the calling process that is not a running child of
 * self, each with its process group (self NULL: every child). The pool
 * does this for what dead workers leave behind; a worker that must end at
 * once does it so that no command it started outlives it. */
void
    zf_pool_kill_strays (zf_pool_t *self);

/* ---- the child's side ------------------------------------------------- */

/* Each child finds its supervisor's pid in its environment, under this
 * name. */
#define ZF_POOL_SUPERVISOR_ENV  "ZFARM_SUPERVISOR_PID"

/* A child of a pool whose config asks for it finds here its instance (32
 * hex digits), which the pool reports with its end (zf_pool_exit_t): the
 * worker library sends it in its READY, so that the supervisor can tell
 * its brokers which worker died. */
#define ZF_POOL_INSTANCE_ENV    "ZFARM_WORKER_INSTANCE"

/* A spare child of an elastic zfarm-worker pool finds here how long it
 * may stay idle (ms) before it leaves (ZF_EXIT_IDLE). */
#define ZF_POOL_SPARE_IDLE_ENV  "ZFARM_POOL_IDLE_MS"


/* Watches the supervisor named by ZF_POOL_SUPERVISOR_ENV, so that a
 * worker never outlives it even where PR_SET_PDEATHSIG does not reach (a
 * grandchild, when /bin/sh forks the worker instead of exec'ing it). */
typedef struct {
    pid_t pid;                  /* the supervisor; 0: nothing to watch */
    bool was_parent;            /* it was our parent when we started */
    unsigned long long started; /* its start time, to tell a reused pid */
} zf_pool_guard_t;

/* Reads the supervisor's pid from the environment. Without one (or with a
 * malformed one), the guard watches nothing. */
void
    zf_pool_guard_init (zf_pool_guard_t *self);

/* True once the supervisor is gone: no such process (kill: ESRCH), a
 * zombie, a new process under its pid, or, if it was our parent, a
 * parent that is someone else now. */
bool
    zf_pool_guard_orphaned (const zf_pool_guard_t *self);

#endif
