/* pool.c: fork, watch and replace local worker processes.
 *
 * Invariant: slots [i].pid is 0 or a child of ours that waitpid has not
 * reaped; a slot with pid 0 is restarted at its restart_at.
 *
 * The supervisor is a child subreaper: a process that a worker started (a
 * --exec command in its own process group) and left behind when the worker
 * died becomes our child, and every child that is not a slot's is such a
 * stray, killed and reaped here. So no process outlives its worker.
 *
 * Each child's stderr is a pipe whose read end the pool holds (err_fd, in
 * the pool's epoll set) until the child is reaped; what comes is copied to
 * the pool's own stderr and its tail kept for the report of the child's
 * end. A reaped child's pipe is drained first: all it wrote is in the tail.
 *
 * The child's side: a worker watches its supervisor (zf_pool_guard_t), for
 * PR_SET_PDEATHSIG reaches only a direct child. */
#include "zf_pool.h"
#include "zf_defaults.h"
#include "zf_log.h"
#include "zf_util.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    pid_t pid;                  /* 0: not running */
    int64_t started_at;         /* ms */
    int64_t restart_at;         /* ms, when pid is 0 */
    int failures;               /* young deaths in a row */
    bool retiring;              /* we asked it to stop: not a failure */
    long rss_kb;                /* resident memory when last read; -1 */
    int retired_for;            /* zf_pool_reason_t of zf_pool_retire; -1 */
    bool parked;                /* its child left for good: no restart */
    bool ever_started;
    char instance [33];         /* its ZF_POOL_INSTANCE_ENV, or "" */
    int err_fd;                 /* read end of its stderr, or -1 */
    zf_tail_t tail;             /* the last bytes it wrote there */
} slot_t;

struct _zf_pool_t {
    zf_pool_config_t config;
    char *name;
    char *path;                 /* the file each child execs */
    char **argv;                /* with these arguments */
    char **envp;                /* its environment, prepared before fork */
    char **spare_envp;          /* an elastic pool's children past min:
                                   envp and config.spare_env; or NULL */
    char *instance_vars [2];    /* config.instance_env: the entry of each
                                   envp that s_slot_start fills in */
    slot_t *slots;
    int epoll_fd;               /* the slots' err_fds */
    bool stopped;
    uint64_t replaced;
    uint64_t recycled [ZF_POOL_REASONS];    /* by reason */
    uint64_t grown, shrunk;     /* elastic: children added, removed */
    int64_t grow_at;            /* elastic: no child added before then */
    bool drained;               /* zf_pool_drain: none is added either */
};

static char **
s_strv_copy (char *const *strv)
{
    size_t count = 0;
    while (strv [count])
        count++;
    char **copy = zf_malloc ((count + 1) * sizeof *copy);
    for (size_t i = 0; i < count; i++)
        copy [i] = zf_strdup (strv [i]);
    return copy;
}

static void
s_strv_destroy (char ***strv_p)
{
    if (!*strv_p)
        return;
    for (char **at = *strv_p; *at; at++)
        free (*at);
    free (*strv_p);
    *strv_p = NULL;
}

#define INSTANCE_VAR ZF_POOL_INSTANCE_ENV "="

/* environ, with env_name replaced and ZF_POOL_SUPERVISOR_ENV added, and
 * extra ("NAME=VALUE", or NULL) at the end; with config->instance_env,
 * an entry for the instance, whose address goes to *instance_var. */
static char **
s_environment (const zf_pool_config_t *config, const char *extra,
               char **instance_var)
{
    size_t count = 0;
    while (environ [count])
        count++;
    char **envp = zf_malloc ((count + 5) * sizeof *envp);
    size_t used = 0;
    size_t name_size = config->env_name? strlen (config->env_name): 0;
    for (size_t i = 0; i < count; i++) {
        if (name_size && strncmp (environ [i], config->env_name, name_size) == 0
        &&  environ [i][name_size] == '=')
            continue;
        if (strncmp (environ [i], ZF_POOL_SUPERVISOR_ENV "=",
                     strlen (ZF_POOL_SUPERVISOR_ENV "=")) == 0
        ||  strncmp (environ [i], INSTANCE_VAR, strlen (INSTANCE_VAR)) == 0)
            continue;
        envp [used++] = zf_strdup (environ [i]);
    }
    if (config->env_name && config->env_value) {
        envp [used] = zf_malloc (name_size + strlen (config->env_value) + 2);
        sprintf (envp [used++], "%s=%s", config->env_name, config->env_value);
    }
    envp [used] = zf_malloc (32);
    snprintf (envp [used++], 32, ZF_POOL_SUPERVISOR_ENV "=%d", (int) getpid ());
    if (extra)
        envp [used++] = zf_strdup (extra);
    if (config->instance_env) {
        *instance_var = zf_malloc (strlen (INSTANCE_VAR) + 33);
        strcpy (*instance_var, INSTANCE_VAR);
        envp [used++] = *instance_var;
    }
    envp [used] = NULL;
    return envp;
}

