/* two_brokers.h: the farm of the tests with two broker hosts, and `zfarm
 * map` runs on it.
 *
 * The farm: broker-a and broker-b (cluster_up_brokers), each running a
 * broker, and worker hosts w1..wN, each running one zfarm-worker of the
 * primes module that serves both brokers (--broker tcp://A,tcp://B).
 *
 * A run: `zfarm map primes` on a host of the cluster, fed through a
 * FIFO in stages, so that a test can act (kill a broker, cut a link) at a
 * known point of a run however fast or slow the machine is: it feeds part
 * of the input, waits for a number of output lines, acts while the rest of
 * what it fed is in flight, then feeds the rest.
 *
 * Item i (counting from 1) is the number 10 i, and its one correct result
 * is the count of primes up to it (primes.so's zfarm_handler), which the
 * test knows from a sieve of its own: a result that is wrong, missing,
 * doubled or out of place shows as a line that differs. */
#ifndef TWO_BROKERS_H
#define TWO_BROKERS_H

#include "cluster.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#define MAP_ITEMS_MAX   10000
#define MAP_WINDOW      128         /* zfarm map --window: at most this many
                                       items between read and written */
#define MAP_VALUE(i)    (10 * (i))
#define TWO_BROKERS_HEARTBEAT "200"     /* ms, of brokers and workers */

/* Starts both brokers and a worker on each of worker_hosts hosts (their
 * pids into workers), and waits until both brokers list every worker as
 * serving two brokers. */
static inline void
two_brokers_start_farm (cluster_t *cluster, int worker_hosts, pid_t *workers)
{
    ASSERT_EQ (cluster->broker_count, 2);
    const char *broker [] = { "--heartbeat", TWO_BROKERS_HEARTBEAT, NULL };
    cluster_brokers_start (cluster, 0, broker);
    cluster_brokers_start (cluster, 1, NULL);
    const char *primes [] = { "--service", "primes", "--module",
                              th_module ("primes.so"), "--heartbeat",
                              TWO_BROKERS_HEARTBEAT, NULL };
    /* cluster->tcp lists both brokers: each worker serves both. */
    ASSERT (strchr (cluster->tcp, ','));
    for (int i = 0; i < worker_hosts; i++) {
        char host [16];
        snprintf (host, sizeof host, "w%d", i + 1);
        workers [i] = cluster_worker_start (cluster, host, primes);
    }
    cluster_brokers_wait_list (cluster, -1, workers, worker_hosts, 2, 20000);
}

typedef struct {
    pid_t pid;                  /* sh, then zfarm map, on the host */
    int fd;                     /* the FIFO's write end, or -1 */
    int items;                  /* lines it gets in all */
    int fed;                    /* lines written so far */
    char label [64];
    char out [600];             /* its stdout and stderr */
    char err [600];
} map_run_t;

/* map_s_primes [n]: the count of primes <= n. */
static int map_s_primes [MAP_VALUE (MAP_ITEMS_MAX) + 1];

static void
map_s_sieve (void)
{
    static bool done;
    if (done)
        return;
    static char composite [MAP_VALUE (MAP_ITEMS_MAX) + 1];
    int count = 0;
    for (int n = 2; n <= MAP_VALUE (MAP_ITEMS_MAX); n++) {
        if (!composite [n]) {
            count++;
            for (long m = (long) n * n; m <= MAP_VALUE (MAP_ITEMS_MAX); m += n)
                composite [m] = 1;
        }
        map_s_primes [n] = count;
    }
    done = true;
}

static void
map_s_fail (const map_run_t *run, const char *what)
{
    char *err = th_read_file (run->err, NULL);
    TEST_FAIL ("%s: %s; its stderr: %s", run->label, what,
               err? err: "(none)");
}

/* Starts `zfarm map --broker <the cluster's brokers> primes` on host with
 * its stdin from a FIFO that this test writes, and opens the FIFO (20 s
 * at most). */
