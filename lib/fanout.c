/* fanout.c - who wants which new event, and waking or writing to them.
 * SPDX-License-Identifier: MIT
 *
 * One mutex (mu) guards the ring, the log state and every subscriber's
 * shared fields; it is never held across a blocking call nor while another
 * lock is taken (the loop's waker only writes to an eventfd).
 *
 * Who holds a subscriber: its stream's thread until sse_fanout_park, the
 * event loop afterwards (sub->owner set). A thread-held subscriber's cursor
 * is the thread's own (passed to sse_fanout_next); a parked one's is
 * sub->cursor, changed only under mu: by the loop (take, advance) and by
 * deliver, which moves an idle one past a batch it wants nothing of. That
 * move is exact only when the cursor sat at the head the batch started
 * from: everything up to that head was then consumed, and the batch brings
 * nothing wanted. A subscriber that is behind (reading the log) never sits
 * at the head, so its cursor is left to the read.
 *
 * Hang-ups: each watched socket is in the fan-out's own epoll set with
 * EPOLLRDHUP | EPOLLONESHOT, tagged with the subscriber's slot and
 * generation (a slot reused by a newer subscriber is not woken by an old
 * socket's report). The detector thread polls that set's fd with the rest
 * of its sources and calls sse_fanout_check_hangups.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "chanids.h"
#include "clock.h"
#include "fanout.h"
#include "pattern.h"
#include "sse_error.h"

/* A pattern's place in sub->ids: chanids never gives it, and an event's
 * chan_id is a given id or 0. */
#define PATTERN_ID UINT64_MAX

/* An event over 1/RING_SHARE of ring-bytes is not kept in the ring. */
#define RING_SHARE 8

/* The largest batch deliver hands to caught-up parked subscribers (one bit
 * of a uint64_t mask per event); larger ones are taken from the ring. */
#define HANDOFF_MAX 64

struct sse_sub {
    pthread_cond_t cond;
    int fd;   /* watched for hang-up, or -1 */
    int slot; /* index in the fan-out's table */
    uint32_t gen;
    int hangup;     /* the web server closed the socket */
    uint64_t epoch; /* the fan-out's epoch when added */

    /* Held by the loop (see the file comment). */
    void *owner;    /* the loop's stream; NULL while a thread holds it */
    int64_t cursor; /* everything wanted up to here was taken */
    int ready;      /* on the ready list */
    struct sse_sub *ready_prev, *ready_next;
    /* The batch deliver handed it: while handoff_seq equals the fan-out's
     * batch_seq, the events it wants after its cursor are exactly
     * batch[i] for the bits i of handoff_mask (0: nothing handed). */
    uint64_t handoff_seq;
    uint64_t handoff_mask;

    /* The channels (names or patterns), immutable after sse_fanout_add.
     * An exact name is held in the fan-out's chanids (held[i]) and tested
     * by its id (ids[i]); a pattern's held[i] is NULL and its ids[i]
     * PATTERN_ID, which no event carries. */
    size_t nchannels;
    size_t npatterns;
    const char **names;
    uint64_t *ids;
    struct sse_chanid **held;
    unsigned char *kinds; /* enum sse_pattern_kind of each */
};

struct sse_fanout {
    const struct sse_config *cfg;
    struct sse_metrics *metrics;
    size_t event_max;
    int epfd; /* hang-up watch */

