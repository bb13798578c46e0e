/* lru_broker.c: the plain ZeroMQ load-balancing broker, the benchmark's
 * ceiling: the zguide's lbbroker pattern (ROUTER frontend for clients,
 * ROUTER backend for workers, a queue of ready workers, least recently used
 * first), with credit so that a worker may hold several tasks at once.
 *
 * Protocol, on DEALER sockets at both ends:
 *   worker -> broker   [READY]              one message per free slot
 *   broker -> worker   [client id][task]    the task, uses one slot
 *   worker -> broker   [client id][result]  frees the slot
 *   client -> broker   [task]               and gets back [result]
 *
 * Invariant: the credit ring holds one entry per free worker slot, oldest
 * first; the frontend is read only while the ring is not empty, so tasks
 * that find no slot wait in ZeroMQ's own queue. It does nothing else: no
 * heartbeats, timeouts, retries, task table or status, which is what makes
 * it the ceiling for what a broker on ZeroMQ can do. */
#include <czmq.h>
#include <getopt.h>

#define READY           "\001"  /* a worker's credit message */
#define BATCH           256     /* messages handled per socket per poll */
#define ID_MAX          255     /* bytes in a ZeroMQ routing id */
#define RING_INITIAL    64
/* How often a blocked poll looks at zsys_interrupted: a signal may land on
 * a thread other than the one polling and so not end its poll. */
#define INTERRUPT_CHECK_MS  100

/* One free slot: the routing id of the worker that offers it. */
typedef struct {
    uint8_t size;
    uint8_t data [ID_MAX];
} slot_t;

typedef struct {
    void *frontend;             /* ROUTER for clients (libzmq handle) */
    void *backend;              /* ROUTER for workers (libzmq handle) */
    slot_t *ring;               /* free slots, a circular queue */
    size_t ring_size;           /* entries allocated */
    size_t head;                /* oldest free slot */
    size_t count;               /* free slots held */
    long credit_seen;           /* READY messages received, ever */
    long gate;                  /* read no task before this many READY */
} broker_t;

static void
s_ring_push (broker_t *self, const zmq_msg_t *id)
{
    if (self->count == self->ring_size) {
        size_t size = self->ring_size * 2;
        slot_t *ring = malloc (size * sizeof *ring);
        if (!ring) {
            fprintf (stderr, "lru_broker: out of memory\n");
            abort ();
        }
        for (size_t i = 0; i < self->count; i++)
            ring [i] = self->ring [(self->head + i) % self->ring_size];
        free (self->ring);
        self->ring = ring;
        self->ring_size = size;
        self->head = 0;
    }
    slot_t *slot = &self->ring [(self->head + self->count) % self->ring_size];
    slot->size = (uint8_t) zmq_msg_size (id);
    memcpy (slot->data, zmq_msg_data ((zmq_msg_t *) id), slot->size);
    self->count++;
}

static const slot_t *
s_ring_pop (broker_t *self)
{
    assert (self->count > 0);
    const slot_t *slot = &self->ring [self->head];
    self->head = (self->head + 1) % self->ring_size;
    self->count--;
    return slot;
}

/* Receives the next frame into msg; false if none (or it was the last). */
static bool
s_recv_more (zmq_msg_t *msg, void *socket)
{
    return zmq_msg_recv (msg, socket, 0) >= 0;
}

/* Forwards the rest of a message (frames after the ones read) from one
 * socket to the other, moving each frame without copying it. */
static void
s_forward_rest (void *from, void *to, zmq_msg_t *frame)
{
    bool more = true;
    while (more && s_recv_more (frame, from)) {
        more = zmq_msg_more (frame);
        zmq_msg_send (frame, to, more? ZMQ_SNDMORE: 0);
    }
}

/* One message from a worker: a READY, or a result for a client. */
static int
s_backend_message (broker_t *self)
{
    zmq_msg_t id, frame;
    zmq_msg_init (&id);
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&id, self->backend, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&id);
        zmq_msg_close (&frame);
        return -1;
    }
    if (zmq_msg_more (&id) && s_recv_more (&frame, self->backend)) {
        if (zmq_msg_more (&frame)) {        /* [client id][result...] */
            zmq_msg_send (&frame, self->frontend, ZMQ_SNDMORE);
            s_forward_rest (self->backend, self->frontend, &frame);
        }
        else
            self->credit_seen++;            /* [READY] */
        s_ring_push (self, &id);
    }
    zmq_msg_close (&id);
    zmq_msg_close (&frame);
    return 0;
}

