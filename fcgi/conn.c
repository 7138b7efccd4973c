/* conn.c - one FastCGI connection's life on a serving thread.
 * SPDX-License-Identifier: MIT
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "fcgi_sink.h"
#include "handler.h"
#include "logging.h"

#define NS_PER_S 1000000000LL
/* libfcgi's own linger time (libfcgiOsClosePollTimeout), here for the
 * whole close instead of for each read. */
#define LINGER_NS (2 * NS_PER_S)

static int ms_until(int64_t deadline_ns)
{
    int64_t left = deadline_ns - sse_now_ns();
    if (left <= 0)
        return 0;
    return (int)((left + 999999) / 1000000);
}

/* Ends our side after a response, then reads until the peer closes, so
 * that input we never read (a STDIN record) does not turn the close into a
 * reset that could destroy the response still in flight; at most
 * LINGER_NS in all. */
static void linger_close(int fd)
{
    if (shutdown(fd, SHUT_WR) == 0) {
        int64_t deadline = sse_now_ns() + LINGER_NS;
        char trash[1024];
        for (;;) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            int ms = ms_until(deadline);
            if (ms == 0 || poll(&p, 1, ms) <= 0 ||
                read(fd, trash, sizeof trash) <= 0)
                break;
        }
    }
    close(fd);
}

/* Waits for the first byte of a kept-alive connection's next request.
 * Returns 1 if one arrived (or the peer closed: libfcgi sees that), 0 if
 * the connection stayed idle for request-timeout. */
static int next_request_arrives(int fd, int timeout_s)
{
    int64_t deadline = sse_now_ns() + (int64_t)timeout_s * NS_PER_S;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ms = ms_until(deadline);
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 1;
        if (n == 0 || errno != EINTR || ms == 0)
            return 0;
    }
}

static void set_receive_timeout(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Lets libfcgi read one request from the open connection req->ipcFd,
 * bounded by the guard or, when the guard cannot be armed (no descriptor
 * left for its duplicate), by a receive timeout on each read. Returns 0
 * with the request's params read, or -1; libfcgi has then closed the
 * connection (req->ipcFd < 0) unless the guard cut it after the params
 * had arrived. */
static int read_request(const struct sse_conn_ctx *ctx, FCGX_Request *req,
                        struct sse_guard *guard, const char *peer)
{
    int timeout_s = ctx->env->cfg->request_timeout_s;
    int64_t start = sse_now_ns();
    int64_t deadline = start + (int64_t)timeout_s * NS_PER_S;
    int guarded = sse_guard_arm(guard, req->ipcFd, deadline) == 0;
    if (!guarded) {
        /* A peer sending a byte now and then can stretch this bound, which
         * holds for each read only; better than none while descriptors
         * are short. libfcgi gives up on EAGAIN like on any read error. */
        sse_log(SSE_LOG_DEBUG,
                "no descriptor to guard the connection from %s (%s): "
                "bounding each read instead",
                peer, strerror(errno));
        set_receive_timeout(req->ipcFd, timeout_s);
    }
    req->keepConnection = 1; /* see conn.h */
    FCGX_Detach(req);
    int rc = FCGX_Accept_r(req);
    int cut = 0;
    if (guarded)
        cut = sse_guard_disarm(guard);
    else if (rc == 0)
        set_receive_timeout(req->ipcFd, 0); /* streams never read again */
    else
        cut = sse_now_ns() >= deadline;
    if (cut && rc == 0)
        FCGX_Free(req, 0); /* the request is lost; keep the fd to close */
    if (cut)
        sse_log(SSE_LOG_WARN,
                "dropped the FastCGI connection from %s: no complete request "
                "within %d s (request-timeout)",
                peer, timeout_s);
    else if (rc < 0)
        sse_log(SSE_LOG_DEBUG,
                "the connection from %s ended without a complete request "
                "(libfcgi: %d)",
                peer, rc);
    return rc < 0 || cut ? -1 : 0;
}

/* The FastCGI params a request uses, and where each goes. */
#define PARAM(name, field)                                                     \
    {                                                                          \
        name, sizeof name - 1, offsetof(struct sse_request_vars, field)        \
    }
static const struct param {
    const char *name;
    size_t len;
    size_t off; /* of its const char * in struct sse_request_vars */
} PARAMS[] = {
    PARAM("REQUEST_METHOD", method),
    PARAM("QUERY_STRING", query),
    PARAM("HTTP_LAST_EVENT_ID", last_event_id),
    PARAM("HTTP_ORIGIN", origin),
    PARAM("HTTP_HOST", host),
    PARAM("HTTPS", https),
    PARAM("HTTP_X_REQUESTOR", requestor),
    PARAM("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", acrh),
    PARAM("REQUEST_URI", uri),
    PARAM("REMOTE_ADDR", remote_addr),
    PARAM("HTTP_COOKIE", cookie),
    PARAM("HTTP_AUTHORIZATION", authorization),
    PARAM("REMOTE_USER", remote_user),
};
#undef PARAM

/* Fills v (all NULL) from the request's params in one pass (FCGX_GetParam
 * would walk them once per name); the first of a name wins, as with
 * FCGX_GetParam. */
static void copy_vars(FCGX_Request *req, struct sse_request_vars *v)
{
    for (char **e = req->envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        size_t len = (size_t)(eq - *e);
        for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++) {
            const char **slot =
                (const char **)(void *)((char *)v + PARAMS[i].off);
            if (PARAMS[i].len == len && !*slot &&
                memcmp(*e, PARAMS[i].name, len) == 0) {
                *slot = eq + 1;
                break;
            }
        }
    }
}

