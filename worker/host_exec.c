/* host_exec.c: zfarm-worker --exec: one command per task, via /bin/sh -c.
 *
 * The payload is written to the command's stdin while its stdout and stderr
 * are read, all in one poll() loop, so that a command which writes before
 * it has read all of its input never deadlocks against us. The command runs
 * in its own process group, so that the kill at --max-call-time, at the
 * task's timeout (plus a grace), or when the task is cancelled, takes
 * whatever it started too.
 * Close-on-exec pipes, and only async-signal-safe calls between fork and
 * exec, keep this safe with many slots.
 *
 * Progress: the command's fd 3 ($ZFARM_PROGRESS_FD) is a fourth pipe when
 * the task's caller asked for progress, whose lines (progress_line.h)
 * become zfarm_task_progress reports; otherwise it is /dev/null, so that a
 * command that reports costs nothing when nobody listens, and one that
 * never writes there costs nothing at all. */
#include "host.h"
#include "progress_line.h"
#include "task_internal.h"
#include "zf_log.h"
#include "zf_curve.h"
#include "zf_defaults.h"
#include "zf_util.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXEC_CHUNK        65536     /* bytes per read or write */
#define EXEC_STDERR_MAX   900       /* bytes of stderr kept for the error */
#define EXEC_OUTPUT_MAX   ((size_t) ZF_DEFAULT_MAX_MSG_SIZE)
#define EXEC_WAIT_NAP_MS  10        /* see s_wait */
#define EXEC_PROGRESS_FD  3         /* the command's progress descriptor */
#define EXEC_PROGRESS_ENV "ZFARM_PROGRESS_FD"
#define EXEC_EXIT_PERMANENT 65      /* EX_DATAERR: fail, and retry not */

/* The broker ends a task that overruns (TIMEOUT) by itself; killing the
 * command is the backstop that frees the slot. Waiting this long past the
 * deadline lets the broker's verdict reach the client first, as the client
 * library also waits one second for it. */
#define EXEC_KILL_GRACE_MS 1000

extern char **environ;

typedef enum {
    RUN_OK, RUN_TIMED_OUT, RUN_OVERRAN, RUN_TOO_LARGE, RUN_CANCELLED
} verdict_t;

typedef struct {
    pid_t pid;                  /* the shell, leader of its process group */
    int64_t started;            /* ms, when the handler began */
    int in_fd;                  /* its stdin; -1 once the payload is in */
    int out_fd;                 /* its stdout; -1 at end of file */
    int err_fd;                 /* its stderr; -1 at end of file */
    int progress_fd;            /* its fd 3, when progress is wanted; -1
                                   at end of file or when not */
    zf_progress_lines_t *lines; /* what was read of it, with progress_fd */
    zfarm_task_t *task;
    int cancel_fd;              /* readable once the task is cancelled (the
                                   task's); -1 if the system gave none */
    const char *in;             /* the payload */
    size_t in_size;
    size_t in_done;             /* bytes of payload written */
    char *out;                  /* stdout so far */
    size_t out_size;
    size_t out_capacity;
    char err [EXEC_STDERR_MAX + 1]; /* the start of stderr */
    size_t err_size;
    bool err_truncated;         /* stderr had more than err keeps */
    int64_t deadline;           /* kill the command then; 0 = never */
    int64_t call_end;           /* when it overruns --max-call-time; 0 = never */
    verdict_t verdict;          /* why we killed it, if we did */
} run_t;

/* ---- starting the command ---------------------------------------------- */

/* environ plus ZFARM_SERVICE, ZFARM_ATTEMPT and ZFARM_PROGRESS_FD for
 * this task (and, on a retry, ZFARM_LAST_STATUS and ZFARM_LAST_ERROR: how
 * the attempt before failed), less the worker's CURVE settings: the
 * command serves a task, it is not the worker, and has no use for its
 * keys. The strings live in vars; the array is the caller's to free. */
