/* cli_map.c: `zfarm map`: one task per input line (or file), results in
 * input order.
 *
 * Invariant: items_read - items_written <= window. An item holds its slot
 * in a ring of window slots from when it is read until its result is
 * written, so the results held back behind a slow one, like the tasks in
 * flight, are bounded by the window, never by the size of the input. */
#include "cli.h"
#include "cli_retry.h"
#include "cli_lines.h"
#include "cli_progress.h"
#include "cli_when.h"
#include "cli_util.h"
#include "zfarm.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest payload: what fits in a message under the broker's default
 * --max-msg-size, as for `zfarm call`. */
#define PAYLOAD_MAX ((size_t) (ZFARM_DEFAULT_MAX_MSG_SIZE - ZFARM_HEADER_MAX))

#define WINDOW_DEFAULT   128    /* 64 worker slots busy, one more queued
                                   for each */
#define WINDOW_MAX       100000
#define BATCH_DEFAULT    64     /* SUBMITs per message: a window of 128
                                   leaves in two */
#define OPT_BATCH        0x220  /* --batch, which has no short form */
#define FAILURES_LISTED  20     /* failures reported one by one */
#define FAILURE_MAX      2048   /* bytes of one failure line */

typedef struct {
    const char *broker;         /* NULL: $ZFARM_BROKER or the default */
    long timeout_ms;            /* each task's, from its submission; 0: none */
    long retries;               /* -1: the broker's default */
    cli_retry_t retry;          /* --retry-on, --backoff */
    long window;                /* items outstanding at most */
    long batch;                 /* SUBMITs held per message, 0: none */
    bool files;                 /* lines name files, whose bytes are sent */
    bool null;                  /* end results with NUL, not newline */
    bool quiet;                 /* no progress bar */
    const char *service;
    cli_when_t when;            /* --priority, --delay, --at */
} map_args_t;

/* One item of the window, from when it is read until it is written. */
typedef struct {
    uint64_t task_id;           /* its task: the key in map->running */
    zfarm_result_t *result;     /* the task's outcome, once it came */
    const char *local_name;     /* or a failure before any task: its name */
    char *local_text;           /* ... and its text */
} slot_t;

typedef struct {
    const map_args_t *args;
    zfarm_client_t *client;
    lines_t *input;             /* stdin */
    slot_t *slots;              /* the window: item n in slots [(n-1) % window] */
    zhashx_t *running;          /* task id -> slot, for tasks not yet ended */
    uint64_t items_read;        /* items taken from the input */
    uint64_t items_ended;       /* ... that have their outcome */
    uint64_t items_written;     /* ... whose result is on stdout */
    uint64_t failed;            /* items that failed, among those written */
    char *failures [FAILURES_LISTED];   /* the first of them, as reported */
    int write_error;            /* errno of a failed write to stdout, or 0 */
    progress_t *progress;       /* on stderr, if it is a terminal */
} map_t;

/* ---- the command line -------------------------------------------------- */