/* Bytes a command may hold and still mean, to /bin/sh -c, just its words:
 * no quotes, expansions, redirections, globs, operators or comments. */
#define PLAIN_COMMAND_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
                            "0123456789 /._-+,:@%="

/* The words of command, if running it through /bin/sh -c would only split
 * it on spaces and look its first word up in PATH; NULL otherwise (then
 * the shell runs it). Each worker is then one exec, not two. */
static char **
s_plain_argv (const char *command, char **path_p)
{
    if (strspn (command, PLAIN_COMMAND_CHARS) != strlen (command))
        return NULL;
    char **argv = zf_malloc ((strlen (command) / 2 + 2) * sizeof *argv);
    size_t count = 0;
    for (const char *at = command; *at;) {
        size_t size = strcspn (at, " ");
        if (size) {
            argv [count] = zf_malloc (size + 1);
            memcpy (argv [count], at, size);
            argv [count++][size] = 0;
        }
        at += size + strspn (at + size, " ");
    }
    argv [count] = NULL;
    char *path = NULL;
    /* VAR=value as the first word is an assignment to the shell. */
    if (count > 0 && !strchr (argv [0], '=')) {
        if (strchr (argv [0], '/'))
            path = access (argv [0], X_OK) == 0? zf_strdup (argv [0]): NULL;
        else {
            const char *dirs = getenv ("PATH");
            for (const char *dir = dirs? dirs: ""; *dir && !path;) {
                size_t size = strcspn (dir, ":");
                char candidate [PATH_MAX];
                if (snprintf (candidate, sizeof candidate, "%.*s/%s",
                              (int) size, dir, argv [0]) < (int) sizeof candidate
                &&  access (candidate, X_OK) == 0)
                    path = zf_strdup (candidate);
                dir += size + (dir [size] == ':');
            }
        }
    }
    if (!path) {
        s_strv_destroy (&argv);
        return NULL;
    }
    *path_p = path;
    return argv;
}

zf_pool_t *
zf_pool_new (const zf_pool_config_t *config)
{
    zf_pool_t *self = zf_malloc (sizeof *self);
    self->config = *config;
    self->name = zf_strdup (config->name? config->name: "worker");
    if (config->command)
        self->argv = s_plain_argv (config->command, &self->path);
    if (config->command && !self->argv) {
        char *const argv [] = { "/bin/sh", "-c", (char *) config->command, NULL };
        self->argv = s_strv_copy (argv);
    }
    else
    if (!config->command)
        self->argv = s_strv_copy (config->argv);
    if (!self->path)
        self->path = zf_strdup (config->path && !config->command? config->path
                                                                : self->argv [0]);
    self->envp = s_environment (config, NULL, &self->instance_vars [0]);
    if (config->elastic && config->spare_env)
        self->spare_envp = s_environment (config, config->spare_env,
                                          &self->instance_vars [1]);
    prctl (PR_SET_CHILD_SUBREAPER, 1);
    self->slots = zf_malloc (config->size * sizeof *self->slots);
    /* An elastic pool's slots past min are parked until it grows. */
    for (int i = 0; i < config->size; i++) {
        self->slots [i].err_fd = -1;
        self->slots [i].parked = config->elastic && i >= config->min;
    }
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    if (self->epoll_fd == -1)
        zf_error ("%s pool: epoll: %s", self->name, strerror (errno));
    self->config.command = NULL;
    self->config.argv = NULL;
    self->config.path = NULL;
    self->config.env_name = self->config.env_value = NULL;
    self->config.spare_env = NULL;
    self->config.name = self->name;
    return self;
}