#define ENV_OWN 5
#define ENV_VAR_MAX (ZF_TEXT_MAX + 32)
static char **
s_environment (zfarm_task_t *task, char vars [ENV_OWN][ENV_VAR_MAX])
{
    static const char *const own [] = {
        "ZFARM_SERVICE=", "ZFARM_ATTEMPT=", EXEC_PROGRESS_ENV "=",
        "ZFARM_LAST_STATUS=", "ZFARM_LAST_ERROR=",
        ZF_CURVE_SERVER_KEY_ENV "=", ZF_CURVE_CERT_ENV "=" };
    size_t count = 0;
    while (environ [count])
        count++;
    char **env = zf_malloc ((count + ENV_OWN + 1) * sizeof *env);
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        size_t k = 0;
        while (k < sizeof own / sizeof own [0]
           &&  strncmp (environ [i], own [k], strlen (own [k])) != 0)
            k++;
        if (k == sizeof own / sizeof own [0])
            env [used++] = environ [i];
    }
    snprintf (vars [0], ENV_VAR_MAX, "ZFARM_SERVICE=%s",
              zfarm_task_service (task));
    snprintf (vars [1], ENV_VAR_MAX, "ZFARM_ATTEMPT=%u",
              zfarm_task_attempt (task));
    env [used++] = vars [0];
    env [used++] = vars [1];
    env [used++] = EXEC_PROGRESS_ENV "=3";
    int last_code;
    const char *last_error = zfarm_task_last_error (task, &last_code);
    if (last_error) {
        snprintf (vars [2], ENV_VAR_MAX, "ZFARM_LAST_STATUS=%s",
                  zfarm_err_name (last_code));
        snprintf (vars [3], ENV_VAR_MAX, "ZFARM_LAST_ERROR=%s", last_error);
        env [used++] = vars [2];
        env [used++] = vars [3];
    }
    env [used] = NULL;
    return env;
}

/* In the child, between fork and exec: async-signal-safe calls only.
 *
 * Until setpgid the child is in the worker's process group, and a signal
 * sent to that group (a supervisor's SIGTERM: finish your tasks) reaches it
 * too; blocked since fork, it would kill the command right after exec.
 * Setting SIG_IGN discards such a pending signal; then the disposition
 * goes back to what exec would give. SIGPIPE, which the worker ignores,
 * gets its default, and the mask is emptied.
 *
 * The command dies with its worker (PR_SET_PDEATHSIG: the slot thread that
 * forked it lives until the worker's tasks are done), so that a worker
 * killed outright, with no supervisor left to clean up, leaves no command
 * running; if the worker died before prctl, the command never starts. */
static void
s_child_exec (int pipes [4][2], char *argv [], char **env, pid_t worker)
{
    setpgid (0, 0);
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != worker)
        _exit (127);
    static const int meant_for_the_worker [] = {
        SIGTERM, SIGINT, SIGHUP, SIGQUIT };
    struct sigaction ignore, dfl, old;
    memset (&ignore, 0, sizeof ignore);
    sigemptyset (&ignore.sa_mask);
    dfl = ignore;
    ignore.sa_handler = SIG_IGN;
    dfl.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof meant_for_the_worker / sizeof (int); i++) {
        int sig = meant_for_the_worker [i];
        sigaction (sig, &ignore, &old);
        if (old.sa_handler != SIG_IGN)
            sigaction (sig, &dfl, NULL);
    }
    sigaction (SIGPIPE, &dfl, NULL);
    dup2 (pipes [0][0], STDIN_FILENO);
    dup2 (pipes [1][1], STDOUT_FILENO);
    dup2 (pipes [2][1], STDERR_FILENO);
    /* After the three: one of their pipes may have been fd 3. dup2 onto
     * itself would leave close-on-exec set. */
    if (pipes [3][1] == EXEC_PROGRESS_FD)
        fcntl (EXEC_PROGRESS_FD, F_SETFD, 0);
    else
        dup2 (pipes [3][1], EXEC_PROGRESS_FD);
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    execve ("/bin/sh", argv, env);
    _exit (127);
}

/* Opens close-on-exec pipes: [i][0] reads, [i][1] writes; the fourth,
 * fd 3's, only if progress is wanted, else [3][1] is /dev/null and [3][0]
 * is -1. */
static int
s_pipes_open (int pipes [4][2], bool progress)
{
    for (int i = 0; i < 4; i++) {
        int rc = 0;
        if (i < 3 || progress)
            rc = pipe2 (pipes [i], O_CLOEXEC);
        else {
            pipes [i][0] = -1;
            pipes [i][1] = open ("/dev/null", O_WRONLY | O_CLOEXEC);
            rc = pipes [i][1] == -1? -1: 0;
        }
        if (rc == -1) {
            int error = errno;
            while (i-- > 0) {
                close (pipes [i][0]);
                close (pipes [i][1]);
            }
            return error;
        }
    }
    return 0;
}

