/* worker_progress.c: zfarm_task_progress, and what the I/O side takes
 * from it (worker_progress.h).
 *
 * Handlers run on slot threads (or in processes of a pool, each with its
 * threads), and the brokers' sockets belong to whichever thread holds the
 * worker's lock (worker_io.c). A DONE goes out from the slot's thread once
 * the handler has returned; a report cannot wait for that, nor may the
 * handler take the worker's lock, which a thread may hold while it reads
 * a batch of messages. So a report goes into the task's own record, under
 * a mutex of its own that the I/O side holds only to copy it, and the
 * first report since the I/O side last took one rings a bell (an eventfd)
 * that the watcher thread polls. The watcher then sends the latest report
 * if the task's last went out ZF_PROGRESS_INTERVAL_MS ago, or sets its
 * timer for when it will have. Reports in between replace the one that
 * waits and ring nothing: a handler may report in a tight loop. */
#include "worker_progress.h"
#include "task_internal.h"
#include "zf_util.h"
#include "zf_log.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>

struct _zf_progress_t {
    pthread_mutex_t lock;       /* all below: the reporting thread and the
                                   I/O side */
    int bell_fd;                /* the watcher's eventfd */
    bool fresh;                 /* a report waits to be sent */
    bool rung;                  /* the I/O side has heard of it (the bell,
                                   or its timer for when it is due) */
    int64_t sent_at;            /* when the last went out; 0: none yet */
    uint64_t done;
    uint64_t total;
    char note [ZF_NOTE_MAX + 1];
};

zf_progress_t *
zf_progress_new (int bell_fd)
{
    zf_progress_t *self = zf_malloc (sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    self->bell_fd = bell_fd;
    return self;
}

void
zf_progress_destroy (zf_progress_t **self_p)
{
    zf_progress_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

/* Bytes of note that fit ZF_NOTE_MAX, not cutting a UTF-8 character. */
static size_t
s_note_size (const char *note)
{
    size_t size = strnlen (note, ZF_NOTE_MAX + 1);
    if (size <= ZF_NOTE_MAX)
        return size;
    size = ZF_NOTE_MAX;
    /* note [size] is the first byte left out: if it continues a character,
     * that character is left out whole. */
    while (size > 0 && ((unsigned char) note [size] & 0xC0) == 0x80)
        size--;
    return size;
}

void
zf_progress_report (zf_progress_t *self, uint64_t done, uint64_t total,
                    const char *note)
{
    size_t size = note? s_note_size (note): 0;
    pthread_mutex_lock (&self->lock);
    self->done = done;
    self->total = total;
    if (size)
        memcpy (self->note, note, size);
    self->note [size] = 0;
    self->fresh = true;
    bool ring = !self->rung;
    self->rung = true;
    pthread_mutex_unlock (&self->lock);
    /* Outside the lock: the watcher may be about to take it. A full
     * counter (never, in practice) is ringing already. */
    if (ring && eventfd_write (self->bell_fd, 1) != 0 && errno != EAGAIN)
        zf_warning ("worker: cannot signal a progress report: %s",
                    strerror (errno));
}

bool
zf_progress_take (zf_progress_t *self, int64_t now, bool force,
                  zf_header_t *header, int64_t *due_p)
{
    *due_p = 0;
    pthread_mutex_lock (&self->lock);
    if (!self->fresh) {
        self->rung = false;
        pthread_mutex_unlock (&self->lock);
        return false;
    }
    int64_t due = self->sent_at + ZF_PROGRESS_INTERVAL_MS;
    if (!force && self->sent_at && now < due) {
        /* Still rung: the caller's timer takes the latest then. */
        *due_p = due;
        pthread_mutex_unlock (&self->lock);
        return false;
    }
    zf_header_init (header, ZF_PROGRESS);
    header->done = self->done;
    header->total = self->total;
    memcpy (header->text, self->note, strlen (self->note) + 1);
    self->fresh = false;
    self->rung = false;
    self->sent_at = now;
    pthread_mutex_unlock (&self->lock);
    return true;
}

/* ---- the handler's view ------------------------------------------------ */

bool
zfarm_task_wants_progress (const zfarm_task_t *task)
{
    assert (task);
    return zf_task_progress ((zfarm_task_t *) task) != NULL;
}

int
zfarm_task_progress (zfarm_task_t *task, uint64_t done, uint64_t total,
                     const char *note)
{
    assert (task);
    zf_progress_t *progress = zf_task_progress (task);
    if (progress)
        zf_progress_report (progress, done, total, note);
    return 0;
}
