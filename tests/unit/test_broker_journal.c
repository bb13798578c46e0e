/* test_broker_journal.c: the journal's record codec and its LMDB store.
 *
 * A record encodes and decodes to the same fields; any one byte changed,
 * or any cut, is refused (the checksum covers the payload too). The store
 * keeps what a commit wrote across a reopen, in key order, serves pending
 * changes before they are committed, counts bytes, and reads a file with
 * a damaged record back without it, setting the file aside. */
#include "journal.h"
#include "testlib.h"
#include "zf_record.h"
#include "zf_util.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void
s_job (zf_job_t *job, uint64_t id, int state)
{
    memset (job, 0, sizeof *job);
    job->id = id;
    job->seq = id;                  /* the tasks table's key */
    job->state = state;
    strcpy (job->service, "echo");
    job->flags = 1;
    job->priority = 9;
    job->timeout_ms = 1500;
    job->retries = -1;
    job->retry_on = 1u << 8;
    job->backoff_min_ms = 10;
    job->backoff_max_ms = 20;
    job->attempts = 2;
    job->submitted_at = 1796500000000;
    job->due_at = 1796500000500;
    job->payload = "the payload\0";
    job->payload_size = 12;
    if (state == ZF_JOB_FINISHED) {
        job->finished_at = 1796500009000;
        job->status = -8;
        job->text = "exit status 3: oops";
        job->text_size = strlen (job->text);
        job->history = "attempt 1: HANDLER_ERROR: oops\n";
        job->history_size = strlen (job->history);
        job->result = "\x01\x02";
        job->result_size = 2;
        strcpy (job->owner, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    }
}

static void
test_record_round_trip_and_damage (void)
{
    zf_job_t job, back;
    char why [128];
    s_job (&job, 77, ZF_JOB_FINISHED);
    size_t size;
    char *record = zf_record_encode (&job, &size);
    ASSERT_EQ (zf_record_decode (&back, record, size, why, sizeof why), 0);
    ASSERT_EQ (back.id, 77);
    ASSERT_EQ (back.seq, 77);
    ASSERT_EQ (back.state, ZF_JOB_FINISHED);
    ASSERT_STR_EQ (back.service, "echo");
    ASSERT_STR_EQ (back.owner, job.owner);
    ASSERT_EQ (back.retries, -1);
    ASSERT_EQ (back.status, -8);
    ASSERT_EQ (back.due_at, job.due_at);
    ASSERT_EQ (back.payload_size, 12);
    ASSERT (memcmp (back.payload, job.payload, 12) == 0);
    ASSERT_EQ (back.result_size, 2);
    ASSERT (memcmp (back.text, job.text, job.text_size) == 0);
    ASSERT (memcmp (back.history, job.history, job.history_size) == 0);

    /* Every single byte changed, every cut: refused. */
    for (size_t at = 0; at < size; at++) {
        record [at] ^= 0x20;
        ASSERT_EQ (zf_record_decode (&back, record, size, why, sizeof why), -1);
        record [at] ^= 0x20;
    }
    for (size_t cut = 0; cut < size; cut++)
        ASSERT_EQ (zf_record_decode (&back, record, cut, why, sizeof why), -1);
    free (record);
    TEST_PASS ("a record decodes to what was encoded; any change refused");
}

typedef struct {
    uint64_t keys [16];
    int tables [16];
    int count;
} seen_t;

static void
s_seen (void *arg, int table, uint64_t key, const void *data, size_t size)
{
    seen_t *seen = arg;
    zf_job_t job;
    char why [128];
    ASSERT_EQ (zf_record_decode (&job, data, size, why, sizeof why), 0);
    ASSERT (seen->count < 16);
    seen->tables [seen->count] = table;
    seen->keys [seen->count++] = key;
}

static void
s_put (journal_t *journal, int table, uint64_t key, uint64_t id)
{
    zf_job_t job;
    s_job (&job, id, ZF_JOB_WAITING);
    if (id == 5)
        job.payload = "flip me here";   /* the one test_store damages */
    size_t size;
    void *record = zf_record_encode (&job, &size);
    journal_put (journal, table, key, record, size);
}

static void
test_store (void)
{
    char dir [256];
    snprintf (dir, sizeof dir, "/tmp/zfarm-journal-test-%d", getpid ());
    zsys_dir_delete ("%s", dir);
    journal_t *journal = journal_new (dir, JOURNAL_SYNC_BATCH, 1 << 20,
                                      NULL, NULL);
    ASSERT (journal);
    /* Out of order, and one deleted before any commit. */
    s_put (journal, JOURNAL_TASKS, 300, 300);
    s_put (journal, JOURNAL_TASKS, 5, 5);
    s_put (journal, JOURNAL_TASKS, 1ULL << 40, 1ULL << 40);
    s_put (journal, JOURNAL_DEAD, 2, 99);
    s_put (journal, JOURNAL_TASKS, 7, 7);
    journal_delete (journal, JOURNAL_TASKS, 7);
    size_t size;
    void *copy = journal_get (journal, JOURNAL_TASKS, 5, &size);
    ASSERT (copy);                      /* pending, already readable */
    free (copy);
    ASSERT (!journal_get (journal, JOURNAL_TASKS, 7, &size));
    ASSERT (journal_is_dirty (journal));
    ASSERT_EQ (journal_commit (journal), 0);
    ASSERT (!journal_is_dirty (journal));
    ASSERT_EQ (journal_stats (journal)->records, 4);
    ASSERT_EQ (journal_stats (journal)->fsyncs, 1);
    ASSERT (journal_has_room (journal, 1000));
    ASSERT (!journal_has_room (journal, 1 << 20));
    /* A second journal on the same directory is refused. */
    ASSERT (!journal_new (dir, JOURNAL_SYNC_BATCH, 1 << 20, NULL, NULL));
    journal_destroy (&journal);

    seen_t seen = { .count = 0 };
    journal = journal_new (dir, JOURNAL_SYNC_OFF, 1 << 20, s_seen, &seen);
    ASSERT (journal);
    ASSERT_EQ (seen.count, 4);
    ASSERT_EQ (seen.keys [0], 5);       /* key order, table by table */
    ASSERT_EQ (seen.keys [1], 300);
    ASSERT_EQ (seen.keys [2], 1ULL << 40);
    ASSERT_EQ (seen.tables [3], JOURNAL_DEAD);
    ASSERT_EQ (journal_stats (journal)->lost, 0);
    ASSERT (!journal_stats (journal)->damaged);
    journal_delete (journal, JOURNAL_TASKS, 300);
    ASSERT_EQ (journal_commit (journal), 0);
    ASSERT_EQ (journal_stats (journal)->fsyncs, 0);    /* off: none */
    journal_destroy (&journal);

    /* Change one byte of a record's payload in the file: that record is
     * dropped, the others kept, the file moved aside. */
    char path [300];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    size_t file_size;
    char *bytes = NULL;
    FILE *file = fopen (path, "rb");
    ASSERT (file);
    fseek (file, 0, SEEK_END);
    file_size = (size_t) ftell (file);
    rewind (file);
    bytes = malloc (file_size);
    ASSERT_EQ (fread (bytes, 1, file_size, file), file_size);
    fclose (file);
    /* Every copy of it: LMDB's copy-on-write leaves old pages behind. */
    int copies = 0;
    for (char *found = bytes; (found = memmem (found, file_size
                                               - (size_t) (found - bytes),
                                               "flip me", 7)); copies++)
        *found++ = 'F';
    ASSERT_INT (copies, >, 0);
    file = fopen (path, "wb");
    fwrite (bytes, 1, file_size, file);
    fclose (file);
    free (bytes);
    seen.count = 0;
    journal = journal_new (dir, JOURNAL_SYNC_BATCH, 1 << 20, s_seen, &seen);
    ASSERT (journal);
    ASSERT_EQ (seen.count, 2);
    ASSERT_EQ (journal_stats (journal)->lost, 1);
    ASSERT (journal_stats (journal)->damaged);
    journal_destroy (&journal);
    zsys_dir_delete ("%s", dir);
    char command [400];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    ASSERT_EQ (system (command), 0);
    TEST_PASS ("the journal keeps, orders, serves and salvages records");
}

int
main (void)
{
    test_record_round_trip_and_damage ();
    test_store ();
    return 0;
}
