/* cli_progress.h: a progress bar on stderr, drawn over itself at most ten
 * times a second, and only when stderr is a terminal. */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

#include <stdbool.h>
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

#endif
