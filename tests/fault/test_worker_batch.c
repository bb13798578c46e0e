/* test_worker_batch.c: zfarm-worker as a batch scheduler runs it: it
 * leaves when idle (--idle-exit), gives up on brokers it cannot reach
 * (--give-up-after), and drains before a deadline (SIGUSR1, --stop-at):
 * the broker sends a draining worker nothing more, the tasks in hand
 * finish, and the worker exits 0. The same for a --processes supervisor.
 * And the deploy/slurm example, run through a stub sbatch. */
#include "harness.h"
#include "zf_pool.h"
#include "zfarm.h"
#include <czmq.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* The brokers here find a worker gone by its DISCONNECT or its closed
 * connection, not by silence: 20 heartbeats (10 s) of it, so that a worker
 * starved of CPU on a loaded machine is not counted lost (the tests count
 * workers_lost), as in test_worker_pool. */
static const char *const s_patient [] = { "--liveness", "20", NULL };

/* "gate" says it started (a file), then waits for the gate file (at most
 * 30 s); anything else answers with the worker's pid (the shell's
 * parent). */
static char s_gate [512];
static char s_started [512];
static char s_script [2048];

static const char *
s_job_script (void)
{
    snprintf (s_gate, sizeof s_gate, "%s/gate", th_tmpdir ());
    snprintf (s_started, sizeof s_started, "%s/started", th_tmpdir ());
    snprintf (s_script, sizeof s_script,
              "read x; case $x in "
              "gate) echo $PPID > '%s'; for i in $(seq 3000); do "
              "[ -e '%s' ] && break; sleep 0.01; done; echo $PPID;; "
              "*) echo $PPID;; esac", s_started, s_gate);
    return s_script;
}

static void
s_touch (const char *path)
{
    FILE *file = fopen (path, "w");
    ASSERT (file);
    fclose (file);
}

static bool
s_exists (const char *path)
{
    struct stat info;
    return stat (path, &info) == 0;
}

static void
s_wait_file (const char *path)
{
    for (int tries = 0; tries < 3000 && !s_exists (path); tries++)
        zclock_sleep (10);
    ASSERT (s_exists (path));
}

/* The exit status of pid, which must exit within 30 s. */
static int
s_exit_status (pid_t pid)
{
    int status = th_reap (pid, 30000);
    ASSERT (status != -1);
    ASSERT (WIFEXITED (status));
    return WEXITSTATUS (status);
}

/* The state of the broker's worker with this pid ("" if none listed). */
static void
s_worker_state (const char *endpoint, int pid, char *state, size_t size)
{
    *state = 0;
    json_t *doc = th_status_doc (endpoint);
    const json_t *workers = doc? json_member (doc, "workers"): NULL;
    for (const json_t *w = workers? json_first (workers): NULL; w;
         w = json_next (w))
        if ((int) json_number (json_member (w, "pid"), -1) == pid)
            snprintf (state, size, "%s",
                      json_string (json_member (w, "state"), ""));
    json_destroy (&doc);
}

/* Tasks waiting in the broker's queue of service. */
static long
s_queued (const char *endpoint, const char *service)
{
    json_t *doc = th_status_doc (endpoint);
    const json_t *services = doc? json_member (doc, "services"): NULL;
    long queued = -1;
    for (const json_t *s = services? json_first (services): NULL; s;
         s = json_next (s))
        if (streq (json_string (json_member (s, "name"), ""), service))
            queued = (long) json_number (json_member (s, "queued"), -1);
    json_destroy (&doc);
    return queued;
}

/* --idle-exit: after a task, and then no more for a second, the worker
 * leaves with status 0, and the broker counts it gone, not lost. */
static void
test_idle_exit (void)
{
    th_broker_t started = th_broker_start ("ipc", s_patient);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    /* The task waits before the worker comes, so that it is there
     * however slowly the worker starts. */
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    ASSERT_EQ (zfarm_client_submit (client, "job", "x", 1, 60000, NULL), 0);
    const char *args [] = { "--service", "job", "--exec", s_job_script (),
                            "--idle-exit", "1", NULL };
    pid_t worker = th_worker_start (endpoint, args);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT_EQ (zfarm_result_status (result), 0);
    ASSERT_EQ (atoi (zfarm_result_data (result, NULL)), (int) worker);
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    ASSERT_EQ (s_exit_status (worker), 0);
    ASSERT (th_wait_workers (endpoint, 0, 10000));
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    th_kill (broker, SIGTERM);
    th_reap (broker, 10000);
}