static void
s_print_help (void)
{
    printf (
"usage: zfarm map [OPTIONS] SERVICE < INPUTS\n\n"
"Runs a task on SERVICE for each line of stdin, many at once, and writes\n"
"each result to stdout as a line, in the order of the input, as soon as\n"
"those before it are written. A line's payload is its bytes without the\n"
"newline: an empty line is an empty payload, and a last line without a\n"
"newline counts. A result that ends with a newline (most commands' output\n"
"does) is written as it is, any other gets one; so one that holds more\n"
"newlines spans several lines. --null writes each result's bytes exactly,\n"
"then a NUL byte, to keep them all apart. A failed item writes an empty\n"
"result, so that result N still belongs to line N.\n"
"When stderr is a terminal, a progress bar shows the items done, their\n"
"rate and, if stdin is a file, the time left. Options come before SERVICE.\n"
"\n"
"  -b, --broker EP    broker endpoint, or several separated by commas,\n"
"                     to use them all (default $ZFARM_BROKER, else\n"
"                     %s)\n"
"  -t, --timeout MS   each task's limit, counted from its submission, so\n"
"                     including its wait in the broker's queue (default 0:\n"
"                     none; map waits as long as it takes, also for a\n"
"                     broker that is down)\n"
"  -r, --retries N    retries after a failure, 0..%d, or -1 for the\n"
"                     service's (the broker's --max-retries) (default -1)\n"
CLI_RETRY_HELP
"  -w, --window N     items read but not yet written, at most, 1..%d\n"
"                     (default %d); tasks in flight are as many or fewer:\n"
"                     for tasks of a few ms, a larger window (1000s) keeps\n"
"                     the workers busy and the batches full\n"
"      --batch N      send up to N tasks' submissions in one message, to a\n"
"                     broker that takes batches, 1..%d, or 0 for one\n"
"                     message per task (default %d): far faster for many\n"
"                     tiny tasks; each task still gets its own result\n"
"  -f, --files        each line names a regular file, whose bytes are the\n"
"                     payload; one that cannot be read fails alone\n"
"  -0, --null         write each result's bytes as they are, ended by a\n"
"                     NUL byte (a final newline kept, none added)\n"
"  -q, --quiet        no progress bar (shown only when stderr is a terminal)\n"
CLI_WHEN_HELP
"                     (every item: --at makes them all due at TIME)\n"
"  -h, --help         show this help\n\n"
"Exit status: 0 if every item succeeded; 1 if any failed (stderr lists\n"
"them, 'zfarm: item N (line N): NAME: text', the first %d); 2 for a usage\n"
"error; 130 if interrupted (Ctrl-C: results are written up to the first\n"
"item not finished, the others are cancelled, which stops their work; a\n"
"second Ctrl-C exits at once).\n",
            ZFARM_DEFAULT_ENDPOINT, ZFARM_RETRIES_MAX, WINDOW_MAX, WINDOW_DEFAULT,
            ZFARM_BATCH_ITEMS_MAX, BATCH_DEFAULT, FAILURES_LISTED);
}

/* Parses the value of --timeout, --retries, --window or --batch (code 't',
 * 'r', 'w' or OPT_BATCH) into args. Returns -1 to go on, or the exit
 * status. */
static int
s_parse_number (int code, map_args_t *args)
{
    long *value = code == 't'? &args->timeout_ms:
                  code == 'r'? &args->retries:
                  code == 'w'? &args->window: &args->batch;
    const char *name = code == 't'? "--timeout":
                       code == 'r'? "--retries":
                       code == 'w'? "--window": "--batch";
    long min = code == 't' || code == OPT_BATCH? 0: code == 'r'? -1: 1;
    long max = code == 't'? INT_MAX: code == 'r'? ZFARM_RETRIES_MAX:
               code == 'w'? WINDOW_MAX: ZFARM_BATCH_ITEMS_MAX;
    if (cli_parse_long (optarg, min, max, value) == 0)
        return -1;
    return cli_usage_error ("map", "bad %s '%s'", name, optarg);
}

static const struct option s_options [] = {
    { "broker",  required_argument, NULL, 'b' },
    { "timeout", required_argument, NULL, 't' },
    { "retries", required_argument, NULL, 'r' },
    CLI_RETRY_OPTIONS,
    { "window",  required_argument, NULL, 'w' },
    { "batch",   required_argument, NULL, OPT_BATCH },
    { "files",   no_argument,       NULL, 'f' },
    { "null",    no_argument,       NULL, '0' },
    { "quiet",   no_argument,       NULL, 'q' },
    { "help",    no_argument,       NULL, 'h' },
    CLI_WHEN_OPTIONS,
    { NULL, 0, NULL, 0 }
};

