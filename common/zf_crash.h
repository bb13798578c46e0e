/* zf_crash.h: how a worker process ended, in words.
 *
 * A pool (common/pool.c) knows each child's wait status and peak memory
 * (wait4) and keeps the last bytes the child wrote to stderr; this turns
 * them into one line of text, safe to log and to send to a client:
 *
 *     killed by signal 11 (SIGSEGV, no core dump); peak RSS 9.8 MiB;
 *     stderr: echo.so: crashing on purpose | ...
 *
 * The stderr lines are a peer's bytes: they are escaped (zf_escape), and
 * joined with " | ". */
#ifndef ZF_CRASH_H
#define ZF_CRASH_H

#include <stddef.h>

#define ZF_CRASH_TAIL_MAX   1024    /* bytes of a child's stderr kept */
#define ZF_CRASH_TAIL_LINES 4       /* lines of it a report shows */
#define ZF_CRASH_REPORT_MAX 640     /* bytes of a report, NUL included */

/* The last ZF_CRASH_TAIL_MAX bytes written to a stream. */
typedef struct {
    char data [ZF_CRASH_TAIL_MAX];
    size_t size;
} zf_tail_t;

/* Appends size bytes, dropping the oldest ones past ZF_CRASH_TAIL_MAX. */
void
    zf_tail_append (zf_tail_t *self, const char *bytes, size_t size);

/* The last lines of the tail (at most ZF_CRASH_TAIL_LINES, without the
 * empty one after a final newline), escaped and joined with " | ", into
 * text (size >= 1 bytes). What does not fit is cut from the front, so the
 * last line is kept whole when it fits at all. "" if the tail is empty. */
void
    zf_tail_lines (const zf_tail_t *self, char *text, size_t size);

/* A wait status in words: "exited with status 3", "killed by signal 11
 * (SIGSEGV, core dumped)" (or "no core dump"); an exit status that a
 * zfarm worker gives on purpose says its meaning too. */
void
    zf_crash_status (int status, char *text, size_t size);

/* "peak RSS 9.8 MiB" if max_rss_kb > 0, then "; stderr: ..." if the tail
 * (may be NULL) holds anything; "" if neither. */
void
    zf_crash_details (long max_rss_kb, const zf_tail_t *tail, char *text,
                      size_t size);

/* The status, then "; " and the details if there are any. */
void
    zf_crash_report (int status, long max_rss_kb, const zf_tail_t *tail,
                     char *text, size_t size);

#endif
