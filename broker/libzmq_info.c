/* libzmq_info.c: which libzmq the broker runs on, asked of the dynamic
 * linker: the marker symbol of the patched one, and the file that
 * zmq_version came from. */
#include "libzmq_info.h"
#include <dlfcn.h>
#include <zmq.h>

/* Exported by deploy/libzmq/router-reserved-ids.patch; returns its
 * revision. */
typedef int (marker_fn) (void);

bool
libzmq_has_reserved_ids (void)
{
    /* Looked up in every library the process loaded: there is one
     * libzmq.so.5, which czmq shares. */
    marker_fn *marker = (marker_fn *) dlsym (RTLD_DEFAULT,
                                             "zfarm_libzmq_reserved_ids");
    return marker && marker () >= 1;
}

const char *
libzmq_path (void)
{
    Dl_info info;
    if (dladdr ((void *) zmq_version, &info) && info.dli_fname)
        return info.dli_fname;
    return "libzmq";
}