void
zf_pool_destroy (zf_pool_t **self_p)
{
    zf_pool_t *self = *self_p;
    if (!self)
        return;
    zf_pool_stop (self, 0);
    free (self->path);
    s_strv_destroy (&self->argv);
    s_strv_destroy (&self->envp);
    s_strv_destroy (&self->spare_envp);
    if (self->epoll_fd != -1)
        close (self->epoll_fd);
    free (self->slots);
    free (self->name);
    free (self);
    *self_p = NULL;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void
s_child_exec (zf_pool_t *self, char **envp, pid_t supervisor, int err_fd)
{
    setpgid (0, 0);
    if (err_fd == STDERR_FILENO)
        fcntl (err_fd, F_SETFD, 0);     /* keep it across exec */
    else
    if (err_fd != -1)
        dup2 (err_fd, STDERR_FILENO);   /* the copy has no FD_CLOEXEC */
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != supervisor)
        _exit (127);            /* the supervisor died before prctl */
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset (&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction (SIGPIPE, &dfl, NULL);
    execve (self->path, self->argv, envp);
    _exit (127);
}

/* A pipe for a child's stderr, its read end watched by the pool's epoll
 * set. Without one (no fds left) the child writes to ours, as before. */
static void
s_err_pipe_open (zf_pool_t *self, slot_t *slot, int *write_fd)
{
    int fds [2];
    *write_fd = -1;
    if (self->epoll_fd == -1 || pipe2 (fds, O_CLOEXEC | O_NONBLOCK) != 0)
        return;
    struct epoll_event event = { .events = EPOLLIN,
                                 .data.u32 = (uint32_t) (slot - self->slots) };
    if (epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, fds [0], &event) != 0) {
        close (fds [0]);
        close (fds [1]);
        return;
    }
    /* The child's end blocks, as a stderr it inherited would. */
    fcntl (fds [1], F_SETFL, fcntl (fds [1], F_GETFL) & ~O_NONBLOCK);
    slot->err_fd = fds [0];
    slot->tail.size = 0;
    *write_fd = fds [1];
}

static void
s_err_pipe_close (slot_t *slot)
{
    if (slot->err_fd != -1)
        close (slot->err_fd);   /* which leaves the epoll set too */
    slot->err_fd = -1;
}

/* A fresh instance for the slot's next child, in both environments. */
static void
s_new_instance (zf_pool_t *self, slot_t *slot)
{
    zuuid_t *uuid = zuuid_new ();
    if (!uuid)
        zf_die_nomem ();
    const byte *bits = zuuid_data (uuid);
    for (int i = 0; i < 16; i++)
        snprintf (slot->instance + 2 * i, 3, "%02x", bits [i]);
    zuuid_destroy (&uuid);
    for (int i = 0; i < 2; i++)
        if (self->instance_vars [i])
            memcpy (self->instance_vars [i] + strlen (INSTANCE_VAR),
                    slot->instance, sizeof slot->instance);
}

/* A slot of an elastic pool past its minimum: one it grows into. */
static bool
s_is_spare (const zf_pool_t *self, const slot_t *slot)
{
    return self->config.elastic && slot - self->slots >= self->config.min;
}

static int
s_slot_start (zf_pool_t *self, slot_t *slot)
{
    pid_t supervisor = getpid ();
    int err_write;
    s_err_pipe_open (self, slot, &err_write);
    if (self->config.instance_env)
        s_new_instance (self, slot);
    pid_t pid = fork ();
    if (pid < 0) {
        zf_error ("%s pool: fork: %s", self->name, strerror (errno));
        slot->restart_at = zf_now_ms () + self->config.backoff_max_ms;
        s_err_pipe_close (slot);
        if (err_write != -1)
            close (err_write);
        return -1;
    }
    if (pid == 0)
        s_child_exec (self, s_is_spare (self, slot) && self->spare_envp
                            ? self->spare_envp: self->envp,
                      supervisor, err_write);
    if (err_write != -1)
        close (err_write);
    setpgid (pid, pid);         /* also here: no race with the child's call */
    if (slot->ever_started)
        self->replaced++;
    slot->pid = pid;
    slot->started_at = zf_now_ms ();
    slot->retiring = false;
    slot->rss_kb = -1;
    slot->retired_for = -1;
    slot->ever_started = true;
    return 0;
}

int
zf_pool_start (zf_pool_t *self)
{
    int rc = 0;
    for (int i = 0; i < self->config.size; i++)
        if (self->slots [i].pid == 0 && !self->slots [i].parked
        &&  s_slot_start (self, &self->slots [i]))
            rc = -1;
    return rc;
}

