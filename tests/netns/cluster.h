/* cluster.h: a cluster of network-namespace hosts for the multi-host tests,
 * made and unmade by deploy/netns-cluster.sh, with zfarm processes on its
 * hosts that are children of the test (so the harness kills them at exit).
 *
 * The broker host "broker" (10.231.0.1) and the worker hosts "w1".."wN" see
 * each other over TCP; the test itself stays in the machine's namespace and
 * reaches the broker through an ipc:// endpoint in its temporary directory,
 * so that nothing of the cluster is routed outside it. cluster_up_brokers
 * makes several broker hosts instead ("broker-a" 10.231.0.1, "broker-b"
 * 10.231.0.2, ...), each with its own broker and ipc:// endpoint, and
 * workers that serve them all. The cluster is taken
 * down at exit, on SIGINT/SIGTERM/SIGHUP, and by a watchdog alarm that fires
 * before ctest's timeout would kill the test without a chance to clean up. */
#ifndef CLUSTER_H
#define CLUSTER_H

#include "harness.h"
#include "zfarm.h"
#include <czmq.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLUSTER_ARGS_MAX 48
#define CLUSTER_BROKERS_MAX 4

/* One broker host of a cluster_up_brokers cluster. */
typedef struct {
    char host [16];             /* "broker-a", "broker-b", ... */
    char tcp [64];              /* its broker's endpoint on the cluster */
    char ipc [512];             /* its broker's endpoint for this test */
    char endpoint_file [512];
    pid_t pid;                  /* its running broker, or 0 */
} cluster_broker_t;

typedef struct {
    char name [32];             /* unique per test process: zt<pid> */
    char script [512];          /* deploy/netns-cluster.sh */
    char tcp [300];             /* the broker's endpoint on the cluster;
                                   with several, all of them: "A,B" */
    char ipc [512];             /* the broker's endpoint for this test */
    char endpoint_file [512];   /* where the broker lists its endpoints */
    pid_t broker;               /* the running broker, or 0 */
    pid_t spawned [CLUSTER_ARGS_MAX];   /* workers and clients started */
    int spawned_count;
    const char *broker_extra [CLUSTER_ARGS_MAX];    /* to restart it alike */
    /* cluster_up_brokers: the broker hosts, their brokers started with
     * cluster_brokers_start (and brokers_extra) */
    int broker_count;
    cluster_broker_t brokers [CLUSTER_BROKERS_MAX];
    const char *brokers_extra [CLUSTER_ARGS_MAX];
} cluster_t;

/* The teardown, prepared in advance so that a signal handler can run it
 * with async-signal-safe calls only (fork, execv, waitpid, _exit). */
static char cluster_s_tmpdir [512];
static char cluster_s_script [512];
static char cluster_s_name [32];
static const char *cluster_s_down_argv [8];
static const char *cluster_s_rm_argv [4];

static inline void
cluster_s_run_quietly (const char *const argv [])
{
    pid_t pid = fork ();
    if (pid == 0) {
        execv (argv [0], (char *const *) argv);
        _exit (127);
    }
    if (pid > 0)
        waitpid (pid, NULL, 0);
}

static inline void
cluster_s_down (void)
{
    if (cluster_s_down_argv [0])
        cluster_s_run_quietly (cluster_s_down_argv);
}

static inline void
cluster_s_on_signal (int sig)
{
    static const char message [] = "cluster: interrupted or out of time; "
                                   "taking the cluster down\n";
    if (write (2, message, sizeof message - 1) < 0)
        _exit (1);
    cluster_s_down ();                      /* kills what runs on it */
    if (cluster_s_rm_argv [0] && !getenv ("ZFARM_KEEP_TMP"))
        cluster_s_run_quietly (cluster_s_rm_argv);
    _exit (128 + sig);
}