    pthread_mutex_t mu;
#ifndef NDEBUG
    pthread_t owner; /* the thread holding mu, for assert_held */
    int held;
#endif
    /* Guarded by mu. */
    struct sse_ring ring;
    /* The subscribed exact names. Invariant: a ring event's chan_id is the
     * id of its channel's entry while there is one (publish stamps new
     * events, a new entry stamps the ring), and otherwise matches none. */
    struct sse_chanids chans;
    int64_t oldest;       /* lowest stored id at the detector's last look */
    uint64_t epoch;       /* bumped by every reset and fault: streams end */
    uint64_t reset_epoch; /* epoch as of the last reset (replacement) */
    int fault;            /* 0, or why the log cannot be read */
    int stopping;
    struct sse_sub **slots;
    size_t nslots, slots_cap;
    uint32_t next_gen;
    struct sse_sub *ready_head, *ready_tail; /* parked, with news */
    /* The last batch published, as deliver handed it (see sub->handoff_seq):
     * batch_prev_head < ids <= ring.head. Its events are borrowed from the
     * ring: valid while batch_prev_head >= ring.covered_after. batch_seq
     * changes with every publish and every restart of the ring. */
    struct sse_event *batch[HANDOFF_MAX];
    size_t nbatch;
    int64_t batch_prev_head;
    uint64_t batch_seq;
    sse_fanout_wake_fn wake; /* the loop's waker */
    void *wake_ctx;
};

int sse_fanout_new(const struct sse_config *cfg, struct sse_metrics *metrics,
                   struct sse_fanout **out)
{
    struct sse_fanout *f = calloc(1, sizeof *f);
    if (!f)
        return SSE_ENOMEM;
    f->cfg = cfg;
    f->metrics = metrics;
    size_t bytes_max =
        cfg->ring_bytes > 0 && (uint64_t)cfg->ring_bytes <= (uint64_t)SIZE_MAX
            ? (size_t)cfg->ring_bytes
            : SIZE_MAX;
    f->event_max = bytes_max / RING_SHARE;
    if (sse_ring_init(&f->ring, (size_t)cfg->ring_events, bytes_max)) {
        free(f);
        return SSE_ENOMEM;
    }
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (f->epfd < 0) {
        sse_ring_cleanup(&f->ring);
        free(f);
        return SSE_EIO;
    }
    pthread_mutex_init(&f->mu, NULL);
    sse_chanids_init(&f->chans);
    f->batch_seq = 1; /* a subscriber's 0 is "nothing handed" */
    *out = f;
    return 0;
}