/* Starts command with the pipes as its stdin, stdout and stderr. Returns
 * 0 or an errno value. */
static int
s_spawn (run_t *self, const char *command, zfarm_task_t *task)
{
    int pipes [4][2];
    int rc = s_pipes_open (pipes, self->lines != NULL);
    if (rc != 0)
        return rc;
    char vars [ENV_OWN][ENV_VAR_MAX];
    char **env = s_environment (task, vars);
    char *argv [] = { "sh", "-c", (char *) command, NULL };
    /* Blocked from fork until the child has left our process group (see
     * s_child_exec); the parent's setpgid too, so that a kill of the
     * group never comes too early. */
    sigset_t all, saved;
    sigfillset (&all);
    pthread_sigmask (SIG_SETMASK, &all, &saved);
    pid_t worker = getpid ();
    self->pid = fork ();
    if (self->pid == 0)
        s_child_exec (pipes, argv, env, worker);
    rc = self->pid == -1? errno: 0;
    if (self->pid > 0)
        setpgid (self->pid, self->pid);
    pthread_sigmask (SIG_SETMASK, &saved, NULL);
    free (env);

    close (pipes [0][0]);
    close (pipes [1][1]);
    close (pipes [2][1]);
    close (pipes [3][1]);
    self->in_fd = pipes [0][1];
    self->out_fd = pipes [1][0];
    self->err_fd = pipes [2][0];
    self->progress_fd = pipes [3][0];
    fcntl (self->in_fd, F_SETFL, O_NONBLOCK);
    if (self->progress_fd >= 0)
        fcntl (self->progress_fd, F_SETFL, O_NONBLOCK);
    return rc;
}

/* ---- feeding and draining it ------------------------------------------- */

static void
s_close (int *fd_p)
{
    if (*fd_p >= 0)
        close (*fd_p);
    *fd_p = -1;
}

/* Kills the command's whole process group and stops listening to it. */
static void
s_kill (run_t *self, verdict_t verdict)
{
    kill (-self->pid, SIGKILL);
    self->verdict = verdict;
    s_close (&self->in_fd);
    s_close (&self->out_fd);
    s_close (&self->err_fd);
}

/* A well-formed progress line: on to the caller. */
static void
s_report (void *arg, uint64_t done, uint64_t total, const char *note)
{
    zfarm_task_progress ((zfarm_task_t *) arg, done, total, note);
}

/* Reads what fd 3 has (it is non-blocking): all of it, when drain, else
 * one chunk. At end of file, a last line without a newline counts. */
static void
s_read_progress (run_t *self, bool drain)
{
    char chunk [4096];
    while (self->progress_fd >= 0) {
        ssize_t n = read (self->progress_fd, chunk, sizeof chunk);
        if (n > 0)
            zf_progress_lines_feed (self->lines, chunk, (size_t) n,
                                    s_report, self->task);
        else
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            s_close (&self->progress_fd);
            zf_progress_lines_end (self->lines, s_report, self->task);
        }
        if (!drain || (n == -1 && errno == EAGAIN))
            return;
    }
}

static void
s_write_input (run_t *self)
{
    size_t left = self->in_size - self->in_done;
    ssize_t n = left? write (self->in_fd, self->in + self->in_done,
                             left < EXEC_CHUNK? left: EXEC_CHUNK): 0;
    if (n > 0)
        self->in_done += (size_t) n;
    else
    if (n == -1 && (errno == EAGAIN || errno == EINTR))
        return;
    /* All written, or the command closed its stdin (EPIPE), which is its
     * right: it need not read its input. */
    if (n <= 0 || self->in_done == self->in_size)
        s_close (&self->in_fd);
}

/* Reads what fd has into data; closes it at end of file or on error. */
static size_t
s_read (int *fd_p, char *data, size_t size)
{
    ssize_t n = read (*fd_p, data, size);
    if (n > 0)
        return (size_t) n;
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
        s_close (fd_p);
    return 0;
}

