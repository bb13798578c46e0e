/* test_pool_shutdown.c: local workers never outlive their broker, whether
 * it stops cleanly (SIGTERM) or is killed (SIGKILL). */
#include "pool_common.h"

static void
s_check (int sig)
{
    th_broker_t started = pool_broker_start (3, NULL);
    pid_t broker = started.pid;
    const char *endpoint = strdup (started.endpoint);
    int pids [3];
    ASSERT_EQ (th_status_pids (endpoint, pids, 3), 3);
    th_kill (broker, sig);
    int status = th_reap (broker, 20000);
    ASSERT (status != -1);
    if (sig == SIGTERM) {
        ASSERT (WIFEXITED (status));
        ASSERT_EQ (WEXITSTATUS (status), 0);
    }
    ASSERT (th_wait_gone (pids, 3, 10000));
    free ((char *) endpoint);
}

/* The pid of the process whose command line is argv, or 0. */
static int
s_find (const char *arg0, const char *arg1)
{
    int found = 0;
    DIR *proc = opendir ("/proc");
    struct dirent *entry;
    while (proc && !found && (entry = readdir (proc))) {
        char path [300];
        snprintf (path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        size_t size;
        char *cmdline = th_read_file (path, &size);
        if (cmdline && size > strlen (arg0) + 1 && strcmp (cmdline, arg0) == 0
        &&  strcmp (cmdline + strlen (arg0) + 1, arg1) == 0)
            found = atoi (entry->d_name);
        free (cmdline);
    }
    if (proc)
        closedir (proc);
    return found;
}

/* A broker killed outright takes its workers (PR_SET_PDEATHSIG) and the
 * command a worker was running for a task with it. */
static void
s_check_running_command (void)
{
    static char command [1024];
    snprintf (command, sizeof command, "exec %s --service hang --exec "
              "'exec sleep 61.75'", th_bin ("zfarm-worker"));
    const char *extra [] = { "--spawn", "1", "--worker-cmd", command, NULL };
    pid_t broker;
    th_broker_t started = th_broker_start ("ipc", extra);
    broker = started.pid;
    const char *endpoint = strdup (started.endpoint);
    ASSERT (th_wait_workers (endpoint, 1, 20000));
    zfarm_client_t *client = zfarm_client_new (endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "hang", "", 0, 60000, NULL), 0);
    int sleeper = 0;
    for (int i = 0; i < 1000 && !sleeper; i++) {
        sleeper = s_find ("sleep", "61.75");
        if (!sleeper)
            zclock_sleep (10);
    }
    ASSERT (sleeper);
    th_kill (broker, SIGKILL);
    th_reap (broker, 20000);
    ASSERT (th_wait_gone (&sleeper, 1, 10000));
    zfarm_client_destroy (&client);
    free ((char *) endpoint);
}

int
main (void)
{
    s_check (SIGTERM);
    s_check (SIGKILL);
    s_check_running_command ();
    TEST_PASS ("test_pool_shutdown");
    return 0;
}
