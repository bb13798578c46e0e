/* zf_record.h: a detached task as the broker's journal stores it, encoded
 * and decoded in one place (msgpack, like the wire header).
 *
 * A record is [checksum][msgpack array]: the checksum (BLAKE2b, 16 bytes,
 * libsodium) covers the array, so a flipped byte anywhere, payload
 * included, makes the record unreadable rather than wrong. The decoder
 * accepts any bytes: a damaged record is an error, never a crash. */
#ifndef ZF_RECORD_H
#define ZF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zf_defaults.h"

#define ZF_RECORD_VERSION   1
#define ZF_RECORD_SUM_SIZE  16
#define ZF_OWNER_MAX        40      /* a Z85 CURVE key */
#define ZF_HISTORY_MAX      8192    /* bytes of attempts' errors kept */

typedef enum {
    ZF_JOB_WAITING = 1,         /* queued or delayed */
    ZF_JOB_RUNNING,             /* an attempt was dispatched */
    ZF_JOB_FINISHED             /* status, and result or text, are set */
} zf_job_state_t;

/* The byte fields point into the buffer the record was decoded from (or
 * the caller's, to encode); sizes say how long each is. */
typedef struct {
    uint64_t id;                /* the detached task's id */
    uint64_t seq;               /* order of submission: the queue order */
    int state;                  /* zf_job_state_t */
    char service [ZF_SERVICE_MAX + 1];
    uint32_t flags;             /* ZF_FLAG_NUL: the payload ends with a NUL
                                   that is not part of it */
    uint32_t result_flags;      /* ZF_FLAG_NUL of the result */
    uint32_t priority;
    uint32_t timeout_ms;        /* 0: none */
    int32_t retries;            /* -1: the service's policy */
    uint32_t retry_on;
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    uint32_t attempts;          /* dispatches so far */
    int64_t submitted_at;       /* wall clock, ms since the epoch */
    int64_t due_at;             /* wall clock ms it is due; 0: at once */
    int64_t finished_at;        /* wall clock ms; 0 until finished */
    int status;                 /* FINISHED: 0 or a ZFARM_E* code */
    char owner [ZF_OWNER_MAX + 1];  /* the submitter's CURVE key; "": any */
    const char *text;           /* FINISHED: error text */
    size_t text_size;
    const char *history;        /* each failed attempt, a line each */
    size_t history_size;
    const void *payload;
    size_t payload_size;
    const void *result;         /* FINISHED with status 0 */
    size_t result_size;
} zf_job_t;

/* Encodes job into a new buffer (caller frees) of *size_p bytes. */
void *
    zf_record_encode (const zf_job_t *job, size_t *size_p);

/* Writes the checksum of a record's body (the bytes after the first
 * ZF_RECORD_SUM_SIZE) into its first bytes: for tests and the fuzzer,
 * which make bodies of their own. */
void
    zf_record_seal (void *record, size_t size);

/* Decodes size bytes into job, whose byte fields then point into data.
 * Returns 0, or -1 (with a reason in why) if the checksum does not match
 * or any field is missing, of the wrong type or out of bounds. */
int
    zf_record_decode (zf_job_t *job, const void *data, size_t size,
                      char *why, size_t why_size);

#endif
