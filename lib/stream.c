/* stream.c - one client's event stream (or long poll) from start to end.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "encode.h"
#include "eventlog.h"
#include "logging.h"
#include "response.h"
#include "sse_error.h"
#include "stream.h"

#define TAKE_MAX 64
/* A catch-up batch is read into memory before any of it is written; it
 * stops at the first row that finds this many encoded bytes collected. */
#define CATCH_UP_BYTES ((size_t)256 * 1024)
/* backlog_row's "batch full" stop: positive, so no sse_error code. */
#define BATCH_FULL 1
/* Long enough for a vanished client's RST to come back, even over a WAN. */
#define HEARTBEAT_PROBE_NS (250 * 1000000LL)

struct session {
    struct sse_fanout *fanout;
    struct sse_logpool *logpool;
    const struct sse_config *cfg;
    struct sse_metrics *m;
    const struct sse_request *req;
    struct sse_sink *sink;
    struct sse_stream_result *res;
    struct sse_buf out;
    int64_t cursor;
    int failed; /* the sink reported an error: stop writing */
    /* Borrowed during a catch-up read, NULL otherwise: nothing may be
     * written to the client while it holds a statement (see put). */
    struct sse_eventlog *log;
};

static void put(struct session *s, const char *p, size_t n)
{
    /* A write may block on a slow client; a read snapshot held meanwhile
     * would stop every checkpoint. */
    assert(!s->log || !sse_eventlog_reading(s->log));
    if (s->failed || n == 0)
        return;
    if (s->sink->write(s->sink->ctx, p, n)) {
        s->failed = 1;
        return;
    }
    s->res->bytes += (int64_t)n;
}

/* Writes and flushes what is in s->out. Returns 0 or SSE_EIO. */
static int flush_out(struct session *s)
{
    put(s, s->out.data, s->out.len);
    sse_buf_reset(&s->out);
    if (!s->failed && s->sink->flush(s->sink->ctx))
        s->failed = 1;
    return s->failed ? SSE_EIO : 0;
}

/* Ends the stream with a comment (and a retry for faults). */
static void finish(struct session *s, int reason, const char *comment,
                   int64_t retry_ms)
{
    if (retry_ms >= 0)
        sse_encode_retry(&s->out, retry_ms);
    if (comment)
        sse_encode_comment(&s->out, comment);
    flush_out(s);
    s->res->reason = reason;
}

/* The collecting callback of a catch-up read: encodes rows into s->out
 * until the batch holds CATCH_UP_BYTES, then stops before the next row
 * (always taking the first, however large). Writes nothing. */
struct backlog_ctx {
    struct session *s;
    size_t start; /* s->out.len before the batch */
    size_t rows;
};

static int backlog_row(const struct sse_event_row *row, void *ctx)
{
    struct backlog_ctx *b = ctx;
    struct sse_buf *out = &b->s->out;
    if (b->rows > 0 && out->len - b->start >= CATCH_UP_BYTES)
        return BATCH_FULL;
    int rc = sse_encode_row(out, row->id, row->type, row->type_len, row->data,
                            row->data_len);
    if (rc)
        return rc;
    b->rows++;
    return 0;
}

/* Sends the rows after the cursor up to the hub's head from the log, one
 * bounded batch: read into memory, statement reset, connection returned,
 * and only then written, so a slow client never holds a read snapshot (one
 * that did would keep every checkpoint from completing, and the -wal file
 * would grow for as long as it read). Returns 0, or an error (fault or
 * write failure). */
