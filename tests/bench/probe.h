/* probe.h: what the pool and memory benchmarks need around a zfarm broker:
 * child processes they start and stop by pid, a few numbers from the
 * broker's status document, and a process's resident memory.
 *
 * The status document is read with string searches on its compact form
 * (README.md, "Status"): these tools count workers and read one service's
 * queue, nothing more, and must not depend on the client's JSON reader. */
#ifndef PROBE_H
#define PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <zfarm.h>

/* Starts argv (argv[0] a path; NULL-terminated) with stdout and stderr
 * appended to log. Returns its pid, or -1 (reported). */
pid_t
    probe_spawn (const char *log, char *const argv []);

/* SIGTERM, then SIGKILL if pid has not exited after grace_ms; reaps it. */
void
    probe_stop (pid_t pid, int grace_ms);

/* Waits at most timeout_ms for path to hold a whole first line, which goes
 * into line (size bytes). Returns 0, or -1 on timeout. */
int
    probe_wait_line (const char *path, char *line, size_t size,
                     int timeout_ms);

/* The broker's status (caller frees), or NULL if it did not answer. */
char *
    probe_status (zfarm_client_t *client);

/* Workers in state "ready" in a status document. */
int
    probe_ready_workers (const char *json);

/* The pids of the workers in a status document, into pids (at most max).
 * Returns how many. */
int
    probe_worker_pids (const char *json, int *pids, int max);

/* How long the worker with this pid has been registered (its "uptime_ms"),
 * or -1 if it is not listed. */
long
    probe_worker_uptime (const char *json, int pid);

/* The "queued" count of one service, or -1 if the service is not listed. */
long
    probe_service_queued (const char *json, const char *service);

/* Resident memory of pid (VmRSS, bytes), or -1. */
long
    probe_rss (pid_t pid);

/* Milliseconds on the monotonic clock, with fractions. */
double
    probe_now_ms (void);

/* Sleeps ms milliseconds. */
void
    probe_sleep_ms (int ms);

#endif
