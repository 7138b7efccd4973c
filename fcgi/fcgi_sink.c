/* fcgi_sink.c - a struct sse_sink over a libfcgi request.
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <limits.h>
#include <sys/socket.h>

#include "fcgi_sink.h"
#include "sse_error.h"

static int fcgi_write(void *ctx, const char *p, size_t n)
{
    FCGX_Request *req = ctx;
    if (FCGX_GetError(req->out))
        return SSE_EIO;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (FCGX_PutStr(p, chunk, req->out) != chunk)
            return SSE_EIO;
        p += chunk;
        n -= (size_t)chunk;
    }
    return FCGX_GetError(req->out) ? SSE_EIO : 0;
}

static int fcgi_flush(void *ctx)
{
    FCGX_Request *req = ctx;
    if (FCGX_FFlush(req->out) != 0 || FCGX_GetError(req->out))
        return SSE_EIO;
    return 0;
}

static int fcgi_write_raw(void *ctx, const char *p, size_t n)
{
    FCGX_Request *req = ctx;
    while (n > 0) {
        ssize_t w = send(req->ipcFd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return SSE_EIO; /* includes EAGAIN after SO_SNDTIMEO */
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void sse_fcgi_sink_init(struct sse_sink *sink, FCGX_Request *req)
{
    sink->write = fcgi_write;
    sink->flush = fcgi_flush;
    sink->ctx = req;
    sink->fd = req->ipcFd;
    sink->write_raw = fcgi_write_raw;
    sink->request_id = req->requestId;
}
