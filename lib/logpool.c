/* logpool.c - pooled read-only connections for catch-up reads.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "logpool.h"
#include "sse_error.h"

/* Enough for the catch-ups of a busy process at once; more are opened on
 * demand and closed on return. */
#define POOL_MAX 16

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
