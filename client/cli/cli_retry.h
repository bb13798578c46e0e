/* cli_retry.h: --retry-on and --backoff of `zfarm call` and `zfarm map`. */
#ifndef CLI_RETRY_H
#define CLI_RETRY_H

#include <stdint.h>
#include "zfarm_client.h"

#define CLI_RETRY_HELP \
"      --retry-on CODES  failures the broker retries, comma-separated:\n" \
"                     WORKER_LOST, HANDLER_ERROR, TIMEOUT (past the\n" \
"                     broker's --max-call-time) (default: the service's\n" \
"                     policy, WORKER_LOST unless the broker says otherwise)\n" \
"      --backoff MIN..MAX  wait before each retry, doubling from MIN ms\n" \
"                     up to MAX ms, with jitter (default: the service's)\n"

/* getopt codes of the two options, for a command's option table (apart
 * from cli_when.h's). */
#define CLI_OPT_RETRY_ON 0x210
#define CLI_OPT_BACKOFF  0x211
#define CLI_RETRY_OPTIONS \
    { "retry-on", required_argument, NULL, CLI_OPT_RETRY_ON }, \
    { "backoff",  required_argument, NULL, CLI_OPT_BACKOFF }

typedef struct {
    unsigned codes;             /* ZFARM_RETRY_ON bits; 0: the service's */
    int backoff_min_ms;
    int backoff_max_ms;         /* 0: the service's */
} cli_retry_t;

/* Takes one of the two options (code and its value) into retry. Returns
 * -1 if taken, or the exit status after a usage error. */
int
    cli_retry_option (const char *command, int code, const char *arg,
                      cli_retry_t *retry);

/* Gives the client the policy, if any was asked for. */
void
    cli_retry_apply (zfarm_client_t *client, const cli_retry_t *retry);

#endif
