/* zfarm_client.h: hand tasks to a zfarm broker and collect their results.
 *
 * A client holds one DEALER connection to each broker it is given, and is
 * used from one thread. With several brokers, each task goes to one of
 * those that are up, and to another if that one is lost.
 * Every task gets exactly one result: its data, or an error code that a
 * program can switch on (ZFARM_ETIMEOUT, ZFARM_EWORKER_LOST, ...). A result
 * that arrives twice, or after the client gave up on the task, is dropped. */
#ifndef ZFARM_CLIENT_H
#define ZFARM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zfarm_codes.h"
#include "zfarm_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zfarm_client_t zfarm_client_t;
typedef struct _zfarm_result_t zfarm_result_t;

/* Called with each result of a task submitted with zfarm_client_submit_cb.
 * The result is borrowed: it is destroyed when the callback returns. */
typedef void (zfarm_result_fn) (zfarm_result_t *result, void *arg);

/* Called with each progress report of a task whose client asked for them
 * (zfarm_client_set_progress): done of total units of work (total 0: not
 * known) and the worker's note, a NUL-terminated text of at most 255
 * bytes that a handler wrote: escape it before showing it on a terminal. */
typedef void (zfarm_progress_fn) (uint64_t task_id, uint64_t done,
                                  uint64_t total, const char *note,
                                  void *arg);

/* What zfarm_client_wait_event hands out: a task's result, or a progress
 * report of a task still pending. */
typedef enum {
    ZFARM_EVENT_RESULT = 1,     /* result is set: the caller destroys it */
    ZFARM_EVENT_PROGRESS = 2    /* done, total and note are set */
} zfarm_event_type_t;

typedef struct {
    int type;                   /* zfarm_event_type_t */
    uint64_t task_id;
    zfarm_result_t *result;     /* RESULT; NULL for PROGRESS */
    uint64_t done;              /* PROGRESS: work done so far */
    uint64_t total;             /* PROGRESS: work in all, 0 if not known */
    char note [256];            /* PROGRESS: the worker's note (free text,
                                   NUL-terminated; escape it to show it) */
} zfarm_event_t;

/* Connects to a broker, or to several: endpoint is one endpoint or up to
 * 16 separated by commas ("tcp://a:5555,tcp://b:5555"), and NULL means
 * $ZFARM_BROKER, or else tcp://127.0.0.1:5555. With several, each task
 * goes to exactly one broker that is up (the least loaded, in turn among
 * equals), and when that broker is lost (silent for its liveness,
 * restarted, shutting down) to another with the same task id; a task
 * still gets exactly one result. Connecting is lazy (ZeroMQ's): a broker
 * that is not there yet is not an error. With $ZFARM_CURVE_SERVER_KEY and
 * $ZFARM_CURVE_CERT set, the connection is CURVE (zfarm_client_set_curve).
 * Returns NULL if the endpoint is invalid, or those keys are bad. */
ZFARM_EXPORT zfarm_client_t *
    zfarm_client_new (const char *endpoint);

/* Makes the client's connections CURVE: server_key is the broker's public
 * key, in Z85 or as the path of its public certificate, and cert_path our
 * own secret certificate (zfarm keygen's NAME_secret). Both NULL turns
 * CURVE off. zfarm_client_new reads them from $ZFARM_CURVE_SERVER_KEY and
 * $ZFARM_CURVE_CERT when set (and fails if they are bad); this overrides
 * those. The connection is opened again with the new keys (so
 * zfarm_client_fd changes): call it before submitting. Returns 0, or
 * ZFARM_EINVALID if a key is bad or the certificate cannot be read (the
 * client keeps its old keys). */
ZFARM_EXPORT int
    zfarm_client_set_curve (zfarm_client_t *self, const char *server_key,
                            const char *cert_path);

/* Destroys the client; pending tasks are abandoned. Accepts NULL. */
ZFARM_EXPORT void
    zfarm_client_destroy (zfarm_client_t **self_p);

/* How many times the broker may run this client's tasks again after a
 * failure it retries (-1, the initial value: the service's policy, the
 * broker's --max-retries). */
ZFARM_EXPORT void
    zfarm_client_set_retries (zfarm_client_t *self, int retries);

