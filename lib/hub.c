/* hub.c - one change detector and one event cache per worker process.
 * SPDX-License-Identifier: MIT
 *
 * The detector thread sleeps in epoll_wait on three kinds of sources: an
 * inotify watch on the database's directory (a publisher's write to the
 * -wal file wakes it within microseconds) or, for a PostgreSQL log, the
 * reader connection's socket, where the insert trigger's NOTIFY arrives at
 * commit (sse_eventlog_wake_fd; a hot standby sends none and is polled),
 * the FastCGI sockets of waiting streams (EPOLLRDHUP: the web server closed
 * one), and an eventfd used to stop it. On every wake-up and at least every
 * poll-ms it asks the log whether another connection committed
 * (sse_eventlog_changed: PRAGMA data_version on SQLite, no table read); only
 * then does it read the new rows, once for the whole process.
 *
 * A commit writes the WAL before it publishes the new wal-index header, so
 * the inotify wake-up can come a moment before data_version changes. After
 * such a wake-up with no change the thread re-checks at 1 ms intervals a few
 * times before falling back to the poll interval. data_version is consumed
 * before the rows are read, so a read that stops early (the database locked
 * past the busy timeout, no memory, the round limit) leaves must_read set
 * and the next turn reads again, commit or not.
 *
 * The ring is bounded twice: ring-events entries and ring-bytes bytes
 * (encoding can make an event up to seven times its data). An event whose
 * encoding exceeds an eighth of ring-bytes is never kept nor even encoded
 * here: the ring restarts after it (covered_after = its id), so each stream
 * that wants it reads it from the log like any backlog, exactly, and the
 * process never holds it for long. Each read batch is bounded the same way,
 * so a read holds at most about two such shares of encoded bytes.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dbname.h"
#include "encode.h"
#include "hub.h"
#include "logging.h"
#include "metrics.h"
#include "sse_error.h"

#define POOL_MAX 16
#define QUICK_RECHECKS 8
#define REOPEN_INTERVAL_NS 1000000000LL
#define REPLACED_CHECK_NS 1000000000LL
#define TAG_WAKE UINT64_MAX
#define TAG_INOTIFY (UINT64_MAX - 1)
#define TAG_LOG (UINT64_MAX - 2) /* sse_eventlog_wake_fd: PostgreSQL */
/* An event over 1/RING_SHARE of ring-bytes is not kept in the ring. */
#define RING_SHARE 8
/* on_row's "batch full" answer: stop this read, not an error. */
#define BATCH_FULL 1

struct sse_hub {
    const struct sse_config *cfg;
    struct sse_metrics *metrics;
    pthread_mutex_t mu;

    /* Set at creation. */
    size_t ring_bytes_max; /* ring-bytes */
    size_t event_max;      /* larger encoded events are not kept */

    /* Guarded by mu. Ring invariant (ring_check): ids increase from
     * covered_after (exclusive) to head (the newest entry), every entry
     * holds its bytes, ring_bytes is the sum of their event_cost and stays
     * within ring_bytes_max, ring_count within ring_cap. */
    struct sse_hub_event **ring; /* circular, cap entries */
    size_t ring_cap, ring_start, ring_count;
    size_t ring_bytes;
    int64_t covered_after;
    int64_t oldest;       /* lowest stored id at the last look */
    int64_t head;         /* -1 until the log is open */
    uint64_t epoch;       /* bumped by every reset and fault: streams end */
    uint64_t reset_epoch; /* epoch as of the last reset (replacement) */
    int fault;            /* 0, or why the log cannot be read */
    int stopping;
    struct sse_hub_waiter **slots;
    size_t nslots, slots_cap;
    uint32_t next_gen;
    struct sse_eventlog *pool[POOL_MAX];
    size_t npool;

    /* Owned by the detector thread. */
    struct sse_eventlog *log;
    int64_t next_open_ns, next_replaced_ns;
    int fault_logged;
    int must_read;        /* rows may be committed that the hub has not read */
    sse_hub_hook_fn hook; /* tests only */
    void *hook_ctx;

    int epfd, wakefd, inofd;
    char *dir, *base, *wal_base;
    pthread_t thread;
    int thread_started;
};

int64_t sse_hub_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

uint32_t sse_hub_channel_hash(const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 16777619u;
    }
    return h;
}

void sse_hub_event_release(struct sse_hub_event *ev)
{
    if (ev &&
        atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) == 1)
        free(ev);
}

static int split_path(struct sse_hub *hub, const char *path)
{
    const char *slash = strrchr(path, '/');
    hub->dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path))
                     : strdup(".");
    hub->base = strdup(slash ? slash + 1 : path);
    if (!hub->dir || !hub->base)
        return SSE_ENOMEM;
    size_t n = strlen(hub->base) + 5;
    hub->wal_base = malloc(n);
    if (!hub->wal_base)
        return SSE_ENOMEM;
    memcpy(hub->wal_base, hub->base, n - 5);
    memcpy(hub->wal_base + n - 5, "-wal", 5);
    return 0;
}

