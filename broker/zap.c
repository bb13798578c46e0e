/* zap.c: the ZAP handler actor: CURVE keys in, from the keystore, with
 * their roles; everything else refused and counted.
 *
 * One thread, its own sockets: the pipe to the broker and a REP socket on
 * inproc://zeromq.zap.01, where libzmq's I/O threads put one request per
 * handshake and wait for the answer. Every answer is a hash lookup, so a
 * flood of handshakes never queues the good ones behind slow work; what
 * a flood would cost is log lines, and those are limited to one a
 * second. */
#include "zap.h"
#include "auth.h"
#include "keystore.h"
#include "zf_curve.h"
#include "zf_log.h"
#include "zf_util.h"

#include <inttypes.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct {
    zsock_t *pipe;              /* to the broker */
    zsock_t *handler;           /* REP, bound at ZAP_ENDPOINT */
    keystore_t *keys;           /* who may come in */
    int64_t logged_at;          /* when the last refusal line went out */
    uint64_t unlogged;          /* refusals since, not yet logged */
    zhashx_t *addresses;        /* address -> refusals since (as a pointer
                                   sized count), at most ZAP_ADDRESSES */
} zap_t;

/* What the constructor tells the actor and learns back from it. */
typedef struct {
    const char *dir;
    bool ready;                 /* bound and keys read */
} zap_start_t;

/* ---- refusals ----------------------------------------------------------- */

static void
s_count (zap_t *self, const char *address)
{
    uintptr_t count = (uintptr_t) zhashx_lookup (self->addresses, address);
    if (count || zhashx_size (self->addresses) < ZAP_ADDRESSES)
        zhashx_update (self->addresses, address, (void *) (count + 1));
}

/* Writes into text "N from ADDRESS", the address most refusals came from
 * since the last line. */
static void
s_busiest (zap_t *self, char *text, size_t size)
{
    uintptr_t most = 0;
    const char *busiest = "?";
    for (void *count = zhashx_first (self->addresses); count;
         count = zhashx_next (self->addresses))
        if ((uintptr_t) count > most) {
            most = (uintptr_t) count;
            busiest = zhashx_cursor (self->addresses);
        }
    snprintf (text, size, "%" PRIuPTR " from %s", most, busiest);
}

static void
s_log_reset (zap_t *self, int64_t now)
{
    self->logged_at = now;
    self->unlogged = 0;
    zhashx_purge (self->addresses);
}

/* Logs a refused handshake, or counts it if a line went out less than
 * ZAP_LOG_MS ago. */
static void
s_refused (zap_t *self, const char *address, const char *key,
           const char *why)
{
    s_count (self, address);
    int64_t now = zf_now_ms ();
    if (now - self->logged_at < ZAP_LOG_MS) {
        self->unlogged++;
        return;
    }
    char busiest [300], since [340] = "";
    if (self->unlogged) {
        s_busiest (self, busiest, sizeof busiest);
        snprintf (since, sizeof since, " (and %" PRIu64 " more since, %s)",
                  self->unlogged, busiest);
    }
    zf_warning ("refused a CURVE handshake from %s, key %s: %s%s", address,
                key, why, since);
    s_log_reset (self, now);
}

/* Logs the count of refusals no line has told of yet. */
static void
s_log_flush (zap_t *self)
{
    char busiest [300];
    s_busiest (self, busiest, sizeof busiest);
    zf_warning ("refused %" PRIu64 " more CURVE handshakes in the last %d ms"
                " (%s)", self->unlogged, ZAP_LOG_MS, busiest);
    s_log_reset (self, zf_now_ms ());
}

/* Milliseconds until unlogged refusals are due in the log, or -1. */
static int
s_log_wait (zap_t *self)
{
    if (!self->unlogged)
        return -1;
    int64_t wait = self->logged_at + ZAP_LOG_MS - zf_now_ms ();
    return wait > 0? (int) wait: 0;
}

/* ---- requests ----------------------------------------------------------- */

/* Appends a ZMTP property (name, value) to metadata. */
static void
s_property (zchunk_t *metadata, const char *name, const char *value)
{
    uint8_t name_size = (uint8_t) strlen (name);
    uint32_t value_size = (uint32_t) strlen (value);
    uint8_t size_bytes [4] = { value_size >> 24, value_size >> 16,
                               value_size >> 8, value_size };
    zchunk_extend (metadata, &name_size, 1);
    zchunk_extend (metadata, name, name_size);
    zchunk_extend (metadata, size_bytes, 4);
    zchunk_extend (metadata, value, value_size);
}

/* Sends the reply to a request whose sequence frame is `sequence` (takes
 * ownership). entry is the key's, or NULL to refuse. */
