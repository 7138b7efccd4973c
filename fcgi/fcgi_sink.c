/* fcgi_sink.c - a struct sse_sink over a libfcgi request.
 * SPDX-License-Identifier: MIT
 */
#include <limits.h>
#include <string.h>

#include "fcgi_conn.h"
#include "fcgi_sink.h"
#include "sse_error.h"

static int fcgi_write(void *ctx, const char *p, size_t n)
{
    struct sse_fcgi_sink *s = ctx;
    FCGX_Stream *out = s->req->out;
    if (s->detached || FCGX_GetError(out))
        return SSE_EIO;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (FCGX_PutStr(p, chunk, out) != chunk)
            return SSE_EIO;
        p += chunk;
        n -= (size_t)chunk;
    }
    return FCGX_GetError(out) ? SSE_EIO : 0;
}

static int fcgi_flush(void *ctx)
{
    struct sse_fcgi_sink *s = ctx;
    if (s->detached || FCGX_FFlush(s->req->out) != 0 ||
        FCGX_GetError(s->req->out))
        return SSE_EIO;
    return 0;
}

static int fcgi_detach(void *ctx, struct sse_conn *out)
{
    struct sse_fcgi_sink *s = ctx;
    FCGX_Request *req = s->req;
    /* Anything still in libfcgi's buffer would be lost. */
    if (s->detached || FCGX_FFlush(req->out) != 0 || FCGX_GetError(req->out))
        return SSE_EIO;
    int rc = sse_fcgi_conn_new(req->ipcFd, req->requestId, out);
    if (rc)
        return rc;
    s->detached = 1;
    return 0;
}

void sse_fcgi_sink_init(struct sse_fcgi_sink *s, FCGX_Request *req)
{
    memset(s, 0, sizeof *s);
    s->req = req;
    s->sink.write = fcgi_write;
    s->sink.flush = fcgi_flush;
    s->sink.ctx = s;
    s->sink.fd = req->ipcFd;
    s->sink.detach = fcgi_detach;
}
