/* zf_log.h: log lines with a level, to stderr or syslog, through czmq.
 *
 * The level is process-wide, as czmq's log stream is: one process, one
 * operator setting. Lines below the level cost one load and a compare.
 * Every line is one line: the message is escaped before czmq sees it. */
#ifndef ZF_LOG_H
#define ZF_LOG_H

#include <czmq.h>
#include <stdbool.h>

typedef enum {
    ZF_LOG_ERROR,               /* the process cannot go on as asked */
    ZF_LOG_WARNING,             /* something failed, and was handled */
    ZF_LOG_NOTICE,              /* start, stop, reload */
    ZF_LOG_INFO,                /* an event worth knowing (the default) */
    ZF_LOG_DEBUG                /* every task */
} zf_log_level_t;

/* Sets the program name, the level, and stderr or syslog. */
void
    zf_log_open (const char *ident, int level, bool use_syslog);

/* For libzfarm's constructors: czmq logs to stdout unless told otherwise,
 * and a library must never write to its program's stdout, so this sends
 * czmq's log lines to stderr, unless zf_log_open has chosen already. */
void
    zf_log_library (void);

void
    zf_log_set_level (int level);
int
    zf_log_level (void);

/* Parses "error", "warning", "notice", "info" or "debug". Returns 0, or -1
 * (level untouched) for anything else. */
int
    zf_log_parse_level (const char *name, int *level);

/* Name of a level, "info". */
const char *
    zf_log_level_name (int level);

/* Bytes of a log line's message, at most, escaped and without its NUL; a
 * longer one is cut and ends with ZF_ESCAPE_MARKER. czmq 4.2 cuts a line
 * at 1023 bytes, its prefix ("W: (ident) date time ") included, without
 * a sign: this leaves 123 bytes for the prefix, an ident of up to 99. */
#define ZF_LOG_LINE_MAX 900

/* Formats a message, escapes it as zf_escape does (a peer's newline or
 * escape sequence becomes visible text, so every message is one line) and
 * writes it at level. Call it through the macros below, which skip a line
 * below the level before its arguments are evaluated. */
void
    zf_log_write (int level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

#define zf_log_at(level, ...) \
    do { if (zf_log_level () >= (level)) zf_log_write ((level), __VA_ARGS__); \
    } while (0)
#define zf_error(...)   zf_log_at (ZF_LOG_ERROR, __VA_ARGS__)
#define zf_warning(...) zf_log_at (ZF_LOG_WARNING, __VA_ARGS__)
#define zf_notice(...)  zf_log_at (ZF_LOG_NOTICE, __VA_ARGS__)
#define zf_info(...)    zf_log_at (ZF_LOG_INFO, __VA_ARGS__)
#define zf_debug(...)   zf_log_at (ZF_LOG_DEBUG, __VA_ARGS__)

/* czmq's own log calls would print a peer's bytes as they are: every log
 * line goes through zf_log_write, and a file that includes this header
 * cannot call them by mistake. */
#ifndef ZF_LOG_INTERNAL
#   pragma GCC poison zsys_error zsys_warning zsys_notice zsys_info zsys_debug
#endif

#endif
