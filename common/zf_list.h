/* zf_list.h: intrusive doubly linked lists with a sentinel head.
 *
 * A link that is in no list points to itself, so removal is O(1) and
 * idempotent, and zf_link_is_linked tells membership without a flag. */
#ifndef ZF_LIST_H
#define ZF_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct zf_link {
    struct zf_link *prev;
    struct zf_link *next;
} zf_link_t;

#define zf_container_of(ptr, type, member) \
    ((type *) ((char *) (ptr) - offsetof (type, member)))

static inline void
zf_link_init (zf_link_t *link)
{
    link->prev = link->next = link;
}

/* A list head is a link that is its own list. */
static inline void
zf_list_init (zf_link_t *head)
{
    zf_link_init (head);
}

static inline bool
zf_link_is_linked (const zf_link_t *link)
{
    return link->next != link;
}

static inline bool
zf_list_is_empty (const zf_link_t *head)
{
    return head->next == head;
}

static inline void
zf_list_insert_after (zf_link_t *at, zf_link_t *link)
{
    link->prev = at;
    link->next = at->next;
    at->next->prev = link;
    at->next = link;
}

static inline void
zf_list_push_back (zf_link_t *head, zf_link_t *link)
{
    zf_list_insert_after (head->prev, link);
}

static inline void
zf_list_push_front (zf_link_t *head, zf_link_t *link)
{
    zf_list_insert_after (head, link);
}

static inline void
zf_list_remove (zf_link_t *link)
{
    link->prev->next = link->next;
    link->next->prev = link->prev;
    zf_link_init (link);
}

/* The first link, or NULL if the list is empty. */
static inline zf_link_t *
zf_list_first (const zf_link_t *head)
{
    return zf_list_is_empty (head)? NULL: head->next;
}

#endif