void sse_fanout_free(struct sse_fanout *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nslots; i++)
        assert(!f->slots[i]);
    sse_ring_cleanup(&f->ring);
    sse_chanids_cleanup(&f->chans);
    free(f->slots);
    close(f->epfd);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* mu with owner tracking, so functions "called with mu held" can assert
 * it (SQLite's sqlite3_mutex_held, in small). */
static void lock(struct sse_fanout *f)
{
    pthread_mutex_lock(&f->mu);
#ifndef NDEBUG
    f->owner = pthread_self();
    f->held = 1;
#endif
}

static void unlock(struct sse_fanout *f)
{
#ifndef NDEBUG
    f->held = 0;
#endif
    pthread_mutex_unlock(&f->mu);
}

static void assert_held(const struct sse_fanout *f)
{
#ifndef NDEBUG
    assert(f->held && pthread_equal(f->owner, pthread_self()));
#else
    (void)f;
#endif
}

/* assert_held without the owner check, for the helpers called once per
 * subscriber from a function that asserted assert_held (pthread_self there
 * costs more than the rest of the helper). */
static void assert_locked(const struct sse_fanout *f)
{
#ifndef NDEBUG
    assert(f->held);
#else
    (void)f;
#endif
}

/* Sleeps on sub's condition variable until ts; mu is held before and
 * after. */
static void wait_until(struct sse_fanout *f, struct sse_sub *sub,
                       const struct timespec *ts)
{
    assert_held(f);
#ifndef NDEBUG
    f->held = 0;
#endif
    pthread_cond_timedwait(&sub->cond, &f->mu, ts);
#ifndef NDEBUG
    f->owner = pthread_self();
    f->held = 1;
#endif
}

size_t sse_fanout_event_max(const struct sse_fanout *f)
{
    return f->event_max;
}

/* 1 if one of sub's patterns matches ev's channel. Kept out of sub_wants
 * (noinline), whose exact-name loop then needs no registers saved. */
__attribute__((noinline)) static int pattern_wants(const struct sse_sub *sub,
                                                   const struct sse_event *ev)
{
    size_t len = strlen(ev->channel);
    for (size_t i = 0; i < sub->nchannels; i++)
        if (sub->kinds[i] != SSE_PATTERN_EXACT &&
            sse_pattern_match(sub->names[i], strlen(sub->names[i]), ev->channel,
                              len))
            return 1;
    return 0;
}

/* The one test of whether a subscriber wants an event (in the ring or
 * being published: its chan_id is stamped). Exact names, the common case,
 * are compared by id, patterns apart. Called with mu held. */
static int sub_wants(const struct sse_sub *sub, const struct sse_event *ev)
{
    for (size_t i = 0; i < sub->nchannels; i++)
        if (sub->ids[i] == ev->chan_id)
            return 1;
    return sub->npatterns > 0 && pattern_wants(sub, ev);
}

static void publish_ring_size(struct sse_fanout *f)
{
    assert_held(f);
    if (!f->metrics)
        return;
    atomic_store_explicit(&f->metrics->ring_events, (long long)f->ring.count,
                          memory_order_relaxed);
    atomic_store_explicit(&f->metrics->ring_bytes, (long long)f->ring.bytes,
                          memory_order_relaxed);
}

/* Puts a parked sub on the ready list; wakes the loop when the list was
 * empty. Called with mu held. */
static void mark_ready(struct sse_fanout *f, struct sse_sub *sub)
{
    assert_locked(f);
    assert(sub->owner);
    if (sub->ready)
        return;
    sub->ready = 1;
    sub->ready_next = NULL;
    sub->ready_prev = f->ready_tail;
    if (f->ready_tail)
        f->ready_tail->ready_next = sub;
    else
        f->ready_head = sub;
    f->ready_tail = sub;
    if (!sub->ready_prev && f->wake)
        f->wake(f->wake_ctx);
}

/* Takes sub off the ready list wherever it is. Called with mu held. */
static void unmark_ready(struct sse_fanout *f, struct sse_sub *sub)
{
    assert_locked(f);
    if (!sub->ready)
        return;
    if (sub->ready_prev)
        sub->ready_prev->ready_next = sub->ready_next;
    else
        f->ready_head = sub->ready_next;
    if (sub->ready_next)
        sub->ready_next->ready_prev = sub->ready_prev;
    else
        f->ready_tail = sub->ready_prev;
    sub->ready = 0;
    sub->ready_prev = sub->ready_next = NULL;
}

/* Wakes every subscriber (shutdown, reset, fault): threads through their
 * condition variable, parked ones through the ready list. Called with mu
 * held. */
static void wake_all(struct sse_fanout *f)
{
    assert_held(f);
    for (size_t i = 0; i < f->nslots; i++) {
        struct sse_sub *sub = f->slots[i];
        if (!sub)
            continue;
        if (sub->owner)
            mark_ready(f, sub);
        else
            pthread_cond_signal(&sub->cond);
    }
}

/* 1 if sub wants any of evs[0..n). */
static int wants_any(const struct sse_sub *sub, struct sse_event **evs,
                     size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sub_wants(sub, evs[i]))
            return 1;
    return 0;
}

/* Which of evs[0..n) (n <= HANDOFF_MAX) sub wants, as a bit mask. */
static uint64_t wanted_mask(const struct sse_sub *sub, struct sse_event **evs,
                            size_t n)
{
    assert(n <= HANDOFF_MAX);
    if (n == 1) /* the common case: a commit of one row */
        return (uint64_t)sub_wants(sub, evs[0]);
    uint64_t mask = 0;
    for (size_t i = 0; i < n; i++)
        mask |= (uint64_t)sub_wants(sub, evs[i]) << i;
    return mask;
}

/* Wakes the subscribers that want any of evs, the batch just published
 * after prev_head; moves idle parked ones that want none of them from
 * prev_head to the new head. A parked one that sat at prev_head is handed
 * what it wants of the batch (handoff_mask), so its take need not search
 * the ring nor test its channels again. Called with mu held. */
