/* test_chaos.c: 20,000 tasks through a farm that is being broken all along.
 *
 * The farm: a broker host with three local "sum" workers (--spawn), and two
 * worker hosts, each with two "sum" workers and two zfarm-worker
 * --processes pools: two "echo" workers (--module echo.so) and four "cat"
 * workers (--exec, a shell that sleeps 0-90 ms and runs cat), whose
 * service is the host's own ("cat1", "cat2"); 100 ms heartbeats
 * everywhere, and a liveness of five (with a sanitizer, on two cores
 * shared with a competing load, a process can be off the CPU for 300 ms,
 * while the broker should still walk its workers often). One client
 * keeps 1,500 tasks in flight, the cat ones in batches. Meanwhile a random
 * worker is SIGKILLed every 150-450 ms (the broker's pool replaces local
 * ones, the supervisors theirs, this test the remote "sum" workers),
 * another is paused (SIGSTOP) for 0.3-1.2 s every 1-3 s, a worker host's
 * link is cut for 1-2 s twice, and once the broker is SIGKILLed and
 * started again on the same address. On top of that, every 100-300 ms a
 * pool is hit: all of its workers are SIGKILLed at once, or one of them,
 * or one of them (a busy one, if any) is paused for 0.3-1.2 s. At the
 * end, the farm must be whole again.
 *
 * Killing all of a pool's workers while some are busy and some idle is
 * what finds a broker that frees a worker while a walk over its workers
 * still holds it: the heartbeat finds the first dead, requeues its task,
 * hands it to an idle sibling that is dead too and deletes that one in the
 * middle of the walk. So that kill, half of the pool events, waits (up to
 * 2 s) for a cat pool that is partly busy (a cat pool serves its service
 * alone), and spares workers younger than the pool's crash-loop
 * threshold, so that the supervisors replace them at once, never backing
 * off; cat tasks come in batches, so that a pool goes idle one worker at a
 * time and no new cat task comes in before the next heartbeat.
 *
 * Every payload is unique and every handler deterministic ("sum" answers
 * with the FNV-1a hash of the payload, after sleeping 3-12 ms by that hash;
 * "echo" and "cat" with the payload), so each result is checked against
 * its task. The test requires exactly one result per task id, each correct
 * and a success (--max-retries 20: no task may run out of retries), no
 * result for an id it did not submit, and it reports what the chaos cost.
 * A broker that dies by itself fails the test at once, with the end of
 * its log. On a slow machine the push stops after 35 s with fewer tasks.
 *
 * Heartbeat settings disagree: the echo pools are left at the workers'
 * default (500 ms x 3) and the cat pools run at 50 ms x 3, against the
 * broker's 100 ms x LIVENESS. The broker tells each worker its own as it
 * registers, and they use those; before it did, an idle echo worker was
 * silent longer than the broker allows and was declared lost again and
 * again. The report says how many workers were lost in a quiet spell after
 * the chaos. ZFARM_CHAOS_MISMATCH=0 gives every worker the broker's
 * settings instead.
 *
 * Run as "test_chaos --worker", the binary is a "sum" worker itself
 * (ZFARM_BROKER says where). ZFARM_CHAOS_SEED=N repeats a run's choices. */
#include "cluster.h"
#include "cli_json.c"           /* the status reader of the zfarm tool */
#include "zf_defaults.h"
#include <inttypes.h>

#define TASKS           20000       /* at most: see PUSH_LIMIT_MS */
#define WINDOW          1500        /* tasks in flight */
#define HOSTS           2
#define SUMS_PER_HOST   2           /* started (and replaced) by this test */
#define LOCAL_WORKERS   "3"
#define HEARTBEAT       "100"       /* ms, of the broker and the workers */
#define LIVENESS        "5"         /* heartbeats of silence: dead */
#define TASK_TIMEOUT_MS 90000       /* never reached in a sound run */
/* On a slow machine (a sanitizer, a competing load) the push ends after
 * PUSH_LIMIT_MS with fewer tasks, so that the test still ends well within
 * ctest's TIMEOUT; the chaos is paced by time as well as by tasks. */
