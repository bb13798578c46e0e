/* test_two_brokers.c: two broker hosts, broker-a and broker-b, and three
 * worker hosts, each running one zfarm-worker that serves both brokers
 * (--broker tcp://A,tcp://B). `zfarm map` runs on a host of its own, given
 * both brokers.
 *
 * 1. Over 10,000 items, the broker that ran more of them (the one map
 *    keeps to, as the brokers share their workers) is SIGKILLed halfway:
 *    every output line is its item's correct result, map exits 0, and the
 *    other broker lists the three workers, each still serving two brokers.
 * 2. The killed broker is started again on its address: the workers
 *    register with it by themselves. Then both brokers are SIGKILLed in
 *    the middle of a run, left down for a while, and started again: the
 *    workers register with both again, the run ends with every result
 *    right, and a new run succeeds.
 *
 * The tests hold to the client's contract (right results, exit 0, no item
 * lost), not to which broker ran which task: a client given several
 * brokers may fail over between them or spread its tasks over them. The
 * kills come at a known point of each run: map is fed through a FIFO, so
 * it still has input and a full window of tasks in flight when its output
 * reaches the line the test waits for, however fast the machine is. */
#include "two_brokers.h"

#define WORKER_HOSTS 3

static pid_t s_workers [WORKER_HOSTS];

/* Returns the index of the broker killed. */
static int
test_kill_one_broker_halfway (cluster_t *cluster)
{
    long ran [2];
    for (int i = 0; i < 2; i++)
        ran [i] = -th_status_counter (cluster->brokers [i].ipc, "completed");
    map_run_t run;
    map_start (&run, cluster, "client", "map-10000", 10000);
    map_feed (&run, 7000);
    int at_kill = map_wait_lines (&run, 5000, 60000);
    for (int i = 0; i < 2; i++)
        ran [i] += th_status_counter (cluster->brokers [i].ipc, "completed");
    int killed = ran [1] > ran [0], survivor = !killed;
    cluster_brokers_kill (cluster, killed);
    printf ("broker-%c (which ran %ld tasks, the other %ld) SIGKILLed with "
            "%d of 10000 lines written\n",
            'a' + killed, ran [killed], ran [survivor], at_kill);
    map_finish (&run, 90000);
    /* The survivor never lost its workers; a short wait only allows for a
     * heartbeat missed on a loaded machine. */
    cluster_brokers_wait_list (cluster, survivor, s_workers, WORKER_HOSTS, 2,
                               10000);
    ASSERT_EQ (th_status_counter (cluster->brokers [survivor].ipc, "failed"),
               0);
    printf ("one broker killed halfway through 10000 items: pass\n");
    return killed;
}

static void
test_both_brokers_restarted (cluster_t *cluster, int killed)
{
    /* The killed broker comes back on its address: the workers join it
     * again. */
    cluster_brokers_start (cluster, killed, NULL);
    cluster_brokers_wait_list (cluster, -1, s_workers, WORKER_HOSTS, 2, 30000);
    printf ("broker-%c back: the workers serve both again: pass\n",
            'a' + killed);

    map_run_t run;
    map_start (&run, cluster, "client", "map-both-killed", 3000);
    map_feed (&run, 2000);
    map_wait_lines (&run, 1000, 60000);
    cluster_brokers_kill (cluster, 0);
    cluster_brokers_kill (cluster, 1);
    /* Both down for longer than the clients' and workers' heartbeat
     * windows (3 x 200 ms), so that both find out. */
    zclock_sleep (1500);
    ASSERT (th_alive (run.pid));
    cluster_brokers_start (cluster, 0, NULL);
    cluster_brokers_start (cluster, 1, NULL);
    map_finish (&run, 90000);
    cluster_brokers_wait_list (cluster, -1, s_workers, WORKER_HOSTS, 2, 30000);
    printf ("both brokers killed mid-run and restarted: pass\n");

    map_start (&run, cluster, "client", "map-after", 2000);
    map_finish (&run, 60000);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ (th_status_counter (cluster->brokers [i].ipc, "failed"), 0);
    printf ("a new run after the restart: pass\n");
}

int
main (void)
{
    cluster_t *cluster = cluster_up_brokers ("test_two_brokers", 2,
                                             WORKER_HOSTS, true, 110);
    two_brokers_start_farm (cluster, WORKER_HOSTS, s_workers);
    int killed = test_kill_one_broker_halfway (cluster);
    test_both_brokers_restarted (cluster, killed);
    free (cluster);
    TEST_PASS ("test_two_brokers");
    return 0;
}
