/* loop.c - streams without a thread: one event loop per worker process.
 * SPDX-License-Identifier: MIT
 *
 * Everything about a parked stream is touched by the loop's thread only,
 * except three hand-over lists guarded by the loop's mutex: streams being
 * parked (from stream threads), catch-up reads done (from catch-up
 * threads), and the stop request. All three, and the fan-out's ready list,
 * wake the loop through one eventfd.
 *
 * A stream is in one of four states:
 *   LIVE     takes from the ring when its queue is empty and the fan-out
 *            says it may have news; heartbeats, probes and max-lifetime
 *            apply while its queue is empty (so a stream ends only between
 *            whole events);
 *   CATCHUP  a catch-up read of its next events is out (at most one);
 *   ENDING   its closing bytes and records are going out;
 *   DEAD     closed, waiting for its catch-up read to come back before it
 *            is freed (the read borrows its channel names).
 * Its queue holds what the socket did not take yet: references to ring
 * events and owned buffers (a catch-up batch, a closing comment), never
 * more than one take of events or one batch, because a stream takes again
 * only once its queue is empty.
 *
 * Deadlines live in a binary min-heap keyed by each stream's next one
 * (write stall while its queue waits; otherwise max-lifetime, the probe
 * and the heartbeat), so a timer tick costs O(log n) per due stream and
 * nothing for the others. A key may be earlier than the stream's deadline
 * (a write moved the heartbeat on), never later.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "catchup.h"
#include "clock.h"
#include "logging.h"
#include "loop.h"
#include "response.h"
#include "sse_error.h"

#define TAKE_MAX 64
#define IOV_MAX_SEND 64
#define EPOLL_BATCH 256
#define READY_BATCH 256
#define THREAD_STACK (256 * 1024)
/* Long enough for a vanished client's RST to come back, even over a WAN
 * (the same as a thread-held stream's, stream.c). */
#define PROBE_NS (250 * SSE_NS_PER_MS)
#define CATCHUP_THREADS_MAX 8

static const char HEARTBEAT[] = ": heartbeat\n\n";
static const char PROBE[] = ":\n\n";

enum state { S_LIVE, S_CATCHUP, S_ENDING, S_DEAD };

/* Bytes waiting for the socket: a ring event's (a reference), an owned
 * buffer, or static text. */
struct chunk {
    const char *p;
    size_t len;
    struct sse_event *ev; /* released when sent, or NULL */
    char *owned;          /* freed when sent, or NULL */
};

/* FIFO of chunks; off bytes of the first one are already sent. */
struct outq {
    size_t head, n, cap, off;
    struct chunk c[];
};

struct stream {
    struct sse_conn conn;
    struct sse_sub *sub;
    struct outq *q; /* NULL: nothing waits for the socket */
    int64_t next_hb, probe_at, end_at, stall_at;
    int64_t key; /* the heap's copy of the next deadline */
    size_t heap_pos;
    uint32_t mask; /* epoll events asked for */
    unsigned char state;
    unsigned char job_out;    /* a catch-up read is out */
    unsigned char end_reason; /* at end_at: lifetime, or access expiry */
    struct sse_stream_result res;
    struct sse_stream_info info;
    struct stream *next_in; /* the incoming list */
};

/* A catch-up read and its place on the done list. */
struct cjob {
    struct sse_catchup_job job;
    struct cjob *next_done;
};

struct sse_loop {
    const struct sse_config *cfg;
    struct sse_metrics *metrics;
    struct sse_fanout *fanout;
    sse_loop_end_fn end;
    void *end_ctx;
    struct sse_catchup *catchup;
    int64_t hb_ns, write_timeout_ns;
    int epfd, wakefd;
    pthread_t thread;
    int started;
    atomic_llong nstreams; /* parked and not yet ended */

    pthread_mutex_t mu;
    struct stream *incoming; /* guarded by mu */
    struct cjob *done;       /* guarded by mu */
    int stopping;            /* guarded by mu: end every stream */
    int quit;                /* guarded by mu: close the rest and exit */

    /* The loop's thread only. */
    int64_t now; /* CLOCK_MONOTONIC at this wake-up: one clock read per pass
                    serves every stream written in it */
    /* Scratch for one send: iov[0] is the transport's (sink.h), the
     * bytes go from iov[1] on. */
    struct iovec iov[1 + IOV_MAX_SEND];
    /* Scratch for serve_ready's batch. */
    void *batch_st[READY_BATCH];
    struct sse_event *batch_evs[READY_BATCH * TAKE_MAX];
    int batch_status[READY_BATCH];
    int64_t batch_cursor[READY_BATCH];
    size_t batch_n[READY_BATCH];
    struct stream **heap;
    size_t nheap, heap_cap;
    int stop_seen;
};

static void wake(void *ctx)
{
    struct sse_loop *loop = ctx;
    uint64_t one = 1;
    ssize_t w = write(loop->wakefd, &one, sizeof one);
    (void)w; /* a full counter is already a pending wake-up */
}

