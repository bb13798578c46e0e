/* worker.c: the public worker API: register handlers, then serve tasks.
 *
 * The worker object only holds configuration; zfarm_worker_run hands a copy
 * to worker_io.c and serves slot 0 until it stops. zfarm_worker_stop sets
 * a flag, which the threads check before they start a task, and writes a
 * pipe, which wakes the watcher: both are safe in a signal handler. */
#include "zfarm_worker.h"
#include "zf_endpoints.h"
#include "zf_log.h"
#include "worker_io.h"
#include "zf_pool.h"
#include "zf_proto.h"
#include "zf_util.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <unistd.h>

struct _zfarm_worker_t {
    zf_endpoints_t brokers;     /* one or several */
    zf_service_t services [ZF_SERVICES_MAX];
    size_t service_count;
    uint32_t capacity;          /* slots */
    int heartbeat_ms;           /* heartbeat interval */
    int liveness;               /* silent intervals before reconnecting */
    uint64_t max_tasks;         /* run() returns after this many; 0 = never */
    uint32_t max_call_ms;       /* a handler may run this long; 0 = ever */
    uint32_t cancel_grace_ms;   /* a cancelled one, this long to return */
    uint32_t idle_exit_ms;      /* run() returns after this long idle */
    uint32_t give_up_ms;        /* ... or this long with no broker */
    zf_io_end_t end;            /* why the last run() returned */
    zf_curve_t curve;           /* CURVE keys, if enabled */
    int wakeup [2];             /* stop writes [1]; the watcher polls [0] */
    atomic_int stop_requested;  /* stop sets it; run clears it */
};

/* A non-blocking, close-on-exec pipe, so that stop never blocks and no
 * child process inherits it. */
static int
s_wakeup_open (int fds [2])
{
    if (pipe (fds) == -1)
        return -1;
    for (int i = 0; i < 2; i++)
        if (fcntl (fds [i], F_SETFL, O_NONBLOCK) == -1
        ||  fcntl (fds [i], F_SETFD, FD_CLOEXEC) == -1) {
            close (fds [0]);
            close (fds [1]);
            return -1;
        }
    return 0;
}

/* Empties the wakeup pipe; true if a stop was pending. */
static bool
s_wakeup_drain (int fd)
{
    char bytes [64];
    bool pending = false;
    for (int reads = 0; reads < 16 && read (fd, bytes, sizeof bytes) > 0;
         reads++)
        pending = true;
    return pending;
}

zfarm_worker_t *
zfarm_worker_new (const char *endpoint)
{
    if (!endpoint)
        endpoint = getenv ("ZFARM_BROKER");
    if (!endpoint || !*endpoint)
        endpoint = ZF_DEFAULT_ENDPOINT;
    zf_endpoints_t brokers;
    char error [512];
    if (zf_endpoints_parse (&brokers, endpoint, error, sizeof error) != 0)
        return NULL;            /* the caller reports it */
    zfarm_worker_t *self = zf_malloc (sizeof *self);
    self->brokers = brokers;
    if (zf_curve_setup_from_env (&self->curve, error, sizeof error) != 0) {
        zf_error ("worker: %s", error);
        zf_endpoints_clear (&self->brokers);
        free (self);
        return NULL;
    }
    if (s_wakeup_open (self->wakeup) == -1) {
        zf_error ("worker: pipe: %s", strerror (errno));
        zf_curve_clear (&self->curve);
        zf_endpoints_clear (&self->brokers);
        free (self);
        return NULL;
    }
    self->capacity = 1;
    self->heartbeat_ms = ZF_DEFAULT_HEARTBEAT_MS;
    self->liveness = ZF_DEFAULT_LIVENESS;
    self->cancel_grace_ms = ZF_DEFAULT_CANCEL_GRACE_MS;
    return self;
}

void
zfarm_worker_destroy (zfarm_worker_t **self_p)
{
    assert (self_p);
    zfarm_worker_t *self = *self_p;
    if (!self)
        return;
    close (self->wakeup [0]);
    close (self->wakeup [1]);
    zf_curve_clear (&self->curve);
    zf_endpoints_clear (&self->brokers);
    free (self);
    *self_p = NULL;
}

int
zfarm_worker_set_curve (zfarm_worker_t *self, const char *server_key,
                        const char *cert_path)
{
    assert (self);
    zf_curve_t curve = { .enabled = false };
    char error [512];
    if ((server_key || cert_path)
    &&  zf_curve_setup (&curve, server_key, cert_path, error,
                        sizeof error) != 0) {
        zf_error ("worker: %s", error);
        return ZFARM_EINVALID;
    }
    zf_curve_clear (&self->curve);  /* wipe the secret it replaces */
    self->curve = curve;
    zf_curve_clear (&curve);
    return 0;
}

