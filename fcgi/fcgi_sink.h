/* fcgi_sink.h - a struct sse_sink over a libfcgi request.
 * SPDX-License-Identifier: MIT
 *
 * write and flush go through libfcgi, which buffers 8 KiB per stream and
 * reports a dead peer only at flush time (FCGX_FFlush returns -1); after an
 * error further puts may still "succeed" into the dead buffer, so every
 * write checks the stream's error state first.
 *
 * try_send frames bytes as one FastCGI stdout record itself and sends it to
 * the connection without blocking (the fan-out's direct writes; the libfcgi
 * buffer is empty then, as the stream flushes after every write). The rest
 * of a record that was only partly sent stays in the sink until send_kept
 * (or sse_fcgi_sink_cleanup) - the framing and its memory never leave
 * fcgi/.
 *
 * Thread-safety: one sink per request, used by the thread serving it and,
 * for try_send, by the fan-out while that thread sleeps (fanout.h).
 */
#ifndef SSE_FCGI_SINK_H
#define SSE_FCGI_SINK_H

#include <fcgiapp.h>

#include "sink.h"

struct sse_fcgi_sink {
    struct sse_sink sink; /* what lib/ sees; ctx points here */
    FCGX_Request *req;    /* borrowed */
    char *kept;           /* owned: rest of a partly sent record */
    size_t kept_len;
};

/* Prepares s to write to req (borrowed while the sink is used). */
void sse_fcgi_sink_init(struct sse_fcgi_sink *s, FCGX_Request *req);

/* Frees what the sink kept. */
void sse_fcgi_sink_cleanup(struct sse_fcgi_sink *s);

#endif
