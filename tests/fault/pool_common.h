/* pool_common.h: a broker with a local pool, for the pool fault tests. */
#ifndef POOL_COMMON_H
#define POOL_COMMON_H

#include "harness.h"
#include "zf_defaults.h"
#include "zfarm.h"
#include <czmq.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

/* How long "hang" sleeps: about a minute, with this test's pid as the
 * fraction, so that pool_hanging finds this test's sleeps and never those
 * of another test running on the machine at the same time. */
static inline const char *
pool_hang_marker (void)
{
    static char marker [32];
    if (!*marker)
        snprintf (marker, sizeof marker, "61.%d", (int) getpid ());
    return marker;
}

/* The one handler these tests use, run by zfarm-worker --exec: "slow"
 * sleeps a little, "hang" a long time (pool_hang_marker), "poison" kills
 * its own worker, anything else answers with the worker's pid (the
 * shell's parent). */
static inline const char *
pool_job_script (void)
{
    static char script [512];
    snprintf (script, sizeof script,
              "read x; case $x in "
              "slow) sleep 2; echo done;; "
              "hang) sleep %s; echo woke;; "
              "poison) kill -9 $PPID; sleep 1;; "
              "*) echo $PPID;; esac", pool_hang_marker ());
    return script;
}

/* Checks the restarts a pool logged to the file log, in order, against its
 * back-off (common/pool.c, zf_defaults.h): a worker that died within a
 * second of its start is restarted after 100 ms, 200, 400... (up to 10 s)
 * with each such death in a row, and one that lived longer at once, which
 * starts the count again. Which deaths are quick depends on the machine's speed, so
 * each line is checked against its own count, not against the one before
 * it. Returns the longest run of quick deaths so far. */
static inline int
pool_check_backoff (const char *log)
{
    char *text = th_read_file (log, NULL);
    int streak = 0, longest = 0;
    for (char *line = text; line && *line; ) {
        char *end = strchr (line, '\n');
        if (end)
            *end = 0;
        const char *quick = strstr (line, "; restarting in ");
        long lived, delay;
        int count;
        if (quick) {
            const char *after = strstr (line, " after ");
            if (!after || sscanf (after, " after %ld ms", &lived) != 1
            ||  sscanf (quick, "; restarting in %ld ms (%d quick", &delay,
                        &count) != 2)
                TEST_FAIL ("unexpected restart line: %s", line);
            long expected = (long) ZF_POOL_BACKOFF_MIN_MS
                            << (count - 1 < 15? count - 1: 15);
            ASSERT_INT (lived, <, ZF_POOL_YOUNG_MS);
            ASSERT_EQ (count, streak + 1);
            ASSERT_EQ (delay, expected < ZF_POOL_BACKOFF_MAX_MS?
                              expected: ZF_POOL_BACKOFF_MAX_MS);
            streak = count;
        }
        else
        if (strstr (line, "; restarting") || strstr (line, " retired ("))
            streak = 0;
        longest = streak > longest? streak: longest;
        line = end? end + 1: NULL;
    }
    free (text);
    return longest;
}

/* Starts a broker that keeps `workers` local workers serving "job", with
 * more broker flags in extra (NULL-terminated). Waits until they are ready. */
static inline th_broker_t
pool_broker_start (int workers, const char *const extra [])
{
    static char command [1024], spawn [16];
    snprintf (command, sizeof command,
              "exec %s --service job --exec '%s'", th_bin ("zfarm-worker"),
              pool_job_script ());
    snprintf (spawn, sizeof spawn, "%d", workers);
    const char *args [32] = { "--spawn", spawn, "--worker-cmd", command };
    int count = 4;
    for (int i = 0; extra && extra [i] && count < 30; i++)
        args [count++] = extra [i];
    args [count] = NULL;
    th_broker_t broker = th_broker_start ("ipc", args);
    if (!th_wait_workers (broker.endpoint, workers, 20000))
        TEST_FAIL ("%d local workers did not register", workers);
    return broker;
}

/* How many processes run this test's `sleep pool_hang_marker ()`. */
static inline int
pool_hanging (void)
{
    int count = 0;
    DIR *proc = opendir ("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir (proc))) {
        char path [300];
        snprintf (path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        size_t size;
        char *cmdline = th_read_file (path, &size);
        if (cmdline && size > 6 && strcmp (cmdline, "sleep") == 0
        &&  strcmp (cmdline + 6, pool_hang_marker ()) == 0)
            count++;
        free (cmdline);
    }
    if (proc)
        closedir (proc);
    return count;
}

/* The pid of a worker that is busy now, or 0. */
static inline int
pool_busy_pid (const char *endpoint)
{
    char *json = th_status (endpoint);
    const char *busy = json? strstr (json, "\"state\":\"busy\""): NULL;
    int pid = 0;
    if (busy) {
        const char *at = busy;
        while (at > json && strncmp (at, "\"pid\":", 6) != 0)
            at--;
        pid = atoi (at + 6);
    }
    free (json);
    return pid;
}

#endif