static void
s_read_output (run_t *self)
{
    if (self->out_capacity - self->out_size < EXEC_CHUNK) {
        self->out_capacity = self->out_capacity * 2 + EXEC_CHUNK;
        self->out = zf_realloc (self->out, self->out_capacity);
    }
    self->out_size += s_read (&self->out_fd, self->out + self->out_size,
                              self->out_capacity - self->out_size);
    if (self->out_size > EXEC_OUTPUT_MAX)
        s_kill (self, RUN_TOO_LARGE);
}

/* Keeps the start of stderr; the rest is read and dropped. */
static void
s_read_errors (run_t *self)
{
    char chunk [4096];
    size_t n = s_read (&self->err_fd, chunk, sizeof chunk);
    size_t room = EXEC_STDERR_MAX - self->err_size;
    memcpy (self->err + self->err_size, chunk, n < room? n: room);
    self->err_size += n < room? n: room;
    self->err [self->err_size] = 0;
    if (n > room)
        self->err_truncated = true;
}

/* Kills the command at its deadline: the earlier of its call-time limit
 * and its task's timeout (plus grace). */
static void
s_expire (run_t *self)
{
    bool overran = self->call_end && zf_now_ms () >= self->call_end;
    s_kill (self, overran? RUN_OVERRAN: RUN_TIMED_OUT);
}

/* Milliseconds to the deadline, 0 if it has passed, -1 if there is none. */
static int
s_time_left (run_t *self)
{
    if (!self->deadline)
        return -1;
    int64_t left = self->deadline - zf_now_ms ();
    return left > 0? (int) left: 0;
}

/* Runs until the command closes stdout and stderr, or is killed. */
static void
s_pump (run_t *self)
{
    while (self->out_fd >= 0 || self->err_fd >= 0) {
        int timeout = s_time_left (self);
        if (timeout == 0) {
            s_expire (self);
            return;
        }
        struct pollfd fds [5] = {
            { .fd = self->in_fd, .events = POLLOUT },
            { .fd = self->out_fd, .events = POLLIN },
            { .fd = self->err_fd, .events = POLLIN },
            { .fd = self->cancel_fd, .events = POLLIN },
            { .fd = self->progress_fd, .events = POLLIN } };
        if (poll (fds, 5, timeout) <= 0)
            continue;           /* timeout (checked above) or EINTR */
        if (fds [4].revents)
            s_read_progress (self, false);
        if (fds [3].revents) {
            s_kill (self, RUN_CANCELLED);
            return;
        }
        if (fds [0].revents)
            s_write_input (self);
        if (fds [1].revents)
            s_read_output (self);
        if (fds [2].revents && self->err_fd >= 0)
            s_read_errors (self);
    }
}

/* Sleeps ms at most; kills the command if its task is cancelled
 * meanwhile. */
static void
s_nap (run_t *self, int ms)
{
    struct pollfd fds [1] = { { .fd = self->cancel_fd, .events = POLLIN } };
    if (poll (fds, 1, ms) > 0)
        s_kill (self, RUN_CANCELLED);
}

/* Reaps the command. A command that closed its output and goes on running
 * is waited for only until the deadline or a cancel; there is no event to
 * wait on for its end, hence the short naps. Returns 0 and its wait
 * status, or -1. */
static int
s_wait (run_t *self, int *status_p)
{
    s_close (&self->in_fd);
    while ((self->deadline || self->cancel_fd >= 0)
    &&     self->verdict == RUN_OK) {
        pid_t rc = waitpid (self->pid, status_p, WNOHANG);
        if (rc == self->pid)
            return 0;
        if (rc == -1 && errno != EINTR)
            return -1;
        int left = s_time_left (self);
        if (left == 0)
            s_expire (self);
        else
            s_nap (self, left >= 0 && left < EXEC_WAIT_NAP_MS
                         ? left: EXEC_WAIT_NAP_MS);
    }
    pid_t rc;
    while ((rc = waitpid (self->pid, status_p, 0)) == -1 && errno == EINTR)
        ;
    return rc == self->pid? 0: -1;
}

/* ---- the handler -------------------------------------------------------- */

static void
s_trim (char *text, size_t *size_p)
{
    while (*size_p > 0 && strchr (" \t\r\n", text [*size_p - 1]))
        text [--*size_p] = 0;
}

