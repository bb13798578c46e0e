/* task.c: the task a handler is given, and how its outcome becomes a DONE.
 *
 * The payload stays in the libzmq messages it arrived in. A client of this
 * library sends it as one frame with a NUL after it (ZF_FLAG_NUL), which
 * zfarm_task_data hands out in place; other payloads are joined, once, into
 * a NUL-terminated copy. The reply is one libzmq message, sent with a NUL
 * after it and by reference; a reply that is the payload, or part of the
 * joined copy, is not copied at all. */
#include "task_internal.h"
#include "zf_util.h"
#include "zf_wire.h"
#include "zfarm_codes.h"
#include "zf_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef enum {
    REPLY_NONE,                 /* no reply: an empty result */
    REPLY_MESSAGE,              /* reply holds a copy */
    REPLY_IN_DATA               /* a span of data, until the run ends */
} reply_t;

struct _zfarm_task_t {
    uint64_t id;                /* the broker's id for this dispatch */
    unsigned attempt;           /* 1 on the first dispatch */
    unsigned timeout_ms;        /* time left on arrival; 0 = no deadline */
    uint32_t flags;             /* the TASK's ZF_FLAG_* */
    char service [ZF_SERVICE_MAX + 1];
    zfarm_handler_fn *handler;  /* what serves the service */
    void *arg;                  /* the handler's argument */
    zf_frames_t payload;        /* frames as they came; closed after the run */
    bool ran;                   /* the handler has returned */
    const char *data;           /* the payload's bytes and a NUL, from the
                                   first zfarm_task_data: in payload's one
                                   frame, or in joined */
    char *joined;               /* the payload joined, if it had to be */
    size_t size;                /* bytes in data, without its NUL */
    reply_t reply_kind;         /* what the handler replied */
    zmq_msg_t reply;            /* REPLY_MESSAGE: the result */
    bool reply_terminated;      /* REPLY_MESSAGE: a NUL follows it */
    size_t reply_offset;        /* REPLY_IN_DATA: the result is these */
    size_t reply_size;          /* bytes of data */
    uint32_t max_call_ms;       /* the handler may run this long; 0: ever */
    int status;                 /* after the run: 0 or a ZFARM_E* code */
    char *error;                /* zfarm_task_fail's text, or NULL */
    bool permanent;             /* zfarm_task_fail_permanent: no retry */
    int last_status;            /* the attempt before: its ZFARM_E* code, 0
                                   if none failed (TASK's) */
    char *last_error;           /* and its text; NULL if none failed */
    atomic_bool cancelled;      /* the broker asked to stop it (set by the
                                   thread that read the CANCEL, read by the
                                   handler's) */
    atomic_int cancel_fd;       /* eventfd readable once cancelled, made on
                                   demand (zf_task_cancel_fd); -1: none */
    zf_progress_t *progress;    /* its reports, if its client asked for
                                   them (ZF_FLAG_PROGRESS); else NULL */
};

static void
s_reply_drop (zfarm_task_t *self)
{
    if (self->reply_kind == REPLY_MESSAGE)
        zmq_msg_close (&self->reply);
    self->reply_kind = REPLY_NONE;
}

static void
s_free_buffer (void *data, void *buffer)
{
    (void) data;
    free (buffer);
}

/* A reply that is part of the payload goes out without a copy, now that
 * the handler has returned: all of a payload that came in one frame, as a
 * reference to that frame; a span of a joined payload in that buffer,
 * which the reply takes over. Another span of a frame is copied. */
static void
s_reply_hand_over (zfarm_task_t *self)
{
    if (self->reply_kind != REPLY_IN_DATA)
        return;
    bool to_end = self->reply_offset + self->reply_size == self->size;
    int rc = 0;
    if (self->joined) {
        rc = zmq_msg_init_data (&self->reply, self->joined + self->reply_offset,
                                self->reply_size + to_end, s_free_buffer,
                                self->joined);
        self->joined = NULL;
        self->data = NULL;
        self->reply_terminated = to_end;
    }
    else
    if (self->reply_offset == 0 && to_end) {
        zmq_msg_init (&self->reply);
        rc = zmq_msg_copy (&self->reply, &self->payload.first);
        self->reply_terminated = true;
    }
    else {
        zf_msg_init_terminated (&self->reply, self->data + self->reply_offset,
                                self->reply_size);
        self->reply_terminated = true;
    }
    if (rc != 0)
        zf_die_nomem ();
    self->reply_kind = REPLY_MESSAGE;
}

