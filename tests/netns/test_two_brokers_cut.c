/* test_two_brokers_cut.c: a broker host's link cut during a run, on the
 * farm of two broker hosts and three worker hosts whose workers serve both
 * brokers (two_brokers.h), with `zfarm map` on a host of its own given both
 * brokers.
 *
 * 1. The link of the broker host that ran more of map's tasks so far (the
 *    one map keeps to, as the brokers share their workers) is cut
 *    (netns-cluster.sh cut: down, both ways) while map runs. The run
 *    completes through the other broker while the first is still cut off:
 *    every line right, exit 0, and the other completed at least every item
 *    that was not yet in map's hands when the link went down. After
 *    restore, each broker lists every worker again, serving two brokers,
 *    and the one cut off serves again.
 * 2. The same with a one-way cut (netns-cluster.sh mute): what that broker
 *    sends is dropped, while what it is sent still arrives.
 *
 * As in test_two_brokers, the tests hold to the client's contract, not to
 * which broker ran which task. */
#include "two_brokers.h"

#define WORKER_HOSTS 3
#define ITEMS        3000

static pid_t s_workers [WORKER_HOSTS];

static void
test_cut (cluster_t *cluster, bool one_way)
{
    const char *what = one_way? "muted": "cut";
    long ran [2];
    for (int i = 0; i < 2; i++)
        ran [i] = -th_status_counter (cluster->brokers [i].ipc, "completed");
    map_run_t run;
    map_start (&run, cluster, "client", one_way? "map-mute": "map-cut", ITEMS);
    map_feed (&run, ITEMS * 2 / 3);
    map_wait_lines (&run, ITEMS / 3, 60000);
    for (int i = 0; i < 2; i++)
        ran [i] += th_status_counter (cluster->brokers [i].ipc, "completed");
    int cut = ran [1] > ran [0], other = !cut;
    const char *name = cut? "broker-b": "broker-a";
    /* The workers stand still while the script cuts the link, which takes
     * longer than the tasks in map's window would (a few thousand a
     * second), so that these are still in flight, at broker-a or at its
     * workers, when the link goes down. */
    for (int i = 0; i < WORKER_HOSTS; i++)
        th_kill (s_workers [i], SIGSTOP);
    if (one_way)
        cluster_mute (cluster, name, true);
    else
        cluster_link (cluster, name, false);
    /* Lines not written yet are items in map's window (MAP_WINDOW at
     * most, some of which the broker cut off may have finished) or items
     * not read yet: the other completes all but those. */
    int at_cut = map_lines (&run);
    long before = th_status_counter (cluster->brokers [other].ipc,
                                     "completed");
    ASSERT (before >= 0);
    for (int i = 0; i < WORKER_HOSTS; i++)
        th_kill (s_workers [i], SIGCONT);
    printf ("%s (which ran %ld tasks, the other %ld) %s with %d of %d lines "
            "written, %d fed\n", name, ran [cut], ran [other], what, at_cut,
            ITEMS, run.fed);

    map_finish (&run, 90000);
    long through_other = th_status_counter (cluster->brokers [other].ipc,
                                            "completed")
                       - before;
    ASSERT_INT (through_other, >=, ITEMS - at_cut - MAP_WINDOW);
    printf ("the run completed through the other broker (%ld tasks) while "
            "%s was %s: pass\n", through_other, name, what);

    if (one_way)
        cluster_mute (cluster, name, false);
    else
        cluster_link (cluster, name, true);
    /* The workers' back-off after failed attempts is 8 s at most. */
    cluster_brokers_wait_list (cluster, -1, s_workers, WORKER_HOSTS, 2, 30000);
    char *text = NULL;
    ASSERT_EQ (th_call (cluster->brokers [cut].ipc, "primes", "100", 20000,
                        &text), 0);
    ASSERT_STR_EQ (text, "25");
    free (text);
    printf ("%s %s again: the workers serve both brokers: pass\n", name,
            one_way? "unmuted": "restored");
}

int
main (void)
{
    cluster_t *cluster = cluster_up_brokers ("test_two_brokers_cut", 2,
                                             WORKER_HOSTS, true, 110);
    two_brokers_start_farm (cluster, WORKER_HOSTS, s_workers);
    test_cut (cluster, false);
    test_cut (cluster, true);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ (th_status_counter (cluster->brokers [i].ipc, "failed"), 0);
    free (cluster);
    TEST_PASS ("test_two_brokers_cut");
    return 0;
}