static void watch_directory(struct sse_hub *hub)
{
    hub->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (hub->inofd < 0 ||
        inotify_add_watch(hub->inofd, hub->dir,
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE |
                              IN_CLOSE_WRITE) < 0) {
        sse_log(
            SSE_LOG_WARN,
            "inotify on '%s' failed (%s); new events are noticed by polling "
            "every %d ms",
            hub->dir, strerror(errno), hub->cfg->poll_ms);
        if (hub->inofd >= 0)
            close(hub->inofd);
        hub->inofd = -1;
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_INOTIFY};
    epoll_ctl(hub->epfd, EPOLL_CTL_ADD, hub->inofd, &ev);
}

int sse_hub_new(const struct sse_config *cfg, struct sse_metrics *metrics,
                struct sse_hub **out)
{
    struct sse_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return SSE_ENOMEM;
    hub->cfg = cfg;
    hub->metrics = metrics;
    hub->head = -1;
    hub->epfd = hub->wakefd = hub->inofd = -1;
    pthread_mutex_init(&hub->mu, NULL);
    int rc = SSE_ENOMEM;
    hub->ring_cap = (size_t)cfg->ring_events;
    hub->ring_bytes_max =
        cfg->ring_bytes > 0 && (uint64_t)cfg->ring_bytes <= (uint64_t)SIZE_MAX
            ? (size_t)cfg->ring_bytes
            : SIZE_MAX;
    hub->event_max = hub->ring_bytes_max / RING_SHARE;
    hub->ring = calloc(hub->ring_cap, sizeof *hub->ring);
    if (!hub->ring || split_path(hub, cfg->db))
        goto out;
    rc = SSE_EIO;
    hub->epfd = epoll_create1(EPOLL_CLOEXEC);
    hub->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (hub->epfd < 0 || hub->wakefd < 0)
        goto out;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    if (epoll_ctl(hub->epfd, EPOLL_CTL_ADD, hub->wakefd, &ev) < 0)
        goto out;
    /* A PostgreSQL log has no file to watch: its reader's connection
     * wakes the thread instead (see set_log). */
    if (!sse_dbname_is_uri(cfg->db))
        watch_directory(hub);
    rc = 0;
out:
    if (rc) {
        sse_hub_free(hub);
        return rc;
    }
    *out = hub;
    return 0;
}

/* Bytes an event in the ring costs: its whole allocation. */
static size_t event_cost(const struct sse_hub_event *ev)
{
    return sizeof *ev + (size_t)(ev->bytes - ev->channel) + ev->len;
}

static struct sse_hub_event *ring_at(const struct sse_hub *hub, size_t i)
{
    return hub->ring[(hub->ring_start + i) % hub->ring_cap];
}

/* Checks the ring invariant by walking it. Called where the ring is
 * emptied (rare: a fault, a reset, an oversize event, the end), so every
 * build can afford it; appends check their part as they go. Called with mu
 * held. */
static void ring_check(const struct sse_hub *hub)
{
#ifndef NDEBUG
    assert(hub->ring_count <= hub->ring_cap);
    assert(hub->ring_bytes <= hub->ring_bytes_max);
    size_t bytes = 0;
    int64_t prev = hub->covered_after;
    for (size_t i = 0; i < hub->ring_count; i++) {
        const struct sse_hub_event *ev = ring_at(hub, i);
        assert(ev->bytes && ev->id > prev);
        prev = ev->id;
        bytes += event_cost(ev);
    }
    assert(bytes == hub->ring_bytes);
    assert(hub->ring_count == 0 || prev == hub->head);
#else
    (void)hub;
#endif
}

static void publish_ring_size(struct sse_hub *hub)
{
    if (!hub->metrics)
        return;
    atomic_store_explicit(&hub->metrics->ring_events,
                          (long long)hub->ring_count, memory_order_relaxed);
    atomic_store_explicit(&hub->metrics->ring_bytes, (long long)hub->ring_bytes,
                          memory_order_relaxed);
}

/* Empties the ring; covered_after and head are the caller's to set. Called
 * with mu held. */
static void ring_clear(struct sse_hub *hub)
{
    ring_check(hub);
    for (size_t i = 0; i < hub->ring_count; i++)
        sse_hub_event_release(ring_at(hub, i));
    hub->ring_start = 0;
    hub->ring_count = 0;
    hub->ring_bytes = 0;
    publish_ring_size(hub);
}

static void pool_clear(struct sse_hub *hub)
{
    for (size_t i = 0; i < hub->npool; i++)
        sse_eventlog_close(hub->pool[i]);
    hub->npool = 0;
}

