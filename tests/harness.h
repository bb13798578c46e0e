/* harness.h: real zfarm processes for integration tests.
 *
 * Every process a test starts is recorded by pid and killed (SIGKILL, then
 * reaped) when the test exits, so no test leaves a process behind. Waits are
 * for events (a file, a status count, an exit) within a bounded deadline. */
#ifndef HARNESS_H
#define HARNESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <czmq.h>
#include "cli_json.h"
#include "zf_proto.h"
#include "testlib.h"

/* A fresh temporary directory for this test, in $TMPDIR (else /tmp);
 * removed at exit unless ZFARM_KEEP_TMP is set. */
const char *
    th_tmpdir (void);

/* This test's own loopback address, 127.a.b.c made of its pid. Brokers
 * bound to "tcp://127.0.0.1:*" take the lowest free port from 49152 (czmq),
 * so the port of a broker that one test killed went to the next test's
 * broker, and the dead one's workers and clients, reconnecting, joined a
 * farm not theirs (a stress run saw it). On an address of its own a test
 * meets only its own peers. */
const char *
    th_loopback (void);

/* Full path of a built program ("zfarm-broker") or module ("echo.so"). */
const char *
    th_bin (const char *name);
const char *
    th_module (const char *name);

/* Starts argv[0..] (argv[0] a full path; NULL-terminated) with stdout and
 * stderr going to <tmpdir>/<log>.out and .err. Returns its pid. */
pid_t
    th_spawn (const char *log, const char *const argv []);

/* argv (NULL-terminated, argv[0] a full path) run through env(1) with the
 * seam of tests/recv_seam.c preloaded: once the program receives a frame
 * that contains bytes, it does action ("sigterm", or "touch:PATH"). For
 * th_spawn or cluster_spawn; a static array, overwritten by the next
 * call. */
const char *const *
    th_seam_argv (const char *bytes, const char *action,
                  const char *const argv []);

/* A broker th_broker_start started: returned by value, so each holds its
 * own endpoint and no later start overwrites it. */
typedef struct {
    pid_t pid;
    char endpoint [256];        /* where it listens, as it wrote it */
} th_broker_t;

/* Starts a broker bound to a fresh ipc:// endpoint ("ipc") or an ephemeral
 * port on 127.0.0.1 ("tcp"), with extra arguments (NULL-terminated list, may
 * be NULL), and waits until it listens. A tcp broker listens on
 * th_loopback. */
th_broker_t
    th_broker_start (const char *transport, const char *const extra []);

/* Starts zfarm-worker --broker endpoint with extra arguments. */
pid_t
    th_worker_start (const char *endpoint, const char *const extra []);

/* Broker status as JSON (caller frees), or NULL if it did not answer. */
char *
    th_status (const char *endpoint);

/* The same document, parsed by the zfarm tool's own reader (cli_json.h;
 * caller destroys with json_destroy), or NULL if the broker did not answer
 * or the text is not JSON. */
json_t *
    th_status_doc (const char *endpoint);

/* Waits until the broker reports exactly count workers in state "ready" or
 * "busy". Returns true, or false after timeout_ms (also if the broker does
 * not answer: that is no count of 0). */
bool
    th_wait_workers (const char *endpoint, int count, int timeout_ms);

/* The node at path in a status document: member names joined by dots,
 * each may pick an array's element by a string member's value:
 * "services[name=echo].backing_off", "pool.recycled.rss". NULL if there is
 * none. */
const json_t *
    th_json_path (const json_t *doc, const char *path);

/* The number at path in the broker's status now, or -1 (no answer, no
 * such node). */
double
    th_status_number (const char *endpoint, const char *path);

/* One counter from the status document's counters ("workers_replaced"),
 * or -1. */
long
    th_status_counter (const char *endpoint, const char *name);

/* How many workers the broker lists (any state), or -1 if it did not
 * answer. */
int
    th_status_worker_count (const char *endpoint);

/* The broker's --http address from its status ("http://HOST:PORT"), into
 * host (host_size bytes) and *port_p. Fails the test if it has none. */
void
    th_status_http (const char *endpoint, char *host, size_t host_size,
                    int *port_p);

/* The pids of the registered workers, into pids (at most max). Returns how
 * many. */
int
    th_status_pids (const char *endpoint, int *pids, int max);

/* Returns once client, which must have a task pending and no result yet,
 * has heard the broker's epoch (a PONG), which is how it learns of a
 * restart: a wait that gives up at once sends its PING, and the broker
 * answers in order, so the PONG is in before the answer to a STATUS sent
 * after it. */
typedef struct _zfarm_client_t zfarm_client_t;
void
    th_client_hear_epoch (zfarm_client_t *client);

/* Calls service through the client library; returns 0 or a ZFARM_E* code
 * and sets *text_p (caller frees) to the result, or to the error text. */
int
    th_call (const char *endpoint, const char *service, const char *payload,
             int timeout_ms, char **text_p);

/* True while a process (any pid, not only ours) exists and is no zombie. */
bool
    th_pid_exists (int pid);

/* Waits at most timeout_ms for every pid in pids to be gone. */
bool
    th_wait_gone (const int *pids, int count, int timeout_ms);

/* Counts occurrences of needle in haystack. */
int
    th_count (const char *haystack, const char *needle);

/* Sends sig to pid (only pids this test started). */
void
    th_kill (pid_t pid, int sig);

/* Waits at most timeout_ms for pid to exit. Returns its wait status, or -1
 * if it is still running. */
int
    th_reap (pid_t pid, int timeout_ms);

/* True if pid (started by this test) is still running. */
bool
    th_alive (pid_t pid);

/* Reads a whole file (caller frees; NULL if unreadable). */
char *
    th_read_file (const char *path, size_t *size_p);

/* Runs argv to completion with stdin from in (in_size bytes; NULL for none),
 * capturing stdout into *out_p (caller frees) and stderr into *err_p (may be
 * NULL). Returns the wait status, or -1 after timeout_ms (the child is
 * killed). */
int
    th_run (const char *const argv [], const void *in, size_t in_size,
            char **out_p, size_t *out_size_p, char **err_p, int timeout_ms);

/* Sends request as it is to an HTTP server at host:port (IPv4) and returns
 * the whole answer, head and body (caller frees). */
char *
    th_http (const char *host, int port, const char *request);

/* GET path from host:port, with "Connection: close" (caller frees). */
char *
    th_http_get (const char *host, int port, const char *path);

/* For a fake broker, worker or client: sends header (and payload, a
 * string, unless NULL) on sock, after a copy of the routing id to (for a
 * ROUTER; NULL for a DEALER). Fails the test if it cannot. */
void
    th_send_header (zsock_t *sock, zframe_t *to, const zf_header_t *header,
                    const char *payload);

/* The DOM of url after headless Chromium ran its scripts for a few
 * seconds (caller frees). Fails the test if Chromium is missing or fails. */
char *
    th_page_dom (const char *url);

#endif
