/* service.c: service records, owned by their table. */
#include "service.h"
#include "zf_util.h"

static void
s_service_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

zhashx_t *
service_table_new (void)
{
    zhashx_t *table = zhashx_new ();
    if (!table)
        zf_die_nomem ();
    zhashx_set_destructor (table, s_service_destroy);
    return table;
}

service_t *
service_require (zhashx_t *services, const char *name)
{
    service_t *self = zhashx_lookup (services, name);
    if (self)
        return self;
    self = zf_malloc (sizeof *self);
    snprintf (self->name, sizeof self->name, "%s", name);
    zf_list_init (&self->queue);
    zf_list_init (&self->idle);
    zf_list_init (&self->prefetchers);
    zf_list_init (&self->prefetched);
    zf_list_init (&self->backoff);
    zf_link_init (&self->pending_link);
    zhashx_insert (services, self->name, self);
    return self;
}
