/* journal.h: the broker's durable store of detached tasks and dead
 * letters: LMDB in a directory of its own, written behind.
 *
 * Changes (puts, deletes) wait in memory until journal_commit writes them
 * in one LMDB transaction, the loop's turn's, and makes them durable as
 * its sync mode says: ALWAYS and BATCH fsync every commit (the broker
 * commits after each message with ALWAYS, once per turn with BATCH), OFF
 * never (a broker crash loses nothing the kernel has, a power loss may
 * lose the last seconds). A commit that fails (a full disk) keeps its
 * changes for the next one; nothing is lost that was not yet promised.
 *
 * LMDB trusts its file: a damaged page can make it read out of bounds.
 * So at open a child process reads every record and streams them to the
 * broker; if the child dies, or a record's checksum (zf_record.h) fails,
 * the damaged file is moved aside and a new one written from what could
 * be read. The broker itself never reads a page that was not walked. */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JOURNAL_SYNC_ALWAYS = 1,
    JOURNAL_SYNC_BATCH,
    JOURNAL_SYNC_OFF
} journal_sync_t;

typedef enum {
    JOURNAL_TASKS = 0,          /* detached tasks by their seq (the
                                   order they came in) */
    JOURNAL_DEAD,               /* dead letters by their number */
    JOURNAL_TABLES
} journal_table_t;

typedef struct {
    uint64_t records;           /* stored, committed */
    uint64_t bytes;             /* their keys' and values' bytes */
    uint64_t commits;
    uint64_t fsyncs;
    uint64_t write_errors;      /* commits that failed */
    uint64_t lost;              /* records found unreadable at open (0 if
                                   the damage hid how many there were) */
    bool damaged;               /* the file was damaged at open: what could
                                   be read was kept, the file moved aside */
} journal_stats_t;

typedef struct _journal_t journal_t;

/* Called for each record: at open, every one that could be read, each
 * table in key order; and by journal_each. data lasts for the call. */
typedef void (journal_each_fn) (void *arg, int table, uint64_t key,
                                const void *data, size_t size);

/* Opens (creating if need be) the journal in dir, which no other broker
 * may have open, and hands each readable record to restore. With dir
 * NULL, a private temporary directory, removed by journal_destroy.
 * Returns NULL (logged) if the directory cannot be used. */
journal_t *
    journal_new (const char *dir, int sync, uint64_t max_bytes,
                 journal_each_fn *restore, void *arg);

/* Commits what is pending, then closes. Accepts NULL. */
void
    journal_destroy (journal_t **self_p);

/* Stores size bytes under key at the next commit (takes ownership of
 * data, from malloc). */
void
    journal_put (journal_t *self, int table, uint64_t key, void *data,
                 size_t size);

/* Deletes key at the next commit. */
void
    journal_delete (journal_t *self, int table, uint64_t key);

/* Drops a change to key not committed yet. */
void
    journal_forget (journal_t *self, int table, uint64_t key);

/* A copy of key's value, pending change included (caller frees), or NULL
 * if there is none. */
void *
    journal_get (journal_t *self, int table, uint64_t key, size_t *size_p);

/* Calls fn for every record of table, in key order, after committing what
 * is pending. Returns 0, or -1 if the journal cannot be read. */
int
    journal_each (journal_t *self, int table, journal_each_fn *fn, void *arg);

/* True if size bytes more keep the journal within its max_bytes. */
bool
    journal_has_room (journal_t *self, size_t size);

/* True if changes wait for a commit. */
bool
    journal_is_dirty (const journal_t *self);

/* Writes the pending changes and syncs as the mode says. Returns 0, or -1
 * if they could not be written (logged once per failing spell; they stay
 * pending). */
int
    journal_commit (journal_t *self);

/* Why the last commit failed, or "" if it did not. */
const char *
    journal_error (const journal_t *self);

const journal_stats_t *
    journal_stats (const journal_t *self);

/* The directory, as given or made. */
const char *
    journal_dir (const journal_t *self);

/* "always", "batch", "off" -> journal_sync_t, or 0. */
int
    journal_sync_from_name (const char *name);

const char *
    journal_sync_name (int sync);

#endif
