/* chanids.c - ids of the channel names streams subscribe to, interned.
 * SPDX-License-Identifier: MIT
 *
 * A chained hash table keyed by the channel hash the events already carry;
 * it doubles when it holds as many entries as buckets and never shrinks
 * (its size follows the most distinct names subscribed at once).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chanids.h"
#include "sse_error.h"

struct sse_chanid {
    struct sse_chanid *next; /* in its bucket */
    uint64_t id;
    uint32_t hash;
    size_t refs;
    char name[]; /* NUL-terminated */
};

#define BUCKETS_MIN 16

void sse_chanids_init(struct sse_chanids *t)
{
    memset(t, 0, sizeof *t);
    t->next_id = 1;
}

void sse_chanids_cleanup(struct sse_chanids *t)
{
    assert(t->count == 0);
    free(t->buckets);
    t->buckets = NULL;
    t->nbuckets = 0;
}

static struct sse_chanid *lookup(const struct sse_chanids *t, const char *name,
                                 uint32_t hash)
{
    if (t->nbuckets == 0)
        return NULL;
    struct sse_chanid *e = t->buckets[hash & (t->nbuckets - 1)];
    while (e && (e->hash != hash || strcmp(e->name, name) != 0))
        e = e->next;
    return e;
}

uint64_t sse_chanids_find(const struct sse_chanids *t, const char *name,
                          uint32_t hash)
{
    const struct sse_chanid *e = lookup(t, name, hash);
    return e ? e->id : 0;
}

/* Makes room for one more entry (the table doubles at one per bucket).
 * Returns 0 or SSE_ENOMEM (table unchanged). */
static int grow(struct sse_chanids *t)
{
    if (t->count < t->nbuckets)
        return 0;
    size_t n = t->nbuckets ? 2 * t->nbuckets : BUCKETS_MIN;
    struct sse_chanid **b = calloc(n, sizeof *b);
    if (!b)
        return SSE_ENOMEM;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct sse_chanid *e = t->buckets[i];
        while (e) {
            struct sse_chanid *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

int sse_chanids_hold(struct sse_chanids *t, const char *name, uint32_t hash,
                     struct sse_chanid **out, int *created)
{
    struct sse_chanid *e = lookup(t, name, hash);
    *created = 0;
    if (!e) {
        size_t len = strlen(name);
        if (grow(t))
            return SSE_ENOMEM;
        e = malloc(sizeof *e + len + 1);
        if (!e)
            return SSE_ENOMEM;
        memcpy(e->name, name, len + 1);
        e->hash = hash;
        e->id = t->next_id++;
        e->refs = 0;
        e->next = t->buckets[hash & (t->nbuckets - 1)];
        t->buckets[hash & (t->nbuckets - 1)] = e;
        t->count++;
        *created = 1;
    }
    e->refs++;
    *out = e;
    return 0;
}

void sse_chanids_release(struct sse_chanids *t, struct sse_chanid *e)
{
    assert(e->refs > 0);
    if (--e->refs > 0)
        return;
    struct sse_chanid **p = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    t->count--;
    free(e);
}

uint64_t sse_chanid_id(const struct sse_chanid *e)
{
    return e->id;
}
