/* direct_echo.c: the limit with no broker at all: the client itself hands
 * tasks to lru_worker processes and takes their echoes back, one ZeroMQ
 * message per task each way, as many in flight as the workers' credit.
 *
 * It binds a ROUTER where the workers connect (their READY messages are
 * their credit), sends [worker][client tag][payload] to a worker with
 * credit, and counts each echo as a task done. batches.sh compares zfarm
 * map's tasks/s with this. Prints one JSON line: tasks_per_sec. */
#include <czmq.h>
#include <getopt.h>

#define WORKERS_MAX   64
#define IDLE_LIMIT_MS 10000 /* no echo this long: a worker is gone */

typedef struct {
    zmq_msg_t id;
    long credit;
} worker_t;

static int
s_find (worker_t *workers, int count, zmq_msg_t *id)
{
    for (int i = 0; i < count; i++)
        if (zmq_msg_size (&workers [i].id) == zmq_msg_size (id)
            && memcmp (zmq_msg_data (&workers [i].id), zmq_msg_data (id),
                       zmq_msg_size (id))
                   == 0)
            return i;
    return -1;
}

/* Receives one message: a READY (credit) or an echo (a task done, and its
 * credit back). Returns 1 for an echo, 0 for a READY, -1 for none. */
static int
s_receive (void *router, worker_t *workers, int *count)
{
    zmq_msg_t id, frame;
    zmq_msg_init (&id);
    if (zmq_msg_recv (&id, router, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&id);
        return -1;
    }
    int frames = 0;
    zmq_msg_init (&frame);
    while (zmq_msg_more (frames ? &frame : &id)) {
        zmq_msg_recv (&frame, router, 0);
        frames++;
    }
    zmq_msg_close (&frame);
    int at = s_find (workers, *count, &id);
    if (at == -1 && *count < WORKERS_MAX) {
        at = (*count)++;
        zmq_msg_init (&workers [at].id);
        zmq_msg_copy (&workers [at].id, &id);
        workers [at].credit = 0;
    }
    zmq_msg_close (&id);
    if (at == -1)
        return 0;
    workers [at].credit++;
    return frames >= 2 ? 1 : 0;
}

static void
s_send (void *router, worker_t *worker, const char *payload, size_t size)
{
    zmq_msg_t id;
    zmq_msg_init (&id);
    zmq_msg_copy (&id, &worker->id);
    zmq_msg_send (&id, router, ZMQ_SNDMORE);
    zmq_send (router, "c", 1, ZMQ_SNDMORE);
    zmq_send (router, payload, size, 0);
    worker->credit--;
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        { "bind", required_argument, NULL, 'b' },
        { "workers", required_argument, NULL, 'w' },
        { "tasks", required_argument, NULL, 'n' },
        { "size", required_argument, NULL, 'z' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *bind = NULL;
    long want = 2, tasks = 1000000, size = 100;
    int option;
    while ((option = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        if (option == 'b')
            bind = optarg;
        else if (option == 'w')
            want = atol (optarg);
        else if (option == 'n')
            tasks = atol (optarg);
        else if (option == 'z')
            size = atol (optarg);
        else {
            printf ("Usage: direct_echo --bind EP [--workers N] [--tasks N]"
                    " [--size BYTES]\n");
            return option == 'h' ? 0 : 2;
        }
    }
    if (!bind || want < 1 || want > WORKERS_MAX || tasks < 1 || size < 0
        || size > 1 << 20 || optind < argc) {
        fprintf (stderr, "direct_echo: bad arguments (see --help)\n");
        return 2;
    }
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    zsock_set_sndhwm (sock, 0);
    zsock_set_rcvhwm (sock, 0);
    if (zsock_bind (sock, "%s", bind) < 0) {
        fprintf (stderr, "direct_echo: bind %s failed\n", bind);
        return 1;
    }
    void *router = zsock_resolve (sock);
    char *payload = malloc ((size_t) size + 1);
    memset (payload, 'x', (size_t) size);
    worker_t workers [WORKERS_MAX];
    int count = 0;
    zmq_pollitem_t item = { router, 0, ZMQ_POLLIN, 0 };
    while (count < want && zmq_poll (&item, 1, IDLE_LIMIT_MS) > 0)
        while (s_receive (router, workers, &count) != -1)
            ;
    if (count < want) {
        fprintf (stderr, "direct_echo: %d of %ld workers came\n", count, want);
        return 1;
    }
    int64_t start = zclock_usecs ();
    long sent = 0, done = 0;
    while (done < tasks) {
        for (int i = 0; i < count; i++)
            while (workers [i].credit > 0 && sent < tasks) {
                s_send (router, &workers [i], payload, (size_t) size);
                sent++;
            }
        if (zmq_poll (&item, 1, IDLE_LIMIT_MS) <= 0) {
            fprintf (stderr, "direct_echo: no echo for %d ms\n", IDLE_LIMIT_MS);
            return 1;
        }
        int rc;
        while ((rc = s_receive (router, workers, &count)) != -1)
            done += rc;
    }
    double seconds = (double) (zclock_usecs () - start) / 1e6;
    printf ("{\"tasks\": %ld, \"seconds\": %.3f, \"tasks_per_sec\": %.0f}\n",
            done, seconds, (double) done / seconds);
    for (int i = 0; i < count; i++)
        zmq_msg_close (&workers [i].id);
    free (payload);
    zsock_destroy (&sock);
    return 0;
}
