/* probe.c: child processes, status numbers and RSS for the benchmarks. */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STATUS_TIMEOUT_MS   2000
#define WAIT_STEP_MS        1

pid_t
probe_spawn (const char *log, char *const argv [])
{
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "probe: fork: %s\n", strerror (errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2 (fd, STDOUT_FILENO);
            dup2 (fd, STDERR_FILENO);
        }
        execv (argv [0], argv);
        fprintf (stderr, "probe: exec %s: %s\n", argv [0], strerror (errno));
        _exit (127);
    }
    return pid;
}

void
probe_stop (pid_t pid, int grace_ms)
{
    if (pid <= 0)
        return;
    kill (pid, SIGTERM);
    for (int waited = 0; waited < grace_ms; waited += WAIT_STEP_MS) {
        if (waitpid (pid, NULL, WNOHANG) == pid)
            return;
        probe_sleep_ms (WAIT_STEP_MS);
    }
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
}

int
probe_wait_line (const char *path, char *line, size_t size, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += WAIT_STEP_MS) {
        FILE *file = fopen (path, "r");
        bool whole = false;
        if (file) {
            whole = fgets (line, (int) size, file) && strchr (line, '\n');
            fclose (file);
        }
        if (whole) {
            *strchr (line, '\n') = 0;
            return 0;
        }
        probe_sleep_ms (WAIT_STEP_MS);
    }
    return -1;
}

char *
probe_status (zfarm_client_t *client)
{
    char *json = NULL;
    if (zfarm_client_status (client, STATUS_TIMEOUT_MS, &json) != 0)
        return NULL;
    return json;
}

int
probe_ready_workers (const char *json)
{
    int count = 0;
    for (const char *at = json; (at = strstr (at, "\"state\":\"ready\""));
         at++)
        count++;
    return count;
}

int
probe_worker_pids (const char *json, int *pids, int max)
{
    const char *at = strstr (json, "\"workers\":[");
    const char *end = at? strstr (at, "\"services\":["): NULL;
    int count = 0;
    while (at && count < max && (at = strstr (at, "\"pid\":"))
       &&  (!end || at < end)) {
        at += strlen ("\"pid\":");
        pids [count++] = atoi (at);
    }
    return count;
}

long
probe_worker_uptime (const char *json, int pid)
{
    char key [64];
    snprintf (key, sizeof key, "\"pid\":%d,", pid);
    const char *workers = strstr (json, "\"workers\":[");
    const char *at = workers? strstr (workers, key): NULL;
    const char *end = at? strchr (at, '}'): NULL;
    at = at? strstr (at, "\"uptime_ms\":"): NULL;
    if (!at || !end || at > end)
        return -1;
    return atol (at + strlen ("\"uptime_ms\":"));
}

long
probe_service_queued (const char *json, const char *service)
{
    char key [300];
    snprintf (key, sizeof key, "{\"name\":\"%s\",\"queued\":", service);
    const char *at = strstr (json, key);
    return at? atol (at + strlen (key)): -1;
}

long
probe_rss (pid_t pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long kb = -1;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kb = atol (line + 6);
    if (file)
        fclose (file);
    return kb < 0? -1: kb * 1024;
}

double
probe_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double) now.tv_sec * 1e3 + (double) now.tv_nsec / 1e6;
}

void
probe_sleep_ms (int ms)
{
    struct timespec pause = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep (&pause, NULL);
}