/* --- the deadline heap --- */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t next_deadline(const struct stream *st)
{
    int64_t k = INT64_MAX;
    if (st->q || st->state == S_ENDING)
        k = st->stall_at;
    if (st->state == S_LIVE && !st->q)
        k = min64(k, min64(st->end_at, min64(st->probe_at, st->next_hb)));
    return k;
}

static void heap_set(struct sse_loop *loop, size_t i, struct stream *st)
{
    loop->heap[i] = st;
    st->heap_pos = i;
}

static void sift_up(struct sse_loop *loop, size_t i)
{
    struct stream *st = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->key <= st->key)
            break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, st);
}

static void sift_down(struct sse_loop *loop, size_t i)
{
    struct stream *st = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->nheap)
            break;
        if (child + 1 < loop->nheap &&
            loop->heap[child + 1]->key < loop->heap[child]->key)
            child++;
        if (loop->heap[child]->key >= st->key)
            break;
        heap_set(loop, i, loop->heap[child]);
        i = child;
    }
    heap_set(loop, i, st);
}

static int heap_push(struct sse_loop *loop, struct stream *st)
{
    if (loop->nheap == loop->heap_cap) {
        size_t cap = loop->heap_cap ? 2 * loop->heap_cap : 256;
        struct stream **h = realloc(loop->heap, cap * sizeof *h);
        if (!h)
            return SSE_ENOMEM;
        loop->heap = h;
        loop->heap_cap = cap;
    }
    st->key = next_deadline(st);
    heap_set(loop, loop->nheap++, st);
    sift_up(loop, st->heap_pos);
    return 0;
}

static void heap_remove(struct sse_loop *loop, struct stream *st)
{
    size_t i = st->heap_pos;
    assert(i < loop->nheap && loop->heap[i] == st);
    struct stream *last = loop->heap[--loop->nheap];
    st->heap_pos = SIZE_MAX;
    if (last == st)
        return;
    heap_set(loop, i, last);
    sift_up(loop, i);
    sift_down(loop, last->heap_pos);
}

/* Puts st where its next deadline says. */
static void reschedule(struct sse_loop *loop, struct stream *st)
{
    if (st->heap_pos == SIZE_MAX)
        return;
    st->key = next_deadline(st);
    sift_up(loop, st->heap_pos);
    sift_down(loop, st->heap_pos);
}

/* Moves st up when its next deadline came earlier than its key, and
 * otherwise leaves the key as it is: a key earlier than the deadline only
 * wakes the timer for nothing once (on_timer then reschedules), while
 * every write moves the heartbeat later, and re-sorting the heap for each
 * would cost more than the rest of the write. */
static void reschedule_earlier(struct sse_loop *loop, struct stream *st)
{
    if (st->heap_pos == SIZE_MAX)
        return;
    int64_t k = next_deadline(st);
    if (k < st->key) {
        st->key = k;
        sift_up(loop, st->heap_pos);
    }
}

/* --- the queue --- */

static void chunk_release(struct chunk *c)
{
    sse_event_release(c->ev);
    free(c->owned);
}

static int q_push(struct stream *st, const struct chunk *c)
{
    struct outq *q = st->q;
    if (!q || q->n == q->cap) {
        size_t cap = q ? 2 * q->cap : 4;
        struct outq *nq = malloc(sizeof *nq + cap * sizeof nq->c[0]);
        if (!nq)
            return SSE_ENOMEM;
        nq->head = 0;
        nq->n = q ? q->n : 0;
        nq->cap = cap;
        nq->off = q ? q->off : 0;
        for (size_t i = 0; q && i < q->n; i++)
            nq->c[i] = q->c[(q->head + i) % q->cap];
        free(q);
        st->q = q = nq;
    }
    q->c[(q->head + q->n) % q->cap] = *c;
    q->n++;
    return 0;
}

static void q_free(struct stream *st)
{
    struct outq *q = st->q;
    for (size_t i = 0; q && i < q->n; i++)
        chunk_release(&q->c[(q->head + i) % q->cap]);
    free(q);
    st->q = NULL;
}

/* The next bytes of the queue as iovecs; returns their total. */
static size_t q_iov(const struct outq *q, struct iovec *iov, int *niov)
{
    size_t total = 0;
    int n = 0;
    for (size_t i = 0; i < q->n && n < IOV_MAX_SEND; i++) {
        const struct chunk *c = &q->c[(q->head + i) % q->cap];
        size_t skip = i == 0 ? q->off : 0;
        iov[n].iov_base = (void *)(c->p + skip);
        iov[n].iov_len = c->len - skip;
        total += iov[n].iov_len;
        n++;
    }
    *niov = n;
    return total;
}

