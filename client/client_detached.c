/* client_detached.c: detached tasks from the client's side: submit one
 * and have the broker's word that it is stored, fetch or cancel one by
 * id, ask for lists. Each is a call that waits for its answer, one at a
 * time per client, while other tasks' results go on arriving (they are
 * kept, as during zfarm_client_status). */
#include "client_internal.h"
#include "result_internal.h"
#include "zf_log.h"
#include "zf_util.h"

#include <sys/random.h>

static uint64_t
s_random_id (void)
{
    uint64_t id = 0;
    while (id == 0)
        if (getrandom (&id, sizeof id, 0) != sizeof id) {
            /* No entropy call: a uuid, as routing ids are made. */
            uint8_t bytes [ZF_ROUTING_ID_SIZE];
            zf_random_routing_id (bytes);
            memcpy (&id, bytes + 1, sizeof id);
        }
    return id;
}

/* A task of a batch of SUBMITs or FETCHes, waiting for its answer. */
typedef struct {
    uint64_t id;                /* first: the index's key */
    size_t at;                  /* its place in the caller's arrays */
    int not_found;              /* FETCH: brokers that do not have it */
} batch_entry_t;

static void
s_request_begin (zfarm_client_t *self, int command, uint64_t task_id)
{
    zf_client_receive (self);   /* what came before belongs to no call */
    free (self->request.json);
    zfarm_result_destroy (&self->request.result);
    zf_index_clear (&self->request.batch);
    memset (&self->request, 0, sizeof self->request);
    zf_index_init (&self->request.batch, offsetof (batch_entry_t, id));
    self->request.command = command;
    self->request.task_id = task_id;
    self->unauthorized = false;
}

static void
s_send (conn_t *conn, const zf_header_t *header, const void *data,
        size_t size)
{
    zf_client_batch_flush (conn);       /* held SUBMITs go first */
    conn->armed = false;
    int rc = data? zf_wire_send_data (conn->sock, header, data, size)
                 : zf_wire_send_shared (conn->sock, header, NULL);
    if (rc != 0)
        zf_debug ("zfarm client: could not send %s to %s: %s",
                  zf_command_name (header->command), conn->endpoint,
                  zmq_strerror (zmq_errno ()));
}

/* Waits for the call's answer. Returns its status, or BROKER_DOWN. */
static int
s_request_wait (zfarm_client_t *self, int wait_ms)
{
    int64_t until = wait_ms < 0? INT64_MAX: zf_now_ms () + wait_ms;
    while (!self->request.done) {
        zf_client_pump (self);
        if (self->request.done)
            break;
        if (self->unauthorized) {
            self->request.command = 0;
            return ZFARM_EUNAUTHORIZED;
        }
        if (zf_client_poll (self, until) != 0) {
            self->request.command = 0;
            return ZFARM_EBROKER_DOWN;
        }
    }
    self->request.command = 0;
    return self->request.status;
}

void
zf_client_detached_answer (zfarm_client_t *self, conn_t *conn,
                           const zf_header_t *header, zf_frames_t *payload)
{
    (void) conn;
    int command = self->request.command;
    if ((command == ZF_SUBMIT
         && (header->command == ZF_STORED || header->command == ZF_RESULT))
    ||  (command == ZF_FETCH && header->command == ZF_RESULT)) {
        batch_entry_t *entry = zf_index_lookup (&self->request.batch,
                                                header->task_id);
        /* A task is at one broker: the others' NOT_FOUND waits for its. */
        if (entry && command == ZF_FETCH
        &&  header->status == ZFARM_ENOT_FOUND
        &&  ++entry->not_found < self->request.asked)
            return;
        if (entry) {
            zf_index_delete (&self->request.batch, header->task_id);
            self->request.codes [entry->at] =
                header->command == ZF_STORED? 0: header->status;
            if (command == ZF_FETCH)
                self->request.results [entry->at] =
                    zf_result_from_wire (header, payload);
            self->request.done = --self->request.unanswered == 0;
            return;
        }
    }
    bool expected =
        (header->command == ZF_QUERY && command == ZF_QUERY)
     || (header->command == ZF_RESULT && command != ZF_QUERY
         && command != ZF_SUBMIT && command);
    if (!expected || self->request.done
    ||  (header->command != ZF_QUERY
         && header->task_id != self->request.task_id)) {
        zf_debug ("zfarm client: dropped a %s from %s that no call waits"
                  " for", zf_command_name (header->command), conn->endpoint);
        return;
    }
    /* A task is at one broker: the others' NOT_FOUND waits for its. */
    if (header->command == ZF_RESULT && header->status == ZFARM_ENOT_FOUND
    &&  command != ZF_SUBMIT
    &&  ++self->request.not_found < self->request.asked)
        return;
    self->request.done = true;
    self->request.status = header->command == ZF_STORED? 0: header->status;
    if (header->command == ZF_RESULT)
        self->request.result = zf_result_from_wire (header, payload);
    if (header->command == ZF_QUERY && header->status == 0) {
        size_t size = zf_frames_size (payload);
        self->request.json = zf_malloc (size + 1);
        zf_frames_copy (payload, self->request.json);
    }
}

