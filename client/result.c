/* result.c: a task's outcome as the client hands it out, immutable once made.
 *
 * data is never NULL: it is "" when there are no bytes, and always has a NUL
 * after its size bytes, so that text results can be used as C strings. */
#include "result_internal.h"
#include "zf_util.h"
#include "zf_wire.h"

struct _zfarm_result_t {
    uint64_t task_id;           /* the id the client gave the task */
    int status;                 /* 0, or a negative ZFARM_E* code */
    char *data;                 /* the result bytes plus a NUL; never NULL */
    size_t size;                /* bytes in data, the NUL not counted */
    char *error;                /* error text, "" if none; never NULL */
};

zfarm_result_t *
zf_result_new (uint64_t task_id, int status, const char *error)
{
    assert (status <= 0);
    zfarm_result_t *self = zf_malloc (sizeof *self);
    self->task_id = task_id;
    self->status = status;
    self->data = zf_malloc (1);
    self->size = 0;
    self->error = zf_strdup (error? error: "");
    return self;
}

zfarm_result_t *
zf_result_from_wire (const zf_header_t *header, zmsg_t *payload)
{
    assert (header->command == ZF_RESULT);
    zfarm_result_t *self = zf_result_new (header->task_id, -header->status,
                                          header->status? header->text: "");
    if (self->status == 0 && payload) {
        free (self->data);
        self->data = zf_wire_join (payload, &self->size);
    }
    return self;
}

uint64_t
zfarm_result_task_id (const zfarm_result_t *self)
{
    assert (self);
    return self->task_id;
}

int
zfarm_result_status (const zfarm_result_t *self)
{
    assert (self);
    return self->status;
}

const void *
zfarm_result_data (const zfarm_result_t *self, size_t *size_p)
{
    assert (self);
    if (size_p)
        *size_p = self->size;
    return self->data;
}

const char *
zfarm_result_error (const zfarm_result_t *self)
{
    assert (self);
    return self->error;
}

void
zfarm_result_destroy (zfarm_result_t **self_p)
{
    assert (self_p);
    zfarm_result_t *self = *self_p;
    if (!self)
        return;
    free (self->data);
    free (self->error);
    free (self);
    *self_p = NULL;
}
