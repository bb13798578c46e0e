/* journal.c: the broker's journal on LMDB (journal.h).
 *
 * One environment in the directory, two databases ("tasks", "dead") keyed
 * by 8-byte big-endian numbers so that LMDB's order is the numbers'. The
 * broker holds its own lock (flock on DIR/journal.lock), so LMDB's lock
 * file is not used (MDB_NOLOCK): one writer, the broker's loop. */
#include "journal.h"
#include "zf_log.h"
#include "zf_util.h"
#include "zf_record.h"
#include "zf_table.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* The walk of a journal at open may take this long before the child that
 * walks it is taken to be stuck in a damaged file. */
#define WALK_TIMEOUT_MS  60000
#define LOST_LOGGED      10     /* unreadable records logged one by one */

static const char *const s_table_names [JOURNAL_TABLES] = { "tasks", "dead" };

typedef struct {
    uint64_t key;               /* first: the index's key */
    int table;
    void *data;                 /* NULL: a delete */
    size_t size;
} change_t;

struct _journal_t {
    char *dir;
    bool temporary;             /* made by us: removed at destroy */
    int lock_fd;
    int sync;                   /* journal_sync_t */
    uint64_t max_bytes;
    MDB_env *env;
    MDB_dbi dbi [JOURNAL_TABLES];
    zhashx_t *pending [JOURNAL_TABLES];     /* key -> change_t */
    uint64_t pending_bytes;     /* of the puts among them */
    char error [256];           /* why the last commit failed, or "" */
    journal_stats_t stats;
};

/* ---- keys and changes -------------------------------------------------- */

static void
s_key_encode (uint64_t key, unsigned char *bytes)
{
    for (int i = 7; i >= 0; i--, key >>= 8)
        bytes [i] = (unsigned char) key;
}

static uint64_t
s_key_decode (const unsigned char *bytes)
{
    uint64_t key = 0;
    for (int i = 0; i < 8; i++)
        key = key << 8 | bytes [i];
    return key;
}

static void
s_change_destroy (void **item)
{
    change_t *change = *item;
    if (change) {
        free (change->data);
        free (change);
        *item = NULL;
    }
}

static zhashx_t *
s_change_table_new (void)
{
    zhashx_t *table = zf_u64_table_new ();
    zhashx_set_destructor (table, s_change_destroy);
    return table;
}

/* ---- the walk at open ---------------------------------------------------- */

typedef enum { FRAME_RECORD = 1, FRAME_EXPECT, FRAME_END } frame_kind_t;

typedef struct {
    uint8_t kind;
    uint8_t table;
    uint64_t key;               /* EXPECT: records the table says it has */
    uint32_t size;
} frame_head_t;

