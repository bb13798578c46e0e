/* cli_status_ask.c: asks several brokers for their status at once.
 *
 * zfarm_client_status waits for its answer, and a client is used from one
 * thread, so each broker gets a thread of its own with a client of its
 * own: a broker that is down costs the timeout once, not once per broker.
 * The threads share nothing; each writes only its own answer, which the
 * caller reads after joining it. */
#include "cli_status.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>

typedef struct {
    zfarm_client_t *client;
    int timeout_ms;
    cli_answer_t *answer;
    pthread_t thread;
    bool started;               /* else asked in the caller's thread */
} ask_t;

static void *
s_ask (void *args)
{
    ask_t *ask = args;
    ask->answer->json = NULL;
    ask->answer->rc = zfarm_client_status (ask->client, ask->timeout_ms,
                                           &ask->answer->json);
    return NULL;
}

void
cli_status_ask (zfarm_client_t **clients, cli_answer_t *answers, int count,
                int timeout_ms)
{
    assert (count >= 0 && count <= ZFARM_BROKERS_MAX);
    ask_t asks [ZFARM_BROKERS_MAX];
    for (int i = 0; i < count; i++) {
        asks [i] = (ask_t) { .client = clients [i], .timeout_ms = timeout_ms,
                             .answer = &answers [i] };
        asks [i].started = pthread_create (&asks [i].thread, NULL, s_ask,
                                           &asks [i]) == 0;
    }
    /* Without a thread (none could be made) a broker is asked here, after
     * the others have been asked: slower, not wrong. */
    for (int i = 0; i < count; i++)
        if (!asks [i].started)
            s_ask (&asks [i]);
    for (int i = 0; i < count; i++)
        if (asks [i].started)
            pthread_join (asks [i].thread, NULL);
}