static void deliver(struct sse_fanout *f, struct sse_event **evs, size_t n,
                    int64_t prev_head)
{
    assert_held(f);
    for (size_t s = 0; s < f->nslots; s++) {
        struct sse_sub *sub = f->slots[s];
        if (!sub)
            continue;
        if (!sub->owner) {
            if (wants_any(sub, evs, n))
                pthread_cond_signal(&sub->cond);
            continue;
        }
        uint64_t mask = n <= HANDOFF_MAX ? wanted_mask(sub, evs, n)
                                         : (uint64_t)wants_any(sub, evs, n);
        if (mask) {
            mark_ready(f, sub);
            if (sub->cursor == prev_head && n <= HANDOFF_MAX) {
                sub->handoff_seq = f->batch_seq;
                sub->handoff_mask = mask;
            }
        } else if (sub->cursor == prev_head) {
            sub->cursor = f->ring.head;
        }
    }
}

/* Empties the ring (head: see sse_ring_restart); no hand-off survives it.
 * Called with mu held. */
static void restart_ring(struct sse_fanout *f, int64_t head)
{
    assert_held(f);
    sse_ring_restart(&f->ring, head);
    f->batch_seq++;
    f->nbatch = 0;
}

int sse_fanout_open(struct sse_fanout *f, int64_t oldest, int64_t head)
{
    lock(f);
    int was_fault = f->fault;
    f->fault = 0;
    restart_ring(f, head);
    f->oldest = oldest;
    if (f->metrics) { /* under the lock: see sse_fanout_publish */
        atomic_store_explicit(&f->metrics->oldest_id, oldest,
                              memory_order_relaxed);
        atomic_store_explicit(&f->metrics->head_id, head, memory_order_relaxed);
    }
    wake_all(f);
    unlock(f);
    return was_fault != 0;
}

void sse_fanout_publish(struct sse_fanout *f, struct sse_event **evs, size_t n,
                        int64_t last_seen)
{
    lock(f);
    assert(f->ring.head >= 0);
    int64_t prev_head = f->ring.head;
    for (size_t i = 0; i < n; i++) {
        evs[i]->chan_id =
            sse_chanids_find(&f->chans, evs[i]->channel, evs[i]->channel_hash);
        sse_ring_store(&f->ring, evs[i]);
    }
    /* Skipped rows are in no ring; head passes them anyway, or a trailing
     * one would be read again on every commit. */
    if (last_seen > f->ring.head)
        sse_ring_pass(&f->ring, last_seen);
    int64_t head = f->ring.head;
    publish_ring_size(f);
    f->batch_seq++;
    f->batch_prev_head = prev_head;
    f->nbatch = n <= HANDOFF_MAX ? n : 0;
    if (f->nbatch)
        memcpy(f->batch, evs, n * sizeof *evs);
    deliver(f, evs, n, prev_head);
    /* Under the lock, as the window: whoever has seen the new head
     * (sse_fanout_head) sees the gauge at it too. */
    if (f->metrics)
        atomic_store_explicit(&f->metrics->head_id, head, memory_order_relaxed);
    unlock(f);
}

int sse_fanout_bounds(struct sse_fanout *f, int64_t oldest, int64_t head)
{
    lock(f);
    int backwards = head < f->ring.head;
    if (!backwards) {
        f->oldest = oldest;
        /* Under the lock, with the window: whoever sees the new value on
         * the status page knows resumes are judged by it. */
        if (f->metrics)
            atomic_store_explicit(&f->metrics->oldest_id, oldest,
                                  memory_order_relaxed);
    }
    unlock(f);
    return backwards;
}

int sse_fanout_fault(struct sse_fanout *f, int fault)
{
    assert(fault < 0);
    lock(f);
    int changed = f->fault != fault;
    f->fault = fault;
    restart_ring(f, -1);
    f->epoch++;
    publish_ring_size(f);
    wake_all(f);
    unlock(f);
    return changed;
}

