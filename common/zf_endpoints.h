/* zf_endpoints.h: lists of broker endpoints, "tcp://a:5555,tcp://b:5555",
 * as $ZFARM_BROKER, --broker and the APIs take them. */
#ifndef ZF_ENDPOINTS_H
#define ZF_ENDPOINTS_H

#include <stddef.h>
#include "zf_defaults.h"

typedef struct {
    char *items [ZF_BROKERS_MAX];   /* each a copy */
    int count;
} zf_endpoints_t;

/* Parses list: endpoints separated by commas, with spaces around them
 * ignored. Returns 0, or -1 with the reason in why (size bytes) for an
 * empty list or item, more than ZF_BROKERS_MAX, one named twice, or one
 * that ZeroMQ cannot connect to (syntax, transport); then self is empty. */
int
    zf_endpoints_parse (zf_endpoints_t *self, const char *list, char *why,
                        size_t size);

/* Frees the copies; self is then empty. */
void
    zf_endpoints_clear (zf_endpoints_t *self);

#endif
