/* zfarm_limits.h: the defaults and ranges a program using zfarm may need
 * to know, to check its own input or size its buffers.
 *
 * Public: included by zfarm_client.h. The library's own names for these
 * (common/zf_defaults.h, zf_curve.h) are defined from these, so that the
 * two cannot drift apart. */
#ifndef ZFARM_LIMITS_H
#define ZFARM_LIMITS_H

/* The broker a client or worker is given when neither its argument nor
 * $ZFARM_BROKER names one. */
#define ZFARM_DEFAULT_ENDPOINT "tcp://127.0.0.1:5555"

/* Brokers in one endpoint list ("tcp://a:5555,tcp://b:5555") that a
 * client or a worker is given, at most. */
#define ZFARM_BROKERS_MAX 16

/* A broker's --max-msg-size when not told: bytes of a whole message. */
#define ZFARM_DEFAULT_MAX_MSG_SIZE (256LL << 20)
/* Bytes of a message's encoded header, at most: a payload of up to the
 * broker's --max-msg-size less this always fits. */
#define ZFARM_HEADER_MAX           2048

/* Bytes of an error text the broker keeps, and of a detached-task query
 * (zfarm_client_query). */
#define ZFARM_TEXT_MAX 1023

/* zfarm_client_set_retries: -1 (the service's policy) up to this. */
#define ZFARM_RETRIES_MAX  100
/* zfarm_client_set_priority: 0 up to this, higher first. */
#define ZFARM_PRIORITY_MAX 9

/* zfarm_client_set_batch: SUBMITs in one message, at most; and the
 * largest payload that goes in one (a larger task is sent alone). */
#define ZFARM_BATCH_ITEMS_MAX   256
#define ZFARM_BATCH_PAYLOAD_MAX (16 * 1024)

/* Where zfarm_client_new (and zfarm_curve_check_env) finds the CURVE keys:
 * the broker's public key (Z85, or its public certificate file), and our
 * own secret certificate. */
#define ZFARM_CURVE_SERVER_KEY_ENV "ZFARM_CURVE_SERVER_KEY"
#define ZFARM_CURVE_CERT_ENV       "ZFARM_CURVE_CERT"

/* What ends a text that zfarm_escape cut because it did not fit. */
#define ZFARM_ESCAPE_MARKER "[...]"

#endif
