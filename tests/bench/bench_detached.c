/* bench_detached.c: detached submit -> result throughput (detached.sh).
 *
 * bench_detached ENDPOINT COUNT detached|attached [SIZE]
 *
 * detached: hands COUNT tasks of SIZE bytes (default 100) to service echo
 * in batches of 1000, each batch acknowledged as stored, then fetches
 * every result by id, 1000 FETCHes (which wait for their task) at once. attached: the same
 * tasks as ordinary ones, 1000 outstanding at a time. Prints
 * "MODE TASKS/S" for the time from the first submit to the last result,
 * having checked every result. */
#include "zfarm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 1000

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
s_detached (zfarm_client_t *client, long count, const char *payload,
            size_t size)
{
    uint64_t *ids = malloc ((size_t) count * sizeof *ids);
    const void *data [BATCH];
    size_t sizes [BATCH];
    int codes [BATCH];
    for (int i = 0; i < BATCH; i++) {
        data [i] = payload;
        sizes [i] = size;
    }
    for (long at = 0; at < count; at += BATCH) {
        size_t n = (size_t) (count - at < BATCH? count - at: BATCH);
        int rc = zfarm_client_submit_detached_batch (client, "echo", n, data,
                                                     sizes, 0, 60000,
                                                     ids + at, codes);
        if (rc) {
            fprintf (stderr, "submit: %s\n", zfarm_err_name (rc));
            return -1;
        }
    }
    double submitted = s_now ();
    zfarm_result_t *results [BATCH];
    for (long at = 0; at < count; at += BATCH) {
        size_t n = (size_t) (count - at < BATCH? count - at: BATCH);
        zfarm_client_fetch_batch (client, n, ids + at, 60000, results, codes);
        for (size_t i = 0; i < n; i++) {
            size_t got = 0;
            if (codes [i] == 0)
                zfarm_result_data (results [i], &got);
            zfarm_result_destroy (&results [i]);
            if (codes [i] || got != size) {
                fprintf (stderr, "fetch %ld: %s\n", at + (long) i,
                         zfarm_err_name (codes [i]));
                return -1;
            }
        }
    }
    free (ids);
    if (getenv ("BENCH_PHASES"))
        fprintf (stderr, "fetching took %.3f s\n", s_now () - submitted);
    return 0;
}

static int
s_attached (zfarm_client_t *client, long count, const char *payload,
            size_t size)
{
    long sent = 0, received = 0;
    while (received < count) {
        while (sent < count && sent - received < BATCH) {
            if (zfarm_client_submit (client, "echo", payload, size, 60000,
                                     NULL))
                return -1;
            sent++;
        }
        zfarm_result_t *result = NULL;
        int rc = zfarm_client_wait (client, 60000, &result);
        if (rc == 0)
            rc = zfarm_result_status (result);
        zfarm_result_destroy (&result);
        if (rc) {
            fprintf (stderr, "result: %s\n", zfarm_err_name (rc));
            return -1;
        }
        received++;
    }
    return 0;
}

int
main (int argc, char *argv [])
{
    if (argc < 4) {
        fprintf (stderr, "usage: bench_detached ENDPOINT COUNT"
                 " detached|attached [SIZE]\n");
        return 2;
    }
    long count = atol (argv [2]);
    size_t size = argc > 4? (size_t) atol (argv [4]): 100;
    char *payload = malloc (size + 1);
    memset (payload, 'x', size);
    zfarm_client_t *client = zfarm_client_new (argv [1]);
    if (!client || count <= 0)
        return 2;
    double start = s_now ();
    int rc = strcmp (argv [3], "detached") == 0
           ? s_detached (client, count, payload, size)
           : s_attached (client, count, payload, size);
    double took = s_now () - start;
    zfarm_client_destroy (&client);
    free (payload);
    if (rc)
        return 1;
    printf ("%s %.0f\n", argv [3], (double) count / took);
    return 0;
}
