/* fanout.c - who wants which new event, and waking or writing to them.
 * SPDX-License-Identifier: MIT
 *
 * One mutex (mu) guards the ring, the log state and every subscriber's
 * shared fields; it is never held across a blocking call (direct writes are
 * non-blocking sends) nor while another lock is taken.
 *
 * Who owns a subscriber's delivery state: while sub->parked is set the
 * stream thread sleeps in sse_fanout_next and the fan-out may write for it
 * and move sub->cursor; otherwise the thread does. parked changes only
 * under mu: the thread sets it before it sleeps and clears it when it
 * wakes; the fan-out clears it when it hands a batch back, so that no later
 * batch is written past one the thread has not sent yet.
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

#include "clock.h"
#include "fanout.h"
#include "sse_error.h"

/* An event over 1/RING_SHARE of ring-bytes is not kept in the ring. */
#define RING_SHARE 8
#define DIRECT_MAX_IOV 64

struct sse_sub {
    pthread_cond_t cond;
    int fd;   /* watched for hang-up, or -1 */
    int slot; /* index in the fan-out's table */
    uint32_t gen;
    int hangup;     /* the web server closed the socket */
    uint64_t epoch; /* the fan-out's epoch when added */

    /* Direct writes: see the file comment for who owns these. */
    struct sse_sink *direct; /* NULL: no direct writes */
    int parked;
    int kept;              /* the sink keeps the rest of a direct write */
    int64_t cursor;        /* parked: the thread's cursor */
    int64_t direct_events; /* what the fan-out wrote for this stream */
    int64_t direct_bytes;
    int64_t last_write_ns;

