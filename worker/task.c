/* task.c: the task a handler is given, and how its outcome becomes a DONE.
 *
 * The payload stays in the libzmq messages it arrived in until a handler
 * asks for it; zfarm_task_data then joins them once into a NUL-terminated
 * copy. The reply is one libzmq message, sent by reference. */
#include "task_internal.h"
#include "zf_util.h"
#include "zf_wire.h"
#include "zfarm_codes.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

struct _zfarm_task_t {
    uint64_t id;                /* the broker's id for this dispatch */
    unsigned attempt;           /* 1 on the first dispatch */
    unsigned timeout_ms;        /* time left on arrival; 0 = no deadline */
    char service [ZF_SERVICE_MAX + 1];
    zfarm_handler_fn *handler;  /* what serves the service */
    void *arg;                  /* the handler's argument */
    zf_frames_t payload;        /* frames as they came; closed after the run */
    bool ran;                   /* the handler has returned */
    char *data;                 /* payload joined, on first zfarm_task_data */
    size_t size;                /* bytes in data, without its NUL */
    zmq_msg_t reply;            /* the result, if replied */
    bool replied;
    uint32_t max_call_ms;       /* the handler may run this long; 0: ever */
    int status;                 /* after the run: 0 or a wire status */
    char *error;                /* zfarm_task_fail's text, or NULL */
};

static void
s_reply_drop (zfarm_task_t *self)
{
    if (self->replied)
        zmq_msg_close (&self->reply);
    self->replied = false;
}

zfarm_task_t *
zf_task_new (const zf_header_t *header, zfarm_handler_fn *handler,
             void *arg, uint32_t max_call_ms, zf_frames_t *payload)
{
    assert (header && handler && payload);
    zfarm_task_t *self = zf_malloc (sizeof *self);
    self->id = header->task_id;
    self->attempt = header->attempt;
    self->timeout_ms = header->timeout_ms;
    snprintf (self->service, sizeof self->service, "%s", header->service);
    self->handler = handler;
    self->arg = arg;
    self->max_call_ms = max_call_ms;
    zf_frames_move (&self->payload, payload);
    return self;
}

void
zf_task_destroy (zfarm_task_t **self_p)
{
    assert (self_p);
    zfarm_task_t *self = *self_p;
    if (!self)
        return;
    zf_frames_close (&self->payload);
    free (self->data);
    free (self->error);
    if (self->replied)
        zmq_msg_close (&self->reply);
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
        self->status = -ZFARM_ETIMEOUT;
        s_reply_drop (self);
    }
    else
    if (rc != 0) {
        self->status = -ZFARM_EHANDLER_ERROR;
        if (!self->error)
            zfarm_task_fail (self, "handler returned %d", rc);
        s_reply_drop (self);
    }
    /* The payload is only promised until the handler returns; a large one
     * is better freed here, on the slot's thread, than after the DONE. */
    self->ran = true;
    zf_frames_close (&self->payload);
    free (self->data);
    self->data = NULL;
}

zmq_msg_t *
zf_task_done (zfarm_task_t *self, zf_header_t *header)
{
    assert (self && header);
    if (self->status == -ZFARM_ETIMEOUT) {
        zf_task_overran_done (header, self->id, self->max_call_ms);
        return NULL;
    }
    zf_header_init (header, ZF_DONE);
    header->task_id = self->id;
    header->status = self->status;
    if (self->status != 0) {
        zf_header_set_text (header, self->error? self->error: "");
        return NULL;
    }
    return self->replied? &self->reply: NULL;
}

void
zf_task_overran_done (zf_header_t *header, uint64_t task_id,
                      uint32_t max_call_ms)
{
    assert (header);
    zf_header_init (header, ZF_DONE);
    header->task_id = task_id;
    header->status = -ZFARM_ETIMEOUT;
    char text [64];
    snprintf (text, sizeof text, "ran longer than --max-call-time %" PRIu32
              " ms", max_call_ms);
    zf_header_set_text (header, text);
}

/* ---- the handler's view ------------------------------------------------ */

const void *
zfarm_task_data (const zfarm_task_t *task, size_t *size_p)
{
    assert (task && !task->ran);
    /* The joined copy is a cache, filled on first use so that a handler
     * that never reads its payload never pays for the copy. The task was
     * not defined const, so writing through the cast is well defined. */
    zfarm_task_t *self = (zfarm_task_t *) task;
    if (!self->data) {
        self->size = zf_frames_size (&self->payload);
        self->data = malloc (self->size + 1);
        if (!self->data)
            zf_die_nomem ();
        zf_frames_copy (&self->payload, self->data);
        self->data [self->size] = 0;
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
    if (zmq_msg_init_size (&task->reply, size) != 0)
        zf_die_nomem ();
    if (size > 0)
        memcpy (zmq_msg_data (&task->reply), data, size);
    task->replied = true;
    return 0;
}

int
zfarm_task_fail (zfarm_task_t *task, const char *format, ...)
{
    assert (task && format);
    /* Kept apart from the task, which stays small for malloc's fast path:
     * few tasks fail. */
    char text [ZF_TEXT_MAX + 1];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    free (task->error);
    task->error = zf_strdup (text);
    return -1;
}