#define PUSH_LIMIT_MS   35000       /* submitting stops then */
#define RUN_LIMIT_MS    70000       /* the push and the last results */
#define WHOLE_LIMIT_MS  20000       /* for the farm to be whole again */
#define STALL_LIMIT_MS  20000       /* no result for this long: work lost */
#define REMOTE_KILLS_MAX 150        /* each replacement is a harness child */
#define PAUSED_MAX      4           /* workers paused at once */
#define POOL_WORKERS_MAX 8          /* per pool */
#define GROUP_KILL_WAIT_MS 2000     /* for a pool that is partly busy */
#define GROUP_KILL_POLL_MS 50       /* how often to look meanwhile */
#define WATCHDOG_S      115         /* ctest's TIMEOUT is 120 */
#define BROKER_LAST_WORDS 8192      /* bytes of its log shown if it dies */
#define QUIET_MS        2000        /* watched without chaos, at the end */

/* ---- the tasks' kinds and the "sum" worker ---------------------------- */

typedef enum { KIND_SUM, KIND_ECHO, KIND_CAT, KINDS } kind_t;
static const char *const s_kind_names [KINDS] = { "sum", "echo", "cat" };

/* "cat" tasks come in batches, as zfarm map sends them, so that the cat
 * pools go from busy to idle and back, with no cat task coming in between;
 * of the others, one in four is "echo". */
#define CAT_EVERY       320
#define CAT_BATCH       8

static kind_t
s_kind (int index)
{
    if (index % CAT_EVERY < CAT_BATCH)
        return KIND_CAT;
    return index % 4 == 3? KIND_ECHO: KIND_SUM;
}

/* The service of a task. Each worker host's cat pool has a service of its
 * own ("cat1", "cat2"), so that a pool's idle workers are all the idle
 * workers of their service; the batches take turns. */
static const char *
s_service (int index, char *name, size_t size)
{
    if (s_kind (index) != KIND_CAT)
        return s_kind_names [s_kind (index)];
    snprintf (name, size, "cat%d", index / CAT_EVERY % HOSTS + 1);
    return name;
}

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
    int rc = zfarm_worker_set_heartbeat (worker, atoi (HEARTBEAT),
                                         atoi (LIVENESS))
           | zfarm_worker_register (worker, "sum", s_sum, NULL);
    if (rc == 0)
        rc = zfarm_worker_run (worker);
    zfarm_worker_destroy (&worker);
    return rc == 0? 0: 1;
}

/* ---- the farm ----------------------------------------------------------- */

/* A zfarm-worker --processes pool on each worker host. */
typedef struct {
    const char *service;        /* with the host's number after it, if */
    bool per_host;              /* each host's pool has a service of its own */
    const char *processes;
    const char *handler [2];    /* --module FILE or --exec COMMAND */
    const char *mismatched;     /* its own --heartbeat (with the default
                                   liveness), NULL for the workers'
                                   default */
} pool_spec_t;

/* "cat" waits 0 to 90 ms (by its shell's pid) before it copies, so that
 * the tasks of a batch end at different times. */
#define CAT_COMMAND "sleep 0.0$(($$ % 10)); exec cat"
#define POOLS_PER_HOST 2
static const pool_spec_t s_pool_specs [POOLS_PER_HOST] = {
    { "echo", false, "2", { "--module", NULL /* echo.so, at run time */ },
      NULL },
    { "cat",  true,  "4", { "--exec", CAT_COMMAND }, "50" },
};
#define POOLS (HOSTS * POOLS_PER_HOST)

typedef struct {
    pid_t pid;                  /* running, or 0 */
    int64_t respawn_at;         /* when to start a replacement, if pid 0 */
} slot_t;

/* What the pool chaos does next; a kill of all of a pool's workers comes
 * twice as often as the others. */
typedef enum {
    POOL_KILL_ALL, POOL_KILL_ONE, POOL_PAUSE, POOL_KILL_ALL_TOO, POOL_ACTIONS
} pool_action_t;

/* Who replaces a worker the chaos kills. */
typedef enum {
    VICTIM_NONE,                /* nobody we may signal */
    VICTIM_LOCAL,               /* a child of the broker: its pool */
    VICTIM_SUPERVISED,          /* a child of a supervisor: the supervisor */
    VICTIM_REMOTE               /* a child of this test: the test */
} victim_t;

typedef struct {
    pid_t pid;                  /* stopped, or 0 */
    pid_t parent;               /* its parent then, to tell a reused pid */
    victim_t kind;
    int64_t resume_at;
} paused_t;