zfarm_task_t *
zf_task_new (const zf_header_t *header, zfarm_handler_fn *handler,
             void *arg, uint32_t max_call_ms, int progress_fd,
             zf_frames_t *payload)
{
    assert (header && handler && payload);
    zfarm_task_t *self = zf_malloc (sizeof *self);
    self->id = header->task_id;
    self->attempt = header->attempt;
    self->timeout_ms = header->timeout_ms;
    self->flags = header->flags;
    /* The decoder NUL-terminated it within the same size: no snprintf. */
    memcpy (self->service, header->service, strlen (header->service) + 1);
    self->handler = handler;
    self->arg = arg;
    self->max_call_ms = max_call_ms;
    if (header->status < 0) {
        self->last_status = header->status;
        self->last_error = zf_strdup (header->text);
    }
    atomic_init (&self->cancel_fd, -1);
    if (header->flags & ZF_FLAG_PROGRESS)
        self->progress = zf_progress_new (progress_fd);
    zf_frames_move (&self->payload, payload);
    return self;
}

zf_progress_t *
zf_task_progress (zfarm_task_t *self)
{
    assert (self);
    return self->progress;
}

void
zf_task_destroy (zfarm_task_t **self_p)
{
    assert (self_p);
    zfarm_task_t *self = *self_p;
    if (!self)
        return;
    zf_frames_close (&self->payload);
    free (self->joined);
    free (self->error);
    free (self->last_error);
    s_reply_drop (self);
    int cancel_fd = atomic_load (&self->cancel_fd);
    if (cancel_fd >= 0)
        close (cancel_fd);
    zf_progress_destroy (&self->progress);
    free (self);
    *self_p = NULL;
}

uint64_t
zf_task_id (const zfarm_task_t *self)
{
    assert (self);
    return self->id;
}

void
zf_task_run (zfarm_task_t *self)
{
    assert (self && !self->ran);
    int64_t started = zf_now_ms ();
    int rc = self->handler (self, self->arg);
    if (self->max_call_ms
    &&  zf_now_ms () - started >= (int64_t) self->max_call_ms) {
        self->status = ZFARM_ETIMEOUT;
        s_reply_drop (self);
    }
    else
    if (atomic_load (&self->cancelled)) {
        /* Whatever it returned, nobody wants it: the DONE says the work
         * has stopped. */
        self->status = ZFARM_ECANCELLED;
        free (self->error);
        self->error = zf_strdup ("cancelled while it ran");
        s_reply_drop (self);
    }
    else
    if (rc != 0) {
        self->status = ZFARM_EHANDLER_ERROR;
        if (!self->error)
            zfarm_task_fail (self, "handler returned %d", rc);
        s_reply_drop (self);
    }
    /* The payload is only promised until the handler returns; a large one
     * is better freed here, on the slot's thread, than after the DONE. */
    self->ran = true;
    s_reply_hand_over (self);
    zf_frames_close (&self->payload);
    free (self->joined);
    self->joined = NULL;
    self->data = NULL;
}

zmq_msg_t *
zf_task_done (zfarm_task_t *self, zf_header_t *header)
{
    assert (self && header);
    if (self->status == ZFARM_ETIMEOUT) {
        zf_task_overran_done (header, self->id, self->max_call_ms);
        return NULL;
    }
    zf_header_init (header, ZF_DONE);
    header->task_id = self->id;
    header->status = self->status;
    if (self->status != 0) {
        zf_header_set_text (header, self->error? self->error: "");
        if (self->permanent && self->status == ZFARM_EHANDLER_ERROR)
            header->flags = ZF_FLAG_FINAL;
        return NULL;
    }
    if (self->reply_kind != REPLY_MESSAGE)
        return NULL;
    if (self->reply_terminated)
        header->flags = ZF_FLAG_NUL;
    return &self->reply;
}

void
zf_task_overran_done (zf_header_t *header, uint64_t task_id,
                      uint32_t max_call_ms)
{
    assert (header);
    zf_header_init (header, ZF_DONE);
    header->task_id = task_id;
    header->status = ZFARM_ETIMEOUT;
    char text [64];
    snprintf (text, sizeof text, "ran longer than --max-call-time %" PRIu32
              " ms", max_call_ms);
    zf_header_set_text (header, text);
}

