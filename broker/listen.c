/* listen.c: the broker's endpoints, bound local ones first, then the
 * network ones with CURVE when security is on. */
#include "listen.h"
#include "zap.h"
#include "zf_log.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/stat.h>

#define IPC_SECURE_MODE 0600    /* ipc files with security, by default */

bool
listen_is_local (const char *endpoint)
{
    return strncmp (endpoint, "ipc://", 6) == 0
        || strncmp (endpoint, "inproc://", 9) == 0;
}

bool
listen_is_loopback (const char *endpoint)
{
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    if (!colon)
        return false;
    char text [INET6_ADDRSTRLEN + 2];
    size_t size = (size_t) (colon - host);
    if (size >= 2 && host [0] == '[' && host [size - 1] == ']') {
        host++;                 /* [::1]:5555 */
        size -= 2;
    }
    if (size >= sizeof text)
        return false;
    memcpy (text, host, size);
    text [size] = 0;
    struct in_addr ip4;
    struct in6_addr ip6;
    if (inet_pton (AF_INET, text, &ip4) == 1)
        return (ntohl (ip4.s_addr) >> 24) == 127;
    if (inet_pton (AF_INET6, text, &ip6) == 1)
        return IN6_IS_ADDR_LOOPBACK (&ip6)
            || (IN6_IS_ADDR_V4MAPPED (&ip6) && ip6.s6_addr [12] == 127);
    return false;               /* a host or interface name: assume not */
}

/* The mode an ipc endpoint's socket file gets, or -1 to leave it as the
 * umask makes it. */
static int
s_ipc_mode (const options_t *options, const char *endpoint, bool secure)
{
    if (strncmp (endpoint, "ipc://", 6) != 0)
        return -1;
    return options->ipc_mode >= 0? options->ipc_mode:
           secure? IPC_SECURE_MODE: -1;
}

/* Gives a bound ipc endpoint's socket file its mode. The umask around the
 * bind already made the file no more open than that; this makes it
 * exactly that. An abstract socket (ipc://@name) has no file and no mode,
 * which the operator is told. */
static int
s_chmod_ipc (const char *bound, int mode)
{
    const char *path = bound + strlen ("ipc://");
    if (*path == '@') {
        zf_warning ("%s is an abstract socket: any local process can"
                    " connect to it, whatever its mode", bound);
        return 0;
    }
    if (chmod (path, (mode_t) mode) != 0) {
        zf_error ("cannot chmod %o %s: %s", (unsigned) mode, path,
                  strerror (errno));
        return -1;
    }
    return 0;
}

static int
s_bind_one (zsock_t *router, const options_t *options, bool secure,
            int index, char **bound)
{
    const char *endpoint = options->binds [index];
    int mode = s_ipc_mode (options, endpoint, secure);
    mode_t umask_was = mode >= 0? umask (~(mode_t) mode & 0777): 0;
    int rc = zsock_bind (router, "%s", endpoint);
    if (mode >= 0)
        umask (umask_was);
    if (rc == -1) {
        zf_error ("cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        return -1;
    }
    bound [index] = zsock_last_endpoint (router);
    if (mode >= 0 && s_chmod_ipc (bound [index], mode) != 0)
        return -1;
    bool local = listen_is_local (endpoint);
    zf_info ("listening on %s%s", bound [index],
             secure && !local? " (CURVE)": "");
    if (!secure && strncmp (bound [index], "tcp://", 6) == 0
    &&  !listen_is_loopback (bound [index]))
        zf_warning ("%s is reachable from other hosts and unauthenticated;"
                    " see --curve-secret", bound [index]);
    return 0;
}

/* Makes the router's later binds CURVE servers asking the ZAP handler. */
static int
s_make_secure (zsock_t *router, const char *secret_key)
{
    void *handle = zsock_resolve (router);
    int on = 1;
    if (zmq_setsockopt (handle, ZMQ_CURVE_SERVER, &on, sizeof on)
    ||  zmq_setsockopt (handle, ZMQ_CURVE_SECRETKEY, secret_key,
                        strlen (secret_key) + 1)
    ||  zmq_setsockopt (handle, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN,
                        strlen (ZAP_DOMAIN))) {
        zf_error ("cannot make the socket a CURVE server: %s",
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

int
listen_bind_all (zsock_t *router, const options_t *options,
                 const char *secret_key, char **bound)
{
    bool secure = secret_key != NULL;
    for (int i = 0; i < options->bind_count; i++)
        if (listen_is_local (options->binds [i])
        &&  s_bind_one (router, options, secure, i, bound) != 0)
            return -1;
    if (secure && s_make_secure (router, secret_key) != 0)
        return -1;
    for (int i = 0; i < options->bind_count; i++)
        if (!listen_is_local (options->binds [i])
        &&  s_bind_one (router, options, secure, i, bound) != 0)
            return -1;
    return 0;
}
