/* worker_table.c: worker records and their idle-list memberships. */
#include "worker_table.h"
#include "prefetch.h"
#include "zf_util.h"

#include <assert.h>

worker_t *
worker_new (const peer_id_t *id, const zf_header_t *ready,
            zhashx_t *services, int64_t now)
{
    worker_t *self = zf_malloc (sizeof *self);
    self->id = *id;
    self->capacity = ready->capacity;
    self->brokers = ready->brokers;
    self->shared = ready->brokers > 1;
    self->credit = ready->capacity;
    self->prefetch_max = ready->prefetch;
    self->prefetch_depth = 1;
    self->pid = ready->pid;
    self->joined_at = now;
    snprintf (self->host, sizeof self->host, "%s", ready->host);
    memcpy (self->instance, ready->instance, sizeof self->instance);
    self->supervised = (ready->flags & ZF_FLAG_SUPERVISED) != 0;
    snprintf (self->version, sizeof self->version, "%.*s", ZF_VERSION_MAX,
              ready->text);     /* the decoder bounds it: never cut */
    zf_list_init (&self->tasks);
    zf_link_init (&self->all_link);
    zf_link_init (&self->refill_link);
    zf_link_init (&self->gone_link);
    for (uint32_t i = 0; i < ready->service_count; i++) {
        service_t *service = service_require (services, ready->services [i]);
        bool duplicate = false;
        for (uint32_t j = 0; j < self->service_count; j++)
            duplicate |= self->services [j].service == service;
        if (duplicate)
            continue;
        membership_t *membership = &self->services [self->service_count++];
        membership->worker = self;
        membership->service = service;
        zf_link_init (&membership->idle_link);
        service->workers++;
        service->ever_had_workers = true;
    }
    worker_update_idle (self);
    return self;
}

void
worker_destroy (worker_t **self_p)
{
    worker_t *self = *self_p;
    if (!self)
        return;
    assert (self->gone);
    assert (zf_list_is_empty (&self->tasks));
    assert (!zf_link_is_linked (&self->refill_link));
    for (uint32_t i = 0; i < self->service_count; i++)
        assert (!zf_link_is_linked (&self->services [i].idle_link));
    free (self);
    *self_p = NULL;
}

bool
worker_has_free_slot (const worker_t *self)
{
    return self->running < self->capacity && !self->retiring
        && (!self->shared || self->credit > 0);
}

uint32_t
worker_free_slots (const worker_t *self)
{
    if (self->retiring || self->running >= self->capacity)
        return 0;
    uint32_t free = self->capacity - self->running;
    if (self->shared && self->credit < free)
        free = self->credit;
    return free;
}

bool
worker_can_prefetch (const worker_t *self)
{
    return !self->retiring && !worker_has_free_slot (self)
        && self->running < prefetch_held_max (self->capacity,
                                              self->prefetch_depth);
}

void
worker_mark_gone (worker_t *self)
{
    assert (!self->gone);
    for (uint32_t i = 0; i < self->service_count; i++) {
        zf_list_remove (&self->services [i].idle_link);
        self->services [i].service->workers--;
    }
    self->listed_idle = self->listed_prefetch = false;
    self->gone = true;
}

void
worker_update_idle (worker_t *self)
{
    assert (!self->gone);
    bool idle = worker_has_free_slot (self);
    bool prefetch = worker_can_prefetch (self);
    if (idle == self->listed_idle && prefetch == self->listed_prefetch)
        return;                 /* the common case: no list to change */
    for (uint32_t i = 0; i < self->service_count; i++) {
        membership_t *membership = &self->services [i];
        zf_list_remove (&membership->idle_link);
        if (idle)
            zf_list_push_back (&membership->service->idle,
                               &membership->idle_link);
        else
        if (prefetch)
            zf_list_push_back (&membership->service->prefetchers,
                               &membership->idle_link);
    }
    self->listed_idle = idle;
    self->listed_prefetch = prefetch;
}

void
worker_touch (worker_t *self, service_t *service)
{
    assert (!self->gone);
    for (uint32_t i = 0; i < self->service_count; i++) {
        membership_t *membership = &self->services [i];
        if (membership->service == service
        &&  zf_link_is_linked (&membership->idle_link)) {
            zf_list_remove (&membership->idle_link);
            zf_list_push_back (self->listed_idle? &service->idle
                                                : &service->prefetchers,
                               &membership->idle_link);
        }
    }
}