/* The broker counters the report adds up across the broker's restart. */
static const char *const s_counter_names [] = {
    "submitted", "completed", "failed", "retried", "workers_joined",
    "workers_lost", "workers_replaced", "late_results_dropped" };
#define COUNTERS (sizeof s_counter_names / sizeof s_counter_names [0])

typedef struct {
    cluster_t *cluster;
    zfarm_client_t *client;     /* the one that submits */
    zfarm_client_t *watcher;    /* asks the broker for its status */
    char self_path [512];       /* this binary, the "sum" worker */
    uint64_t rng;               /* xorshift64 state */
    uint64_t seed;
    bool mismatch;              /* pools with heartbeats of their own (on
                                   unless ZFARM_CHAOS_MISMATCH=0) */

    char **payloads;            /* by task index */
    uint64_t *ids;              /* task id by task index */
    int *results;               /* results received, by task index */
    zhashx_t *index_of;         /* task id -> task index + 1 */
    int submitted;
    int received;
    int failed;                 /* results that were errors */
    int64_t last_result_at;
    int64_t started_at;         /* of the push */

    slot_t slots [HOSTS][SUMS_PER_HOST];
    pid_t pools [POOLS];        /* the supervisors, host by host */
    int64_t next_kill_at;
    int64_t next_stop_at;
    int64_t next_pool_at;
    int64_t pool_due_at;        /* when the next pool event fell due */
    pool_action_t pool_action;  /* and what it is */
    paused_t paused [PAUSED_MAX];
    int cut_host;               /* 0, or the host (1..HOSTS) cut off */
    int64_t restore_at;
    int cuts;
    bool broker_killed;
    long before [COUNTERS];     /* the first broker's, just before its kill */

    int kills_local;            /* by kind of victim */
    int kills_supervised;
    int kills_remote;
    int pool_kills;             /* workers killed by the pool chaos */
    int pool_group_kills;       /* of which, with all of a pool's at once */
    int stops;
    int pool_stops;
    int replaced_remote;
    long quiet_lost;            /* workers lost while nothing was broken */
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

/* The broker's status document (caller frees), or NULL. */
static char *
s_status_text (chaos_t *self)
{
    char *text = NULL;
    if (zfarm_client_status (self->watcher, 500, &text) != 0)
        return NULL;
    return text;
}

/* The same, parsed (caller destroys), or NULL. */
static json_t *
s_status (chaos_t *self)
{
    char *text = s_status_text (self);
    json_t *status = text? json_parse (text, strlen (text)): NULL;
    free (text);
    return status;
}

static long
s_counter (const json_t *status, const char *name)
{
    const json_t *counters = json_member (status, "counters");
    return (long) json_number (json_member (counters, name), -1);
}

/* A number in /proc/<pid>/stat: the field-th after the command name (the
 * state is the first, the parent the second), or -1. */
static long long
s_proc_stat (int pid, int field)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    char *stat = th_read_file (path, NULL);
    const char *at = stat? strrchr (stat, ')'): NULL;
    long long value = -1;
    for (int i = 0; at && i < field; i++)
        at = strchr (at + 1, ' ');
    if (at && sscanf (at + 1, "%lld", &value) != 1)
        value = -1;
    free (stat);
    return value;
}

/* The parent of pid, or 0. */
static int
s_parent_of (int pid)
{
    long long ppid = s_proc_stat (pid, 2);
    return ppid > 0? (int) ppid: 0;
}

/* How long pid has run, in ms (0 if unknown). */
static int64_t
s_age_ms (int pid)
{
    long long started = s_proc_stat (pid, 20);     /* ticks after boot */
    char *uptime = th_read_file ("/proc/uptime", NULL);
    double now = uptime? atof (uptime): 0;
    free (uptime);
    if (started < 0 || now <= 0)
        return 0;
    double age = now - (double) started / (double) sysconf (_SC_CLK_TCK);
    return age > 0? (int64_t) (age * 1000): 0;
}

/* The pool whose supervisor pid is, or -1. */
static int
s_pool_of (chaos_t *self, int pid)
{
    for (int pool = 0; pool < POOLS; pool++)
        if (pid && self->pools [pool] == pid)
            return pool;
    return -1;
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
    return s_pool_of (self, parent) >= 0? VICTIM_SUPERVISED: VICTIM_NONE;
}

