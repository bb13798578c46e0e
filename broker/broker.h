/* broker.h: the zfarm broker: one ROUTER socket, one thread, one loop. */
#ifndef BROKER_H
#define BROKER_H

#include "options.h"

typedef struct _broker_t broker_t;

/* Binds every endpoint in options. Returns NULL (after logging why) if any
 * endpoint cannot be bound. */
broker_t *
    broker_new (const options_t *options);

void
    broker_destroy (broker_t **self_p);

/* Serves until SIGINT or SIGTERM, then drains (see --drain-timeout).
 * Returns 0 on a clean stop, -1 if the loop failed. */
int
    broker_run (broker_t *self);

#endif
