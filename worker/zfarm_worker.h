/* zfarm_worker.h: serve tasks from a zfarm broker in a C program.
 *
 * Register one handler per service, then zfarm_worker_run. The handler runs
 * on the thread that called run (and, with a capacity above 1, on that many
 * threads in all), while a background thread keeps the broker's heartbeat, so
 * a long task never makes the worker look dead. If the broker goes away the
 * worker reconnects with back-off and registers again. */
#ifndef ZFARM_WORKER_H
#define ZFARM_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zfarm_codes.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zfarm_worker_t zfarm_worker_t;
typedef struct _zfarm_task_t zfarm_task_t;

/* A handler: reads the task, sets its reply, returns 0. A non-zero return
 * ends the task with ZFARM_EHANDLER_ERROR and the text given to
 * zfarm_task_fail (or "handler returned N"). This is also the type of the
 * function that zfarm-worker --module loads (default name "zfarm_handler"). */
typedef int (zfarm_handler_fn) (zfarm_task_t *task, void *arg);

/* Creates a worker for a broker, or for several: endpoint is one, or a
 * list separated by commas ("tcp://a:5555,tcp://b:5555", at most 16). A
 * worker registers with every broker, heartbeats each, and takes tasks
 * from all of them, never more at a time than its capacity; a broker that
 * is lost costs it only that broker's tasks, and it registers there again
 * by itself when the broker is back. endpoint NULL means $ZFARM_BROKER
 * (which may be a list too), or else tcp://127.0.0.1:5555. With
 * $ZFARM_CURVE_SERVER_KEY and $ZFARM_CURVE_CERT set, its connections are
 * CURVE (zfarm_worker_set_curve). Returns NULL if an endpoint is invalid,
 * one is named twice, or those keys are bad. */
ZFARM_EXPORT zfarm_worker_t *
    zfarm_worker_new (const char *endpoint);

ZFARM_EXPORT void
    zfarm_worker_destroy (zfarm_worker_t **self_p);

/* Makes the worker's connections CURVE: server_key is the broker's public
 * key, in Z85 or as the path of its public certificate, and cert_path our
 * own secret certificate (zfarm keygen's NAME_secret), whose key the
 * broker must list with the worker role (and these services, if it limits
 * them). Both NULL turns CURVE off. Overrides the environment; call before
 * zfarm_worker_run. Returns 0, or ZFARM_EINVALID if a key is bad or the
 * certificate cannot be read (the worker keeps its keys). */
ZFARM_EXPORT int
    zfarm_worker_set_curve (zfarm_worker_t *self, const char *server_key,
                            const char *cert_path);

/* Offers service, served by handler (called with arg). At most 16
 * services. Returns 0, or ZFARM_EINVALID for a bad or repeated name, a NULL
 * handler, or too many services. */
ZFARM_EXPORT int
    zfarm_worker_register (zfarm_worker_t *self, const char *service,
                           zfarm_handler_fn *handler, void *arg);

/* Tasks this worker runs at once, 1 to 1024 (default 1). With more than 1,
 * handlers run on that many threads (the one that calls run, and one
 * more per slot) and must be thread-safe. Slots cost no ZeroMQ sockets:
 * the worker has one per broker, whatever its capacity. Returns 0 or
 * ZFARM_EINVALID. */
ZFARM_EXPORT int
    zfarm_worker_set_capacity (zfarm_worker_t *self, int slots);

/* Heartbeat interval (10 ms to 10 minutes) and liveness (1 to 100) until
 * the broker says its own (defaults 500 ms and 3). A broker of this
 * version tells each worker its settings as it registers, and the worker
 * uses those, so a mismatch never makes a healthy worker look dead; these
 * count with a broker that says nothing. Returns 0 or ZFARM_EINVALID. */
ZFARM_EXPORT int
    zfarm_worker_set_heartbeat (zfarm_worker_t *self, int interval_ms,
                                int liveness);

/* Makes run() return after this many tasks (0, the default: never), so that
 * a supervisor can recycle the process. */
ZFARM_EXPORT void
    zfarm_worker_set_max_tasks (zfarm_worker_t *self, uint64_t max_tasks);

/* Limits how long a handler may run, in milliseconds (0, the default: no
 * limit). A task whose handler runs longer ends with ZFARM_ETIMEOUT and the
 * text "ran longer than --max-call-time N ms", sent to the broker when the
 * limit passes; whatever the handler returns later is dropped. A handler
 * cannot be interrupted, so one that has not returned a second after the
 * limit ends the process: no new task starts, the other slots finish, the
 * worker sends DISCONNECT (the broker requeues what it still held) and the
 * process exits with status 76, for its supervisor to replace it. A handler
 * that stops its own work at the limit (zfarm-worker --exec kills its
 * command) keeps its process. */
ZFARM_EXPORT void
    zfarm_worker_set_max_call_time (zfarm_worker_t *self, uint32_t ms);

/* How long a running handler whose task is cancelled (its client gave up
 * on it) may take to return, in milliseconds (default 1000; 0: at once).
 * A cancelled handler is asked to stop: zfarm_task_cancelled turns true.
 * One that has not returned within the grace ends the process, like one
 * that overran the call-time limit (no new task starts, the other slots
 * finish, DISCONNECT, exit status 76), but only in a process that a zfarm
 * pool started (ZFARM_SUPERVISOR_PID in its environment), whose supervisor
 * replaces it at once. Any other process keeps the slot busy until the
 * handler returns: a client's cancel never ends a process that nobody
 * would start again. */
ZFARM_EXPORT void
    zfarm_worker_set_cancel_grace (zfarm_worker_t *self, uint32_t ms);