/* ---- pausing -------------------------------------------------------- */

static paused_t *
s_paused_find (chaos_t *self, pid_t pid)
{
    for (int i = 0; i < PAUSED_MAX; i++)
        if (pid && self->paused [i].pid == pid)
            return &self->paused [i];
    return NULL;
}

static void
s_forget_stopped (chaos_t *self, pid_t pid)
{
    paused_t *paused = s_paused_find (self, pid);
    if (paused)
        paused->pid = 0;
}

static void
s_signal (pid_t pid, victim_t kind, int sig)
{
    if (kind == VICTIM_REMOTE)
        th_kill (pid, sig);
    else
        kill (pid, sig);
}

/* Pauses pid for 0.3 to 1.2 s, if fewer than PAUSED_MAX are. Returns true
 * if it did. */
static bool
s_pause (chaos_t *self, int pid, victim_t kind, int64_t now)
{
    if (s_paused_find (self, pid))
        return false;
    paused_t *paused = NULL;
    for (int i = 0; !paused && i < PAUSED_MAX; i++)
        if (!self->paused [i].pid)
            paused = &self->paused [i];
    if (!paused)
        return false;
    paused->pid = pid;
    paused->parent = s_parent_of (pid);
    paused->kind = kind;
    paused->resume_at = now + s_between (self, 300, 1200);
    s_signal (pid, kind, SIGSTOP);
    return true;
}

/* Resumes the paused workers whose time has come (all of them, if all),
 * unless their pid has gone to another process since. */
static void
s_resume (chaos_t *self, int64_t now, bool all)
{
    for (int i = 0; i < PAUSED_MAX; i++) {
        paused_t *paused = &self->paused [i];
        if (!paused->pid || (!all && now < paused->resume_at))
            continue;
        if (s_parent_of (paused->pid) == paused->parent)
            s_signal (paused->pid, paused->kind, SIGCONT);
        paused->pid = 0;
    }
}

/* ---- the chaos of single workers -------------------------------------- */

