/* progress_line.h: the progress lines a zfarm-worker --exec command writes
 * to the descriptor in $ZFARM_PROGRESS_FD (3):
 *
 *     progress DONE TOTAL [NOTE]\n
 *
 * DONE and TOTAL are decimal numbers from 0 to 2^64 - 1 (TOTAL 0: not
 * known), separated by blanks (spaces or tabs); NOTE is the rest of the
 * line after the blanks that follow TOTAL, as it is (a trailing CR is
 * dropped). Empty lines are skipped. Any other line (another first word, a
 * missing or bad number, a NUL byte, more than ZF_PROGRESS_LINE_MAX bytes)
 * is malformed: ignored and counted, and the first one kept for the log.
 * Any bytes go in. */
#ifndef PROGRESS_LINE_H
#define PROGRESS_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of one line, without its newline: "progress", two numbers of 20
 * digits and a note of 255 bytes fit with room to spare. */
#define ZF_PROGRESS_LINE_MAX 512

/* Called with each well-formed line; note is NUL-terminated, and may be
 * longer than a PROGRESS carries (zfarm_task_progress cuts it). */
typedef void (zf_progress_line_fn) (void *arg, uint64_t done, uint64_t total,
                                    const char *note);

typedef struct {
    char line [ZF_PROGRESS_LINE_MAX + 1];   /* the line being read */
    size_t size;                /* bytes of it so far */
    bool overlong;              /* it passed the bound: dropped at its end */
    uint64_t reports;           /* well-formed lines */
    uint64_t malformed;         /* malformed lines */
    char first_bad [ZF_PROGRESS_LINE_MAX + 1];  /* the first malformed line
                                   (NUL-terminated, cut at a NUL byte it
                                   had); "" if none */
} zf_progress_lines_t;

void
    zf_progress_lines_init (zf_progress_lines_t *self);

/* Takes size bytes of the stream; calls report for each well-formed line
 * they complete. */
void
    zf_progress_lines_feed (zf_progress_lines_t *self, const char *data,
                            size_t size, zf_progress_line_fn *report,
                            void *arg);

/* At the end of the stream: a last line without a newline counts too. */
void
    zf_progress_lines_end (zf_progress_lines_t *self,
                           zf_progress_line_fn *report, void *arg);

/* Parses one line (size bytes, no newline), which it may change: on
 * success sets *done_p, *total_p and *note_p (into line, NUL-terminated)
 * and returns true. */
bool
    zf_progress_line_parse (char *line, size_t size, uint64_t *done_p,
                            uint64_t *total_p, const char **note_p);

#endif
