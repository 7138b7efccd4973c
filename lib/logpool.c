/* logpool.c - pooled read-only connections for catch-up reads.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "logpool.h"
#include "sse_error.h"

/* Enough for the catch-ups of a busy process at once; more are opened on
 * demand and closed on return. */
#define POOL_MAX 16
/* collect's "batch full" answer: stop this read, not an error. */
#define BATCH_FULL 1

struct sse_logpool {
    pthread_mutex_t mu;
    char *db;
    int busy_timeout_ms;
    struct sse_eventlog *idle[POOL_MAX]; /* guarded by mu */
    size_t nidle;                        /* guarded by mu */
};

int sse_logpool_new(const char *db, int busy_timeout_ms,
                    struct sse_logpool **out)
{
    struct sse_logpool *p = calloc(1, sizeof *p);
    if (!p)
        return SSE_ENOMEM;
    p->db = strdup(db);
    if (!p->db) {
        free(p);
        return SSE_ENOMEM;
    }
    p->busy_timeout_ms = busy_timeout_ms;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

void sse_logpool_free(struct sse_logpool *p)
{
    if (!p)
        return;
    sse_logpool_clear(p);
    pthread_mutex_destroy(&p->mu);
    free(p->db);
    free(p);
}

int sse_logpool_borrow(struct sse_logpool *p, struct sse_eventlog **log)
{
    pthread_mutex_lock(&p->mu);
    struct sse_eventlog *l = p->nidle ? p->idle[--p->nidle] : NULL;
    pthread_mutex_unlock(&p->mu);
    if (l) {
        *log = l;
        return 0;
    }
    return sse_eventlog_open(p->db, p->busy_timeout_ms, log);
}

void sse_logpool_return(struct sse_logpool *p, struct sse_eventlog *log,
                        int broken)
{
    if (!log)
        return;
    /* Pooled connections hold no snapshot (eventlog.h). */
    assert(!sse_eventlog_reading(log));
    if (!broken && !sse_eventlog_replaced(log)) {
        pthread_mutex_lock(&p->mu);
        if (p->nidle < POOL_MAX) {
            p->idle[p->nidle++] = log;
            log = NULL;
        }
        pthread_mutex_unlock(&p->mu);
    }
    sse_eventlog_close(log);
}

void sse_logpool_clear(struct sse_logpool *p)
{
    struct sse_eventlog *closing[POOL_MAX];
    pthread_mutex_lock(&p->mu);
    size_t n = p->nidle;
    memcpy(closing, p->idle, n * sizeof *closing);
    p->nidle = 0;
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++)
        sse_eventlog_close(closing[i]);
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
