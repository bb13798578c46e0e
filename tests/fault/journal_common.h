/* journal_common.h: the journal the journal fault tests damage, written by
 * a real broker: FINISHED results, DEAD dead letters and WAITING tasks
 * that no worker serves. */
#ifndef JOURNAL_COMMON_H
#define JOURNAL_COMMON_H

#include "harness.h"
#include "testlib.h"
#include "zfarm.h"

#include <czmq.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#define FINISHED 300
#define WAITING  200
#define DEAD     20
#define WAIT_MS  60000

/* count detached tasks of service, payloads "payload 0"...; their ids
 * into ids (count of them) unless NULL. */
static inline void
journal_submit (zfarm_client_t *client, const char *service, int count,
                uint64_t *ids)
{
    const void *data [FINISHED];
    size_t sizes [FINISHED];
    char texts [FINISHED][16];
    int codes [FINISHED];
    uint64_t scratch [FINISHED];
    for (int i = 0; i < count; i++) {
        sizes [i] = (size_t) snprintf (texts [i], sizeof texts [i],
                                       "payload %d", i);
        data [i] = texts [i];
    }
    ASSERT_EQ (zfarm_client_submit_detached_batch (client, service,
                                                   (size_t) count, data, sizes,
                                                   0, WAIT_MS,
                                                   ids ? ids : scratch, codes),
               0);
}

/* Waits at most WAIT_MS for the number at path in the status to be
 * value, and fails the test if it is not. */
static inline void
journal_wait_number (const char *endpoint, const char *path, double value)
{
    int64_t until = zclock_mono () + WAIT_MS;
    while (zclock_mono () < until && th_status_number (endpoint, path) != value)
        zclock_sleep (20);
    ASSERT_EQ ((long) th_status_number (endpoint, path), (long) value);
}

/* Writes the journal in the directory journal, the finished tasks' ids
 * into finished_ids (FINISHED of them) unless NULL; returns its data.mdb's
 * bytes (caller frees) and their size. */
static inline char *
journal_make (const char *journal, uint64_t *finished_ids, size_t *size_p)
{
    const char *extra [] = { "--journal", journal, NULL };
    th_broker_t started = th_broker_start ("ipc", extra);
    const char *echo [] = { "--service", "echo", "--module",
                            th_module ("echo.so"), NULL };
    const char *fail [] = { "--service",  "bad",
                            "--module",   th_module ("echo.so"),
                            "--function", "zfarm_fail",
                            NULL };
    th_worker_start (started.endpoint, echo);
    th_worker_start (started.endpoint, fail);
    ASSERT (th_wait_workers (started.endpoint, 2, WAIT_MS));
    zfarm_client_t *client = zfarm_client_new (started.endpoint);
    zfarm_client_set_retries (client, 0);
    journal_submit (client, "echo", FINISHED, finished_ids);
    journal_submit (client, "bad", DEAD, NULL);
    journal_submit (client, "later", WAITING, NULL);
    zfarm_client_destroy (&client);
    journal_wait_number (started.endpoint, "detached.finished",
                         FINISHED + DEAD);
    journal_wait_number (started.endpoint, "detached.dead", DEAD);
    th_kill (started.pid, SIGTERM);
    int status = th_reap (started.pid, 20000);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    char path [600];
    snprintf (path, sizeof path, "%s/data.mdb", journal);
    char *bytes = th_read_file (path, size_p);
    ASSERT (bytes && *size_p > 4096);
    return bytes;
}

/* Stops the broker on journal (SIGTERM: it must exit 0), having read
 * whether its status says the file was damaged; fails the test unless the
 * file was set aside exactly then. Returns what the status said. */
static inline bool
journal_stop_checked (pid_t broker, const char *endpoint, const char *journal)
{
    json_t *state = th_status_doc (endpoint);
    bool said = json_bool (th_json_path (state, "detached.journal.damaged"),
                           false);
    json_destroy (&state);
    th_kill (broker, SIGTERM);
    int status = th_reap (broker, 20000);
    ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    char command [1024];
    snprintf (command, sizeof command, "ls '%s' | grep -q '^data.mdb.damaged-'",
              journal);
    bool aside = system (command) == 0;
    ASSERT_EQ (aside, said);
    return said;
}

#endif
