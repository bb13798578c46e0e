/* minimal_worker.c: serve the "upper" service: the payload in capitals. */
#include <zfarm.h>
#include <ctype.h>
#include <stdlib.h>

static int
s_upper (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const char *text = zfarm_task_data (task, &size);
    char *upper = malloc (size + 1);
    if (!upper)
        return zfarm_task_fail (task, "out of memory");
    for (size_t i = 0; i < size; i++)
        upper [i] = (char) toupper ((unsigned char) text [i]);
    zfarm_task_reply (task, upper, size);
    free (upper);
    return 0;
}

int
main (void)
{
    zfarm_worker_t *worker = zfarm_worker_new (NULL);  /* $ZFARM_BROKER */
    zfarm_worker_register (worker, "upper", s_upper, NULL);
    int rc = zfarm_worker_run (worker);     /* until SIGINT or SIGTERM */
    zfarm_worker_destroy (&worker);
    return rc == 0? 0: 1;
}
