/* gearman_worker.c: the libgearman echo worker for the gearmand anchor: it
 * serves function --function (default echo) by returning its workload. */
#include <libgearman/gearman.h>

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libgearman frees the returned buffer after sending it. */
static void *
s_echo (gearman_job_st *job, void *context, size_t *result_size,
        gearman_return_t *ret_ptr)
{
    (void) context;
    size_t size = gearman_job_workload_size (job);
    void *result = malloc (size? size: 1);
    if (!result) {
        *ret_ptr = GEARMAN_MEMORY_ALLOCATION_FAILURE;
        return NULL;
    }
    memcpy (result, gearman_job_workload (job), size);
    *result_size = size;
    *ret_ptr = GEARMAN_SUCCESS;
    return result;
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        { "host",     required_argument, NULL, 'H' },
        { "port",     required_argument, NULL, 'p' },
        { "function", required_argument, NULL, 'f' },
        { "help",     no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    const char *host = "127.0.0.1", *function = "echo";
    long port = 4730;
    int option;
    while ((option = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        if (option == 'H') host = optarg;
        else if (option == 'p') port = atol (optarg);
        else if (option == 'f') function = optarg;
        else {
            printf ("Usage: gearman_worker [--host H] [--port P] "
                    "[--function NAME]\nEchoes each job's workload until "
                    "killed.\n");
            return option == 'h'? 0: 2;
        }
    }
    if (port < 1 || port > 65535 || optind < argc)
        return 2;
    gearman_worker_st *worker = gearman_worker_create (NULL);
    if (!worker)
        return 1;
    gearman_return_t rc = gearman_worker_add_server (worker, host,
                                                     (in_port_t) port);
    if (rc == GEARMAN_SUCCESS)
        rc = gearman_worker_add_function (worker, function, 0, s_echo, NULL);
    /* gearman_worker_work blocks for the next job; SIGTERM ends the process,
     * which has nothing to flush. */
    while (rc == GEARMAN_SUCCESS)
        rc = gearman_worker_work (worker);
    fprintf (stderr, "gearman_worker: %s\n", gearman_worker_error (worker));
    gearman_worker_free (worker);
    return 1;
}
