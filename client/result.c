/* result.c: a task's outcome as the client hands it out, immutable once made.
 *
 * data is never NULL: it is "" when there are no bytes, and always has a NUL
 * after its size bytes, so that text results can be used as C strings.
 * libzmq allocates a received message's buffer to its exact size, with no
 * byte after it for the NUL, so the worker library sends one (ZF_FLAG_NUL)
 * and a result of one frame keeps its bytes in that frame. Other results
 * (a worker that does not send the NUL, several frames) are copied: then a
 * result is one allocation, the struct, its data, the NUL and its error. */
#include "result_internal.h"
#include "zf_util.h"
#include "zf_wire.h"

struct _zfarm_result_t {
    uint64_t task_id;           /* the id the client gave the task */
    int status;                 /* 0, or a negative ZFARM_E* code */
    size_t size;                /* bytes in data, the NUL not counted */
    const char *data;           /* in frame, or in bytes; never NULL */
    const char *error;          /* error text, "" if none; never NULL; in
                                   bytes, after the data copied there */
    bool in_frame;              /* data is the frame's, in place */
    uint64_t seq;               /* its place among the client's events */
    zmq_msg_t frame;            /* in_frame: the RESULT's one frame */
    char bytes [];              /* copied data plus a NUL, then error */
};

/* A result with room for size bytes of data and a copy of error; the data
 * is left for the caller to fill. Not zf_malloc: its calloc would clear a
 * megabyte that is about to be overwritten. */
static zfarm_result_t *
s_result_new (uint64_t task_id, int status, size_t size, const char *error)
{
    assert (status <= 0);
    size_t error_size = strlen (error) + 1;
    zfarm_result_t *self = malloc (sizeof *self + size + 1 + error_size);
    if (!self)
        zf_die_nomem ();
    self->task_id = task_id;
    self->status = status;
    self->size = size;
    self->bytes [size] = 0;
    self->data = self->bytes;
    char *error_copy = self->bytes + size + 1;
    memcpy (error_copy, error, error_size);
    self->error = error_copy;
    self->in_frame = false;
    self->seq = 0;
    return self;
}

zfarm_result_t *
zf_result_new (uint64_t task_id, int status, const char *error)
{
    return s_result_new (task_id, status, 0, error? error: "");
}

zfarm_result_t *
zf_result_from_wire (const zf_header_t *header, zf_frames_t *payload)
{
    assert (header->command == ZF_RESULT);
    if (header->status)
        return s_result_new (header->task_id, header->status, 0,
                             header->text);
    bool terminated = payload && zf_frames_terminated (payload, header->flags);
    if (terminated && payload->count == 1) {
        /* The usual case: the bytes stay in the frame they came in. */
        zfarm_result_t *self = s_result_new (header->task_id, 0, 0, "");
        zmq_msg_init (&self->frame);
        zmq_msg_move (&self->frame, zf_frames_at (payload, 0));
        self->in_frame = true;
        self->data = zmq_msg_data (&self->frame);
        self->size = zmq_msg_size (&self->frame) - 1;
        return self;
    }
    size_t size = payload? zf_frames_size (payload): 0;
    zfarm_result_t *self = s_result_new (header->task_id, 0, size, "");
    if (size)
        zf_frames_copy (payload, self->bytes);
    if (terminated)
        self->size = size - 1;      /* its NUL is in place already */
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
zf_result_set_seq (zfarm_result_t *self, uint64_t seq)
{
    self->seq = seq;
}

uint64_t
zf_result_seq (const zfarm_result_t *self)
{
    return self->seq;
}

void
zfarm_result_destroy (zfarm_result_t **self_p)
{
    assert (self_p);
    zfarm_result_t *self = *self_p;
    if (!self)
        return;
    if (self->in_frame)
        zmq_msg_close (&self->frame);
    free (self);
    *self_p = NULL;
}
