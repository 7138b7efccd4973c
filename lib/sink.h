/* sink.h - where a stream's bytes go: the interfaces the transport provides.
 * SPDX-License-Identifier: MIT
 *
 * lib/ writes SSE bytes; how they reach the web server is the transport's
 * business. fcgi/ provides the real ones (over libfcgi, and over a
 * connection taken from libfcgi); lib/ knows no FastCGI constant.
 *
 * A stream starts on a sink, written by its thread with blocking writes (a
 * slow client holds that thread up to the write timeout). A sink that can
 * detach its connection hands it over as a struct sse_conn: a connection
 * the event loop (loop.h) writes without ever blocking, and ends itself.
 */
#ifndef SSE_SINK_H
#define SSE_SINK_H

#include <stddef.h>
#include <sys/uio.h>

/* A connection written without blocking. The transport frames what it is
 * given (FastCGI: stdout records) and remembers a frame it started: when
 * send takes only part of the bytes offered, the next call must offer the
 * bytes that follow the ones taken, as a queue naturally does.
 *
 * Thread-safety: one thread at a time (the loop's). */
struct sse_conn_ops {
    /* Sends a prefix of the bytes in iov[1..niov] (niov >= 1 entries,
     * total bytes in all) without blocking; *taken is how many it took
     * (they are on their way; fewer than offered: the socket is full, wait
     * until fd is writable). iov[0] is scratch the transport may fill and
     * send first (FastCGI: a record header), so framing copies nothing;
     * the caller's iov[1..niov] are left as they were. Returns 0 or
     * SSE_EIO (the web server is gone). */
    int (*send)(void *ctx, struct iovec *iov, int niov, size_t total,
                size_t *taken);
    /* Ends the response (FastCGI: the end of stdout and END_REQUEST),
     * without blocking; call again while it returns SSE_EAGAIN (wait until
     * fd is writable). Only after every byte offered to send was taken.
     * Returns 0 when done, SSE_EAGAIN or SSE_EIO. */
    int (*finish)(void *ctx);
    /* Closes the connection and frees ctx; the connection is never used
     * again. */
    void (*close)(void *ctx);
};

struct sse_conn {
    const struct sse_conn_ops *ops;
    void *ctx; /* owned by the transport; freed by ops->close */
    int fd;    /* for epoll: readable (the web server wrote or hung up) and
                  writable */
};

/* Where a stream's thread writes.
 *
 * Thread-safety: a sink belongs to the thread serving its request. */
struct sse_sink {
    /* Buffers bytes (may block up to the write timeout); 0 or SSE_EIO once
     * the client is gone. */
    int (*write)(void *ctx, const char *p, size_t n);
    /* Pushes buffered bytes to the web server; 0 or SSE_EIO. */
    int (*flush)(void *ctx);
    void *ctx;
    int fd; /* the socket to watch for hang-up, or -1 */

    /* Optional (NULL: the stream keeps its thread). Takes the connection
     * away from the sink, whose buffer must be empty (flushed): fills *out
     * and returns 0, after which the sink is never written again and the
     * transport does not end the response when the request's thread
     * finishes; or returns an error and leaves the sink as it was. */
    int (*detach)(void *ctx, struct sse_conn *out);
};

#endif