static int catch_up(struct session *s)
{
    int64_t upto = sse_fanout_head(s->fanout);
    if (upto < 0)
        return SSE_ECLOSED;
    int rc = sse_logpool_borrow(s->logpool, &s->log);
    if (rc)
        return rc;
    struct backlog_ctx b = {.s = s, .start = s->out.len};
    struct sse_eventlog_progress p;
    rc = sse_eventlog_read(s->log, s->cursor, upto, s->req->channels,
                           s->req->nchannels, (size_t)s->cfg->batch,
                           backlog_row, &b, &p);
    if (rc == BATCH_FULL)
        rc = 0;
    assert(!sse_eventlog_reading(s->log));
    sse_logpool_return(s->logpool, s->log, rc != 0);
    s->log = NULL;
    s->res->events += (int64_t)p.rows;
    if (s->m) {
        sse_metrics_add(&s->m->db_reads, 1);
        sse_metrics_add(&s->m->events_replayed, (long long)p.rows);
        sse_metrics_add(&s->m->events_delivered, (long long)p.rows);
        sse_metrics_add(&s->m->rows_skipped, (long long)p.skipped);
    }
    /* On an error the rows already encoded still go out, with the fault. */
    s->cursor = p.complete ? upto : p.last_seen;
    if (rc)
        return rc;
    rc = flush_out(s);
    /* One huge event must not pin its buffer for the stream's lifetime. */
    if (s->out.cap > 2 * CATCH_UP_BYTES) {
        sse_buf_cleanup(&s->out);
        sse_buf_init(&s->out, 0);
    }
    return rc;
}

/* Works out where the stream starts and whether the resume point is gone.
 * Fills gap_json (empty when there is no gap). */
static int plan_start(struct session *s, char *gap_json, size_t cap)
{
    gap_json[0] = '\0';
    const struct sse_request *req = s->req;
    int64_t replay = req->replay >= 0 ? req->replay : s->cfg->replay;
    int64_t covered, hub_oldest, hub_head;
    /* The common cases need no database: a first connect starts at the
     * hub's head, and a resume point inside the ring's window that the
     * hub saw no pruning of is served from the ring. */
    sse_fanout_window(s->fanout, &covered, &hub_oldest, &hub_head);
    if (hub_head >= 0) {
        if (req->resume_source == SSE_RESUME_NONE && replay <= 0) {
            s->cursor = hub_head;
            return 0;
        }
        if (req->resume_source != SSE_RESUME_NONE &&
            req->resume_id >= covered && req->resume_id >= hub_oldest - 1 &&
            req->resume_id <= hub_head) {
            s->cursor = req->resume_id;
            return 0;
        }
    }
    struct sse_eventlog *log;
    int rc = sse_logpool_borrow(s->logpool, &log);
    if (rc)
        return rc;
    int64_t oldest, head, through = 0;
    rc = sse_eventlog_bounds(log, &oldest, &head);
    /* Retention prunes channels unevenly, so the log's lowest id is not
     * enough: a resume point below the highest id deleted from one of
     * the stream's channels has lost events too. Read after the bounds,
     * it can only be newer; never past head. */
    if (!rc && req->resume_source != SSE_RESUME_NONE)
        rc = sse_eventlog_pruned_through(log, req->channels, req->nchannels,
                                         &through);
    if (!rc && req->resume_source != SSE_RESUME_NONE) {
        int64_t r = req->resume_id;
        int64_t horizon = oldest - 1 > through ? oldest - 1 : through;
        if (horizon > head)
            horizon = head;
        const char *reason = NULL;
        if (r > head) {
            reason = "future";
            s->cursor = head;
        } else if (r < horizon) {
            reason = "pruned";
            s->cursor = horizon;
        } else {
            s->cursor = r;
        }
        if (reason)
            snprintf(gap_json, cap,
                     "{\"reason\":\"%s\",\"requested\":%" PRId64
                     ",\"resumed_after\":%" PRId64 ",\"oldest\":%" PRId64
                     ",\"head\":%" PRId64 "}",
                     reason, r, s->cursor, oldest, head);
    } else if (!rc) {
        s->cursor = head;
        if (replay > 0)
            rc = sse_eventlog_replay_start(log, req->channels, req->nchannels,
                                           replay, head, &s->cursor);
    }
    sse_logpool_return(s->logpool, log, rc != 0);
    return rc;
}

static void write_events(struct session *s, struct sse_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put(s, evs[i]->bytes, evs[i]->len);
        sse_event_release(evs[i]);
    }
    s->res->events += (int64_t)n;
    if (s->m)
        sse_metrics_add(&s->m->events_delivered, (long long)n);
    if (!s->failed && s->sink->flush(s->sink->ctx))
        s->failed = 1;
}