/* Serves one request. Returns 1 when its stream was parked: the
 * connection belongs to the event loop from then on. */
static int serve_request(const struct sse_conn_ctx *ctx, FCGX_Request *req)
{
    struct sse_request_vars vars;
    memset(&vars, 0, sizeof vars);
    copy_vars(req, &vars);
    struct sse_fcgi_sink sink;
    sse_fcgi_sink_init(&sink, req);
    int threads = ctx->env->cfg->threads;
    int busy = threads >= 2 && atomic_load(ctx->busy) >= threads;
    sse_handler_serve(ctx->env, &vars, &sink.sink, busy);
    return sink.detached;
}

void sse_conn_serve(const struct sse_conn_ctx *ctx, FCGX_Request *req,
                    struct sse_guard *guard, int fd, const char *peer)
{
    assert(req->ipcFd < 0 && req->listen_sock < 0);
    /* A blocked write to a client that stopped reading gives up after
     * write-timeout instead of holding this thread for ever. */
    struct timeval tv = {.tv_sec = ctx->env->cfg->write_timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    req->ipcFd = fd;
    int answered = 0; /* a response was just written: linger at close */
    for (int kept = 0;; kept = 1) {
        answered = 0; /* an earlier response is read by now */
        if (kept && !next_request_arrives(req->ipcFd,
                                          ctx->env->cfg->request_timeout_s)) {
            sse_log(SSE_LOG_DEBUG,
                    "closing the kept-alive connection from %s: idle for %d s",
                    peer, ctx->env->cfg->request_timeout_s);
            break;
        }
        if (read_request(ctx, req, guard, peer))
            break;
        int keep = req->keepConnection; /* as the web server asked */
        if (serve_request(ctx, req)) {
            /* Parked: libfcgi's buffers go, the connection stays open for
             * the loop, which ends the response and closes it (even if
             * the web server asked to keep it: the next request would
             * have to come back to a thread). */
            FCGX_Free(req, 0);
            req->ipcFd = -1;
            return;
        }
        answered = 1;
        /* Finish the request but let us close the connection: libfcgi
         * closes it only after a write error (and then at once, detached). */
        req->keepConnection = 1;
        FCGX_Finish_r(req);
        if (!keep || req->ipcFd < 0)
            break;
    }
    if (req->ipcFd >= 0 && answered)
        linger_close(req->ipcFd);
    else if (req->ipcFd >= 0)
        close(req->ipcFd);
    req->ipcFd = -1;
}
