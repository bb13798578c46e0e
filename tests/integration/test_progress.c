/* test_progress.c: progress reports, end to end (issue 13, item 2).
 *
 * With a real broker, workers and clients: a module handler reporting
 * 0..100 seen by a C client's callback in order, its final value before
 * its result, and as events of zfarm_client_wait_event; zfarm call
 * --progress, on a pipe and on a terminal; an --exec command reporting on
 * fd 3; a client that did not ask gets none, and no worker sent any (the
 * broker's counters); a hostile note shown escaped. Then each side alone
 * against a peer the test plays by hand: the broker's forwarding rules
 * (a fake worker), the client's (fake brokers: the one that holds the
 * task only, never after the result, the latest wins), and the worker's
 * (a fake broker: at most one report per 100 ms per task, the last one
 * before DONE, none for a task that did not ask). */
#include "harness.h"
#include "zfarm.h"
#include "zf_proto.h"
#include "zf_wire.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS     20000       /* bound on every wait */
#define REPORTS_MAX 4096

typedef struct {
    int count;
    uint64_t task_id [REPORTS_MAX];
    uint64_t done [REPORTS_MAX];
    uint64_t total [REPORTS_MAX];
    char note [REPORTS_MAX][256];
    bool result_seen;           /* a result came: no report may follow */
    uint64_t result_task;       /* of this task */
} log_t;

static void
s_on_progress (uint64_t task_id, uint64_t done, uint64_t total,
               const char *note, void *arg)
{
    log_t *log = arg;
    if (log->result_seen && task_id == log->result_task)
        TEST_FAIL ("a report of task %" PRIu64 " came after its result",
                   task_id);
    ASSERT_INT (log->count, <, REPORTS_MAX);
    log->task_id [log->count] = task_id;
    log->done [log->count] = done;
    log->total [log->count] = total;
    snprintf (log->note [log->count], sizeof log->note [0], "%s", note);
    log->count++;
}

/* The reports of a task that counted 0..total with zfarm_steps: in order,
 * each "step I of N", the last total, and no more than the task's time
 * allows at one report per 100 ms (plus the first and the final flush). */
static void
s_check_steps (const log_t *log, uint64_t total, int64_t elapsed_ms)
{
    ASSERT_INT (log->count, >=, 2);
    ASSERT_INT (log->count, <=, elapsed_ms / 100 + 2);
    for (int i = 0; i < log->count; i++) {
        ASSERT_EQ (log->total [i], total);
        char note [64];
        snprintf (note, sizeof note, "step %" PRIu64 " of %" PRIu64,
                  log->done [i], total);
        ASSERT_STR_EQ (log->note [i], note);
        if (i > 0)
            ASSERT_INT (log->done [i], >, log->done [i - 1]);
    }
    ASSERT_EQ (log->done [log->count - 1], total);
}

/* ---- a real farm --------------------------------------------------------- */

static const char *s_endpoint;

static void
s_result_cb (zfarm_result_t *result, void *arg)
{
    log_t *log = arg;
    ASSERT_EQ (zfarm_result_status (result), 0);
    /* The final report ran before this callback. */
    ASSERT_INT (log->count, >=, 1);
    ASSERT_EQ (log->done [log->count - 1], 40);
    log->result_task = zfarm_result_task_id (result);
    log->result_seen = true;
}

static void
test_callback_in_order (void)
{
    zfarm_client_t *client = zfarm_client_new (s_endpoint);
    static log_t log;
    zfarm_client_set_progress (client, s_on_progress, &log);
    int64_t started = zclock_mono ();
    uint64_t task_id;
    ASSERT_EQ (zfarm_client_submit (client, "steps", "100 10", 6, WAIT_MS,
                                    &task_id), 0);
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    log.result_seen = true;
    log.result_task = task_id;
    ASSERT_EQ (zfarm_result_status (result), 0);
    ASSERT_STR_EQ (zfarm_result_data (result, NULL), "100 steps");
    zfarm_result_destroy (&result);
    for (int i = 0; i < log.count; i++)
        ASSERT (log.task_id [i] == task_id);
    s_check_steps (&log, 100, zclock_mono () - started);
    /* Nothing of it comes later. */
    int before = log.count;
    zclock_sleep (200);
    zfarm_client_dispatch (client);
    ASSERT_EQ (log.count, before);

    /* A task whose result goes to a callback: its reports, then it. */
    memset (&log, 0, sizeof log);
    ASSERT_EQ (zfarm_client_submit_cb (client, "steps", "40 5", 4, WAIT_MS,
                                       s_result_cb, &log, NULL), 0);
    while (!log.result_seen)
        ASSERT_INT (zfarm_client_wait (client, WAIT_MS, &result), ==,
                    ZFARM_ENOT_FOUND);
    zfarm_client_destroy (&client);
}

