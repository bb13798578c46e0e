/* host_module.c: zfarm-worker --module: a handler from a shared object. */
#include "host.h"
#include "zf_util.h"

#include <assert.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

struct _module_t {
    void *handle;               /* from dlopen */
    zfarm_handler_fn *handler;  /* the function --function named */
};

module_t *
module_new (const char *path, const char *function)
{
    assert (path && function);
    /* RTLD_LOCAL keeps two modules' symbols apart; RTLD_NOW reports a
     * missing symbol now rather than in the middle of a task. */
    void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf (stderr, "zfarm-worker: --module: %s\n", dlerror ());
        return NULL;
    }
    dlerror ();
    zfarm_handler_fn *handler = (zfarm_handler_fn *) dlsym (handle, function);
    if (!handler) {
        fprintf (stderr, "zfarm-worker: --function: %s has no function "
                 "'%s'\n", path, function);
        dlclose (handle);
        return NULL;
    }
    module_t *self = zf_malloc (sizeof *self);
    self->handle = handle;
    self->handler = handler;
    return self;
}

void
module_destroy (module_t **self_p)
{
    assert (self_p);
    module_t *self = *self_p;
    if (!self)
        return;
    dlclose (self->handle);
    free (self);
    *self_p = NULL;
}

zfarm_handler_fn *
module_handler (module_t *self)
{
    assert (self);
    return self->handler;
}