/* Runs deploy/netns-cluster.sh with args; returns its exit status, or -1. */
static inline int
cluster_script (const cluster_t *self, const char *const args [],
                char **out_p)
{
    const char *argv [CLUSTER_ARGS_MAX] = { self->script, "--name",
                                            self->name };
    int argc = 3;
    for (int i = 0; args [i] && argc < CLUSTER_ARGS_MAX - 1; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    char *out = NULL, *err = NULL;
    int status = th_run (argv, NULL, 0, &out, NULL, &err, 60000);
    if (status != 0)
        fprintf (stderr, "cluster: %s %s failed: %s%s", self->script, args [0],
                 out? out: "", err? err: "");
    free (err);
    if (out_p)
        *out_p = out;
    else
        free (out);
    return status == -1? -1: WIFEXITED (status)? WEXITSTATUS (status): -1;
}

/* The exit status that ctest reports as "skipped" (SKIP_RETURN_CODE in
 * tests/CMakeLists.txt), never as passed. */
#define CLUSTER_SKIP 77

/* Says why the test cannot run here, and exits CLUSTER_SKIP. */
static inline void
cluster_s_skip (const char *test, const char *why)
{
    printf ("SKIP: %s: %s\n", test, why);
    fflush (stdout);
    exit (CLUSTER_SKIP);
}

/* Exits CLUSTER_SKIP with a SKIP line unless this process may make network
 * namespaces (root, iproute2) and deploy/netns-cluster.sh finds the other
 * tool it needs (unshare, from util-linux). */
static inline void
cluster_require_netns (const char *test)
{
    char probe [64], why [600];
    snprintf (probe, sizeof probe, "zfarm-probe-%d", (int) getpid ());
    const char *add [] = { "/usr/bin/env", "ip", "netns", "add", probe, NULL };
    char *out = NULL, *err = NULL;
    int status = th_run (add, NULL, 0, &out, NULL, &err, 10000);
    if (status != 0) {
        err [strcspn (err, "\n")] = 0;
        snprintf (why, sizeof why, "cannot create a network namespace ('ip "
                  "netns add' %s: %s); the multi-host tests need root and "
                  "iproute2", status == -1? "timed out": "failed", err);
        cluster_s_skip (test, why);
    }
    free (out);
    free (err);
    const char *del [] = { "/usr/bin/env", "ip", "netns", "del", probe, NULL };
    th_run (del, NULL, 0, &out, NULL, &err, 10000);
    free (out);
    free (err);
    const char *unshare [] = { "/usr/bin/env", "unshare", "--version", NULL };
    if (th_run (unshare, NULL, 0, &out, NULL, &err, 10000) != 0)
        cluster_s_skip (test, "no unshare (util-linux), which "
                        "deploy/netns-cluster.sh needs");
    free (out);
    free (err);
}

/* Stands up worker_hosts worker hosts and a broker host, with no process
 * on them yet, after pruning clusters whose test died unannounced. Exits
 * CLUSTER_SKIP if namespaces are not allowed here. The cluster goes down when
 * the test exits or is interrupted, or when watchdog_s seconds have
 * passed. */
static inline cluster_t *
    cluster_up_brokers (const char *test, int broker_hosts, int worker_hosts,
                        bool client_host, int watchdog_s);

static inline cluster_t *
cluster_up (const char *test, int worker_hosts, int watchdog_s)
{
    return cluster_up_brokers (test, 1, worker_hosts, false, watchdog_s);
}

/* The same with broker_hosts broker hosts: one is "broker", as cluster_up
 * makes; more are "broker-a", "broker-b"..., each in self->brokers, and
 * self->tcp lists all their endpoints (so cluster_worker_start starts
 * workers that serve them all). With client_host, a host "client" too. */
static inline cluster_t *
cluster_up_brokers (const char *test, int broker_hosts, int worker_hosts,
                    bool client_host, int watchdog_s)
{
    cluster_require_netns (test);
    cluster_t *self = calloc (1, sizeof *self);
    ASSERT (self);
    const char *source = getenv ("ZFARM_SOURCE_DIR");
    snprintf (self->script, sizeof self->script, "%s/deploy/netns-cluster.sh",
              source? source: ".");
    snprintf (self->name, sizeof self->name, "zt%d", (int) getpid ());
    snprintf (self->ipc, sizeof self->ipc, "ipc://%s/broker.ipc", th_tmpdir ());
    snprintf (self->endpoint_file, sizeof self->endpoint_file,
              "%s/broker.endpoints", th_tmpdir ());

    const char *prune [] = { "prune", NULL };
    cluster_script (self, prune, NULL);

    /* Registered after the harness's own exit handler (th_tmpdir above),
     * so it runs before it: the hosts go, then the harness reaps. */
    snprintf (cluster_s_tmpdir, sizeof cluster_s_tmpdir, "%s", th_tmpdir ());
    snprintf (cluster_s_script, sizeof cluster_s_script, "%s", self->script);
    snprintf (cluster_s_name, sizeof cluster_s_name, "%s", self->name);
    cluster_s_down_argv [0] = cluster_s_script;
    cluster_s_down_argv [1] = "--name";
    cluster_s_down_argv [2] = cluster_s_name;
    cluster_s_down_argv [3] = "down";
    cluster_s_rm_argv [0] = "/bin/rm";
    cluster_s_rm_argv [1] = "-rf";
    cluster_s_rm_argv [2] = cluster_s_tmpdir;
    atexit (cluster_s_down);
    /* czmq catches SIGINT and SIGTERM when it starts (only setting a flag):
     * start it now, so that our handlers come after and stay. */
    zsys_init ();
    int signals [] = { SIGINT, SIGTERM, SIGHUP, SIGALRM };
    for (size_t i = 0; i < sizeof signals / sizeof signals [0]; i++)
        signal (signals [i], cluster_s_on_signal);
    alarm ((unsigned) watchdog_s);

    ASSERT (broker_hosts >= 1 && broker_hosts <= CLUSTER_BROKERS_MAX);
    char workers [16], owner [16], brokers [16];
    snprintf (workers, sizeof workers, "%d", worker_hosts);
    snprintf (owner, sizeof owner, "%d", (int) getpid ());
    snprintf (brokers, sizeof brokers, "%d", broker_hosts);
    const char *up [] = { "up", "--net-only", "--workers", workers,
                          "--owner", owner, "--brokers", brokers,
                          client_host? "--client": NULL, NULL };
    if (cluster_script (self, up, NULL) != 0)
        TEST_FAIL ("netns-cluster.sh up failed");
    const char *endpoint [] = { "endpoint", NULL };
    char *out = NULL;
    ASSERT_EQ (cluster_script (self, endpoint, &out), 0);
    ASSERT (out && strncmp (out, "tcp://", 6) == 0);
    out [strcspn (out, "\n")] = 0;
    snprintf (self->tcp, sizeof self->tcp, "%s", out);
    free (out);

    self->broker_count = broker_hosts;
    for (int i = 0; i < broker_hosts; i++) {
        cluster_broker_t *broker = &self->brokers [i];
        if (broker_hosts == 1)
            snprintf (broker->host, sizeof broker->host, "broker");
        else
            snprintf (broker->host, sizeof broker->host, "broker-%c", 'a' + i);
        const char *one [] = { "endpoint", broker->host, NULL };
        ASSERT_EQ (cluster_script (self, one, &out), 0);
        ASSERT (out && strncmp (out, "tcp://", 6) == 0);
        out [strcspn (out, "\n")] = 0;
        snprintf (broker->tcp, sizeof broker->tcp, "%s", out);
        free (out);
        /* A copy: gcc -O0 cannot tell that two members of *broker do not
         * overlap (-Wrestrict). */
        char host [sizeof broker->host];
        memcpy (host, broker->host, sizeof host);
        snprintf (broker->ipc, sizeof broker->ipc, "ipc://%s/%s.ipc",
                  th_tmpdir (), host);
        snprintf (broker->endpoint_file, sizeof broker->endpoint_file,
                  "%s/%s.endpoints", th_tmpdir (), host);
    }
    return self;
}

/* Starts argv on host, as a child of this test; its output goes to
 * <tmpdir>/<log>.out and .err. Returns its pid (the program's own, once
 * the script has handed over to it). */
static inline pid_t
cluster_spawn (cluster_t *self, const char *host, const char *log,
               const char *const argv [])
{
    const char *args [CLUSTER_ARGS_MAX + 8] = {
        self->script, "--name", self->name, "exec", host };
    int argc = 5;
    for (int i = 0; argv [i] && argc < CLUSTER_ARGS_MAX + 6; i++)
        args [argc++] = argv [i];
    args [argc] = NULL;
    pid_t pid = th_spawn (log, args);
    /* Brokers ("broker", "broker-a"...) are kept apart from the rest. */
    if (strncmp (log, "broker", 6) != 0) {
        ASSERT (self->spawned_count < CLUSTER_ARGS_MAX);
        self->spawned [self->spawned_count++] = pid;
    }
    return pid;
}

/* Starts zfarm-broker on the broker host, bound to the cluster's TCP
 * endpoint and to the test's ipc endpoint, with more flags in extra
 * (NULL-terminated; kept for cluster_broker_restart). Waits until it
 * listens. */
static inline void
cluster_broker_start (cluster_t *self, const char *const extra [])
{
    if (extra != self->broker_extra) {
        int i = 0;
        for (; extra && extra [i] && i < CLUSTER_ARGS_MAX - 1; i++)
            self->broker_extra [i] = extra [i];
        self->broker_extra [i] = NULL;
    }
    remove (self->endpoint_file);
    const char *argv [CLUSTER_ARGS_MAX + 8] = {
        th_bin ("zfarm-broker"), "--bind", self->tcp, "--bind", self->ipc,
        "--endpoint-file", self->endpoint_file };
    int argc = 7;
    for (int i = 0; self->broker_extra [i]; i++)
        argv [argc++] = self->broker_extra [i];
    argv [argc] = NULL;
    self->broker = cluster_spawn (self, "broker", "broker", argv);
    for (int tries = 0; tries < 1000; tries++) {
        char *text = th_read_file (self->endpoint_file, NULL);
        bool both = text && th_count (text, "\n") == 2;
        free (text);
        if (both)
            return;
        if (!th_alive (self->broker))
            TEST_FAIL ("broker exited at start (see %s/broker.err)",
                       th_tmpdir ());
        zclock_sleep (10);
    }
    TEST_FAIL ("broker did not bind within 10 s");
}

/* SIGKILLs the broker and starts it again on the same endpoints. */
static inline void
cluster_broker_restart (cluster_t *self)
{
    th_kill (self->broker, SIGKILL);
    ASSERT (th_reap (self->broker, 10000) != -1);
    cluster_broker_start (self, self->broker_extra);
}

/* Starts zfarm-worker on host, connected to the broker over TCP, with
 * extra arguments (NULL-terminated). */
static inline pid_t
cluster_worker_start (cluster_t *self, const char *host,
                      const char *const extra [])
{
    static int count;
    char log [64];
    snprintf (log, sizeof log, "%s.worker%d", host, ++count);
    const char *argv [CLUSTER_ARGS_MAX] = {
        th_bin ("zfarm-worker"), "--broker", self->tcp };
    int argc = 3;
    for (int i = 0; extra && extra [i] && argc < CLUSTER_ARGS_MAX - 1; i++)
        argv [argc++] = extra [i];
    argv [argc] = NULL;
    return cluster_spawn (self, host, log, argv);
}

/* SIGKILLs and reaps every process started on the cluster, so that the
 * next test starts afresh on the same hosts. */
static inline void
cluster_reset (cluster_t *self)
{
    for (int i = 0; i < self->spawned_count; i++)
        if (th_alive (self->spawned [i])) {
            th_kill (self->spawned [i], SIGKILL);
            th_reap (self->spawned [i], 10000);
        }
    self->spawned_count = 0;
    if (self->broker && th_alive (self->broker)) {
        th_kill (self->broker, SIGKILL);
        th_reap (self->broker, 10000);
    }
    self->broker = 0;
    for (int i = 0; i < self->broker_count; i++) {
        cluster_broker_t *broker = &self->brokers [i];
        if (broker->pid && th_alive (broker->pid)) {
            th_kill (broker->pid, SIGKILL);
            th_reap (broker->pid, 10000);
        }
        broker->pid = 0;
    }
}

/* SIGKILLs and reaps one process started with cluster_spawn. */
static inline void
cluster_kill (cluster_t *self, pid_t pid)
{
    for (int i = 0; i < self->spawned_count; i++)
        if (self->spawned [i] == pid) {
            self->spawned [i] = self->spawned [--self->spawned_count];
            th_kill (pid, SIGKILL);
            ASSERT (th_reap (pid, 10000) != -1);
            return;
        }
    TEST_FAIL ("cluster_kill: %d was not started on the cluster", (int) pid);
}

/* Takes host's link down (cut) or up again (restore). */
static inline void
cluster_link (const cluster_t *self, const char *host, bool up)
{
    const char *args [] = { up? "restore": "cut", host, NULL };
    if (cluster_script (self, args, NULL) != 0)
        TEST_FAIL ("could not %s %s", args [0], host);
}

/* Makes host's messages to the broker vanish (mute), while it still hears
 * the broker; or lets it speak again. */
static inline void
cluster_mute (const cluster_t *self, const char *host, bool mute)
{
    const char *args [] = { mute? "mute": "unmute", host, NULL };
    if (cluster_script (self, args, NULL) != 0)
        TEST_FAIL ("could not %s %s", args [0], host);
}

/* The "host" of the busy worker the broker reports, into host (size
 * bytes), and its pid; 0 if no worker is busy. */
static inline int
cluster_busy_worker (const cluster_t *self, char *host, size_t size)
{
    char *json = th_status (self->ipc);
    const char *busy = json? strstr (json, "\"state\":\"busy\""): NULL;
    int pid = 0;
    if (busy) {
        const char *at = busy;
        while (at > json && strncmp (at, "{\"id\":", 6) != 0)
            at--;
        const char *pid_at = strstr (at, "\"pid\":");
        const char *host_at = strstr (at, "\"host\":\"");
        if (pid_at && host_at && host_at < busy) {
            pid = atoi (pid_at + 6);
            host_at += 8;
            snprintf (host, size, "%.*s", (int) strcspn (host_at, "\""),
                      host_at);
        }
    }
    free (json);
    return pid;
}

/* ---- Several broker hosts (cluster_up_brokers) ---------------------- */

/* Starts zfarm-broker on broker host i, bound to its TCP endpoint and to
 * its ipc endpoint, with the flags in extra (NULL-terminated; kept for all
 * the brokers and their restarts; NULL: those kept). Waits until it
 * listens. */
static inline void
cluster_brokers_start (cluster_t *self, int i, const char *const extra [])
{
    ASSERT (i >= 0 && i < self->broker_count);
    if (extra) {
        int k = 0;
        for (; extra [k] && k < CLUSTER_ARGS_MAX - 1; k++)
            self->brokers_extra [k] = extra [k];
        self->brokers_extra [k] = NULL;
    }
    cluster_broker_t *broker = &self->brokers [i];
    ASSERT (!broker->pid || !th_alive (broker->pid));
    remove (broker->endpoint_file);
    const char *argv [CLUSTER_ARGS_MAX + 8] = {
        th_bin ("zfarm-broker"), "--bind", broker->tcp, "--bind", broker->ipc,
        "--endpoint-file", broker->endpoint_file };
    int argc = 7;
    for (int k = 0; self->brokers_extra [k]; k++)
        argv [argc++] = self->brokers_extra [k];
    argv [argc] = NULL;
    broker->pid = cluster_spawn (self, broker->host, broker->host, argv);
    for (int tries = 0; tries < 1000; tries++) {
        char *text = th_read_file (broker->endpoint_file, NULL);
        bool both = text && th_count (text, "\n") == 2;
        free (text);
        if (both)
            return;
        if (!th_alive (broker->pid))
            TEST_FAIL ("the broker on %s exited at start (see %s/%s.err)",
                       broker->host, th_tmpdir (), broker->host);
        zclock_sleep (10);
    }
    TEST_FAIL ("the broker on %s did not bind within 10 s", broker->host);
}

/* SIGKILLs the broker of broker host i and reaps it. */
static inline void
cluster_brokers_kill (cluster_t *self, int i)
{
    ASSERT (i >= 0 && i < self->broker_count);
    cluster_broker_t *broker = &self->brokers [i];
    ASSERT (broker->pid);
    th_kill (broker->pid, SIGKILL);
    ASSERT (th_reap (broker->pid, 10000) != -1);
    broker->pid = 0;
}

/* True if the broker of broker host i lists as ready or busy exactly the
 * workers whose pids are pids [0..count), each once, and each as serving
 * `serving` brokers (its READY's "brokers"). */
static inline bool
cluster_brokers_list (const cluster_t *self, int i, const pid_t *pids,
                      int count, int serving)
{
    ASSERT (i >= 0 && i < self->broker_count && count <= CLUSTER_ARGS_MAX);
    json_t *doc = th_status_doc (self->brokers [i].ipc);
    if (!doc)
        return false;
    int seen [CLUSTER_ARGS_MAX] = { 0 }, listed = 0;
    bool right = true;
    for (const json_t *worker = json_first (json_member (doc, "workers"));
         worker; worker = json_next (worker)) {
        const char *state = json_string (json_member (worker, "state"), "");
        if (strcmp (state, "ready") != 0 && strcmp (state, "busy") != 0)
            continue;
        listed++;
        int pid = (int) json_number (json_member (worker, "pid"), 0);
        int k = 0;
        while (k < count && pids [k] != pid)
            k++;
        if (k == count || seen [k]++
        ||  (int) json_number (json_member (worker, "brokers"), 0) != serving)
            right = false;
    }
    json_destroy (&doc);
    return right && listed == count;
}

/* Waits at most timeout_ms until cluster_brokers_list is true of broker
 * host which (-1: of every one); fails the test, with the status of the
 * broker that is not there yet, if it is not. */
static inline void
cluster_brokers_wait_list (const cluster_t *self, int which,
                           const pid_t *pids, int count, int serving,
                           int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    for (int i = 0; i < self->broker_count; i++) {
        if (which != -1 && i != which)
            continue;
        while (!cluster_brokers_list (self, i, pids, count, serving)
           &&  zclock_mono () < deadline)
            zclock_sleep (20);
        if (!cluster_brokers_list (self, i, pids, count, serving)) {
            char *json = th_status (self->brokers [i].ipc);
            TEST_FAIL ("after %d ms, the broker on %s does not list the %d "
                       "workers, each serving %d brokers; its status: %s",
                       timeout_ms, self->brokers [i].host, count, serving,
                       json? json: "(no answer)");
        }
    }
}

#endif