/* The priority of this client's later tasks, 0..9: the broker runs a
 * service's waiting tasks highest priority first, in the order they came
 * within a priority, and every Nth one the oldest whatever its priority
 * (its --oldest-every), so that none starves. Initially 4, the priority of
 * every task whose client says none. Returns 0, or ZFARM_EINVALID (and
 * keeps the old value) for a priority out of range. */
ZFARM_EXPORT int
    zfarm_client_set_priority (zfarm_client_t *self, int priority);

/* Delays this client's later tasks: each is not due before delay_ms after
 * it is submitted (0, the initial value: at once). A delayed task waits at
 * the broker, counts toward its --max-queue and can be cancelled; its
 * timeout starts when it is due, and the client waits for it as long. If
 * the task must go to a broker again (one restarted or lost), it keeps its
 * due time. Returns 0, or ZFARM_EINVALID (the old value kept) for a delay
 * below 0 or above 4294967295 ms (UINT32_MAX, 49 days). */
ZFARM_EXPORT int
    zfarm_client_set_delay (zfarm_client_t *self, long long delay_ms);

/* The bit of a ZFARM_E* code in zfarm_client_set_retry's codes. */
#define ZFARM_RETRY_ON(code) (1u << -(code))

/* Which failures the broker retries for this client's later tasks, and
 * how long it waits before each retry. codes: ZFARM_RETRY_ON of
 * ZFARM_EWORKER_LOST (its worker died), ZFARM_EHANDLER_ERROR (the handler
 * failed, unless it said the failure is permanent) and ZFARM_ETIMEOUT (it
 * ran past the broker's --max-call-time), ORed; 0: the service's policy
 * (the broker's --retry-on; by default WORKER_LOST only). The wait before
 * retry n doubles from backoff_min_ms, up to backoff_max_ms, with jitter
 * (see zfarm-broker(1)); backoff_max_ms 0: the service's back-off. How
 * many retries: zfarm_client_set_retries. A retry never runs on the
 * worker that just failed it while the service has another.
 * Returns 0, or ZFARM_EINVALID (another code, min above max, or more than
 * an hour), changing nothing. */
ZFARM_EXPORT int
    zfarm_client_set_retry (zfarm_client_t *self, unsigned codes,
                            int backoff_min_ms, int backoff_max_ms);

/* Sends many tiny tasks with one message per batch instead of one per
 * task: from now on, the SUBMITs of tasks whose payload is at most
 * ZFARM_BATCH_PAYLOAD_MAX (16 KiB) are held, per broker, and go to it
 * together in one BATCH message when max_items are held, when the program
 * calls anything that waits for or takes results (zfarm_client_call,
 * wait, wait_event, dispatch, status, the detached-task calls), before
 * any other message to that broker (a cancel, a ping), and on
 * zfarm_client_flush. Only a broker that says it takes batches (in its
 * PONG, the answer to the client's PING) is sent them; the SUBMITs before
 * that, and all of them to an older broker, go one by one as before.
 * Results, progress, retries, cancelling and moving a lost broker's tasks
 * are as without batches: every task still gets exactly one result, and
 * the broker answers a client that sent batches with batches of results.
 * Worth it when many tasks are in flight at once (zfarm_client_submit in
 * a loop); a task alone only waits for the next flush. max_items: 0 (the
 * initial value) holds none, else 1..ZFARM_BATCH_ITEMS_MAX (256); what is
 * held already goes at once. Returns 0, or ZFARM_EINVALID (the old value
 * kept) for a value out of range. */
ZFARM_EXPORT int
    zfarm_client_set_batch (zfarm_client_t *self, int max_items);

/* Sends the SUBMITs held for batches (zfarm_client_set_batch) now. A
 * program that polls zfarm_client_fd itself calls this before it sleeps,
 * else the tasks it waits for may still be held here (the library's own
 * wait and dispatch calls flush first; zfarm_client_next_timeout is 0
 * while SUBMITs are held). Returns 0 (also when none is held), or
 * ZFARM_EBROKER_DOWN if a batch could not be queued (the socket refused
 * it: only when the process is ending), its tasks left pending. */
