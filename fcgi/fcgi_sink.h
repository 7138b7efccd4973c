/* fcgi_sink.h - a struct sse_sink over a libfcgi request.
 * SPDX-License-Identifier: MIT
 *
 * write and flush go through libfcgi, which buffers 8 KiB per stream and
 * reports a dead peer only at flush time (FCGX_FFlush returns -1); after an
 * error further puts may still "succeed" into the dead buffer, so every
 * write checks the stream's error state first.
 *
 * detach takes the request's connection away from libfcgi for the event
 * loop (fcgi_conn.h). libfcgi has no call for that, so conn.c does it with
 * the calls it has (libfcgi 2.4, fcgiapp.c) once the handler returned:
 * FCGX_Free(req, 0) frees the request's streams and parameters without
 * writing a record or closing the connection, and ipcFd = -1 leaves the
 * connection to the loop. The sink only says that it happened (detached).
 *
 * Thread-safety: one sink per request, used by the thread serving it.
 */
#ifndef SSE_FCGI_SINK_H
#define SSE_FCGI_SINK_H

#include <fcgiapp.h>

#include "sink.h"

struct sse_fcgi_sink {
    struct sse_sink sink; /* what lib/ sees; ctx points here */
    FCGX_Request *req;    /* borrowed */
    int detached;         /* the connection now belongs to the loop */
};

/* Prepares s to write to req (borrowed while the sink is used). */
void sse_fcgi_sink_init(struct sse_fcgi_sink *s, FCGX_Request *req);

#endif
