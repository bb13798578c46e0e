/* task.c: the task a handler is given, and how its outcome becomes a DONE.
 *
 * The payload stays in the frames it arrived in until a handler asks for
 * it; zfarm_task_data then joins them once into a NUL-terminated copy. */
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
    zmsg_t *payload;            /* frames as they came; NULL after the run */
    char *data;                 /* payload joined, on first zfarm_task_data */
    size_t size;                /* bytes in data, without its NUL */
    zframe_t *reply;            /* the result; NULL for an empty one */
    uint32_t max_call_ms;       /* the handler may run this long; 0: ever */
    int status;                 /* after the run: 0 or a wire status */
    char error [ZF_TEXT_MAX + 1];   /* zfarm_task_fail's text */
};

zfarm_task_t *
zf_task_new (const zf_header_t *header, zfarm_handler_fn *handler,
             void *arg, uint32_t max_call_ms, zmsg_t **payload_p)
{
    assert (header && handler && payload_p && *payload_p);
    zfarm_task_t *self = zf_malloc (sizeof *self);
    self->id = header->task_id;
    self->attempt = header->attempt;
    self->timeout_ms = header->timeout_ms;
    snprintf (self->service, sizeof self->service, "%s", header->service);
    self->handler = handler;
    self->arg = arg;
    self->max_call_ms = max_call_ms;
    self->payload = *payload_p;
    *payload_p = NULL;
    return self;
}

void
zf_task_destroy (zfarm_task_t **self_p)
{
    assert (self_p);
    zfarm_task_t *self = *self_p;
    if (!self)
        return;
    zmsg_destroy (&self->payload);
    free (self->data);
    zframe_destroy (&self->reply);
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
    assert (self && self->payload);
    int64_t started = zf_now_ms ();
    int rc = self->handler (self, self->arg);
    if (self->max_call_ms
    &&  zf_now_ms () - started >= (int64_t) self->max_call_ms) {
        self->status = -ZFARM_ETIMEOUT;
        zframe_destroy (&self->reply);
    }
    else
    if (rc != 0) {
        self->status = -ZFARM_EHANDLER_ERROR;
        if (!*self->error)
            snprintf (self->error, sizeof self->error,
                      "handler returned %d", rc);
        zframe_destroy (&self->reply);
    }
    /* The payload is only promised until the handler returns; a large one
     * is better freed here, on the slot's thread, than after the DONE. */
    zmsg_destroy (&self->payload);
    free (self->data);
    self->data = NULL;
}

zmsg_t *
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
        zf_header_set_text (header, self->error);
        return NULL;
    }
    if (!self->reply)
        return NULL;
    zmsg_t *result = zmsg_new ();
    zmsg_append (result, &self->reply);
    return result;
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
    assert (task && task->payload);
    /* The joined copy is a cache, filled on first use so that a handler
     * that never reads its payload never pays for the copy. The task was
     * not defined const, so writing through the cast is well defined. */
    zfarm_task_t *self = (zfarm_task_t *) task;
    if (!self->data)
        self->data = zf_wire_join (self->payload, &self->size);
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
    zframe_destroy (&task->reply);
    task->reply = zframe_new (data, size);
    if (!task->reply)
        zf_die_nomem ();
    return 0;
}

int
zfarm_task_fail (zfarm_task_t *task, const char *format, ...)
{
    assert (task && format);
    va_list args;
    va_start (args, format);
    vsnprintf (task->error, sizeof task->error, format, args);
    va_end (args);
    return -1;
}