ZFARM_EXPORT int
    zfarm_client_flush (zfarm_client_t *self);

/* Runs one task and waits for its result, at most timeout_ms (0: no limit).
 * Returns 0 or a ZFARM_E* code. Unless the arguments were invalid
 * (ZFARM_EINVALID), *result_p holds the result, also on error, for its text
 * (zfarm_result_error); the caller destroys it. result_p may be NULL. */
ZFARM_EXPORT int
    zfarm_client_call (zfarm_client_t *self, const char *service,
                       const void *data, size_t size, int timeout_ms,
                       zfarm_result_t **result_p);

/* Hands a task to the broker without waiting. Its result comes back from
 * zfarm_client_wait (or zfarm_client_dispatch). Sets *task_id_p (may be NULL)
 * to the task's id. Returns 0 or ZFARM_EINVALID. */
ZFARM_EXPORT int
    zfarm_client_submit (zfarm_client_t *self, const char *service,
                         const void *data, size_t size, int timeout_ms,
                         uint64_t *task_id_p);

/* The same, but the result goes to callback (called from inside
 * zfarm_client_wait or zfarm_client_dispatch, never from another thread).
 * If this returns an error, callback is never called. */
ZFARM_EXPORT int
    zfarm_client_submit_cb (zfarm_client_t *self, const char *service,
                            const void *data, size_t size, int timeout_ms,
                            zfarm_result_fn *callback, void *arg,
                            uint64_t *task_id_p);

/* Waits at most timeout_ms (0: don't wait, -1: no limit) for the next result
 * of a task submitted without a callback, running callbacks that fall due
 * meanwhile. Returns 0 and sets *result_p (caller destroys); ZFARM_ETIMEOUT
 * if none came in time; ZFARM_ENOT_FOUND if no such task is pending. */
ZFARM_EXPORT int
    zfarm_client_wait (zfarm_client_t *self, int timeout_ms,
                       zfarm_result_t **result_p);

/* Asks for progress reports of the tasks submitted from now on with
 * zfarm_client_submit or zfarm_client_submit_cb (not zfarm_client_call,
 * which runs no callbacks), and gives each to callback, called with arg
 * from inside zfarm_client_wait, zfarm_client_wait_event and
 * zfarm_client_dispatch, never from another thread. callback NULL stops
 * asking. Their SUBMIT says so (the PROGRESS flag): tasks that did not ask
 * cost the worker and the broker nothing. Workers send at most one report
 * per task every 100 ms, the latest value, and the last one before the
 * result; a report that waits here is replaced by a newer one. A task's
 * reports come in order, all before its result, wherever the result goes,
 * and none after it. With several brokers, only the broker that holds the
 * task is heard. A worker or broker of an earlier release sends none. */
ZFARM_EXPORT void
    zfarm_client_set_progress (zfarm_client_t *self,
                               zfarm_progress_fn *callback, void *arg);

/* Asks for progress reports as events of zfarm_client_wait_event instead
 * (on non-zero), for the tasks submitted from now on with
 * zfarm_client_submit (whose results come from the wait calls too), while
 * no progress callback is set. 0 stops asking. */
ZFARM_EXPORT void
    zfarm_client_set_progress_events (zfarm_client_t *self, int on);

/* zfarm_client_wait, with progress: waits at most timeout_ms (0: don't
 * wait, -1: no limit) for the next event, running callbacks that fall due
 * meanwhile, and fills *event: the next result of a task submitted
 * without a callback (type ZFARM_EVENT_RESULT; the caller destroys
 * event->result), or a progress report of such a task (type
 * ZFARM_EVENT_PROGRESS; see zfarm_client_set_progress_events), in the
 * order they came. A task's reports all come before its result. Returns 0,
 * ZFARM_ETIMEOUT if none came in time, ZFARM_ENOT_FOUND if no such task
 * is pending and no event is queued, ZFARM_EINVALID if event is NULL.
 * zfarm_client_wait returns results only, and drops the reports queued
 * before the result it returns. */
ZFARM_EXPORT int
    zfarm_client_wait_event (zfarm_client_t *self, int timeout_ms,
                             zfarm_event_t *event);

