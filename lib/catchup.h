/* catchup.h - catch-up reads for parked streams, on a few threads.
 * SPDX-License-Identifier: MIT
 *
 * A parked stream (loop.h) that fell behind the ring - a slow client, a
 * burst larger than the ring - needs its next events read from the log.
 * The event loop must never wait for SQLite, so it hands each read to one
 * of these threads: one bounded batch (sse_logpool_read: at most `batch`
 * rows and about 256 KiB of encoded events), read into memory with the
 * snapshot released before the job is handed back. The loop writes the
 * batch without blocking and, once it is out, takes from the ring again
 * or asks for the next batch; so a slow client costs one batch of memory
 * and no thread, and the reads of many behind streams queue here instead
 * of all hitting SQLite at once.
 *
 * Thread-safety: sse_catchup_submit from any thread; the done callback
 * runs on a pool thread (or in sse_catchup_free for jobs never started).
 */
#ifndef SSE_CATCHUP_H
#define SSE_CATCHUP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "eventlog.h"
#include "logpool.h"
#include "metrics.h"
#include "request.h"

/* Encoded bytes a batch collects before it stops (plus one event). */
#define SSE_CATCHUP_BYTES ((size_t)256 * 1024)

/* One read, caller storage until its done callback. */
struct sse_catchup_job {
    /* In: the channels (borrowed until done), and the range after < id <=
     * upto. */
    const char *channels[SSE_REQUEST_MAX_CHANNELS];
    size_t nchannels;
    int64_t after, upto;
    void *owner; /* the caller's, untouched */
    /* Out: the events encoded (sse_buf_init'ed by submit), what the read
     * went through, and 0 or the read's error. */
    struct sse_buf out;
    struct sse_eventlog_progress progress;
    int rc;
    struct sse_catchup_job *next; /* private */
};

typedef void (*sse_catchup_done_fn)(void *ctx, struct sse_catchup_job *job);

struct sse_catchup;

/* Creates a pool of up to nthreads threads reading from pool, max_rows
 * rows per batch: one starts now, the others when jobs queue up while all
 * are reading. done(ctx, job) is called once per submitted job. pool,
 * metrics (may be NULL) and ctx are borrowed for the pool's lifetime.
 * Returns 0, SSE_ENOMEM or SSE_EIO (no thread could start). */
int sse_catchup_new(struct sse_logpool *pool, struct sse_metrics *metrics,
                    size_t nthreads, size_t max_rows, sse_catchup_done_fn done,
                    void *ctx, struct sse_catchup **out);

/* Queues job (its out buffer is initialised here). */
void sse_catchup_submit(struct sse_catchup *c, struct sse_catchup_job *job);

/* Stops the threads after the job each is running; jobs still queued are
 * done with rc SSE_ECLOSED. NULL-safe. */
void sse_catchup_free(struct sse_catchup *c);

#endif