/* --give-up-after: with no broker at either endpoint the worker exits
 * ZF_EXIT_UNREACHABLE and names both; a worker whose broker dies gives
 * up after the same time without it. */
static void
test_give_up (void)
{
    char a [600], b [600];
    snprintf (a, sizeof a, "ipc://%s/nobody-a", th_tmpdir ());
    snprintf (b, sizeof b, "ipc://%s/nobody-b", th_tmpdir ());
    char both [1300];
    snprintf (both, sizeof both, "%s,%s", a, b);
    const char *argv [] = { th_bin ("zfarm-worker"), "--broker", both,
                            "--service", "job", "--exec", "cat",
                            "--give-up-after", "1", NULL };
    char *out = NULL, *err = NULL;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 30000);
    free (out);
    ASSERT (status != -1 && WIFEXITED (status));
    ASSERT_EQ (WEXITSTATUS (status), ZF_EXIT_UNREACHABLE);
    ASSERT (strstr (err, a) && strstr (err, b));
    ASSERT (strstr (err, "giving up"));
    free (err);

    th_broker_t started = th_broker_start ("ipc", s_patient);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    const char *args [] = { "--service", "job", "--exec", "cat",
                            "--give-up-after", "3", NULL };
    pid_t worker = th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    th_kill (broker, SIGKILL);
    th_reap (broker, 10000);
    ASSERT_EQ (s_exit_status (worker), ZF_EXIT_UNREACHABLE);
}

/* SIGUSR1 while a task runs on one of two slots: the broker marks the
 * worker draining and sends it nothing more (a task that comes now waits
 * in the queue although a slot is free); the running task finishes and
 * its result comes back; the worker exits 0; the waiting task runs on the
 * next worker. */
static void
test_drain_on_signal (void)
{
    remove (s_gate);
    remove (s_started);
    th_broker_t started = th_broker_start ("ipc", s_patient);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    const char *args [] = { "--service", "job", "--exec", s_job_script (),
                            "--capacity", "2", NULL };
    pid_t first = th_worker_start (endpoint, args);
    ASSERT (th_wait_workers (endpoint, 1, 20000));

    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    uint64_t gated, later;
    ASSERT_EQ (zfarm_client_submit (client, "job", "gate", 4, 60000, &gated), 0);
    s_wait_file (s_started);
    th_kill (first, SIGUSR1);
    char state [32] = "";
    for (int tries = 0; tries < 2000 && !streq (state, "draining"); tries++) {
        s_worker_state (endpoint, (int) first, state, sizeof state);
        if (!streq (state, "draining"))
            zclock_sleep (10);
    }
    ASSERT_STR_EQ (state, "draining");
    ASSERT_EQ (zfarm_client_submit (client, "job", "x", 1, 60000, &later), 0);
    long queued = -1;
    for (int tries = 0; tries < 2000 && queued != 1; tries++) {
        queued = s_queued (endpoint, "job");
        if (queued != 1)
            zclock_sleep (10);
    }
    ASSERT_EQ (queued, 1);

    s_touch (s_gate);
    zfarm_result_t *result = NULL;
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT (zfarm_result_task_id (result) == gated);
    ASSERT_EQ (zfarm_result_status (result), 0);
    ASSERT_EQ (atoi (zfarm_result_data (result, NULL)), (int) first);
    zfarm_result_destroy (&result);
    ASSERT_EQ (s_exit_status (first), 0);

    pid_t second = th_worker_start (endpoint, args);
    ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
    ASSERT (zfarm_result_task_id (result) == later);
    ASSERT_EQ (atoi (zfarm_result_data (result, NULL)), (int) second);
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    th_kill (second, SIGTERM);
    th_reap (second, 10000);
    th_kill (broker, SIGTERM);
    th_reap (broker, 10000);
}

