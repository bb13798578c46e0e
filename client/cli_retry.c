/* cli_retry.c: --retry-on and --backoff, parsed as the broker parses its
 * own (zf_retry.h), for the client's zfarm_client_set_retry. */
#include "cli_retry.h"
#include "cli.h"
#include "zf_retry.h"

int
cli_retry_option (const char *command, int code, const char *arg,
                  cli_retry_t *retry)
{
    char error [160];
    if (code == CLI_OPT_RETRY_ON) {
        if (zf_retry_codes_parse (arg, &retry->codes, error, sizeof error) == 0)
            return -1;
        return cli_usage_error (command, "--retry-on: %s", error);
    }
    if (zf_backoff_parse (arg, &retry->backoff_min_ms, &retry->backoff_max_ms,
                          error, sizeof error) == 0)
        return -1;
    return cli_usage_error (command, "--backoff: %s", error);
}

void
cli_retry_apply (zfarm_client_t *client, const cli_retry_t *retry)
{
    /* Checked when parsed: this cannot fail. */
    zfarm_client_set_retry (client, retry->codes, (int) retry->backoff_min_ms,
                            (int) retry->backoff_max_ms);
}