void sse_fanout_reset(struct sse_fanout *f)
{
    lock(f);
    restart_ring(f, -1);
    f->epoch++;
    f->reset_epoch = f->epoch;
    publish_ring_size(f);
    wake_all(f);
    unlock(f);
}

void sse_fanout_stop(struct sse_fanout *f)
{
    lock(f);
    f->stopping = 1;
    wake_all(f);
    unlock(f);
}

int sse_fanout_hangup_fd(const struct sse_fanout *f)
{
    return f->epfd;
}

static uint64_t hangup_tag(const struct sse_sub *sub)
{
    return (uint64_t)(unsigned)sub->slot | ((uint64_t)sub->gen << 32);
}

void sse_fanout_check_hangups(struct sse_fanout *f)
{
    struct epoll_event evs[64];
    for (int round = 0; round < 16; round++) {
        int n = epoll_wait(f->epfd, evs, 64, 0);
        if (n <= 0)
            return;
        lock(f);
        for (int i = 0; i < n; i++) {
            size_t slot = (size_t)(evs[i].data.u64 & 0xffffffffu);
            uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
            struct sse_sub *sub = slot < f->nslots ? f->slots[slot] : NULL;
            if (sub && sub->gen == gen) {
                sub->hangup = 1;
                pthread_cond_signal(&sub->cond);
            }
        }
        unlock(f);
        if (n < 64)
            return;
    }
}

int64_t sse_fanout_head(struct sse_fanout *f)
{
    lock(f);
    int64_t h = f->ring.head;
    unlock(f);
    return h;
}

void sse_fanout_window(struct sse_fanout *f, int64_t *covered_after,
                       int64_t *oldest, int64_t *head)
{
    lock(f);
    *covered_after = f->ring.covered_after;
    *oldest = f->oldest;
    *head = f->ring.head;
    unlock(f);
}

int sse_fanout_health(struct sse_fanout *f)
{
    lock(f);
    int rc = f->ring.head < 0 ? f->fault : 0;
    unlock(f);
    return rc;
}

int sse_fanout_fault_code(struct sse_fanout *f)
{
    lock(f);
    int rc = f->fault;
    unlock(f);
    return rc;
}

int sse_fanout_stopping(struct sse_fanout *f)
{
    lock(f);
    int s = f->stopping;
    unlock(f);
    return s;
}

/* A subscriber with its channel names, ids and entries in one allocation
 * (no entry held yet). */
static struct sse_sub *sub_new(const struct sse_request *req)
{
    size_t n = req->nchannels, text = 0;
    for (size_t i = 0; i < n; i++)
        text += strlen(req->channels[i]) + 1;
    struct sse_sub *sub =
        calloc(1, sizeof *sub +
                      n * (sizeof *sub->ids + sizeof *sub->names +
                           sizeof *sub->held + sizeof *sub->kinds) +
                      text);
    if (!sub)
        return NULL;
    sub->ids = (uint64_t *)(void *)(sub + 1);
    sub->names = (const char **)(void *)(sub->ids + n);
    sub->held = (struct sse_chanid **)(void *)(sub->names + n);
    sub->kinds = (unsigned char *)(sub->held + n);
    char *p = (char *)(sub->kinds + n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(req->channels[i]);
        memcpy(p, req->channels[i], len + 1);
        sub->names[i] = p;
        sub->kinds[i] = req->kinds[i];
        sub->ids[i] = PATTERN_ID; /* exact names get theirs in hold_ids */
        if (sub->kinds[i] != SSE_PATTERN_EXACT)
            sub->npatterns++;
        p += len + 1;
    }
    sub->nchannels = n;
    return sub;
}

/* Gives the ring's events on name (hash) the id of its new entry. Called
 * with mu held. */
