/* app.c: a program from outside the zfarm tree, built against an installed
 * libzfarm (with pkg-config, and with find_package), as a user would.
 *
 * Without arguments it prints an error code's name and text and makes and
 * destroys a client and a worker. With a broker endpoint it also forks a
 * worker that serves "reverse", calls it, prints the reply, and stops the
 * worker with SIGTERM. Exit status 0 when all of that worked. */
#define _POSIX_C_SOURCE 200809L     /* fork, kill, waitpid under -std=c11 */
#include <zfarm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int
s_reverse (zfarm_task_t *task, void *arg)
{
    (void) arg;
    size_t size;
    const char *text = zfarm_task_data (task, &size);
    char *reversed = malloc (size + 1);
    if (!reversed)
        return zfarm_task_fail (task, "out of memory");
    for (size_t i = 0; i < size; i++)
        reversed [i] = text [size - 1 - i];
    int rc = zfarm_task_reply (task, reversed, size);
    free (reversed);
    return rc;
}

/* The child: serve "reverse" until SIGTERM. */
static int
s_serve (const char *endpoint)
{
    zfarm_worker_t *worker = zfarm_worker_new (endpoint);
    if (!worker || zfarm_worker_register (worker, "reverse", s_reverse, NULL))
        return 1;
    int rc = zfarm_worker_run (worker);
    zfarm_worker_destroy (&worker);
    return rc == 0? 0: 1;
}

static int
s_call (const char *endpoint)
{
    zfarm_client_t *client = zfarm_client_new (endpoint);
    if (!client)
        return 1;
    zfarm_result_t *result = NULL;
    int rc = zfarm_client_call (client, "reverse", "stressed", 8, 20000,
                                &result);
    if (rc == 0) {
        size_t size;
        printf ("reverse: %s\n", (const char *) zfarm_result_data (result,
                                                                    &size));
    }
    else
        fprintf (stderr, "app: reverse: %s: %s\n", zfarm_err_name (rc),
                 result? zfarm_result_error (result): "");
    zfarm_result_destroy (&result);
    zfarm_client_destroy (&client);
    return rc == 0? 0: 1;
}

int
main (int argc, char *argv [])
{
    printf ("%s: %s\n", zfarm_err_name (ZFARM_ETIMEOUT),
            zfarm_strerror (ZFARM_ETIMEOUT));
    if (argc < 2) {
        zfarm_client_t *client = zfarm_client_new ("tcp://127.0.0.1:1");
        zfarm_worker_t *worker = zfarm_worker_new ("tcp://127.0.0.1:1");
        int ok = client && worker;
        zfarm_worker_destroy (&worker);
        zfarm_client_destroy (&client);
        printf ("client and worker: %s\n", ok? "made and destroyed": "failed");
        return ok? 0: 1;
    }
    /* Fork before either side touches ZeroMQ: a context does not survive
     * a fork. Flush stdout, or the child would print it a second time. */
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == -1)
        return 1;
    if (pid == 0)
        exit (s_serve (argv [1]));
    int rc = s_call (argv [1]);
    int status = 0;
    kill (pid, SIGTERM);
    if (waitpid (pid, &status, 0) != pid
    || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        fprintf (stderr, "app: the worker did not stop cleanly (status %d)\n",
                 status);
        rc = 1;
    }
    return rc;
}