/* Fills args from argv. Returns -1 to go on, or the exit status. */
static int
s_parse_args (int argc, char *argv [], map_args_t *args)
{
    opterr = 0;
    int code, rc = -1;
    while (rc < 0 && (code = getopt_long (argc, argv, "+:b:t:r:w:f0qh",
                                          s_options, NULL)) != -1) {
        if (code == 'h') {
            s_print_help ();
            return CLI_EXIT_OK;
        }
        if (code == '?' || code == ':')
            return cli_bad_option ("map", code, argv);
        if (code == 'b')
            args->broker = optarg;
        else
        if (code == 'f')
            args->files = true;
        else
        if (code == '0')
            args->null = true;
        else
        if (code == 'q')
            args->quiet = true;
        else
        if (code >= CLI_WHEN_PRIORITY && code <= CLI_WHEN_AT)
            rc = cli_when_parse (&args->when, "map", code, optarg);
        else
        if (code == CLI_OPT_RETRY_ON || code == CLI_OPT_BACKOFF)
            rc = cli_retry_option ("map", code, optarg, &args->retry);
        else
            rc = s_parse_number (code, args);
    }
    if (rc >= 0)
        return rc;
    if (optind == argc)
        return cli_usage_error ("map", "missing SERVICE");
    if (argc - optind > 1)
        return cli_usage_error ("map", "too many arguments");
    args->service = argv [optind];
    if (!zfarm_service_name_is_valid (args->service, strlen (args->service)))
        return cli_usage_error ("map", "bad service name '%s'", args->service);
    return -1;
}

/* ---- items ------------------------------------------------------------- */

static slot_t *
s_map_slot (map_t *self, uint64_t item)
{
    return &self->slots [(item - 1) % (uint64_t) self->args->window];
}

static bool
s_map_has_room (const map_t *self)
{
    return self->items_read - self->items_written
         < (uint64_t) self->args->window;
}

/* Ends an item before it became a task. */
static void
s_slot_fail (map_t *self, slot_t *slot, const char *name, const char *text)
{
    slot->local_name = name;
    slot->local_text = cli_strdup (text);
    self->items_ended++;
}

static void
s_map_submit (map_t *self, slot_t *slot, const void *data, size_t size)
{
    cli_when_apply (&self->args->when, self->client);
    int rc = zfarm_client_submit (self->client, self->args->service, data,
                                  size, (int) self->args->timeout_ms,
                                  &slot->task_id);
    if (rc == 0)
        zhashx_insert (self->running, &slot->task_id, slot);
    else
        s_slot_fail (self, slot, zfarm_err_name (rc), zfarm_strerror (rc));
}

/* Reads size bytes of fd into *data_p (caller frees), fewer if the file
 * shrank meanwhile. Returns NULL, or why it could not. */
static const char *
s_file_slurp (int fd, size_t size, char **data_p, size_t *size_p)
{
    char *data = cli_malloc (size + 1);
    size_t got = 0;
    /* Each turn reads some bytes or is a signal's EINTR; an interrupt ends
     * the loop, since the run is ending anyway. */
    while (got < size) {
        ssize_t n = read (fd, data + got, size - got);
        if (n == 0)
            break;
        if (n > 0)
            got += (size_t) n;
        else
        if (errno != EINTR || zsys_interrupted) {
            const char *reason = strerror (errno);
            free (data);
            return reason;
        }
    }
    *data_p = data;
    *size_p = got;
    return NULL;
}

/* Reads a whole regular file into *data_p (caller frees). Returns NULL, or
 * the name of the failure, with "path: reason" in why. Opening does not
 * block, even on a FIFO, which is refused: only a regular file has an end
 * that is sure to come. */
static const char *
s_file_read (const char *path, char **data_p, size_t *size_p,
             char *why, size_t why_size)
{
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    const char *problem = NULL;
    if (fd < 0 || fstat (fd, &st) != 0)
        problem = strerror (errno);
    else
    if (!S_ISREG (st.st_mode))
        problem = S_ISDIR (st.st_mode)? strerror (EISDIR)
                                      : "not a regular file";
    bool too_large = !problem && (uint64_t) st.st_size > PAYLOAD_MAX;
    if (!problem && !too_large)
        problem = s_file_slurp (fd, (size_t) st.st_size, data_p, size_p);
    if (fd >= 0)
        close (fd);
    if (too_large)
        snprintf (why, why_size, "%s: larger than %zu bytes", path,
                  PAYLOAD_MAX);
    else
    if (problem)
        snprintf (why, why_size, "%s: %s", path, problem);
    return too_large? zfarm_err_name (ZFARM_ETOO_LARGE):
           problem? "UNREADABLE": NULL;
}

