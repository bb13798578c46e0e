/* zf_log.h: log lines with a level, to stderr or syslog, through czmq.
 *
 * The level is process-wide, as czmq's log stream is: one process, one
 * operator setting. Lines below the level cost one load and a compare. */
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

#define zf_log_at(level, fn, ...) \
    do { if (zf_log_level () >= (level)) fn (__VA_ARGS__); } while (0)
#define zf_error(...)   zf_log_at (ZF_LOG_ERROR, zsys_error, __VA_ARGS__)
#define zf_warning(...) zf_log_at (ZF_LOG_WARNING, zsys_warning, __VA_ARGS__)
#define zf_notice(...)  zf_log_at (ZF_LOG_NOTICE, zsys_notice, __VA_ARGS__)
#define zf_info(...)    zf_log_at (ZF_LOG_INFO, zsys_info, __VA_ARGS__)
#define zf_debug(...)   zf_log_at (ZF_LOG_DEBUG, zsys_debug, __VA_ARGS__)

#endif
