/* http.c: a small GET-only HTTP server on libmicrohttpd's epoll mode.
 *
 * libmicrohttpd runs without a thread of its own: the broker polls its
 * epoll descriptor with the ROUTER socket and calls MHD_run, so a page
 * renders from the broker's state between two messages, with no lock. */
#include "http.h"
#include "zf_log.h"
#include "zf_util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <string.h>

#define CONNECTIONS_MAX  64     /* a scraper and a few browsers */
#define CONNECTION_IDLE  10     /* seconds before an idle client is closed */

struct _http_t {
    struct MHD_Daemon *daemon;
    http_render_fn *render;
    void *arg;
    char url [128];
};

static enum MHD_Result
s_reply (struct MHD_Connection *connection, unsigned status, char *body,
         const char *content_type)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type", content_type);
    MHD_add_response_header (response, "Cache-Control", "no-store");
    /* The type is the type: status.json, which holds names peers chose,
     * is never taken for HTML by a browser that sniffs. */
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result
s_on_request (void *cls, struct MHD_Connection *connection, const char *url,
              const char *method, const char *version, const char *upload,
              size_t *upload_size, void **state)
{
    (void) version;
    (void) upload;
    http_t *self = cls;
    /* The first call only announces the request; a body is not wanted. */
    if (*state == NULL) {
        *state = self;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
        return s_reply (connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                        zf_strdup ("only GET\n"), "text/plain");
    const char *content_type = "text/plain";
    char *body = self->render (self->arg, url, &content_type);
    if (!body)
        return s_reply (connection, MHD_HTTP_NOT_FOUND,
                        zf_strdup ("not found\n"), "text/plain");
    return s_reply (connection, MHD_HTTP_OK, body, content_type);
}

/* Parses "HOST:PORT" into an IPv4 or IPv6 socket address. */
static int
s_resolve (const char *address, struct sockaddr_storage *addr)
{
    const char *colon = strrchr (address, ':');
    if (!colon || colon == address || !colon [1])
        return -1;
    char host [256];
    size_t size = (size_t) (colon - address);
    if (size >= sizeof host)
        return -1;
    memcpy (host, address, size);
    host [size] = 0;
    if (host [0] == '[' && size > 2 && host [size - 1] == ']') {
        memmove (host, host + 1, size - 2);     /* [::1]:9464 */
        host [size - 2] = 0;
    }
    long port;
    if (zf_parse_long (colon + 1, 0, 65535, &port) != 0)
        return -1;
    struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
    struct addrinfo *found = NULL;
    char service [8];
    snprintf (service, sizeof service, "%ld", port);
    if (getaddrinfo (host, service, &hints, &found) != 0 || !found)
        return -1;
    memcpy (addr, found->ai_addr, found->ai_addrlen);
    freeaddrinfo (found);
    return 0;
}

http_t *
http_new (const char *address, http_render_fn *render, void *arg)
{
    struct sockaddr_storage addr;
    if (s_resolve (address, &addr) != 0) {
        zf_error ("--http %s: expected HOST:PORT", address);
        return NULL;
    }
    http_t *self = zf_malloc (sizeof *self);
    self->render = render;
    self->arg = arg;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG
                   | (addr.ss_family == AF_INET6? MHD_USE_IPv6: 0);
    self->daemon = MHD_start_daemon (
        flags, 0, NULL, NULL, s_on_request, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) CONNECTION_IDLE,
        MHD_OPTION_END);
    if (!self->daemon) {
        zf_error ("--http %s: cannot listen there (in use, or not an address"
                  " of this host)", address);
        free (self);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    char host [INET6_ADDRSTRLEN] = "127.0.0.1";
    if (addr.ss_family == AF_INET6)
        inet_ntop (AF_INET6, &((struct sockaddr_in6 *) &addr)->sin6_addr,
                   host, sizeof host);
    else
        inet_ntop (AF_INET, &((struct sockaddr_in *) &addr)->sin_addr,
                   host, sizeof host);
    snprintf (self->url, sizeof self->url, addr.ss_family == AF_INET6?
              "http://[%s]:%u": "http://%s:%u", host,
              info? (unsigned) info->port: 0u);
    zf_info ("serving metrics at %s/metrics and status at %s/", self->url,
             self->url);
    return self;
}

void
http_destroy (http_t **self_p)
{
    http_t *self = *self_p;
    if (!self)
        return;
    MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}

int
http_fd (http_t *self)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    return info? info->epoll_fd: -1;
}

long
http_timeout (http_t *self)
{
    MHD_UNSIGNED_LONG_LONG timeout;
    if (MHD_get_timeout (self->daemon, &timeout) != MHD_YES)
        return -1;
    return timeout > 60000? 60000: (long) timeout;
}

void
http_run (http_t *self)
{
    MHD_run (self->daemon);
}

const char *
http_url (http_t *self)
{
    return self->url;
}
