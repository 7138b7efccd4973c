/* stream.c - one client's event stream (or long poll) from start to end.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "encode.h"
#include "eventlog.h"
#include "catchup.h"
#include "logging.h"
#include "loop.h"
#include "response.h"
#include "sse_error.h"
#include "stream.h"

#define TAKE_MAX 64
/* A catch-up batch is read into memory before any of it is written; it
 * stops at the first row that finds this many encoded bytes collected. */
#define CATCH_UP_BYTES SSE_CATCHUP_BYTES
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
    struct sse_buf latest; /* replay=latest: encoded events sent first */
    int64_t cursor;
    int failed; /* the sink reported an error: stop writing */
    const struct sse_stream_env *env;
    struct sse_stream_info info;
};

static void put(struct session *s, const char *p, size_t n)
{
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

/* Ends the stream for reason with its closing bytes. */
static void finish(struct session *s, int reason)
{
    sse_response_stream_end(&s->out, s->cfg, reason);
    flush_out(s);
    s->res->reason = reason;
}

/* Sends the rows after the cursor up to the fan-out's head from the log,
 * one bounded batch (sse_logpool_read: read into memory, snapshot released,
 * connection returned, and only then written, so a slow client never holds
 * a read snapshot, which would keep every checkpoint from completing and
 * let the -wal file grow for as long as it read). Returns 0, or an error
 * (fault or write failure). */
static int catch_up(struct session *s)
{
    int64_t upto = sse_fanout_head(s->fanout);
    if (upto < 0)
        return SSE_ECLOSED;
    struct sse_eventlog_progress p;
    int rc = sse_logpool_read(s->logpool, s->req->channels, s->req->nchannels,
                              s->cursor, upto, (size_t)s->cfg->batch,
                              CATCH_UP_BYTES, &s->out, &p);
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

static int latest_row(const struct sse_event_row *row, void *ctx)
{
    struct session *s = ctx;
    int rc = sse_encode_row(&s->latest, row->id, row->type, row->type_len,
                            row->data, row->data_len);
    if (!rc)
        s->res->events++;
    return rc;
}

/* replay=latest: encodes into s->latest the newest row of each channel up
 * to head, in id order; the stream then goes on after head. */
static int plan_latest(struct session *s, struct sse_eventlog *log,
                       int64_t head)
{
    int64_t ids[SSE_REQUEST_MAX_CHANNELS];
    size_t n = 0;
    int rc = sse_eventlog_newest_ids(log, s->req->channels, s->req->nchannels,
                                     head, ids, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = sse_eventlog_read(log, ids[i] - 1, ids[i], NULL, 0, 1, latest_row,
                               s, NULL);
    if (!rc && s->m) {
        sse_metrics_add(&s->m->events_replayed, s->res->events);
        sse_metrics_add(&s->m->events_delivered, s->res->events);
    }
    s->cursor = head;
    return rc;
}

/* A resume point above the head of a hot standby is normal when the client
 * comes from a host that reads the primary: waits, up to resume-wait-ms,
 * for the hub to read that far, so that the stream goes on from it rather
 * than sending a "future" gap and the events again. A rare path (a hop
 * between hosts), so a short poll of the fan-out's head. */
static void wait_for_resume_point(struct session *s, int64_t id)
{
    int64_t deadline =
        sse_now_ns() + (int64_t)s->cfg->resume_wait_ms * SSE_NS_PER_MS;
    while (sse_now_ns() < deadline && !sse_fanout_stopping(s->fanout)) {
        int64_t head = sse_fanout_head(s->fanout);
        if (head < 0 || head >= id)
            return;
        struct timespec ts = {0, 10 * SSE_NS_PER_MS};
        nanosleep(&ts, NULL);
    }
}

/* Works out where the stream starts and whether the resume point is gone.
 * Fills gap_json (empty when there is no gap). */
static int plan_start(struct session *s, char *gap_json, size_t cap)
{
    gap_json[0] = '\0';
    const struct sse_request *req = s->req;
    int64_t replay = req->replay != -1 ? req->replay : s->cfg->replay;
    int64_t covered, hub_oldest, hub_head;
    /* The common cases need no database: a first connect starts at the
     * hub's head, and a resume point inside the ring's window that the
     * hub saw no pruning of is served from the ring. */
    sse_fanout_window(s->fanout, &covered, &hub_oldest, &hub_head);
    if (hub_head >= 0) {
        if (req->resume_source == SSE_RESUME_NONE && replay == 0) {
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
    if (!rc && req->resume_source != SSE_RESUME_NONE && req->resume_id > head &&
        sse_eventlog_lagging(log)) {
        wait_for_resume_point(s, req->resume_id);
        rc = sse_eventlog_bounds(log, &oldest, &head);
    }
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
    } else if (!rc && replay == SSE_REPLAY_LATEST) {
        rc = plan_latest(s, log, head);
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

/* Hands the stream to the loop: its connection (detached from the sink),
 * subscriber, cursor and deadlines. Returns 1 when the loop has it, 0 when
 * the stream must stay with its thread (the sink cannot detach), -1 when it
 * ended (detached, but the loop refused it). */
static int park(struct session *s, struct sse_sub *sub, int64_t next_hb,
                int64_t end, int expiry)
{
    struct sse_conn conn;
    if (s->sink->detach(s->sink->ctx, &conn))
        return 0;
    /* The loop watches the socket itself. */
    sse_fanout_unwatch(s->fanout, sub);
    struct sse_park p = {.conn = conn,
                         .sub = sub,
                         .cursor = s->cursor,
                         .next_heartbeat_ns = next_hb,
                         .end_ns = end,
                         .end_reason =
                             expiry ? SSE_CLOSE_EXPIRED : SSE_CLOSE_LIFETIME,
                         .res = *s->res,
                         .info = s->info};
    int rc = sse_loop_park(s->env->loop, &p);
    if (rc) {
        /* Only at shutdown or without memory: the client reconnects. */
        conn.ops->close(conn.ctx);
        s->res->reason =
            rc == SSE_ECLOSED ? SSE_CLOSE_SHUTDOWN : SSE_CLOSE_WRITE_FAILED;
        return -1;
    }
    s->res->parked = 1;
    return 1;
}

/* A moment between 80% and 100% of span ns from now (uniform): streams
 * given the same lifetime at the same second (a fleet of tokens minted
 * together, a restart) end, and reconnect, spread out. */
static int64_t jittered(int64_t now, int64_t span)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint32_t)now; /* the clock's low bits will do */
    int64_t cut = (int64_t)((double)span * 0.2 * ((double)r / 4294967296.0));
    return now + span - cut;
}

/* Nanoseconds from now until the wall-clock time until_ms; 0 if past. */
static int64_t ns_until(int64_t until_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t left = until_ms - now_ms;
    if (left <= 0)
        return 0;
    return left > INT64_MAX / 2000000 ? INT64_MAX / 2 : left * 1000000;
}

/* When the stream ends by itself: the long-poll timeout, max-lifetime,
 * or the end of its access (access.h), whichever comes first; the latter
 * two jittered. Sets *expiry when it is the access that ends it. */
static int64_t stream_end(const struct session *s, int longpoll, int *expiry)
{
    const struct sse_config *cfg = s->cfg;
    int64_t now = sse_now_ns();
    int64_t end = INT64_MAX;
    *expiry = 0;
    if (longpoll)
        end = now + (int64_t)cfg->longpoll_timeout_s * SSE_NS_PER_S;
    else if (cfg->max_lifetime_s > 0)
        end = jittered(now, (int64_t)cfg->max_lifetime_s * SSE_NS_PER_S);
    if (s->req->access_until_ms > 0) {
        int64_t left = ns_until(s->req->access_until_ms);
        /* A long poll just ends; its next poll meets the refusal. */
        int64_t e = longpoll ? now + left : jittered(now, left);
        if (e < end) {
            end = e;
            *expiry = !longpoll;
        }
    }
    return end;
}

/* Ends the stream at its own end (see stream_end). */
static void end_by_time(struct session *s, int longpoll, int expiry)
{
    if (longpoll) {
        s->res->reason = SSE_CLOSE_LONGPOLL;
        return;
    }
    if (expiry)
        s->res->events++; /* the sselite-auth event */
    finish(s, expiry ? SSE_CLOSE_EXPIRED : SSE_CLOSE_LIFETIME);
}

static void follow(struct session *s, struct sse_sub *sub, int longpoll,
                   int may_park)
{
    const struct sse_config *cfg = s->cfg;
    int expiry;
    int64_t end = stream_end(s, longpoll, &expiry);
    int64_t now = sse_now_ns();
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
        /* Also between catch-up batches: a long backlog must not outlive
         * the access that was granted for it. */
        if (sse_now_ns() >= end) {
            end_by_time(s, longpoll, expiry);
            return;
        }
        size_t n = 0;
        int64_t deadline = longpoll ? end : (next_hb < end ? next_hb : end);
        if (probe_at < deadline)
            deadline = probe_at;
        /* A stream that may park only looks: once nothing is ready, it has
         * caught up and goes to the loop. */
        if (may_park)
            deadline = 0;
        int st = sse_fanout_next(s->fanout, sub, &s->cursor, evs, TAKE_MAX, &n,
                                 deadline);
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
                finish(s, SSE_CLOSE_FAULT);
                sse_log(SSE_LOG_ERROR, "stream: reading the backlog failed: %s",
                        sse_strerror(rc));
                return;
            }
            next_hb = sse_now_ns() + hb_period;
            continue;
        }
        case SSE_FANOUT_HANGUP:
            /* The web server closed our socket, or only half-closed it:
             * a probe write tells the two apart. Over TCP the first write
             * after the peer's FIN still succeeds (the RST comes back as
             * its answer), so a second probe shortly after decides. */
            sse_fanout_unwatch(s->fanout, sub);
            sse_encode_comment(&s->out, "");
            if (flush_out(s)) {
                s->res->reason = SSE_CLOSE_CLIENT_GONE;
                return;
            }
            probe_at = sse_now_ns() + HEARTBEAT_PROBE_NS;
            continue;
        case SSE_FANOUT_RESET:
        case SSE_FANOUT_FAULT:
        case SSE_FANOUT_CLOSED:
            finish(s, st == SSE_FANOUT_RESET   ? SSE_CLOSE_RESET
                      : st == SSE_FANOUT_FAULT ? SSE_CLOSE_FAULT
                                               : SSE_CLOSE_SHUTDOWN);
            return;
        default:
            break;
        }
        if (may_park) {
            int parked = park(s, sub, next_hb, end, expiry);
            if (parked)
                return;
            may_park = 0;
            continue;
        }
        now = sse_now_ns();
        if (now >= end) {
            end_by_time(s, longpoll, expiry);
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
    if (s->req->method != SSE_METHOD_HEAD) {
        char msg[160];
        snprintf(msg, sizeof msg, "error: %s", sse_strerror(rc));
        sse_encode_retry(&s->out, s->cfg->error_retry_ms);
        sse_encode_comment(&s->out, msg);
    }
    flush_out(s);
    s->res->reason = SSE_CLOSE_FAULT;
    if (s->m)
        sse_metrics_add(&s->m->db_faults, 1);
    sse_log(SSE_LOG_ERROR, "stream refused: database '%s': %s", s->cfg->db,
            sse_strerror(rc));
}

/* Sends the headers, the retry and the gap event. Returns 0, or 1 when the
 * stream ended there (HEAD, or the client is gone). */
static int start(struct session *s, const struct sse_request_vars *vars,
                 int cors, const char *gap)
{
    const struct sse_request *req = s->req;
    sse_response_stream_headers(&s->out, s->cfg, vars, cors, req->longpoll);
    if (req->method == SSE_METHOD_HEAD) {
        flush_out(s);
        s->res->reason = SSE_CLOSE_HEAD;
        return 1;
    }
    /* Old XHR-based polyfills parse nothing before 2 KiB have arrived,
     * whether they stream or poll. */
    if (req->padding)
        sse_encode_padding(&s->out, 2048);
    if (!req->longpoll) {
        sse_encode_retry(&s->out, s->cfg->retry_ms);
        sse_encode_comment(&s->out, "sselite stream");
    }
    if (gap[0]) {
        sse_encode_event(&s->out, s->cursor, SSE_GAP_EVENT,
                         sizeof SSE_GAP_EVENT - 1, gap, strlen(gap));
        s->res->events++;
        s->res->gap = 1;
        if (s->m)
            sse_metrics_add(&s->m->gaps, 1);
    }
    if (sse_buf_append(&s->out, s->latest.data, s->latest.len)) {
        finish(s, SSE_CLOSE_FAULT);
        return 1;
    }
    if (flush_out(s)) {
        s->res->reason = SSE_CLOSE_CLIENT_GONE;
        return 1;
    }
    return 0;
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
                        .res = res ? res : &local,
                        .env = env};
    memset(s.res, 0, sizeof *s.res);
    s.info.start_ns = sse_now_ns();
    s.info.resume_source = (int)req->resume_source;
    snprintf(s.info.client, sizeof s.info.client, "%s",
             vars->remote_addr ? vars->remote_addr : "-");
    if (metrics) {
        sse_metrics_add(&metrics->streams_opened, 1);
        if (req->resume_source == SSE_RESUME_HEADER)
            sse_metrics_add(&metrics->resumes_header, 1);
        else if (req->resume_source == SSE_RESUME_QUERY)
            sse_metrics_add(&metrics->resumes_query, 1);
    }
    sse_buf_init(&s.out, 0);
    sse_buf_init(&s.latest, 0);
    char gap[256];
    struct sse_sub *sub = NULL;

    int rc = sse_fanout_health(s.fanout);
    if (!rc)
        rc = plan_start(&s, gap, sizeof gap);
    if (rc) {
        stream_fault(&s, vars, cors, rc);
        goto out;
    }
    s.res->start_after = s.cursor;
    if (start(&s, vars, cors, gap))
        goto out;
    if (sse_fanout_add(s.fanout, req, sink->fd, &sub)) {
        finish(&s, SSE_CLOSE_FAULT);
        goto out;
    }
    int may_park = env->loop && sink->detach && !req->longpoll;
    follow(&s, sub, req->longpoll, may_park);
out:
    s.res->end_cursor = s.cursor;
    sse_buf_cleanup(&s.out);
    sse_buf_cleanup(&s.latest);
    if (s.res->parked)
        return; /* the loop reports the end */
    sse_fanout_remove(s.fanout, sub);
    const char *names[SSE_REQUEST_MAX_CHANNELS];
    for (size_t i = 0; i < req->nchannels; i++)
        names[i] = req->channels[i];
    sse_stream_ended((void *)env, &s.info, s.res, names, req->nchannels);
}

int sse_stream_admit(const struct sse_stream_env *env)
{
    struct sse_metrics *m = env->metrics;
    if (!m)
        return 1;
    long long before = atomic_fetch_add(&m->streams_active, 1);
    if (env->cfg->max_streams > 0 && before >= env->cfg->max_streams) {
        atomic_fetch_sub(&m->streams_active, 1);
        return 0;
    }
    return 1;
}

/* One access-log line for an ended stream. */
static void access_line(const struct sse_stream_info *info,
                        const struct sse_stream_result *res,
                        const char *const *channels, size_t nchannels)
{
    char list[256];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < nchannels && o + 2 < sizeof list; i++) {
        size_t len = strlen(channels[i]);
        if (o + len + 2 >= sizeof list)
            break;
        if (i)
            list[o++] = ',';
        memcpy(list + o, channels[i], len + 1);
        o += len;
    }
    double dur = (double)(sse_now_ns() - info->start_ns) / 1e9;
    static const char *const SOURCES[] = {"none", "header", "query"};
    sse_log(SSE_LOG_INFO,
            "stream end channels=%s resume=%s from=%lld to=%lld events=%lld "
            "bytes=%lld dur=%.3fs reason=%s gap=%d client=%s",
            list, SOURCES[info->resume_source], (long long)res->start_after,
            (long long)res->end_cursor, (long long)res->events,
            (long long)res->bytes, dur, sse_metrics_reason_name(res->reason),
            res->gap, info->client);
}

void sse_stream_ended(void *env, const struct sse_stream_info *info,
                      const struct sse_stream_result *res,
                      const char *const *channels, size_t nchannels)
{
    const struct sse_stream_env *e = env;
    struct sse_metrics *m = e->metrics;
    if (m) {
        sse_metrics_add(&m->streams_active, -1);
        sse_metrics_add(&m->streams_closed[res->reason], 1);
        sse_metrics_add(&m->bytes_written, res->bytes);
    }
    if (e->cfg->access_log)
        access_line(info, res, channels, nchannels);
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
