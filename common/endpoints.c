/* endpoints.c: lists of broker endpoints. */
#include "zf_endpoints.h"
#include "zf_util.h"

#include <czmq.h>
#include <string.h>

/* True if a DEALER can connect to endpoint (its syntax and transport). */
static bool
s_is_valid (const char *endpoint)
{
    zsock_t *probe = zsock_new (ZMQ_DEALER);
    if (!probe)
        return false;
    int rc = zsock_connect (probe, "%s", endpoint);
    zsock_destroy (&probe);
    return rc == 0;
}

/* Trims spaces around item in place; returns it. */
static char *
s_trim (char *item)
{
    while (*item == ' ' || *item == '\t')
        item++;
    size_t size = strlen (item);
    while (size && (item [size - 1] == ' ' || item [size - 1] == '\t'))
        item [--size] = 0;
    return item;
}

/* Adds one item, or says why not. */
static int
s_add (zf_endpoints_t *self, char *item, char *why, size_t size)
{
    item = s_trim (item);
    if (!*item) {
        snprintf (why, size, "an empty endpoint in the list");
        return -1;
    }
    if (self->count == ZF_BROKERS_MAX) {
        snprintf (why, size, "more than %d endpoints", ZF_BROKERS_MAX);
        return -1;
    }
    for (int i = 0; i < self->count; i++)
        if (strcmp (self->items [i], item) == 0) {
            snprintf (why, size, "endpoint '%.200s' is named twice", item);
            return -1;
        }
    if (!s_is_valid (item)) {
        snprintf (why, size, "invalid endpoint '%.200s'", item);
        return -1;
    }
    self->items [self->count++] = zf_strdup (item);
    return 0;
}

int
zf_endpoints_parse (zf_endpoints_t *self, const char *list, char *why,
                    size_t size)
{
    *self = (zf_endpoints_t) { .count = 0 };
    char *copy = zf_strdup (list? list: ""), *at = copy;
    int rc = 0;
    /* strsep, not strtok: "a,,b" has an empty item, which is an error. */
    for (char *item; rc == 0 && (item = strsep (&at, ",")); )
        rc = s_add (self, item, why, size);
    free (copy);
    if (rc != 0)
        zf_endpoints_clear (self);
    return rc;
}

void
zf_endpoints_clear (zf_endpoints_t *self)
{
    for (int i = 0; i < self->count; i++)
        free (self->items [i]);
    *self = (zf_endpoints_t) { .count = 0 };
}
