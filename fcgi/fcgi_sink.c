/* fcgi_sink.c - a struct sse_sink over a libfcgi request.
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fcgi_record.h"
#include "fcgi_sink.h"
#include "sse_error.h"

static int fcgi_write(void *ctx, const char *p, size_t n)
{
    struct sse_fcgi_sink *s = ctx;
    FCGX_Stream *out = s->req->out;
    if (FCGX_GetError(out))
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
    if (FCGX_FFlush(s->req->out) != 0 || FCGX_GetError(s->req->out))
        return SSE_EIO;
    return 0;
}

static int fcgi_try_send(void *ctx, const struct iovec *iov, int niov,
                         size_t total)
{
    struct sse_fcgi_sink *s = ctx;
    if (total > SSE_FCGI_RECORD_MAX || niov > SSE_FCGI_IOV_MAX)
        return SSE_ETOOBIG;
    unsigned char hdr[SSE_FCGI_HEADER_LEN];
    sse_fcgi_stdout_header(hdr, s->req->requestId, total);
    struct iovec all[SSE_FCGI_IOV_MAX + 1];
    all[0].iov_base = hdr;
    all[0].iov_len = sizeof hdr;
    memcpy(all + 1, iov, (size_t)niov * sizeof *iov);
    struct msghdr msg = {.msg_iov = all, .msg_iovlen = (size_t)niov + 1};
    ssize_t sent = sendmsg(s->req->ipcFd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    size_t want = total + sizeof hdr;
    if (sent < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                   ? SSE_SINK_FULL
                   : SSE_EIO;
    if ((size_t)sent == want)
        return SSE_SINK_SENT;
    /* The record is started, so its rest must go out before anything else
     * on this connection. */
    s->kept = malloc(want - (size_t)sent);
    if (!s->kept)
        return SSE_EIO; /* cannot finish the record: end the stream */
    s->kept_len = sse_fcgi_iov_rest(all, niov + 1, (size_t)sent, s->kept);
    return SSE_SINK_KEPT;
}

static int fcgi_send_kept(void *ctx)
{
    struct sse_fcgi_sink *s = ctx;
    const char *p = s->kept;
    size_t n = s->kept_len;
    int rc = 0;
    while (n > 0) {
        ssize_t w = send(s->req->ipcFd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = SSE_EIO; /* includes EAGAIN after SO_SNDTIMEO */
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    free(s->kept);
    s->kept = NULL;
    s->kept_len = 0;
    return rc;
}

void sse_fcgi_sink_init(struct sse_fcgi_sink *s, FCGX_Request *req)
{
    memset(s, 0, sizeof *s);
    s->req = req;
    s->sink.write = fcgi_write;
    s->sink.flush = fcgi_flush;
    s->sink.ctx = s;
    s->sink.fd = req->ipcFd;
    s->sink.try_send = fcgi_try_send;
    s->sink.send_kept = fcgi_send_kept;
    s->sink.try_send_max = SSE_FCGI_RECORD_MAX;
}

void sse_fcgi_sink_cleanup(struct sse_fcgi_sink *s)
{
    free(s->kept);
    s->kept = NULL;
    s->kept_len = 0;
}
