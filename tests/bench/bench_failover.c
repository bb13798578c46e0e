/* bench_failover.c: how long a client given several brokers takes to get
 * past the loss of one.
 *
 *   bench_failover --broker A,B --kill PID_A,PID_B [-n TASKS] [--window W]
 *
 * Keeps W echo tasks in flight through one client given the brokers until
 * TASKS results are in. Once half are, it SIGKILLs the broker (of those
 * the caller started, PIDs in the order of the list) that ran the most of
 * the first 40 %, as its counters say: the one the client keeps to, when
 * the brokers share their workers. It prints, as JSON: first_ms, from the
 * kill to the next result (which may be one the broker sent before it
 * died); stall_ms, the longest time after the kill with no result at
 * all; recovered_ms, from the kill to the result of the last task that
 * was in flight at the kill (those held by the killed broker are submitted
 * again once the client finds it gone: when a connect after its
 * connection closed fails, else after its liveness); and killed_share,
 * the killed broker's share of the first 40 %. Every result must be the
 * echo of its task; errors counts those that are not. */
#include "zfarm.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEADLINE_MS     120000

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define BROKERS_MAX     16

typedef struct {
    const char *brokers;
    char *endpoints [BROKERS_MAX];
    long pids [BROKERS_MAX];
    int count;
    int tasks;
    int window;
} args_t;

/* Splits list at commas into up to BROKERS_MAX items; returns how many. */
static int
s_split (char *list, char *items [])
{
    int count = 0;
    for (char *save = NULL, *item = strtok_r (list, ",", &save);
         item && count < BROKERS_MAX; item = strtok_r (NULL, ",", &save))
        items [count++] = item;
    return count;
}

/* The broker's `completed` counter, from its status; -1 if it cannot
 * tell. */
static long
s_completed (const char *endpoint)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    char *json = NULL;
    long value = -1;
    if (client && zfarm_client_status (client, 5000, &json) == 0) {
        const char *at = strstr (json, "\"completed\":");
        if (at)
            value = atol (at + strlen ("\"completed\":"));
        free (json);
    }
    zfarm_client_destroy (&client);
    return value;
}

static int
s_parse (args_t *args, int argc, char *argv [])
{
    static const struct option options [] = {
        { "broker", required_argument, NULL, 'b' },
        { "kill",   required_argument, NULL, 'k' },
        { "tasks",  required_argument, NULL, 'n' },
        { "window", required_argument, NULL, 'w' },
        { NULL, 0, NULL, 0 }
    };
    *args = (args_t) { .tasks = 20000, .window = 100 };
    char *pids [BROKERS_MAX];
    int pid_count = 0;
    int option;
    while ((option = getopt_long (argc, argv, "b:k:n:w:", options, NULL))
           != -1)
        switch (option) {
            case 'b':
                args->brokers = optarg;
                args->count = s_split (strdup (optarg), args->endpoints);
                break;
            case 'k': pid_count = s_split (optarg, pids); break;
            case 'n': args->tasks = atoi (optarg); break;
            case 'w': args->window = atoi (optarg); break;
            default: return -1;
        }
    for (int i = 0; i < pid_count; i++)
        if ((args->pids [i] = atol (pids [i])) <= 0)
            return -1;
    return args->brokers && args->count > 1 && pid_count == args->count
        && args->tasks > 1 && args->window > 0? 0: -1;
}

int
main (int argc, char *argv [])
{
    args_t args;
    if (s_parse (&args, argc, argv) != 0) {
        fprintf (stderr, "usage: bench_failover --broker A,B --kill "
                 "PID_A,PID_B [-n TASKS] [--window W]\n");
        return 2;
    }
    zfarm_client_t *client = zfarm_client_new (args.brokers);
    if (!client)
        return 1;
    /* done [id]: its result is in; at_kill [id]: it was pending when the
     * broker died. */
    bool *done = calloc ((size_t) args.tasks + 1, sizeof *done);
    bool *at_kill = calloc ((size_t) args.tasks + 1, sizeof *at_kill);
    if (!done || !at_kill)
        return 1;
    long ran [BROKERS_MAX];
    for (int i = 0; i < args.count; i++)
        ran [i] = -s_completed (args.endpoints [i]);
    int submitted = 0, received = 0, errors = 0, left_at_kill = 0;
    double killed_share = -1;
    int victim = -1;
    int64_t killed_at = 0, first_ms = -1, recovered_ms = -1, stall_ms = 0;
    int64_t last_result_at = 0;
    int64_t deadline = s_now_ms () + DEADLINE_MS;
    while (received < args.tasks && s_now_ms () < deadline) {
        while (submitted < args.tasks && submitted - received < args.window) {
            char payload [32];
            int size = snprintf (payload, sizeof payload, "%d", ++submitted);
            zfarm_client_submit (client, "echo", payload, (size_t) size, 0,
                                 NULL);
        }
        zfarm_result_t *result;
        if (zfarm_client_wait (client, 1000, &result) != 0)
            continue;
        uint64_t id = zfarm_result_task_id (result);
        char expected [32];
        snprintf (expected, sizeof expected, "%" PRIu64, id);
        size_t size;
        const char *data = zfarm_result_data (result, &size);
        if (zfarm_result_status (result) != 0 || size != strlen (expected)
        ||  memcmp (data, expected, size) != 0)
            errors++;
        zfarm_result_destroy (&result);
        if (id >= 1 && id <= (uint64_t) args.tasks)
            done [id] = true;
        received++;
        if (killed_at) {
            int64_t now = s_now_ms ();
            if (first_ms == -1)
                first_ms = now - killed_at;
            if (now - last_result_at > stall_ms)
                stall_ms = now - last_result_at;
            last_result_at = now;
            if (id <= (uint64_t) args.tasks && at_kill [id]
            &&  --left_at_kill == 0)
                recovered_ms = s_now_ms () - killed_at;
        }
        else
        if (victim == -1 && received >= args.tasks * 2 / 5) {
            /* Chosen ahead of the kill: asking the brokers takes a few ms,
             * in which the tasks in flight would all end. */
            long all = 0;
            victim = 0;
            for (int i = 0; i < args.count; i++) {
                ran [i] += s_completed (args.endpoints [i]);
                all += ran [i];
                if (ran [i] > ran [victim])
                    victim = i;
            }
            killed_share = all > 0? (double) ran [victim] / (double) all: -1;
        }
        else
        if (victim != -1 && received >= args.tasks / 2) {
            for (int task = 1; task <= submitted; task++)
                if (!done [task]) {
                    at_kill [task] = true;
                    left_at_kill++;
                }
            kill ((pid_t) args.pids [victim], SIGKILL);
            killed_at = last_result_at = s_now_ms ();
        }
    }
    printf ("{\"first_ms\":%lld,\"stall_ms\":%lld,\"recovered_ms\":%lld,"
            "\"killed_share\":%.3f,\"completed\":%d,\"errors\":%d}\n",
            (long long) first_ms, (long long) stall_ms,
            (long long) recovered_ms, killed_share, received,
            errors + args.tasks - received);
    zfarm_client_destroy (&client);
    free (done);
    free (at_kill);
    free (args.endpoints [0]);      /* the strdup s_split cut */
    return errors || received < args.tasks;
}
