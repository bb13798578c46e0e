/* zf_proto.h: the zfarm wire header, encoded and decoded in one place.
 *
 * Every message is [header][payload frames...]; the header is one msgpack
 * array [ "zf", version, command, fields...] as common/PROTOCOL.md says.
 * The decoder accepts any bytes: a malformed header is an error code. */
#ifndef ZF_PROTO_H
#define ZF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zf_defaults.h"

typedef enum {
    ZF_READY = 1,       /* worker -> broker: I offer these services */
    ZF_SUBMIT,          /* client -> broker: run this task */
    ZF_TASK,            /* broker -> worker: run this task */
    ZF_DONE,            /* worker -> broker: this task's result */
    ZF_RESULT,          /* broker -> client: this task's result */
    ZF_CANCEL,          /* client -> broker, broker -> worker */
    ZF_HEARTBEAT,       /* any peer, either way */
    ZF_DISCONNECT,      /* either way: forget me / register again */
    ZF_ERROR,           /* broker -> peer: your message was refused */
    ZF_STATUS,          /* client -> broker: request; reply carries JSON */
    ZF_PING,            /* client -> broker: are you there? */
    ZF_PONG,            /* broker -> client: yes, and this is my epoch */
    ZF_SLOTS,           /* worker -> broker: my free slots changed */
    ZF_PROGRESS,        /* worker -> broker -> client: how far a task is */
    ZF_STORED,          /* broker -> client: this detached task is stored */
    ZF_FETCH,           /* client -> broker: a detached task's outcome */
    ZF_QUERY,           /* client -> broker, and back: a list (JSON) */
    ZF_BATCH,           /* any way: many SUBMITs, TASKs, DONEs or RESULTs
                           in one message (zf_batch.h) */
    ZF_COMMAND_LIMIT    /* not a command: one past the last */
} zf_command_t;

/* A decoded header. Only the fields of its command are set. Strings are
 * copied and NUL-terminated, so the header outlives the frame it came from. */
typedef struct {
    int command;                /* zf_command_t */
    uint64_t task_id;           /* SUBMIT, TASK, DONE, RESULT, CANCEL,
                                   PROGRESS */
    uint64_t epoch;             /* PONG: the broker's random start id */
    int status;                 /* DONE, RESULT, ERROR: 0 ok, or a ZFARM_E*
                                   code (negative: the codec alone knows
                                   the wire's positive number); TASK: the
                                   previous attempt's (0: none) */
    uint32_t timeout_ms;        /* SUBMIT, TASK: 0 = no deadline */
    int32_t retries;            /* SUBMIT: -1 = broker's default */
    uint32_t priority;          /* SUBMIT: 0..ZF_PRIORITY_MAX, higher runs
                                   first (ZF_PRIORITY_DEFAULT if absent) */
    uint32_t delay_ms;          /* SUBMIT: not due before the broker has
                                   held it this long; 0 = at once */
    uint32_t attempt;           /* TASK: 1 on first dispatch */
    uint32_t capacity;          /* READY: slots */
    uint32_t pid;               /* READY */
    uint32_t service_count;     /* READY, PING: entries used in services */
    char service [ZF_SERVICE_MAX + 1];                  /* SUBMIT, TASK */
    char services [ZF_SERVICES_MAX][ZF_SERVICE_MAX + 1]; /* READY; PING:
                                   the services whose backlog the PONG
                                   is to tell */
    char host [ZF_HOST_MAX + 1];  /* READY: printable ASCII, no space */
    char text [ZF_TEXT_MAX + 1];  /* DONE, RESULT, ERROR: error text;
                                     TASK: the previous attempt's;
                                     READY: software version (printable
                                     ASCII, ZF_VERSION_MAX bytes at most);
                                     DISCONNECT: reason; PROGRESS: the
                                     note (ZF_NOTE_MAX bytes at most, cut
                                     there on decode; free text) */
    uint32_t flags;             /* SUBMIT, TASK, DONE, RESULT, CANCEL, READY:
                                   ZF_FLAG_* */
    uint32_t prefetch;          /* READY: tasks per slot it takes in
                                   advance, 1..ZF_PREFETCH_MAX (1 if absent) */
    uint32_t heartbeat_ms;      /* READY: the worker's own interval;
                                   HEARTBEAT, PONG from the broker: the
                                   interval the peer must use. 0: not said
                                   (absent, or sent as 0) */
    uint32_t liveness;          /* with heartbeat_ms: missed intervals
                                   that mean dead. 0: not said */
    uint32_t brokers;           /* READY: brokers the worker serves (1 if
                                   absent) */
    char instance [ZF_INSTANCE_MAX + 1];  /* READY: the worker's id, the
                                   same to every broker it serves
                                   (printable ASCII, no space); "": not
                                   said. DISCONNECT from a supervisor:
                                   the worker that died */
    uint32_t free_slots;        /* SLOTS: the worker's; PONG: of all the
                                   broker's workers */
    uint64_t queued;            /* PONG: tasks waiting at the broker */
    uint64_t waiting;           /* PONG to a PING that named services:
                                   their tasks waiting in queue, due */
    uint32_t waited_ms;         /* ... and how long the oldest of them has
                                   waited (0 when none waits) */
    uint64_t pool;              /* PONG: a digest of the broker's workers,
                                   the same at brokers with the same
                                   workers; 0: none, or not said */
    uint32_t busy;              /* PONG: per mille of the last interval
                                   the broker's loop was on a CPU, 0..
                                   ZF_BUSY_MAX; 0: not said */
    uint64_t rss_kb;            /* HEARTBEAT from a worker: its process's
                                   resident memory, kB; 0: not said */
    uint64_t done;              /* PROGRESS: work done so far */
    uint64_t total;             /* PROGRESS: work in all; 0: not known */
    uint32_t retry_on;          /* SUBMIT: status codes to retry, bit 1 <<
                                   code (ZF_RETRY_BIT); 0: the service's */
    uint32_t backoff_min_ms;    /* SUBMIT: first retry's delay; with */
    uint32_t backoff_max_ms;    /* max, 0 and 0: the service's */
    uint32_t count;             /* BATCH: its items, 1..ZF_BATCH_ITEMS_MAX */
} zf_header_t;