static bool
s_write_all (int fd, const void *data, size_t size)
{
    const char *at = data;
    while (size) {
        ssize_t n = write (fd, at, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        at += n;
        size -= (size_t) n;
    }
    return true;
}

static bool
s_send_frame (int fd, int kind, int table, uint64_t key, const void *data,
              size_t size)
{
    frame_head_t head = { (uint8_t) kind, (uint8_t) table, key,
                          (uint32_t) size };
    return s_write_all (fd, &head, sizeof head)
        && (size == 0 || s_write_all (fd, data, size));
}

/* In the child: reads the whole environment, read-only, and streams its
 * records. It may die in a damaged file; that is what it is for. */
static void
s_walk_child (const char *dir, int fd)
{
    /* A damaged page ends this process by a signal, not by a sanitizer's
     * report: the broker reads the signal as "damaged". */
    int signals [] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++)
        signal (signals [i], SIG_DFL);
    MDB_env *env;
    MDB_txn *txn;
    if (mdb_env_create (&env) || mdb_env_set_maxdbs (env, JOURNAL_TABLES)
    ||  mdb_env_open (env, dir, MDB_RDONLY | MDB_NOLOCK, 0600)
    ||  mdb_txn_begin (env, NULL, MDB_RDONLY, &txn))
        _exit (2);
    /* The free list's pages too: the broker's writes will read them. */
    MDB_cursor *cursor;
    MDB_val key, value;
    int rc;
    if (mdb_cursor_open (txn, 0, &cursor))
        _exit (3);
    /* Keys are transaction ids, rising: a walk that goes back is going
     * round a damaged tree. */
    uint64_t last = 0;
    while ((rc = mdb_cursor_get (cursor, &key, &value, MDB_NEXT)) == 0) {
        uint64_t id = 0;
        memcpy (&id, key.mv_data, key.mv_size < 8? key.mv_size: 8);
        if (id <= last && last)
            _exit (5);
        last = id;
    }
    /* Every walk must end at the end (MDB_NOTFOUND): an error (a page of
     * the wrong type, as a page cut part way reads: zeros) is damage. It
     * leaves the transaction unusable too, so that the tables after it
     * looked absent and the file sound, then the broker's first read of
     * a page past the cut was a SIGBUS in its loop. */
    if (rc != MDB_NOTFOUND)
        _exit (7);
    mdb_cursor_close (cursor);
    for (int table = 0; table < JOURNAL_TABLES; table++) {
        MDB_dbi dbi;
        MDB_stat stat;
        rc = mdb_dbi_open (txn, s_table_names [table], 0, &dbi);
        if (rc == MDB_NOTFOUND)
            continue;           /* no such table: nothing to read */
        if (rc || mdb_stat (txn, dbi, &stat))
            _exit (8);
        s_send_frame (fd, FRAME_EXPECT, table, stat.ms_entries, NULL, 0);
        if (mdb_cursor_open (txn, dbi, &cursor))
            _exit (3);
        while ((rc = mdb_cursor_get (cursor, &key, &value, MDB_NEXT)) == 0) {
            if (key.mv_size != 8 || value.mv_size > UINT32_MAX)
                continue;       /* not ours: counted as lost */
            if (!s_send_frame (fd, FRAME_RECORD, table,
                               s_key_decode (key.mv_data), value.mv_data,
                               value.mv_size))
                _exit (4);
        }
        if (rc != MDB_NOTFOUND)
            _exit (7);
        mdb_cursor_close (cursor);
    }
    /* A file shorter than its last page was cut, even when what the walk
     * read was all there (the cut took free pages only): the records it
     * streamed are kept, in a new file. A page past the end is a SIGBUS
     * in whoever reads it, the broker's loop included. */
    MDB_envinfo info;
    MDB_stat env_stat;
    char path [4096];
    struct stat file;
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    if (mdb_env_info (env, &info) || mdb_env_stat (env, &env_stat)
    ||  stat (path, &file)
    ||  (uint64_t) file.st_size
        < ((uint64_t) info.me_last_pgno + 1) * env_stat.ms_psize)
        _exit (6);
    s_send_frame (fd, FRAME_END, 0, 0, NULL, 0);
    _exit (0);
}

typedef struct {
    int table;
    uint64_t key;
    void *data;
    size_t size;
} salvaged_t;

typedef struct {
    salvaged_t *records;
    size_t count;
    size_t capacity;
    uint64_t expected;          /* what the tables said they hold */
    uint64_t damaged;           /* records that failed their checksum */
    bool complete;              /* the walk reached its end */
} walk_t;