void sse_hub_free(struct sse_hub *hub)
{
    if (!hub)
        return;
    if (hub->ring)
        ring_clear(hub);
    free(hub->ring);
    pool_clear(hub);
    sse_eventlog_close(hub->log);
    free(hub->slots);
    if (hub->epfd >= 0)
        close(hub->epfd);
    if (hub->wakefd >= 0)
        close(hub->wakefd);
    if (hub->inofd >= 0)
        close(hub->inofd);
    free(hub->dir);
    free(hub->base);
    free(hub->wal_base);
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}

static int waiter_wants(const struct sse_hub_waiter *w,
                        const struct sse_hub_event *ev)
{
    const struct sse_request *req = w->req;
    for (size_t i = 0; i < req->nchannels; i++) {
        /* Exact names, the common case, are compared by hash first. */
        if (req->kinds[i] != SSE_PATTERN_EXACT) {
            if (sse_request_pattern_matches(req, i, ev->channel))
                return 1;
        } else if (w->hashes[i] == ev->channel_hash &&
                   strcmp(req->channels[i], ev->channel) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Wakes every waiter (shutdown, reset, fault). Called with mu held. */
static void wake_all(struct sse_hub *hub)
{
    for (size_t i = 0; i < hub->nslots; i++)
        if (hub->slots[i])
            pthread_cond_signal(&hub->slots[i]->cond);
}

#define FCGI_STDOUT_TYPE 6
#define FCGI_MAX_CONTENT 65535
#define DIRECT_MAX_IOV 64

/* Writes the events w wants from evs (all newer than w's cursor) to w's
 * socket as one FastCGI stdout record, without blocking. Returns 1 when the
 * stream needs nothing more (written, or nothing wanted), 0 when its thread
 * must be woken (would block, too large, failed or partly written; see
 * w->hangup and w->pending). Called with mu held and w parked. */
static int direct_write(struct sse_hub *hub, struct sse_hub_waiter *w,
                        struct sse_hub_event **evs, size_t n, int64_t now)
{
    unsigned char hdr[8];
    struct iovec iov[DIRECT_MAX_IOV + 1];
    size_t niov = 1, total = 0, nev = 0;
    for (size_t i = 0; i < n; i++) {
        if (evs[i]->id <= w->cursor || !waiter_wants(w, evs[i]))
            continue;
        /* An event too large for the ring (no bytes) is read from the log
         * by the thread; so is anything too large for one record. */
        if (!evs[i]->bytes || niov > DIRECT_MAX_IOV ||
            total + evs[i]->len > FCGI_MAX_CONTENT)
            return 0;
        iov[niov].iov_base = evs[i]->bytes;
        iov[niov].iov_len = evs[i]->len;
        niov++;
        total += evs[i]->len;
        nev++;
    }
    int64_t head = evs[n - 1]->id;
    if (nev == 0) {
        w->cursor = head;
        return 1;
    }
    hdr[0] = 1; /* FCGI_VERSION_1 */
    hdr[1] = FCGI_STDOUT_TYPE;
    hdr[2] = (unsigned char)((w->request_id >> 8) & 0xff);
    hdr[3] = (unsigned char)(w->request_id & 0xff);
    hdr[4] = (unsigned char)((total >> 8) & 0xff);
    hdr[5] = (unsigned char)(total & 0xff);
    hdr[6] = 0; /* no padding */
    hdr[7] = 0;
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof hdr;
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = niov};
    ssize_t sent = sendmsg(w->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    size_t want = total + sizeof hdr;
    if (sent < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            w->hangup = 1; /* the web server is gone: let the thread end */
        return 0;
    }
    if ((size_t)sent < want) {
        /* The record is started, so its rest must go out before anything
         * else on this connection: hand it to the thread. */
        char *rest = malloc(want - (size_t)sent);
        if (!rest) {
            w->hangup = 1; /* cannot finish the record: end the stream */
            return 0;
        }
        size_t off = 0, skip = (size_t)sent;
        for (size_t i = 0; i < niov; i++) {
            size_t len = iov[i].iov_len;
            if (skip >= len) {
                skip -= len;
                continue;
            }
            memcpy(rest + off, (char *)iov[i].iov_base + skip, len - skip);
            off += len - skip;
            skip = 0;
        }
        w->pending = rest;
        w->pending_len = off;
    }
    w->cursor = head;
    w->direct_events += (int64_t)nev;
    w->direct_bytes += (int64_t)total;
    w->last_write_ns = now;
    if (hub->metrics)
        sse_metrics_add(&hub->metrics->events_delivered, (long long)nev);
    return w->pending == NULL;
}

/* Drops the oldest event; streams behind it now read the log. Called with
 * mu held. */
static void ring_evict_oldest(struct sse_hub *hub)
{
    struct sse_hub_event *old = hub->ring[hub->ring_start];
    size_t cost = event_cost(old);
    assert(hub->ring_count > 0 && hub->ring_bytes >= cost);
    hub->covered_after = old->id;
    hub->ring_bytes -= cost;
    sse_hub_event_release(old);
    hub->ring_start = (hub->ring_start + 1) % hub->ring_cap;
    hub->ring_count--;
}

/* Returns 1 while an event of cost bytes would break either bound. Called
 * with mu held. */
static int ring_lacks_room(const struct sse_hub *hub, size_t cost)
{
    if (hub->ring_count == 0)
        return 0;
    return hub->ring_count == hub->ring_cap ||
           hub->ring_bytes + cost > hub->ring_bytes_max;
}

/* Makes ev (id above head) the newest event: kept with a reference of the
 * ring's own after evicting the oldest while either bound would be
 * exceeded, or, when it has no bytes (too large), not kept: the ring then
 * restarts after it. Called with mu held. */
static void ring_store(struct sse_hub *hub, struct sse_hub_event *ev)
{
    assert(ev->id > hub->head);
    if (!ev->bytes) {
        ring_clear(hub);
        hub->covered_after = ev->id;
    } else {
        size_t cost = event_cost(ev);
        assert(cost <= hub->ring_bytes_max);
        while (ring_lacks_room(hub, cost))
            ring_evict_oldest(hub);
        atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
        hub->ring[(hub->ring_start + hub->ring_count) % hub->ring_cap] = ev;
        hub->ring_count++;
        hub->ring_bytes += cost;
    }
    hub->head = ev->id;
}

/* Stores events (ids increasing, all above head; the caller keeps its
 * references, so evs stays valid even if the ring drops some at once) and
 * wakes the waiters that want any of them. Called with mu held. */
static void ring_append(struct sse_hub *hub, struct sse_hub_event **evs,
                        size_t n)
{
    for (size_t i = 0; i < n; i++)
        ring_store(hub, evs[i]);
    publish_ring_size(hub);
    int64_t now = 0;
    for (size_t s = 0; s < hub->nslots; s++) {
        struct sse_hub_waiter *w = hub->slots[s];
        if (!w)
            continue;
        int wanted = 0;
        for (size_t i = 0; i < n && !wanted; i++)
            wanted = waiter_wants(w, evs[i]);
        if (w->parked && w->request_id >= 0 && !w->hangup && !w->pending &&
            w->epoch == hub->epoch && !hub->stopping) {
            if (!now)
                now = sse_hub_now_ns();
            if (!direct_write(hub, w, evs, n, now)) {
                /* From here the thread owns the stream again, even before
                 * it wakes: a later batch written directly would move the
                 * cursor past events this one left for the thread. */
                w->parked = 0;
                pthread_cond_signal(&w->cond);
            }
            continue;
        }
        if (wanted)
            pthread_cond_signal(&w->cond);
    }
}

struct read_batch {
    struct sse_hub *hub;
    struct sse_hub_event **evs;
    size_t n;
    size_t bytes;       /* encoded bytes in evs */
    struct sse_buf enc; /* max: the hub's event_max */
};

int sse_hub_encode_row(struct sse_buf *out, const struct sse_event_row *row)
{
    int rc = sse_encode_event(out, row->id, row->type, row->type_len, row->data,
                              row->data_len);
    if (rc == SSE_EINVAL) {
        /* The schema's CHECK refuses such types; a row from an older or
         * hand-edited table is sent without its type rather than lost. */
        sse_log(SSE_LOG_WARN,
                "event id=%lld has an invalid type; sent as 'message'",
                (long long)row->id);
        rc = sse_encode_event(out, row->id, NULL, 0, row->data, row->data_len);
    }
    return rc;
}

/* Keeps one new row in the batch, encoded. Returns 0 to go on, BATCH_FULL
 * once the batch holds event_max encoded bytes or an oversize event, or an
 * error. */
static int on_row(const struct sse_event_row *row, void *ctx)
{
    struct read_batch *b = ctx;
    struct sse_hub *hub = b->hub;
    int rc = hub->hook ? hub->hook(SSE_HUB_HOOK_ROW, hub->hook_ctx) : 0;
    if (rc)
        return rc;
    sse_buf_reset(&b->enc);
    /* b->enc refuses to grow past event_max before allocating anything, so
     * an oversize event costs no memory here; it is kept as a stub without
     * bytes that tells the ring where to restart. */
    rc = sse_hub_encode_row(&b->enc, row);
    int oversize = rc == SSE_ETOOBIG;
    if (rc && !oversize)
        return rc;
    size_t len = oversize ? 0 : b->enc.len;
    struct sse_hub_event *ev = malloc(sizeof *ev + row->channel_len + 1 + len);
    if (!ev)
        return SSE_ENOMEM;
    atomic_init(&ev->refs, 1);
    ev->id = row->id;
    ev->created_ms = row->created_ms;
    ev->channel_hash = sse_hub_channel_hash(row->channel, row->channel_len);
    memcpy(ev->channel, row->channel, row->channel_len);
    ev->channel[row->channel_len] = '\0';
    ev->bytes = oversize ? NULL : ev->channel + row->channel_len + 1;
    if (len)
        memcpy(ev->bytes, b->enc.data, len);
    ev->len = len;
    b->evs[b->n++] = ev;
    b->bytes += len;
    return oversize || b->bytes >= hub->event_max ? BATCH_FULL : 0;
}

static void set_fault(struct sse_hub *hub, int fault, const char *detail)
{
    pthread_mutex_lock(&hub->mu);
    int changed = hub->fault != fault;
    hub->fault = fault;
    if (fault) {
        ring_clear(hub);
        hub->head = -1;
        hub->epoch++;
        pool_clear(hub);
        wake_all(hub);
    }
    pthread_mutex_unlock(&hub->mu);
    if (changed && fault)
        sse_log(SSE_LOG_ERROR,
                "database '%s' cannot be read: %s%s%s; retrying every second",
                hub->cfg->db, sse_strerror(fault),
                detail && *detail ? ": " : "", detail ? detail : "");
    else if (changed)
        sse_log(SSE_LOG_INFO, "database '%s' is readable again", hub->cfg->db);
}

/* Makes log (NULL: none) the detector's connection, closing the old one;
 * the connection's wake-up descriptor, if the engine has one, joins the
 * epoll set for as long as it is open. */
static void set_log(struct sse_hub *hub, struct sse_eventlog *log)
{
    if (hub->log && sse_eventlog_wake_fd(hub->log) >= 0)
        epoll_ctl(hub->epfd, EPOLL_CTL_DEL, sse_eventlog_wake_fd(hub->log),
                  NULL);
    sse_eventlog_close(hub->log);
    hub->log = log;
    if (log && sse_eventlog_wake_fd(log) >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LOG};
        epoll_ctl(hub->epfd, EPOLL_CTL_ADD, sse_eventlog_wake_fd(log), &ev);
    }
}

static void close_log(struct sse_hub *hub, int fault)
{
    set_log(hub, NULL);
    set_fault(hub, fault, NULL);
    hub->next_open_ns = sse_hub_now_ns() + REOPEN_INTERVAL_NS;
}

static void try_open(struct sse_hub *hub)
{
    int64_t now = sse_hub_now_ns();
    if (now < hub->next_open_ns)
        return;
    struct sse_eventlog *log = NULL;
    int64_t oldest, head;
    int changed;
    char why[256];
    int rc = sse_eventlog_open_msg(hub->cfg->db, hub->cfg->busy_timeout_ms,
                                   &log, why, sizeof why);
    /* data_version's first value before the bounds: a commit after it is
     * reported as a change, one before it is within the bounds. */
    if (!rc)
        rc = sse_eventlog_changed(log, &changed);
    if (!rc)
        rc = sse_eventlog_bounds(log, &oldest, &head);
    if (!rc && hub->hook)
        rc = hub->hook(SSE_HUB_HOOK_OPENED, hub->hook_ctx);
    if (rc) {
        sse_eventlog_close(log);
        set_fault(hub, rc, why);
        hub->next_open_ns = now + REOPEN_INTERVAL_NS;
        return;
    }
    set_log(hub, log);
    hub->must_read = 1; /* cheap, and safe whatever committed meanwhile */
    hub->next_replaced_ns = now + REPLACED_CHECK_NS;
    pthread_mutex_lock(&hub->mu);
    int was_fault = hub->fault;
    hub->fault = 0;
    hub->head = head;
    hub->covered_after = head;
    hub->oldest = oldest;
    wake_all(hub);
    pthread_mutex_unlock(&hub->mu);
    if (hub->metrics)
        atomic_store_explicit(&hub->metrics->head_id, head,
                              memory_order_relaxed);
    if (was_fault)
        sse_log(SSE_LOG_INFO, "database '%s' is readable again (head id %lld)",
                hub->cfg->db, (long long)head);
}

/* Reads every row above head, in batches bounded by rows and by bytes.
 * Returns 1 when it read to the end of the log, 0 when it stopped before
 * (an error, no memory, the round limit): then it must be called again. */
static int read_new_rows(struct sse_hub *hub)
{
    size_t batch = (size_t)hub->cfg->batch;
    struct read_batch b = {
        .hub = hub, .evs = calloc(batch, sizeof *b.evs), .n = 0};
    sse_buf_init(&b.enc, hub->event_max);
    if (!b.evs)
        return 0;
    int complete = 0;
    for (int round = 0; round < 1000; round++) {
        pthread_mutex_lock(&hub->mu);
        int64_t after = hub->head;
        pthread_mutex_unlock(&hub->mu);
        struct sse_eventlog_progress p;
        b.n = 0;
        b.bytes = 0;
        int rc = sse_eventlog_read(hub->log, after, INT64_MAX, NULL, 0, batch,
                                   on_row, &b, &p);
        if (hub->metrics) {
            sse_metrics_add(&hub->metrics->db_reads, 1);
            sse_metrics_add(&hub->metrics->rows_skipped, (long long)p.skipped);
        }
        if (b.n || p.last_seen > after) {
            pthread_mutex_lock(&hub->mu);
            if (b.n)
                ring_append(hub, b.evs, b.n);
            /* Skipped rows are in no ring; head passes them anyway, or a
             * trailing one would be read again on every commit. */
            if (p.last_seen > hub->head)
                hub->head = p.last_seen;
            int64_t head = hub->head;
            pthread_mutex_unlock(&hub->mu);
            for (size_t i = 0; i < b.n; i++)
                sse_hub_event_release(b.evs[i]);
            if (hub->metrics)
                atomic_store_explicit(&hub->metrics->head_id, head,
                                      memory_order_relaxed);
        }
        if (rc == BATCH_FULL)
            continue;
        if (rc) {
            if (hub->metrics)
                sse_metrics_add(&hub->metrics->db_faults, 1);
            if (rc == SSE_EBUSY)
                sse_log(SSE_LOG_WARN,
                        "database '%s' locked for more than %d ms; retrying",
                        hub->cfg->db, hub->cfg->busy_timeout_ms);
            else
                close_log(hub, rc);
            break;
        }
        if (p.complete) {
            complete = 1;
            break;
        }
    }
    sse_buf_cleanup(&b.enc);
    free(b.evs);
    return complete;
}

/* The database file was replaced or its ids went backwards: every stream's
 * cursor is meaningless, so end them all; clients reconnect and get a
 * "future" gap event. */
static void reset_log(struct sse_hub *hub, const char *why)
{
    sse_log(SSE_LOG_WARN, "database '%s' %s; ending streams so clients resync",
            hub->cfg->db, why);
    set_log(hub, NULL);
    pthread_mutex_lock(&hub->mu);
    ring_clear(hub);
    hub->head = -1;
    pool_clear(hub);
    hub->epoch++;
    hub->reset_epoch = hub->epoch;
    wake_all(hub);
    pthread_mutex_unlock(&hub->mu);
    hub->next_open_ns = 0;
}

static void check_replaced(struct sse_hub *hub)
{
    int64_t now = sse_hub_now_ns();
    if (now < hub->next_replaced_ns)
        return;
    hub->next_replaced_ns = now + REPLACED_CHECK_NS;
    if (sse_eventlog_replaced(hub->log)) {
        reset_log(hub, "was replaced or removed");
        return;
    }
}

/* Notes the lowest stored id (pruning moves it) and notices a log whose
 * highest id went backwards (a different database under the same inode). */
static void refresh_bounds(struct sse_hub *hub)
{
    int64_t oldest, head;
    if (sse_eventlog_bounds(hub->log, &oldest, &head) != 0)
        return;
    pthread_mutex_lock(&hub->mu);
    int backwards = head < hub->head;
    if (!backwards)
        hub->oldest = oldest;
    pthread_mutex_unlock(&hub->mu);
    if (backwards)
        reset_log(hub, "has a lower highest id than before");
}

static void on_hangup(struct sse_hub *hub, uint64_t tag)
{
    size_t slot = (size_t)(tag & 0xffffffffu);
    uint32_t gen = (uint32_t)(tag >> 32);
    pthread_mutex_lock(&hub->mu);
    if (slot < hub->nslots && hub->slots[slot] &&
        hub->slots[slot]->gen == gen) {
        hub->slots[slot]->hangup = 1;
        pthread_cond_signal(&hub->slots[slot]->cond);
    }
    pthread_mutex_unlock(&hub->mu);
}

/* Returns 1 if an inotify event concerns the database or its WAL. */
static int drain_inotify(struct sse_hub *hub)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int relevant = 0;
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(hub->inofd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ie = (struct inotify_event *)(void *)p;
            if (ie->len && (strcmp(ie->name, hub->wal_base) == 0 ||
                            strcmp(ie->name, hub->base) == 0)) {
                relevant = 1;
                if (ie->mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE))
                    hub->next_replaced_ns = 0;
            }
            p += sizeof *ie + ie->len;
        }
    }
    return relevant;
}