static void
s_map_submit_file (map_t *self, slot_t *slot, const char *line, size_t size)
{
    if (memchr (line, 0, size)) {
        s_slot_fail (self, slot, "UNREADABLE", "the name has a NUL byte");
        return;
    }
    char *path = cli_malloc (size + 1);
    memcpy (path, line, size);
    char why [FAILURE_MAX], *data = NULL;
    size_t data_size = 0;
    const char *failure = s_file_read (path, &data, &data_size,
                                       why, sizeof why);
    if (failure)
        s_slot_fail (self, slot, failure, why);
    else {
        s_map_submit (self, slot, data, data_size);
        free (data);
    }
    free (path);
}

/* A line over the limit: a file name longer than a path may be, or a
 * payload larger than a message may hold. */
static void
s_map_fail_long_line (map_t *self, slot_t *slot)
{
    char text [128];
    if (self->args->files)
        s_slot_fail (self, slot, "UNREADABLE", strerror (ENAMETOOLONG));
    else {
        snprintf (text, sizeof text, "the line is longer than %zu bytes",
                  PAYLOAD_MAX);
        s_slot_fail (self, slot, zfarm_err_name (ZFARM_ETOO_LARGE), text);
    }
}

/* Takes items from what has been read while the window has room. */
static void
s_map_fill (map_t *self)
{
    while (s_map_has_room (self)) {
        const char *line;
        size_t size;
        lines_kind_t kind = lines_take (self->input, &line, &size);
        if (kind == LINES_NONE)
            break;
        slot_t *slot = s_map_slot (self, ++self->items_read);
        if (kind == LINES_TOO_LONG)
            s_map_fail_long_line (self, slot);
        else
        if (self->args->files)
            s_map_submit_file (self, slot, line, size);
        else
            s_map_submit (self, slot, line, size);
    }
}

/* Files a task's result with its item. */
static void
s_map_store (map_t *self, zfarm_result_t *result)
{
    uint64_t task_id = zfarm_result_task_id (result);
    slot_t *slot = zhashx_lookup (self->running, &task_id);
    if (!slot) {
        zfarm_result_destroy (&result);    /* not ours: cannot happen */
        return;
    }
    zhashx_delete (self->running, &task_id);
    slot->result = result;
    self->items_ended++;
}

/* ---- waiting ----------------------------------------------------------- */

static bool
s_map_wants_input (const map_t *self)
{
    return lines_is_open (self->input) && s_map_has_room (self);
}

/* Waits for stdin or the client, whichever is ready first, and reads stdin
 * if it is. The client's fd signals edges: next_timeout is 0 whenever input
 * is left over from an earlier turn, so that none is slept through. The
 * SUBMITs held for a batch go first: their results are what it waits for. */
static void
s_map_poll (map_t *self, int timeout)
{
    zfarm_client_flush (self->client);
    int next = zfarm_client_next_timeout (self->client);
    if (next >= 0 && (timeout < 0 || next < timeout))
        timeout = next;
    struct pollfd items [2] = {
        { STDIN_FILENO, POLLIN, 0 },
        { zfarm_client_fd (self->client), POLLIN, 0 }
    };
    if (poll (items, 2, timeout) > 0 && items [0].revents)
        lines_read (self->input);
}

/* Waits until something can move (a line to read, a result to file, the
 * bar to draw), then files every result that has come. */
static void
s_map_await (map_t *self)
{
    int timeout = progress_due (self->progress);
    if (s_map_wants_input (self)) {
        s_map_poll (self, timeout);
        timeout = 0;
    }
    zfarm_result_t *result;
    while (zfarm_client_wait (self->client, timeout, &result) == 0) {
        s_map_store (self, result);
        timeout = 0;
    }
}

/* ---- output ------------------------------------------------------------ */

/* "NAME: text" of a failed item's outcome, on one line: escaped as
 * zfarm_escape does, since a handler's stderr has newlines and may hold
 * anything, and a file name in the input too. */
