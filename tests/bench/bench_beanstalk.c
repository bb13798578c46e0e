/* bench_beanstalk.c: the same detached round as bench_detached, through
 * beanstalkd (detached.sh's anchor).
 *
 * bench_beanstalk HOST PORT COUNT WORKERS [SIZE]
 *
 * WORKERS child processes each reserve jobs from tube "echo", put the
 * payload back as a job in tube "results" and delete the job, as a
 * worker's handler would reply. The parent puts COUNT jobs of SIZE bytes
 * (default 100), pipelined 1000 at a time (each acknowledged INSERTED),
 * then reserves COUNT results. Prints "beanstalkd TASKS/S" for the time
 * from the first put to the last result. Beanstalk's protocol is text
 * over TCP (github.com/beanstalkd/beanstalkd, doc/protocol.txt). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000

typedef struct {
    int fd;
    char buf [1 << 16];
    size_t start, end;
} conn_t;

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
s_die (const char *what)
{
    perror (what);
    exit (1);
}

static void
s_connect (conn_t *conn, const char *host, int port)
{
    struct sockaddr_in address = { .sin_family = AF_INET,
                                   .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, host, &address.sin_addr);
    conn->fd = socket (AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt (conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect (conn->fd, (struct sockaddr *) &address, sizeof address))
        s_die ("connect");
    conn->start = conn->end = 0;
}

static void
s_send (conn_t *conn, const void *data, size_t size)
{
    const char *at = data;
    while (size) {
        ssize_t n = write (conn->fd, at, size);
        if (n <= 0)
            s_die ("write");
        at += n;
        size -= (size_t) n;
    }
}

/* Reads size bytes, or a line (size 0: up to "\r\n", which is dropped). */
static size_t
s_read (conn_t *conn, char *out, size_t size)
{
    while (true) {
        size_t have = conn->end - conn->start;
        char *data = conn->buf + conn->start;
        if (size && have >= size) {
            memcpy (out, data, size);
            conn->start += size;
            return size;
        }
        char *line = size? NULL: memmem (data, have, "\r\n", 2);
        if (line) {
            size_t length = (size_t) (line - data);
            memcpy (out, data, length);
            out [length] = 0;
            conn->start += length + 2;
            return length;
        }
        memmove (conn->buf, data, have);
        conn->start = 0;
        conn->end = have;
        ssize_t n = read (conn->fd, conn->buf + conn->end,
                          sizeof conn->buf - conn->end);
        if (n <= 0)
            s_die ("read");
        conn->end += (size_t) n;
    }
}

static void
s_command (conn_t *conn, const char *command, const char *expect)
{
    char line [256];
    s_send (conn, command, strlen (command));
    s_read (conn, line, 0);
    if (strncmp (line, expect, strlen (expect)) != 0) {
        fprintf (stderr, "%s -> %s\n", command, line);
        exit (1);
    }
}

/* Reserves one job: its id, and its body into body (size returned). */
static size_t
s_reserve (conn_t *conn, unsigned long *id, char *body, size_t max)
{
    char line [256];
    s_send (conn, "reserve\r\n", 9);
    s_read (conn, line, 0);
    size_t size;
    if (sscanf (line, "RESERVED %lu %zu", id, &size) != 2 || size + 2 > max) {
        fprintf (stderr, "reserve -> %s\n", line);
        exit (1);
    }
    s_read (conn, body, size + 2);
    return size;
}

static void
s_put (conn_t *conn, const char *body, size_t size)
{
    char head [64];
    int length = snprintf (head, sizeof head, "put 0 0 60 %zu\r\n", size);
    s_send (conn, head, (size_t) length);
    s_send (conn, body, size);
    s_send (conn, "\r\n", 2);
}

static void
s_worker (const char *host, int port)
{
    conn_t *conn = malloc (sizeof *conn);
    s_connect (conn, host, port);
    s_command (conn, "watch echo\r\n", "WATCHING");
    s_command (conn, "use results\r\n", "USING");
    char *body = malloc (1 << 20);
    while (true) {
        unsigned long id;
        size_t size = s_reserve (conn, &id, body, 1 << 20);
        s_put (conn, body, size);
        char line [256];
        s_read (conn, line, 0);
        char command [64];
        int length = snprintf (command, sizeof command, "delete %lu\r\n", id);
        s_send (conn, command, (size_t) length);
        s_read (conn, line, 0);
    }
}

int
main (int argc, char *argv [])
{
    if (argc < 5) {
        fprintf (stderr, "usage: bench_beanstalk HOST PORT COUNT WORKERS"
                 " [SIZE]\n");
        return 2;
    }
    const char *host = argv [1];
    int port = atoi (argv [2]);
    long count = atol (argv [3]);
    int workers = atoi (argv [4]);
    size_t size = argc > 5? (size_t) atol (argv [5]): 100;
    pid_t pids [64];
    for (int i = 0; i < workers && i < 64; i++)
        if ((pids [i] = fork ()) == 0)
            s_worker (host, port);
    conn_t *producer = malloc (sizeof *producer);
    conn_t *consumer = malloc (sizeof *consumer);
    s_connect (producer, host, port);
    s_connect (consumer, host, port);
    s_command (producer, "use echo\r\n", "USING");
    s_command (consumer, "watch results\r\n", "WATCHING");
    char *payload = malloc (size + 1);
    memset (payload, 'x', size);
    char *body = malloc (size + 3);
    double start = s_now ();
    for (long at = 0; at < count; at += BATCH) {
        long n = count - at < BATCH? count - at: BATCH;
        for (long i = 0; i < n; i++)
            s_put (producer, payload, size);
        char line [256];
        for (long i = 0; i < n; i++) {
            s_read (producer, line, 0);
            if (strncmp (line, "INSERTED", 8) != 0) {
                fprintf (stderr, "put -> %s\n", line);
                return 1;
            }
        }
    }
    for (long i = 0; i < count; i++) {
        unsigned long id;
        if (s_reserve (consumer, &id, body, size + 3) != size)
            return 1;
        char command [64], line [256];
        int length = snprintf (command, sizeof command, "delete %lu\r\n", id);
        s_send (consumer, command, (size_t) length);
        s_read (consumer, line, 0);
    }
    double took = s_now () - start;
    for (int i = 0; i < workers && i < 64; i++)
        kill (pids [i], SIGKILL);
    while (wait (NULL) > 0)
        ;
    printf ("beanstalkd %.0f\n", (double) count / took);
    return 0;
}
