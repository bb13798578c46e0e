/* libzmq_info.h: which libzmq the broker runs on.
 *
 * zfarm's patched libzmq (deploy/libzmq/README.md) gives a peer that claims
 * a routing id starting with a zero byte a generated id instead; on any
 * other libzmq 4.3, a peer that claims the next id the ROUTER will generate
 * makes the broker's process abort. The patched one exports
 * zfarm_libzmq_reserved_ids, which is how it is told apart at run time. */
#ifndef LIBZMQ_INFO_H
#define LIBZMQ_INFO_H

#include <stdbool.h>

/* True if the libzmq loaded in this process has zfarm's patch. */
bool
    libzmq_has_reserved_ids (void);

/* The file of the libzmq loaded in this process, or "libzmq" if the
 * dynamic linker cannot tell (a static build). */
const char *
    libzmq_path (void);

#endif
