/* auth.h: who sent a message. A key's certificate gives it a role (client,
 * worker or both) and, for a worker, the services it may offer (zf_curve.h);
 * the ZAP handler hands both to libzmq as connection metadata, and the
 * broker reads them back from each message that needs a role. */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <zmq.h>
#include "zf_curve.h"

/* Metadata libzmq sets on each connection (its names for them are draft
 * API), and the names the ZAP handler adds. */
#define AUTH_META_USER_ID  "User-Id"
#define AUTH_META_ADDRESS  "Peer-Address"
#define AUTH_META_ROLE     "role"
#define AUTH_META_SERVICES "services"

/* Who sent a message, as libzmq recorded it for the connection. */
typedef struct {
    const char *key;            /* User-Id: the public key in Z85, or NULL
                                   for a peer on a local (ipc) endpoint */
    const char *address;        /* Peer-Address, or "?" */
    int roles;                  /* ZF_ROLE_*, from the certificate; 0 if
                                   local */
    const char *services;       /* the worker's allowed services, or NULL */
    bool network;               /* the connection came over the network */
} auth_peer_t;

/* Fills peer from the metadata of frame, any frame of a message as the
 * ROUTER received it. Pointers stay valid while the frame is open. */
void
    auth_peer_read (zmq_msg_t *frame, auth_peer_t *peer);

#endif
