/* echo.c: example handlers for zfarm-worker --module echo.so.
 *
 *   zfarm_handler  replies with its payload, unchanged
 *   zfarm_fail     always fails, with the text "failed on purpose"
 *   zfarm_crash    aborts the worker process (for crash tests) */
#include "zfarm.h"

#include <stdlib.h>

ZFARM_EXPORT zfarm_handler_fn zfarm_handler;
ZFARM_EXPORT zfarm_handler_fn zfarm_fail;
ZFARM_EXPORT zfarm_handler_fn zfarm_crash;

int
zfarm_handler (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const void *data = zfarm_task_data (task, &size);
    return zfarm_task_reply (task, data, size);
}

int
zfarm_fail (zfarm_task_t *task, void *arg)
{
    (void) arg;
    return zfarm_task_fail (task, "failed on purpose");
}

int
zfarm_crash (zfarm_task_t *task, void *arg)
{
    (void) task;
    (void) arg;
    abort ();
}
