/* helpers.c: the public helpers of zfarm_client.h that a client program
 * needs beside the client itself: the library's own rules for keys,
 * endpoint lists, service names and retry policies, and its escaping of
 * peers' text. Each is the internal function the library itself uses, so
 * that a program checks its input exactly as the library will. */
#include "zfarm_client.h"
#include "zf_curve.h"
#include "zf_endpoints.h"
#include "zf_escape.h"
#include "zf_proto.h"
#include "zf_retry.h"

#include <string.h>

int
zfarm_curve_check_env (char *error, size_t error_size)
{
    zf_curve_t curve;
    int rc = zf_curve_setup_from_env (&curve, error, error_size);
    zf_curve_clear (&curve); /* the secret key is not kept */
    return rc == 0 ? 0 : ZFARM_EINVALID;
}

int
zfarm_endpoints_split (const char *list, char *endpoints [], char *why,
                       size_t why_size)
{
    zf_endpoints_t parsed;
    if (zf_endpoints_parse (&parsed, list, why, why_size) != 0)
        return ZFARM_EINVALID;
    /* The copies move to the caller, who frees them. */
    memcpy (endpoints, parsed.items, parsed.count * sizeof parsed.items [0]);
    return parsed.count;
}

bool
zfarm_service_name_is_valid (const char *name, size_t size)
{
    return name && zf_service_name_is_valid (name, size);
}

bool
zfarm_service_list_is_valid (const char *list)
{
    return zf_services_are_valid (list);
}

int
zfarm_retry_codes_parse (const char *text, unsigned *codes_p, char *error,
                         size_t error_size)
{
    /* ZF_RETRY_BIT and ZFARM_RETRY_ON give a code the same bit. */
    uint32_t bits;
    if (zf_retry_codes_parse (text, &bits, error, error_size) != 0)
        return ZFARM_EINVALID;
    *codes_p = bits;
    return 0;
}

int
zfarm_backoff_parse (const char *text, int *min_ms_p, int *max_ms_p,
                     char *error, size_t error_size)
{
    /* At most ZF_BACKOFF_MAX_MS, an hour: both fit an int. */
    uint32_t min, max;
    if (zf_backoff_parse (text, &min, &max, error, error_size) != 0)
        return ZFARM_EINVALID;
    *min_ms_p = (int) min;
    *max_ms_p = (int) max;
    return 0;
}

bool
zfarm_escape (char *dest, size_t dest_size, const char *src, size_t size)
{
    return zf_escape (dest, dest_size, src, size);
}

char *
zfarm_escape_dup (const char *src, size_t size)
{
    return zf_escape_dup (src, size);
}

size_t
zfarm_utf8_char (const void *src, size_t size)
{
    return zf_utf8_char (src, size);
}
