/* recv_seam.c: a fault-injection seam for tests, preloaded into a zfarm
 * program (LD_PRELOAD; harness.h's th_seam_argv starts one so). When the
 * program receives a frame that contains the bytes in $ZFARM_TEST_ON_RECV,
 * it acts once, as $ZFARM_TEST_RECV_ACTION says: "sigterm" raises SIGTERM
 * on itself, "touch:PATH" creates the file PATH. So a test can put a signal
 * at an exact point of a process's work (a task read, not yet started), or
 * learn that a process it cannot ask has received something, where a signal
 * from outside, or a wait, would race with it. */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

typedef int (recv_fn) (zmq_msg_t *msg, void *socket, int flags);

static void
s_act (const char *action)
{
    if (strcmp (action, "sigterm") == 0)
        raise (SIGTERM);
    else
    if (strncmp (action, "touch:", 6) == 0) {
        int fd = open (action + 6, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            close (fd);
    }
}

int
zmq_msg_recv (zmq_msg_t *msg, void *socket, int flags)
{
    static recv_fn *real_recv;
    static atomic_int done;
    if (!real_recv)
        *(void **) &real_recv = dlsym (RTLD_NEXT, "zmq_msg_recv");
    int rc = real_recv (msg, socket, flags);
    const char *bytes = getenv ("ZFARM_TEST_ON_RECV");
    const char *action = getenv ("ZFARM_TEST_RECV_ACTION");
    if (rc >= 0 && bytes && *bytes && action
    &&  memmem (zmq_msg_data (msg), zmq_msg_size (msg), bytes, strlen (bytes))
    &&  !atomic_exchange (&done, 1))
        s_act (action);
    return rc;
}