void
zf_task_cancel (zfarm_task_t *self)
{
    assert (self);
    /* The flag first, then the descriptor: zf_task_cancel_fd stores the
     * descriptor first, then reads the flag, so that with sequentially
     * consistent atomics one of the two sides always sees the other. */
    atomic_store (&self->cancelled, true);
    int fd = atomic_load (&self->cancel_fd);
    if (fd >= 0 && eventfd_write (fd, 1) != 0)
        zf_warning ("worker: cannot signal a cancel: %s", strerror (errno));
}

int
zf_task_cancel_fd (zfarm_task_t *self)
{
    assert (self);
    int fd = atomic_load (&self->cancel_fd);
    if (fd >= 0)
        return fd;
    fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd == -1)
        return -1;
    atomic_store (&self->cancel_fd, fd);
    if (atomic_load (&self->cancelled))
        eventfd_write (fd, 1);
    return fd;
}

/* ---- the handler's view ------------------------------------------------ */

bool
zfarm_task_cancelled (const zfarm_task_t *task)
{
    assert (task);
    return atomic_load (&task->cancelled);
}


const void *
zfarm_task_data (const zfarm_task_t *task, size_t *size_p)
{
    assert (task && !task->ran);
    /* Found on first use, so that a handler that never reads its payload
     * never pays for a join. The task was not defined const, so writing
     * through the cast is well defined. */
    zfarm_task_t *self = (zfarm_task_t *) task;
    if (!self->data) {
        zf_frames_t *payload = &self->payload;
        bool terminated = zf_frames_terminated (payload, self->flags);
        if (terminated && payload->count == 1) {
            self->data = zmq_msg_data (&payload->first);
            self->size = zmq_msg_size (&payload->first) - 1;
        }
        else {
            size_t size = zf_frames_size (payload);
            self->joined = malloc (size + 1);
            if (!self->joined)
                zf_die_nomem ();
            zf_frames_copy (payload, self->joined);
            self->joined [size] = 0;
            self->data = self->joined;
            self->size = terminated? size - 1: size;
        }
    }
    if (size_p)
        *size_p = self->size;
    return self->data;
}

const char *
zfarm_task_service (const zfarm_task_t *task)
{
    assert (task);
    return task->service;
}

unsigned
zfarm_task_attempt (const zfarm_task_t *task)
{
    assert (task);
    return task->attempt;
}

unsigned
zfarm_task_timeout (const zfarm_task_t *task)
{
    assert (task);
    return task->timeout_ms;
}

int
zfarm_task_reply (zfarm_task_t *task, const void *data, size_t size)
{
    assert (task);
    if (!data && size > 0)
        return ZFARM_EINVALID;
    s_reply_drop (task);
    uintptr_t start = (uintptr_t) data, bytes = (uintptr_t) task->data;
    if (size > 0 && task->data && start >= bytes
    &&  start - bytes <= task->size && size <= task->size - (start - bytes)) {
        task->reply_kind = REPLY_IN_DATA;
        task->reply_offset = start - bytes;
        task->reply_size = size;
        return 0;
    }
    zf_msg_init_terminated (&task->reply, data, size);
    task->reply_terminated = true;
    task->reply_kind = REPLY_MESSAGE;
    return 0;
}

static int
s_fail (zfarm_task_t *task, const char *format, va_list args)
{
    /* Kept apart from the task, which stays small for malloc's fast path:
     * few tasks fail. */
    char text [ZF_TEXT_MAX + 1];
    vsnprintf (text, sizeof text, format, args);
    free (task->error);
    task->error = zf_strdup (text);
    return -1;
}

int
zfarm_task_fail (zfarm_task_t *task, const char *format, ...)
{
    assert (task && format);
    va_list args;
    va_start (args, format);
    s_fail (task, format, args);
    va_end (args);
    task->permanent = false;
    return -1;
}

int
zfarm_task_fail_permanent (zfarm_task_t *task, const char *format, ...)
{
    assert (task && format);
    va_list args;
    va_start (args, format);
    s_fail (task, format, args);
    va_end (args);
    task->permanent = true;
    return -1;
}

const char *
zfarm_task_last_error (const zfarm_task_t *task, int *code_p)
{
    assert (task);
    if (code_p)
        *code_p = task->last_status;
    return task->last_error;
}