/* Cancels a pending task: the broker drops it if it is still queued, and
 * otherwise tells its worker to stop it (an --exec command is killed, a
 * handler sees zfarm_task_cancelled), and offers the worker's slot again
 * once the work has stopped. The task's result is ZFARM_ECANCELLED, at
 * once, without waiting for that.
 * Returns 0, or ZFARM_ENOT_FOUND if the task is not pending. */
ZFARM_EXPORT int
    zfarm_client_cancel (zfarm_client_t *self, uint64_t task_id);

/* Tasks submitted and not yet delivered. */
ZFARM_EXPORT size_t
    zfarm_client_pending (zfarm_client_t *self);

/* For the caller's own event loop: a file descriptor to poll for input
 * (ZeroMQ's ZMQ_FD, or with several brokers an epoll set of theirs: it
 * signals edges, so call zfarm_client_dispatch each time it is readable
 * AND whenever zfarm_client_next_timeout expires). With batches
 * (zfarm_client_set_batch), call zfarm_client_flush before each poll, so
 * that no task waited for is still held. */
ZFARM_EXPORT int
    zfarm_client_fd (zfarm_client_t *self);

/* Milliseconds until the client next needs zfarm_client_dispatch for its
 * own deadlines, or -1 if none; 0 while something waits to be taken:
 * input left over from a bounded turn, callbacks or progress reports
 * queued, results or events queued for zfarm_client_wait or
 * zfarm_client_wait_event (call it with timeout 0 until it has none), or
 * SUBMITs held for a batch (dispatch sends them). */
ZFARM_EXPORT int
    zfarm_client_next_timeout (zfarm_client_t *self);

/* Handles whatever has arrived, without blocking: runs callbacks, keeps
 * other results for zfarm_client_wait, expires overdue tasks. Returns the
 * number of results that became ready. */
ZFARM_EXPORT int
    zfarm_client_dispatch (zfarm_client_t *self);

/* Asks the broker (with several, one that is up) for its status: a JSON
 * document (see README.md, "Status") with workers, services and
 * counters. Waits at most timeout_ms; other
 * results that arrive meanwhile are kept. Returns 0 and sets *json_p
 * (caller frees), ZFARM_EBROKER_DOWN if no answer came in time, or
 * ZFARM_EUNAUTHORIZED if the broker refused it (a CURVE key without the
 * client role). */
ZFARM_EXPORT int
    zfarm_client_status (zfarm_client_t *self, int timeout_ms, char **json_p);

/* ---- detached tasks ------------------------------------------------------ */

/* Hands a task to the broker to keep and run whether or not this client
 * stays: it returns once the broker has stored it (in its journal, as its
 * --journal-sync says), and sets *task_id_p to the task's id, random and
 * unguessable, by which any client can fetch its outcome later
 * (zfarm_client_fetch). timeout_ms bounds the task's run once it is due
 * (0: none); wait_ms how long to wait for the broker's word (-1: no
 * limit). With several brokers, the task goes to one that is up. The
 * client's retries, priority, delay and retry policy apply as to other
 * tasks. Returns 0; ZFARM_EINVALID; ZFARM_EBROKER_DOWN if no word came in
 * time (the task may be stored all the same); ZFARM_EQUEUE_FULL (its
 * service's queue, or the journal, is full; or the journal cannot be
 * written), ZFARM_ESHUTDOWN, ZFARM_EUNAUTHORIZED. */
ZFARM_EXPORT int
    zfarm_client_submit_detached (zfarm_client_t *self, const char *service,
                                  const void *data, size_t size,
                                  int timeout_ms, int wait_ms,
                                  uint64_t *task_id_p);

/* The same for count tasks of one service at once (data [i] of sizes [i]
 * bytes each), sent together and acknowledged together: far faster than
 * one call per task. Sets ids [i] and codes [i] (0: stored, else as
 * above) for each. Returns 0 if every task was stored, else the first
 * failure's code (ZFARM_EINVALID: none was sent). */
ZFARM_EXPORT int
    zfarm_client_submit_detached_batch (zfarm_client_t *self,
                                        const char *service, size_t count,
                                        const void *const data [],
                                        const size_t sizes [], int timeout_ms,
                                        int wait_ms, uint64_t ids [],
                                        int codes []);

