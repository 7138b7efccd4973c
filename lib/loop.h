/* loop.h - streams without a thread: one event loop per worker process.
 * SPDX-License-Identifier: MIT
 *
 * Almost every stream is idle almost all the time: caught up, waiting for
 * the next row. Such a stream needs no thread, only its connection and a
 * small struct. A stream's thread runs the hand-shake (headers, backlog),
 * and once the stream has caught up it parks it here with everything the
 * stream needs - its connection (detached from the sink), FastCGI request
 * id and framing inside that connection, its subscriber and cursor, its
 * heartbeat, probe and lifetime deadlines and its counters - and goes back
 * to accepting requests.
 *
 * One thread runs the loop (epoll). It writes new events to parked streams
 * (the ring's shared bytes, never copied), heartbeats and the probe after
 * each one, notices a web server that hung up (at once, or at the next
 * write), ends a stream after a whole event at max-lifetime, on a fault, a
 * reset or shutdown, and writes the closing records itself. No write ever
 * blocks: a socket that is full keeps the stream's queue (event references
 * and at most one catch-up batch) and the loop waits for EPOLLOUT; a stream
 * whose socket stays full for write-timeout is dropped. A stream that falls
 * behind the ring is read from the log by a catch-up thread (catchup.h), a
 * bounded batch at a time, and then takes from the ring again: its one
 * cursor lives in the fan-out throughout, so nothing is skipped or sent
 * twice across the hand-overs.
 *
 * Thread-safety: sse_loop_park and sse_loop_streams from any thread; the
 * rest from the thread that created the loop.
 */
#ifndef SSE_LOOP_H
#define SSE_LOOP_H

#include <stdint.h>

#include "config.h"
#include "fanout.h"
#include "logpool.h"
#include "metrics.h"
#include "sink.h"
#include "stream.h"

struct sse_loop;

/* Called on the loop's thread when a parked stream has ended (see
 * sse_stream_ended): channels[0..nchannels) are its channels. The stream
 * still counts in sse_loop_streams (and streams_parked) while this runs;
 * both fall just after it returns. */
typedef void (*sse_loop_end_fn)(void *ctx, const struct sse_stream_info *info,
                                const struct sse_stream_result *res,
                                const char *const *channels, size_t nchannels);

/* Creates a loop writing streams of cfg (heartbeat, max-lifetime,
 * write-timeout, batch, threads: up to a quarter of them, at least 1 and at
 * most 8, read catch-ups) that subscribe to fanout, reading catch-ups from
 * pool; end(end_ctx, ...) reports each ended stream. Everything is
 * borrowed for the loop's lifetime. Installs the loop as fanout's waker.
 * Does not start the thread. Errors: SSE_ENOMEM, SSE_EIO. */
int sse_loop_new(const struct sse_config *cfg, struct sse_metrics *metrics,
                 struct sse_fanout *fanout, struct sse_logpool *pool,
                 sse_loop_end_fn end, void *end_ctx, struct sse_loop **out);

/* Starts the loop's thread. Returns 0 or SSE_EIO. */
int sse_loop_start(struct sse_loop *loop);

/* What a stream's thread hands over. */
struct sse_park {
    struct sse_conn conn;      /* moved into the loop */
    struct sse_sub *sub;       /* moved: added with fd -1, or unwatched */
    int64_t cursor;            /* every wanted event up to here was sent */
    int64_t next_heartbeat_ns; /* CLOCK_MONOTONIC */
    int64_t end_ns;            /* its own end; INT64_MAX: none */
    int end_reason;            /* what ends it at end_ns: SSE_CLOSE_LIFETIME, or
                                  SSE_CLOSE_EXPIRED when its access runs out first */
    struct sse_stream_result res; /* the counters so far */
    struct sse_stream_info info;
};

/* Takes a stream over. Returns 0: the loop owns p->conn and p->sub from now
 * on and reports the stream's end. Or SSE_ECLOSED (the loop is stopping) or
 * SSE_ENOMEM: nothing was taken. */
int sse_loop_park(struct sse_loop *loop, const struct sse_park *p);

/* Streams parked now (handed over and not yet ended). */
long long sse_loop_streams(struct sse_loop *loop);

/* Ends every parked stream (as at shutdown: the closing comment and
 * records), waits up to wait_ms for their last bytes to go out, closes the
 * rest, and stops the thread and the catch-up threads. */
void sse_loop_stop(struct sse_loop *loop, int wait_ms);

/* Frees the loop (after sse_loop_stop, or never started). NULL-safe. */
void sse_loop_free(struct sse_loop *loop);

#endif