static void *hub_main(void *arg)
{
    struct sse_hub *hub = arg;
    int quick = 0;
    for (;;) {
        pthread_mutex_lock(&hub->mu);
        int stop = hub->stopping;
        pthread_mutex_unlock(&hub->mu);
        if (stop)
            break;
        int timeout = quick > 0 ? 1 : hub->cfg->poll_ms;
        if (!hub->log && timeout > 1000)
            timeout = 1000;
        struct epoll_event evs[64];
        int n = epoll_wait(hub->epfd, evs, 64, timeout);
        int poke = 0;
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_WAKE) {
                uint64_t v;
                ssize_t r = read(hub->wakefd, &v, sizeof v);
                (void)r;
            } else if (tag == TAG_INOTIFY) {
                poke |= drain_inotify(hub);
            } else if (tag == TAG_LOG) {
                /* News on the reader's connection (NOTIFY, or the server
                 * going away): sse_eventlog_changed below takes it. */
            } else {
                on_hangup(hub, tag);
            }
        }
        if (!hub->log) {
            try_open(hub);
            if (!hub->log)
                continue;
        }
        check_replaced(hub);
        if (!hub->log)
            continue;
        int changed = 0;
        int rc = sse_eventlog_changed(hub->log, &changed);
        if (rc) {
            close_log(hub, rc);
            continue;
        }
        if (changed || hub->must_read) {
            hub->must_read = !read_new_rows(hub);
            if (hub->log)
                refresh_bounds(hub);
            quick = 0;
        } else if (poke) {
            quick = QUICK_RECHECKS;
        } else if (quick > 0) {
            quick--;
        }
    }
    return NULL;
}