static void
test_wait_event (void)
{
    zfarm_client_t *client = zfarm_client_new (s_endpoint);
    zfarm_client_set_progress_events (client, 1);
    uint64_t task_id;
    int64_t started = zclock_mono ();
    ASSERT_EQ (zfarm_client_submit (client, "steps", "50 10", 5, WAIT_MS,
                                    &task_id), 0);
    /* Events that wait to be taken make next_timeout 0: a report is in
     * within 300 ms (the first goes out at once). */
    int64_t until = zclock_mono () + WAIT_MS;
    while (zfarm_client_next_timeout (client) != 0 && zclock_mono () < until) {
        zclock_sleep (50);
        zfarm_client_dispatch (client);
    }
    ASSERT_EQ (zfarm_client_next_timeout (client), 0);
    static log_t log;
    memset (&log, 0, sizeof log);
    while (true) {
        zfarm_event_t event;
        ASSERT_EQ (zfarm_client_wait_event (client, WAIT_MS, &event), 0);
        ASSERT (event.task_id == task_id);
        if (event.type == ZFARM_EVENT_RESULT) {
            ASSERT_EQ (zfarm_result_status (event.result), 0);
            zfarm_result_destroy (&event.result);
            break;
        }
        ASSERT_EQ (event.type, ZFARM_EVENT_PROGRESS);
        ASSERT (event.result == NULL);
        s_on_progress (event.task_id, event.done, event.total, event.note,
                       &log);
    }
    s_check_steps (&log, 50, zclock_mono () - started);
    zfarm_event_t event;
    ASSERT_EQ (zfarm_client_wait_event (client, 0, &event), ZFARM_ENOT_FOUND);
    ASSERT_EQ (zfarm_client_wait_event (client, 0, NULL), ZFARM_EINVALID);
    zfarm_client_destroy (&client);
}

/* A client that did not ask gets none, and costs nothing: no worker sent
 * a PROGRESS (the broker counts each one it takes, forwarded or dropped). */
static void
test_not_asked (void)
{
    long forwarded = th_status_counter (s_endpoint, "progress_forwarded");
    long dropped = th_status_counter (s_endpoint, "progress_dropped");
    ASSERT_INT (forwarded, >, 0);       /* the tests above had some */
    zfarm_client_t *client = zfarm_client_new (s_endpoint);
    ASSERT_EQ (zfarm_client_submit (client, "steps", "20 10", 5, WAIT_MS,
                                    NULL), 0);
    ASSERT_EQ (zfarm_client_submit (client, "sh", "x", 1, WAIT_MS, NULL), 0);
    for (int results = 0; results < 2; results++) {
        zfarm_event_t event;
        ASSERT_EQ (zfarm_client_wait_event (client, WAIT_MS, &event), 0);
        ASSERT_EQ (event.type, ZFARM_EVENT_RESULT);
        ASSERT_EQ (zfarm_result_status (event.result), 0);
        zfarm_result_destroy (&event.result);
    }
    zfarm_client_destroy (&client);
    ASSERT_EQ (th_status_counter (s_endpoint, "progress_forwarded"), forwarded);
    ASSERT_EQ (th_status_counter (s_endpoint, "progress_dropped"), dropped);
    ASSERT_EQ (th_status_counter (s_endpoint, "bad_messages"), 0);
}

