/* cli_progress.c: a progress bar on stderr.
 *
 * "[#####     ] 512/1000 51% 97.3/s ETA 0:05 2 failed" when the total is
 * known, "512 done 97.3/s" when it is not. The line is redrawn in place
 * ("\r", then the text, then "\033[K" to erase what a longer line left)
 * and cut to the terminal's width, so that it never wraps. */
#include "cli_progress.h"
#include "cli_util.h"
#include "zfarm.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PROGRESS_MS   100       /* the bar is drawn at most this often */
#define BAR_WIDTH     20        /* cells of the bar itself */
#define LINE_MAX_SIZE 160       /* bytes of the whole line (map) */
#define REPORT_MAX_SIZE 1200    /* of a report's line: a note of 255 bytes,
                                   each escaped as \xNN at worst */
#define ETA_MAX_S     359999    /* 99:59:59 */

struct _progress_t {
    bool shown;                 /* stderr is a terminal, and not quiet */
    bool visible;               /* the bar is on the screen now */
    bool shares_stdout;         /* stdout is a terminal too */
    int64_t total;              /* items in all, or -1 if not known */
    int64_t started;            /* when the work started (ms) */
    int64_t drawn;              /* when the bar was last drawn, or 0 */
    int columns;                /* width of the terminal */
    bool task;                  /* a task's reports (progress_new_task) */
    bool in_place;              /* task: stderr is a terminal */
    bool pending;               /* task: a report not drawn yet */
    uint64_t task_done;         /* task: the last report */
    uint64_t task_total;
    char note [256];
};

progress_t *
progress_new (bool quiet)
{
    progress_t *self = cli_malloc (sizeof *self);
    self->shown = !quiet && isatty (STDERR_FILENO);
    self->shares_stdout = self->shown && isatty (STDOUT_FILENO);
    self->total = -1;
    self->started = zclock_mono ();
    struct winsize size;
    self->columns = ioctl (STDERR_FILENO, TIOCGWINSZ, &size) == 0
                 && size.ws_col > 0? size.ws_col: 80;
    return self;
}

progress_t *
progress_new_task (void)
{
    progress_t *self = progress_new (false);
    self->task = true;
    self->in_place = self->shown;
    self->shown = true;
    return self;
}

static void
s_clear (progress_t *self)
{
    if (self->visible)
        fputs ("\r\033[K", stderr);
    self->visible = false;
}

void
progress_destroy (progress_t **self_p)
{
    progress_t *self = *self_p;
    if (!self)
        return;
    s_clear (self);
    free (self);
    *self_p = NULL;
}

bool
progress_is_shown (const progress_t *self)
{
    return self->shown;
}

void
progress_set_total (progress_t *self, int64_t total)
{
    self->total = total;
}

int
progress_due (const progress_t *self)
{
    if (!self->shown)
        return -1;
    if (!self->drawn)
        return 0;
    int64_t due = self->drawn + PROGRESS_MS - zclock_mono ();
    return due > 0? (int) due: 0;
}

/* " ETA m:ss" or " ETA h:mm:ss". */
static void
s_format_eta (char *text, size_t size, double seconds)
{
    long s = seconds < ETA_MAX_S? (long) (seconds + 0.5): ETA_MAX_S;
    if (s >= 3600)
        snprintf (text, size, " ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60,
                  s % 60);
    else
        snprintf (text, size, " ETA %ld:%02ld", s / 60, s % 60);
}

static void
s_format (const progress_t *self, uint64_t done, uint64_t failed,
          char *line, size_t size)
{
    double seconds = (zclock_mono () - self->started) / 1000.0;
    double rate = seconds > 0? done / seconds: 0;
    int digits = rate < 10? 1: 0;
    char failures [32] = "", eta [32] = "";
    if (failed)
        snprintf (failures, sizeof failures, " %" PRIu64 " failed", failed);
    if (self->total < 0) {
        snprintf (line, size, "%" PRIu64 " done %.*f/s%s", done, digits,
                  rate, failures);
        return;
    }
    uint64_t total = (uint64_t) self->total;
    if (done > total)
        done = total;           /* the input grew after it was counted */
    char bar [BAR_WIDTH + 1];
    uint64_t cells = total? done * BAR_WIDTH / total: BAR_WIDTH;
    for (uint64_t i = 0; i < BAR_WIDTH; i++)
        bar [i] = i < cells? '#': ' ';
    bar [BAR_WIDTH] = 0;
    if (rate > 0)
        s_format_eta (eta, sizeof eta, (total - done) / rate);
    snprintf (line, size, "[%s] %" PRIu64 "/%" PRIu64 " %d%% %.*f/s%s%s",
              bar, done, total, total? (int) (done * 100 / total): 100,
              digits, rate, eta, failures);
}

