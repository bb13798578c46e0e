/* metrics.h: the broker's state in the Prometheus text exposition format. */
#ifndef METRICS_H
#define METRICS_H

#include "status.h"

/* The /metrics document (README.md, "Metrics"). Caller frees. */
char *
    metrics_text (const status_view_t *view);

#endif
