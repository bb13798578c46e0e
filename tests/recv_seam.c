/* signal_on_recv.c: a fault-injection seam for tests, loaded into a zfarm
 * process with LD_PRELOAD. The process raises SIGTERM on itself right after
 * it receives a frame that contains the text in $ZFARM_TEST_SIGTERM_ON
 * (once), so a test can put a signal at an exact point of the process's
 * work (a task read, not yet started), where a signal sent from outside
 * would race with it. */
#include <dlfcn.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

typedef int (recv_fn) (zmq_msg_t *msg, void *socket, int flags);

int
zmq_msg_recv (zmq_msg_t *msg, void *socket, int flags)
{
    static recv_fn *real_recv;
    static atomic_int raised;
    if (!real_recv)
        *(void **) &real_recv = dlsym (RTLD_NEXT, "zmq_msg_recv");
    int rc = real_recv (msg, socket, flags);
    const char *text = getenv ("ZFARM_TEST_SIGTERM_ON");
    if (rc >= 0 && text && *text
    &&  memmem (zmq_msg_data (msg), zmq_msg_size (msg), text, strlen (text))
    &&  !atomic_exchange (&raised, 1))
        raise (SIGTERM);
    return rc;
}
