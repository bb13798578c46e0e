/* host.h: where zfarm-worker gets its handler from (internal to the binary).
 *
 * Either a function in a shared object (host_module.c) or a command run
 * once per task (host_exec.c). */
#ifndef HOST_H
#define HOST_H

#include "zfarm_worker.h"

/* ---- --module ---------------------------------------------------------- */

typedef struct _module_t module_t;

/* Loads the shared object at path and finds function in it (a
 * zfarm_handler_fn). Returns NULL after printing why to stderr. */
module_t *
    module_new (const char *path, const char *function);

/* Unloads the object: call it only once no handler runs. */
void
    module_destroy (module_t **self_p);

zfarm_handler_fn *
    module_handler (module_t *self);

/* ---- --exec ------------------------------------------------------------ */

/* A handler that runs arg, a command line (const char *), through
 * /bin/sh -c: the payload goes to its stdin and its stdout is the result.
 * A non-zero exit or a signal fails the task with its stderr. A command
 * still running one second past the task's timeout is killed, with all it
 * started. Thread-safe; the process must ignore SIGPIPE. */
int
    exec_handler (zfarm_task_t *task, void *arg);

#endif
