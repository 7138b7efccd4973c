/* fcgi_conn.h - a FastCGI connection written without libfcgi.
 * SPDX-License-Identifier: MIT
 *
 * When a stream is parked (loop.h), its connection is taken from libfcgi
 * and written by the event loop through this struct sse_conn: SSE bytes
 * framed as FCGI_STDOUT records of up to 64 KiB, sent with non-blocking
 * sendmsg, and at the end the records libfcgi would have written
 * (FCGX_Finish_r). A record the socket took only part of is remembered
 * (its header's rest and how many content bytes it still needs); those
 * content bytes are the next ones the loop offers, so nothing is copied.
 *
 * The connection is closed when the stream ends, even when the web server
 * asked to keep it (FCGI_KEEP_CONN): libfcgi, which would read the next
 * request from it, has moved on to other connections. Web servers open a
 * new connection for the next request.
 *
 * Thread-safety: one thread at a time (the loop's).
 */
#ifndef SSE_FCGI_CONN_H
#define SSE_FCGI_CONN_H

#include "sink.h"

/* Makes *out a connection over fd (owned from now on: closed by
 * out->ops->close) for request_id. Returns 0 or SSE_ENOMEM (fd untouched). */
int sse_fcgi_conn_new(int fd, int request_id, struct sse_conn *out);

#endif