int
zfarm_client_submit_detached_batch (zfarm_client_t *self, const char *service,
                                    size_t count, const void *const data [],
                                    const size_t sizes [], int timeout_ms,
                                    int wait_ms, uint64_t ids [], int codes [])
{
    assert (self);
    if (!service
    ||  !zf_service_name_is_valid (service,
                                   strnlen (service, ZF_SERVICE_MAX + 1))
    ||  timeout_ms < 0 || count == 0 || !data || !sizes || !ids || !codes)
        return ZFARM_EINVALID;
    for (size_t i = 0; i < count; i++)
        if (!data [i] && sizes [i])
            return ZFARM_EINVALID;
    s_request_begin (self, ZF_SUBMIT, 0);
    zf_header_t header;
    zf_header_init (&header, ZF_SUBMIT);
    zf_header_set_service (&header, service);
    header.timeout_ms = (uint32_t) timeout_ms;
    header.retries = self->retries;
    header.flags = ZF_FLAG_DETACHED | ZF_FLAG_NUL;
    header.priority = (uint32_t) self->priority;
    header.delay_ms = self->delay_ms;
    header.retry_on = self->retry_on;
    header.backoff_min_ms = self->backoff_min_ms;
    header.backoff_max_ms = self->backoff_max_ms;
    conn_t *conn = &self->brokers [zf_client_pick_any (self)];
    batch_entry_t *entries = zf_malloc (count * sizeof *entries);
    self->request.codes = codes;
    for (size_t i = 0; i < count; i++) {
        entries [i].id = s_random_id ();
        entries [i].at = i;
        ids [i] = entries [i].id;
        codes [i] = ZFARM_EBROKER_DOWN;
        zf_index_insert (&self->request.batch, &entries [i]);
        /* The payload with the NUL the flag promises. */
        header.task_id = entries [i].id;
        char *frame = zf_malloc (sizes [i] + 1);
        if (sizes [i])
            memcpy (frame, data [i], sizes [i]);
        s_send (conn, &header, frame, sizes [i] + 1);
        free (frame);
    }
    self->request.unanswered = count;
    s_request_wait (self, wait_ms);
    zf_index_clear (&self->request.batch);
    self->request.codes = NULL;
    free (entries);
    for (size_t i = 0; i < count; i++)
        if (codes [i])
            return codes [i];
    return 0;
}

int
zfarm_client_submit_detached (zfarm_client_t *self, const char *service,
                              const void *data, size_t size, int timeout_ms,
                              int wait_ms, uint64_t *task_id_p)
{
    assert (self);
    if (!data && size)
        return ZFARM_EINVALID;
    const void *datas [1] = { data? data: "" };
    uint64_t id;
    int code;
    int rc = zfarm_client_submit_detached_batch (self, service, 1, datas,
                                                 &size, timeout_ms, wait_ms,
                                                 &id, &code);
    if (rc == 0 && task_id_p)
        *task_id_p = id;
    return rc;
}

/* Asks every broker about task_id (FETCH, or CANCEL) and waits. */
static int
s_ask_all (zfarm_client_t *self, int command, uint64_t task_id, int wait_ms,
           zfarm_result_t **result_p)
{
    if (result_p)
        *result_p = NULL;
    if (task_id == 0)
        return ZFARM_EINVALID;
    s_request_begin (self, command, task_id);
    zf_header_t header;
    zf_header_init (&header, command);
    header.task_id = task_id;
    header.flags = ZF_FLAG_DETACHED;
    /* The broker answers PENDING when its wait ends: a little before ours,
     * so that we hear it. */
    if (command == ZF_FETCH && wait_ms != 0)
        header.timeout_ms = wait_ms < 0? UINT32_MAX
                          : (uint32_t) (wait_ms > 200? wait_ms - 100: wait_ms);
    for (int i = 0; i < self->broker_count; i++)
        s_send (&self->brokers [i], &header, NULL, 0);
    self->request.asked = self->broker_count;
    int64_t slack = wait_ms < 0? -1: wait_ms + 1000;
    int rc = s_request_wait (self, (int) (slack > INT32_MAX? INT32_MAX: slack));
    if (result_p)
        *result_p = self->request.result;
    else
        zfarm_result_destroy (&self->request.result);
    self->request.result = NULL;
    return rc;
}