static void stamp_ring(struct sse_fanout *f, const char *name, uint32_t hash,
                       uint64_t id)
{
    assert_held(f);
    for (size_t i = 0; i < f->ring.count; i++) {
        struct sse_event *ev = sse_ring_at(&f->ring, i);
        if (ev->channel_hash == hash && strcmp(ev->channel, name) == 0)
            ev->chan_id = id;
    }
}

/* Drops the entries sub holds. Called with mu held. */
static void release_ids(struct sse_fanout *f, struct sse_sub *sub)
{
    assert_held(f);
    for (size_t i = 0; i < sub->nchannels; i++)
        if (sub->held[i]) {
            sse_chanids_release(&f->chans, sub->held[i]);
            sub->held[i] = NULL;
        }
}

/* Interns sub's exact names. Returns 0 or SSE_ENOMEM (none held then).
 * Called with mu held. */
static int hold_ids(struct sse_fanout *f, struct sse_sub *sub)
{
    assert_held(f);
    for (size_t i = 0; i < sub->nchannels; i++) {
        if (sub->kinds[i] != SSE_PATTERN_EXACT)
            continue;
        const char *name = sub->names[i];
        uint32_t hash = sse_channel_hash(name, strlen(name));
        int created;
        if (sse_chanids_hold(&f->chans, name, hash, &sub->held[i], &created)) {
            release_ids(f, sub);
            return SSE_ENOMEM;
        }
        sub->ids[i] = sse_chanid_id(sub->held[i]);
        assert(sub->ids[i] != 0 && sub->ids[i] != PATTERN_ID);
        if (created)
            stamp_ring(f, name, hash, sub->ids[i]);
    }
    return 0;
}

int sse_fanout_add(struct sse_fanout *f, const struct sse_request *req, int fd,
                   struct sse_sub **out)
{
    struct sse_sub *sub = sub_new(req);
    if (!sub)
        return SSE_ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sub->cond, &ca);
    pthread_condattr_destroy(&ca);
    sub->fd = fd;

    lock(f);
    if (hold_ids(f, sub)) {
        unlock(f);
        pthread_cond_destroy(&sub->cond);
        free(sub);
        return SSE_ENOMEM;
    }
    size_t slot = f->nslots;
    for (size_t i = 0; i < f->nslots; i++)
        if (!f->slots[i]) {
            slot = i;
            break;
        }
    if (slot == f->nslots) {
        if (f->nslots == f->slots_cap) {
            size_t cap = f->slots_cap ? f->slots_cap * 2 : 64;
            struct sse_sub **s = realloc(f->slots, cap * sizeof *s);
            if (!s) {
                release_ids(f, sub);
                unlock(f);
                pthread_cond_destroy(&sub->cond);
                free(sub);
                return SSE_ENOMEM;
            }
            f->slots = s;
            f->slots_cap = cap;
        }
        f->nslots++;
    }
    f->slots[slot] = sub;
    sub->slot = (int)slot;
    sub->gen = ++f->next_gen;
    sub->epoch = f->epoch;
    if (fd >= 0) {
        struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT,
                                 .data.u64 = hangup_tag(sub)};
        epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
    unlock(f);
    *out = sub;
    return 0;
}

void sse_fanout_remove(struct sse_fanout *f, struct sse_sub *sub)
{
    if (!sub)
        return;
    lock(f);
    assert_held(f);
    assert(f->slots[sub->slot] == sub);
    unmark_ready(f, sub);
    if (sub->fd >= 0)
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, sub->fd, NULL);
    f->slots[sub->slot] = NULL;
    release_ids(f, sub);
    while (f->nslots && !f->slots[f->nslots - 1])
        f->nslots--;
    unlock(f);
    pthread_cond_destroy(&sub->cond);
    free(sub);
}

void sse_fanout_unwatch(struct sse_fanout *f, struct sse_sub *sub)
{
    lock(f);
    if (sub->fd >= 0)
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, sub->fd, NULL);
    sub->fd = -1;
    sub->hangup = 0;
    unlock(f);
}