    /* The channels, immutable after sse_fanout_add. */
    size_t nchannels;
    const char **names;
    uint32_t *hashes;
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
    int64_t oldest;       /* lowest stored id at the detector's last look */
    uint64_t epoch;       /* bumped by every reset and fault: streams end */
    uint64_t reset_epoch; /* epoch as of the last reset (replacement) */
    int fault;            /* 0, or why the log cannot be read */
    int stopping;
    struct sse_sub **slots;
    size_t nslots, slots_cap;
    uint32_t next_gen;
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

/* The one test of whether a subscriber wants an event. */
static int sub_wants(const struct sse_sub *sub, const struct sse_event *ev)
{
    for (size_t i = 0; i < sub->nchannels; i++)
        if (sub->hashes[i] == ev->channel_hash &&
            strcmp(sub->names[i], ev->channel) == 0)
            return 1;
    return 0;
}

/* Wakes every subscriber (shutdown, reset, fault). Called with mu held. */
static void wake_all(struct sse_fanout *f)
{
    assert_held(f);
    for (size_t i = 0; i < f->nslots; i++)
        if (f->slots[i])
            pthread_cond_signal(&f->slots[i]->cond);
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

/* Writes the events sub wants from evs (all newer than its cursor) through
 * its sink without blocking. Returns 1 when the stream needs nothing more
 * (written, or nothing wanted), 0 when its thread must take over (would
 * block, too large, failed or partly written; see sub->hangup and
 * sub->kept). Called with mu held and sub parked. */
static int direct_write(struct sse_fanout *f, struct sse_sub *sub,
                        struct sse_event **evs, size_t n, int64_t now)
{
    assert_held(f);
    assert(sub->parked && sub->direct && !sub->kept);
    struct iovec iov[DIRECT_MAX_IOV];
    int niov = 0;
    size_t total = 0, nev = 0;
    for (size_t i = 0; i < n; i++) {
        if (evs[i]->id <= sub->cursor || !sub_wants(sub, evs[i]))
            continue;
        /* An event too large for the ring (no bytes) is read from the log
         * by the thread; so is anything too large for one write. */
        if (!evs[i]->bytes || niov == DIRECT_MAX_IOV ||
            total + evs[i]->len > sub->direct->try_send_max)
            return 0;
        iov[niov].iov_base = evs[i]->bytes;
        iov[niov].iov_len = evs[i]->len;
        niov++;
        total += evs[i]->len;
        nev++;
    }
    int64_t head = evs[n - 1]->id;
    if (nev == 0) {
        sub->cursor = head;
        return 1;
    }
    int rc = sub->direct->try_send(sub->direct->ctx, iov, niov, total);
    if (rc == SSE_SINK_FULL)
        return 0;
    if (rc < 0) {
        if (rc != SSE_ETOOBIG)
            sub->hangup = 1; /* the web server is gone: let the thread end */
        return 0;
    }
    sub->kept = rc == SSE_SINK_KEPT;
    sub->cursor = head;
    sub->direct_events += (int64_t)nev;
    sub->direct_bytes += (int64_t)total;
    sub->last_write_ns = now;
    if (f->metrics)
        sse_metrics_add(&f->metrics->events_delivered, (long long)nev);
    return !sub->kept;
}

/* Wakes or writes to the subscribers that want any of evs. Called with mu
 * held. */
static void deliver(struct sse_fanout *f, struct sse_event **evs, size_t n)
{
    assert_held(f);
    int64_t now = 0;
    for (size_t s = 0; s < f->nslots; s++) {
        struct sse_sub *sub = f->slots[s];
        if (!sub)
            continue;
        if (sub->parked && sub->direct && !sub->hangup && !sub->kept &&
            sub->epoch == f->epoch && !f->stopping) {
            if (!now)
                now = sse_now_ns();
            if (!direct_write(f, sub, evs, n, now)) {
                /* From here the thread owns the stream again, even before
                 * it wakes: a later batch written directly would move the
                 * cursor past events this one left for the thread. */
                sub->parked = 0;
                pthread_cond_signal(&sub->cond);
            }
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (sub_wants(sub, evs[i])) {
                pthread_cond_signal(&sub->cond);
                break;
            }
    }
}

int sse_fanout_open(struct sse_fanout *f, int64_t oldest, int64_t head)
{
    lock(f);
    int was_fault = f->fault;
    f->fault = 0;
    sse_ring_restart(&f->ring, head);
    f->oldest = oldest;
    wake_all(f);
    unlock(f);
    if (f->metrics)
        atomic_store_explicit(&f->metrics->head_id, head, memory_order_relaxed);
    return was_fault != 0;
}

void sse_fanout_publish(struct sse_fanout *f, struct sse_event **evs, size_t n,
                        int64_t last_seen)
{
    lock(f);
    assert(f->ring.head >= 0);
    for (size_t i = 0; i < n; i++)
        sse_ring_store(&f->ring, evs[i]);
    /* Skipped rows are in no ring; head passes them anyway, or a trailing
     * one would be read again on every commit. */
    if (last_seen > f->ring.head)
        sse_ring_pass(&f->ring, last_seen);
    int64_t head = f->ring.head;
    publish_ring_size(f);
    if (n)
        deliver(f, evs, n);
    unlock(f);
    if (f->metrics)
        atomic_store_explicit(&f->metrics->head_id, head, memory_order_relaxed);
}

int sse_fanout_bounds(struct sse_fanout *f, int64_t oldest, int64_t head)
{
    lock(f);
    int backwards = head < f->ring.head;
    if (!backwards)
        f->oldest = oldest;
    unlock(f);
    return backwards;
}

int sse_fanout_fault(struct sse_fanout *f, int fault)
{
    assert(fault < 0);
    lock(f);
    int changed = f->fault != fault;
    f->fault = fault;
    sse_ring_restart(&f->ring, -1);
    f->epoch++;
    publish_ring_size(f);
    wake_all(f);
    unlock(f);
    return changed;
}

void sse_fanout_reset(struct sse_fanout *f)
{
    lock(f);
    sse_ring_restart(&f->ring, -1);
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

/* A subscriber with its channel names and hashes in one allocation. */
static struct sse_sub *sub_new(const struct sse_request *req)
{
    size_t n = req->nchannels, text = 0;
    for (size_t i = 0; i < n; i++)
        text += strlen(req->channels[i]) + 1;
    struct sse_sub *sub = calloc(
        1, sizeof *sub + n * (sizeof *sub->names + sizeof *sub->hashes) + text);
    if (!sub)
        return NULL;
    sub->names = (const char **)(void *)(sub + 1);
    sub->hashes = (uint32_t *)(void *)(sub->names + n);
    char *p = (char *)(sub->hashes + n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(req->channels[i]);
        memcpy(p, req->channels[i], len + 1);
        sub->names[i] = p;
        sub->hashes[i] = sse_channel_hash(p, len);
        p += len + 1;
    }
    sub->nchannels = n;
    return sub;
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
    assert(f->slots[sub->slot] == sub && !sub->parked);
    if (sub->fd >= 0)
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, sub->fd, NULL);
    f->slots[sub->slot] = NULL;
    while (f->nslots && !f->slots[f->nslots - 1])
        f->nslots--;
    unlock(f);
    pthread_cond_destroy(&sub->cond);
    free(sub);
}

void sse_fanout_allow_direct(struct sse_fanout *f, struct sse_sub *sub,
                             struct sse_sink *sink)
{
    lock(f);
    sub->direct = sub->fd >= 0 && sink->try_send ? sink : NULL;
    unlock(f);
}

void sse_fanout_unwatch(struct sse_fanout *f, struct sse_sub *sub)
{
    lock(f);
    if (sub->fd >= 0)
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, sub->fd, NULL);
    sub->fd = -1;
    sub->hangup = 0;
    /* Direct writes need a watched socket (a dead one must wake the
     * thread); the thread writes from now on. */
    sub->direct = NULL;
    unlock(f);
}

/* The status a subscriber must see before any event, or -1 for none.
 * Called with mu held. */
static int sub_status(const struct sse_fanout *f, const struct sse_sub *sub)
{
    assert_held(f);
    if (f->stopping)
        return SSE_FANOUT_CLOSED;
    if (sub->kept)
        return SSE_FANOUT_KEPT;
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
    assert_held(f);
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
    /* A test may have parked sub without a thread; it owns it again. */
    if (sub->parked) {
        sub->parked = 0;
        if (sub->cursor > *cursor)
            *cursor = sub->cursor;
    }
    for (;;) {
        status = sub_status(f, sub);
        if (status >= 0)
            break;
        status = take(f, sub, cursor, out, max, n);
        if (status != SSE_FANOUT_EVENTS || *n || sse_now_ns() >= deadline_ns)
            break;
        struct timespec ts = {.tv_sec = (time_t)(deadline_ns / SSE_NS_PER_S),
                              .tv_nsec = (long)(deadline_ns % SSE_NS_PER_S)};
        /* Parked: the fan-out may now write for us and move our cursor. */
        sub->cursor = *cursor;
        sub->parked = 1;
        wait_until(f, sub, &ts);
        sub->parked = 0;
        if (sub->cursor > *cursor)
            *cursor = sub->cursor;
    }
    if (status == SSE_FANOUT_KEPT)
        sub->kept = 0; /* the caller sends the rest now */
    unlock(f);
    return status;
}

void sse_fanout_direct_stats(struct sse_fanout *f, struct sse_sub *sub,
                             struct sse_fanout_direct *out)
{
    lock(f);
    out->events = sub->direct_events;
    out->bytes = sub->direct_bytes;
    out->last_write_ns = sub->last_write_ns;
    unlock(f);
}

void sse_fanout_test_park(struct sse_fanout *f, struct sse_sub *sub,
                          int64_t cursor)
{
    lock(f);
    sub->cursor = cursor;
    sub->parked = 1;
    unlock(f);
}

int sse_fanout_parked(struct sse_fanout *f, struct sse_sub *sub)
{
    lock(f);
    int p = sub->parked;
    unlock(f);
    return p;
}
