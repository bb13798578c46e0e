/* test_chaos.c: 20,000 tasks through a farm that is being broken all along.
 *
 * The farm: a broker host with three local "sum" workers (--spawn), and two
 * worker hosts, each with two "sum" workers and a zfarm-worker --processes
 * supervisor of two "echo" workers; 100 ms heartbeats everywhere. One
 * client keeps 1,500 tasks in flight. Meanwhile a random worker is
 * SIGKILLed every 150-450 ms (the broker's pool replaces local ones, the
 * supervisors theirs, this test the remote "sum" workers), another is
 * paused (SIGSTOP) for 0.3-1.2 s every 1-3 s, a worker host's link is cut
 * for 1-2 s twice, and once the broker is SIGKILLed and started again on
 * the same address. At the end, the farm must be whole again.
 *
 * Every payload is unique and every handler deterministic ("sum" answers
 * with the FNV-1a hash of the payload, after sleeping 3-12 ms by that hash;
 * "echo" with the payload), so each result is checked against its task.
 * The test requires exactly one result per task id, each correct and a
 * success (--max-retries 20: no task may run out of retries), no result
 * for an id it did not submit, and it reports what the chaos cost.
 *
 * Run as "test_chaos --worker", the binary is a "sum" worker itself
 * (ZFARM_BROKER says where). ZFARM_CHAOS_SEED=N repeats a run's choices. */
#include "cluster.h"
#include <inttypes.h>

#define TASKS           20000
#define ECHO_EVERY      4           /* every fourth task is an "echo" */
#define WINDOW          1500        /* tasks in flight */
#define HOSTS           2
#define SUMS_PER_HOST   2           /* started (and replaced) by this test */
#define ECHOS_PER_HOST  "2"         /* under a --processes supervisor */
#define LOCAL_WORKERS   "3"
#define HEARTBEAT       "100"
#define TASK_TIMEOUT_MS 90000       /* never reached in a sound run */
#define RUN_LIMIT_MS    100000      /* the whole push */
#define STALL_LIMIT_MS  30000       /* no result for this long: work lost */
#define REMOTE_KILLS_MAX 150        /* each replacement is a harness child */
#define WATCHDOG_S      115         /* ctest's TIMEOUT is 120 */

/* ---- the "sum" worker ------------------------------------------------- */

static uint64_t
s_fnv1a (const void *data, size_t size)
{
    const unsigned char *bytes = data;
    uint64_t hash = 14695981039346656037ULL;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ bytes [i]) * 1099511628211ULL;
    return hash;
}

static int
s_sum (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const void *data = zfarm_task_data (task, &size);
    uint64_t hash = s_fnv1a (data, size);
    zclock_sleep (3 + (int) (hash % 10));
    char text [17];
    snprintf (text, sizeof text, "%016" PRIx64, hash);
    return zfarm_task_reply (task, text, 16);
}

static int
s_worker_main (void)
{
    zfarm_worker_t *worker = zfarm_worker_new (NULL);
    if (!worker)
        return 2;
    int rc = zfarm_worker_set_heartbeat (worker, atoi (HEARTBEAT), 3)
           | zfarm_worker_register (worker, "sum", s_sum, NULL);
    if (rc == 0)
        rc = zfarm_worker_run (worker);
    zfarm_worker_destroy (&worker);
    return rc == 0? 0: 1;
}

/* ---- the farm and its chaos ------------------------------------------- */

typedef struct {
    pid_t pid;                  /* running, or 0 */
    int64_t respawn_at;         /* when to start a replacement, if pid 0 */
} slot_t;

/* The broker counters the report adds up across the broker's restart. */
static const char *const s_counter_names [] = {
    "submitted", "completed", "failed", "retried", "workers_joined",
    "workers_lost", "workers_replaced", "late_results_dropped" };
#define COUNTERS (sizeof s_counter_names / sizeof s_counter_names [0])

/* Who replaces a worker the chaos kills. */
typedef enum {
    VICTIM_NONE,                /* nobody we may signal */
    VICTIM_LOCAL,               /* a child of the broker: its pool */
    VICTIM_SUPERVISED,          /* a child of a supervisor: the supervisor */
    VICTIM_REMOTE               /* a child of this test: the test */
} victim_t;

