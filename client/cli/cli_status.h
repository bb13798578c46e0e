/* cli_status.h: `zfarm status` of several brokers: asking them all at
 * once, and the document of the farm as a whole (client/cli/README.md,
 * "zfarm status"). */
#ifndef CLI_STATUS_H
#define CLI_STATUS_H

#include "zfarm_client.h"

#define CLI_FARM_VERSION 1      /* the farm document's "version" */

/* One broker's answer. */
typedef struct {
    const char *endpoint;       /* the broker, as given */
    int rc;                     /* 0, or zfarm_client_status's ZFARM_E* */
    char *json;                 /* rc 0: its status document (owned) */
} cli_answer_t;

/* Asks each of count clients for its broker's status, all at once, each
 * waiting at most timeout_ms (-1: no limit), and fills answers [i] for
 * clients [i] (its endpoint is left as it is). The clients are used, one
 * per thread, until this returns. */
void
    cli_status_ask (zfarm_client_t **clients, cli_answer_t *answers,
                    int count, int timeout_ms);

/* The farm document of these answers, as JSON text (caller frees): each
 * broker with its own document, and the farm's workers, each listed once,
 * and services. An answer whose document is not a JSON object counts as
 * "BAD_STATUS". Sets *up_p to the brokers whose document it holds. */
char *
    cli_status_farm (const cli_answer_t *answers, int count, int *up_p);

#endif