/* Drops the first taken bytes of the queue; frees it once empty. */
static void q_consume(struct stream *st, size_t taken)
{
    struct outq *q = st->q;
    while (q->n > 0) {
        struct chunk *c = &q->c[q->head];
        size_t left = c->len - q->off;
        if (taken < left) {
            q->off += taken;
            return;
        }
        taken -= left;
        chunk_release(c);
        q->head = (q->head + 1) % q->cap;
        q->n--;
        q->off = 0;
    }
    assert(taken == 0);
    free(q);
    st->q = NULL;
}

/* --- closing --- */

static void set_mask(struct sse_loop *loop, struct stream *st, uint32_t mask)
{
    if (st->mask == mask)
        return;
    struct epoll_event ev = {.events = mask, .data.ptr = st};
    epoll_ctl(loop->epfd, EPOLL_CTL_MOD, st->conn.fd, &ev);
    st->mask = mask;
}

/* Reports the end and frees st (closed, no read out). */
static void finalize(struct sse_loop *loop, struct stream *st)
{
    assert(st->state == S_DEAD && !st->job_out && !st->q);
    const char *names[SSE_REQUEST_MAX_CHANNELS];
    size_t n =
        sse_fanout_sub_channels(st->sub, names, SSE_REQUEST_MAX_CHANNELS);
    loop->end(loop->end_ctx, &st->info, &st->res, names, n);
    sse_fanout_remove(loop->fanout, st->sub);
    /* The gauge first: whoever sees nstreams fall (sse_loop_stop, a
     * test) sees the gauge fallen too. */
    if (loop->metrics)
        sse_metrics_add(&loop->metrics->streams_parked, -1);
    atomic_fetch_sub(&loop->nstreams, 1);
    free(st);
}

/* Closes st's connection; frees st unless a catch-up read still borrows
 * it. */
static void close_stream(struct sse_loop *loop, struct stream *st)
{
    assert(st->state != S_DEAD);
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, st->conn.fd, NULL);
    st->conn.ops->close(st->conn.ctx);
    q_free(st);
    heap_remove(loop, st);
    st->state = S_DEAD;
    if (!st->job_out)
        finalize(loop, st);
}

/* The web server or the client is gone: close without closing records. */
static void gone(struct sse_loop *loop, struct stream *st, int reason)
{
    if (st->state != S_ENDING)
        st->res.reason = reason;
    close_stream(loop, st);
}

/* --- writing --- */

/* After a send: arms EPOLLOUT and the write-stall deadline while bytes
 * wait (moved on by any progress), disarms both once the queue is out. */
static void note_progress(struct sse_loop *loop, struct stream *st,
                          int progressed)
{
    if (!st->q && st->state != S_ENDING && st->stall_at == INT64_MAX &&
        !(st->mask & EPOLLOUT))
        return; /* the common case: all sent, nothing was waiting */
    if (st->q || st->state == S_ENDING) {
        if (progressed || st->stall_at == INT64_MAX)
            st->stall_at = sse_now_ns() + loop->write_timeout_ns;
        set_mask(loop, st, st->mask | EPOLLOUT);
    } else {
        st->stall_at = INT64_MAX;
        set_mask(loop, st, st->mask & ~(uint32_t)EPOLLOUT);
    }
    reschedule_earlier(loop, st);
}

/* Sends what the queue holds. Returns 0 (the queue may still hold bytes:
 * EPOLLOUT is armed) or SSE_EIO after closing st. */
static int flush(struct sse_loop *loop, struct stream *st)
{
    size_t sent = 0;
    int rc = 0;
    while (st->q) {
        int niov;
        size_t total = q_iov(st->q, loop->iov + 1, &niov);
        size_t taken = 0;
        rc = st->conn.ops->send(st->conn.ctx, loop->iov, niov, total, &taken);
        if (rc)
            break;
        q_consume(st, taken);
        sent += taken;
        if (taken < total)
            break;
    }
    if (rc) {
        gone(loop, st, SSE_CLOSE_WRITE_FAILED);
        return SSE_EIO;
    }
    st->res.bytes += (int64_t)sent;
    note_progress(loop, st, sent > 0);
    return 0;
}

/* After a send of c[0..n) straight from c that took taken bytes: releases
 * what went out and queues the rest, the first chunk without what was sent
 * of it. Returns 0 or SSE_EIO (st closed). */
static int keep_unsent(struct sse_loop *loop, struct stream *st,
                       struct chunk *c, size_t n, size_t taken)
{
    assert(!st->q);
    size_t i = 0, left = taken;
    while (i < n && left >= c[i].len) {
        left -= c[i].len;
        chunk_release(&c[i]);
        i++;
    }
    for (; i < n; i++)
        if (q_push(st, &c[i]))
            goto fail;
    if (st->q)
        st->q->off = left;
    note_progress(loop, st, taken > 0);
    return 0;
fail:
    for (; i < n; i++)
        chunk_release(&c[i]);
    gone(loop, st, SSE_CLOSE_WRITE_FAILED);
    return SSE_EIO;
}