static void
s_describe_failure (const slot_t *slot, char *text, size_t size)
{
    /* One byte more than text holds: a longer description is marked. */
    char raw [FAILURE_MAX + 1];
    assert (size <= FAILURE_MAX);
    if (slot->local_name)
        snprintf (raw, size + 1, "%s: %s", slot->local_name, slot->local_text);
    else {
        int status = zfarm_result_status (slot->result);
        const char *details = zfarm_result_error (slot->result);
        bool more = *details && strcmp (details, zfarm_strerror (status)) != 0;
        snprintf (raw, size + 1, "%s: %s%s%s%s", zfarm_err_name (status),
                  zfarm_strerror (status), more? " (": "", more? details: "",
                  more? ")": "");
    }
    zfarm_escape (text, size, raw, strlen (raw));
}

static void
s_map_record_failure (map_t *self, uint64_t item, const slot_t *slot)
{
    self->failed++;
    if (self->failed > FAILURES_LISTED)
        return;
    char text [FAILURE_MAX], line [FAILURE_MAX + 64];
    s_describe_failure (slot, text, sizeof text);
    snprintf (line, sizeof line, "item %" PRIu64 " (line %" PRIu64 "): %s",
              item, item, text);
    self->failures [self->failed - 1] = cli_strdup (line);
}

/* Writes one item's result and frees its slot for the next item. */
static void
s_map_write_item (map_t *self, uint64_t item, slot_t *slot)
{
    size_t size = 0;
    const void *data = "";
    if (slot->result && zfarm_result_status (slot->result) == 0)
        data = zfarm_result_data (slot->result, &size);
    else
        s_map_record_failure (self, item, slot);
    /* One line per result, as $(...) and GNU parallel give: a result's own
     * final newline (nearly every command's output has one) ends its line.
     * --null keeps the bytes exactly. */
    if (!self->args->null && size > 0 && ((const char *) data) [size - 1] == '\n')
        size--;
    if (fwrite (data, 1, size, stdout) != size
    ||  putchar (self->args->null? '\0': '\n') == EOF)
        self->write_error = self->write_error? self->write_error: errno;
    zfarm_result_destroy (&slot->result);
    free (slot->local_text);
    *slot = (slot_t) { 0 };
}

/* Writes the results that have become contiguous with those written. */
static void
s_map_write (map_t *self)
{
    uint64_t before = self->items_written;
    while (self->items_written < self->items_read && !self->write_error) {
        uint64_t item = self->items_written + 1;
        slot_t *slot = s_map_slot (self, item);
        if (!slot->result && !slot->local_name)
            break;
        progress_hide (self->progress);
        s_map_write_item (self, item, slot);
        self->items_written = item;
    }
    if (self->items_written > before && fflush (stdout) != 0
    &&  !self->write_error)
        self->write_error = errno;
}

/* ---- the run ----------------------------------------------------------- */

/* The tasks in flight, by id. One client's ids count up from 1, so the id
 * itself spreads them over zhashx's buckets, whose number is a prime. */
static size_t
s_task_id_hash (const void *key)
{
    return (size_t) *(const uint64_t *) key;
}

static int
s_task_id_compare (const void *key1, const void *key2)
{
    uint64_t id1 = *(const uint64_t *) key1, id2 = *(const uint64_t *) key2;
    return id1 < id2? -1: id1 > id2;
}

/* The keys are the slots' own task_id fields: neither copied nor freed. */
static zhashx_t *
s_task_table_new (void)
{
    zhashx_t *table = zhashx_new ();
    if (!table)
        cli_die_nomem ();
    zhashx_set_key_hasher (table, s_task_id_hash);
    zhashx_set_key_comparator (table, s_task_id_compare);
    zhashx_set_key_duplicator (table, NULL);
    zhashx_set_key_destructor (table, NULL);
    return table;
}

