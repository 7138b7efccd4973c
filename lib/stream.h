/* stream.h - one client's event stream (or long poll) from start to end.
 * SPDX-License-Identifier: MIT
 *
 * A session decides where to start (resume id, gap, replay, or the end of
 * the log), writes the headers with "retry:" and a comment in one flush so
 * every web server releases them at once, sends the backlog with bounded
 * reads, then follows the hub: events as they commit (all ready events in
 * one flush), a heartbeat comment when idle, and a clean end (a whole
 * event, then a comment) on lifetime, shutdown or database reset.
 *
 * Output goes through a struct sse_sink, so the session runs the same over
 * libfcgi, a pipe or a test buffer.
 *
 * Backlog and memory: each catch-up batch is read into memory, the read's
 * statement reset (its snapshot released) and the connection returned
 * before any of it is written, so however slowly a client reads it never
 * holds a read transaction open and WAL checkpoints keep completing. A
 * batch is at most `batch` rows and stops at the first row that finds 256
 * KiB of encoded events collected, but always takes one row; a stream's
 * buffer therefore holds less than 256 KiB plus one encoded event, at most
 * sse_encode_event_size(type, SSE_EVENT_DATA_MAX), about 28 MiB for 4 MiB
 * of line breaks, and is given back after such an event has been written.
 * Rows the event log skips as unreadable are passed, not waited on.
 *
 * Thread-safety: one session per thread; the env's objects are shared.
 */
#ifndef SSE_STREAM_H
#define SSE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fanout.h"
#include "logpool.h"
#include "metrics.h"
#include "request.h"
#include "sink.h"

struct sse_loop;

/* The process-wide objects every stream uses; all borrowed. */
struct sse_stream_env {
    const struct sse_config *cfg;
    struct sse_metrics *metrics; /* may be NULL */
    struct sse_fanout *fanout;
    struct sse_logpool *logpool;
    /* NULL: every stream keeps its thread to the end. Otherwise a stream
     * whose sink can detach is parked there once it has caught up (not a
     * long poll, which ends at its first events anyway). */
    struct sse_loop *loop;
};

/* What happened, for the access log and tests. */
struct sse_stream_result {
    int reason;          /* enum sse_close_reason */
    int64_t start_after; /* the id the stream started after */
    int64_t end_cursor;  /* every wanted event <= this was sent */
    int64_t events;      /* events written (gap events included) */
    int64_t bytes;       /* body bytes written */
    int gap;             /* 1 if a sselite-gap event was sent */
    int parked; /* the stream went on in the loop: it has not ended, and
                   the loop reports its end (sse_stream_ended) */
};

/* Who a stream is, for the access log at its end. */
struct sse_stream_info {
    int64_t start_ns;  /* CLOCK_MONOTONIC at the start */
    int resume_source; /* enum sse_resume_source */
    char client[48];   /* REMOTE_ADDR (truncated), or "-" */
};

/* The in-band event type announcing that the resume point is gone. */
#define SSE_GAP_EVENT "sselite-gap"

/* Runs a session for a parsed request with method GET or HEAD; cors is the
 * sse_response_cors classification (not SSE_CORS_DENY). The caller has
 * counted the stream in metrics->streams_active (the max-streams bound);
 * the stream counts itself out when it ends. Returns when the stream has
 * ended, or when it was parked (res->parked: its connection, taken with
 * sink->detach, belongs to the loop now); res (may be NULL) says which and
 * why. Never fails: every fault is reported to the client in-band and in
 * the result. */
void sse_stream_run(const struct sse_stream_env *env,
                    const struct sse_request *req,
                    const struct sse_request_vars *vars, int cors,
                    struct sse_sink *sink, struct sse_stream_result *res);

/* Counts a stream in (metrics->streams_active) unless cfg->max_streams
 * (0: no bound) are open already. Returns 1 when it was counted (then run
 * it with sse_stream_run), 0 when the process is full. */
int sse_stream_admit(const struct sse_stream_env *env);

/* Counts an ended stream out (metrics: streams_active, closed by reason,
 * bytes) and writes its access-log line (when cfg->access_log) with its
 * channels[0..nchannels). Called by sse_stream_run, and by the loop for a
 * parked stream (the signature of sse_loop_end_fn, env as ctx). */
void sse_stream_ended(void *env, const struct sse_stream_info *info,
                      const struct sse_stream_result *res,
                      const char *const *channels, size_t nchannels);

/* Answers a request (parsed: req) that arrived while every thread holds a
 * stream: 200 with a "retry:" of cfg->busy_retry_ms and a comment, so the
 * browser comes back later (a 503 would make it give up for good); HEAD
 * gets the headers only. */
void sse_stream_busy(const struct sse_config *cfg,
                     const struct sse_request *req,
                     const struct sse_request_vars *vars, int cors,
                     struct sse_sink *sink);

#endif