/* Whether a child's end was asked for, or chosen by the worker itself
 * with its tasks done: nothing a broker needs to hear of. A child killed
 * past --max-rss-hard took its task with it. */
static bool
s_exit_planned (const slot_t *slot, int status)
{
    if (slot->retiring)
        return slot->retired_for != ZF_POOL_RSS_HARD;
    if (!WIFEXITED (status))
        return false;
    switch (WEXITSTATUS (status)) {
        case EXIT_SUCCESS:
        case ZF_EXIT_RECYCLED:
        case ZF_EXIT_RSS:
        case ZF_EXIT_OVERRAN:
        case ZF_EXIT_IDLE:
        case ZF_EXIT_UNREACHABLE:
            return true;
    }
    return false;
}

/* Decides when the slot's next child starts, and logs why. */
static void
s_slot_exited (zf_pool_t *self, slot_t *slot, int status, long max_rss_kb)
{
    int64_t now = zf_now_ms ();
    int64_t lived = now - slot->started_at;
    /* A worker that overran its max call time took a task first: it is no
     * crash loop, and its replacement is wanted now. */
    bool planned = slot->retiring
                || (WIFEXITED (status)
                    && (WEXITSTATUS (status) == ZF_EXIT_RECYCLED
                    ||  WEXITSTATUS (status) == ZF_EXIT_RSS
                    ||  WEXITSTATUS (status) == ZF_EXIT_OVERRAN));
    char why [128], details [ZF_CRASH_REPORT_MAX];
    zf_crash_status (status, why, sizeof why);
    zf_crash_details (max_rss_kb, &slot->tail, details, sizeof details);
    const char *and = *details? "; ": "";
    if (WIFEXITED (status) && WEXITSTATUS (status) == ZF_EXIT_RECYCLED
    &&  !slot->retiring)
        self->recycled [ZF_POOL_TASKS]++;
    if (WIFEXITED (status) && WEXITSTATUS (status) == ZF_EXIT_RSS
    &&  !slot->retiring)
        self->recycled [ZF_POOL_RSS]++;
    if (WIFEXITED (status) && WEXITSTATUS (status) == ZF_EXIT_IDLE) {
        /* A spare child that found no work is the pool shrinking. */
        if (s_is_spare (self, slot) && !slot->parked && !self->drained
        &&  !self->stopped) {
            self->shrunk++;
            pid_t pid = slot->pid;
            slot->parked = true;
            slot->pid = 0;
            zf_info ("%s %d left, idle; %d running now", self->name,
                     (int) pid, zf_pool_running (self));
            return;
        }
        slot->parked = true;
    }
    if (slot->parked) {
        zf_info ("%s %d left (%s); not replaced", self->name,
                 (int) slot->pid, why);
        slot->pid = 0;
        return;
    }
    if (!planned && lived < self->config.young_ms) {
        slot->failures++;
        int shift = slot->failures < 16? slot->failures - 1: 15;
        int64_t delay = (int64_t) self->config.backoff_min_ms << shift;
        if (delay > self->config.backoff_max_ms)
            delay = self->config.backoff_max_ms;
        slot->restart_at = now + delay;
        zf_warning ("%s %d %s after %" PRId64 " ms; restarting in %" PRId64
                      " ms (%d quick deaths in a row)%s%s", self->name,
                      (int) slot->pid, why, lived, delay, slot->failures,
                      and, details);
    }
    else {
        slot->failures = 0;
        slot->restart_at = now;
        if (planned)
            zf_info ("%s %d retired (%s)%s%s", self->name, (int) slot->pid,
                     why, and, details);
        else
            zf_warning ("%s %d %s after %" PRId64 " ms; restarting%s%s",
                        self->name, (int) slot->pid, why, lived, and, details);
    }
    slot->pid = 0;
}

static slot_t *s_slot_of (zf_pool_t *self, pid_t child);

void
zf_pool_kill_strays (zf_pool_t *self)
{
    DIR *tasks = opendir ("/proc/self/task");
    struct dirent *task;
    while (tasks && (task = readdir (tasks))) {
        if (task->d_name [0] == '.')
            continue;
        char path [64];
        snprintf (path, sizeof path, "/proc/self/task/%.16s/children",
                  task->d_name);
        FILE *file = fopen (path, "r");
        int pid;
        while (file && fscanf (file, "%d", &pid) == 1)
            if (!self || !s_slot_of (self, pid)) {
                kill (-pid, SIGKILL);   /* if it leads a group */
                kill (pid, SIGKILL);
            }
        if (file)
            fclose (file);
    }
    if (tasks)
        closedir (tasks);
}

