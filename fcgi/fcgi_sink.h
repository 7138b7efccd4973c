/* fcgi_sink.h - a struct sse_sink over a libfcgi request.
 * SPDX-License-Identifier: MIT
 *
 * libfcgi buffers 8 KiB per stream and reports a dead peer only at flush
 * time (FCGX_FFlush returns -1); after an error further puts may still
 * "succeed" into the dead buffer, so every write checks the stream's error
 * state first.
 *
 * Thread-safety: one sink per request, used by the thread serving it.
 */
#ifndef SSE_FCGI_SINK_H
#define SSE_FCGI_SINK_H

#include <fcgiapp.h>

#include "stream.h"

/* Prepares sink to write to req->out; req borrowed while the sink is used. */
void sse_fcgi_sink_init(struct sse_sink *sink, FCGX_Request *req);

#endif