typedef struct {
    cluster_t *cluster;
    zfarm_client_t *client;     /* the one that submits */
    zfarm_client_t *watcher;    /* asks the broker for its status */
    char self_path [512];       /* this binary, the "sum" worker */
    uint64_t rng;               /* xorshift64 state */
    uint64_t seed;

    char **payloads;            /* by task index */
    uint64_t *ids;              /* task id by task index */
    int *results;               /* results received, by task index */
    zhashx_t *index_of;         /* task id -> task index + 1 */
    int submitted;
    int received;
    int failed;                 /* results that were errors */
    int64_t last_result_at;

    slot_t slots [HOSTS][SUMS_PER_HOST];
    pid_t supervisors [HOSTS];  /* zfarm-worker --processes, per host */
    int64_t next_kill_at;
    int64_t next_stop_at;
    pid_t stopped;              /* paused worker, or 0 */
    victim_t stopped_kind;      /* and what kind of worker it is */
    int64_t resume_at;
    int cut_host;               /* 0, or the host (1..HOSTS) cut off */
    int64_t restore_at;
    int cuts;
    bool broker_killed;
    long before [COUNTERS];     /* the first broker's, just before its kill */

    int kills_local;            /* by kind of victim */
    int kills_supervised;
    int kills_remote;
    int stops;
    int replaced_remote;
} chaos_t;

static uint64_t
s_random (chaos_t *self)
{
    self->rng ^= self->rng << 13;
    self->rng ^= self->rng >> 7;
    self->rng ^= self->rng << 17;
    return self->rng;
}

static int
s_between (chaos_t *self, int low, int high)
{
    return low + (int) (s_random (self) % (uint64_t) (high - low + 1));
}

/* The remote worker slot that pid runs in, or NULL. */
static slot_t *
s_slot_of (chaos_t *self, pid_t pid)
{
    for (int host = 0; host < HOSTS; host++)
        for (int i = 0; i < SUMS_PER_HOST; i++)
            if (self->slots [host][i].pid == pid)
                return &self->slots [host][i];
    return NULL;
}

static char *
s_status (chaos_t *self)
{
    char *json = NULL;
    if (zfarm_client_status (self->watcher, 500, &json) != 0)
        return NULL;
    return json;
}

static long
s_counter (const char *json, const char *name)
{
    const char *counters = json? strstr (json, "\"counters\":"): NULL;
    char key [64];
    snprintf (key, sizeof key, "\"%s\":", name);
    const char *at = counters? strstr (counters, key): NULL;
    return at? atol (at + strlen (key)): -1;
}

/* The parent of pid, or 0. */
static int
s_parent_of (int pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    char *stat = th_read_file (path, NULL);
    const char *end = stat? strrchr (stat, ')'): NULL;
    int ppid = 0;
    if (end && sscanf (end + 1, " %*c %d", &ppid) != 1)
        ppid = 0;
    free (stat);
    return ppid;
}

/* What kind of worker pid is. The broker's status names the workers, but
 * one may have died since and its pid gone to another process, so each is
 * checked to be a child of the broker, of a supervisor, or of this test. */
static victim_t
s_victim_kind (chaos_t *self, int pid)
{
    if (s_slot_of (self, pid))
        return VICTIM_REMOTE;
    int parent = s_parent_of (pid);
    if (parent && parent == self->cluster->broker)
        return VICTIM_LOCAL;
    for (int host = 0; host < HOSTS; host++)
        if (parent && parent == self->supervisors [host])
            return VICTIM_SUPERVISED;
    return VICTIM_NONE;
}