/* The retry_on bit of a ZFARM_E* code (-31..-1), as on the wire and as
 * zfarm_client.h's ZFARM_RETRY_ON. */
#define ZF_RETRY_BIT(code) (1u << -(code))

/* The index of a ZFARM_E* code in a table of counters by code. */
#define ZF_CODE_INDEX(code) ((unsigned) -(code))

/* The payload's last frame ends with a NUL byte that is not part of the
 * payload: a receiver that wants NUL-terminated bytes (the C API promises
 * them) can use a single frame in place instead of copying it. */
#define ZF_FLAG_NUL 1

/* DONE: the worker holds no task that waits for a slot, so the slot this
 * DONE frees is idle until the next TASK comes: the broker may send this
 * worker more in advance. */
#define ZF_FLAG_IDLE 2

/* TASK: sent in advance of a free slot (prefetch): it waits at the worker
 * behind the tasks in hand. */
#define ZF_FLAG_AHEAD 4

/* CANCEL from the broker: the result is not wanted, so a task that runs
 * already is to be stopped too, not only one that waits. Without it, a
 * CANCEL takes back only a task not started (work stealing). */
#define ZF_FLAG_STOP 8

/* SUBMIT, TASK: the client wants PROGRESS reports of this task. The broker
 * carries it from SUBMIT to TASK; a worker sends PROGRESS only for a task
 * whose TASK has it, and the broker forwards only those. */
#define ZF_FLAG_PROGRESS 16

/* HEARTBEAT from a worker: it is draining (stopping: it starts no new
 * task, finishes those in hand, then sends DISCONNECT). The broker sends
 * it no more tasks and asks back those it sent in advance. */
#define ZF_FLAG_DRAIN 64

/* DONE: the handler says its failure is permanent: no attempt would do
 * better, so the broker does not retry it whatever the retry policy. */
#define ZF_FLAG_FINAL 32

/* SUBMIT: a detached task, which the broker keeps in its journal and
 * runs whether or not its client stays (STORED acknowledges it); its id
 * is the client's random one. RESULT: the outcome of a detached task, in
 * reply to a FETCH or a CANCEL. CANCEL: of a detached task, by its id,
 * answered with a RESULT. FETCH: wait for the outcome (its timeout_ms). */
#define ZF_FLAG_DETACHED 128

/* READY: a zfarm pool supervisor (zfarm-worker --processes) runs this
 * worker process and reports its death to the broker: a DISCONNECT that
 * names its instance, with how it died. The broker holds a worker so
 * marked whose connection closed for a heartbeat, waiting for that
 * report, before it deletes it without one. */
#define ZF_FLAG_SUPERVISED 256
/* READY: the worker takes TASKs in BATCH messages. HEARTBEAT from the
 * broker: it takes DONEs in BATCH messages. PONG: it takes SUBMITs in
 * BATCH messages (and answers a client that sends them with RESULTs in
 * BATCH messages). So no peer is sent a BATCH it does not read. */
#define ZF_FLAG_BATCH 512

/* An encoded header, built without allocation. */
typedef struct {
    size_t size;
    bool overflow;              /* the header did not fit: do not send */
    char data [ZF_HEADER_MAX];
} zf_buf_t;

typedef struct _zf_decoder_t zf_decoder_t;

/* Reusable decoder state (keeps msgpack's memory between messages). */
zf_decoder_t *
    zf_decoder_new (void);
void
    zf_decoder_destroy (zf_decoder_t **self_p);

/* Decodes size bytes into header. Returns 0, ZFARM_EBAD_VERSION (header->
 * command is then 0), or ZFARM_EBAD_REQUEST with a reason in header->text. */
int
    zf_header_decode (zf_decoder_t *self, zf_header_t *header,
                      const void *data, size_t size);

/* Encodes header into buf. Returns 0, or -1 if the header is invalid for
 * its command or does not fit (a programmer error in the sender). */
int
    zf_header_encode (const zf_header_t *header, zf_buf_t *buf);

/* Sets header to an empty header of command, ready for its fields. */
void
    zf_header_init (zf_header_t *header, int command);

/* Copies src into a field of the header, truncated to fit. */
void
    zf_header_set_text (zf_header_t *header, const char *text);
void
    zf_header_set_service (zf_header_t *header, const char *service);

/* True if name is a valid service name: 1..255 printable ASCII bytes, no
 * space, not in the reserved "zfarm." namespace. */
bool
    zf_service_name_is_valid (const char *name, size_t size);

/* True if every string length and item count that the msgpack bytes
 * declare fits in the bytes there are: msgpack-c would otherwise allocate
 * what a few bytes claim (an array of 4 billion items) before finding out
 * it is not there. For every decoder of msgpack (headers, journal
 * records). */
bool
    zf_msgpack_fits (const uint8_t *data, size_t size);

/* Name of a command ("READY"), or "UNKNOWN". */
const char *
    zf_command_name (int command);

#endif
