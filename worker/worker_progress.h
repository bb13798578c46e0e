/* worker_progress.h: a task's progress reports, from its handler to the
 * broker, inside the worker half of libzfarm.
 *
 * A handler (or a thread of its own, while the handler runs) records each
 * report with zfarm_task_progress; the I/O side (worker_session.c, under
 * the worker's lock) takes the latest and sends it as PROGRESS, at most
 * once per ZF_PROGRESS_INTERVAL_MS per task, and once more, whatever the
 * interval, just before the task's DONE. Only tasks whose TASK carried
 * ZF_FLAG_PROGRESS have a record: for the others a report costs one test. */
#ifndef WORKER_PROGRESS_H
#define WORKER_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include "zf_proto.h"

typedef struct _zf_progress_t zf_progress_t;

/* A record whose first report of each round writes to bell_fd (an
 * eventfd that the worker's watcher polls). */
zf_progress_t *
    zf_progress_new (int bell_fd);

void
    zf_progress_destroy (zf_progress_t **self_p);

/* Records a report, replacing any not sent yet (the latest wins). Never
 * blocks for long: one short mutex that only the I/O side shares, for a
 * copy, and at most one write to the bell per report sent. note may be
 * NULL; it is cut to ZF_NOTE_MAX bytes (at the start of a UTF-8
 * character). Any thread. */
void
    zf_progress_report (zf_progress_t *self, uint64_t done, uint64_t total,
                        const char *note);

/* For the I/O side: if a report waits and is due (its last was sent
 * ZF_PROGRESS_INTERVAL_MS before now or earlier, or force), fills header
 * with its PROGRESS (the caller sets task_id) and returns true. Otherwise
 * returns false and sets *due_p to when the waiting report will be due,
 * or 0 if none waits. */
bool
    zf_progress_take (zf_progress_t *self, int64_t now, bool force,
                      zf_header_t *header, int64_t *due_p);

#endif
