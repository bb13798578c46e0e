/* cli_lines.h: lines of a file descriptor, read only when poll says that a
 * read will not block, so that a caller waiting on other things as well
 * (results, a progress bar) is never held up by a slow producer. */
#ifndef CLI_LINES_H
#define CLI_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _lines_t lines_t;

/* What lines_take found. */
typedef enum {
    LINES_NONE,                 /* no whole line yet, or no more lines */
    LINES_LINE,                 /* a line */
    LINES_TOO_LONG              /* a line over the limit, dropped */
} lines_kind_t;

/* Lines of fd; a line longer than limit bytes is dropped, and reported as
 * LINES_TOO_LONG, so that memory stays within limit and one read. */
lines_t *
    lines_new (int fd, size_t limit);

/* Accepts NULL. Leaves fd open. */
void
    lines_destroy (lines_t **self_p);

/* Reads once from fd. Call it only when poll said fd is readable. */
void
    lines_read (lines_t *self);

/* Takes the next whole line of what has been read, without reading: sets
 * *line_p and *size_p to its bytes without the newline (valid until the
 * next lines_read). A last line without a newline is taken once input has
 * ended; an empty line is a line of size 0. */
lines_kind_t
    lines_take (lines_t *self, const char **line_p, size_t *size_p);

/* True until fd has ended (end of file, or a read failed): while there is
 * something left to read. */
bool
    lines_is_open (const lines_t *self);

/* True once fd has ended and every line has been taken. */
bool
    lines_is_exhausted (const lines_t *self);

/* The errno of a read that failed, or 0. */
int
    lines_error (const lines_t *self);

/* The lines left in fd if it is a regular file (counted with pread, so its
 * offset stays where it is), or -1 if that cannot be known. */
int64_t
    lines_count_left (int fd);

#endif