/* Copies what the slot's child wrote to stderr to ours, and keeps its
 * tail; at the pipe's end, closes it. Reads at most max_reads times. */
static void
s_slot_read (slot_t *slot, int max_reads)
{
    char buffer [4096];
    for (int reads = 0; slot->err_fd != -1 && reads < max_reads; reads++) {
        ssize_t size = read (slot->err_fd, buffer, sizeof buffer);
        if (size < 0 && errno == EINTR)
            continue;
        if (size < 0 && errno == EAGAIN)
            return;
        if (size <= 0) {
            s_err_pipe_close (slot);
            return;
        }
        zf_tail_append (&slot->tail, buffer, (size_t) size);
        for (ssize_t done = 0, wrote; done < size; done += wrote)
            if ((wrote = write (STDERR_FILENO, buffer + done,
                                (size_t) (size - done))) <= 0) {
                if (wrote < 0 && errno == EINTR)
                    wrote = 0;
                else
                    break;      /* our stderr is gone: keep the tail */
            }
    }
}

int
zf_pool_fd (zf_pool_t *self)
{
    return self->epoll_fd;
}

void
zf_pool_read (zf_pool_t *self)
{
    if (self->epoll_fd == -1)
        return;
    struct epoll_event events [16];
    int count = epoll_wait (self->epoll_fd, events, 16, 0);
    /* A bounded turn each, so that one chatty child holds up nothing. */
    for (int i = 0; i < count; i++)
        s_slot_read (&self->slots [events [i].data.u32], 16);
}

int
zf_pool_reap (zf_pool_t *self)
{
    int reaped = 0, status;
    pid_t pid;
    struct rusage usage;
    /* Every child of the process is ours: a slot's, or a stray. */
    while ((pid = wait4 (-1, &status, WNOHANG, &usage)) > 0) {
        slot_t *slot = s_slot_of (self, pid);
        if (!slot)
            continue;
        reaped++;
        /* All it wrote is in the pipe now, unless a process it started
         * holds the pipe still: take what is there, no more. */
        s_slot_read (slot, 64);
        s_err_pipe_close (slot);
        zf_pool_exit_t ended = {
            .pid = pid, .status = status, .max_rss_kb = usage.ru_maxrss,
            .lived_ms = zf_now_ms () - slot->started_at, .tail = &slot->tail,
            .instance = slot->instance [0]? slot->instance: NULL,
            .planned = self->stopped || s_exit_planned (slot, status)
        };
        if (!self->stopped)
            s_slot_exited (self, slot, status, usage.ru_maxrss);
        slot->pid = 0;
        if (self->config.on_exit)
            self->config.on_exit (self->config.on_exit_arg, &ended);
    }
    zf_pool_kill_strays (self);
    return reaped;
}

void
zf_pool_tick (zf_pool_t *self)
{
    if (self->stopped)
        return;
    int64_t now = zf_now_ms ();
    for (int i = 0; i < self->config.size; i++) {
        slot_t *slot = &self->slots [i];
        if (slot->pid == 0 && !slot->parked && slot->restart_at <= now)
            s_slot_start (self, slot);
    }
}

int
zf_pool_next_timeout (zf_pool_t *self)
{
    if (self->stopped)
        return -1;
    int64_t now = zf_now_ms (), next = INT64_MAX;
    for (int i = 0; i < self->config.size; i++)
        if (self->slots [i].pid == 0 && !self->slots [i].parked
        &&  self->slots [i].restart_at < next)
            next = self->slots [i].restart_at;
    if (next == INT64_MAX)
        return -1;
    return next <= now? 0: (int) (next - now);
}

static slot_t *
s_slot_of (zf_pool_t *self, pid_t child)
{
    for (int i = 0; i < self->config.size; i++)
        if (child > 0 && self->slots [i].pid == child)
            return &self->slots [i];
    return NULL;
}

pid_t
zf_pool_owner (zf_pool_t *self, pid_t pid)
{
    if (pid <= 0)
        return 0;
    slot_t *slot = s_slot_of (self, getpgid (pid));
    return slot? slot->pid: 0;
}