static bool
s_read_all (int fd, void *data, size_t size, int64_t deadline)
{
    char *at = data;
    while (size) {
        int64_t left = deadline - zf_now_ms ();
        struct pollfd item = { fd, POLLIN, 0 };
        if (left <= 0 || poll (&item, 1, (int) left) <= 0)
            return false;
        ssize_t n = read (fd, at, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        at += n;
        size -= (size_t) n;
    }
    return true;
}

/* Reads the child's stream into walk; a record that does not decode is
 * counted, and the first few are logged. */
static void
s_walk_read (int fd, uint64_t max_bytes, walk_t *walk)
{
    int64_t deadline = zf_now_ms () + WALK_TIMEOUT_MS;
    uint64_t total = 0;
    uint64_t last [JOURNAL_TABLES] = { 0 };
    frame_head_t head;
    while (s_read_all (fd, &head, sizeof head, deadline)) {
        if (head.kind == FRAME_END) {
            walk->complete = true;
            return;
        }
        if (head.kind == FRAME_EXPECT) {
            walk->expected += head.key;
            continue;
        }
        total += head.size;
        if (head.kind != FRAME_RECORD || head.table >= JOURNAL_TABLES
        ||  total > 2 * max_bytes + (64u << 20)
        ||  head.key <= last [head.table])
            return;             /* not what a sound walk gives: stop */
        last [head.table] = head.key;
        void *data = malloc (head.size? head.size: 1);
        if (!data)
            zf_die_nomem ();
        if (!s_read_all (fd, data, head.size, deadline)) {
            free (data);
            return;
        }
        zf_job_t job;
        char why [128];
        if (zf_record_decode (&job, data, head.size, why, sizeof why) != 0
        ||  (head.table == JOURNAL_TASKS && job.seq != head.key)) {
            if (walk->damaged++ < LOST_LOGGED)
                zf_warning ("journal: %s record %" PRIu64 " is unreadable"
                            " (%s): dropped", s_table_names [head.table],
                            head.key, why);
            free (data);
            continue;
        }
        if (walk->count == walk->capacity) {
            walk->capacity = walk->capacity? 2 * walk->capacity: 256;
            walk->records = realloc (walk->records,
                                     walk->capacity * sizeof *walk->records);
            if (!walk->records)
                zf_die_nomem ();
        }
        walk->records [walk->count++] = (salvaged_t) {
            head.table, head.key, data, head.size };
    }
}

/* Walks the journal in dir in a child. Returns true if it is sound: the
 * walk ended and every record read back; walk has what could be read. */
static bool
s_walk (const char *dir, uint64_t max_bytes, walk_t *walk)
{
    int fds [2];
    if (pipe (fds))
        return false;
    pid_t pid = fork ();
    if (pid == 0) {
        close (fds [0]);
        s_walk_child (dir, fds [1]);
    }
    close (fds [1]);
    if (pid < 0) {
        close (fds [0]);
        zf_error ("journal: fork: %s", strerror (errno));
        return false;
    }
    s_walk_read (fds [0], max_bytes, walk);
    close (fds [0]);
    if (!walk->complete)
        kill (pid, SIGKILL);
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    bool exited = WIFEXITED (status) && WEXITSTATUS (status) == 0;
    if (!walk->complete || !exited)
        zf_warning ("journal: reading %s/data.mdb %s after %zu records",
                    dir, WIFSIGNALED (status)? "crashed": "failed",
                    walk->count);
    return walk->complete && exited && walk->damaged == 0;
}

/* ---- the environment --------------------------------------------------- */

static int
s_env_open (journal_t *self)
{
    unsigned flags = MDB_NOLOCK;
    if (self->sync != JOURNAL_SYNC_ALWAYS)
        flags |= MDB_NOSYNC;    /* batch: synced by journal_commit */
    /* Room for copy-on-write and free pages besides the data bound. */
    size_t map = (size_t) self->max_bytes * 2 + ((size_t) 64 << 20);
    MDB_txn *txn;
    int rc;
    if ((rc = mdb_env_create (&self->env))
    ||  (rc = mdb_env_set_maxdbs (self->env, JOURNAL_TABLES))
    ||  (rc = mdb_env_set_mapsize (self->env, map))
    ||  (rc = mdb_env_open (self->env, self->dir, flags, 0600))
    ||  (rc = mdb_txn_begin (self->env, NULL, 0, &txn))) {
        zf_error ("journal: %s: %s", self->dir, mdb_strerror (rc));
        return -1;
    }
    for (int table = 0; table < JOURNAL_TABLES && !rc; table++)
        rc = mdb_dbi_open (txn, s_table_names [table], MDB_CREATE,
                           &self->dbi [table]);
    if (rc || (rc = mdb_txn_commit (txn))) {
        if (rc && txn)
            mdb_txn_abort (txn);
        zf_error ("journal: %s: %s", self->dir, mdb_strerror (rc));
        return -1;
    }
    return 0;
}

/* Writes the salvaged records into a new environment. */
static int
s_rebuild (journal_t *self, const walk_t *walk)
{
    char path [4096], aside [4096];
    snprintf (path, sizeof path, "%s/data.mdb", self->dir);
    snprintf (aside, sizeof aside, "%s/data.mdb.damaged-%" PRId64, self->dir,
              zf_wall_ms () / 1000);
    if (rename (path, aside) && errno != ENOENT) {
        zf_error ("journal: cannot move %s aside: %s", path, strerror (errno));
        return -1;
    }
    char lock [4096];
    snprintf (lock, sizeof lock, "%s/lock.mdb", self->dir);
    unlink (lock);
    zf_warning ("journal: %s was damaged: kept %zu readable records, moved"
                " it to %s", path, walk->count, aside);
    if (s_env_open (self))
        return -1;
    self->stats.damaged = true;
    for (size_t i = 0; i < walk->count; i++) {
        const salvaged_t *record = &walk->records [i];
        void *copy = zf_malloc (record->size);
        memcpy (copy, record->data, record->size);
        journal_put (self, record->table, record->key, copy, record->size);
    }
    int sync = self->sync;
    self->sync = JOURNAL_SYNC_BATCH;    /* the rebuild is synced */
    int rc = journal_commit (self);
    self->sync = sync;
    return rc;
}

static int
s_lock (journal_t *self)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/journal.lock", self->dir);
    self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        zf_error ("journal: %s: %s", path, strerror (errno));
        return -1;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB)) {
        zf_error ("journal: %s is in use by another broker", self->dir);
        return -1;
    }
    return 0;
}