int
zfarm_client_fetch_batch (zfarm_client_t *self, size_t count,
                          const uint64_t ids [], int wait_ms,
                          zfarm_result_t *results [], int codes [])
{
    assert (self);
    if (count == 0 || !ids || !results || !codes)
        return ZFARM_EINVALID;
    for (size_t i = 0; i < count; i++)
        if (ids [i] == 0)
            return ZFARM_EINVALID;
    s_request_begin (self, ZF_FETCH, 0);
    zf_header_t header;
    zf_header_init (&header, ZF_FETCH);
    header.flags = ZF_FLAG_DETACHED;
    /* The broker answers PENDING when its wait ends: a little before ours,
     * so that we hear it. */
    if (wait_ms != 0)
        header.timeout_ms = wait_ms < 0? UINT32_MAX
                          : (uint32_t) (wait_ms > 200? wait_ms - 100: wait_ms);
    batch_entry_t *entries = zf_malloc (count * sizeof *entries);
    self->request.codes = codes;
    self->request.results = results;
    self->request.asked = self->broker_count;
    size_t unanswered = 0;
    for (size_t i = 0; i < count; i++) {
        results [i] = NULL;
        codes [i] = ZFARM_EBROKER_DOWN;
        if (zf_index_lookup (&self->request.batch, ids [i]))
            continue;           /* asked already: answered once */
        entries [i] = (batch_entry_t) { ids [i], i, 0 };
        zf_index_insert (&self->request.batch, &entries [i]);
        unanswered++;
        header.task_id = ids [i];
        for (int b = 0; b < self->broker_count; b++)
            s_send (&self->brokers [b], &header, NULL, 0);
    }
    self->request.unanswered = unanswered;
    int64_t slack = wait_ms < 0? -1: wait_ms + 1000;
    int rc = s_request_wait (self, (int) (slack > INT32_MAX? INT32_MAX: slack));
    zf_index_clear (&self->request.batch);
    self->request.codes = NULL;
    self->request.results = NULL;
    free (entries);
    /* The tasks asked twice get the first one's outcome. */
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < i && !results [i]; j++)
            if (ids [j] == ids [i] && results [j]) {
                codes [i] = codes [j];
                results [i] = zf_result_new (ids [i], codes [j],
                                             zfarm_result_error (results [j]));
            }
    return rc == ZFARM_EUNAUTHORIZED? rc: 0;
}

int
zfarm_client_fetch (zfarm_client_t *self, uint64_t task_id, int wait_ms,
                    zfarm_result_t **result_p)
{
    assert (self);
    zfarm_result_t *result = NULL;
    int code;
    int rc = zfarm_client_fetch_batch (self, 1, &task_id, wait_ms, &result,
                                       &code);
    if (rc == 0)
        rc = code;
    if (result_p)
        *result_p = result;
    else
        zfarm_result_destroy (&result);
    return rc;
}

int
zfarm_client_cancel_detached (zfarm_client_t *self, uint64_t task_id,
                              int wait_ms)
{
    assert (self);
    return s_ask_all (self, ZF_CANCEL, task_id, wait_ms < 0? -1: wait_ms,
                      NULL);
}

int
zfarm_client_query (zfarm_client_t *self, const char *request, int wait_ms,
                    char **json_p)
{
    assert (self);
    if (!json_p || !request || strlen (request) > ZF_TEXT_MAX)
        return ZFARM_EINVALID;
    *json_p = NULL;
    s_request_begin (self, ZF_QUERY, 0);
    zf_header_t header;
    zf_header_init (&header, ZF_QUERY);
    zf_header_set_text (&header, request);
    self->request.asked = 1;
    s_send (zf_client_status_broker (self), &header, NULL, 0);
    int rc = s_request_wait (self, wait_ms);
    if (rc == 0) {
        *json_p = self->request.json;
        self->request.json = NULL;
    }
    return rc;
}
