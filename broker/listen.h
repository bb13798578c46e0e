/* listen.h: binding the broker's endpoints, each with its security.
 *
 * One ROUTER serves every endpoint, and libzmq takes a socket's security
 * options when an endpoint is bound: so local endpoints (ipc://) are bound
 * first, open to local processes and guarded by their socket file's mode,
 * and the others after the socket is made a CURVE server with a ZAP
 * domain (which cannot be unset once set). */
#ifndef LISTEN_H
#define LISTEN_H

#include <czmq.h>
#include <stdbool.h>
#include "options.h"

/* Binds options->binds on router. With secret_key (Z85; NULL for no
 * security) every endpoint but ipc:// is a CURVE server in ZAP domain
 * "zfarm": start the ZAP handler first. ipc socket files get
 * options->ipc_mode, or 0600 with security; an exposed endpoint without
 * security gets one warning. bound [i] receives binds [i] as bound (port
 * resolved; caller frees). Returns 0, or -1 (logged) at the first
 * endpoint that fails. */
int
    listen_bind_all (zsock_t *router, const options_t *options,
                     const char *secret_key, char **bound);

/* True for endpoints only processes on this host can reach (ipc://). */
bool
    listen_is_local (const char *endpoint);

/* True if a tcp:// endpoint, as bound, listens on a loopback address
 * only (127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104). */
bool
    listen_is_loopback (const char *endpoint);

#endif
