/* catchup.c - catch-up reads for parked streams, on a few threads.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "catchup.h"
#include "sse_error.h"

#define THREAD_STACK (256 * 1024)

struct sse_catchup {
    struct sse_logpool *pool;
    struct sse_metrics *metrics;
    size_t max_rows;
    sse_catchup_done_fn done;
    void *ctx;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct sse_catchup_job *head, *tail; /* guarded by mu */
    int stopping;                        /* guarded by mu */
    size_t idle;                         /* guarded by mu: waiting workers */

    /* Started on demand, up to max_threads: a worker whose streams never
     * fall behind runs none. Guarded by mu. */
    pthread_t *threads;
    size_t nthreads, max_threads;
};

static void run_job(struct sse_catchup *c, struct sse_catchup_job *job)
{
    /* The log reader takes channels in the request's fixed layout. */
    char names[SSE_REQUEST_MAX_CHANNELS][SSE_CHANNEL_MAX + 1];
    assert(job->nchannels <= SSE_REQUEST_MAX_CHANNELS);
    for (size_t i = 0; i < job->nchannels; i++) {
        size_t len = strlen(job->channels[i]);
        assert(len <= SSE_CHANNEL_MAX);
        memcpy(names[i], job->channels[i], len + 1);
    }
    /* Adding const through a pointer to array needs a cast before C23. */
    const char(*cnames)[SSE_CHANNEL_MAX + 1] =
        (const char(*)[SSE_CHANNEL_MAX + 1]) names;
    job->rc = sse_logpool_read(c->pool, cnames, job->nchannels, job->after,
                               job->upto, c->max_rows, SSE_CATCHUP_BYTES,
                               &job->out, &job->progress);
    if (c->metrics) {
        sse_metrics_add(&c->metrics->db_reads, 1);
        sse_metrics_add(&c->metrics->rows_skipped,
                        (long long)job->progress.skipped);
        if (job->rc)
            sse_metrics_add(&c->metrics->db_faults, 1);
    }
}

static void *worker(void *arg)
{
    struct sse_catchup *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        c->idle++;
        while (!c->head && !c->stopping)
            pthread_cond_wait(&c->cond, &c->mu);
        c->idle--;
        if (c->stopping)
            break;
        struct sse_catchup_job *job = c->head;
        c->head = job->next;
        if (!c->head)
            c->tail = NULL;
        pthread_mutex_unlock(&c->mu);
        run_job(c, job);
        c->done(c->ctx, job);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Starts one more worker. Called with mu held. Returns 0 or SSE_EIO. */
static int start_worker(struct sse_catchup *c)
{
    assert(c->nthreads < c->max_threads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    int rc = pthread_create(&c->threads[c->nthreads], &attr, worker, c);
    pthread_attr_destroy(&attr);
    if (rc)
        return SSE_EIO;
    c->nthreads++;
    return 0;
}

int sse_catchup_new(struct sse_logpool *pool, struct sse_metrics *metrics,
                    size_t nthreads, size_t max_rows, sse_catchup_done_fn done,
                    void *ctx, struct sse_catchup **out)
{
    assert(nthreads > 0 && max_rows > 0);
    struct sse_catchup *c = calloc(1, sizeof *c);
    if (!c)
        return SSE_ENOMEM;
    c->threads = calloc(nthreads, sizeof *c->threads);
    if (!c->threads) {
        free(c);
        return SSE_ENOMEM;
    }
    c->pool = pool;
    c->metrics = metrics;
    c->max_rows = max_rows;
    c->done = done;
    c->ctx = ctx;
    c->max_threads = nthreads;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    /* One now, so that a failure to start threads shows at start. */
    pthread_mutex_lock(&c->mu);
    int rc = start_worker(c);
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        sse_catchup_free(c);
        return SSE_EIO;
    }
    *out = c;
    return 0;
}

void sse_catchup_submit(struct sse_catchup *c, struct sse_catchup_job *job)
{
    sse_buf_init(&job->out, 0);
    memset(&job->progress, 0, sizeof job->progress);
    job->progress.last_seen = job->after;
    job->rc = 0;
    job->next = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->tail)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    /* A queued job waits only while max_threads reads are running. A
     * failed start leaves the job to the running workers. */
    if (c->idle == 0 && c->nthreads < c->max_threads)
        start_worker(c);
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

void sse_catchup_free(struct sse_catchup *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_broadcast(&c->cond);
    size_t n = c->nthreads;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++)
        pthread_join(c->threads[i], NULL);
    while (c->head) {
        struct sse_catchup_job *job = c->head;
        c->head = job->next;
        job->rc = SSE_ECLOSED;
        c->done(c->ctx, job);
    }
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    free(c->threads);
    free(c);
}
