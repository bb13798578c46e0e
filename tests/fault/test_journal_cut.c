/* test_journal_cut.c: a journal cut one byte into any of its pages.
 *
 * test_journal_corrupt cuts at random offsets; this one cuts at every
 * page in turn, one byte past its start. That byte's page then reads as
 * zeros (the end of the file's last page is mapped), which LMDB reports
 * as MDB_CORRUPTED rather than a signal, and every page past it is a
 * SIGBUS in whoever reads it. The walk at open must take either for
 * damage: a file it passed as sound is one the broker maps and reads in
 * its own loop, and a QUERY that reads a page past the end kills it (the
 * client hears nothing: BROKER_DOWN). Each time the broker must start,
 * answer "tasks" and "dead", say it set the file aside, and stop
 * cleanly. */
#include "journal_common.h"

#include <czmq.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES_MAX 200 /* brokers started, within the harness's */

static void
s_check_broker (const char *journal, int page)
{
    const char *extra [] = { "--journal", journal, NULL };
    th_broker_t started = th_broker_start ("ipc", extra);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    zfarm_client_t *client = zfarm_client_new (endpoint);
    char *json = NULL;
    int rc = zfarm_client_query (client, "tasks", 20000, &json);
    if (rc != 0)
        printf ("page %d: tasks: %s; broker %s\n", page, zfarm_strerror (rc),
                th_alive (broker) ? "alive" : "dead");
    ASSERT_EQ (rc, 0);
    json_t *doc = json_parse (json, strlen (json));
    ASSERT (doc);
    json_destroy (&doc);
    free (json);
    json = NULL;
    rc = zfarm_client_query (client, "dead", 20000, &json);
    if (rc != 0)
        printf ("page %d: dead: %s; broker %s\n", page, zfarm_strerror (rc),
                th_alive (broker) ? "alive" : "dead");
    ASSERT_EQ (rc, 0);
    doc = json_parse (json, strlen (json));
    ASSERT (doc);
    json_destroy (&doc);
    free (json);
    zfarm_client_destroy (&client);
    /* A cut file is damaged, whatever page the cut fell in: it is set
     * aside, and the status says so. */
    ASSERT (journal_stop_checked (broker, endpoint, journal));
}

int
main (void)
{
    char journal [512];
    snprintf (journal, sizeof journal, "%s/journal", th_tmpdir ());
    size_t size;
    char *pristine = journal_make (journal, NULL, &size);
    /* LMDB's page is the system's; the first two are its meta pages. */
    size_t page_size = (size_t) sysconf (_SC_PAGESIZE);
    int pages = (int) (size / page_size);
    ASSERT_INT (pages, >, 2);
    if (pages > PAGES_MAX)
        pages = PAGES_MAX;
    for (int page = 2; page < pages; page++) {
        char dir [600], path [700];
        snprintf (dir, sizeof dir, "%s/page-%d", th_tmpdir (), page);
        ASSERT_EQ (zsys_dir_create ("%s", dir), 0);
        snprintf (path, sizeof path, "%s/data.mdb", dir);
        FILE *file = fopen (path, "wb");
        ASSERT (file);
        size_t keep = (size_t) page * page_size + 1;
        ASSERT_EQ (fwrite (pristine, 1, keep, file), keep);
        fclose (file);
        s_check_broker (dir, page);
    }
    free (pristine);
    printf ("test_journal_cut: OK (%d pages cut)\n", pages - 2);
    return 0;
}