/* Runs zfarm call with args; returns its exit status, stdout and stderr. */
static int
s_zfarm_call (const char *const args [], char **out_p, char **err_p)
{
    const char *argv [16] = { th_bin ("zfarm"), "call", "--broker",
                              s_endpoint };
    int argc = 4;
    for (int i = 0; args [i]; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    int status = th_run (argv, NULL, 0, out_p, NULL, err_p, WAIT_MS);
    ASSERT (WIFEXITED (status));
    return WEXITSTATUS (status);
}

/* Checks the lines of zfarm call --progress (stderr not a terminal):
 * "progress DONE/TOTAL PCT% NOTE", DONE rising; returns the last. There
 * may be one only: reports that reach a client before it reads them are
 * one report, the latest (a loaded machine may keep zfarm from reading
 * for the whole of a short task). */
static const char *
s_check_lines (char *err, uint64_t total)
{
    static char last [512];
    uint64_t previous = 0;
    int lines = 0;
    for (char *line = strtok (err, "\n"); line; line = strtok (NULL, "\n")) {
        uint64_t done, of;
        int percent;
        if (sscanf (line, "progress %" SCNu64 "/%" SCNu64 " %d%%",
                    &done, &of, &percent) != 3)
            TEST_FAIL ("not a progress line: '%s'", line);
        ASSERT_EQ (of, total);
        ASSERT_EQ (percent, (int) (done * 100 / total));
        if (lines++)
            ASSERT_INT (done, >, previous);
        previous = done;
        snprintf (last, sizeof last, "%s", line);
    }
    ASSERT_INT (lines, >=, 1);
    return last;
}

static void
test_cli (void)
{
    char *out, *err;
    ASSERT_EQ (s_zfarm_call ((const char *[]) { "--progress", "steps",
                                                "20 20", NULL },
                             &out, &err), 0);
    ASSERT_STR_EQ (out, "20 steps");
    ASSERT_STR_EQ (s_check_lines (err, 20),
                   "progress 20/20 100% step 20 of 20");
    free (out);
    free (err);
    /* Without --progress: nothing on stderr. */
    ASSERT_EQ (s_zfarm_call ((const char *[]) { "steps", "3 1", NULL },
                             &out, &err), 0);
    ASSERT_STR_EQ (out, "3 steps");
    ASSERT_STR_EQ (err, "");
    free (out);
    free (err);
}

/* A note with a newline, escape sequences and a CR: one line, escaped,
 * and no control byte reaches stderr; the result bytes stay exact. */
static void
test_hostile_note (void)
{
    const char *note = "a\nb\x1b[31mred\x1b]0;title\x07\r\xc2\x9b" "2J";
    char *out, *err;
    ASSERT_EQ (s_zfarm_call ((const char *[]) { "--progress", "note", note,
                                                NULL }, &out, &err), 0);
    ASSERT_STR_EQ (out, note);
    ASSERT_STR_EQ (err, "progress 1/1 100% a\\nb\\x1b[31mred\\x1b]0;title"
                        "\\x07\\r\\xc2\\x9b2J\n");
    for (const char *at = err; *at; at++)
        if ((unsigned char) *at < ' ' && *at != '\n')
            TEST_FAIL ("a control byte 0x%02x reached stderr", *at);
    free (out);
    free (err);
}

/* An --exec command reports on fd 3 ($ZFARM_PROGRESS_FD); a malformed
 * line is ignored and logged once; a command that writes there when the
 * caller did not ask writes to /dev/null and succeeds all the same. */
static void
test_exec (void)
{
    char *out, *err;
    ASSERT_EQ (s_zfarm_call ((const char *[]) { "--progress", "sh", "in",
                                                NULL }, &out, &err), 0);
    ASSERT_STR_EQ (out, "fd=3\nin");
    ASSERT_STR_EQ (s_check_lines (err, 3), "progress 3/3 100% end");
    free (out);
    free (err);

    char path [512];
    snprintf (path, sizeof path, "%s/exec.err", th_tmpdir ());
    char *log = th_read_file (path, NULL);
    ASSERT (log);
    ASSERT_EQ (th_count (log, "1 malformed progress line on fd 3 ignored"), 1);
    ASSERT_EQ (th_count (log, "the first: 'progress three 3\\x1b[1m'"), 1);
    free (log);

    long forwarded = th_status_counter (s_endpoint, "progress_forwarded");
    ASSERT_EQ (s_zfarm_call ((const char *[]) { "sh", "quiet", NULL },
                             &out, &err), 0);
    ASSERT_STR_EQ (out, "fd=3\nquiet");
    ASSERT_STR_EQ (err, "");
    ASSERT_EQ (th_status_counter (s_endpoint, "progress_forwarded"), forwarded);
    free (out);
    free (err);
}

/* zfarm call --progress with stderr a terminal: the bar is redrawn in
 * place ("\r", the line, "\033[K") and cleared at the end. */
static void
test_terminal (void)
{
    int master, slave;
    ASSERT_EQ (openpty (&master, &slave, NULL, NULL, NULL), 0);
    char out_path [512];
    snprintf (out_path, sizeof out_path, "%s/tty.out", th_tmpdir ());
    pid_t pid = fork ();
    ASSERT (pid >= 0);
    if (pid == 0) {
        int out = open (out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int none = open ("/dev/null", O_RDONLY);
        dup2 (none, 0);
        dup2 (out, 1);
        dup2 (slave, 2);
        close (master);
        execl (th_bin ("zfarm"), "zfarm", "call", "--broker", s_endpoint,
               "--progress", "steps", "10 40", (char *) NULL);
        _exit (127);
    }
    close (slave);
    char screen [65536];
    size_t size = 0;
    int64_t until = zclock_mono () + WAIT_MS;
    while (size < sizeof screen - 1 && zclock_mono () < until) {
        struct pollfd item = { master, POLLIN, 0 };
        if (poll (&item, 1, 100) <= 0)
            continue;
        ssize_t n = read (master, screen + size, sizeof screen - 1 - size);
        if (n <= 0)
            break;              /* EIO: the child closed the terminal */
        size += (size_t) n;
    }
    screen [size] = 0;
    close (master);
    int status = -1;
    while (waitpid (pid, &status, WNOHANG) == 0 && zclock_mono () < until)
        zclock_sleep (10);
    if (!WIFEXITED (status)) {
        kill (pid, SIGKILL);
        waitpid (pid, &status, 0);
        TEST_FAIL ("zfarm call on a terminal did not end");
    }
    ASSERT_EQ (WEXITSTATUS (status), 0);
    char *out = th_read_file (out_path, NULL);
    ASSERT_STR_EQ (out, "10 steps");
    free (out);
    ASSERT_INT (th_count (screen, "\r["), >=, 2);
    ASSERT (strstr (screen, "\r[####################] 10/10 100% step 10 of"
                            " 10\033[K"));
    ASSERT (!strchr (screen, '\n'));    /* redrawn in place */
    size_t tail = strlen ("\r\033[K");
    ASSERT (size >= tail && strcmp (screen + size - tail, "\r\033[K") == 0);
}

/* ---- the broker, against a fake worker ------------------------------------ */

typedef struct {
    zsock_t *sock;
    zf_decoder_t *decoder;
    uint64_t epoch;             /* a fake broker's, for its PONGs */
} peer_t;

/* The next message of command on sock (others are skipped), its sender
 * into *from_p if sock is a ROUTER (caller destroys). false if none came
 * within timeout_ms. */
static bool
s_peer_expect (peer_t *self, int command, zf_header_t *header,
               zframe_t **from_p, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        zmq_pollitem_t item = { zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 20) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv (self->sock);
        zframe_t *from = from_p? zmsg_pop (msg): NULL;
        zframe_t *head = zmsg_pop (msg);
        ASSERT (head);
        ASSERT_EQ (zf_header_decode (self->decoder, header, zframe_data (head),
                                     zframe_size (head)), 0);
        zframe_destroy (&head);
        zmsg_destroy (&msg);
        if (header->command == command) {
            if (from_p)
                *from_p = from;
            return true;
        }
        if (from && header->command == ZF_PING) {
            /* A fake broker answers, so that the client holds it up. */
            zf_header_t pong;
            zf_header_init (&pong, ZF_PONG);
            pong.epoch = self->epoch;
            th_send_header (self->sock, from, &pong, NULL);
        }
        zframe_destroy (&from);
    }
    return false;
}

static void
s_progress_header (zf_header_t *header, uint64_t task_id, uint64_t done,
                   uint64_t total, const char *note)
{
    zf_header_init (header, ZF_PROGRESS);
    header->task_id = task_id;
    header->done = done;
    header->total = total;
    zf_header_set_text (header, note);
}

/* The broker forwards a PROGRESS only for a task that runs at the worker
 * that sent it, has its client, and asked for progress; it drops (and
 * counts) any other. */
static void
test_broker_rules (void)
{
    const char *endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    peer_t worker = { zsock_new (ZMQ_DEALER), zf_decoder_new (), 0 };
    uint8_t id [ZF_ROUTING_ID_SIZE];
    zf_random_routing_id (id);
    zmq_setsockopt (zsock_resolve (worker.sock), ZMQ_ROUTING_ID, id, sizeof id);
    ASSERT_EQ (zsock_connect (worker.sock, "%s", endpoint), 0);
    zf_header_t header;
    zf_header_init (&header, ZF_READY);
    header.service_count = 1;
    strcpy (header.services [0], "raw");
    header.pid = (uint32_t) getpid ();
    strcpy (header.host, "test");
    zf_header_set_text (&header, "0");
    th_send_header (worker.sock, NULL, &header, NULL);
    ASSERT (th_wait_workers (endpoint, 1, WAIT_MS));

    static log_t log;
    memset (&log, 0, sizeof log);
    zfarm_client_t *client = zfarm_client_new (endpoint);
    zfarm_client_set_progress (client, s_on_progress, &log);
    uint64_t task_id;
    ASSERT_EQ (zfarm_client_submit (client, "raw", "x", 1, WAIT_MS, &task_id),
               0);
    zfarm_client_dispatch (client);
    zf_header_t task;
    ASSERT (s_peer_expect (&worker, ZF_TASK, &task, NULL, WAIT_MS));
    ASSERT (task.flags & ZF_FLAG_PROGRESS);     /* carried from SUBMIT */
    zf_header_init (&header, ZF_HEARTBEAT);
    th_send_header (worker.sock, NULL, &header, NULL);
    /* One for no task, one for the task: only the second goes on. */
    s_progress_header (&header, task.task_id + 1, 1, 2, "no such task");
    th_send_header (worker.sock, NULL, &header, NULL);
    s_progress_header (&header, task.task_id, 1, 2, "raw half");
    th_send_header (worker.sock, NULL, &header, NULL);
    zf_header_init (&header, ZF_DONE);
    header.task_id = task.task_id;
    th_send_header (worker.sock, NULL, &header, NULL);
    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    zfarm_result_destroy (&result);
    ASSERT_EQ (log.count, 1);
    ASSERT (log.task_id [0] == task_id && log.done [0] == 1
            && log.total [0] == 2);
    ASSERT_STR_EQ (log.note [0], "raw half");
    ASSERT_EQ (th_status_counter (endpoint, "progress_forwarded"), 1);
    ASSERT_EQ (th_status_counter (endpoint, "progress_dropped"), 1);

    /* A task that did not ask: the worker's PROGRESS stops at the broker,
     * so that a client of an earlier release never sees one. */
    zfarm_client_set_progress (client, NULL, NULL);
    ASSERT_EQ (zfarm_client_submit (client, "raw", "y", 1, WAIT_MS, NULL), 0);
    zfarm_client_dispatch (client);
    ASSERT (s_peer_expect (&worker, ZF_TASK, &task, NULL, WAIT_MS));
    ASSERT (!(task.flags & ZF_FLAG_PROGRESS));
    s_progress_header (&header, task.task_id, 1, 1, "unasked");
    th_send_header (worker.sock, NULL, &header, NULL);
    zf_header_init (&header, ZF_DONE);
    header.task_id = task.task_id;
    th_send_header (worker.sock, NULL, &header, NULL);
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    zfarm_result_destroy (&result);
    ASSERT_EQ (log.count, 1);
    ASSERT_EQ (th_status_counter (endpoint, "progress_forwarded"), 1);
    ASSERT_EQ (th_status_counter (endpoint, "progress_dropped"), 2);
    ASSERT_EQ (th_status_counter (endpoint, "bad_messages"), 0);

    /* From a peer that is no worker: dropped, and told to register. */
    peer_t stranger = { zsock_new (ZMQ_DEALER), zf_decoder_new (), 0 };
    ASSERT_EQ (zsock_connect (stranger.sock, "%s", endpoint), 0);
    s_progress_header (&header, task.task_id, 1, 1, "stranger");
    th_send_header (stranger.sock, NULL, &header, NULL);
    ASSERT (s_peer_expect (&stranger, ZF_DISCONNECT, &header, NULL, WAIT_MS));
    ASSERT_EQ (th_status_counter (endpoint, "progress_dropped"), 3);

    zfarm_client_destroy (&client);
    zsock_destroy (&worker.sock);
    zsock_destroy (&stranger.sock);
    zf_decoder_destroy (&worker.decoder);
    zf_decoder_destroy (&stranger.decoder);
    free ((char *) endpoint);
}

/* ---- the client, against fake brokers ------------------------------------- */

/* A client given two brokers takes reports only from the one that holds
 * the task, none after its result, and of reports that wait to be taken
 * the latest wins. */
static void
test_client_rules (void)
{
    peer_t brokers [2];
    char endpoints [2][600];
    for (int i = 0; i < 2; i++) {
        brokers [i] = (peer_t) { zsock_new (ZMQ_ROUTER), zf_decoder_new (),
                                 1 + (uint64_t) i };
        snprintf (endpoints [i], sizeof endpoints [i], "ipc://%s/fake%d.ipc",
                  th_tmpdir (), i);
        ASSERT (zsock_bind (brokers [i].sock, "%s", endpoints [i]) == 0);
    }
    char list [1300];
    snprintf (list, sizeof list, "%s,%s", endpoints [0], endpoints [1]);
    zfarm_client_t *client = zfarm_client_new (list);
    static log_t log;
    memset (&log, 0, sizeof log);
    zfarm_client_set_progress (client, s_on_progress, &log);
    uint64_t task_id;
    ASSERT_EQ (zfarm_client_submit (client, "svc", "x", 1, WAIT_MS, &task_id),
               0);
    /* Which broker took it; the other hears the client's PING. */
    zf_header_t header;
    zframe_t *client_id = NULL, *other_id = NULL;
    int holder = -1;
    int64_t until = zclock_mono () + WAIT_MS;
    while (holder < 0 && zclock_mono () < until) {
        zfarm_client_dispatch (client);
        for (int i = 0; i < 2 && holder < 0; i++)
            if (s_peer_expect (&brokers [i], ZF_SUBMIT, &header, &client_id,
                               50))
                holder = i;
    }
    ASSERT (holder >= 0);
    ASSERT (header.task_id == task_id);
    ASSERT (header.flags & ZF_FLAG_PROGRESS);
    peer_t *held = &brokers [holder], *other = &brokers [1 - holder];
    until = zclock_mono () + WAIT_MS;
    while (!other_id && zclock_mono () < until) {
        zfarm_client_dispatch (client);
        s_peer_expect (other, ZF_PING, &header, &other_id, 50);
    }
    ASSERT (other_id);

    s_progress_header (&header, task_id, 1, 9, "from the other");
    th_send_header (other->sock, other_id, &header, NULL);
    s_progress_header (&header, task_id, 1, 3, "first");
    th_send_header (held->sock, client_id, &header, NULL);
    s_progress_header (&header, task_id, 2, 3, "latest");
    th_send_header (held->sock, client_id, &header, NULL);
    s_progress_header (&header, task_id + 100, 1, 3, "no such task");
    th_send_header (held->sock, client_id, &header, NULL);
    zf_header_init (&header, ZF_RESULT);
    header.task_id = task_id;
    th_send_header (held->sock, client_id, &header, NULL);
    s_progress_header (&header, task_id, 3, 3, "after the result");
    th_send_header (held->sock, client_id, &header, NULL);
    zclock_sleep (200);         /* all of it is in the client's socket */

    zfarm_result_t *result;
    ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
    log.result_seen = true;
    log.result_task = task_id;
    zfarm_result_destroy (&result);
    zclock_sleep (100);
    zfarm_client_dispatch (client);
    ASSERT_EQ (log.count, 1);           /* the two replaced by the latest */
    ASSERT (log.done [0] == 2 && log.total [0] == 3);
    ASSERT_STR_EQ (log.note [0], "latest");

    /* Events: a report waiting when the result comes is taken first; and
     * zfarm_client_wait drops the reports queued before its result, which
     * would otherwise come after it. */
    zfarm_client_set_progress (client, NULL, NULL);
    zfarm_client_set_progress_events (client, 1);
    for (int round = 0; round < 2; round++) {
        ASSERT_EQ (zfarm_client_submit (client, "svc", "y", 1, WAIT_MS,
                                        &task_id), 0);
        peer_t *to = NULL;
        zframe_t *id = NULL;
        until = zclock_mono () + WAIT_MS;
        while (!to && zclock_mono () < until) {
            zfarm_client_dispatch (client);
            for (int i = 0; i < 2 && !to; i++)
                if (s_peer_expect (&brokers [i], ZF_SUBMIT, &header, &id, 50))
                    to = &brokers [i];
        }
        ASSERT (to && header.task_id == task_id);
        s_progress_header (&header, task_id, 7, 7, "last");
        th_send_header (to->sock, id, &header, NULL);
        zf_header_init (&header, ZF_RESULT);
        header.task_id = task_id;
        th_send_header (to->sock, id, &header, NULL);
        zframe_destroy (&id);
        zclock_sleep (200);
        zfarm_event_t event;
        if (round == 0) {
            ASSERT_EQ (zfarm_client_wait_event (client, WAIT_MS, &event), 0);
            ASSERT_EQ (event.type, ZFARM_EVENT_PROGRESS);
            ASSERT (event.done == 7 && event.task_id == task_id);
            ASSERT_STR_EQ (event.note, "last");
            ASSERT_EQ (zfarm_client_wait_event (client, WAIT_MS, &event), 0);
            ASSERT_EQ (event.type, ZFARM_EVENT_RESULT);
            zfarm_result_destroy (&event.result);
        }
        else {
            ASSERT_EQ (zfarm_client_wait (client, WAIT_MS, &result), 0);
            zfarm_result_destroy (&result);
        }
        ASSERT_EQ (zfarm_client_wait_event (client, 0, &event),
                   ZFARM_ENOT_FOUND);
    }

    /* A client that did not ask says so: no flag on its SUBMIT. */
    zfarm_client_set_progress_events (client, 0);
    ASSERT_EQ (zfarm_client_submit (client, "svc", "z", 1, WAIT_MS, NULL), 0);
    zframe_t *from = NULL;
    until = zclock_mono () + WAIT_MS;
    while (!from && zclock_mono () < until) {
        zfarm_client_dispatch (client);
        for (int i = 0; i < 2 && !from; i++)
            s_peer_expect (&brokers [i], ZF_SUBMIT, &header, &from, 50);
    }
    ASSERT (from && !(header.flags & ZF_FLAG_PROGRESS));
    zframe_destroy (&from);

    zfarm_client_destroy (&client);
    zframe_destroy (&client_id);
    zframe_destroy (&other_id);
    for (int i = 0; i < 2; i++) {
        zsock_destroy (&brokers [i].sock);
        zf_decoder_destroy (&brokers [i].decoder);
    }
}

/* ---- the worker, against a fake broker ------------------------------------ */

/* zfarm-worker sends a task's reports at most once per 100 ms, the latest,
 * and the last one before the DONE; none for a task that did not ask. */
static void
test_worker_rules (void)
{
    peer_t broker = { zsock_new (ZMQ_ROUTER), zf_decoder_new (), 0 };
    char endpoint [600];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/fake-broker.ipc",
              th_tmpdir ());
    ASSERT (zsock_bind (broker.sock, "%s", endpoint) == 0);
    const char *args [] = { "--service", "steps", "--module",
                            th_module ("primes.so"), "--function",
                            "zfarm_steps", "--heartbeat", "100",
                            "--liveness", "50", NULL };
    th_worker_start (endpoint, args);
    zf_header_t header;
    zframe_t *worker = NULL;
    ASSERT (s_peer_expect (&broker, ZF_READY, &header, &worker, WAIT_MS));

    for (int asked = 1; asked >= 0; asked--) {
        zf_header_t task;
        zf_header_init (&task, ZF_TASK);
        task.task_id = 100 + asked;
        task.attempt = 1;
        zf_header_set_service (&task, "steps");
        task.flags = asked? ZF_FLAG_PROGRESS: 0;
        int64_t sent = zclock_mono ();
        th_send_header (broker.sock, worker, &task, "60 10");

        int reports = 0;
        uint64_t last = 0;
        while (true) {
            zframe_t *from = NULL;
            zmq_pollitem_t item = { zsock_resolve (broker.sock), 0,
                                    ZMQ_POLLIN, 0 };
            ASSERT_INT (zmq_poll (&item, 1, WAIT_MS), ==, 1);
            zmsg_t *msg = zmsg_recv (broker.sock);
            from = zmsg_pop (msg);
            zframe_t *head = zmsg_pop (msg);
            ASSERT_EQ (zf_header_decode (broker.decoder, &header,
                                         zframe_data (head),
                                         zframe_size (head)), 0);
            zframe_destroy (&head);
            zframe_destroy (&from);
            zmsg_destroy (&msg);
            if (header.command == ZF_HEARTBEAT)
                continue;
            if (header.command == ZF_DONE)
                break;
            ASSERT_EQ (header.command, ZF_PROGRESS);
            ASSERT (header.task_id == task.task_id);
            if (reports++)
                ASSERT_INT (header.done, >, last);
            last = header.done;
        }
        int64_t elapsed = zclock_mono () - sent;
        ASSERT_EQ (header.status, 0);
        if (asked) {
            ASSERT_INT (reports, >=, 2);
            ASSERT_INT (reports, <=, elapsed / 100 + 2);
            ASSERT_EQ (last, 60);       /* the final value, before DONE */
        }
        else
            ASSERT_EQ (reports, 0);
    }
    zframe_destroy (&worker);
    zsock_destroy (&broker.sock);
    zf_decoder_destroy (&broker.decoder);
}