void sse_hub_set_hook(struct sse_hub *hub, sse_hub_hook_fn fn, void *ctx)
{
    hub->hook = fn;
    hub->hook_ctx = ctx;
}

int sse_hub_start(struct sse_hub *hub)
{
    /* Open once before serving, so the first requests do not race the
     * detector thread's first open. */
    try_open(hub);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&hub->thread, &attr, hub_main, hub);
    pthread_attr_destroy(&attr);
    if (rc)
        return SSE_EIO;
    hub->thread_started = 1;
    return 0;
}

void sse_hub_stop(struct sse_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    hub->stopping = 1;
    wake_all(hub);
    pthread_mutex_unlock(&hub->mu);
    uint64_t one = 1;
    ssize_t w = write(hub->wakefd, &one, sizeof one);
    (void)w;
    if (hub->thread_started) {
        pthread_join(hub->thread, NULL);
        hub->thread_started = 0;
    }
}

int sse_hub_stopping(struct sse_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    int s = hub->stopping;
    pthread_mutex_unlock(&hub->mu);
    return s;
}

int sse_hub_waiter_add(struct sse_hub *hub, struct sse_hub_waiter *w,
                       const struct sse_request *req, int fd)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    w->req = req;
    for (size_t i = 0; i < req->nchannels; i++)
        w->hashes[i] =
            sse_hub_channel_hash(req->channels[i], strlen(req->channels[i]));
    w->fd = fd;
    w->hangup = 0;
    w->slot = -1;
    w->request_id = -1;
    w->parked = 0;
    w->cursor = 0;
    w->direct_events = 0;
    w->direct_bytes = 0;
    w->last_write_ns = 0;
    w->pending = NULL;
    w->pending_len = 0;

    pthread_mutex_lock(&hub->mu);
    size_t slot = hub->nslots;
    for (size_t i = 0; i < hub->nslots; i++)
        if (!hub->slots[i]) {
            slot = i;
            break;
        }
    if (slot == hub->nslots) {
        if (hub->nslots == hub->slots_cap) {
            size_t cap = hub->slots_cap ? hub->slots_cap * 2 : 64;
            struct sse_hub_waiter **s = realloc(hub->slots, cap * sizeof *s);
            if (!s) {
                pthread_mutex_unlock(&hub->mu);
                pthread_cond_destroy(&w->cond);
                return SSE_ENOMEM;
            }
            hub->slots = s;
            hub->slots_cap = cap;
        }
        hub->nslots++;
    }
    hub->slots[slot] = w;
    w->slot = (int)slot;
    w->gen = ++hub->next_gen;
    w->epoch = hub->epoch;
    if (fd >= 0) {
        struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT,
                                 .data.u64 =
                                     (uint64_t)slot | ((uint64_t)w->gen << 32)};
        epoll_ctl(hub->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
    pthread_mutex_unlock(&hub->mu);
    return 0;
}

