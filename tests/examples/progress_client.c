/* progress_client.c: count primes, and show how far the worker has come. */
#include <zfarm.h>
#include <stdio.h>
#include <string.h>

static void
s_progress (uint64_t task_id, uint64_t done, uint64_t total,
            const char *note, void *arg)
{
    (void) task_id, (void) note, (void) arg;   /* a note is peer text */
    if (total)
        fprintf (stderr, "%3d%%\n", (int) (done * 100 / total));
}

int
main (int argc, char *argv [])
{
    const char *limit = argc > 1? argv [1]: "100000000";
    zfarm_client_t *client = zfarm_client_new (NULL);  /* $ZFARM_BROKER */
    zfarm_client_set_progress (client, s_progress, NULL);
    zfarm_result_t *result = NULL;
    int rc = zfarm_client_submit (client, "primes", limit, strlen (limit),
                                  60000, NULL);
    if (rc == 0)        /* runs s_progress for each report, then returns */
        rc = zfarm_client_wait (client, -1, &result);
    if (rc == 0)
        rc = zfarm_result_status (result);
    if (rc == 0)
        printf ("%s\n", (const char *) zfarm_result_data (result, NULL));
    else
        fprintf (stderr, "%s\n", zfarm_err_name (rc));
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    return rc == 0? 0: 1;
}