static int
s_dir_prepare (journal_t *self, const char *dir)
{
    if (!dir) {
        const char *tmp = getenv ("TMPDIR");
        char path [4096];
        snprintf (path, sizeof path, "%s/zfarm-journal-XXXXXX",
                  tmp && *tmp? tmp: "/tmp");
        if (!mkdtemp (path)) {
            zf_error ("journal: mkdtemp %s: %s", path, strerror (errno));
            return -1;
        }
        self->dir = zf_strdup (path);
        self->temporary = true;
        return 0;
    }
    self->dir = zf_strdup (dir);
    if (mkdir (dir, 0700) && errno != EEXIST) {
        zf_error ("journal: cannot create %s: %s", dir, strerror (errno));
        return -1;
    }
    struct stat info;
    if (stat (dir, &info) || !S_ISDIR (info.st_mode)) {
        zf_error ("journal: %s is not a directory", dir);
        return -1;
    }
    return 0;
}

journal_t *
journal_new (const char *dir, int sync, uint64_t max_bytes,
             journal_each_fn *restore, void *arg)
{
    journal_t *self = zf_malloc (sizeof *self);
    self->lock_fd = -1;
    self->sync = sync;
    self->max_bytes = max_bytes;
    for (int table = 0; table < JOURNAL_TABLES; table++)
        self->pending [table] = s_change_table_new ();
    if (s_dir_prepare (self, dir) || s_lock (self)) {
        journal_destroy (&self);
        return NULL;
    }
    char path [4096];
    snprintf (path, sizeof path, "%s/data.mdb", self->dir);
    walk_t walk = { 0 };
    struct stat info;
    bool exists = stat (path, &info) == 0;
    /* What the tables claim can be believed up to this (a record takes
     * more than 16 bytes of the file). */
    uint64_t most = exists? (uint64_t) info.st_size / 16: 0;
    bool sound = !exists || s_walk (self->dir, max_bytes, &walk);
    int rc = sound? s_env_open (self): s_rebuild (self, &walk);
    if (rc == 0) {
        uint64_t missing = walk.expected > walk.count
                         ? walk.expected - walk.count: 0;
        self->stats.lost = missing > walk.damaged && missing <= most
                         ? missing: walk.damaged;
        if (self->stats.lost)
            zf_warning ("journal: %" PRIu64 " records could not be read",
                        self->stats.lost);
        for (size_t i = 0; i < walk.count; i++) {
            const salvaged_t *record = &walk.records [i];
            self->stats.records++;
            self->stats.bytes += 8 + record->size;
            if (restore)
                restore (arg, record->table, record->key, record->data,
                         record->size);
        }
    }
    for (size_t i = 0; i < walk.count; i++)
        free (walk.records [i].data);
    free (walk.records);
    if (rc)
        journal_destroy (&self);
    return self;
}

