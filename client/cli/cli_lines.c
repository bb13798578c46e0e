/* cli_lines.c: lines of a file descriptor, read without blocking.
 *
 * Invariant: buffer [start, end) holds what was read and not yet taken.
 * The buffer grows past its first size only while one line fills it, and
 * never past limit + 1 bytes: a line that reaches that size without a
 * newline is over the limit, and is dropped as the rest of it comes. */
#include "cli_lines.h"
#include "cli_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_SIZE 65536         /* bytes asked of one read */

struct _lines_t {
    int fd;                     /* what is read */
    char *buffer;               /* bytes read, some not yet taken */
    size_t start;               /* the first byte not yet taken */
    size_t end;                 /* one past the last byte read */
    size_t capacity;            /* of buffer */
    size_t limit;               /* longest line taken */
    bool skipping;              /* inside a line over the limit */
    bool ended;                 /* end of file, or a read failed */
    int error;                  /* errno of the read that failed, or 0 */
};

lines_t *
lines_new (int fd, size_t limit)
{
    lines_t *self = cli_malloc (sizeof *self);
    self->fd = fd;
    self->limit = limit;
    self->capacity = READ_SIZE;
    self->buffer = cli_malloc (self->capacity);
    return self;
}

void
lines_destroy (lines_t **self_p)
{
    lines_t *self = *self_p;
    if (!self)
        return;
    free (self->buffer);
    free (self);
    *self_p = NULL;
}

/* Makes room for one more read: drops what was taken, and grows the buffer
 * when a line fills it, up to one byte past the limit (so that a line over
 * the limit is seen as such). */
static void
s_make_room (lines_t *self)
{
    if (self->start > 0) {
        memmove (self->buffer, self->buffer + self->start,
                 self->end - self->start);
        self->end -= self->start;
        self->start = 0;
    }
    if (self->end == self->capacity && self->capacity <= self->limit) {
        size_t grown = self->capacity * 2;
        self->capacity = grown <= self->limit + 1? grown: self->limit + 1;
        self->buffer = cli_realloc (self->buffer, self->capacity);
    }
}

void
lines_read (lines_t *self)
{
    s_make_room (self);
    size_t room = self->capacity - self->end;
    if (room == 0)
        return;                 /* a line over the limit, not yet taken */
    ssize_t n = read (self->fd, self->buffer + self->end,
                      room < READ_SIZE? room: READ_SIZE);
    if (n > 0)
        self->end += (size_t) n;
    else
    if (n == 0)
        self->ended = true;
    else
    if (errno != EINTR && errno != EAGAIN) {
        self->error = errno;
        self->ended = true;
    }
}

/* Drops the rest of a line that was over the limit. Returns true once its
 * newline (or the end of input) has been reached. */
static bool
s_skip (lines_t *self)
{
    char *newline = memchr (self->buffer + self->start, '\n',
                            self->end - self->start);
    self->start = newline? (size_t) (newline - self->buffer) + 1: self->end;
    self->skipping = !newline && !self->ended;
    return !self->skipping;
}

lines_kind_t
lines_take (lines_t *self, const char **line_p, size_t *size_p)
{
    if (self->skipping && !s_skip (self))
        return LINES_NONE;
    size_t left = self->end - self->start;
    char *line = self->buffer + self->start;
    char *newline = memchr (line, '\n', left);
    size_t size = newline? (size_t) (newline - line): left;
    if (size > self->limit) {
        s_skip (self);
        return LINES_TOO_LONG;
    }
    if (!newline && (!self->ended || left == 0))
        return LINES_NONE;
    self->start += size + (newline? 1: 0);
    *line_p = line;
    *size_p = size;
    return LINES_LINE;
}

bool
lines_is_open (const lines_t *self)
{
    return !self->ended;
}

bool
lines_is_exhausted (const lines_t *self)
{
    return self->ended && !self->skipping && self->start == self->end;
}

int
lines_error (const lines_t *self)
{
    return self->error;
}

int64_t
lines_count_left (int fd)
{
    struct stat st;
    off_t offset = lseek (fd, 0, SEEK_CUR);
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || offset < 0)
        return -1;
    char buffer [READ_SIZE];
    int64_t lines = 0;
    char last = '\n';
    /* Up to the size it has now: a file that grows meanwhile is counted as
     * it was, and a bar that goes past its total is only a little wrong. */
    while (offset < st.st_size) {
        ssize_t n = pread (fd, buffer, sizeof buffer, offset);
        if (n <= 0)
            return -1;
        for (char *at = buffer; (at = memchr (at, '\n', buffer + n - at));
             at++)
            lines++;
        last = buffer [n - 1];
        offset += n;
    }
    return lines + (last != '\n');
}
