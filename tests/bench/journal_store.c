/* journal_store.c: the two stores the broker's journal could use, side by
 * side on the same disk (broker/README.md, "Why LMDB").
 *
 * journal_store DIR [TASKS] [PER_TURN]
 *
 * Replays what the broker writes for TASKS detached tasks (default 20,000)
 * of 100 bytes, PER_TURN (default 50) to a loop turn: per task a record
 * when stored, again when it runs, and its outcome (without the payload),
 * each turn's changes committed together and fsynced once ("batch"):
 *   lmdb     the broker's own journal.c (records keyed by submission
 *            order; updates in place)
 *   log      an append-only log: every change appended (with a length),
 *            one write and one fdatasync per turn; no index, no reuse of
 *            space (what it would still need: replay at start, a rule for
 *            a torn tail, compaction to drop expired results)
 * Prints tasks/s and bytes on disk for each. */
#include "journal.h"
#include "zf_record.h"
#include "zf_util.h"

#include <czmq.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static double
s_now (void)
{
    return (double) zf_now_us () / 1e6;
}

/* The record of task seq at step 0 (stored), 1 (running), 2 (finished). */
static void *
s_record (uint64_t seq, int step, size_t *size_p)
{
    static char payload [100];
    memset (payload, 'x', sizeof payload);
    zf_job_t job = { .id = seq * 0x9e3779b97f4a7c15u | 1, .seq = seq,
                     .state = step + 1, .retries = -1, .priority = 4,
                     .attempts = step? 1: 0, .submitted_at = 1796500000000 };
    strcpy (job.service, "echo");
    if (step < 2) {
        job.payload = payload;
        job.payload_size = 100;
    }
    else {
        job.result = payload;
        job.result_size = 100;
        job.finished_at = 1796500001000;
    }
    return zf_record_encode (&job, size_p);
}

static double
s_lmdb (const char *dir, long tasks, long per_turn, long long *bytes)
{
    journal_t *journal = journal_new (dir, JOURNAL_SYNC_BATCH, 1LL << 32,
                                      NULL, NULL);
    if (!journal)
        exit (1);
    double start = s_now ();
    /* Turn t stores tasks t*P.., runs those of the turn before, finishes
     * those of the turn before that, as a steady farm does. */
    for (long turn = 0; turn * per_turn < tasks + 2 * per_turn; turn++)
        for (int step = 0; step < 3; step++) {
            long first = (turn - step) * per_turn;
            for (long i = first; i >= 0 && i < first + per_turn && i < tasks;
                 i++) {
                size_t size;
                void *record = s_record ((uint64_t) i + 1, step, &size);
                journal_put (journal, JOURNAL_TASKS, (uint64_t) i + 1, record,
                             size);
            }
            if (step == 2 && journal_commit (journal))
                exit (1);
        }
    double took = s_now () - start;
    *bytes = (long long) journal_stats (journal)->bytes;
    journal_destroy (&journal);
    char path [4200];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    struct stat info;
    if (stat (path, &info) == 0)
        *bytes = (long long) info.st_size;
    return (double) tasks / took;
}

static double
s_log (const char *dir, long tasks, long per_turn, long long *bytes)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/journal.log", dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0)
        exit (1);
    size_t capacity = 1 << 20;
    char *turn_buf = malloc (capacity);
    double start = s_now ();
    for (long turn = 0; turn * per_turn < tasks + 2 * per_turn; turn++) {
        size_t used = 0;
        for (int step = 0; step < 3; step++) {
            long first = (turn - step) * per_turn;
            for (long i = first; i >= 0 && i < first + per_turn && i < tasks;
                 i++) {
                size_t size;
                void *record = s_record ((uint64_t) i + 1, step, &size);
                uint32_t length = (uint32_t) size;
                if (used + 4 + size > capacity)
                    exit (1);
                memcpy (turn_buf + used, &length, 4);
                memcpy (turn_buf + used + 4, record, size);
                used += 4 + size;
                free (record);
            }
        }
        if (used && (write (fd, turn_buf, used) != (ssize_t) used
                     || fdatasync (fd)))
            exit (1);
    }
    double took = s_now () - start;
    struct stat info;
    fstat (fd, &info);
    *bytes = (long long) info.st_size;
    close (fd);
    free (turn_buf);
    return (double) tasks / took;
}

int
main (int argc, char *argv [])
{
    if (argc < 2) {
        fprintf (stderr, "usage: journal_store DIR [TASKS] [PER_TURN]\n");
        return 2;
    }
    long tasks = argc > 2? atol (argv [2]): 20000;
    long per_turn = argc > 3? atol (argv [3]): 50;
    char lmdb_dir [2048], log_dir [2048];
    snprintf (lmdb_dir, sizeof lmdb_dir, "%s/lmdb", argv [1]);
    snprintf (log_dir, sizeof log_dir, "%s/log", argv [1]);
    mkdir (log_dir, 0700);
    long long lmdb_bytes, log_bytes;
    double lmdb = s_lmdb (lmdb_dir, tasks, per_turn, &lmdb_bytes);
    double log = s_log (log_dir, tasks, per_turn, &log_bytes);
    printf ("lmdb %.0f tasks/s, %lld bytes on disk\n", lmdb, lmdb_bytes);
    printf ("log  %.0f tasks/s, %lld bytes on disk\n", log, log_bytes);
    return 0;
}
