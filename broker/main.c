/* main.c: zfarm-broker: parse the flags, run the broker, clean up. */
#include "broker.h"
#include <czmq.h>

int
main (int argc, char *argv [])
{
    options_t options;
    int rc = options_parse (&options, argc, argv);
    if (rc != 0)
        return rc > 0? 0: 2;
    zsys_set_logident ("zfarm-broker");
    zsys_set_logstream (stderr);
    broker_t *broker = broker_new (&options);
    if (!broker)
        return 1;
    rc = broker_run (broker);
    broker_destroy (&broker);
    return rc == 0? 0: 1;
}