/* Sends chunks c[0..n) after whatever is queued; the stream owns their
 * references and buffers from now on. When nothing is queued they go out
 * straight from c, and only what the socket did not take is queued (the
 * common case allocates nothing). Returns 0 or SSE_EIO (st closed). */
static int emit(struct sse_loop *loop, struct stream *st, struct chunk *c,
                size_t n)
{
    size_t i = 0;
    if (n == 0)
        return 0;
    if (!st->q && n <= IOV_MAX_SEND) {
        size_t total = 0;
        for (size_t k = 0; k < n; k++) {
            loop->iov[k + 1].iov_base = (void *)c[k].p;
            loop->iov[k + 1].iov_len = c[k].len;
            total += c[k].len;
        }
        size_t taken = 0;
        if (st->conn.ops->send(st->conn.ctx, loop->iov, (int)n, total, &taken))
            goto fail;
        st->res.bytes += (int64_t)taken;
        return keep_unsent(loop, st, c, n, taken);
    }
    for (; i < n; i++)
        if (q_push(st, &c[i]))
            goto fail;
    return flush(loop, st);
fail:
    for (; i < n; i++)
        chunk_release(&c[i]);
    gone(loop, st, SSE_CLOSE_WRITE_FAILED);
    return SSE_EIO;
}

static int emit_text(struct sse_loop *loop, struct stream *st, const char *p,
                     size_t len)
{
    struct chunk c = {.p = p, .len = len};
    return emit(loop, st, &c, 1);
}

/* Sends the closing records once the queue is out; then closes. Returns
 * 1 when st was closed (and may be freed). */
static int continue_ending(struct sse_loop *loop, struct stream *st)
{
    assert(st->state == S_ENDING);
    if (st->q)
        return 0; /* EPOLLOUT brings us back */
    int rc = st->conn.ops->finish(st->conn.ctx);
    if (rc == SSE_EAGAIN) {
        note_progress(loop, st, 0);
        return 0;
    }
    close_stream(loop, st);
    return 1;
}

/* Ends st for reason with its closing comment and records. Returns 1 when
 * st was closed already (and may be freed). */
static int end_stream(struct sse_loop *loop, struct stream *st, int reason)
{
    assert(st->state == S_LIVE);
    st->res.reason = reason;
    st->state = S_ENDING;
    struct sse_buf b;
    sse_buf_init(&b, 0);
    sse_response_stream_end(&b, loop->cfg, reason);
    size_t len;
    char *bytes = sse_buf_take(&b, &len);
    if (bytes && len) {
        struct chunk c = {.p = bytes, .len = len, .owned = bytes};
        if (emit(loop, st, &c, 1))
            return 1;
    } else {
        free(bytes);
    }
    return continue_ending(loop, st);
}

/* Ends st at its own end (max-lifetime, or its access running out, which
 * sends the sselite-auth event). Returns as end_stream. */
static int end_by_time(struct sse_loop *loop, struct stream *st)
{
    int reason = st->end_reason ? st->end_reason : SSE_CLOSE_LIFETIME;
    if (reason == SSE_CLOSE_EXPIRED)
        st->res.events++;
    return end_stream(loop, st, reason);
}

static int reason_of(int status)
{
    switch (status) {
    case SSE_FANOUT_RESET:
        return SSE_CLOSE_RESET;
    case SSE_FANOUT_FAULT:
        return SSE_CLOSE_FAULT;
    default:
        return SSE_CLOSE_SHUTDOWN;
    }
}

/* --- catch-up reads --- */

static void on_job_done(void *ctx, struct sse_catchup_job *job)
{
    struct sse_loop *loop = ctx;
    struct cjob *cj = (struct cjob *)(void *)job;
    pthread_mutex_lock(&loop->mu);
    cj->next_done = loop->done;
    loop->done = cj;
    pthread_mutex_unlock(&loop->mu);
    wake(loop);
}

static void start_catchup(struct sse_loop *loop, struct stream *st,
                          int64_t cursor)
{
    int64_t upto = sse_fanout_head(loop->fanout);
    if (upto <= cursor) {
        /* The log is being reopened (or reset): the fan-out wakes us. */
        reschedule(loop, st);
        return;
    }
    struct cjob *cj = calloc(1, sizeof *cj);
    if (!cj) {
        end_stream(loop, st, SSE_CLOSE_FAULT);
        return;
    }
    cj->job.nchannels = sse_fanout_sub_channels(st->sub, cj->job.channels,
                                                SSE_REQUEST_MAX_CHANNELS);
    cj->job.after = cursor;
    cj->job.upto = upto;
    cj->job.owner = st;
    st->state = S_CATCHUP;
    st->job_out = 1;
    reschedule(loop, st);
    sse_catchup_submit(loop->catchup, &cj->job);
}

static void service(struct sse_loop *loop, struct stream *st);

