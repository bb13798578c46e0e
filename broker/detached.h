/* detached.h: detached tasks, which outlive their client (and, with
 * --journal, the broker), and the dead-letter list.
 *
 * A detached task runs as any task does (dispatch.c), owned by one
 * client_t that stands for the journal (broker->detached_owner), so that
 * its id, the client's random one, finds it there. What becomes of it is
 * written to the journal (journal.h): stored at SUBMIT, running at each
 * dispatch, finished (outcome, result) at its end, kept for
 * --result-ttl. A SUBMIT is acknowledged (STORED) only once the journal
 * has it on disk as --journal-sync says: at the end of the message with
 * "always", of the loop's turn with "batch" and "off".
 *
 * Dead letters: a task that ended WORKER_LOST, TIMEOUT or HANDLER_ERROR,
 * detached always, attached with --dead-letter, is kept with its payload
 * and every attempt's error, numbered, at most --dead-max (the oldest is
 * dropped first). */
#ifndef DETACHED_H
#define DETACHED_H

#include "broker_internal.h"

/* Opens the journal of --journal and queues again what it holds: waiting
 * and running tasks in the order they came (a running one's attempt
 * counted), results kept. Without --journal, nothing: a temporary
 * journal is opened on first use. Returns 0, or -1 (logged). */
int
    detached_start (broker_t *self);

/* Commits what is pending and closes the journal. */
void
    detached_stop (broker_t *self);

/* A SUBMIT with ZF_FLAG_DETACHED. */
void
    detached_submit (broker_t *self, inbound_t *in, const char *owner);

/* A FETCH: the outcome of a detached task, now or once it has one. */
void
    detached_fetch (broker_t *self, inbound_t *in, const char *owner);

/* A CANCEL with ZF_FLAG_DETACHED: ends the task if it has not, and
 * answers with its outcome. */
void
    detached_cancel (broker_t *self, inbound_t *in, const char *owner);

/* A QUERY: lists of detached tasks and dead letters, and what can be
 * done to dead letters (see common/PROTOCOL.md). */
void
    detached_query (broker_t *self, inbound_t *in, const char *owner);

/* Called by dispatch.c: the task (of detached_owner) was given to a
 * worker. */
void
    detached_started (broker_t *self, task_t *task);

/* Called by dispatch.c where a task ends with an outcome: a detached
 * task's is stored, and a failure kept as a dead letter where it must
 * be. Frames (the result) are moved when given. Returns true if the
 * task was detached (it has no client to tell). */
bool
    detached_finished (broker_t *self, task_t *task, int code,
                       const char *text, zmq_msg_t *frames, size_t count,
                       uint32_t flags);

/* Notes a failed attempt of task in its history, for a dead letter. */
void
    detached_note_attempt (broker_t *self, task_t *task, int code,
                           const char *text);

/* End of an event (a message, with --journal-sync always) or of the
 * loop's turn: commits the journal, then acknowledges the SUBMITs it
 * holds (or refuses them, if it could not be written). Returns true if it
 * refused any: their tasks were cancelled, so the caller settles again. */
bool
    detached_flush (broker_t *self, bool end_of_turn);

/* Expires results past --result-ttl and FETCHes past their wait. */
void
    detached_on_timers (broker_t *self, int64_t now);

/* When detached_on_timers next has work: ms on zf_now_ms's clock, or
 * INT64_MAX. */
int64_t
    detached_next_timer (broker_t *self);


void
    detached_view (broker_t *self, detached_view_t *view);

#endif