static void
s_remove_dir (const char *dir)
{
    const char *files [] = { "data.mdb", "lock.mdb", "journal.lock" };
    char path [4096];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf (path, sizeof path, "%s/%s", dir, files [i]);
        unlink (path);
    }
    rmdir (dir);
}

void
journal_destroy (journal_t **self_p)
{
    journal_t *self = *self_p;
    if (!self)
        return;
    if (self->env) {
        if (journal_is_dirty (self))
            journal_commit (self);
        if (self->sync != JOURNAL_SYNC_OFF)
            mdb_env_sync (self->env, 1);
        mdb_env_close (self->env);
    }
    for (int table = 0; table < JOURNAL_TABLES; table++)
        zhashx_destroy (&self->pending [table]);
    if (self->temporary && self->dir)
        s_remove_dir (self->dir);
    if (self->lock_fd >= 0)
        close (self->lock_fd);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

/* ---- changes ----------------------------------------------------------- */

static void
s_change (journal_t *self, int table, uint64_t key, void *data, size_t size)
{
    change_t *change = zf_malloc (sizeof *change);
    change->key = key;
    change->table = table;
    change->data = data;
    change->size = size;
    journal_forget (self, table, key);
    zhashx_insert (self->pending [table], &change->key, change);
    self->pending_bytes += data? size: 0;
}

void
journal_put (journal_t *self, int table, uint64_t key, void *data,
             size_t size)
{
    assert (data && table >= 0 && table < JOURNAL_TABLES);
    s_change (self, table, key, data, size);
}

void
journal_delete (journal_t *self, int table, uint64_t key)
{
    assert (table >= 0 && table < JOURNAL_TABLES);
    s_change (self, table, key, NULL, 0);
}

void
journal_forget (journal_t *self, int table, uint64_t key)
{
    change_t *old = zhashx_lookup (self->pending [table], &key);
    if (old) {
        self->pending_bytes -= old->data? old->size: 0;
        zhashx_delete (self->pending [table], &key);
    }
}

void *
journal_get (journal_t *self, int table, uint64_t key, size_t *size_p)
{
    const change_t *change = zhashx_lookup (self->pending [table], &key);
    if (change) {
        if (!change->data)
            return NULL;
        *size_p = change->size;
        void *copy = zf_malloc (change->size);
        memcpy (copy, change->data, change->size);
        return copy;
    }
    MDB_txn *txn;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return NULL;
    unsigned char bytes [8];
    s_key_encode (key, bytes);
    MDB_val k = { 8, bytes }, value;
    void *copy = NULL;
    if (mdb_get (txn, self->dbi [table], &k, &value) == 0) {
        copy = zf_malloc (value.mv_size? value.mv_size: 1);
        memcpy (copy, value.mv_data, value.mv_size);
        *size_p = value.mv_size;
    }
    mdb_txn_abort (txn);
    return copy;
}

int
journal_each (journal_t *self, int table, journal_each_fn *fn, void *arg)
{
    if (journal_is_dirty (self) && journal_commit (self))
        return -1;
    MDB_txn *txn;
    MDB_cursor *cursor;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return -1;
    if (mdb_cursor_open (txn, self->dbi [table], &cursor)) {
        mdb_txn_abort (txn);
        return -1;
    }
    MDB_val key, value;
    while (mdb_cursor_get (cursor, &key, &value, MDB_NEXT) == 0)
        if (key.mv_size == 8)
            fn (arg, table, s_key_decode (key.mv_data), value.mv_data,
                value.mv_size);
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    return 0;
}

bool
journal_has_room (journal_t *self, size_t size)
{
    return self->stats.bytes + self->pending_bytes + size <= self->max_bytes;
}

bool
journal_is_dirty (const journal_t *self)
{
    for (int table = 0; table < JOURNAL_TABLES; table++)
        if (zhashx_size (self->pending [table]))
            return true;
    return false;
}

/* Applies one change in txn, keeping count of records and bytes in
 * stats (the caller's copy, kept only if the commit succeeds). */
static int
s_apply (journal_t *self, MDB_txn *txn, const change_t *change,
         journal_stats_t *stats)
{
    unsigned char bytes [8];
    s_key_encode (change->key, bytes);
    MDB_val key = { 8, bytes }, old;
    MDB_dbi dbi = self->dbi [change->table];
    bool existed = mdb_get (txn, dbi, &key, &old) == 0;
    if (existed) {
        stats->records--;
        stats->bytes -= 8 + old.mv_size;
    }
    if (!change->data)
        return existed? mdb_del (txn, dbi, &key, NULL): 0;
    MDB_val value = { change->size, change->data };
    int rc = mdb_put (txn, dbi, &key, &value, 0);
    stats->records++;
    stats->bytes += 8 + change->size;
    return rc;
}

int
journal_commit (journal_t *self)
{
    if (!journal_is_dirty (self))
        return 0;
    journal_stats_t stats = self->stats;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    for (int table = 0; table < JOURNAL_TABLES && !rc; table++)
        for (change_t *change = zhashx_first (self->pending [table]);
             change && !rc; change = zhashx_next (self->pending [table]))
            rc = s_apply (self, txn, change, &stats);
    if (rc) {
        if (txn)
            mdb_txn_abort (txn);
    }
    else
        rc = mdb_txn_commit (txn);
    if (rc == 0 && self->sync == JOURNAL_SYNC_BATCH)
        rc = mdb_env_sync (self->env, 1);
    if (rc) {
        self->stats.write_errors++;
        /* LMDB says EIO for a short write, which is what a full disk
         * gives it: say what the operator can act on. */
        struct statvfs disk;
        bool full = statvfs (self->dir, &disk) == 0
                 && (uint64_t) disk.f_bavail * disk.f_frsize
                    < self->pending_bytes + ((uint64_t) 1 << 20);
        const char *why = full? strerror (ENOSPC): mdb_strerror (rc);
        if (!*self->error)
            zf_error ("journal: cannot write %s: %s", self->dir, why);
        snprintf (self->error, sizeof self->error, "journal cannot write: %s",
                  why);
        return -1;
    }
    if (*self->error)
        zf_notice ("journal: writing %s again", self->dir);
    *self->error = 0;
    stats.commits++;
    if (self->sync != JOURNAL_SYNC_OFF)
        stats.fsyncs++;
    self->stats = stats;
    for (int table = 0; table < JOURNAL_TABLES; table++)
        zhashx_purge (self->pending [table]);
    self->pending_bytes = 0;
    return 0;
}

const char *
journal_error (const journal_t *self)
{
    return self->error;
}

const journal_stats_t *
journal_stats (const journal_t *self)
{
    return &self->stats;
}

const char *
journal_dir (const journal_t *self)
{
    return self->dir;
}

static const char *const s_sync_names [] = {
    [JOURNAL_SYNC_ALWAYS] = "always",
    [JOURNAL_SYNC_BATCH] = "batch",
    [JOURNAL_SYNC_OFF] = "off",
};

int
journal_sync_from_name (const char *name)
{
    for (int sync = JOURNAL_SYNC_ALWAYS; sync <= JOURNAL_SYNC_OFF; sync++)
        if (streq (name, s_sync_names [sync]))
            return sync;
    return 0;
}

const char *
journal_sync_name (int sync)
{
    return sync >= JOURNAL_SYNC_ALWAYS && sync <= JOURNAL_SYNC_OFF
         ? s_sync_names [sync]: "?";
}
