/* handler.c - serve one FastCGI request: route, validate, answer.
 * SPDX-License-Identifier: MIT
 */
#include <string.h>
#include <time.h>

#include "access.h"
#include "buf.h"
#include "encode.h"
#include "handler.h"
#include "logging.h"
#include "response.h"
#include "sse_error.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

/* Returns 1 if the path part of uri (before '?') equals path. */
static int path_is(const char *uri, const char *path)
{
    if (!uri || !path)
        return 0;
    size_t n = strcspn(uri, "?");
    return n == strlen(path) && memcmp(uri, path, n) == 0;
}

static void send_buf(struct sse_sink *sink, struct sse_buf *b)
{
    if (!sink->write(sink->ctx, b->data, b->len))
        sink->flush(sink->ctx);
}

static void serve_status(struct sse_metrics *m,
                         const struct sse_request_vars *vars,
                         struct sse_sink *sink)
{
    const char *q = vars->query ? vars->query : "";
    int format = SSE_METRICS_TEXT;
    const char *type = "text/plain; charset=utf-8";
    if (strstr(q, "json")) {
        format = SSE_METRICS_JSON;
        type = "application/json";
    } else if (strstr(q, "prometheus") || strstr(q, "openmetrics")) {
        format = SSE_METRICS_PROMETHEUS;
        type = "text/plain; version=0.0.4; charset=utf-8";
    }
    struct sse_buf body, out;
    sse_buf_init(&body, 0);
    sse_buf_init(&out, 0);
    if (!sse_metrics_render(m, format, PACKAGE_VERSION, &body) &&
        !sse_response_body(&out, type, body.data, body.len, 0))
        send_buf(sink, &out);
    sse_buf_cleanup(&body);
    sse_buf_cleanup(&out);
}

static void serve_ping(struct sse_hub *hub, const struct sse_config *cfg,
                       const struct sse_request_vars *vars,
                       struct sse_sink *sink)
{
    struct sse_buf out;
    sse_buf_init(&out, 0);
    int fault = sse_hub_head(hub) < 0 ? sse_hub_fault(hub) : 0;
    if (!fault)
        sse_response_body(&out, "text/plain; charset=utf-8", "pong\n", 5, 0);
    else
        sse_response_error(&out, cfg, vars, SSE_CORS_NONE, 503,
                           sse_strerror(fault), 0);
    send_buf(sink, &out);
    sse_buf_cleanup(&out);
}

static void refuse(const struct sse_config *cfg, struct sse_metrics *m,
                   const struct sse_request_vars *vars, int cors, int status,
                   const char *reason, struct sse_sink *sink)
{
    struct sse_buf out;
    sse_buf_init(&out, 0);
    int head = vars->method && strcmp(vars->method, "HEAD") == 0;
    if (!sse_response_error(&out, cfg, vars, cors, status, reason, head))
        send_buf(sink, &out);
    sse_buf_cleanup(&out);
    if (m)
        sse_metrics_add(&m->requests_refused, 1);
    sse_log(SSE_LOG_INFO, "refused status=%d reason=\"%s\" client=%s", status,
            reason, vars->remote_addr ? vars->remote_addr : "-");
}

static void access_line(const struct sse_request *req,
                        const struct sse_request_vars *vars,
                        const struct sse_stream_result *res, int64_t start_ns)
{
    char channels[256];
    size_t o = 0;
    channels[0] = '\0';
    for (size_t i = 0; i < req->nchannels && o + 2 < sizeof channels; i++) {
        size_t len = strlen(req->channels[i]);
        if (o + len + 2 >= sizeof channels)
            break;
        if (i)
            channels[o++] = ',';
        memcpy(channels + o, req->channels[i], len + 1);
        o += len;
    }
    double dur = (double)(sse_hub_now_ns() - start_ns) / 1e9;
    static const char *const SOURCES[] = {"none", "header", "query"};
    sse_log(SSE_LOG_INFO,
            "stream end channels=%s resume=%s from=%lld to=%lld events=%lld "
            "bytes=%lld "
            "dur=%.3fs reason=%s gap=%d client=%s",
            channels, SOURCES[req->resume_source], (long long)res->start_after,
            (long long)res->end_cursor, (long long)res->events,
            (long long)res->bytes, dur, sse_metrics_reason_name(res->reason),
            res->gap, vars->remote_addr ? vars->remote_addr : "-");
}

/* The grants-table rows of a principal, read through a pooled
 * connection of the hub. */
