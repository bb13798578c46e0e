/* log.c: the process-wide log level, where log lines go, and the one
 * place that hands them to czmq: escaped, so each is one line. */
#define ZF_LOG_INTERNAL         /* the only caller of zsys_error & co. */
#include "zf_log.h"
#include "zf_escape.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int s_level = ZF_LOG_INFO;
static atomic_bool s_opened;    /* a program chose where logs go */

static const char *const s_names [] = {
    [ZF_LOG_ERROR] = "error", [ZF_LOG_WARNING] = "warning",
    [ZF_LOG_NOTICE] = "notice", [ZF_LOG_INFO] = "info",
    [ZF_LOG_DEBUG] = "debug"
};

void
zf_log_open (const char *ident, int level, bool use_syslog)
{
    zsys_set_logident (ident);
    zsys_set_logstream (use_syslog? NULL: stderr);
    zsys_set_logsystem (use_syslog);
    zf_log_set_level (level);
    atomic_store (&s_opened, true);
}

void
zf_log_library (void)
{
    if (!atomic_exchange (&s_opened, true))
        zsys_set_logstream (stderr);
}

void
zf_log_set_level (int level)
{
    if (level < ZF_LOG_ERROR)
        level = ZF_LOG_ERROR;
    if (level > ZF_LOG_DEBUG)
        level = ZF_LOG_DEBUG;
    atomic_store_explicit (&s_level, level, memory_order_relaxed);
}

int
zf_log_level (void)
{
    return atomic_load_explicit (&s_level, memory_order_relaxed);
}

int
zf_log_parse_level (const char *name, int *level)
{
    for (int i = ZF_LOG_ERROR; i <= ZF_LOG_DEBUG; i++)
        if (name && strcmp (name, s_names [i]) == 0) {
            *level = i;
            return 0;
        }
    return -1;
}

const char *
zf_log_level_name (int level)
{
    return level >= ZF_LOG_ERROR && level <= ZF_LOG_DEBUG? s_names [level]
                                                         : "unknown";
}

void
zf_log_write (int level, const char *format, ...)
{
    /* One byte more than a line holds: a message cut here is longer than
     * the line, so zf_escape marks it as cut. */
    char message [ZF_LOG_LINE_MAX + 2], line [ZF_LOG_LINE_MAX + 1];
    va_list args;
    va_start (args, format);
    int size = vsnprintf (message, sizeof message, format, args);
    va_end (args);
    if (size < 0)
        size = 0;
    if ((size_t) size >= sizeof message)
        size = sizeof message - 1;
    zf_escape (line, sizeof line, message, (size_t) size);
    /* czmq formats again: the line goes in as an argument, never as the
     * format, so a '%' in it is only a '%'. */
    switch (level) {
        case ZF_LOG_ERROR:   zsys_error ("%s", line); break;
        case ZF_LOG_WARNING: zsys_warning ("%s", line); break;
        case ZF_LOG_NOTICE:  zsys_notice ("%s", line); break;
        case ZF_LOG_INFO:    zsys_info ("%s", line); break;
        default:             zsys_debug ("%s", line); break;
    }
}