static void catchup_done(struct sse_loop *loop, struct cjob *cj)
{
    struct sse_catchup_job *job = &cj->job;
    struct stream *st = job->owner;
    assert(st->job_out);
    st->job_out = 0;
    if (st->state == S_DEAD) {
        sse_buf_cleanup(&job->out);
        free(cj);
        finalize(loop, st);
        return;
    }
    assert(st->state == S_CATCHUP);
    st->state = S_LIVE;
    size_t rows = job->progress.rows;
    st->res.events += (int64_t)rows;
    if (loop->metrics) {
        sse_metrics_add(&loop->metrics->events_replayed, (long long)rows);
        sse_metrics_add(&loop->metrics->events_delivered, (long long)rows);
    }
    int rc = job->rc;
    int64_t cursor =
        job->progress.complete ? job->upto : job->progress.last_seen;
    size_t len;
    char *bytes = sse_buf_take(&job->out, &len);
    free(cj);
    if (!rc) {
        sse_fanout_advance(loop->fanout, st->sub, cursor);
        st->res.end_cursor = cursor;
    }
    /* On an error the rows read before it still go out, then the fault. */
    if (bytes && len) {
        struct chunk c = {.p = bytes, .len = len, .owned = bytes};
        st->next_hb = loop->now + loop->hb_ns;
        if (emit(loop, st, &c, 1))
            return;
    } else {
        free(bytes);
    }
    if (rc == SSE_ECLOSED) {
        end_stream(loop, st, SSE_CLOSE_SHUTDOWN);
    } else if (rc) {
        sse_log(SSE_LOG_ERROR, "stream: reading the backlog failed: %s",
                sse_strerror(rc));
        end_stream(loop, st, SSE_CLOSE_FAULT);
    } else if (loop->stop_seen) {
        end_stream(loop, st, SSE_CLOSE_SHUTDOWN);
    } else {
        service(loop, st);
    }
}

/* --- the stream's work --- */

/* Releases evs[0..n). */
static void release_events(struct sse_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sse_event_release(evs[i]);
}

/* write_events' rest: the events as chunks, after what is queued (or, when
 * nothing was, after taken bytes of them went out). Apart so that the
 * common case needs no room for the chunks. */
static int queue_events(struct sse_loop *loop, struct stream *st,
                        struct sse_event **evs, size_t n, size_t taken)
{
    struct chunk c[TAKE_MAX];
    for (size_t i = 0; i < n; i++)
        c[i] = (struct chunk){
            .p = evs[i]->bytes, .len = evs[i]->len, .ev = evs[i]};
    return st->q ? emit(loop, st, c, n) : keep_unsent(loop, st, c, n, taken);
}

/* Writes taken events (n <= TAKE_MAX; their references move to st).
 * Returns 0 or SSE_EIO (st closed). */
static int write_events(struct sse_loop *loop, struct stream *st,
                        struct sse_event **evs, size_t n)
{
    assert(n > 0 && n <= TAKE_MAX && TAKE_MAX <= IOV_MAX_SEND);
    st->res.events += (int64_t)n;
    if (loop->metrics)
        sse_metrics_add(&loop->metrics->events_delivered, (long long)n);
    st->next_hb = loop->now + loop->hb_ns;
    size_t taken = 0;
    if (!st->q) {
        /* emit's common case, straight from the events: when the socket
         * takes them all, no chunk is made. */
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
            loop->iov[i + 1].iov_base = evs[i]->bytes;
            loop->iov[i + 1].iov_len = evs[i]->len;
            total += evs[i]->len;
        }
        if (st->conn.ops->send(st->conn.ctx, loop->iov, (int)n, total,
                               &taken)) {
            release_events(evs, n);
            gone(loop, st, SSE_CLOSE_WRITE_FAILED);
            return SSE_EIO;
        }
        st->res.bytes += (int64_t)taken;
        if (taken == total) {
            /* Nothing waits, and nothing did: no write deadline nor
             * EPOLLOUT to disarm (note_progress's common case). */
            assert(st->stall_at == INT64_MAX && !(st->mask & EPOLLOUT));
            release_events(evs, n);
            return 0;
        }
    }
    return queue_events(loop, st, evs, n, taken);
}

/* Does what st can do now: send its queue, then take and send events until
 * none are left, it falls behind, or the socket is full; then the
 * max-lifetime check (between whole events only). */
/* What a take brought st: writes its events or acts on its status. Returns
 * TAKE_MORE when more may be waiting, TAKE_IDLE when st has caught up, or
 * TAKE_DONE when it needs nothing now (it ended, waits for its socket or
 * for a catch-up read). */
enum { TAKE_MORE, TAKE_IDLE, TAKE_DONE };

static int after_take(struct sse_loop *loop, struct stream *st, int status,
                      int64_t cursor, struct sse_event **evs, size_t n)
{
    st->res.end_cursor = cursor;
    if (status == SSE_FANOUT_BEHIND) {
        start_catchup(loop, st, cursor);
        return TAKE_DONE;
    }
    if (status != SSE_FANOUT_EVENTS) {
        end_stream(loop, st, reason_of(status));
        return TAKE_DONE;
    }
    if (n == 0)
        return TAKE_IDLE;
    if (write_events(loop, st, evs, n) || st->q)
        return TAKE_DONE;
    return n < TAKE_MAX ? TAKE_IDLE : TAKE_MORE;
}