/* The outcome of a detached task: waits up to wait_ms (0: don't wait, -1:
 * no limit) for it to finish. Returns the task's own code (0, or how it
 * failed) and sets *result_p (caller destroys; may be NULL) to its result;
 * or ZFARM_EPENDING if it has not finished in that time, ZFARM_ENOT_FOUND
 * if no broker has it (never submitted, its result expired past the
 * broker's --result-ttl, or, with CURVE, another key's), ZFARM_EBROKER_DOWN
 * if no broker answered. Asks every broker the client has. */
ZFARM_EXPORT int
    zfarm_client_fetch (zfarm_client_t *self, uint64_t task_id, int wait_ms,
                        zfarm_result_t **result_p);

/* zfarm_client_fetch for count tasks at once: their FETCHes are sent
 * together and answered as each task ends, so that a program collecting
 * many outcomes pays one wait, not one round trip per task. Sets
 * codes [i] and results [i] (caller destroys each; NULL with
 * ZFARM_EBROKER_DOWN if no answer came in time) for each ids [i]. Returns
 * 0 (each task's outcome is in codes), ZFARM_EINVALID or
 * ZFARM_EUNAUTHORIZED. */
ZFARM_EXPORT int
    zfarm_client_fetch_batch (zfarm_client_t *self, size_t count,
                              const uint64_t ids [], int wait_ms,
                              zfarm_result_t *results [], int codes []);

/* Cancels a detached task that has not finished (a running one is
 * stopped, as zfarm_client_cancel does) and returns its outcome:
 * ZFARM_ECANCELLED if it is cancelled (now or before), or the code it
 * finished with, ZFARM_ENOT_FOUND, ZFARM_EBROKER_DOWN. */
ZFARM_EXPORT int
    zfarm_client_cancel_detached (zfarm_client_t *self, uint64_t task_id,
                                  int wait_ms);

/* Asks a broker (one that is up) for a list, as JSON (*json_p, caller
 * frees; see README.md, "Detached tasks"): request is "tasks" (with
 * "service=NAME" and "state=queued|delayed|running|finished" filters
 * after it, space-separated), "dead" (the dead letters), "dead show N",
 * "dead retry N" or "dead retry all" (each runs again as a new detached
 * task), "dead drop N" or "dead drop all". Returns 0, ZFARM_EBAD_REQUEST
 * (an unknown request), ZFARM_ENOT_FOUND (no dead letter N),
 * ZFARM_EBROKER_DOWN, ZFARM_EUNAUTHORIZED. */
ZFARM_EXPORT int
    zfarm_client_query (zfarm_client_t *self, const char *request,
                        int wait_ms, char **json_p);

/* ---- helpers for client programs ---------------------------------------- */

/* What a program that takes its settings from people (the zfarm tool does)
 * checks before it makes a client, with the library's own rules. */

/* Checks the CURVE keys in $ZFARM_CURVE_SERVER_KEY and $ZFARM_CURVE_CERT as
 * zfarm_client_new reads them, without connecting, so that a program can
 * say what is wrong rather than only that zfarm_client_new failed. Returns
 * 0 if neither is set or both are good, or ZFARM_EINVALID with the reason
 * in error (error_size bytes, NUL-terminated) if one is missing, or either
 * is bad or cannot be read. */
ZFARM_EXPORT int
    zfarm_curve_check_env (char *error, size_t error_size);

/* Splits an endpoint list as zfarm_client_new takes it ("tcp://a:5555,
 * tcp://b:5555": commas between, spaces around ignored) into endpoints,
 * which has room for ZFARM_BROKERS_MAX: each a new string, which the
 * caller frees (free). Returns how many (1..ZFARM_BROKERS_MAX), or
 * ZFARM_EINVALID with the reason in why (why_size bytes) for an empty list
 * or item, too many, one named twice, or one that ZeroMQ cannot connect to
 * (syntax, transport); then nothing is allocated. */
ZFARM_EXPORT int
    zfarm_endpoints_split (const char *list, char *endpoints [],
                           char *why, size_t why_size);

