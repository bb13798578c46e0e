/* cli_progress.h: a progress bar on stderr, drawn over itself at most ten
 * times a second, and only when stderr is a terminal: of the items of
 * zfarm map, or of one task's own reports (zfarm call --progress), which
 * go as plain lines when stderr is not a terminal. */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _progress_t progress_t;

/* A bar, shown if stderr is a terminal and quiet is false; otherwise every
 * call below does nothing. The clock for the rate starts now. */
progress_t *
    progress_new (bool quiet);

/* Takes the bar off the screen and destroys it. Accepts NULL. */
void
    progress_destroy (progress_t **self_p);

/* True if the bar is shown at all. */
bool
    progress_is_shown (const progress_t *self);

/* Sets the number of items in all (-1, the initial value: not known). With
 * a total, the bar shows the share done and the time left. */
void
    progress_set_total (progress_t *self, int64_t total);

/* Milliseconds until the bar is due to be drawn again: 0 if now, -1 if it
 * is not shown. */
int
    progress_due (const progress_t *self);

/* Draws the bar, if it is due: done of total items, their rate, the time
 * left when the total is known, and how many failed if any did. */
void
    progress_draw (progress_t *self, uint64_t done, uint64_t failed);

/* To be called before writing to stdout: if stdout is the same terminal,
 * the bar is taken off the screen until it is next drawn. */
void
    progress_hide (progress_t *self);

/* A task's progress, as its worker reports it (zfarm call --progress):
 * always shown, redrawn in place when stderr is a terminal (at most ten
 * times a second; the last report is drawn by progress_flush), else one
 * line per report. */
progress_t *
    progress_new_task (void);

/* A report: done of total (0: not known), and the worker's note, which is
 * shown escaped (zfarm_escape). */
void
    progress_report (progress_t *self, uint64_t done, uint64_t total,
                     const char *note);

/* Draws the last report if it was not drawn for the rate limit. */
void
    progress_flush (progress_t *self);

/* The text of a report, without the bar's line control:
 * "[#####     ] 512/1000 51% NOTE", "512 done NOTE" without a total, or
 * with bar false "progress 512/1000 51% NOTE" ("progress 512 NOTE"); the
 * note escaped, all of it cut to size. */
void
    progress_format_report (char *line, size_t size, bool bar,
                            uint64_t done, uint64_t total, const char *note);

#endif