/* A random registered worker (0 if none), and its kind. */
static int
s_pick_worker (chaos_t *self, victim_t *kind_p)
{
    char *json = s_status (self);
    const char *at = json? strstr (json, "\"workers\":["): NULL;
    const char *end = at? strstr (at, "],\"services\""): NULL;
    int pids [64];
    int count = 0;
    while (at && end && count < 64) {
        at = strstr (at, "{\"id\":");
        if (!at || at > end)
            break;
        const char *pid = strstr (at, "\"pid\":");
        if (!pid || pid > end)
            break;
        pids [count++] = atoi (pid + 6);
        at = pid;
    }
    free (json);
    if (count == 0)
        return 0;
    int pid = pids [s_random (self) % (uint64_t) count];
    *kind_p = s_victim_kind (self, pid);
    return *kind_p == VICTIM_NONE? 0: pid;
}

static void
s_slot_start (chaos_t *self, int host, int index)
{
    char name [16], log [32];
    snprintf (name, sizeof name, "w%d", host + 1);
    snprintf (log, sizeof log, "%s.sum%d", name, index);
    const char *argv [] = { self->self_path, "--worker", NULL };
    slot_t *slot = &self->slots [host][index];
    slot->pid = cluster_spawn (self->cluster, name, log, argv);
    slot->respawn_at = 0;
}

/* Starts the replacements that have fallen due (all of them, if all). */
static void
s_respawn (chaos_t *self, int64_t now, bool all)
{
    for (int host = 0; host < HOSTS; host++)
        for (int i = 0; i < SUMS_PER_HOST; i++)
            if (!self->slots [host][i].pid
            &&  (all || now >= self->slots [host][i].respawn_at)) {
                s_slot_start (self, host, i);
                self->replaced_remote++;
            }
}

static void
s_forget_stopped (chaos_t *self, pid_t pid)
{
    if (self->stopped == pid)
        self->stopped = 0;
}

static void
s_kill_one (chaos_t *self, int64_t now)
{
    victim_t kind = VICTIM_NONE;
    int pid = s_pick_worker (self, &kind);
    if (!pid || (kind == VICTIM_REMOTE
                 && self->kills_remote >= REMOTE_KILLS_MAX))
        return;
    s_forget_stopped (self, pid);
    if (kind == VICTIM_REMOTE) {
        slot_t *slot = s_slot_of (self, pid);
        cluster_kill (self->cluster, pid);
        slot->pid = 0;
        slot->respawn_at = now + s_between (self, 50, 300);
        self->kills_remote++;
    }
    else
    if (kill (pid, SIGKILL) == 0) {
        if (kind == VICTIM_LOCAL)
            self->kills_local++;
        else
            self->kills_supervised++;
    }
}

static void
s_signal (pid_t pid, bool ours, int sig)
{
    if (ours)
        th_kill (pid, sig);
    else
        kill (pid, sig);
}

static void
s_stop_one (chaos_t *self, int64_t now)
{
    victim_t kind = VICTIM_NONE;
    int pid = s_pick_worker (self, &kind);
    if (!pid)
        return;
    self->stopped = pid;
    self->stopped_kind = kind;
    s_signal (pid, kind == VICTIM_REMOTE, SIGSTOP);
    self->resume_at = now + s_between (self, 300, 1200);
    self->stops++;
}

static void
s_resume (chaos_t *self)
{
    if (self->stopped)
        s_signal (self->stopped, self->stopped_kind == VICTIM_REMOTE, SIGCONT);
    self->stopped = 0;
}

static void
s_link (chaos_t *self, int host, bool up)
{
    char name [16];
    snprintf (name, sizeof name, "w%d", host);
    cluster_link (self->cluster, name, up);
}

static void
s_kill_broker (chaos_t *self)
{
    char *json = NULL;
    for (int tries = 0; tries < 20 && !json; tries++)
        json = s_status (self);
    ASSERT (json);
    for (size_t i = 0; i < COUNTERS; i++)
        self->before [i] = s_counter (json, s_counter_names [i]);
    free (json);
    /* The local workers die with it, a paused one too: its pid is not to
     * be signalled again. A paused remote one lives on, to be resumed. */
    if (self->stopped && self->stopped_kind == VICTIM_LOCAL)
        self->stopped = 0;
    cluster_broker_restart (self->cluster);
    self->broker_killed = true;
}