static int hub_grants(void *src, const char *principal, int64_t now_ms,
                      sse_access_grant_fn fn, void *ctx)
{
    struct sse_hub *hub = src;
    struct sse_eventlog *log;
    int rc = sse_hub_log_borrow(hub, &log);
    if (rc)
        return rc;
    rc = sse_eventlog_grants(log, principal, now_ms, fn, ctx);
    sse_hub_log_return(hub, log, rc != 0);
    return rc;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the access decision for req. Returns 1 when it may be served
 * (req's access_until_ms set), 0 after answering: 401/403 with the
 * one-line reason, or, when the grants cannot be read, a fault answer
 * (200, the error retry, a comment) so the browser comes back later
 * instead of giving up. */
static int allowed(struct sse_hub *hub, const struct sse_config *cfg,
                   struct sse_metrics *m, struct sse_request *req,
                   const struct sse_request_vars *vars, int cors,
                   struct sse_sink *sink)
{
    struct sse_access_decision d;
    int rc = sse_access_decide(cfg->access, req, vars, wall_ms(), hub_grants,
                               hub, &d);
    if (rc) {
        struct sse_buf out;
        sse_buf_init(&out, 0);
        if (!sse_response_stream_headers(&out, cfg, vars, cors,
                                         req->longpoll) &&
            !sse_encode_retry(&out, cfg->error_retry_ms) &&
            !sse_encode_comment(&out, "error: access grants cannot be read, "
                                      "retry later"))
            send_buf(sink, &out);
        sse_buf_cleanup(&out);
        if (m)
            sse_metrics_add(&m->db_faults, 1);
        sse_log(SSE_LOG_ERROR, "access: reading grants failed: %s",
                sse_strerror(rc));
        return 0;
    }
    if (d.status) {
        if (m)
            sse_metrics_add(&m->access_refused[d.refusal], 1);
        refuse(cfg, m, vars, cors, d.status, d.reason, sink);
        return 0;
    }
    req->access_until_ms = d.until_ms == INT64_MAX ? 0 : d.until_ms;
    return 1;
}

void sse_handler_serve(struct sse_hub *hub, const struct sse_config *cfg,
                       struct sse_metrics *m,
                       const struct sse_request_vars *vars,
                       struct sse_sink *sink, int busy)
{
    if (cfg->status_path && path_is(vars->uri, cfg->status_path)) {
        serve_status(m, vars, sink);
        return;
    }
    if (cfg->ping_path && path_is(vars->uri, cfg->ping_path)) {
        serve_ping(hub, cfg, vars, sink);
        return;
    }
    int cors = sse_response_cors(cfg, vars);
    struct sse_request req;
    struct sse_request_error err;
    if (sse_request_parse(vars, &req, &err)) {
        refuse(cfg, m, vars, cors == SSE_CORS_DENY ? SSE_CORS_NONE : cors,
               err.status, err.reason, sink);
        return;
    }
    if (req.method == SSE_METHOD_OPTIONS) {
        struct sse_buf out;
        sse_buf_init(&out, 0);
        if (!sse_response_preflight(&out, cfg, vars, cors))
            send_buf(sink, &out);
        sse_buf_cleanup(&out);
        return;
    }
    if (cors == SSE_CORS_DENY) {
        refuse(cfg, m, vars, SSE_CORS_NONE, 403,
               "origin not allowed: add it to cors-origins", sink);
        return;
    }
    if (cfg->access && sse_access_enabled(cfg->access) &&
        !allowed(hub, cfg, m, &req, vars, cors, sink))
        return;
    if (busy) {
        if (m)
            sse_metrics_add(&m->busy_rejects, 1);
        sse_stream_busy(cfg, &req, vars, cors, sink);
        return;
    }
    if (m) {
        sse_metrics_add(&m->streams_active, 1);
        sse_metrics_add(&m->streams_opened, 1);
        if (req.resume_source == SSE_RESUME_HEADER)
            sse_metrics_add(&m->resumes_header, 1);
        else if (req.resume_source == SSE_RESUME_QUERY)
            sse_metrics_add(&m->resumes_query, 1);
    }
    int64_t start = sse_hub_now_ns();
    struct sse_stream_result res;
    sse_stream_run(hub, cfg, m, &req, vars, cors, sink, &res);
    if (m) {
        sse_metrics_add(&m->streams_active, -1);
        sse_metrics_add(&m->streams_closed[res.reason], 1);
        sse_metrics_add(&m->bytes_written, res.bytes);
    }
    if (cfg->access_log)
        access_line(&req, vars, &res, start);
}