/* True if name (size bytes) is a valid service name: 1..255 printable ASCII
 * bytes, no space, not in the reserved "zfarm." namespace. */
ZFARM_EXPORT bool
    zfarm_service_name_is_valid (const char *name, size_t size);

/* True if list is a worker key's services as its certificate gives them
 * (zfarm keygen --services): valid service names separated by commas, or
 * "*" for any. */
ZFARM_EXPORT bool
    zfarm_service_list_is_valid (const char *list);

/* Parses the failures to retry as people write them ("HANDLER_ERROR,
 * TIMEOUT": names of ZFARM_EWORKER_LOST, ZFARM_EHANDLER_ERROR and
 * ZFARM_ETIMEOUT, any case; or "none") into zfarm_client_set_retry's codes,
 * as the broker parses its --retry-on. Returns 0, or ZFARM_EINVALID with
 * the reason in error (error_size bytes); *codes_p is then untouched. */
ZFARM_EXPORT int
    zfarm_retry_codes_parse (const char *text, unsigned *codes_p,
                             char *error, size_t error_size);

/* Parses a back-off as people write it, "MIN..MAX" in ms ("MS" alone is
 * MS..MS; 0 <= MIN <= MAX <= an hour), into zfarm_client_set_retry's
 * backoff_min_ms and backoff_max_ms, as the broker parses its --backoff.
 * Returns 0, or ZFARM_EINVALID with the reason in error; the values are
 * then untouched. */
ZFARM_EXPORT int
    zfarm_backoff_parse (const char *text, int *min_ms_p, int *max_ms_p,
                         char *error, size_t error_size);

/* ---- showing what peers sent ------------------------------------------- */

/* Host names, versions, error texts, progress notes and status documents
 * come from peers: shown as they are, a newline would forge a line of a
 * log and an escape sequence would drive the user's terminal. The escaped
 * form keeps valid UTF-8 as it is and writes the rest visibly: newline,
 * tab and carriage return as \n \t \r, backslash as \\, other C0 controls
 * and DEL as \xNN (ESC is \x1b), C1 controls as \xc2\xNN, and each byte
 * that is not valid UTF-8 as \xNN. Any bytes go in; what comes out is valid
 * UTF-8 without control characters. */

/* Writes size bytes of src, escaped, into dest (dest_size >= 1 bytes) and
 * NUL-terminates it, never past dest_size. If the escaped text does not
 * fit, dest holds as much of it as fits before ZFARM_ESCAPE_MARKER, cut
 * between two characters. Returns true if all of src is in dest, false if
 * it was cut. */
ZFARM_EXPORT bool
    zfarm_escape (char *dest, size_t dest_size, const char *src, size_t size);

/* All size bytes of src, escaped, as a new string; the caller frees it
 * (free). Out of memory aborts. */
ZFARM_EXPORT char *
    zfarm_escape_dup (const char *src, size_t size);

/* The size (1..4) of the valid UTF-8 character that starts at src, which
 * has size >= 1 bytes, or 0 if the bytes there are not one (a stray
 * continuation byte, an overlong form, a surrogate, above U+10FFFF, or cut
 * short by the end of src): for a program that walks a peer's text by
 * characters, to cut it to a width or escape it its own way. */
ZFARM_EXPORT size_t
    zfarm_utf8_char (const void *src, size_t size);

/* ---- results ----------------------------------------------------------- */

ZFARM_EXPORT uint64_t
    zfarm_result_task_id (const zfarm_result_t *self);

/* 0, or the ZFARM_E* code the task ended with. */
ZFARM_EXPORT int
    zfarm_result_status (const zfarm_result_t *self);

/* The result bytes (empty on error); *size_p gets their size. The data is
 * followed by a NUL byte that size does not count, for text results. */
ZFARM_EXPORT const void *
    zfarm_result_data (const zfarm_result_t *self, size_t *size_p);

/* Error text ("" on success): the handler's message, or the broker's. */
ZFARM_EXPORT const char *
    zfarm_result_error (const zfarm_result_t *self);

ZFARM_EXPORT void
    zfarm_result_destroy (zfarm_result_t **self_p);

#ifdef __cplusplus
}
#endif
#endif
