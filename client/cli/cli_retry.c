/* cli_retry.c: --retry-on and --backoff, parsed as the broker parses its
 * own (zfarm_retry_codes_parse, zfarm_backoff_parse), for the client's
 * zfarm_client_set_retry. */
#include "cli_retry.h"
#include "cli.h"

int
cli_retry_option (const char *command, int code, const char *arg,
                  cli_retry_t *retry)
{
    char error [160];
    if (code == CLI_OPT_RETRY_ON) {
        if (zfarm_retry_codes_parse (arg, &retry->codes, error,
                                     sizeof error) == 0)
            return -1;
        return cli_usage_error (command, "--retry-on: %s", error);
    }
    if (zfarm_backoff_parse (arg, &retry->backoff_min_ms,
                             &retry->backoff_max_ms, error, sizeof error) == 0)
        return -1;
    return cli_usage_error (command, "--backoff: %s", error);
}

void
cli_retry_apply (zfarm_client_t *client, const cli_retry_t *retry)
{
    /* Checked when parsed: this cannot fail. */
    zfarm_client_set_retry (client, retry->codes, retry->backoff_min_ms,
                            retry->backoff_max_ms);
}
