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

static void serve_ping(struct sse_fanout *fanout, const struct sse_config *cfg,
                       const struct sse_request_vars *vars,
                       struct sse_sink *sink)
{
    struct sse_buf out;
    sse_buf_init(&out, 0);
    int fault = sse_fanout_health(fanout);
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

/* The grants-table rows of a principal, read through a pooled
 * connection. */
static int pool_grants(void *src, const char *principal, int64_t now_ms,
                       sse_access_grant_fn fn, void *ctx)
{
    struct sse_logpool *pool = src;
    struct sse_eventlog *log;
    int rc = sse_logpool_borrow(pool, &log);
    if (rc)
        return rc;
    rc = sse_eventlog_grants(log, principal, now_ms, fn, ctx);
    sse_logpool_return(pool, log, rc != 0);
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
static int allowed(const struct sse_stream_env *env, struct sse_request *req,
                   const struct sse_request_vars *vars, int cors,
                   struct sse_sink *sink)
{
    const struct sse_config *cfg = env->cfg;
    struct sse_metrics *m = env->metrics;
    struct sse_access_decision d;
    int rc = sse_access_decide(cfg->access, req, vars, wall_ms(), pool_grants,
                               env->logpool, &d);
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

void sse_handler_serve(const struct sse_stream_env *env,
                       const struct sse_request_vars *vars,
                       struct sse_sink *sink, int busy)
{
    const struct sse_config *cfg = env->cfg;
    struct sse_metrics *m = env->metrics;
    if (cfg->status_path && path_is(vars->uri, cfg->status_path)) {
        serve_status(m, vars, sink);
        return;
    }
    if (cfg->ping_path && path_is(vars->uri, cfg->ping_path)) {
        serve_ping(env->fanout, cfg, vars, sink);
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
        !allowed(env, &req, vars, cors, sink))
        return;
    /* busy counts threads, which only a stream that keeps its thread holds
     * for long (a long poll, or no loop to park in); a stream that will be
     * parked takes its thread for a hand-shake only, and waits for one
     * rather than being turned away in a burst. Past max-streams: the busy
     * answer, which browsers retry later. */
    int keeps_thread = req.longpoll || !env->loop || !sink->detach;
    if ((busy && keeps_thread) || !sse_stream_admit(env)) {
        if (m)
            sse_metrics_add(&m->busy_rejects, 1);
        sse_stream_busy(cfg, &req, vars, cors, sink);
        return;
    }
    sse_stream_run(env, &req, vars, cors, sink, NULL);
}