static int
s_outcome (run_t *self, zfarm_task_t *task, int status)
{
    /* The library reports this task as TIMEOUT: it ran past the limit. */
    if (self->verdict == RUN_OVERRAN)
        return zfarm_task_fail (task, "killed: ran longer than "
                                "--max-call-time %" PRId64 " ms",
                                self->call_end - self->started);
    if (self->verdict == RUN_TIMED_OUT)
        return zfarm_task_fail (task, "killed: still running %d ms after "
                                "the task's timeout of %u ms",
                                EXEC_KILL_GRACE_MS, zfarm_task_timeout (task));
    /* The library reports this one as CANCELLED. */
    if (self->verdict == RUN_CANCELLED)
        return zfarm_task_fail (task, "killed: the task was cancelled");
    if (self->verdict == RUN_TOO_LARGE)
        return zfarm_task_fail (task, "killed: output larger than %zu bytes",
                                EXEC_OUTPUT_MAX);
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
        return zfarm_task_reply (task, self->out, self->out_size);

    char what [32];
    if (WIFEXITED (status))
        snprintf (what, sizeof what, "exit status %d", WEXITSTATUS (status));
    else
        snprintf (what, sizeof what, "killed by signal %d", WTERMSIG (status));
    s_trim (self->err, &self->err_size);
    /* EX_DATAERR: the input is wrong, and no retry would do better. */
    if (WIFEXITED (status) && WEXITSTATUS (status) == EXEC_EXIT_PERMANENT)
        return zfarm_task_fail_permanent (task, "%s%s%s%s", what,
                                          self->err_size? ": ": "", self->err,
                                          self->err_truncated? "...": "");
    return zfarm_task_fail (task, "%s%s%s%s", what, self->err_size? ": ": "",
                            self->err, self->err_truncated? "...": "");
}

/* The command dies at the task's timeout plus a grace, or at the end of
 * its call time if that comes first. */
static void
s_set_deadline (run_t *self, zfarm_task_t *task, uint32_t max_call_ms)
{
    self->started = zf_now_ms ();
    if (zfarm_task_timeout (task))
        self->deadline = self->started + zfarm_task_timeout (task)
                       + EXEC_KILL_GRACE_MS;
    if (max_call_ms) {
        self->call_end = self->started + max_call_ms;
        if (!self->deadline || self->call_end < self->deadline)
            self->deadline = self->call_end;
    }
}

/* A command's malformed progress lines: one log line per task. The log
 * escapes what the command wrote. */
static void
s_log_malformed (const zf_progress_lines_t *lines, zfarm_task_t *task)
{
    if (lines->malformed)
        zf_warning ("worker: %s task: %" PRIu64 " malformed progress line%s"
                    " on fd 3 ignored (expected 'progress DONE TOTAL"
                    " [NOTE]'); the first: '%s'", zfarm_task_service (task),
                    lines->malformed, lines->malformed == 1? "": "s",
                    lines->first_bad);
}

int
exec_handler (zfarm_task_t *task, void *arg)
{
    const exec_config_t *config = arg;
    assert (task && config && config->command);
    zf_progress_lines_t lines;
    run_t run = { .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1,
                  .progress_fd = -1, .task = task,
                  .cancel_fd = zf_task_cancel_fd (task) };
    if (zfarm_task_wants_progress (task)) {
        zf_progress_lines_init (&lines);
        run.lines = &lines;
    }
    run.in = zfarm_task_data (task, &run.in_size);
    s_set_deadline (&run, task, config->max_call_ms);

    int rc = s_spawn (&run, config->command, task);
    if (rc != 0) {
        s_close (&run.in_fd);
        s_close (&run.out_fd);
        s_close (&run.err_fd);
        s_close (&run.progress_fd);
        return zfarm_task_fail (task, "cannot run /bin/sh: %s",
                                strerror (rc));
    }
    s_pump (&run);
    int status = 0;
    int waited = s_wait (&run, &status);
    /* What the command wrote before it ended is in the pipe now (a child
     * it left running may hold fd 3 open: what is there is taken). */
    if (run.lines) {
        s_read_progress (&run, true);
        s_close (&run.progress_fd);
        s_log_malformed (run.lines, task);
    }
    if (waited == 0)
        rc = s_outcome (&run, task, status);
    else
        rc = zfarm_task_fail (task, "lost the command: waitpid: %s",
                              strerror (errno));
    free (run.out);
    return rc;
}