/* The max-lifetime check of a caught-up stream (between whole events
 * only): ends st and returns 1 when its time is up. */
static int lifetime_over(struct sse_loop *loop, struct stream *st)
{
    if (loop->now < st->end_at)
        return 0;
    end_by_time(loop, st);
    return 1;
}

/* A caught-up stream: the max-lifetime check, else its next deadline. */
static void idle(struct sse_loop *loop, struct stream *st)
{
    if (!lifetime_over(loop, st))
        reschedule_earlier(loop, st);
}

/* 1 when stream owner may take events now: live, and its queue is out (a
 * stream takes again only once the socket took what it had). The
 * sse_fanout_can_take_fn of sse_fanout_take_ready (on the loop's thread). */
static int can_take(void *owner)
{
    const struct stream *st = owner;
    return st->state == S_LIVE && !st->q;
}

/* Does what st can do now: send its queue, then take and send events until
 * none are left, it falls behind, or the socket is full. */
static void service(struct sse_loop *loop, struct stream *st)
{
    if (st->state != S_LIVE)
        return;
    if (st->q && (flush(loop, st) || st->q))
        return;
    for (;;) {
        struct sse_event *evs[TAKE_MAX];
        size_t n;
        int64_t cursor;
        int status =
            sse_fanout_take(loop->fanout, st->sub, evs, TAKE_MAX, &n, &cursor);
        int r = after_take(loop, st, status, cursor, evs, n);
        if (r == TAKE_DONE)
            return;
        if (r == TAKE_IDLE)
            break;
    }
    idle(loop, st);
}

/* Serves the streams the fan-out reported ready: the first take of all
 * that can take in the one pass under the fan-out's lock that takes them
 * off the ready list (the common case, a commit for many caught-up
 * streams, costs one lock per READY_BATCH streams rather than one each),
 * the rest one by one. */
static void serve_ready(struct sse_loop *loop)
{
    size_t n;
    while ((n = sse_fanout_take_ready(loop->fanout, can_take, READY_BATCH,
                                      loop->batch_st, loop->batch_evs, TAKE_MAX,
                                      loop->batch_status, loop->batch_cursor,
                                      loop->batch_n)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct stream *st = loop->batch_st[i];
            if (loop->batch_status[i] < 0) {
                service(loop, st); /* it could not take: see why */
                continue;
            }
            int r = after_take(
                loop, st, loop->batch_status[i], loop->batch_cursor[i],
                loop->batch_evs + i * TAKE_MAX, loop->batch_n[i]);
            /* A stream caught up here was live with nothing queued before
             * its take, so its key was at most its deadline, and the take
             * moved only its heartbeat later: the key stands (no
             * reschedule_earlier, as idle would). */
            if (r == TAKE_MORE)
                service(loop, st);
            else if (r == TAKE_IDLE)
                lifetime_over(loop, st);
        }
    }
}

/* Does what is due for st at now. Returns 1 when st was closed (and may be
 * freed); otherwise its key is past now. */
static int on_timer(struct sse_loop *loop, struct stream *st, int64_t now)
{
    if ((st->q || st->state == S_ENDING) && now >= st->stall_at) {
        /* The web server took nothing for write-timeout. */
        gone(loop, st, SSE_CLOSE_WRITE_FAILED);
        return 1;
    }
    if (st->state == S_LIVE && !st->q) {
        if (now >= st->end_at) {
            if (end_by_time(loop, st))
                return 1;
        } else {
            if (now >= st->probe_at) {
                st->probe_at = INT64_MAX;
                if (emit_text(loop, st, PROBE, sizeof PROBE - 1))
                    return 1;
            }
            if (!st->q && now >= st->next_hb) {
                st->next_hb = now + loop->hb_ns;
                /* Apache closes our connection only when a write to a
                 * vanished client fails, and over TCP the first write
                 * after the client left still succeeds: the probe makes
                 * it notice within one heartbeat. */
                st->probe_at = now + PROBE_NS;
                if (loop->metrics)
                    sse_metrics_add(&loop->metrics->heartbeats, 1);
                if (emit_text(loop, st, HEARTBEAT, sizeof HEARTBEAT - 1))
                    return 1;
            }
        }
    }
    reschedule(loop, st);
    return 0;
}

/* The web server wrote (the rest of the request's stdin, which is dropped)
 * or hung up its side. Returns 1 when st was closed (and may be freed). */