/* The bar's cells for done of total. */
static void
s_bar (char bar [BAR_WIDTH + 1], uint64_t done, uint64_t total)
{
    uint64_t cells = total? (done < total? done: total) * BAR_WIDTH / total
                          : BAR_WIDTH;
    for (uint64_t i = 0; i < BAR_WIDTH; i++)
        bar [i] = i < cells? '#': ' ';
    bar [BAR_WIDTH] = 0;
}

void
progress_format_report (char *line, size_t size, bool bar, uint64_t done,
                        uint64_t total, const char *note)
{
    char shown [REPORT_MAX_SIZE];
    zfarm_escape (shown, sizeof shown, note, strlen (note));
    const char *gap = *shown? " ": "";
    if (total) {
        /* A worker may report more done than in all: the share stops at
         * 100 %, the numbers are shown as they came. */
        int percent = (int) ((done < total? done: total) * 100.0 / total);
        char cells [BAR_WIDTH + 1];
        s_bar (cells, done, total);
        if (bar)
            snprintf (line, size, "[%s] %" PRIu64 "/%" PRIu64 " %d%%%s%s",
                      cells, done, total, percent, gap, shown);
        else
            snprintf (line, size, "progress %" PRIu64 "/%" PRIu64 " %d%%%s%s",
                      done, total, percent, gap, shown);
    }
    else
    if (bar)
        snprintf (line, size, "%" PRIu64 " done%s%s", done, gap, shown);
    else
        snprintf (line, size, "progress %" PRIu64 "%s%s", done, gap, shown);
}

/* Draws the last report: over the bar on a terminal, cut to its width (at
 * the start of a UTF-8 character: the escaped note is valid UTF-8), else
 * as a line of its own. */
static void
s_draw_report (progress_t *self)
{
    char line [REPORT_MAX_SIZE + 64];
    progress_format_report (line, sizeof line, self->in_place,
                            self->task_done, self->task_total, self->note);
    self->pending = false;
    if (!self->in_place) {
        fprintf (stderr, "%s\n", line);
        fflush (stderr);
        return;
    }
    /* Columns, roughly: the escaped text is ASCII but for the note's own
     * UTF-8, whose characters take a column each (mostly). */
    size_t at = 0, columns = 0;
    while (line [at] && columns + 1 < (size_t) self->columns) {
        size_t length = zfarm_utf8_char ((const unsigned char *) line + at,
                                      strlen (line + at));
        at += length? length: 1;
        columns++;
    }
    line [at] = 0;
    fprintf (stderr, "\r%s\033[K", line);
    fflush (stderr);
    self->drawn = zclock_mono ();
    self->visible = true;
}

void
progress_report (progress_t *self, uint64_t done, uint64_t total,
                 const char *note)
{
    self->task_done = done;
    self->task_total = total;
    snprintf (self->note, sizeof self->note, "%s", note);
    self->pending = true;
    if (!self->in_place || progress_due (self) == 0)
        s_draw_report (self);
}

void
progress_flush (progress_t *self)
{
    if (self->pending)
        s_draw_report (self);
}

void
progress_draw (progress_t *self, uint64_t done, uint64_t failed)
{
    if (progress_due (self) != 0)
        return;
    char line [LINE_MAX_SIZE];
    s_format (self, done, failed, line, sizeof line);
    if (strlen (line) >= (size_t) self->columns)
        line [self->columns > 1? self->columns - 1: 1] = 0;
    fprintf (stderr, "\r%s\033[K", line);
    self->drawn = zclock_mono ();
    self->visible = true;
}

void
progress_hide (progress_t *self)
{
    if (self->shares_stdout)
        s_clear (self);
}
