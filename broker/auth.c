/* auth.c: who sent a message, from its connection's metadata. */
#include "auth.h"

#include <arpa/inet.h>
#include <string.h>

/* True if address is an IP address, as libzmq writes a TCP peer's. A
 * peer on an ipc endpoint has "localhost:uid:gid:pid", or nothing. */
static bool
s_is_ip_address (const char *address)
{
    unsigned char binary [sizeof (struct in6_addr)];
    return address && (inet_pton (AF_INET, address, binary) == 1
                   ||  inet_pton (AF_INET6, address, binary) == 1);
}

void
auth_peer_read (zmq_msg_t *frame, auth_peer_t *peer)
{
    /* The ZAP handler's metadata comes before the peer's own handshake
     * properties in libzmq, so a peer cannot claim a role by sending one:
     * the handler always sets both names for a key it lets in. */
    const char *address = zmq_msg_gets (frame, AUTH_META_ADDRESS);
    peer->key = zmq_msg_gets (frame, AUTH_META_USER_ID);
    peer->address = address? address: "?";
    peer->network = s_is_ip_address (address);
    peer->roles = 0;
    peer->services = NULL;
    if (peer->key) {
        peer->roles = zf_roles_parse (zmq_msg_gets (frame, AUTH_META_ROLE));
        peer->services = zmq_msg_gets (frame, AUTH_META_SERVICES);
    }
}