int
zfarm_worker_register (zfarm_worker_t *self, const char *service,
                       zfarm_handler_fn *handler, void *arg)
{
    assert (self);
    if (!service || !handler || self->service_count == ZF_SERVICES_MAX
    ||  !zf_service_name_is_valid (service, strlen (service)))
        return ZFARM_EINVALID;
    for (size_t i = 0; i < self->service_count; i++)
        if (streq (self->services [i].name, service))
            return ZFARM_EINVALID;
    zf_service_t *entry = &self->services [self->service_count++];
    snprintf (entry->name, sizeof entry->name, "%s", service);
    entry->handler = handler;
    entry->arg = arg;
    return 0;
}

int
zfarm_worker_set_capacity (zfarm_worker_t *self, int slots)
{
    assert (self);
    if (slots < 1 || slots > ZF_CAPACITY_MAX)
        return ZFARM_EINVALID;
    self->capacity = (uint32_t) slots;
    return 0;
}

int
zfarm_worker_set_heartbeat (zfarm_worker_t *self, int interval_ms,
                            int liveness)
{
    assert (self);
    if (interval_ms < ZF_HEARTBEAT_MIN_MS || interval_ms > ZF_HEARTBEAT_MAX_MS
    ||  liveness < 1 || liveness > ZF_LIVENESS_MAX)
        return ZFARM_EINVALID;
    self->heartbeat_ms = interval_ms;
    self->liveness = liveness;
    return 0;
}

void
zfarm_worker_set_max_tasks (zfarm_worker_t *self, uint64_t max_tasks)
{
    assert (self);
    self->max_tasks = max_tasks;
}

void
zfarm_worker_set_max_call_time (zfarm_worker_t *self, uint32_t ms)
{
    assert (self);
    self->max_call_ms = ms;
}

void
zfarm_worker_set_cancel_grace (zfarm_worker_t *self, uint32_t ms)
{
    assert (self);
    self->cancel_grace_ms = ms;
}

void
zfarm_worker_set_idle_exit (zfarm_worker_t *self, uint32_t ms)
{
    assert (self);
    self->idle_exit_ms = ms;
}

void
zfarm_worker_set_give_up (zfarm_worker_t *self, uint32_t ms)
{
    assert (self);
    self->give_up_ms = ms;
}

zf_io_end_t
zf_worker_end (const zfarm_worker_t *self)
{
    assert (self);
    return self->end;
}

int
zfarm_worker_run (zfarm_worker_t *self)
{
    assert (self);
    if (self->service_count == 0)
        return ZFARM_EINVALID;
    /* A stop or a signal that came before run() still counts. */
    bool stopped = atomic_exchange (&self->stop_requested, 0);
    self->end = ZF_IO_STOPPED;
    if (s_wakeup_drain (self->wakeup [0]) || stopped || zsys_interrupted)
        return 0;
    zf_io_config_t config = {
        .endpoints = (const char *const *) self->brokers.items,
        .endpoint_count = (uint32_t) self->brokers.count,
        .services = self->services,
        .service_count = self->service_count,
        .capacity = self->capacity,
        .heartbeat_ms = self->heartbeat_ms,
        .liveness = self->liveness,
        .max_tasks = self->max_tasks,
        .max_call_ms = self->max_call_ms,
        .cancel_grace_ms = self->cancel_grace_ms,
        .idle_exit_ms = self->idle_exit_ms,
        .give_up_ms = self->give_up_ms,
        .wakeup_fd = self->wakeup [0],
        .stop_requested = &self->stop_requested,
        .curve = self->curve,
    };
    zf_pool_guard_init (&config.guard);
    zf_io_t *io = zf_io_new (&config);
    zf_curve_clear (&config.curve);
    if (!io)
        return ZFARM_EINVALID;
    self->end = zf_io_serve (io);
    zf_io_destroy (&io);
    /* A stop that came as run() was returning is spent. */
    s_wakeup_drain (self->wakeup [0]);
    atomic_store (&self->stop_requested, 0);
    return self->end == ZF_IO_UNREACHABLE? ZFARM_EBROKER_DOWN: 0;
}

void
zfarm_worker_stop (zfarm_worker_t *self)
{
    assert (self);
    /* Async-signal-safe: a lock-free store and one write(2), errno
     * preserved. */
    atomic_store (&self->stop_requested, 1);
    int saved_errno = errno;
    if (write (self->wakeup [1], "", 1) == -1) {
        /* The pipe is full: a stop is already pending. */
    }
    errno = saved_errno;
}