/* One turn of chaos: whatever has fallen due. */
static void
s_chaos (chaos_t *self)
{
    int64_t now = zclock_mono ();
    s_respawn (self, now, false);
    if (now >= self->next_kill_at) {
        s_kill_one (self, now);
        self->next_kill_at = now + s_between (self, 150, 450);
    }
    if (self->stopped && now >= self->resume_at)
        s_resume (self);
    if (!self->stopped && now >= self->next_stop_at) {
        s_stop_one (self, now);
        self->next_stop_at = now + s_between (self, 1000, 3000);
    }
    if (self->cut_host && now >= self->restore_at) {
        s_link (self, self->cut_host, true);
        self->cut_host = 0;
    }
    int progress = self->received * 100 / TASKS;
    if (!self->cut_host && ((self->cuts == 0 && progress >= 20)
                        ||  (self->cuts == 1 && progress >= 65))) {
        self->cut_host = s_between (self, 1, HOSTS);
        s_link (self, self->cut_host, false);
        self->restore_at = now + s_between (self, 1000, 2000);
        self->cuts++;
    }
    if (!self->broker_killed && !self->cut_host && progress >= 45)
        s_kill_broker (self);
}

/* ---- the tasks ---------------------------------------------------------- */

static size_t
s_id_hash (const void *key)
{
    return (size_t) *(const uint64_t *) key;
}

