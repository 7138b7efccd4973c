/* ring.c - the bounded ring of recent events, encoded once, shared.
 * SPDX-License-Identifier: MIT
 *
 * A circular array of event pointers. Appends evict from the front, so
 * every operation but restart is O(1) apart from the eviction loop, and
 * finding a cursor is a binary search (ids are in order). The whole-ring
 * walk of sse_ring_check runs only where the ring is emptied (rare: a
 * fault, a reset, an oversize event, the end); appends assert their part.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "ring.h"
#include "sse_error.h"

int sse_event_new(int64_t id, const char *channel, size_t channel_len,
                  const char *bytes, size_t len, struct sse_event **out)
{
    size_t keep = bytes ? len : 0;
    struct sse_event *ev = malloc(sizeof *ev + channel_len + 1 + keep);
    if (!ev)
        return SSE_ENOMEM;
    atomic_init(&ev->refs, 1);
    ev->id = id;
    ev->channel_hash = sse_channel_hash(channel, channel_len);
    ev->chan_id = 0;
    memcpy(ev->channel, channel, channel_len);
    ev->channel[channel_len] = '\0';
    ev->bytes = bytes ? ev->channel + channel_len + 1 : NULL;
    if (keep)
        memcpy(ev->bytes, bytes, keep);
    ev->len = keep;
    *out = ev;
    return 0;
}

void sse_event_ref(struct sse_event *ev)
{
    int before = atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
    assert(before > 0);
    (void)before;
}

void sse_event_release(struct sse_event *ev)
{
    if (ev &&
        atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) == 1)
        free(ev);
}

size_t sse_event_cost(const struct sse_event *ev)
{
    return sizeof *ev + strlen(ev->channel) + 1 + ev->len;
}

int sse_ring_init(struct sse_ring *r, size_t cap, size_t bytes_max)
{
    assert(cap > 0);
    struct sse_event **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return SSE_ENOMEM;
    memset(r, 0, sizeof *r);
    r->slots = slots;
    r->cap = cap;
    r->bytes_max = bytes_max;
    r->covered_after = -1;
    r->head = -1;
    return 0;
}

struct sse_event *sse_ring_at(const struct sse_ring *r, size_t i)
{
    assert(i < r->count);
    return r->slots[(r->start + i) % r->cap];
}

void sse_ring_check(const struct sse_ring *r)
{
#ifndef NDEBUG
    assert(r->count <= r->cap);
    assert(r->bytes <= r->bytes_max);
    assert(r->covered_after <= r->head);
    size_t bytes = 0;
    int64_t prev = r->covered_after;
    for (size_t i = 0; i < r->count; i++) {
        const struct sse_event *ev = sse_ring_at(r, i);
        assert(ev->bytes && ev->id > prev);
        prev = ev->id;
        bytes += sse_event_cost(ev);
    }
    assert(bytes == r->bytes);
    assert(prev <= r->head);
#else
    (void)r;
#endif
}

static void release_all(struct sse_ring *r)
{
    sse_ring_check(r);
    for (size_t i = 0; i < r->count; i++)
        sse_event_release(sse_ring_at(r, i));
    r->start = 0;
    r->count = 0;
    r->bytes = 0;
}

void sse_ring_cleanup(struct sse_ring *r)
{
    if (!r || !r->slots)
        return;
    release_all(r);
    free(r->slots);
    r->slots = NULL;
}

void sse_ring_restart(struct sse_ring *r, int64_t head)
{
    release_all(r);
    r->covered_after = head;
    r->head = head;
}

/* Drops the oldest entry; streams behind it now read the log. */
static void evict_oldest(struct sse_ring *r)
{
    struct sse_event *old = r->slots[r->start];
    size_t cost = sse_event_cost(old);
    assert(r->count > 0 && r->bytes >= cost);
    r->covered_after = old->id;
    r->bytes -= cost;
    sse_event_release(old);
    r->slots[r->start] = NULL;
    r->start = (r->start + 1) % r->cap;
    r->count--;
}

/* 1 while an entry of cost bytes would pass either bound. */
static int lacks_room(const struct sse_ring *r, size_t cost)
{
    return r->count > 0 &&
           (r->count == r->cap || r->bytes + cost > r->bytes_max);
}

void sse_ring_store(struct sse_ring *r, struct sse_event *ev)
{
    assert(r->head >= 0 && ev->id > r->head);
    if (!ev->bytes) {
        sse_ring_restart(r, ev->id);
        return;
    }
    size_t cost = sse_event_cost(ev);
    assert(cost <= r->bytes_max);
    while (lacks_room(r, cost))
        evict_oldest(r);
    sse_event_ref(ev);
    r->slots[(r->start + r->count) % r->cap] = ev;
    r->count++;
    r->bytes += cost;
    r->head = ev->id;
    assert(r->count <= r->cap && r->bytes <= r->bytes_max);
}

void sse_ring_pass(struct sse_ring *r, int64_t id)
{
    assert(r->head >= 0 && id >= r->head);
    r->head = id;
}

size_t sse_ring_find(const struct sse_ring *r, int64_t cursor)
{
    /* Most cursors are at or next to the newest entries (a caught-up
     * stream takes what the last commit brought): look there first. */
    size_t hi = r->count;
    for (int k = 0; k < 4 && hi > 0; k++, hi--)
        if (sse_ring_at(r, hi - 1)->id <= cursor)
            return hi;
    size_t lo = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sse_ring_at(r, mid)->id <= cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