/* A random registered worker (0 if none), and its kind. */
static int
s_pick_worker (chaos_t *self, victim_t *kind_p)
{
    json_t *status = s_status (self);
    int pids [64];
    int count = 0;
    for (const json_t *worker = json_first (json_member (status, "workers"));
         worker && count < 64; worker = json_next (worker))
        pids [count++] = (int) json_number (json_member (worker, "pid"), 0);
    json_destroy (&status);
    if (count == 0)
        return 0;
    int pid = pids [s_random (self) % (uint64_t) count];
    *kind_p = pid? s_victim_kind (self, pid): VICTIM_NONE;
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
s_stop_one (chaos_t *self, int64_t now)
{
    victim_t kind = VICTIM_NONE;
    int pid = s_pick_worker (self, &kind);
    if (pid && s_pause (self, pid, kind, now))
        self->stops++;
}

/* ---- the chaos of pools --------------------------------------------- */

/* A pool's registered workers, as the broker's status shows them. */
typedef struct {
    int pids [POOL_WORKERS_MAX];
    bool busy [POOL_WORKERS_MAX];
    int count;
    int busy_count;
} pool_view_t;

/* Finds each pool's workers in status that are not paused and, if
 * old_only, old enough that their death does not count as a crash loop. */
static void
s_pool_views (chaos_t *self, const json_t *status, bool old_only,
              pool_view_t views [POOLS])
{
    memset (views, 0, POOLS * sizeof *views);
    for (const json_t *worker = json_first (json_member (status, "workers"));
         worker; worker = json_next (worker)) {
        int pid = (int) json_number (json_member (worker, "pid"), 0);
        int pool = pid? s_pool_of (self, s_parent_of (pid)): -1;
        if (pool < 0 || views [pool].count == POOL_WORKERS_MAX
        ||  s_paused_find (self, pid)
        ||  (old_only && s_age_ms (pid) <= ZF_POOL_YOUNG_MS))
            continue;
        const char *state = json_string (json_member (worker, "state"), "");
        bool busy = strcmp (state, "busy") == 0;
        pool_view_t *view = &views [pool];
        view->pids [view->count] = pid;
        view->busy [view->count++] = busy;
        view->busy_count += busy;
    }
}

static void
s_pool_kill_pids (chaos_t *self, const int *pids, int count)
{
    for (int i = 0; i < count; i++)
        if (kill (pids [i], SIGKILL) == 0)
            self->pool_kills++;
}

/* True if the pool is the only one that serves its service. */
static bool
s_pool_serves_alone (int pool)
{
    return s_pool_specs [pool % POOLS_PER_HOST].per_host;
}

/* SIGKILLs all the old workers of one pool at once: of a pool that is
 * partly busy and serves its service alone, for then the heartbeat that
 * finds a dead one must give its task to an idle sibling, dead as well.
 * Returns false to be called again a little later while no pool is so,
 * until last_chance; then it takes a pool that is partly busy, or any. */
static bool
s_pool_kill_all (chaos_t *self, const json_t *status, bool last_chance)
{
    pool_view_t views [POOLS];
    int alone [POOLS], alone_count = 0, partly [POOLS], partly_count = 0;
    s_pool_views (self, status, true, views);
    for (int pool = 0; pool < POOLS; pool++)
        if (views [pool].busy_count > 0
        &&  views [pool].busy_count < views [pool].count) {
            partly [partly_count++] = pool;
            if (s_pool_serves_alone (pool))
                alone [alone_count++] = pool;
        }
    if (alone_count == 0 && !last_chance)
        return false;
    int pool = alone_count? alone [s_random (self) % (uint64_t) alone_count]
             : partly_count? partly [s_random (self) % (uint64_t) partly_count]
             : (int) (s_random (self) % POOLS);
    s_pool_kill_pids (self, views [pool].pids, views [pool].count);
    if (views [pool].count > 1)
        self->pool_group_kills++;
    return true;
}

/* SIGKILLs one old worker of a pool. */
static void
s_pool_kill_one (chaos_t *self, const json_t *status)
{
    pool_view_t views [POOLS];
    s_pool_views (self, status, true, views);
    pool_view_t *view = &views [s_random (self) % POOLS];
    if (view->count)
        s_pool_kill_pids (self, &view->pids [s_random (self)
                                             % (uint64_t) view->count], 1);
}

/* Pauses a worker of a pool, a busy one if it has any, so that it holds a
 * task when the broker declares it dead. */
static void
s_pool_pause (chaos_t *self, const json_t *status, int64_t now)
{
    pool_view_t views [POOLS];
    s_pool_views (self, status, false, views);
    pool_view_t *view = &views [s_random (self) % POOLS];
    int chosen = -1;
    for (int i = 0, seen = 0; i < view->count; i++)
        if (view->busy [i] || view->busy_count == 0)
            if (s_random (self) % (uint64_t) ++seen == 0)
                chosen = i;     /* one of them, evenly */
    if (chosen >= 0
    &&  s_pause (self, view->pids [chosen], VICTIM_SUPERVISED, now))
        self->pool_stops++;
}

/* One pool event, every 100-300 ms: a kill of all of a pool's workers
 * (which waits up to GROUP_KILL_WAIT_MS for the right pool), of one, or a
 * pause. */
static void
s_pool_chaos (chaos_t *self, int64_t now)
{
    json_t *status = s_status (self);
    bool done = true;
    if (self->pool_action == POOL_KILL_ALL
    ||  self->pool_action == POOL_KILL_ALL_TOO)
        done = s_pool_kill_all (self, status,
                                now >= self->pool_due_at + GROUP_KILL_WAIT_MS);
    else
    if (self->pool_action == POOL_KILL_ONE)
        s_pool_kill_one (self, status);
    else
        s_pool_pause (self, status, now);
    json_destroy (&status);
    if (done) {
        self->pool_due_at = now + s_between (self, 100, 300);
        self->pool_action = (pool_action_t) (s_random (self) % POOL_ACTIONS);
    }
    self->next_pool_at = done? self->pool_due_at: now + GROUP_KILL_POLL_MS;
}

/* ---- the chaos of hosts and the broker -------------------------------- */

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
    json_t *status = NULL;
    for (int tries = 0; tries < 20 && !status; tries++)
        status = s_status (self);
    ASSERT (status);
    for (size_t i = 0; i < COUNTERS; i++)
        self->before [i] = s_counter (status, s_counter_names [i]);
    json_destroy (&status);
    /* The local workers die with it, paused ones too: their pids are not
     * to be signalled again. Paused remote ones live on, to be resumed. */
    for (int i = 0; i < PAUSED_MAX; i++)
        if (self->paused [i].kind == VICTIM_LOCAL)
            self->paused [i].pid = 0;
    cluster_broker_restart (self->cluster);
    self->broker_killed = true;
}