static int on_readable(struct sse_loop *loop, struct stream *st)
{
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t r = recv(st->conn.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            gone(loop, st, SSE_CLOSE_CLIENT_GONE);
            return 1;
        }
        /* End of input: closed, or only half-closed; a probe write tells
         * the two apart (as for a thread-held stream). */
        set_mask(loop, st, st->mask & ~(uint32_t)(EPOLLIN | EPOLLRDHUP));
        if (st->state == S_LIVE)
            return emit_text(loop, st, PROBE, sizeof PROBE - 1) != 0;
        return 0;
    }
    return 0;
}

static void on_event(struct sse_loop *loop, struct stream *st, uint32_t ev)
{
    if (st->state == S_DEAD)
        return;
    if (ev & (EPOLLERR | EPOLLHUP)) {
        gone(loop, st, SSE_CLOSE_CLIENT_GONE);
        return;
    }
    if ((ev & (EPOLLIN | EPOLLRDHUP)) && on_readable(loop, st))
        return;
    if (ev & EPOLLOUT) {
        if (st->q && flush(loop, st))
            return;
        if (st->q)
            return;
        if (st->state == S_ENDING)
            continue_ending(loop, st);
        else
            service(loop, st);
    }
}

/* --- hand-overs --- */

static void adopt(struct sse_loop *loop, struct stream *st)
{
    st->heap_pos = SIZE_MAX;
    st->mask = EPOLLIN | EPOLLRDHUP;
    struct epoll_event ev = {.events = st->mask, .data.ptr = st};
    if (heap_push(loop, st) ||
        epoll_ctl(loop->epfd, EPOLL_CTL_ADD, st->conn.fd, &ev) != 0) {
        sse_log(SSE_LOG_ERROR, "parking a stream failed: %s", strerror(errno));
        st->res.reason = SSE_CLOSE_WRITE_FAILED;
        st->conn.ops->close(st->conn.ctx);
        if (st->heap_pos != SIZE_MAX)
            heap_remove(loop, st);
        st->state = S_DEAD;
        /* finalize needs the fan-out's owner set for nothing: the sub is
         * still thread-style and is simply removed. */
        finalize(loop, st);
        return;
    }
    /* From here the fan-out keeps the cursor and reports news. */
    sse_fanout_park(loop->fanout, st->sub, st->res.end_cursor, st);
    if (loop->stop_seen)
        end_stream(loop, st, SSE_CLOSE_SHUTDOWN);
}

static void take_handovers(struct sse_loop *loop)
{
    pthread_mutex_lock(&loop->mu);
    struct stream *in = loop->incoming;
    struct cjob *done = loop->done;
    loop->incoming = NULL;
    loop->done = NULL;
    int stopping = loop->stopping;
    pthread_mutex_unlock(&loop->mu);
    if (stopping && !loop->stop_seen) {
        loop->stop_seen = 1;
        /* Copy first: ending a stream may free it and reorder the heap. */
        size_t n = loop->nheap;
        struct stream **all = malloc((n ? n : 1) * sizeof *all);
        if (all) {
            memcpy(all, loop->heap, n * sizeof *all);
            for (size_t i = 0; i < n; i++)
                if (all[i]->state == S_LIVE)
                    end_stream(loop, all[i], SSE_CLOSE_SHUTDOWN);
            free(all);
        }
    }
    while (in) {
        struct stream *next = in->next_in;
        adopt(loop, in);
        in = next;
    }
    while (done) {
        struct cjob *next = done->next_done;
        catchup_done(loop, done);
        done = next;
    }
    serve_ready(loop);
}

static void run_timers(struct sse_loop *loop)
{
    int64_t now = sse_now_ns();
    while (loop->nheap > 0 && loop->heap[0]->key <= now) {
        struct stream *st = loop->heap[0];
        if (!on_timer(loop, st, now))
            assert(st->key > now);
    }
}

static int timeout_ms(const struct sse_loop *loop)
{
    if (loop->nheap == 0 || loop->heap[0]->key == INT64_MAX)
        return -1;
    int64_t wait = loop->heap[0]->key - sse_now_ns();
    if (wait <= 0)
        return 0;
    int64_t ms = (wait + SSE_NS_PER_MS - 1) / SSE_NS_PER_MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Closes whatever is left at the end (quit). */
static void close_all(struct sse_loop *loop)
{
    while (loop->nheap > 0) {
        struct stream *st = loop->heap[0];
        if (st->state == S_LIVE || st->state == S_ENDING ||
            st->state == S_CATCHUP)
            gone(loop, st,
                 st->state == S_ENDING ? st->res.reason : SSE_CLOSE_SHUTDOWN);
    }
}

static void *loop_main(void *arg)
{
    struct sse_loop *loop = arg;
    struct epoll_event evs[EPOLL_BATCH];
    for (;;) {
        int n = epoll_wait(loop->epfd, evs, EPOLL_BATCH, timeout_ms(loop));
        int64_t t0 = sse_now_ns();
        loop->now = t0;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                ssize_t r = read(loop->wakefd, &v, sizeof v);
                (void)r;
                continue;
            }
            on_event(loop, evs[i].data.ptr, evs[i].events);
        }
        take_handovers(loop);
        run_timers(loop);
        if (loop->metrics) {
            /* How long one fan-out to every parked stream takes: the
             * loop's share of an event's latency. */
            sse_metrics_add(&loop->metrics->loop_wakeups, 1);
            sse_metrics_add(&loop->metrics->loop_busy_us,
                            (sse_now_ns() - t0) / 1000);
        }
        pthread_mutex_lock(&loop->mu);
        int quit = loop->quit;
        pthread_mutex_unlock(&loop->mu);
        if (quit)
            break;
    }
    /* The catch-up threads are stopped: every read has come back. */
    take_handovers(loop);
    close_all(loop);
    return NULL;
}

