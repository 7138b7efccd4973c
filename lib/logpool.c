/* logpool.c - pooled read-only connections for catch-up reads.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encode.h"
#include "logpool.h"
#include "sse_error.h"

/* collect's "batch full" answer: stop this read, not an error. */
#define BATCH_FULL 1

/* Invariants (under mu): nidle <= nopen <= max_open; idle[0..nidle) are
 * open connections nobody holds; nopen counts those, the lent ones and the
 * ones being opened (a slot is taken before the open, outside the lock). */
struct sse_logpool {
    pthread_mutex_t mu;
    pthread_cond_t freed; /* a connection came back, or a slot came free */
    char *db;
    int busy_timeout_ms;
    size_t max_open;
    struct sse_metrics *metrics; /* NULL: none */
    struct sse_eventlog **idle;  /* max_open slots; guarded by mu */
    size_t nidle;                /* guarded by mu */
    size_t nopen;                /* guarded by mu */
};

int sse_logpool_new(const char *db, int busy_timeout_ms, size_t max_open,
                    struct sse_metrics *metrics, struct sse_logpool **out)
{
    assert(max_open >= 1 && max_open <= SSE_LOGPOOL_MAX_OPEN);
    struct sse_logpool *p = calloc(1, sizeof *p);
    if (!p)
        return SSE_ENOMEM;
    p->db = strdup(db);
    p->idle = calloc(max_open, sizeof *p->idle);
    if (!p->db || !p->idle) {
        free(p->idle);
        free(p->db);
        free(p);
        return SSE_ENOMEM;
    }
    p->busy_timeout_ms = busy_timeout_ms;
    p->max_open = max_open;
    p->metrics = metrics;
    pthread_mutex_init(&p->mu, NULL);
    /* Deadlines on the monotonic clock: a wall-clock step must not make a
     * borrower wait longer (or shorter) than the busy timeout. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    *out = p;
    return 0;
}

void sse_logpool_free(struct sse_logpool *p)
{
    if (!p)
        return;
    sse_logpool_clear(p);
    assert(p->nopen == 0); /* every borrowed connection came back */
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    free(p->idle);
    free(p->db);
    free(p);
}

/* Changes nopen (under mu) and the gauge with it. */
static void count_open(struct sse_logpool *p, long long delta)
{
    p->nopen = (size_t)((long long)p->nopen + delta);
    if (p->metrics)
        sse_metrics_add(&p->metrics->db_connections, delta);
}

static void check_invariants(const struct sse_logpool *p)
{
    assert(p->nidle <= p->nopen);
    assert(p->nopen <= p->max_open);
}

int sse_logpool_borrow(struct sse_logpool *p, struct sse_eventlog **log)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += p->busy_timeout_ms / 1000;
    deadline.tv_nsec += (long)(p->busy_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    if (p->metrics && p->nidle == 0 && p->nopen >= p->max_open)
        sse_metrics_add(&p->metrics->db_connection_waits, 1);
    int waited_out = 0;
    while (p->nidle == 0 && p->nopen >= p->max_open && !waited_out)
        waited_out =
            pthread_cond_timedwait(&p->freed, &p->mu, &deadline) == ETIMEDOUT;
    struct sse_eventlog *l = NULL;
    int rc = 0;
    if (p->nidle)
        l = p->idle[--p->nidle];
    else if (p->nopen < p->max_open)
        count_open(p, 1); /* this borrower's slot, opened below */
    else
        rc = SSE_EBUSY;
    check_invariants(p);
    pthread_mutex_unlock(&p->mu);
    if (rc || l) {
        *log = l;
        return rc;
    }
    rc = sse_eventlog_open(p->db, p->busy_timeout_ms, log);
    if (rc) {
        pthread_mutex_lock(&p->mu);
        count_open(p, -1);
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->mu);
    }
    return rc;
}

void sse_logpool_return(struct sse_logpool *p, struct sse_eventlog *log,
                        int broken)
{
    if (!log)
        return;
    /* Pooled connections hold no snapshot (eventlog.h). */
    assert(!sse_eventlog_reading(log));
    int keep = !broken && !sse_eventlog_replaced(log);
    pthread_mutex_lock(&p->mu);
    assert(p->nopen > p->nidle);
    if (keep)
        p->idle[p->nidle++] = log;
    else
        count_open(p, -1);
    check_invariants(p);
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
    if (!keep)
        sse_eventlog_close(log);
}

void sse_logpool_clear(struct sse_logpool *p)
{
    struct sse_eventlog *closing[SSE_LOGPOOL_MAX_OPEN];
    pthread_mutex_lock(&p->mu);
    size_t n = p->nidle;
    memcpy(closing, p->idle, n * sizeof *closing);
    p->nidle = 0;
    count_open(p, -(long long)n);
    check_invariants(p);
    pthread_cond_broadcast(&p->freed);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++)
        sse_eventlog_close(closing[i]);
}

size_t sse_logpool_open_count(struct sse_logpool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->nopen;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* The collecting callback of sse_logpool_read: encodes rows into out until
 * max_bytes are collected, then stops before the next row. Writes nothing
 * to any client: it runs inside the statement. */
struct collect_ctx {
    struct sse_buf *out;
    size_t start; /* out->len before the read */
    size_t max_bytes;
    size_t rows;
};

static int collect(const struct sse_event_row *row, void *ctx)
{
    struct collect_ctx *c = ctx;
    if (c->rows > 0 && c->out->len - c->start >= c->max_bytes)
        return BATCH_FULL;
    int rc = sse_encode_row(c->out, row->id, row->type, row->type_len,
                            row->data, row->data_len);
    if (rc)
        return rc;
    c->rows++;
    return 0;
}

int sse_logpool_read(struct sse_logpool *p,
                     const char (*channels)[SSE_CHANNEL_MAX + 1],
                     size_t nchannels, int64_t after, int64_t upto,
                     size_t max_rows, size_t max_bytes, struct sse_buf *out,
                     struct sse_eventlog_progress *progress)
{
    struct sse_eventlog *log;
    memset(progress, 0, sizeof *progress);
    progress->last_seen = after;
    int rc = sse_logpool_borrow(p, &log);
    if (rc)
        return rc;
    struct collect_ctx c = {
        .out = out, .start = out->len, .max_bytes = max_bytes};
    rc = sse_eventlog_read(log, after, upto, channels, nchannels, max_rows,
                           collect, &c, progress);
    if (rc == BATCH_FULL)
        rc = 0;
    assert(!sse_eventlog_reading(log));
    sse_logpool_return(p, log, rc != 0);
    return rc;
}