/* How far the push is, in percent: by results or by time, whichever is
 * further. */
static int
s_progress (chaos_t *self, int64_t now)
{
    int by_results = self->received * 100 / TASKS;
    int by_time = (int) ((now - self->started_at) * 100 / PUSH_LIMIT_MS);
    return by_results > by_time? by_results: by_time;
}

/* One turn of chaos: whatever has fallen due. */
static void
s_chaos (chaos_t *self)
{
    int64_t now = zclock_mono ();
    s_respawn (self, now, false);
    s_resume (self, now, false);
    if (now >= self->next_kill_at) {
        s_kill_one (self, now);
        self->next_kill_at = now + s_between (self, 150, 450);
    }
    if (now >= self->next_stop_at) {
        s_stop_one (self, now);
        self->next_stop_at = now + s_between (self, 1000, 3000);
    }
    if (now >= self->next_pool_at)
        s_pool_chaos (self, now);
    if (self->cut_host && now >= self->restore_at) {
        s_link (self, self->cut_host, true);
        self->cut_host = 0;
    }
    int progress = s_progress (self, now);
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
    char name [16];
    ASSERT_EQ (zfarm_client_submit (self->client,
                                    s_service (index, name, sizeof name),
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
    const char *kind = s_kind_names [s_kind (index)];
    if (++self->results [index] > 1)
        TEST_FAIL ("task %d (id %" PRIu64 ") got a second result", index, id);
    self->received++;
    self->last_result_at = zclock_mono ();
    if (zfarm_result_status (result) != 0) {
        if (self->failed++ < 10)
            fprintf (stderr, "chaos: task %d (%s) failed: %s: %s\n", index,
                     kind, zfarm_err_name (zfarm_result_status (result)),
                     zfarm_result_error (result));
        return;
    }
    size_t size;
    const char *data = zfarm_result_data (result, &size);
    const char *payload = self->payloads [index];
    char sum [17];
    snprintf (sum, sizeof sum, "%016" PRIx64,
              s_fnv1a (payload, strlen (payload)));
    const char *want = s_kind (index) == KIND_SUM? sum: payload;
    if (size != strlen (want) || memcmp (data, want, size) != 0)
        TEST_FAIL ("task %d (%s) answered \"%.*s\", expected \"%s\"", index,
                   kind, (int) size, data, want);
}

static void
s_report_missing (chaos_t *self)
{
    int shown = 0;
    for (int i = 0; i < self->submitted && shown < 20; i++)
        if (self->results [i] == 0) {
            fprintf (stderr, "chaos: no result for task %d (id %" PRIu64
                     ", %s)\n", i, self->ids [i], s_kind_names [s_kind (i)]);
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

/* A broker that died of something other than our SIGKILL fails the test
 * at once, with its last words (a sanitizer's report), rather than as a
 * stall 20 s later. */
static void
s_check_broker (chaos_t *self)
{
    if (th_alive (self->cluster->broker))
        return;
    char path [600];
    snprintf (path, sizeof path, "%s/broker.err", th_tmpdir ());
    size_t size = 0;
    char *log = th_read_file (path, &size);
    size_t tail = size > BROKER_LAST_WORDS? size - BROKER_LAST_WORDS: 0;
    fprintf (stderr, "chaos: the end of %s:\n%s\n", path, log? log + tail: "");
    free (log);
    fprintf (stderr, "chaos: logs are in %s (ZFARM_KEEP_TMP=1 keeps them)\n",
             th_tmpdir ());
    TEST_FAIL ("the broker died after %d of %d results; seed %" PRIu64,
               self->received, self->submitted, self->seed);
}

static void
s_run (chaos_t *self)
{
    int64_t start = self->started_at = zclock_mono ();
    self->last_result_at = start;
    bool pushing = true;
    while (pushing || self->received < self->submitted) {
        pushing = self->submitted < TASKS
               && zclock_mono () - start < PUSH_LIMIT_MS;
        while (pushing && self->submitted < TASKS
           &&  zfarm_client_pending (self->client) < WINDOW)
            s_submit (self);
        s_collect (self, 50);
        s_check_broker (self);
        s_chaos (self);
        int64_t now = zclock_mono ();
        if (now - self->last_result_at > STALL_LIMIT_MS
        ||  now - start > RUN_LIMIT_MS) {
            s_report_missing (self);
            TEST_FAIL ("%d of %d results after %.1f s (%s)", self->received,
                       self->submitted, (now - start) / 1000.0,
                       now - start > RUN_LIMIT_MS? "out of time"
                                                 : "no result for 20 s");
        }
    }
}

static int
s_farm_size (void)
{
    int size = HOSTS * SUMS_PER_HOST + atoi (LOCAL_WORKERS);
    for (int i = 0; i < POOLS_PER_HOST; i++)
        size += HOSTS * atoi (s_pool_specs [i].processes);
    return size;
}

/* Ends the chaos: the paused workers go on, the cut link comes back, the
 * killed are replaced, and all of them register again. */
static void
s_calm (chaos_t *self)
{
    s_resume (self, zclock_mono (), true);
    if (self->cut_host)
        s_link (self, self->cut_host, true);
    self->cut_host = 0;
    s_respawn (self, zclock_mono (), true);
    /* A pool that saw its workers die young waits up to 10 s to restart
     * one (back-off against crash loops). */
    if (!th_wait_workers (self->cluster->ipc, s_farm_size (),
                          WHOLE_LIMIT_MS)) {
        s_check_broker (self);
        TEST_FAIL ("the farm is not whole again %d s after the chaos: %s",
                   WHOLE_LIMIT_MS / 1000, s_status_text (self));
    }
}

/* Counts the workers the broker declares lost in QUIET_MS with no chaos.
 * Not asserted: on a loaded machine a heartbeat can be late by more than
 * the liveness allows. */
static void
s_watch_quiet (chaos_t *self)
{
    json_t *status = s_status (self);
    long before = s_counter (status, "workers_lost");
    json_destroy (&status);
    zclock_sleep (QUIET_MS);
    status = s_status (self);
    self->quiet_lost = s_counter (status, "workers_lost") - before;
    json_destroy (&status);
}

static void
s_start_pool (chaos_t *self, int host, const pool_spec_t *spec)
{
    char name [16], service [32];
    snprintf (name, sizeof name, "w%d", host + 1);
    snprintf (service, sizeof service, "%s%.0d", spec->service,
              spec->per_host? host + 1: 0);
    const char *args [12] = { "--processes", spec->processes, "--service",
                              service, spec->handler [0],
                              spec->handler [1]? spec->handler [1]
                                               : th_module ("echo.so") };
    int argc = 6;
    const char *heartbeat = self->mismatch? spec->mismatched: HEARTBEAT;
    if (heartbeat) {
        args [argc++] = "--heartbeat";
        args [argc++] = heartbeat;
    }
    if (!self->mismatch) {
        args [argc++] = "--liveness";
        args [argc++] = LIVENESS;
    }
    args [argc] = NULL;
    self->pools [host * POOLS_PER_HOST + (int) (spec - s_pool_specs)] =
        cluster_worker_start (self->cluster, name, args);
}

static void
s_start_farm (chaos_t *self)
{
    static char worker_cmd [600];
    snprintf (worker_cmd, sizeof worker_cmd, "exec '%s' --worker",
              self->self_path);
    const char *broker [] = { "--heartbeat", HEARTBEAT, "--max-retries", "20",
                              "--spawn", LOCAL_WORKERS, "--worker-cmd",
                              worker_cmd, "--liveness", LIVENESS, NULL };
    cluster_broker_start (self->cluster, broker);
    for (int host = 0; host < HOSTS; host++) {
        for (int i = 0; i < POOLS_PER_HOST; i++)
            s_start_pool (self, host, &s_pool_specs [i]);
        for (int i = 0; i < SUMS_PER_HOST; i++)
            s_slot_start (self, host, i);
    }
    if (!th_wait_workers (self->cluster->ipc, s_farm_size (), 30000))
        TEST_FAIL ("the farm's %d workers did not register in 30 s: %s",
                   s_farm_size (), s_status_text (self));
}

static void
s_report (chaos_t *self, double seconds)
{
    json_t *status = s_status (self);
    ASSERT (status);
    int kinds [KINDS] = { 0 };
    for (int i = 0; i < self->submitted; i++)
        kinds [s_kind (i)]++;
    printf ("chaos: seed %" PRIu64 ", %d tasks (%d sum, %d echo, %d cat)%s, "
            "window %d, heartbeats %s\n", self->seed, self->submitted,
            kinds [KIND_SUM], kinds [KIND_ECHO], kinds [KIND_CAT],
            self->submitted < TASKS? " (the push ran out of time)": "", WINDOW,
            self->mismatch? "mismatched (broker " HEARTBEAT " ms x " LIVENESS ", echo "
                            "pools 500 ms x 3, cat pools 50 ms x 3, sum "
                            "workers " HEARTBEAT " ms x " LIVENESS ")"
                          : "all " HEARTBEAT " ms x " LIVENESS);
    printf ("chaos: %d results, exactly one per task, all correct; "
            "0 failed, 0 duplicates, 0 unknown ids\n", self->received);
    int kills = self->kills_local + self->kills_supervised
              + self->kills_remote + self->pool_kills;
    printf ("chaos: faults: %d workers SIGKILLed (%d local, %d under "
            "supervisors, %d other remote; %d more in pools, %d times all of "
            "a pool at once), %d SIGSTOP/SIGCONT (%d of pool workers), %d "
            "link cuts, 1 broker SIGKILL + restart\n", kills,
            self->kills_local, self->kills_supervised, self->kills_remote,
            self->pool_kills, self->pool_group_kills,
            self->stops + self->pool_stops, self->pool_stops, self->cuts);
    printf ("chaos: broker counters, before its kill + after it:\n");
    long total [COUNTERS];
    for (size_t i = 0; i < COUNTERS; i++) {
        long after = s_counter (status, s_counter_names [i]);
        total [i] = self->before [i] + after;
        printf ("chaos:   %-21s %6ld + %6ld = %6ld\n", s_counter_names [i],
                self->before [i], after, total [i]);
    }
    printf ("chaos: replacements: %ld by the broker's pool, %d by the "
            "--processes supervisors, %d by this test; the farm is whole "
            "again (%d workers)\n", total [6], self->kills_supervised
            + self->pool_kills, self->replaced_remote, s_farm_size ());
    printf ("chaos: %ld workers declared lost in %.1f s with no chaos "
            "after it (not asserted)\n", self->quiet_lost, QUIET_MS / 1000.0);
    printf ("chaos: wall time %.1f s, %.0f tasks/s\n", seconds,
            self->submitted / seconds);
    /* One line for tests/stress.sh to add up. */
    printf ("chaos: totals: tasks %d kills %d pauses %d restarts 1 "
            "retries %ld cuts %d\n", self->submitted, kills,
            self->stops + self->pool_stops, total [3], self->cuts);
    fflush (stdout);
    json_destroy (&status);
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
    const char *mismatch = getenv ("ZFARM_CHAOS_MISMATCH");
    self->mismatch = !mismatch || strcmp (mismatch, "0") != 0;
    s_make_payloads (self);
    self->ids = calloc (TASKS, sizeof *self->ids);
    self->results = calloc (TASKS, sizeof *self->results);
    self->index_of = zhashx_new ();
    ASSERT (self->ids && self->results && self->index_of);
    zhashx_set_key_hasher (self->index_of, s_id_hash);
    zhashx_set_key_comparator (self->index_of, s_id_compare);
    zhashx_set_key_duplicator (self->index_of, NULL);
    zhashx_set_key_destructor (self->index_of, NULL);

    self->watcher = zfarm_client_new (self->cluster->ipc);
    ASSERT (self->watcher);
    s_start_farm (self);
    self->client = zfarm_client_new (self->cluster->ipc);
    ASSERT (self->client);
    int64_t now = zclock_mono ();
    self->next_kill_at = now + 200;
    self->next_stop_at = now + 1000;
    self->next_pool_at = self->pool_due_at = now + 300;

    s_run (self);
    double seconds = (zclock_mono () - now) / 1000.0;
    s_calm (self);
    s_watch_quiet (self);

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