static void
s_map_init (map_t *self, const map_args_t *args, zfarm_client_t *client)
{
    *self = (map_t) { .args = args, .client = client };
    self->input = lines_new (STDIN_FILENO,
                             args->files? PATH_MAX - 1: PAYLOAD_MAX);
    self->slots = cli_malloc ((size_t) args->window * sizeof (slot_t));
    self->running = s_task_table_new ();     /* key is &slot->task_id */
    self->progress = progress_new (args->quiet);
    if (progress_is_shown (self->progress))
        progress_set_total (self->progress, lines_count_left (STDIN_FILENO));
}

static void
s_map_cleanup (map_t *self)
{
    for (long i = 0; i < self->args->window; i++) {
        zfarm_result_destroy (&self->slots [i].result);
        free (self->slots [i].local_text);
    }
    for (int i = 0; i < FAILURES_LISTED; i++)
        free (self->failures [i]);
    free (self->slots);
    zhashx_destroy (&self->running);
    lines_destroy (&self->input);
    progress_destroy (&self->progress);
}

/* True once the input has ended and every item of it is written. */
static bool
s_map_is_done (const map_t *self)
{
    return lines_is_exhausted (self->input)
        && self->items_written == self->items_read;
}

/* Cancels the tasks still running, for an early end. Returns how many. */
static size_t
s_map_cancel (map_t *self)
{
    size_t count = zhashx_size (self->running);
    for (slot_t *slot = zhashx_first (self->running); slot;
         slot = zhashx_next (self->running))
        zfarm_client_cancel (self->client, slot->task_id);
    return count;
}

/* Says on stderr what went wrong, if anything. Returns the exit status. */
static int
s_map_report (map_t *self)
{
    bool interrupted = !s_map_is_done (self) && zsys_interrupted;
    size_t cancelled = s_map_cancel (self);
    progress_destroy (&self->progress);    /* the bar leaves the screen */
    for (uint64_t i = 0; i < self->failed && i < FAILURES_LISTED; i++)
        fprintf (stderr, "zfarm: %s\n", self->failures [i]);
    if (self->failed > FAILURES_LISTED)
        fprintf (stderr, "zfarm: and %" PRIu64 " more\n",
                 self->failed - FAILURES_LISTED);
    int read_error = lines_error (self->input);
    if (read_error)
        fprintf (stderr, "zfarm: reading stdin: %s\n", strerror (read_error));
    if (self->write_error)
        fprintf (stderr, "zfarm: writing the results: %s\n",
                 strerror (self->write_error));
    else
    if (interrupted)
        fprintf (stderr, "zfarm: interrupted: %" PRIu64 " results written, "
                 "%zu tasks cancelled\n", self->items_written, cancelled);
    if (interrupted && !self->write_error)
        return CLI_EXIT_INTERRUPTED;
    return self->failed || read_error || self->write_error?
           CLI_EXIT_FAILED: CLI_EXIT_OK;
}

/* Feeds the window and writes what comes back until the input is done. The
 * loop ends when the input has ended and every item is written, or on a
 * write error or an interrupt; each turn reads, files or writes something
 * or waits for one of those. */
static int
s_map_run (const map_args_t *args, zfarm_client_t *client)
{
    map_t self;
    s_map_init (&self, args, client);
    while (!s_map_is_done (&self) && !self.write_error && !zsys_interrupted) {
        progress_draw (self.progress, self.items_ended, self.failed);
        s_map_fill (&self);
        s_map_await (&self);
        s_map_fill (&self);
        s_map_write (&self);
    }
    int exit_status = s_map_report (&self);
    s_map_cleanup (&self);
    return exit_status;
}

int
cli_map (int argc, char *argv [])
{
    map_args_t args = { .retries = -1, .window = WINDOW_DEFAULT,
                        .batch = BATCH_DEFAULT };
    cli_when_init (&args.when);
    int rc = s_parse_args (argc, argv, &args);
    if (rc >= 0)
        return rc;
    zfarm_client_t *client = cli_connect ("map", args.broker);
    if (!client)
        return CLI_EXIT_USAGE;
    zfarm_client_set_retries (client, (int) args.retries);
    zfarm_client_set_batch (client, (int) args.batch);    /* in range */
    cli_retry_apply (client, &args.retry);
    rc = s_map_run (&args, client);
    zfarm_client_destroy (&client);
    return rc;
}