/* Makes run() return 0 once no task has been in hand (running, or
 * received and waiting) for ms milliseconds, counted from run() or from
 * the end of the last task (0, the default: never). The worker leaves as
 * on a stop: DISCONNECT, so its broker counts it as gone, not lost. For a
 * worker that a batch scheduler runs, whose allocation is then freed. */
ZFARM_EXPORT void
    zfarm_worker_set_idle_exit (zfarm_worker_t *self, uint32_t ms);

/* Makes run() return ZFARM_EBROKER_DOWN once no broker has served the
 * worker (taken its READY and spoken since) for ms milliseconds, counted
 * from run() or from the loss of the last broker (0, the default: retry
 * for ever). With several brokers, none of them did. Tasks in hand finish
 * first. The log names the brokers. */
ZFARM_EXPORT void
    zfarm_worker_set_give_up (zfarm_worker_t *self, uint32_t ms);

/* Registers with the broker and serves tasks until SIGINT/SIGTERM (as czmq's
 * handler reports them in zsys_interrupted), zfarm_worker_stop, or
 * max_tasks, or the idle exit; tasks in hand finish first. Returns 0 on a
 * clean stop (at once if a stop came before run), ZFARM_EBROKER_DOWN after
 * the give-up time without a broker, or ZFARM_EINVALID if no service was
 * registered or its sockets or slot threads could not be made.
 *
 * A worker process that a zfarm pool started (ZFARM_SUPERVISOR_PID in its
 * environment) never outlives that supervisor: once a heartbeat interval it
 * checks that the supervisor lives, and when it is gone the worker sends
 * DISCONNECT, kills the commands its handlers started, and ends the process
 * with exit status 77 at once, running handlers or not. */
ZFARM_EXPORT int
    zfarm_worker_run (zfarm_worker_t *self);

/* Asks run() to return once the tasks in hand are done. Safe to call from a
 * handler, another thread, or a signal handler. The worker drains: it
 * tells its brokers at once to send it no more tasks (and to take back
 * those it holds unstarted), finishes the tasks that run, then sends
 * DISCONNECT. */
ZFARM_EXPORT void
    zfarm_worker_stop (zfarm_worker_t *self);

/* ---- the task a handler is given --------------------------------------- */

/* The payload; *size_p gets its size. Followed by a NUL that size does not
 * count. Valid until the handler returns. */
ZFARM_EXPORT const void *
    zfarm_task_data (const zfarm_task_t *task, size_t *size_p);

ZFARM_EXPORT const char *
    zfarm_task_service (const zfarm_task_t *task);

/* 1 on the first try, 2 on the first retry (after a worker died with the
 * task, or a failure its retry policy retries), ... */
ZFARM_EXPORT unsigned
    zfarm_task_attempt (const zfarm_task_t *task);

/* On a retry, how the attempt before failed: returns its error text ("" if
 * it had none) and sets *code_p (may be NULL) to its ZFARM_E* code
 * (ZFARM_EHANDLER_ERROR, ZFARM_ETIMEOUT, ZFARM_EWORKER_LOST). Returns NULL
 * on a first attempt, or if the broker did not say (an older broker).
 * Valid until the handler returns. */
ZFARM_EXPORT const char *
    zfarm_task_last_error (const zfarm_task_t *task, int *code_p);

/* Milliseconds the task had left when it reached this worker, or 0 if it
 * has no deadline. A handler that can give up (zfarm-worker --exec kills its
 * command) should not run past it: nobody waits for the result any more. */
ZFARM_EXPORT unsigned
    zfarm_task_timeout (const zfarm_task_t *task);

/* True once the task has been cancelled while its handler runs: nobody
 * wants its result any more, and the handler should return soon (what it
 * returns is dropped; the broker hears CANCELLED). A cheap check (one
 * atomic load) that a long handler can poll between steps; see
 * zfarm_worker_set_cancel_grace for one that does not return. */
ZFARM_EXPORT bool
    zfarm_task_cancelled (const zfarm_task_t *task);

/* Reports how far the task has come: done of total units of work (total
 * 0: not known), with a note (free text, NULL for none; cut to 255
 * bytes) for the caller, who sees it only if it asked for progress
 * (zfarm_client_set_progress, zfarm call --progress): for any other task
 * this does nothing and costs one test. Never blocks: the report is kept
 * in the task, and the worker's own thread sends it, at most one per task
 * every 100 ms; a newer report replaces one that waits (the latest wins),
 * and the last one made before the handler returns is sent before the
 * task's result, whatever the interval, so the caller sees the final
 * value, in order. Call it from the handler, or from a thread of the
 * handler's while the handler runs. Returns 0. */
ZFARM_EXPORT int
    zfarm_task_progress (zfarm_task_t *task, uint64_t done, uint64_t total,
                         const char *note);

/* True if the task's caller asked for progress reports: a handler may
 * skip the work of making them otherwise. */
ZFARM_EXPORT bool
    zfarm_task_wants_progress (const zfarm_task_t *task);

/* Sets the result (copied, unless it is part of zfarm_task_data's bytes,
 * which then go out as they are; a second call replaces the first). */
ZFARM_EXPORT int
    zfarm_task_reply (zfarm_task_t *task, const void *data, size_t size);

/* Sets the error text for a failing handler (printf format); returns -1, so
 * that a handler can write `return zfarm_task_fail (task, "...")`. */
ZFARM_EXPORT int
    zfarm_task_fail (zfarm_task_t *task, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/* The same, for a failure that no retry would mend (the input is wrong):
 * the broker does not retry it, whatever the task's retry policy says. */
ZFARM_EXPORT int
    zfarm_task_fail_permanent (zfarm_task_t *task, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