/* The status a subscriber must see before any event, or -1 for none.
 * Called with mu held. */
static int sub_status(const struct sse_fanout *f, const struct sse_sub *sub)
{
    assert_locked(f);
    if (f->stopping)
        return SSE_FANOUT_CLOSED;
    if (sub->hangup)
        return SSE_FANOUT_HANGUP;
    /* A replacement since the stream began is a reset; any other epoch
     * change was a fault, perhaps over by now, but the stream ends the same
     * way (retry later), never as a replacement. */
    if (sub->epoch < f->reset_epoch)
        return SSE_FANOUT_RESET;
    if (f->fault || sub->epoch != f->epoch)
        return SSE_FANOUT_FAULT;
    return -1;
}

/* Takes what sub wants from the ring after *cursor, up to max. Returns
 * SSE_FANOUT_BEHIND when the ring no longer holds what follows *cursor.
 * Called with mu held. */
static int take(struct sse_fanout *f, const struct sse_sub *sub,
                int64_t *cursor, struct sse_event **out, size_t max, size_t *n)
{
    assert_locked(f);
    const struct sse_ring *r = &f->ring;
    /* head < 0 without a fault: the log is being reopened; wait. */
    if (r->head < 0)
        return SSE_FANOUT_EVENTS;
    if (*cursor < r->covered_after)
        return SSE_FANOUT_BEHIND;
    size_t i = sse_ring_find(r, *cursor);
    for (; i < r->count && *n < max; i++) {
        struct sse_event *ev = sse_ring_at(r, i);
        if (sub_wants(sub, ev)) {
            sse_event_ref(ev);
            out[(*n)++] = ev;
        }
        *cursor = ev->id;
    }
    if (i == r->count && *cursor < r->head)
        *cursor = r->head;
    return SSE_FANOUT_EVENTS;
}

int sse_fanout_next(struct sse_fanout *f, struct sse_sub *sub, int64_t *cursor,
                    struct sse_event **out, size_t max, size_t *n,
                    int64_t deadline_ns)
{
    int status;
    *n = 0;
    lock(f);
    assert_held(f);
    assert(!sub->owner);
    for (;;) {
        status = sub_status(f, sub);
        if (status >= 0)
            break;
        status = take(f, sub, cursor, out, max, n);
        if (status != SSE_FANOUT_EVENTS || *n || sse_now_ns() >= deadline_ns)
            break;
        struct timespec ts = {.tv_sec = (time_t)(deadline_ns / SSE_NS_PER_S),
                              .tv_nsec = (long)(deadline_ns % SSE_NS_PER_S)};
        wait_until(f, sub, &ts);
    }
    unlock(f);
    return status;
}

size_t sse_fanout_sub_channels(const struct sse_sub *sub, const char **names,
                               size_t max)
{
    for (size_t i = 0; i < sub->nchannels && i < max; i++)
        names[i] = sub->names[i];
    return sub->nchannels;
}

void sse_fanout_set_waker(struct sse_fanout *f, sse_fanout_wake_fn fn,
                          void *ctx)
{
    lock(f);
    f->wake = fn;
    f->wake_ctx = ctx;
    unlock(f);
}

void sse_fanout_park(struct sse_fanout *f, struct sse_sub *sub, int64_t cursor,
                     void *owner)
{
    assert(owner && sub->fd < 0);
    lock(f);
    assert_held(f);
    assert(!sub->owner && f->wake);
    sub->owner = owner;
    sub->cursor = cursor;
    sub->handoff_seq = 0;
    mark_ready(f, sub);
    unlock(f);
}

/* Takes the first subscriber off the ready list (not empty). Called with
 * mu held. */
static struct sse_sub *pop_ready(struct sse_fanout *f)
{
    struct sse_sub *sub = f->ready_head;
    assert_locked(f);
    assert(sub && sub->ready && !sub->ready_prev);
    f->ready_head = sub->ready_next;
    if (f->ready_head)
        f->ready_head->ready_prev = NULL;
    else
        f->ready_tail = NULL;
    sub->ready = 0;
    sub->ready_next = NULL;
    return sub;
}

