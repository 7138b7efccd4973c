/* sink.h - where a stream's bytes go: the interface the transport provides.
 * SPDX-License-Identifier: MIT
 *
 * lib/ writes SSE bytes; how they reach the web server (libfcgi's buffered
 * stream, FastCGI records written straight to the socket, a test buffer) is
 * the sink's business. fcgi/fcgi_sink.c is the one real sink; lib/ knows no
 * FastCGI constant.
 *
 * Thread-safety: a sink belongs to the thread serving its request, except
 * that try_send may be called by the fan-out's thread while that thread
 * sleeps in sse_fanout_next (the fan-out's mutex orders the two).
 */
#ifndef SSE_SINK_H
#define SSE_SINK_H

#include <stddef.h>
#include <sys/uio.h>

/* What try_send did besides failing. */
enum sse_sink_sent {
    SSE_SINK_SENT = 0, /* every byte is on its way */
    SSE_SINK_KEPT = 1, /* some were sent; the sink keeps the rest, which
                          send_kept must send before anything else */
    SSE_SINK_FULL = 2  /* nothing was sent: the socket is full */
};

struct sse_sink {
    /* Buffers bytes (may block up to the write timeout); 0 or SSE_EIO once
     * the client is gone. */
    int (*write)(void *ctx, const char *p, size_t n);
    /* Pushes buffered bytes to the web server; 0 or SSE_EIO. */
    int (*flush)(void *ctx);
    void *ctx;
    int fd; /* the socket to watch for hang-up, or -1 */

    /* Optional (NULL for a sink without a socket of its own). try_send
     * sends the bytes of iov (total bytes in all, nothing buffered by write
     * in between) without blocking, as one unit the web server passes on
     * as it is: an enum sse_sink_sent, SSE_ETOOBIG (nothing sent: more than
     * try_send_max bytes) or SSE_EIO. send_kept sends the rest try_send
     * kept, blocking up to the write timeout: 0 or SSE_EIO. */
    int (*try_send)(void *ctx, const struct iovec *iov, int niov, size_t total);
    int (*send_kept)(void *ctx);
    size_t try_send_max;
};

#endif