static void follow(struct session *s, struct sse_sub *sub, int longpoll)
{
    const struct sse_config *cfg = s->cfg;
    int64_t now = sse_now_ns();
    int64_t end = INT64_MAX;
    if (longpoll)
        end = now + (int64_t)cfg->longpoll_timeout_s * SSE_NS_PER_S;
    else if (cfg->max_lifetime_s > 0)
        end = now + (int64_t)cfg->max_lifetime_s * SSE_NS_PER_S;
    int64_t hb_period = (int64_t)cfg->heartbeat_s * SSE_NS_PER_S;
    int64_t next_hb = now + hb_period;
    /* Apache (mod_fcgid, mod_proxy_fcgi) closes our connection only when a
     * write to a vanished client fails, and over TCP the first write after
     * the client left still succeeds: a second, tiny comment shortly after
     * each heartbeat makes it notice within one heartbeat, not two. */
    int64_t probe_at = INT64_MAX;
    struct sse_event *evs[TAKE_MAX];

    for (;;) {
        if (s->failed) {
            s->res->reason = SSE_CLOSE_WRITE_FAILED;
            return;
        }
        if (longpoll && s->res->events > 0) {
            s->res->reason = SSE_CLOSE_LONGPOLL;
            return;
        }
        size_t n = 0;
        int64_t deadline = longpoll ? end : (next_hb < end ? next_hb : end);
        if (probe_at < deadline)
            deadline = probe_at;
        int st = sse_fanout_next(s->fanout, sub, &s->cursor, evs, TAKE_MAX, &n,
                                 deadline);
        /* Events the fan-out wrote for us while we slept count as
         * activity. */
        struct sse_fanout_direct d;
        sse_fanout_direct_stats(s->fanout, sub, &d);
        if (d.last_write_ns && d.last_write_ns + hb_period > next_hb)
            next_hb = d.last_write_ns + hb_period;
        if (n) {
            write_events(s, evs, n);
            next_hb = sse_now_ns() + hb_period;
            continue;
        }
        switch (st) {
        case SSE_FANOUT_BEHIND: {
            int rc = catch_up(s);
            if (rc == SSE_EIO)
                continue;
            if (rc) {
                finish(s, SSE_CLOSE_FAULT,
                       "error: database cannot be read, retry later",
                       cfg->error_retry_ms);
                sse_log(SSE_LOG_ERROR, "stream: reading the backlog failed: %s",
                        sse_strerror(rc));
                return;
            }
            next_hb = sse_now_ns() + hb_period;
            continue;
        }
        case SSE_FANOUT_KEPT:
            /* The rest of a write the fan-out started for us. */
            if (s->sink->send_kept(s->sink->ctx)) {
                s->failed = 1;
                continue;
            }
            next_hb = sse_now_ns() + hb_period;
            continue;
        case SSE_FANOUT_HANGUP:
            /* The web server closed our socket, or only half-closed it:
             * a probe write tells the two apart. */
            sse_fanout_unwatch(s->fanout, sub);
            sse_encode_comment(&s->out, "");
            if (flush_out(s)) {
                s->res->reason = SSE_CLOSE_CLIENT_GONE;
                return;
            }
            continue;
        case SSE_FANOUT_RESET:
            finish(s, SSE_CLOSE_RESET, "database replaced, reconnect", -1);
            return;
        case SSE_FANOUT_FAULT:
            finish(s, SSE_CLOSE_FAULT,
                   "error: database cannot be read, retry later",
                   cfg->error_retry_ms);
            return;
        case SSE_FANOUT_CLOSED:
            finish(s, SSE_CLOSE_SHUTDOWN, "server shutting down, reconnect",
                   -1);
            return;
        default:
            break;
        }
        now = sse_now_ns();
        if (now >= end) {
            if (longpoll)
                s->res->reason = SSE_CLOSE_LONGPOLL;
            else
                finish(s, SSE_CLOSE_LIFETIME,
                       "stream lifetime reached, reconnect", -1);
            return;
        }
        if (now >= probe_at) {
            sse_encode_comment(&s->out, "");
            flush_out(s);
            probe_at = INT64_MAX;
        }
        if (!longpoll && now >= next_hb) {
            sse_encode_comment(&s->out, "heartbeat");
            flush_out(s);
            if (s->m)
                sse_metrics_add(&s->m->heartbeats, 1);
            next_hb = now + hb_period;
            probe_at = now + HEARTBEAT_PROBE_NS;
        }
    }
}