int
zf_pool_kill (zf_pool_t *self, pid_t child, int sig)
{
    slot_t *slot = s_slot_of (self, child);
    if (!slot)
        return -1;
    if (sig == SIGTERM)
        slot->retiring = true;
    return kill (-child, sig);
}

void
zf_pool_stop (zf_pool_t *self, int grace_ms)
{
    self->stopped = true;
    for (int i = 0; i < self->config.size; i++)
        if (self->slots [i].pid)
            kill (-self->slots [i].pid, SIGTERM);
    int64_t deadline = zf_now_ms () + grace_ms;
    while (zf_pool_running (self) && zf_now_ms () < deadline) {
        zf_pool_read (self);    /* a child blocked on its stderr never ends */
        zf_pool_reap (self);
        if (zf_pool_running (self))
            zclock_sleep (10);
    }
    for (int i = 0; i < self->config.size; i++)
        if (self->slots [i].pid) {
            kill (-self->slots [i].pid, SIGKILL);
            zf_warning ("%s %d did not stop in %d ms: killed", self->name,
                          (int) self->slots [i].pid, grace_ms);
        }
    for (int i = 0; i < self->config.size; i++) {
        if (self->slots [i].pid) {
            waitpid (self->slots [i].pid, NULL, 0);
            self->slots [i].pid = 0;
        }
        s_slot_read (&self->slots [i], 64);
        s_err_pipe_close (&self->slots [i]);
    }
    /* What the workers left behind, and the zombies of what was killed. */
    zf_pool_kill_strays (self);
    for (int i = 0; i < 100; i++) {
        pid_t pid = waitpid (-1, NULL, WNOHANG);
        if (pid < 0)
            break;              /* no child left */
        if (pid == 0)
            zclock_sleep (5);
    }
}

void
zf_pool_drain (zf_pool_t *self)
{
    self->drained = true;
    for (int i = 0; i < self->config.size; i++) {
        slot_t *slot = &self->slots [i];
        slot->parked = true;
        /* The child alone, not its group: a shell in front of a worker
         * would die of SIGUSR1. */
        if (slot->pid)
            kill (slot->pid, SIGUSR1);
    }
}

bool
zf_pool_parked (zf_pool_t *self)
{
    for (int i = 0; i < self->config.size; i++)
        if (self->slots [i].pid || !self->slots [i].parked)
            return false;
    /* An elastic pool with no minimum is empty, not done, while idle. */
    return !self->config.elastic || self->drained || self->config.min > 0;
}

int
zf_pool_running (zf_pool_t *self)
{
    int running = 0;
    for (int i = 0; i < self->config.size; i++)
        running += self->slots [i].pid != 0;
    return running;
}

uint64_t
zf_pool_replaced (zf_pool_t *self)
{
    return self->replaced;
}

int
zf_pool_grow (zf_pool_t *self)
{
    int64_t now = zf_now_ms ();
    if (!self->config.elastic || self->stopped || self->drained
    ||  now < self->grow_at)
        return -1;
    for (int i = 0; i < self->config.size; i++) {
        slot_t *slot = &self->slots [i];
        if (!slot->parked || slot->pid)
            continue;
        slot->parked = false;
        slot->failures = 0;
        slot->ever_started = false;     /* a new process, no replacement */
        self->grown++;
        self->grow_at = now + ZF_POOL_GROW_MS;
        s_slot_start (self, slot);
        return 0;
    }
    return -1;
}

int
zf_pool_shrink (zf_pool_t *self, pid_t child)
{
    slot_t *slot = s_slot_of (self, child);
    if (!self->config.elastic || !slot || slot->parked || slot->retiring
    ||  zf_pool_active (self) <= self->config.min)
        return -1;
    slot->parked = true;
    slot->retiring = true;
    self->shrunk++;
    return kill (-child, SIGTERM);
}

int
zf_pool_young (zf_pool_t *self, int ms)
{
    int64_t since = zf_now_ms () - ms;
    int young = 0;
    for (int i = 0; i < self->config.size; i++)
        young += self->slots [i].pid && self->slots [i].started_at > since;
    return young;
}

int
zf_pool_active (zf_pool_t *self)
{
    int active = 0;
    for (int i = 0; i < self->config.size; i++)
        active += !self->slots [i].parked;
    return active;
}

uint64_t
zf_pool_grown (zf_pool_t *self)
{
    return self->grown;
}

