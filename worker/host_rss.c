/* host_rss.c: --max-rss in one worker process: after each task the
 * process reads its own resident memory and, once past the limit, drains
 * (finishes its tasks in hand, takes no more) to exit ZF_EXIT_RSS, which a
 * pool counts as a recycle and replaces at once. The process itself can
 * tell when a task ends; its supervisor cannot. */
#include "host.h"
#include "zf_log.h"
#include "zf_util.h"

int
rss_guard_handler (zfarm_task_t *task, void *arg)
{
    rss_guard_t *self = (rss_guard_t *) arg;
    int rc = self->handler (task, self->arg);
    long rss = zf_process_rss_kb (0);
    if (rss >= self->max_rss_kb && !atomic_exchange (&self->passed, true)) {
        zf_info ("worker: %ld kB resident, past --max-rss %ld MB: draining"
                 " to be replaced", rss, self->max_rss_kb / 1024);
        if (self->worker)
            zfarm_worker_stop (self->worker);
    }
    return rc;
}
