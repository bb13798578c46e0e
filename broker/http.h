/* http.h: the broker's optional HTTP port (libmicrohttpd), served from the
 * broker's own loop: no thread, so pages read broker state directly. */
#ifndef HTTP_H
#define HTTP_H

typedef struct _http_t http_t;

/* Renders the body for a GET of path, or returns NULL for 404. Sets
 * *content_type. The body is malloc'd; the server frees it. */
typedef char *(http_render_fn) (void *arg, const char *path,
                                const char **content_type);

/* Listens on address ("HOST:PORT"; PORT 0 picks a free one). Returns NULL
 * (after logging why) if the address is invalid or cannot be bound. */
http_t *
    http_new (const char *address, http_render_fn *render, void *arg);

void
    http_destroy (http_t **self_p);

/* A descriptor to poll for input; when it is readable (or when
 * http_timeout runs out), call http_run. */
int
    http_fd (http_t *self);

/* Milliseconds until http_run is due anyway, or -1 for no limit. */
long
    http_timeout (http_t *self);

void
    http_run (http_t *self);

/* The bound address as a URL, "http://127.0.0.1:9464" (static storage). */
const char *
    http_url (http_t *self);

#endif
