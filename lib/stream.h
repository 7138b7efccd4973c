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

/* The process-wide objects every stream uses; all borrowed. */
struct sse_stream_env {
    const struct sse_config *cfg;
    struct sse_metrics *metrics; /* may be NULL */
    struct sse_fanout *fanout;
    struct sse_logpool *logpool;
};

/* What happened, for the access log and tests. */
struct sse_stream_result {
    int reason;          /* enum sse_close_reason */
    int64_t start_after; /* the id the stream started after */
    int64_t end_cursor;  /* every wanted event <= this was sent */
    int64_t events;      /* events written (gap events included) */
    int64_t bytes;       /* body bytes written */
    int gap;             /* 1 if a sselite-gap event was sent */
};

/* The in-band event type announcing that the resume point is gone. */
#define SSE_GAP_EVENT "sselite-gap"

/* Runs a session for a parsed request with method GET or HEAD; cors is the
 * sse_response_cors classification (not SSE_CORS_DENY). Returns when the
 * stream has ended; res (may be NULL) says why. Never fails: every fault is
 * reported to the client in-band and in the result. */
void sse_stream_run(const struct sse_stream_env *env,
                    const struct sse_request *req,
                    const struct sse_request_vars *vars, int cors,
                    struct sse_sink *sink, struct sse_stream_result *res);

/* Answers a request (parsed: req) that arrived while every thread holds a
 * stream: 200 with a "retry:" of cfg->busy_retry_ms and a comment, so the
 * browser comes back later (a 503 would make it give up for good); HEAD
 * gets the headers only. */
void sse_stream_busy(const struct sse_config *cfg,
                     const struct sse_request *req,
                     const struct sse_request_vars *vars, int cors,
                     struct sse_sink *sink);

#endif
