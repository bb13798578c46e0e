/* cli_when.h: when a task of `zfarm call` or `zfarm map` may run: the
 * --priority, --delay and --at flags, shared by both. */
#ifndef CLI_WHEN_H
#define CLI_WHEN_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include "zfarm_client.h"

/* getopt_long codes of the three flags (no short forms). */
enum { CLI_WHEN_PRIORITY = 0x200, CLI_WHEN_DELAY, CLI_WHEN_AT };

/* Their entries, for a command's option table. */
#define CLI_WHEN_OPTIONS \
    { "priority", required_argument, NULL, CLI_WHEN_PRIORITY }, \
    { "delay",    required_argument, NULL, CLI_WHEN_DELAY }, \
    { "at",       required_argument, NULL, CLI_WHEN_AT }

/* Their lines in a command's --help. */
#define CLI_WHEN_HELP \
"      --priority P   0..9, higher runs first (default 4)\n" \
"      --delay MS     do not start before MS milliseconds from now\n" \
"      --at TIME      do not start before TIME: unix seconds, or RFC 3339\n" \
"                     UTC (2030-01-02T15:04:05Z); at most 49 days ahead\n"

typedef struct {
    int priority;               /* -1: not given */
    long long delay_ms;         /* --delay, or 0 */
    bool has_at;                /* --at given: */
    int64_t at_ms;              /* then this, ms since the epoch (UTC) */
} cli_when_t;

void
    cli_when_init (cli_when_t *self);

/* Takes the value of one of the flags (code as above). Returns -1 if it
 * was good, else reports it (cli_usage_error) and returns its exit
 * status. */
int
    cli_when_parse (cli_when_t *self, const char *command, int code,
                    const char *arg);

/* Sets the client's priority, and the delay of a task submitted now: --at
 * becomes the time left until then (0 if it is past), so that tasks
 * submitted later are due at the same time. */
void
    cli_when_apply (const cli_when_t *self, zfarm_client_t *client);

/* Parses TIME as --at takes it into ms since the epoch. Returns 0, or -1
 * if it is neither form. */
int
    cli_when_parse_time (const char *text, int64_t *ms_p);

#endif
