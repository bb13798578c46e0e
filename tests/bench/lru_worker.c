/* lru_worker.c: the echo worker of the plain ZeroMQ LRU broker
 * (lru_broker.c): one DEALER socket, one thread.
 *
 * It announces --credit free slots with READY messages, then sends every
 * task back as its result, [client id][payload], moving the frames without
 * a copy. A result frees its slot at the broker, so READY is never sent
 * again. (fake_workers --plain runs many such workers in one process.) */
#include <czmq.h>
#include <getopt.h>

#define READY       "\001"
#define BATCH       256         /* messages handled per poll */
/* How often a blocked poll looks at zsys_interrupted: a signal may land on
 * a thread other than the one polling and so not end its poll. */
#define INTERRUPT_CHECK_MS  100

/* Echoes the next message on socket, if any. Returns 0, or -1 if none. */
static int
s_echo (void *socket)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    int rc = zmq_msg_recv (&frame, socket, ZMQ_DONTWAIT);
    while (rc >= 0) {
        bool more = zmq_msg_more (&frame);
        zmq_msg_send (&frame, socket, more? ZMQ_SNDMORE: 0);
        if (!more)
            break;
        rc = zmq_msg_recv (&frame, socket, 0);
    }
    zmq_msg_close (&frame);
    return rc < 0? -1: 0;
}

static void
s_usage (void)
{
    printf (
"Usage: lru_worker --broker EP [--credit N]\n"
"\n"
"Echo worker for lru_broker's backend, N tasks at once (default 1).\n"
"Stops on SIGINT or SIGTERM.\n");
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        { "broker",  required_argument, NULL, 'b' },
        { "credit",  required_argument, NULL, 'c' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    const char *broker = NULL;
    long credit = 1;
    int option;
    while ((option = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        if (option == 'b') broker = optarg;
        else if (option == 'c') credit = atol (optarg);
        else {
            s_usage ();
            return option == 'h'? 0: 2;
        }
    }
    if (!broker || optind < argc || credit < 1 || credit > 100000) {
        s_usage ();
        return 2;
    }
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return 1;
    zsock_set_sndhwm (sock, 0);
    zsock_set_rcvhwm (sock, 0);
    if (zsock_connect (sock, "%s", broker) < 0) {
        fprintf (stderr, "lru_worker: connect %s: %s\n", broker,
                 zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return 1;
    }
    void *socket = zsock_resolve (sock);
    for (long i = 0; i < credit; i++)
        zmq_send (socket, READY, 1, 0);
    zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
    while (!zsys_interrupted
       &&  zmq_poll (&item, 1, INTERRUPT_CHECK_MS) >= 0)
        for (int n = 0; n < BATCH && s_echo (socket) == 0; n++)
            ;
    zsock_destroy (&sock);
    return 0;
}