/* --- the interface --- */

int sse_loop_new(const struct sse_config *cfg, struct sse_metrics *metrics,
                 struct sse_fanout *fanout, struct sse_logpool *pool,
                 sse_loop_end_fn end, void *end_ctx, struct sse_loop **out)
{
    struct sse_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return SSE_ENOMEM;
    loop->cfg = cfg;
    loop->metrics = metrics;
    loop->fanout = fanout;
    loop->end = end;
    loop->end_ctx = end_ctx;
    loop->hb_ns = (int64_t)cfg->heartbeat_s * SSE_NS_PER_S;
    loop->write_timeout_ns = (int64_t)cfg->write_timeout_s * SSE_NS_PER_S;
    atomic_init(&loop->nstreams, 0);
    pthread_mutex_init(&loop->mu, NULL);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    int rc = SSE_EIO;
    if (loop->epfd < 0 || loop->wakefd < 0 ||
        epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) != 0)
        goto fail;
    size_t threads = (size_t)cfg->threads / 4;
    if (threads < 1)
        threads = 1;
    if (threads > CATCHUP_THREADS_MAX)
        threads = CATCHUP_THREADS_MAX;
    rc = sse_catchup_new(pool, metrics, threads, (size_t)cfg->batch,
                         on_job_done, loop, &loop->catchup);
    if (rc)
        goto fail;
    sse_fanout_set_waker(fanout, wake, loop);
    *out = loop;
    return 0;
fail:
    sse_loop_free(loop);
    return rc;
}

int sse_loop_start(struct sse_loop *loop)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    int rc = pthread_create(&loop->thread, &attr, loop_main, loop);
    pthread_attr_destroy(&attr);
    if (rc)
        return SSE_EIO;
    loop->started = 1;
    return 0;
}

int sse_loop_park(struct sse_loop *loop, const struct sse_park *p)
{
    struct stream *st = calloc(1, sizeof *st);
    if (!st)
        return SSE_ENOMEM;
    st->conn = p->conn;
    st->sub = p->sub;
    st->next_hb = p->next_heartbeat_ns;
    st->probe_at = INT64_MAX;
    st->end_at = p->end_ns;
    st->end_reason = (unsigned char)p->end_reason;
    st->stall_at = INT64_MAX;
    st->state = S_LIVE;
    st->res = p->res;
    st->res.parked = 0;
    st->res.end_cursor = p->cursor;
    st->info = p->info;
    pthread_mutex_lock(&loop->mu);
    int stopping = loop->stopping || !loop->started;
    if (!stopping) {
        st->next_in = loop->incoming;
        loop->incoming = st;
        atomic_fetch_add(&loop->nstreams, 1);
        if (loop->metrics)
            sse_metrics_add(&loop->metrics->streams_parked, 1);
    }
    pthread_mutex_unlock(&loop->mu);
    if (stopping) {
        free(st);
        return SSE_ECLOSED;
    }
    wake(loop);
    return 0;
}

long long sse_loop_streams(struct sse_loop *loop)
{
    return atomic_load(&loop->nstreams);
}

void sse_loop_stop(struct sse_loop *loop, int wait_ms)
{
    if (!loop->started)
        return;
    pthread_mutex_lock(&loop->mu);
    loop->stopping = 1;
    pthread_mutex_unlock(&loop->mu);
    wake(loop);
    for (int waited = 0; waited < wait_ms; waited += 10) {
        if (atomic_load(&loop->nstreams) == 0)
            break;
        struct timespec ts = {0, 10 * SSE_NS_PER_MS};
        nanosleep(&ts, NULL);
    }
    /* Every read comes back (SSE_ECLOSED if it never started) before the
     * loop closes what is left. */
    sse_catchup_free(loop->catchup);
    loop->catchup = NULL;
    pthread_mutex_lock(&loop->mu);
    loop->quit = 1;
    pthread_mutex_unlock(&loop->mu);
    wake(loop);
    pthread_join(loop->thread, NULL);
    loop->started = 0;
}

void sse_loop_free(struct sse_loop *loop)
{
    if (!loop)
        return;
    assert(!loop->started && loop->nheap == 0 && !loop->incoming);
    sse_catchup_free(loop->catchup);
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    free(loop->heap);
    pthread_mutex_destroy(&loop->mu);
    free(loop);
}