static void
s_reply (zap_t *self, zframe_t **sequence, const char *key,
         const key_entry_t *entry)
{
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_append (reply, sequence);
    zmsg_addstr (reply, entry? "200": "400");
    zmsg_addstr (reply, entry? "OK": "not allowed");
    zmsg_addstr (reply, entry? key: "");
    zchunk_t *metadata = zchunk_new (NULL, 256);
    if (entry) {
        s_property (metadata, AUTH_META_ROLE, zf_roles_name (entry->roles));
        s_property (metadata, AUTH_META_SERVICES, entry->services);
    }
    zmsg_addmem (reply, zchunk_data (metadata), zchunk_size (metadata));
    zchunk_destroy (&metadata);
    zmsg_send (&reply, self->handler);
}

/* Why a request with these frames is refused, or NULL if it is not, with
 * *entry the key's. key receives the client key in Z85 ("-" if there is
 * none). */
static const char *
s_judge (zap_t *self, const char *version, const char *domain,
         const char *mechanism, zframe_t *credentials, char *key,
         const key_entry_t **entry)
{
    *entry = NULL;
    strcpy (key, "-");
    if (!mechanism || !streq (version? version: "", "1.0"))
        return "malformed ZAP request";
    if (!streq (mechanism, "CURVE") || !streq (domain? domain: "", ZAP_DOMAIN))
        return "not CURVE";
    if (!credentials || zframe_size (credentials) != 32)
        return "malformed CURVE key";
    zmq_z85_encode (key, zframe_data (credentials), 32);
    *entry = keystore_lookup (self->keys, key);
    return *entry? NULL: "the key is not in --authorized-keys";
}

/* Answers one request: [version][sequence][domain][address][identity]
 * [mechanism][credentials...] (RFC 27). */
static void
s_on_request (zap_t *self)
{
    zmsg_t *request = zmsg_recv (self->handler);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    zframe_t *sequence = zmsg_pop (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    zframe_t *identity = zmsg_pop (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credentials = zmsg_pop (request);
    char key [ZF_CURVE_KEY_TEXT];
    const key_entry_t *entry;
    const char *why = s_judge (self, version, domain, mechanism, credentials,
                               key, &entry);
    if (why)
        s_refused (self, address? address: "?", key, why);
    else
        zf_debug ("let in key %s (%s, %s) from %s", key, entry->file,
                  zf_roles_name (entry->roles), address? address: "?");
    /* A REP socket must answer every request to take the next one. */
    if (!sequence)
        sequence = zframe_new_empty ();
    s_reply (self, &sequence, key, entry);
    zframe_destroy (&credentials);
    zframe_destroy (&identity);
    zstr_free (&mechanism);
    zstr_free (&address);
    zstr_free (&domain);
    zstr_free (&version);
    zmsg_destroy (&request);
}

/* A command from the broker. Returns false on $TERM. */
static bool
s_on_command (zap_t *self)
{
    char *command = NULL, *dir = NULL;
    if (zstr_recvx (self->pipe, &command, &dir, NULL) < 1)
        return false;
    bool go_on = !streq (command, "$TERM");
    if (streq (command, "RELOAD"))
        zsock_signal (self->pipe, dir && self->keys
                      && keystore_reload (self->keys, dir) == 0? 0: 1);
    zstr_free (&command);
    zstr_free (&dir);
    return go_on;
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    zap_start_t *start = arg;
    zap_t self = { .pipe = pipe };
    self.handler = zsock_new (ZMQ_REP);
    if (self.handler && zsock_bind (self.handler, ZAP_ENDPOINT) == 0)
        self.keys = keystore_new (start->dir);
    else
        zf_error ("cannot bind the ZAP handler at %s: %s", ZAP_ENDPOINT,
                  zmq_strerror (zmq_errno ()));
    self.addresses = zhashx_new ();
    start->ready = self.keys != NULL;
    zsock_signal (pipe, 0);     /* start is not ours after this */
    zpoller_t *poller = zpoller_new (pipe, self.keys? self.handler: NULL,
                                     NULL);
    while (true) {
        void *which = zpoller_wait (poller, s_log_wait (&self));
        if (which == pipe && !s_on_command (&self))
            break;
        if (which == self.handler)
            s_on_request (&self);
        else
        if (!which && zpoller_terminated (poller))
            break;
        if (self.unlogged && s_log_wait (&self) == 0)
            s_log_flush (&self);
    }
    zpoller_destroy (&poller);
    zhashx_destroy (&self.addresses);
    keystore_destroy (&self.keys);
    zsock_destroy (&self.handler);
}

zactor_t *
zap_new (const char *dir)
{
    zap_start_t start = { .dir = dir };
    zactor_t *self = zactor_new (s_actor, &start);
    if (self && !start.ready)
        zactor_destroy (&self);
    return self;
}

int
zap_reload (zactor_t *self, const char *dir)
{
    assert (self);
    zstr_sendx (self, "RELOAD", dir, NULL);
    return zsock_wait (self) == 0? 0: -1;
}
