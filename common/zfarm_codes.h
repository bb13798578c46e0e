/* zfarm_codes.h: the outcomes a zfarm user can see, as one list.
 *
 * Public: included by zfarm.h. Every error is a negative ZFARM_E* code in the
 * API and the same number, positive, as a status on the wire. Never renumber. */
#ifndef ZFARM_CODES_H
#define ZFARM_CODES_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#   define ZFARM_EXPORT __attribute__ ((visibility ("default")))
#else
#   define ZFARM_EXPORT
#endif

/* XX (NAME, number, text). Numbers are the wire status codes. */
#define ZFARM_ERRNO_MAP(XX)                                                   \
    XX (TIMEOUT,         1, "task timed out")                                 \
    XX (WORKER_LOST,     2, "worker died on every attempt")                   \
    XX (QUEUE_FULL,      3, "service queue is full")                          \
    XX (NO_SUCH_SERVICE, 4, "no worker has ever offered this service")        \
    XX (NO_WORKERS,      5, "no worker for this service before the timeout")  \
    XX (BAD_REQUEST,     6, "malformed or invalid request")                   \
    XX (BROKER_DOWN,     7, "broker did not answer")                          \
    XX (HANDLER_ERROR,   8, "task handler failed")                            \
    XX (BAD_VERSION,     9, "protocol version not supported")                 \
    XX (CANCELLED,      10, "task was cancelled")                             \
    XX (TOO_LARGE,      11, "message too large")                              \
    XX (SHUTDOWN,       12, "broker is shutting down")                        \
    XX (INVALID,        13, "invalid argument")                               \
    XX (NOT_FOUND,      14, "no such task")                                   \
    XX (INTERNAL,       15, "internal error")                                 \
    XX (UNAUTHORIZED,   16, "not allowed for this peer's key")               \
    XX (PENDING,        17, "task has not finished yet")

typedef enum {
    ZFARM_OK = 0,
#define ZFARM_XX(name, num, text) ZFARM_E##name = -(num),
    ZFARM_ERRNO_MAP (ZFARM_XX)
#undef ZFARM_XX
} zfarm_code_t;

/* Text for a code (negative, or 0): never NULL; "unknown error" if unknown. */
ZFARM_EXPORT const char *
    zfarm_strerror (int code);

/* Name of a code without the prefix ("TIMEOUT"), "OK" for 0; "UNKNOWN" else. */
ZFARM_EXPORT const char *
    zfarm_err_name (int code);

#ifdef __cplusplus
}
#endif
#endif
