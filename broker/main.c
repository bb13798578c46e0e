/* main.c: zfarm-broker: parse the flags, run the broker, clean up. */
#include "broker.h"
#include "zf_log.h"
#include "zf_util.h"
#include <czmq.h>

int
main (int argc, char *argv [])
{
    options_t options;
    int rc = options_parse (&options, argc, argv);
    if (rc != 0) {
        options_free (&options);
        return rc > 0? 0: 2;
    }
    zf_log_open ("zfarm-broker", options.log_level, options.syslog);
    zf_malloc_keep_memory ();
    broker_t *broker = broker_new (&options);
    rc = broker? broker_run (broker): -1;
    broker_destroy (&broker);
    options_free (&options);
    return rc == 0? 0: 1;
}
