/* conn.h - one FastCGI connection's life on a serving thread.
 * SPDX-License-Identifier: MIT
 *
 * The connection comes from sse_acceptor_next. It is handed to libfcgi
 * ready made: req->ipcFd set and keepConnection on is the state libfcgi
 * itself keeps between two requests of a kept-alive connection, in which
 * FCGX_Accept_r reads the next request from that connection instead of
 * accepting; the request's listening socket is -1, so when a read fails
 * FCGX_Accept_r returns (EBADF) instead of accepting another connection.
 * FCGX_Detach makes libfcgi close a failed connection without its
 * lingering close, which a peer sending a byte now and then could stretch
 * for ever; this module closes the others with a bounded linger.
 *
 * Reading a request (BEGIN_REQUEST and every PARAMS record) is bounded by
 * request-timeout through the thread's guard (guard.h), counted from
 * accept; a kept-alive connection (FCGI_KEEP_CONN) may be idle for
 * request-timeout and then has request-timeout to deliver its next request.
 * After the params nothing reads the connection while a thread holds the
 * stream: the fan-out watches it for a hang-up with epoll, and writes have
 * the write-timeout (SO_SNDTIMEO). A stream that is parked takes the
 * connection with it (fcgi_sink.h): the thread frees libfcgi's buffers,
 * neither writes a record nor closes the connection, and goes back to
 * accepting.
 *
 * Thread-safety: one call at a time per req and guard (one thread's).
 */
#ifndef SSE_CONN_H
#define SSE_CONN_H

#include <fcgiapp.h>
#include <stdatomic.h>

#include "guard.h"
#include "stream.h"

/* What the requests of a connection are served with; all borrowed. */
struct sse_conn_ctx {
    const struct sse_stream_env *env;
    atomic_int *busy; /* threads holding a connection, this one included */
};

/* Serves every request that arrives on fd (owned: closed before return)
 * from peer (a description for the log), one after the other. req must
 * come from FCGX_InitRequest(req, -1, 0) and be used by this thread only;
 * guard is this thread's, disarmed. */
void sse_conn_serve(const struct sse_conn_ctx *ctx, FCGX_Request *req,
                    struct sse_guard *guard, int fd, const char *peer);

#endif
