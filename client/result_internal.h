/* result_internal.h: how the client builds the results it hands out. */
#ifndef ZF_RESULT_INTERNAL_H
#define ZF_RESULT_INTERNAL_H

#include <czmq.h>
#include "zfarm_client.h"
#include "zf_proto.h"
#include "zf_wire.h"

/* A result made by the client itself (CANCELLED, TIMEOUT, BROKER_DOWN...):
 * status is 0 or a negative ZFARM_E* code, error a text ("" for none). The
 * data is empty. */
zfarm_result_t *
    zf_result_new (uint64_t task_id, int status, const char *error);

/* The result a RESULT message carries: wire status s becomes -s. A failed
 * task gets the header's text as its error and no data; a task that
 * succeeded gets the payload as its data, NUL-terminated as zfarm_client.h
 * promises: its one frame kept in place when the sender put the NUL there
 * (ZF_FLAG_NUL; the frame is taken from payload), else joined into a copy.
 * payload may be NULL (no frames). The RESULT's task id is the client's
 * own. */
zfarm_result_t *
    zf_result_from_wire (const zf_header_t *header, zf_frames_t *payload);

/* A result's place among a client's events (zfarm_client_wait_event):
 * set when it is queued for the wait calls. */
void
    zf_result_set_seq (zfarm_result_t *self, uint64_t seq);
uint64_t
    zf_result_seq (const zfarm_result_t *self);

#endif
