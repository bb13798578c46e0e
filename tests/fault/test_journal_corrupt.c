/* test_journal_corrupt.c: a damaged journal never crashes the broker.
 *
 * A journal with finished tasks (their results), waiting tasks and dead
 * letters is written by a real broker; then copies of it are cut at
 * random offsets or have random bytes flipped, and a broker is started on
 * each. Every time it starts, answers, lists what it kept, serves only
 * results that are right (a record that does not check out is dropped,
 * never served), and stops cleanly; the damaged file is kept aside. The
 * seed is printed, for a failure to be replayed (ZFARM_TEST_SEED). */
#include "journal_common.h"

#include <czmq.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define ROUNDS      16

static uint64_t s_ids [FINISHED];   /* the finished tasks, by payload */

/* The index of id among the finished tasks, or -1. */
static int
s_finished_index (uint64_t id)
{
    for (int i = 0; i < FINISHED; i++)
        if (s_ids [i] == id)
            return i;
    return -1;
}

/* Starts a broker on the damaged journal: it must answer, list, serve
 * right results only, and stop cleanly. Returns whether it set the
 * damaged file aside. */
static bool
s_check_broker (const char *journal, int round)
{
    const char *extra [] = { "--journal", journal, NULL };
    th_broker_t started = th_broker_start ("ipc", extra);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    zfarm_client_t *client = zfarm_client_new (endpoint);
    char *json = NULL;
    ASSERT_EQ (zfarm_client_query (client, "tasks", 20000, &json), 0);
    json_t *doc = json_parse (json, strlen (json));
    ASSERT (doc);
    int kept = 0;
    for (const json_t *task = json_first (json_member (doc, "tasks")); task;
         task = json_next (task), kept++) {
        uint64_t id = strtoull (json_string (json_member (task, "id"), "0"),
                                NULL, 16);
        int index = s_finished_index (id);
        if (index < 0)
            continue;           /* "bad" and "later": no result to check */
        zfarm_result_t *result = NULL;
        int rc = zfarm_client_fetch (client, id, 0, &result);
        if (rc == ZFARM_ENOT_FOUND)
            continue;           /* listed, then not readable: never wrong */
        ASSERT_EQ (rc, 0);
        char expected [32];
        snprintf (expected, sizeof expected, "payload %d", index);
        size_t size;
        ASSERT_STR_EQ (zfarm_result_data (result, &size), expected);
        zfarm_result_destroy (&result);
    }
    json_destroy (&doc);
    free (json);
    ASSERT_EQ (zfarm_client_query (client, "dead", 20000, &json), 0);
    free (json);
    double lost = th_status_number (endpoint, "detached.journal.lost");
    ASSERT (lost >= 0);
    printf ("round %d: %d tasks kept, %.0f records lost\n", round, kept, lost);
    zfarm_client_destroy (&client);
    /* The status says so exactly when the file was set aside. */
    return journal_stop_checked (broker, endpoint, journal);
}

int
main (void)
{
    const char *env = getenv ("ZFARM_TEST_SEED");
    unsigned seed = env? (unsigned) strtoul (env, NULL, 10)
                       : (unsigned) time (NULL);
    printf ("test_journal_corrupt: seed %u\n", seed);
    srand (seed);
    char journal [512];
    snprintf (journal, sizeof journal, "%s/journal", th_tmpdir ());
    size_t size;
    char *pristine = journal_make (journal, s_ids, &size);

    int damaged = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char dir [600], path [700];
        snprintf (dir, sizeof dir, "%s/round-%d", th_tmpdir (), round);
        ASSERT_EQ (zsys_dir_create ("%s", dir), 0);
        snprintf (path, sizeof path, "%s/data.mdb", dir);
        FILE *file = fopen (path, "wb");
        ASSERT (file);
        size_t keep = size;
        if (round % 2 == 0)
            keep = (size_t) rand () % size;     /* cut short */
        ASSERT_EQ (fwrite (pristine, 1, keep, file), keep);
        fclose (file);
        if (round % 2 == 1) {
            /* Flip bytes in place: 1 to 32 of them, anywhere. */
            file = fopen (path, "r+b");
            int flips = 1 + rand () % 32;
            for (int i = 0; i < flips; i++) {
                long at = (long) ((size_t) rand () % size);
                fseek (file, at, SEEK_SET);
                int byte = fgetc (file);
                fseek (file, at, SEEK_SET);
                fputc ((byte ^ (1 + rand () % 255)) & 0xff, file);
            }
            fclose (file);
        }
        damaged += s_check_broker (dir, round);
    }
    /* Most rounds break something; a round whose damage fell in unused
     * pages may not. */
    ASSERT_INT (damaged, >, 0);
    free (pristine);
    printf ("test_journal_corrupt: OK (%d of %d rounds damaged)\n",
            damaged, ROUNDS);
    return 0;
}
