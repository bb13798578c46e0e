/* zf_defaults.h: every default and protocol limit, in one place. */
#ifndef ZF_DEFAULTS_H
#define ZF_DEFAULTS_H

/* The limits a program using the library sees are public (zfarm_limits.h);
 * these names are theirs inside the library. */
#include "zfarm_limits.h"

#define ZF_DEFAULT_ENDPOINT        ZFARM_DEFAULT_ENDPOINT
#define ZF_DEFAULT_HEARTBEAT_MS    500     /* heartbeat interval */
#define ZF_DEFAULT_LIVENESS        3       /* intervals of silence = dead */
#define ZF_HEARTBEAT_MIN_MS        10      /* bounds of an interval, for */
#define ZF_HEARTBEAT_MAX_MS        600000  /* every flag and on the wire */
#define ZF_LIVENESS_MAX            100
#define ZF_DEFAULT_MAX_RETRIES     2       /* re-dispatches after a worker dies */
#define ZF_DEFAULT_MAX_QUEUE       100000  /* waiting tasks per service */
#define ZF_DEFAULT_MAX_MSG_SIZE    ZFARM_DEFAULT_MAX_MSG_SIZE
#define ZF_DEFAULT_CANCEL_GRACE_MS 1000    /* a cancelled handler's time to
                                              return before its pool worker
                                              process is ended */

#define ZF_RECONNECT_MIN_MS        100     /* worker back-off, first wait */
#define ZF_RECONNECT_MAX_MS        8000    /* worker back-off, ceiling */

#define ZF_POOL_BACKOFF_MIN_MS     100     /* first restart delay, crash loop */
#define ZF_POOL_BACKOFF_MAX_MS     10000   /* ceiling of that delay */
#define ZF_POOL_YOUNG_MS           1000    /* dying sooner counts as a crash */
#define ZF_POOL_STOP_GRACE_MS      5000    /* SIGTERM to SIGKILL on stop */
#define ZF_DRAIN_TIMEOUT_MAX_MS    3600000 /* --drain-timeout, both sides */
#define ZF_POOL_RSS_CHECK_MS       100     /* zfarm-worker --processes reads
                                              its children's RSS this often */
#define ZF_POOL_GROW_MS            200     /* an elastic pool starts at most
                                              one process this often */
#define ZF_POOL_GROW_WAIT_MS       100     /* ... while a task has waited
                                              longer than this */
#define ZF_POOL_IDLE_TIMEOUT_MS    10000   /* --idle-timeout default */
#define ZF_IDLE_TIMEOUT_MAX_MS     2147483647L /* --idle-timeout, both
                                              sides: fits an int32 */
#define ZF_POOL_STARTUP_MS         5000    /* an elastic zfarm-worker pool
                                              counts a process this young
                                              as one about to take work */
#define ZF_POOL_WATCH_MS           200     /* an elastic zfarm-worker
                                              pool asks the brokers for its
                                              services' backlog this often */

#define ZF_PROTOCOL_ID             "zf"
#define ZF_PROTOCOL_VERSION        1
#define ZF_SERVICE_MAX             255     /* bytes in a service name */
#define ZF_SERVICES_MAX            16      /* services one worker offers */
#define ZF_TEXT_MAX                ZFARM_TEXT_MAX
#define ZF_NOTE_MAX                255     /* bytes of a PROGRESS's note */
#define ZF_PROGRESS_INTERVAL_MS    100     /* a worker sends a task's
                                              PROGRESS at most this often */
#define ZF_HOST_MAX                255     /* bytes of host name (READY) */
#define ZF_VERSION_MAX             64      /* bytes of software version (READY) */
#define ZF_CAPACITY_MAX            1024    /* slots one worker may offer */
#define ZF_BUSY_MAX                1000    /* a PONG's busy: per mille */
#define ZF_PREFETCH_MAX            16      /* tasks per slot a worker may hold in
                                              advance of the one it runs */
#define ZF_BROKERS_MAX             ZFARM_BROKERS_MAX
#define ZF_INSTANCE_MAX            64      /* bytes of a worker's instance id
                                              (READY) */
#define ZF_RETRIES_MAX             ZFARM_RETRIES_MAX
#define ZF_BACKOFF_MAX_MS          3600000 /* a retry waits at most an hour */
#define ZF_HEADER_MAX              ZFARM_HEADER_MAX
#define ZF_PRIORITY_MAX            ZFARM_PRIORITY_MAX
#define ZF_BATCH_ITEMS_MAX         ZFARM_BATCH_ITEMS_MAX
#define ZF_BATCH_PAYLOAD_MAX       ZFARM_BATCH_PAYLOAD_MAX
#define ZF_BATCH_BYTES_MAX         (1024 * 1024)  /* a sender starts a new
                                              batch past this */
#define ZF_PRIORITY_DEFAULT        4       /* a SUBMIT that says none: room
                                              both above and below it */
#define ZF_DEFAULT_OLDEST_EVERY    16      /* every Nth dispatch of a service
                                              takes its oldest waiting task,
                                              whatever its priority */

#endif