uint64_t
zf_pool_shrunk (zf_pool_t *self)
{
    return self->shrunk;
}

const char *
zf_pool_reason_name (zf_pool_reason_t reason)
{
    static const char *names [] = { "tasks", "rss", "rss_hard" };
    return reason < ZF_POOL_REASONS? names [reason]: "?";
}

long
zf_pool_rss_kb (zf_pool_t *self, pid_t child)
{
    slot_t *slot = s_slot_of (self, child);
    if (!slot)
        return -1;
    slot->rss_kb = zf_process_rss_kb ((int) child);
    return slot->rss_kb;
}

int
zf_pool_retire (zf_pool_t *self, pid_t child, zf_pool_reason_t reason,
                int sig)
{
    slot_t *slot = s_slot_of (self, child);
    if (!slot || reason >= ZF_POOL_REASONS
    ||  slot->retired_for == ZF_POOL_RSS_HARD)
        return -1;
    /* Only the hard limit overrides a retirement under way (a drain must
     * not take the host's memory with it); the recycle counts once. */
    if (slot->retiring && reason != ZF_POOL_RSS_HARD)
        return -1;
    if (slot->retired_for >= 0)
        self->recycled [slot->retired_for]--;
    slot->retiring = true;
    slot->retired_for = (int) reason;
    self->recycled [reason]++;
    zf_info ("%s %d recycled (%s, %ld kB resident)", self->name,
             (int) child, zf_pool_reason_name (reason), slot->rss_kb);
    /* SIGUSR1 to the child alone: a shell in front of it would die of it. */
    return kill (sig == SIGUSR1? child: -child, sig);
}

int
zf_pool_check_rss (zf_pool_t *self, long soft_kb, long hard_kb)
{
    int retired = 0;
    for (int i = 0; i < self->config.size; i++) {
        slot_t *slot = &self->slots [i];
        if (!slot->pid)
            continue;
        long rss = zf_pool_rss_kb (self, slot->pid);
        if (hard_kb && rss >= hard_kb)
            retired += zf_pool_retire (self, slot->pid, ZF_POOL_RSS_HARD,
                                       SIGKILL) == 0;
        else
        if (soft_kb && rss >= soft_kb && !slot->retiring)
            retired += zf_pool_retire (self, slot->pid, ZF_POOL_RSS,
                                       SIGUSR1) == 0;
    }
    return retired;
}

uint64_t
zf_pool_recycled (zf_pool_t *self, zf_pool_reason_t reason)
{
    return reason < ZF_POOL_REASONS? self->recycled [reason]: 0;
}

/* ---- the child's side ------------------------------------------------- */

/* The state letter and start time (clock ticks after boot) of process pid,
 * from /proc. Returns 0, or -1 if it cannot be read. */
static int
s_process_stat (pid_t pid, char *state_p, unsigned long long *started_p)
{
    char path [64], line [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    bool got = fgets (line, sizeof line, file) != NULL;
    fclose (file);
    /* The command name, in parentheses, may hold anything: the fields
     * start after the last ')'. The state is field 3, the start time 22. */
    const char *at = got? strrchr (line, ')'): NULL;
    if (!at || sscanf (at + 1, " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s"
                       " %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
                       state_p, started_p) != 2)
        return -1;
    return 0;
}

void
zf_pool_guard_init (zf_pool_guard_t *self)
{
    *self = (zf_pool_guard_t) { 0 };
    const char *text = getenv (ZF_POOL_SUPERVISOR_ENV);
    long pid;
    if (!text || zf_parse_long (text, 1, INT_MAX, &pid) != 0)
        return;
    self->pid = (pid_t) pid;
    self->was_parent = getppid () == self->pid;
    char state;
    if (s_process_stat (self->pid, &state, &self->started) != 0)
        self->started = 0;
}

bool
zf_pool_guard_orphaned (const zf_pool_guard_t *self)
{
    if (!self->pid)
        return false;
    if (self->was_parent && getppid () != self->pid)
        return true;
    if (kill (self->pid, 0) == -1 && errno == ESRCH)
        return true;
    /* kill() also succeeds for a zombie, which a supervisor is until its
     * own parent reaps it, and for a stranger that got its pid since. */
    char state;
    unsigned long long started;
    if (s_process_stat (self->pid, &state, &started) != 0)
        return false;
    return state == 'Z' || state == 'X'
        || (self->started && started != self->started);
}