/* One task from a client, to the least recently used free slot. */
static int
s_frontend_message (broker_t *self)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, self->frontend, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return -1;
    }
    const slot_t *slot = s_ring_pop (self);
    zmq_send (self->backend, slot->data, slot->size, ZMQ_SNDMORE);
    bool more = zmq_msg_more (&frame);
    zmq_msg_send (&frame, self->backend, more? ZMQ_SNDMORE: 0);
    if (more)
        s_forward_rest (self->frontend, self->backend, &frame);
    zmq_msg_close (&frame);
    return 0;
}

static void
s_run (broker_t *self)
{
    while (!zsys_interrupted) {
        bool open = self->count > 0 && self->credit_seen >= self->gate;
        zmq_pollitem_t items [] = {
            { self->backend, 0, ZMQ_POLLIN, 0 },
            { self->frontend, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll (items, open? 2: 1, INTERRUPT_CHECK_MS) < 0)
            break;
        /* Results first: each one frees a slot for the tasks below. */
        for (int i = 0; i < BATCH && s_backend_message (self) == 0; i++)
            ;
        for (int i = 0; i < BATCH && self->count > 0
                        && self->credit_seen >= self->gate; i++)
            if (s_frontend_message (self))
                break;
    }
}

static void
s_usage (void)
{
    printf (
"Usage: lru_broker --frontend EP --backend EP [--ready N]\n"
"                  [--endpoint-file FILE]\n"
"\n"
"The plain ZeroMQ LRU broker: clients send one-frame tasks to the frontend,\n"
"workers (lru_worker) announce each free slot with READY on the backend.\n"
"  --ready N             take no task before N READY messages came\n"
"                        (workers x credit)\n"
"  --endpoint-file FILE  once bound, write the two endpoints to FILE, one\n"
"                        a line (for tcp://127.0.0.1:* binds)\n"
"Stops on SIGINT or SIGTERM.\n");
}

static zsock_t *
s_bind (const char *endpoint)
{
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    zsock_set_sndhwm (sock, 0);     /* never drop a reply: the clients' */
    zsock_set_rcvhwm (sock, 0);     /* windows bound what is queued */
    if (zsock_bind (sock, "%s", endpoint) < 0) {
        fprintf (stderr, "lru_broker: bind %s: %s\n", endpoint,
                 zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

/* Writes the bound endpoints, frontend first, through a temporary file
 * renamed into place so that a reader never sees half of them. */
static int
s_write_endpoints (const char *path, zsock_t *front, zsock_t *back)
{
    char temporary [4096];
    snprintf (temporary, sizeof temporary, "%s.tmp", path);
    FILE *file = fopen (temporary, "w");
    int rc = file? 0: -1;
    if (file) {
        if (fprintf (file, "%s\n%s\n", zsock_endpoint (front),
                     zsock_endpoint (back)) < 0)
            rc = -1;
        if (fclose (file))
            rc = -1;
    }
    if (rc == 0)
        rc = rename (temporary, path);
    if (rc)
        fprintf (stderr, "lru_broker: write %s: %s\n", path,
                 strerror (errno));
    return rc;
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        { "frontend", required_argument, NULL, 'f' },
        { "backend",  required_argument, NULL, 'b' },
        { "ready",    required_argument, NULL, 'r' },
        { "endpoint-file", required_argument, NULL, 'e' },
        { "help",     no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    const char *frontend = NULL, *backend = NULL, *endpoint_file = NULL;
    broker_t self = { .ring_size = RING_INITIAL };
    int option;
    while ((option = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        if (option == 'f') frontend = optarg;
        else if (option == 'b') backend = optarg;
        else if (option == 'r') self.gate = atol (optarg);
        else if (option == 'e') endpoint_file = optarg;
        else {
            s_usage ();
            return option == 'h'? 0: 2;
        }
    }
    if (!frontend || !backend || optind < argc || self.gate < 0) {
        s_usage ();
        return 2;
    }
    zsys_init ();
    zsock_t *front = s_bind (frontend);
    zsock_t *back = front? s_bind (backend): NULL;
    self.ring = malloc (self.ring_size * sizeof *self.ring);
    int rc = back && self.ring? 0: 1;
    if (rc == 0 && endpoint_file)
        rc = s_write_endpoints (endpoint_file, front, back)? 1: 0;
    if (rc == 0) {
        self.frontend = zsock_resolve (front);
        self.backend = zsock_resolve (back);
        s_run (&self);
    }
    free (self.ring);
    zsock_destroy (&back);
    zsock_destroy (&front);
    return rc;
}