void sse_hub_waiter_remove(struct sse_hub *hub, struct sse_hub_waiter *w)
{
    if (w->slot < 0)
        return;
    pthread_mutex_lock(&hub->mu);
    if (w->fd >= 0)
        epoll_ctl(hub->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    hub->slots[w->slot] = NULL;
    while (hub->nslots && !hub->slots[hub->nslots - 1])
        hub->nslots--;
    pthread_mutex_unlock(&hub->mu);
    w->slot = -1;
    free(w->pending);
    w->pending = NULL;
    pthread_cond_destroy(&w->cond);
}

void sse_hub_waiter_allow_direct(struct sse_hub *hub, struct sse_hub_waiter *w,
                                 int request_id)
{
    pthread_mutex_lock(&hub->mu);
    w->request_id = w->fd >= 0 ? request_id : -1;
    pthread_mutex_unlock(&hub->mu);
}

void sse_hub_waiter_unwatch(struct sse_hub *hub, struct sse_hub_waiter *w)
{
    pthread_mutex_lock(&hub->mu);
    if (w->fd >= 0)
        epoll_ctl(hub->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->fd = -1;
    w->hangup = 0;
    pthread_mutex_unlock(&hub->mu);
}

/* Index of the first ring entry with id > cursor (ring_count if none).
 * Called with mu held. */
static size_t ring_find(const struct sse_hub *hub, int64_t cursor)
{
    size_t lo = 0, hi = hub->ring_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (hub->ring[(hub->ring_start + mid) % hub->ring_cap]->id <= cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int sse_hub_next(struct sse_hub *hub, struct sse_hub_waiter *w, int64_t *cursor,
                 struct sse_hub_event **out, size_t max, size_t *n,
                 int64_t deadline_ns)
{
    int status;
    *n = 0;
    pthread_mutex_lock(&hub->mu);
    for (;;) {
        if (hub->stopping) {
            status = SSE_HUB_CLOSED;
            break;
        }
        if (w->pending) {
            status = SSE_HUB_PENDING;
            break;
        }
        if (w->hangup) {
            status = SSE_HUB_HANGUP;
            break;
        }
        /* A replacement since the stream began is a reset; any other
         * epoch change was a fault, perhaps over by now, but the stream
         * ends the same way (retry later), never as a replacement. */
        if (w->epoch < hub->reset_epoch) {
            status = SSE_HUB_RESET;
            break;
        }
        if (hub->fault || w->epoch != hub->epoch) {
            status = SSE_HUB_FAULT;
            break;
        }
        /* head < 0 without a fault: the log is being reopened; wait. */
        if (hub->head >= 0 && *cursor < hub->covered_after) {
            status = SSE_HUB_BEHIND;
            break;
        }
        size_t i = hub->head >= 0 ? ring_find(hub, *cursor) : hub->ring_count;
        for (; i < hub->ring_count && *n < max; i++) {
            struct sse_hub_event *ev =
                hub->ring[(hub->ring_start + i) % hub->ring_cap];
            if (waiter_wants(w, ev)) {
                atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
                out[(*n)++] = ev;
            }
            *cursor = ev->id;
        }
        if (i == hub->ring_count && hub->head >= 0 && *cursor < hub->head)
            *cursor = hub->head;
        status = SSE_HUB_EVENTS;
        if (*n || sse_hub_now_ns() >= deadline_ns)
            break;
        struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000LL),
                              .tv_nsec = (long)(deadline_ns % 1000000000LL)};
        /* Parked: the hub may now write for us and move our cursor. */
        w->cursor = *cursor;
        w->parked = 1;
        pthread_cond_timedwait(&w->cond, &hub->mu, &ts);
        w->parked = 0;
        if (w->cursor > *cursor)
            *cursor = w->cursor;
    }
    pthread_mutex_unlock(&hub->mu);
    return status;
}

int64_t sse_hub_head(struct sse_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    int64_t h = hub->head;
    pthread_mutex_unlock(&hub->mu);
    return h;
}

void sse_hub_window(struct sse_hub *hub, int64_t *covered_after,
                    int64_t *oldest, int64_t *head)
{
    pthread_mutex_lock(&hub->mu);
    *covered_after = hub->covered_after;
    *oldest = hub->oldest;
    *head = hub->head;
    pthread_mutex_unlock(&hub->mu);
}

int sse_hub_fault(struct sse_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    int f = hub->fault;
    pthread_mutex_unlock(&hub->mu);
    return f;
}

int sse_hub_log_borrow(struct sse_hub *hub, struct sse_eventlog **log)
{
    pthread_mutex_lock(&hub->mu);
    struct sse_eventlog *l = hub->npool ? hub->pool[--hub->npool] : NULL;
    pthread_mutex_unlock(&hub->mu);
    if (l) {
        *log = l;
        return 0;
    }
    return sse_eventlog_open(hub->cfg->db, hub->cfg->busy_timeout_ms, log);
}

void sse_hub_log_return(struct sse_hub *hub, struct sse_eventlog *log,
                        int broken)
{
    if (!log)
        return;
    if (!broken && !sse_eventlog_replaced(log)) {
        pthread_mutex_lock(&hub->mu);
        if (hub->npool < POOL_MAX) {
            hub->pool[hub->npool++] = log;
            log = NULL;
        }
        pthread_mutex_unlock(&hub->mu);
    }
    sse_eventlog_close(log);
}