static void stream_fault(struct session *s, const struct sse_request_vars *vars,
                         int cors, int rc)
{
    int longpoll = s->req->longpoll;
    sse_response_stream_headers(&s->out, s->cfg, vars, cors, longpoll);
    if (s->req->method == SSE_METHOD_HEAD) {
        flush_out(s);
        s->res->reason = SSE_CLOSE_FAULT;
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "error: %s", sse_strerror(rc));
        finish(s, SSE_CLOSE_FAULT, msg, s->cfg->error_retry_ms);
    }
    if (s->m)
        sse_metrics_add(&s->m->db_faults, 1);
    sse_log(SSE_LOG_ERROR, "stream refused: database '%s': %s", s->cfg->db,
            sse_strerror(rc));
}

void sse_stream_run(const struct sse_stream_env *env,
                    const struct sse_request *req,
                    const struct sse_request_vars *vars, int cors,
                    struct sse_sink *sink, struct sse_stream_result *res)
{
    const struct sse_config *cfg = env->cfg;
    struct sse_metrics *metrics = env->metrics;
    struct sse_stream_result local;
    struct session s = {.fanout = env->fanout,
                        .logpool = env->logpool,
                        .cfg = cfg,
                        .m = metrics,
                        .req = req,
                        .sink = sink,
                        .res = res ? res : &local};
    memset(s.res, 0, sizeof *s.res);
    sse_buf_init(&s.out, 0);
    int longpoll = req->longpoll;
    char gap[256];

    int rc = sse_fanout_health(s.fanout);
    if (!rc)
        rc = plan_start(&s, gap, sizeof gap);
    if (rc) {
        stream_fault(&s, vars, cors, rc);
        goto out;
    }
    s.res->start_after = s.cursor;
    sse_response_stream_headers(&s.out, cfg, vars, cors, longpoll);
    if (req->method == SSE_METHOD_HEAD) {
        flush_out(&s);
        s.res->reason = SSE_CLOSE_HEAD;
        goto out;
    }
    /* Old XHR-based polyfills parse nothing before 2 KiB have arrived,
     * whether they stream or poll. */
    if (req->padding)
        sse_encode_padding(&s.out, 2048);
    if (!longpoll) {
        sse_encode_retry(&s.out, cfg->retry_ms);
        sse_encode_comment(&s.out, "sselite stream");
    }
    if (gap[0]) {
        sse_encode_event(&s.out, s.cursor, SSE_GAP_EVENT,
                         sizeof SSE_GAP_EVENT - 1, gap, strlen(gap));
        s.res->events++;
        s.res->gap = 1;
        if (metrics)
            sse_metrics_add(&metrics->gaps, 1);
    }
    if (flush_out(&s)) {
        s.res->reason = SSE_CLOSE_CLIENT_GONE;
        goto out;
    }
    struct sse_sub *sub;
    if (sse_fanout_add(s.fanout, req, sink->fd, &sub)) {
        finish(&s, SSE_CLOSE_FAULT, "error: out of memory",
               cfg->error_retry_ms);
        goto out;
    }
    if (!longpoll && sink->try_send)
        sse_fanout_allow_direct(s.fanout, sub, sink);
    follow(&s, sub, longpoll);
    struct sse_fanout_direct d;
    sse_fanout_direct_stats(s.fanout, sub, &d);
    s.res->events += d.events;
    s.res->bytes += d.bytes;
    sse_fanout_remove(s.fanout, sub);
out:
    s.res->end_cursor = s.cursor;
    sse_buf_cleanup(&s.out);
}

void sse_stream_busy(const struct sse_config *cfg,
                     const struct sse_request *req,
                     const struct sse_request_vars *vars, int cors,
                     struct sse_sink *sink)
{
    struct sse_buf out;
    sse_buf_init(&out, 0);
    int rc = sse_response_stream_headers(&out, cfg, vars, cors, req->longpoll);
    if (!rc && req->method != SSE_METHOD_HEAD)
        rc = sse_encode_retry(&out, cfg->busy_retry_ms);
    if (!rc && req->method != SSE_METHOD_HEAD)
        rc = sse_encode_comment(
            &out, "busy: every stream slot is taken, retry later");
    if (!rc && !sink->write(sink->ctx, out.data, out.len))
        sink->flush(sink->ctx);
    sse_buf_cleanup(&out);
}
