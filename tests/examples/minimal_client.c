/* minimal_client.c: count the primes below a number on a zfarm farm. */
#include <zfarm.h>
#include <stdio.h>
#include <string.h>

int
main (int argc, char *argv [])
{
    const char *limit = argc > 1? argv [1]: "1000000";
    zfarm_client_t *client = zfarm_client_new (NULL);  /* $ZFARM_BROKER */
    zfarm_result_t *result = NULL;
    int rc = zfarm_client_call (client, "primes", limit, strlen (limit),
                                10000, &result);
    if (rc == 0) {
        size_t size;
        printf ("%s\n", (const char *) zfarm_result_data (result, &size));
    }
    else
    if (result)
        fprintf (stderr, "%s: %s\n", zfarm_err_name (rc),
                 zfarm_result_error (result));
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    return rc == 0? 0: 1;
}