/* --stop-at: a worker, and a supervisor of two, each drain at the time
 * and exit 0, without being lost to the broker. (Whether they registered
 * before the time is the machine's speed: not asserted.) */
static void
test_stop_at (void)
{
    th_broker_t started = th_broker_start ("ipc", s_patient);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    const char *single [] = { "--service", "job", "--exec", "cat",
                              "--stop-at", "+2", NULL };
    pid_t worker = th_worker_start (endpoint, single);
    const char *pool [] = { "--service", "job", "--exec", "cat",
                            "--processes", "2", "--stop-at", "+3", NULL };
    pid_t supervisor = th_worker_start (endpoint, pool);
    ASSERT_EQ (s_exit_status (worker), 0);
    ASSERT_EQ (s_exit_status (supervisor), 0);
    ASSERT (th_wait_workers (endpoint, 0, 10000));
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    th_kill (broker, SIGTERM);
    th_reap (broker, 10000);
}

/* A supervisor of two: SIGUSR1 drains it (exit 0, nothing replaced);
 * another with --idle-exit exits 0 once both of its workers left; one
 * with --give-up-after and no broker exits ZF_EXIT_UNREACHABLE. */
static void
test_supervisor (void)
{
    th_broker_t started = th_broker_start ("ipc", s_patient);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    const char *pool [] = { "--service", "job", "--exec", "cat",
                            "--processes", "2", NULL };
    pid_t supervisor = th_worker_start (endpoint, pool);
    ASSERT (th_wait_workers (endpoint, 2, 20000));
    th_kill (supervisor, SIGUSR1);
    ASSERT_EQ (s_exit_status (supervisor), 0);
    ASSERT (th_wait_workers (endpoint, 0, 10000));
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);

    const char *idle [] = { "--service", "job", "--exec", "cat",
                            "--processes", "2", "--idle-exit", "1", NULL };
    supervisor = th_worker_start (endpoint, idle);
    ASSERT_EQ (s_exit_status (supervisor), 0);
    ASSERT (th_wait_workers (endpoint, 0, 10000));
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);
    th_kill (broker, SIGTERM);
    th_reap (broker, 10000);

    char nowhere [600];
    snprintf (nowhere, sizeof nowhere, "ipc://%s/nobody", th_tmpdir ());
    const char *lost [] = { "--service", "job", "--exec", "cat",
                            "--processes", "2", "--give-up-after", "1",
                            NULL };
    supervisor = th_worker_start (nowhere, lost);
    ASSERT_EQ (s_exit_status (supervisor), ZF_EXIT_UNREACHABLE);
}

/* Writes an executable script. */
static void
s_write_script (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    ASSERT (file);
    fputs (text, file);
    fclose (file);
    ASSERT_EQ (chmod (path, 0755), 0);
}

/* Lines in a file (0 if absent). */
static int
s_lines (const char *path)
{
    char *text = th_read_file (path, NULL);
    int lines = text? th_count (text, "\n"): 0;
    free (text);
    return lines;
}

/* deploy/slurm: zfarm-autoscale.sh sees 6 tasks waiting and, 4 per job,
 * submits 2 jobs of zfarm-worker.sbatch; a stub sbatch on PATH runs each
 * here, as a node would (SLURM_CPUS_ON_NODE=2), and records its exit
 * status. The tasks all succeed; each job leaves by itself (--idle-exit)
 * with status 0; a second round with the queue empty submits nothing.
 * The jobs are not this test's children: their --idle-exit and
 * --give-up-after bound their lives even if the test fails. */
