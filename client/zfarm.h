/* zfarm.h: the one header a C program includes to use zfarm.
 *
 * Client API (hand tasks to a farm) in zfarm_client.h, worker API (serve
 * tasks) in zfarm_worker.h, the error codes both return in zfarm_codes.h,
 * and the defaults and ranges they take in zfarm_limits.h. Link with
 * libzfarm (pkg-config --libs libzfarm). */
#ifndef ZFARM_H
#define ZFARM_H

#include "zfarm_codes.h"
#include "zfarm_limits.h"
#include "zfarm_client.h"
#include "zfarm_worker.h"

#endif