size_t sse_fanout_ready(struct sse_fanout *f, void **owners, size_t max)
{
    size_t n = 0;
    lock(f);
    assert_held(f);
    while (n < max && f->ready_head)
        owners[n++] = pop_ready(f)->owner;
    unlock(f);
    return n;
}

/* 1 when sub may take what deliver handed it: the batch is still the
 * last one published, its cursor has not moved since, and the ring still
 * holds the whole batch (a batch over the ring's bounds evicts its own
 * first events; a stub restarts the ring after itself). */
static int handoff_valid(const struct sse_fanout *f, const struct sse_sub *sub,
                         size_t max)
{
    if (sub->handoff_seq != f->batch_seq)
        return 0;
    assert(sub->cursor == f->batch_prev_head);
    return sub->cursor >= f->ring.covered_after && f->nbatch <= max;
}

/* Takes what deliver handed sub (handoff_valid): the wanted events of the
 * last batch, which leave sub's cursor at the head. */
static void take_handoff(struct sse_fanout *f, struct sse_sub *sub,
                         struct sse_event **out, size_t *n)
{
    for (size_t i = 0; i < f->nbatch; i++)
        if (sub->handoff_mask >> i & 1) {
            sse_event_ref(f->batch[i]);
            out[(*n)++] = f->batch[i];
        }
    sub->cursor = f->ring.head;
}

/* sse_fanout_take's work. Called with mu held. */
static int take_parked(struct sse_fanout *f, struct sse_sub *sub,
                       struct sse_event **out, size_t max, size_t *n,
                       int64_t *cursor)
{
    assert(sub->owner);
    *n = 0;
    int status = sub_status(f, sub);
    if (status < 0) {
        status = SSE_FANOUT_EVENTS;
        if (handoff_valid(f, sub, max))
            take_handoff(f, sub, out, n);
        else
            status = take(f, sub, &sub->cursor, out, max, n);
        sub->handoff_seq = 0;
    }
    *cursor = sub->cursor;
    return status;
}

int sse_fanout_take(struct sse_fanout *f, struct sse_sub *sub,
                    struct sse_event **out, size_t max, size_t *n,
                    int64_t *cursor)
{
    lock(f);
    assert_held(f);
    int status = take_parked(f, sub, out, max, n, cursor);
    unlock(f);
    return status;
}

size_t sse_fanout_take_ready(struct sse_fanout *f,
                             sse_fanout_can_take_fn can_take, size_t k,
                             void **owners, struct sse_event **evs, size_t max,
                             int *status, int64_t *cursor, size_t *n)
{
    size_t got = 0;
    lock(f);
    assert_held(f);
    for (; got < k && f->ready_head; got++) {
        struct sse_sub *sub = pop_ready(f);
        struct sse_event **out = evs + got * max;
        owners[got] = sub->owner;
        n[got] = 0;
        if (!can_take(sub->owner)) {
            status[got] = -1;
            cursor[got] = sub->cursor;
        } else if (sub_status(f, sub) < 0 && handoff_valid(f, sub, max)) {
            /* take_parked's common case, without its call. */
            take_handoff(f, sub, out, &n[got]);
            sub->handoff_seq = 0;
            status[got] = SSE_FANOUT_EVENTS;
            cursor[got] = sub->cursor;
        } else {
            status[got] = take_parked(f, sub, out, max, &n[got], &cursor[got]);
        }
    }
    unlock(f);
    return got;
}

void sse_fanout_advance(struct sse_fanout *f, struct sse_sub *sub,
                        int64_t cursor)
{
    lock(f);
    assert(sub->owner && cursor >= sub->cursor);
    sub->cursor = cursor;
    sub->handoff_seq = 0;
    unlock(f);
}