static int
s_id_compare (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

static bool
s_is_echo (int index)
{
    return index % ECHO_EVERY == ECHO_EVERY - 1;
}

/* Unique payloads of 20 to 83 bytes. */
static void
s_make_payloads (chaos_t *self)
{
    self->payloads = calloc (TASKS, sizeof *self->payloads);
    ASSERT (self->payloads);
    for (int i = 0; i < TASKS; i++) {
        char text [128];
        int size = snprintf (text, sizeof text, "task %05d of run %016" PRIx64
                             " ", i, self->seed);
        int extra = (int) (s_random (self) % 64);
        for (int k = 0; k < extra; k++)
            text [size++] = (char) ('a' + s_random (self) % 26);
        text [size] = 0;
        self->payloads [i] = strdup (text);
    }
}

static void
s_submit (chaos_t *self)
{
    int index = self->submitted;
    const char *payload = self->payloads [index];
    uint64_t id;
    ASSERT_EQ (zfarm_client_submit (self->client,
                                    s_is_echo (index)? "echo": "sum",
                                    payload, strlen (payload),
                                    TASK_TIMEOUT_MS, &id), 0);
    self->ids [index] = id;
    ASSERT (zhashx_insert (self->index_of, &self->ids [index],
                           (void *) (intptr_t) (index + 1)) == 0);
    self->submitted++;
}

static void
s_check (chaos_t *self, zfarm_result_t *result)
{
    uint64_t id = zfarm_result_task_id (result);
    intptr_t found = (intptr_t) zhashx_lookup (self->index_of, &id);
    if (!found)
        TEST_FAIL ("a result for task id %" PRIu64 ", never submitted", id);
    int index = (int) found - 1;
    if (++self->results [index] > 1)
        TEST_FAIL ("task %d (id %" PRIu64 ") got a second result", index, id);
    self->received++;
    self->last_result_at = zclock_mono ();
    if (zfarm_result_status (result) != 0) {
        if (self->failed++ < 10)
            fprintf (stderr, "chaos: task %d (%s) failed: %s: %s\n", index,
                     s_is_echo (index)? "echo": "sum",
                     zfarm_err_name (zfarm_result_status (result)),
                     zfarm_result_error (result));
        return;
    }
    size_t size;
    const char *data = zfarm_result_data (result, &size);
    const char *payload = self->payloads [index];
    char sum [17];
    snprintf (sum, sizeof sum, "%016" PRIx64,
              s_fnv1a (payload, strlen (payload)));
    const char *want = s_is_echo (index)? payload: sum;
    if (size != strlen (want) || memcmp (data, want, size) != 0)
        TEST_FAIL ("task %d (%s) answered \"%.*s\", expected \"%s\"", index,
                   s_is_echo (index)? "echo": "sum", (int) size, data, want);
}

static void
s_report_missing (chaos_t *self)
{
    int shown = 0;
    for (int i = 0; i < self->submitted && shown < 20; i++)
        if (self->results [i] == 0) {
            fprintf (stderr, "chaos: no result for task %d (id %" PRIu64
                     ", %s)\n", i, self->ids [i], s_is_echo (i)? "echo": "sum");
            shown++;
        }
    fprintf (stderr, "chaos: logs are in %s (ZFARM_KEEP_TMP=1 keeps them); "
             "seed %" PRIu64 "\n", th_tmpdir (), self->seed);
}

/* Takes every result that has arrived, waiting at most timeout_ms for the
 * first. */
static void
s_collect (chaos_t *self, int timeout_ms)
{
    for (int count = 0; count < WINDOW; count++) {
        zfarm_result_t *result = NULL;
        int rc = zfarm_client_wait (self->client, count? 0: timeout_ms,
                                    &result);
        if (rc == ZFARM_ETIMEOUT || rc == ZFARM_ENOT_FOUND)
            return;
        ASSERT_EQ (rc, 0);
        s_check (self, result);
        zfarm_result_destroy (&result);
    }
}

static void
s_run (chaos_t *self)
{
    int64_t start = zclock_mono ();
    self->last_result_at = start;
    while (self->received < TASKS) {
        while (self->submitted < TASKS
           &&  zfarm_client_pending (self->client) < WINDOW)
            s_submit (self);
        s_collect (self, 50);
        s_chaos (self);
        int64_t now = zclock_mono ();
        if (now - self->last_result_at > STALL_LIMIT_MS
        ||  now - start > RUN_LIMIT_MS) {
            s_report_missing (self);
            TEST_FAIL ("%d of %d results after %.1f s (%s)", self->received,
                       TASKS, (now - start) / 1000.0,
                       now - start > RUN_LIMIT_MS? "out of time"
                                                 : "no result for 30 s");
        }
    }
}

static int
s_farm_size (void)
{
    return HOSTS * (SUMS_PER_HOST + atoi (ECHOS_PER_HOST))
         + atoi (LOCAL_WORKERS);
}

/* Ends the chaos: the paused worker goes on, the cut link comes back, the
 * killed are replaced, and all of them register again. */
static void
s_calm (chaos_t *self)
{
    s_resume (self);
    if (self->cut_host)
        s_link (self, self->cut_host, true);
    self->cut_host = 0;
    s_respawn (self, zclock_mono (), true);
    /* A pool that saw its workers die young waits up to 10 s to restart
     * one (back-off against crash loops). */
    if (!th_wait_workers (self->cluster->ipc, s_farm_size (), 30000))
        TEST_FAIL ("the farm is not whole again 30 s after the chaos: %s",
                   s_status (self));
}

static void
s_start_farm (chaos_t *self)
{
    static char worker_cmd [600];
    snprintf (worker_cmd, sizeof worker_cmd, "exec '%s' --worker",
              self->self_path);
    const char *broker [] = { "--heartbeat", HEARTBEAT, "--max-retries", "20",
                              "--spawn", LOCAL_WORKERS, "--worker-cmd",
                              worker_cmd, NULL };
    cluster_broker_start (self->cluster, broker);
    const char *echo [] = { "--processes", ECHOS_PER_HOST, "--service",
                            "echo", "--module", th_module ("echo.so"),
                            "--heartbeat", HEARTBEAT, NULL };
    for (int host = 0; host < HOSTS; host++) {
        char name [16];
        snprintf (name, sizeof name, "w%d", host + 1);
        self->supervisors [host] = cluster_worker_start (self->cluster, name,
                                                         echo);
        for (int i = 0; i < SUMS_PER_HOST; i++)
            s_slot_start (self, host, i);
    }
    ASSERT (th_wait_workers (self->cluster->ipc, s_farm_size (), 30000));
}

static void
s_report (chaos_t *self, double seconds)
{
    char *json = s_status (self);
    ASSERT (json);
    printf ("chaos: seed %" PRIu64 ", %d tasks (%d sum, %d echo), window %d\n",
            self->seed, TASKS, TASKS - TASKS / ECHO_EVERY, TASKS / ECHO_EVERY,
            WINDOW);
    printf ("chaos: %d results, exactly one per task, all correct; "
            "0 failed, 0 duplicates, 0 unknown ids\n", self->received);
    printf ("chaos: faults: %d workers SIGKILLed (%d local, %d under "
            "supervisors, %d other remote), %d SIGSTOP/SIGCONT, %d link cuts, "
            "1 broker SIGKILL + restart\n", self->kills_local
            + self->kills_supervised + self->kills_remote, self->kills_local,
            self->kills_supervised, self->kills_remote, self->stops,
            self->cuts);
    printf ("chaos: broker counters, before its kill + after it:\n");
    long replaced = 0;
    for (size_t i = 0; i < COUNTERS; i++) {
        long after = s_counter (json, s_counter_names [i]);
        printf ("chaos:   %-21s %6ld + %6ld = %6ld\n", s_counter_names [i],
                self->before [i], after, self->before [i] + after);
        if (strcmp (s_counter_names [i], "workers_replaced") == 0)
            replaced = self->before [i] + after;
    }
    printf ("chaos: replacements: %ld by the broker's pool, %d by the "
            "--processes supervisors, %d by this test; the farm is whole "
            "again (%d workers)\n", replaced, self->kills_supervised,
            self->replaced_remote, s_farm_size ());
    printf ("chaos: wall time %.1f s, %.0f tasks/s\n", seconds,
            TASKS / seconds);
    fflush (stdout);
    free (json);
}

int
main (int argc, char *argv [])
{
    if (argc > 1 && strcmp (argv [1], "--worker") == 0)
        return s_worker_main ();

    chaos_t *self = calloc (1, sizeof *self);
    ASSERT (self);
    self->cluster = cluster_up ("test_chaos", HOSTS, WATCHDOG_S);
    ssize_t size = readlink ("/proc/self/exe", self->self_path,
                             sizeof self->self_path - 1);
    ASSERT (size > 0);
    const char *seed = getenv ("ZFARM_CHAOS_SEED");
    self->seed = seed? strtoull (seed, NULL, 10)
                     : (uint64_t) zclock_time () ^ (uint64_t) getpid ();
    self->rng = self->seed? self->seed: 1;
    s_make_payloads (self);
    self->ids = calloc (TASKS, sizeof *self->ids);
    self->results = calloc (TASKS, sizeof *self->results);
    self->index_of = zhashx_new ();
    ASSERT (self->ids && self->results && self->index_of);
    zhashx_set_key_hasher (self->index_of, s_id_hash);
    zhashx_set_key_comparator (self->index_of, s_id_compare);
    zhashx_set_key_duplicator (self->index_of, NULL);
    zhashx_set_key_destructor (self->index_of, NULL);

    s_start_farm (self);
    self->client = zfarm_client_new (self->cluster->ipc);
    self->watcher = zfarm_client_new (self->cluster->ipc);
    ASSERT (self->client && self->watcher);
    int64_t now = zclock_mono ();
    self->next_kill_at = now + 200;
    self->next_stop_at = now + 1000;

    s_run (self);
    double seconds = (zclock_mono () - now) / 1000.0;
    s_calm (self);

    /* Nothing pending, nothing more to come. */
    ASSERT_EQ (zfarm_client_pending (self->client), 0);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (self->client, 500, &result),
               ZFARM_ENOT_FOUND);
    if (self->failed)
        TEST_FAIL ("%d tasks failed (see above); seed %" PRIu64, self->failed,
                   self->seed);
    ASSERT (self->broker_killed);
    ASSERT_EQ (self->cuts, 2);
    s_report (self, seconds);

    zfarm_client_destroy (&self->client);
    zfarm_client_destroy (&self->watcher);
    zhashx_destroy (&self->index_of);
    for (int i = 0; i < TASKS; i++)
        free (self->payloads [i]);
    free (self->payloads);
    free (self->ids);
    free (self->results);
    free (self->cluster);
    free (self);
    TEST_PASS ("test_chaos");
    return 0;
}
