/* progress_line.c: the reader of an --exec command's progress lines
 * (progress_line.h). No allocation: a line is read into a fixed buffer. */
#include "progress_line.h"

#include <string.h>

void
zf_progress_lines_init (zf_progress_lines_t *self)
{
    memset (self, 0, sizeof *self);
}

static bool
s_is_blank (char c)
{
    return c == ' ' || c == '\t';
}

/* A decimal number of 1..20 digits that fits 64 bits, at *at; moves *at
 * past it. */
static bool
s_number (const char **at, const char *end, uint64_t *value)
{
    const char *start = *at;
    uint64_t number = 0;
    while (*at < end && **at >= '0' && **at <= '9') {
        unsigned digit = (unsigned) (**at - '0');
        if (number > (UINT64_MAX - digit) / 10)
            return false;       /* past 2^64 - 1 */
        number = number * 10 + digit;
        (*at)++;
    }
    *value = number;
    return *at > start;
}

bool
zf_progress_line_parse (char *line, size_t size, uint64_t *done_p,
                        uint64_t *total_p, const char **note_p)
{
    if (size > 0 && line [size - 1] == '\r')
        size--;
    if (memchr (line, 0, size))
        return false;
    const char *at = line, *end = line + size;
    static const char keyword [] = "progress";
    size_t length = sizeof keyword - 1;
    if (size <= length || memcmp (at, keyword, length) != 0
    ||  !s_is_blank (at [length]))
        return false;
    at += length;
    uint64_t done, total;
    while (at < end && s_is_blank (*at))
        at++;
    if (!s_number (&at, end, &done) || at == end || !s_is_blank (*at))
        return false;
    while (at < end && s_is_blank (*at))
        at++;
    if (!s_number (&at, end, &total) || (at < end && !s_is_blank (*at)))
        return false;
    while (at < end && s_is_blank (*at))
        at++;
    line [size] = 0;            /* the note ends where the line does */
    *done_p = done;
    *total_p = total;
    *note_p = at;
    return true;
}

/* The line in the buffer is complete. */
static void
s_line_end (zf_progress_lines_t *self, zf_progress_line_fn *report,
            void *arg)
{
    uint64_t done, total;
    const char *note;
    size_t size = self->size;
    bool overlong = self->overlong;
    self->size = 0;
    self->overlong = false;
    if (size == 0 && !overlong)
        return;                 /* an empty line */
    if (!overlong) {
        /* The parser may write a NUL after the line, within the buffer. */
        char kept [ZF_PROGRESS_LINE_MAX + 1];
        memcpy (kept, self->line, size);
        if (zf_progress_line_parse (self->line, size, &done, &total, &note)) {
            self->reports++;
            report (arg, done, total, note);
            return;
        }
        memcpy (self->line, kept, size);
    }
    if (self->malformed++ == 0) {
        memcpy (self->first_bad, self->line, size);
        self->first_bad [size] = 0;
    }
}

void
zf_progress_lines_feed (zf_progress_lines_t *self, const char *data,
                        size_t size, zf_progress_line_fn *report, void *arg)
{
    while (size > 0) {
        const char *newline = memchr (data, '\n', size);
        size_t chunk = newline? (size_t) (newline - data): size;
        /* An overlong line keeps its first bytes, for the log. */
        size_t room = ZF_PROGRESS_LINE_MAX - self->size;
        size_t take = chunk < room? chunk: room;
        memcpy (self->line + self->size, data, take);
        self->size += take;
        if (chunk > room)
            self->overlong = true;
        if (!newline)
            return;
        s_line_end (self, report, arg);
        data += chunk + 1;
        size -= chunk + 1;
    }
}

void
zf_progress_lines_end (zf_progress_lines_t *self,
                       zf_progress_line_fn *report, void *arg)
{
    s_line_end (self, report, arg);
}