static void
test_slurm_example (void)
{
    if (system ("python3 -c '' 2>/dev/null") != 0) {
        fprintf (stderr, "test_slurm_example: no python3; skipped\n");
        exit (77);
    }
    th_broker_t started = th_broker_start ("ipc", s_patient);
    pid_t broker = started.pid;
    const char *endpoint = started.endpoint;
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT (client);
    for (int i = 0; i < 6; i++) {
        char payload [16];
        snprintf (payload, sizeof payload, "task %d", i);
        ASSERT_EQ (zfarm_client_submit (client, "job", payload,
                                        strlen (payload), 60000, NULL), 0);
    }
    long queued = -1;
    for (int tries = 0; tries < 2000 && queued != 6; tries++) {
        queued = s_queued (endpoint, "job");
        if (queued != 6)
            zclock_sleep (10);
    }
    ASSERT_EQ (queued, 6);

    char stubs [600], path [700], text [4096];
    snprintf (stubs, sizeof stubs, "%s/stubs", th_tmpdir ());
    ASSERT_EQ (mkdir (stubs, 0755), 0);
    snprintf (path, sizeof path, "%s/sbatch", stubs);
    snprintf (text, sizeof text,
              "#!/bin/sh\n"
              "n=$(( $(cat '%s/jobs' 2>/dev/null | wc -l) + 1 ))\n"
              "echo \"$1\" >> '%s/jobs'\n"
              "( SLURM_CPUS_ON_NODE=2 SLURM_JOB_ID=$n sh \"$1\"; "
              "echo $? >> '%s/exits' ) > '%s/job.$n.log' 2>&1 < /dev/null &\n"
              "echo \"Submitted batch job $n\"\n",
              stubs, stubs, stubs, stubs);
    s_write_script (path, text);
    snprintf (path, sizeof path, "%s/squeue", stubs);
    s_write_script (path, "#!/bin/sh\nexit 0\n");
    snprintf (text, sizeof text, "%s:%s:%s", stubs, getenv ("ZFARM_BIN_DIR"),
              getenv ("PATH"));
    setenv ("PATH", text, 1);
    setenv ("ZFARM_BROKER", endpoint, 1);
    setenv ("ZFARM_SERVICE", "job", 1);
    setenv ("ZFARM_WORKER_ARGS", "--exec cat", 1);
    setenv ("ZFARM_IDLE_EXIT", "1", 1);
    setenv ("ZFARM_GIVE_UP_AFTER", "10", 1);
    setenv ("TASKS_PER_JOB", "4", 1);
    setenv ("MAX_JOBS", "4", 1);

    char script [700];
    snprintf (script, sizeof script, "%s/deploy/slurm/zfarm-autoscale.sh",
              getenv ("ZFARM_SOURCE_DIR"));
    const char *argv [] = { "/bin/sh", script, "--once", NULL };
    char *out = NULL, *err = NULL;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 30000);
    if (status != 0)
        fprintf (stderr, "autoscale: %s%s", out, err);
    ASSERT_EQ (status, 0);
    free (out);
    free (err);
    snprintf (path, sizeof path, "%s/jobs", stubs);
    ASSERT_EQ (s_lines (path), 2);

    for (int i = 0; i < 6; i++) {
        zfarm_result_t *result = NULL;
        ASSERT_EQ (zfarm_client_wait (client, 30000, &result), 0);
        ASSERT_EQ (zfarm_result_status (result), 0);
        ASSERT (strncmp (zfarm_result_data (result, NULL), "task ", 5) == 0);
        zfarm_result_destroy (&result);
    }
    zfarm_client_destroy (&client);
    snprintf (path, sizeof path, "%s/exits", stubs);
    for (int tries = 0; tries < 3000 && s_lines (path) < 2; tries++)
        zclock_sleep (10);
    char *exits = th_read_file (path, NULL);
    ASSERT (exits);
    ASSERT_STR_EQ (exits, "0\n0\n");
    free (exits);
    ASSERT (th_wait_workers (endpoint, 0, 10000));
    ASSERT_EQ (th_status_counter (endpoint, "workers_lost"), 0);

    status = th_run (argv, NULL, 0, &out, NULL, &err, 30000);
    ASSERT_EQ (status, 0);
    free (out);
    free (err);
    snprintf (path, sizeof path, "%s/jobs", stubs);
    ASSERT_EQ (s_lines (path), 2);
    th_kill (broker, SIGTERM);
    th_reap (broker, 10000);
}

int
main (int argc, char *argv [])
{
    zsys_init ();
    if (argc > 1 && streq (argv [1], "--slurm")) {
        test_slurm_example ();  /* a test of its own: it may be skipped */
        return 0;
    }
    test_idle_exit ();
    test_give_up ();
    test_drain_on_signal ();
    test_stop_at ();
    test_supervisor ();
    return 0;
}
