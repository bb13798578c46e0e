/* crash.c: how a worker process ended, in words (zf_crash.h). */
#include "zf_crash.h"
#include "zf_defaults.h"
#include "zf_escape.h"
#include "zf_exit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define LINE_SEPARATOR " | "

void
zf_tail_append (zf_tail_t *self, const char *bytes, size_t size)
{
    if (size >= ZF_CRASH_TAIL_MAX) {
        memcpy (self->data, bytes + size - ZF_CRASH_TAIL_MAX, ZF_CRASH_TAIL_MAX);
        self->size = ZF_CRASH_TAIL_MAX;
        return;
    }
    if (self->size + size > ZF_CRASH_TAIL_MAX) {
        size_t drop = self->size + size - ZF_CRASH_TAIL_MAX;
        memmove (self->data, self->data + drop, self->size - drop);
        self->size -= drop;
    }
    memcpy (self->data + self->size, bytes, size);
    self->size += size;
}

/* Appends src to text (which holds used bytes) if it fits in size with
 * its NUL. Returns true if it did. */
static bool
s_append (char *text, size_t size, size_t *used, const char *src)
{
    size_t length = strlen (src);
    if (*used + length + 1 > size)
        return false;
    memcpy (text + *used, src, length + 1);
    *used += length;
    return true;
}

void
zf_tail_lines (const zf_tail_t *self, char *text, size_t size)
{
    *text = 0;
    const char *data = self->data;
    size_t end = self->size;
    while (end > 0 && (data [end - 1] == '\n' || data [end - 1] == '\r'))
        end--;
    if (end == 0 || size < 1)
        return;
    /* The starts of the last lines, newest first. */
    size_t starts [ZF_CRASH_TAIL_LINES], ends [ZF_CRASH_TAIL_LINES];
    int lines = 0;
    size_t line_end = end;
    while (lines < ZF_CRASH_TAIL_LINES) {
        size_t start = line_end;
        while (start > 0 && data [start - 1] != '\n')
            start--;
        starts [lines] = start;
        ends [lines++] = line_end;
        if (start == 0)
            break;
        line_end = start - 1;
    }
    /* Escape the newest line first and add older ones in front while they
     * fit: the last thing the process said matters most. */
    char *escaped [ZF_CRASH_TAIL_LINES];
    int kept = 0;
    size_t total = 0;
    for (int i = 0; i < lines; i++) {
        char *line = zf_escape_dup (data + starts [i], ends [i] - starts [i]);
        size_t extra = strlen (line) + (kept? strlen (LINE_SEPARATOR): 0);
        if (total + extra + 1 > size) {
            free (line);
            break;
        }
        escaped [kept++] = line;
        total += extra;
    }
    size_t used = 0;
    if (kept == 0) {
        /* The newest line alone is too long: its end, marked as cut. An
         * escaped byte takes at most 4, so this many raw bytes fit. */
        size_t marker = strlen (ZF_ESCAPE_MARKER);
        if (size <= marker + 1)
            return;
        size_t room = (size - marker - 1) / 4;
        size_t start = ends [0] - room;
        while (start < ends [0] && ((unsigned char) data [start] & 0xC0) == 0x80)
            start++;            /* not inside a UTF-8 character */
        s_append (text, size, &used, ZF_ESCAPE_MARKER);
        zf_escape (text + used, size - used, data + start, ends [0] - start);
        return;
    }
    for (int i = kept - 1; i >= 0; i--) {
        s_append (text, size, &used, escaped [i]);
        if (i)
            s_append (text, size, &used, LINE_SEPARATOR);
        free (escaped [i]);
    }
}

/* What a zfarm worker means by its exit status, or NULL. */
static const char *
s_exit_meaning (int status)
{
    switch (status) {
        case ZF_EXIT_RECYCLED: return "recycled after its max calls";
        case ZF_EXIT_OVERRAN:  return "a handler would not stop (max call time"
                                      " or cancel)";
        case ZF_EXIT_ORPHANED: return "its supervisor died";
    }
    return NULL;
}

void
zf_crash_status (int status, char *text, size_t size)
{
    if (WIFEXITED (status)) {
        const char *meaning = s_exit_meaning (WEXITSTATUS (status));
        snprintf (text, size, "exited with status %d%s%s",
                  WEXITSTATUS (status), meaning? ": ": "",
                  meaning? meaning: "");
    }
    else
    if (WIFSIGNALED (status)) {
        const char *name = sigabbrev_np (WTERMSIG (status));
        snprintf (text, size, "killed by signal %d (%s%s, %s)",
                  WTERMSIG (status), name? "SIG": "",
                  name? name: "unknown",
                  WCOREDUMP (status)? "core dumped": "no core dump");
    }
    else
        snprintf (text, size, "stopped (status %d)", status);
}

void
zf_crash_details (long max_rss_kb, const zf_tail_t *tail, char *text,
                  size_t size)
{
    *text = 0;
    if (max_rss_kb >= 1024)
        snprintf (text, size, "peak RSS %.1f MiB", (double) max_rss_kb / 1024);
    else
    if (max_rss_kb > 0)
        snprintf (text, size, "peak RSS %ld KiB", max_rss_kb);
    size_t used = strlen (text);
    const char *label = used? "; stderr: ": "stderr: ";
    size_t label_size = strlen (label);
    if (!tail || tail->size == 0 || used + label_size + 2 > size)
        return;
    zf_tail_lines (tail, text + used + label_size, size - used - label_size);
    if (text [used + label_size])
        memcpy (text + used, label, label_size);
    else
        text [used] = 0;
}

void
zf_crash_report (int status, long max_rss_kb, const zf_tail_t *tail,
                 char *text, size_t size)
{
    zf_crash_status (status, text, size);
    size_t used = strlen (text);
    if (used + 3 < size) {
        zf_crash_details (max_rss_kb, tail, text + used + 2, size - used - 2);
        if (text [used + 2])
            memcpy (text + used, "; ", 2);
    }
}
