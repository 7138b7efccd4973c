/* handler.h - serve one FastCGI request: route, validate, answer.
 * SPDX-License-Identifier: MIT
 *
 * Routes the status and ping paths, answers CORS preflights, refuses
 * malformed requests with a 4xx and a one-line reason, turns requests away
 * politely when every thread is streaming, and otherwise runs a stream
 * session. Writes one access-log line per ended stream when enabled.
 *
 * Thread-safety: called concurrently by every worker thread; env's objects
 * are shared, vars and sink belong to the caller's request.
 */
#ifndef SSE_HANDLER_H
#define SSE_HANDLER_H

#include "request.h"
#include "sink.h"
#include "stream.h"

/* Serves the request described by vars through sink. busy is non-zero when
 * every other thread is taken: a request that would keep its thread (a long
 * poll, or a stream that cannot be parked) then gets the busy answer, and so
 * does a stream past cfg->max_streams. A
 * stream may be parked (env->loop): the handler then returns while the
 * stream goes on, and the sink has detached its connection. */
void sse_handler_serve(const struct sse_stream_env *env,
                       const struct sse_request_vars *vars,
                       struct sse_sink *sink, int busy);

#endif