int
main (void)
{
    s_endpoint = strdup (th_broker_start ("ipc", NULL).endpoint);
    const char *steps [] = { "--service", "steps", "--module",
                             th_module ("primes.so"), "--function",
                             "zfarm_steps", "--capacity", "2", NULL };
    th_worker_start (s_endpoint, steps);
    const char *note [] = { "--service", "note", "--module",
                            th_module ("echo.so"), "--function", "zfarm_note",
                            NULL };
    th_worker_start (s_endpoint, note);
    const char *exec [] = { th_bin ("zfarm-worker"), "--broker", s_endpoint,
        "--service", "sh", "--exec",
        "echo fd=$ZFARM_PROGRESS_FD; for i in 1 2; do"
        " echo \"progress $i 3 step $i\" >&$ZFARM_PROGRESS_FD; sleep 0.15;"
        " done; printf 'progress three 3\\033[1m\\n' >&3;"
        " printf 'progress 3 3 end' >&3; cat", NULL };
    th_spawn ("exec", exec);
    ASSERT (th_wait_workers (s_endpoint, 3, WAIT_MS));

    test_callback_in_order ();
    test_wait_event ();
    test_cli ();
    test_hostile_note ();
    test_exec ();
    test_not_asked ();
    test_terminal ();
    test_broker_rules ();
    test_client_rules ();
    test_worker_rules ();
    free ((char *) s_endpoint);
    TEST_PASS ("test_progress");
    return 0;
}