static inline void
map_start (map_run_t *run, cluster_t *cluster, const char *host,
           const char *label, int items)
{
    ASSERT (items >= 1 && items <= MAP_ITEMS_MAX);
    map_s_sieve ();
    memset (run, 0, sizeof *run);
    run->items = items;
    run->fd = -1;
    snprintf (run->label, sizeof run->label, "%s", label);
    snprintf (run->out, sizeof run->out, "%s/%s.out", th_tmpdir (), label);
    snprintf (run->err, sizeof run->err, "%s/%s.err", th_tmpdir (), label);
    char fifo [600], window [16];
    snprintf (fifo, sizeof fifo, "%s/%s.fifo", th_tmpdir (), label);
    snprintf (window, sizeof window, "%d", MAP_WINDOW);
    ASSERT (mkfifo (fifo, 0600) == 0);
    /* A map that is gone makes our writes fail with EPIPE, not kill us. */
    signal (SIGPIPE, SIG_IGN);
    const char *argv [] = {
        "/bin/sh", "-c",
        "exec \"$0\" map --broker \"$1\" --window \"$2\" primes <\"$3\"",
        th_bin ("zfarm"), cluster->tcp, window, fifo, NULL };
    run->pid = cluster_spawn (cluster, host, label, argv);
    /* Opening for writing without blocking fails (ENXIO) until the shell
     * has opened it for reading. Not inherited by what the test starts
     * later (a broker started again mid-run), or map would never see the
     * end of its input. */
    for (int tries = 0; tries < 2000 && run->fd == -1; tries++) {
        run->fd = open (fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (run->fd == -1) {
            if (errno != ENXIO)
                TEST_FAIL ("open %s: %s", fifo, strerror (errno));
            if (!th_alive (run->pid))
                map_s_fail (run, "exited before it opened its input");
            zclock_sleep (10);
        }
    }
    if (run->fd == -1)
        map_s_fail (run, "did not open its input in 20 s");
}

/* Writes the lines after those fed up to line upto (30 s at most). */
static inline void
map_feed (map_run_t *run, int upto)
{
    ASSERT (run->fd != -1 && upto <= run->items);
    size_t size = 0, sent = 0;
    char *text = malloc ((size_t) (upto - run->fed) * 12 + 1);
    ASSERT (text);
    for (int i = run->fed + 1; i <= upto; i++)
        size += (size_t) sprintf (text + size, "%d\n", MAP_VALUE (i));
    int64_t deadline = zclock_mono () + 30000;
    while (sent < size) {
        ssize_t rc = write (run->fd, text + sent, size - sent);
        if (rc > 0)
            sent += (size_t) rc;
        else
        if (rc == -1 && errno == EAGAIN) {
            if (zclock_mono () > deadline)
                map_s_fail (run, "took no input for 30 s");
            struct pollfd item = { .fd = run->fd, .events = POLLOUT };
            poll (&item, 1, 100);
        }
        else
        if (rc == -1 && errno != EINTR)
            map_s_fail (run, strerror (errno));
    }
    free (text);
    run->fed = upto;
}

/* Lines map has written so far. */
static inline int
map_lines (const map_run_t *run)
{
    char *out = th_read_file (run->out, NULL);
    int lines = out? th_count (out, "\n"): 0;
    free (out);
    return lines;
}

/* Waits at most timeout_ms until map has written lines lines. */
static inline int
map_wait_lines (const map_run_t *run, int lines, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    int written = map_lines (run);
    while (written < lines) {
        if (!th_alive (run->pid))
            map_s_fail (run, "exited early");
        if (zclock_mono () > deadline) {
            char what [100];
            snprintf (what, sizeof what, "%d lines written after %d ms, not "
                      "%d", written, timeout_ms, lines);
            map_s_fail (run, what);
        }
        zclock_sleep (10);
        written = map_lines (run);
    }
    return written;
}

/* Feeds the rest of the input and ends it, waits at most timeout_ms for
 * map to exit, and checks the run: exit status 0, and line i of its
 * output the correct result of item i, for every item. */
static inline void
map_finish (map_run_t *run, int timeout_ms)
{
    map_feed (run, run->items);
    close (run->fd);
    run->fd = -1;
    int status = th_reap (run->pid, timeout_ms);
    if (status == -1)
        map_s_fail (run, "did not finish in time");
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        char what [100];
        snprintf (what, sizeof what, "exit status %d (signal %d), not 0",
                  WIFEXITED (status)? WEXITSTATUS (status): -1,
                  WIFSIGNALED (status)? WTERMSIG (status): 0);
        map_s_fail (run, what);
    }
    char *out = th_read_file (run->out, NULL);
    ASSERT (out);
    const char *line = out;
    for (int i = 1; i <= run->items; i++) {
        const char *end = strchr (line, '\n');
        if (!end)
            TEST_FAIL ("%s: %d lines of output, not %d", run->label, i - 1,
                       run->items);
        char expected [16];
        int size = snprintf (expected, sizeof expected, "%d",
                             map_s_primes [MAP_VALUE (i)]);
        if (end - line != size || memcmp (line, expected, (size_t) size))
            TEST_FAIL ("%s: line %d (item %d) is '%.*s', not '%s'",
                       run->label, i, MAP_VALUE (i), (int) (end - line),
                       line, expected);
        line = end + 1;
    }
    if (*line)
        TEST_FAIL ("%s: output beyond its %d lines: '%.40s'", run->label,
                   run->items, line);
    free (out);
    printf ("%s: %d items, every line its item's result, exit 0\n",
            run->label, run->items);
}

#endif
